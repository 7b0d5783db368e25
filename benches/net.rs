//! Networking benchmark on three test hosts (needs root, like the networking tests), in one
//! run, printing one table:
//!
//! - DNS answer latency (p50/p99) from inside a task container: a service name (Docker's
//!   127.0.0.11 forwards it to shoal's resolver), the same asked of shoal's resolver
//!   directly, and Docker's embedded DNS answering a local container name by itself.
//! - Connection rate and throughput through a service VIP vs straight to the task address.
//! - The routing mesh: requests/s with keep-alive and with a new connection per request, and
//!   p50/p99 latency, from the outside client through a host without the task, through the
//!   task's own host, straight to the task (routed via its host), and through Debian's nginx
//!   stream (L4) proxy on the host without the task (skipped when nginx or its stream module
//!   is missing: `apt-get install nginx-light libnginx-mod-stream`).
//!
//! `cargo bench --bench net` (release build), or `cargo bench --profile dev --bench net`.
//! The service is one task on host 1; the request server is a small HTTP/1.1 keep-alive
//! server run by this process inside the task container's network namespace (busybox httpd
//! closes every connection), bulk transfers come from busybox httpd.

#[path = "../tests/net_support/mod.rs"]
mod net_support;

use net_support::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The keep-alive request server's port in the task (published through the mesh too).
const KA_PORT: u16 = 8000;
/// How long each load phase runs.
const PHASE: Duration = Duration::from_secs(3);
/// Concurrent client connections in a load phase (the machine has 2 cores).
const CONCURRENCY: usize = 4;
/// DNS queries per measured name.
const DNS_QUERIES: usize = 2000;
/// Size of the file fetched for throughput, in MiB.
const BULK_MIB: usize = 256;
/// Alternating throughput rounds to the VIP and to the task address (each the best of 3).
const BULK_ROUNDS: usize = 3;
/// nginx's stream proxy listens here on host 0.
const NGINX_PORT: u16 = 8070;

fn main() -> anyhow::Result<()> {
    let hosts = swarm("bench-net")?;
    let d = manager(&hosts);
    d.docker(&["network", "create", "-d", "overlay", "appnet"])
        .ok()?;
    let pin = format!("node.hostname=={}", hosts.host(1).name());
    let ka = format!("{KA_PORT}:{KA_PORT}");
    create_web(
        d,
        "web",
        &[
            "--network",
            "appnet",
            "-p",
            "8080:80",
            "-p",
            &ka,
            "--constraint",
            &pin,
        ],
    )?;
    let client = create_client(&hosts, "client", 0, &["--network", "appnet"])?;
    let web = wait_running(&hosts, "web", 1)?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no web task"))?;
    serve_keepalive(&web.netns)?;
    exec_in(
        &hosts,
        &web,
        &[
            "busybox",
            "dd",
            "if=/dev/zero",
            "of=/tmp/big",
            "bs=1048576",
            &format!("count={BULK_MIB}"),
        ],
    )?;
    let vip = service_vip(d, "web", "appnet")?;
    let task_app = container_addr(&hosts, &web, "appnet")?;
    let task_ingress = container_addr(&hosts, &web, "ingress")?;
    let gateway = hosts
        .host(0)
        .engine_docker(&[
            "network",
            "inspect",
            "--format",
            "{{(index .IPAM.Config 0).Gateway}}",
            "appnet",
        ])
        .ok()?
        .stdout
        .trim()
        .to_string();
    // Names and the mesh settle.
    wait_serving_from(&client.netns, &format!("{vip}:{KA_PORT}"))?;
    let cns = client_ns(&hosts);
    wait_serving_from(&cns, &format!("{}:{KA_PORT}", hosts.host(0).addr()))?;

    let mut rows: Vec<String> = Vec::new();

    // DNS.
    let own_name = client.task_name.clone();
    for (what, server, name) in [
        (
            "DNS: service name via 127.0.0.11 -> shoal",
            DOCKER_DNS.to_string(),
            "web".to_string(),
        ),
        (
            "DNS: service name, shoal's resolver directly",
            format!("{gateway}:53"),
            "web".to_string(),
        ),
        (
            "DNS: local container name, Docker's embedded DNS",
            DOCKER_DNS.to_string(),
            own_name,
        ),
    ] {
        let lat = run_in(&client.netns, move || {
            let mut lat = Vec::with_capacity(DNS_QUERIES);
            for _ in 0..DNS_QUERIES {
                let t = Instant::now();
                let a = dns_ask(&server, &name, hickory_proto::rr::RecordType::A)?;
                anyhow::ensure!(!a.addrs.is_empty(), "{name} did not resolve: {a:?}");
                lat.push(t.elapsed());
            }
            Ok(lat)
        })?;
        rows.push(format!("{what:<52} {}", percentiles(lat)));
    }

    // VIP vs task address, from the client container. Throughput alternates between the two
    // (one TCP stream varies by ±10 % from run to run on a shared machine): the best of
    // BULK_ROUNDS rounds each.
    let targets = [("VIP", vip), ("task address", task_app)];
    for (what, addr) in targets {
        let target = format!("{addr}:{KA_PORT}");
        let (rate, lat) = connect_rate(&client.netns, &target)?;
        rows.push(format!(
            "{:<52} {rate:>9.0} conn/s  connect {}",
            format!("connections to {what} (new, 1 request each)"),
            percentiles(lat)
        ));
    }
    let mut best = [0f64; 2];
    for _ in 0..BULK_ROUNDS {
        for (i, (_, addr)) in targets.iter().enumerate() {
            best[i] = best[i].max(bulk(&client.netns, &format!("{addr}:80"))?);
        }
    }
    for ((what, _), gbit) in targets.iter().zip(best) {
        rows.push(format!(
            "{:<52} {gbit:>9.2} Gbit/s",
            format!("throughput to {what} ({BULK_MIB} MiB over HTTP)")
        ));
    }
    rows.push(format!(
        "{:<52} {:>9.1} %",
        "VIP throughput relative to the task address",
        100.0 * best[0] / best[1]
    ));

    // The mesh from the outside client: through host 0 (no task), host 1 (the task's host),
    // straight to the task (routed through host 1), and nginx's stream proxy on host 0.
    let subnet = d
        .docker(&[
            "network",
            "inspect",
            "--format",
            "{{(index .IPAM.Config 0).Subnet}}",
            "ingress",
        ])
        .ok()?
        .stdout
        .trim()
        .to_string();
    let out = hosts.client_exec(&["ip", "route", "add", &subnet, "via", &hosts.host(1).addr()]);
    anyhow::ensure!(out.status.success(), "route to the ingress subnet: {out:?}");
    let accept = [
        "-I",
        "DOCKER-USER",
        "-s",
        &hosts.client_addr(),
        "-j",
        "ACCEPT",
    ];
    let out = hosts
        .host(1)
        .exec(&[&["iptables"][..], &accept[..]].concat());
    anyhow::ensure!(out.status.success(), "iptables on host 1: {out:?}");
    let nginx = Nginx::start(&hosts, &format!("{task_ingress}:{KA_PORT}"));
    let mut targets = vec![
        (
            "mesh via host without the task",
            format!("{}:{KA_PORT}", hosts.host(0).addr()),
        ),
        (
            "mesh via the task's host",
            format!("{}:{KA_PORT}", hosts.host(1).addr()),
        ),
        (
            "straight to the task (routed)",
            format!("{task_ingress}:{KA_PORT}"),
        ),
    ];
    match &nginx {
        Ok(_) => targets.push((
            "nginx stream proxy on host without the task",
            format!("{}:{NGINX_PORT}", hosts.host(0).addr()),
        )),
        Err(e) => rows.push(format!("nginx stream proxy: skipped ({e:#})")),
    }
    for (what, target) in targets {
        wait_serving_from(&cns, &target)?;
        for keepalive in [true, false] {
            let (rps, lat) = load(&cns, &target, keepalive)?;
            let kind = if keepalive { "keep-alive" } else { "new conn" };
            rows.push(format!(
                "{:<52} {rps:>9.0} req/s   {}",
                format!("{what}, {kind}"),
                percentiles(lat)
            ));
        }
    }
    drop(nginx);

    println!(
        "\nnetworking benchmark (3 test hosts, {CONCURRENCY} clients, {PHASE:?} per load phase)"
    );
    for r in rows {
        println!("{r}");
    }
    Ok(())
}

/// Waits until `target` answers from inside `ns`.
fn wait_serving_from(ns: &std::path::Path, target: &str) -> anyhow::Result<()> {
    let (ns2, t) = (ns.to_path_buf(), target.to_string());
    shoal_testkit::wait_until(&format!("{target} to answer"), CONVERGE, move || {
        let t = t.clone();
        run_in(&ns2, move || ka_request(&mut TcpStream::connect(&t)?)).is_ok()
    })
}

/// "p50 X µs p99 Y µs" of a set of durations.
fn percentiles(mut lat: Vec<Duration>) -> String {
    lat.sort();
    let at = |p: f64| {
        let i = ((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1));
        lat.get(i).map(|d| d.as_micros()).unwrap_or(0)
    };
    format!("p50 {:>5} µs  p99 {:>5} µs", at(0.50), at(0.99))
}

/// One request on an open keep-alive connection; reads the whole response.
fn ka_request(s: &mut TcpStream) -> anyhow::Result<()> {
    s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < RESPONSE.len() {
        let n = s.read(&mut head[got..RESPONSE.len()])?;
        anyhow::ensure!(n > 0, "connection closed mid-response");
        got += n;
    }
    anyhow::ensure!(&head[..got] == RESPONSE, "unexpected response");
    Ok(())
}

/// The keep-alive server's whole response.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Serves [`RESPONSE`] to every request, keeping connections open, on [`KA_PORT`] inside
/// `ns` (a thread per connection).
fn serve_keepalive(ns: &std::path::Path) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    spawn_in(ns, move || {
        let l = TcpListener::bind(("0.0.0.0", KA_PORT));
        let l = match l {
            Ok(l) => {
                let _ = tx.send(Ok(())); // the receiver waits for exactly this
                l
            }
            Err(e) => {
                let _ = tx.send(Err(anyhow::anyhow!("bind {KA_PORT}: {e}"))); // as above
                return Ok(());
            }
        };
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = conn.set_nodelay(true); // latency only
                let Ok(mut w) = conn.try_clone() else { return };
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            if w.write_all(RESPONSE).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
        Ok(())
    });
    rx.recv_timeout(REQUEST_TIMEOUT)
        .map_err(|_| anyhow::anyhow!("keep-alive server did not start"))?
}

/// [`CONCURRENCY`] clients for [`PHASE`] from `ns` to `target`: requests/s and latencies.
fn load(
    ns: &std::path::Path,
    target: &str,
    keepalive: bool,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let addr: SocketAddr = target.parse()?;
    let handles: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            spawn_in(ns, move || {
                let mut lat = Vec::new();
                let t0 = Instant::now();
                let mut conn = None;
                while t0.elapsed() < PHASE {
                    let t = Instant::now();
                    if conn.is_none() {
                        let s = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)?;
                        s.set_nodelay(true)?;
                        s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
                        conn = Some(s);
                    }
                    if let Some(s) = conn.as_mut() {
                        ka_request(s)?;
                    }
                    if !keepalive {
                        conn = None;
                    }
                    lat.push(t.elapsed());
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("a load thread panicked"))??,
        );
    }
    Ok((all.len() as f64 / PHASE.as_secs_f64(), all))
}

/// New connections, one request each, for [`PHASE`] from one client: connections/s and the
/// connect times.
fn connect_rate(ns: &std::path::Path, target: &str) -> anyhow::Result<(f64, Vec<Duration>)> {
    let addr: SocketAddr = target.parse()?;
    run_in(ns, move || {
        let (mut lat, t0) = (Vec::new(), Instant::now());
        while t0.elapsed() < PHASE {
            let t = Instant::now();
            let mut s = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)?;
            lat.push(t.elapsed());
            s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
            ka_request(&mut s)?;
        }
        Ok((lat.len() as f64 / t0.elapsed().as_secs_f64(), lat))
    })
}

/// Fetches `/big` from busybox httpd at `target` from `ns`: Gbit/s of the best of 3.
fn bulk(ns: &std::path::Path, target: &str) -> anyhow::Result<f64> {
    let target = target.to_string();
    run_in(ns, move || {
        let mut best = 0f64;
        for _ in 0..3 {
            let t = Instant::now();
            let mut s = TcpStream::connect(&target)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.write_all(b"GET /big HTTP/1.0\r\n\r\n")?;
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0usize;
            loop {
                let n = s.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                total += n;
            }
            anyhow::ensure!(total > BULK_MIB << 20, "short transfer: {total} bytes");
            best = best.max(total as f64 * 8.0 / t.elapsed().as_secs_f64() / 1e9);
        }
        Ok(best)
    })
}

/// Debian's nginx as an L4 (stream) proxy on host 0, stopped on drop.
struct Nginx<'a> {
    hosts: &'a shoal_testkit::TestHosts,
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl<'a> Nginx<'a> {
    /// Starts nginx on host 0 listening on [`NGINX_PORT`], proxying to `upstream`.
    fn start(hosts: &'a shoal_testkit::TestHosts, upstream: &str) -> anyhow::Result<Nginx<'a>> {
        let module = "/usr/lib/nginx/modules/ngx_stream_module.so";
        anyhow::ensure!(
            std::path::Path::new("/usr/sbin/nginx").exists()
                && std::path::Path::new(module).exists(),
            "no nginx with the stream module"
        );
        let dir = tempfile::tempdir()?;
        let conf = dir.path().join("nginx.conf");
        let p = dir.path().display();
        std::fs::write(
            &conf,
            format!(
                "load_module {module};\nworker_processes auto;\npid {p}/nginx.pid;\n\
                 error_log {p}/error.log;\nevents {{ worker_connections 4096; }}\n\
                 stream {{ server {{ listen {}:{NGINX_PORT}; proxy_pass {upstream}; }} }}\n",
                hosts.host(0).addr()
            ),
        )?;
        let c = conf.to_string_lossy().into_owned();
        let prefix = dir.path().to_string_lossy().into_owned();
        let out = hosts.host(0).exec(&[
            "nginx",
            "-e",
            &format!("{prefix}/error.log"),
            "-p",
            &prefix,
            "-c",
            &c,
        ]);
        anyhow::ensure!(out.status.success(), "nginx: {out:?}");
        Ok(Nginx { hosts, dir, conf })
    }
}

impl Drop for Nginx<'_> {
    fn drop(&mut self) {
        let c = self.conf.to_string_lossy().into_owned();
        let prefix = self.dir.path().to_string_lossy().into_owned();
        // Best effort: the host's namespace goes away with the set anyway.
        let _ = self.hosts.host(0).exec(&[
            "nginx",
            "-e",
            &format!("{prefix}/error.log"),
            "-p",
            &prefix,
            "-c",
            &c,
            "-s",
            "stop",
        ]);
    }
}
