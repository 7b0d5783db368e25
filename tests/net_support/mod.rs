//! Shared helpers of the networking scenario tests (`tests/discovery.rs`, `tests/mesh.rs`,
//! `tests/overlay.rs`, `tests/encrypted.rs`, `tests/attachable.rs`) and
//! the networking benchmarks: a swarm on three test hosts, services that answer with their task
//! name, clients and fake servers run on threads moved into a network namespace (the outside
//! client's, a host's or a task container's), DNS queries, HTTP requests and request loops
//! that record every outcome with its time.
//!
//! Running clients in the test process (rather than `docker exec` per request) gives exact
//! timings: when a killed task left the DNS answers, which requests of a loop failed and when.

#![allow(dead_code)] // each test binary uses its own subset

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use nix::sched::{CloneFlags, setns};
use shoal_testkit::image::BUSYBOX;
use shoal_testkit::{TestDaemon, TestHost, TestHosts, wait_for};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_shoal");
/// How long a service may take to have all its tasks running on test hosts under load (image
/// present, engines local; the slack is for a busy 2-core CI machine).
pub const CONVERGE: Duration = Duration::from_secs(60);
/// Per request: connect and read deadline of the test clients.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Docker's embedded resolver inside a container on a user-defined network.
pub const DOCKER_DNS: &str = "127.0.0.11:53";
/// The web task: busybox httpd serving one file that holds the container's hostname, which
/// the services set to the task name (`--hostname {{.Task.Name}}`).
pub const WEB_CMD: [&str; 3] = [
    "sh",
    "-c",
    "hostname > /tmp/index.html && exec httpd -f -p 80 -h /tmp",
];

/// Three test hosts in a swarm: host 0 the manager, hosts 1 and 2 workers.
pub fn swarm(prefix: &str) -> anyhow::Result<TestHosts> {
    let mut hosts = TestHosts::start_with(BIN, prefix, 3)?;
    hosts.init_swarm(1)?;
    Ok(hosts)
}

/// The manager's daemon (where the tests run the docker CLI).
pub fn manager(hosts: &TestHosts) -> &TestDaemon {
    hosts.daemon(0)
}

/// The outside client's network namespace file.
pub fn client_ns(hosts: &TestHosts) -> PathBuf {
    PathBuf::from(format!("/run/netns/shoal-{}-client", hosts.prefix()))
}

/// Host `i`'s network namespace file.
pub fn host_ns(hosts: &TestHosts, i: usize) -> PathBuf {
    PathBuf::from(format!("/run/netns/{}", hosts.host(i).netns()))
}

/// Starts `f` on a new thread inside the network namespace `ns` (only that thread moves).
pub fn spawn_in<T: Send + 'static>(
    ns: &Path,
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> JoinHandle<anyhow::Result<T>> {
    let ns = ns.to_path_buf();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&ns)
            .map_err(|e| anyhow::anyhow!("open network namespace {}: {e}", ns.display()))?;
        setns(&file, CloneFlags::CLONE_NEWNET)
            .map_err(|e| anyhow::anyhow!("enter network namespace {}: {e}", ns.display()))?;
        f()
    })
}

/// Runs `f` inside the network namespace `ns` and returns its result.
pub fn run_in<T: Send + 'static>(
    ns: &Path,
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    spawn_in(ns, f)
        .join()
        .map_err(|_| anyhow::anyhow!("a thread in {} panicked", ns.display()))?
}

/// A running task container of a service, found on the hosts' engines.
#[derive(Debug, Clone)]
pub struct TaskBox {
    pub host: usize,
    pub id: String,
    pub task_name: String,
    /// The container's network namespace file (`/proc/<pid>/ns/net`).
    pub netns: PathBuf,
}

/// Every running container of `service` on every host.
pub fn task_boxes(hosts: &TestHosts, service: &str) -> anyhow::Result<Vec<TaskBox>> {
    let mut out = Vec::new();
    for (i, h) in hosts.hosts().iter().enumerate() {
        let filter = format!("label=com.docker.swarm.service.name={service}");
        let ps = h
            .engine_docker(&[
                "ps",
                "--filter",
                &filter,
                "--format",
                "{{.ID}} {{.Label \"com.docker.swarm.task.name\"}}",
            ])
            .ok()?;
        for line in ps.stdout.lines() {
            let Some((id, name)) = line.trim().split_once(' ') else {
                continue;
            };
            let pid = h
                .engine_docker(&["inspect", "--format", "{{.State.Pid}}", id])
                .ok()?;
            let pid = pid.stdout.trim();
            if pid == "0" {
                continue; // exited between ps and inspect
            }
            out.push(TaskBox {
                host: i,
                id: id.to_string(),
                task_name: name.to_string(),
                netns: PathBuf::from(format!("/proc/{pid}/ns/net")),
            });
        }
    }
    Ok(out)
}

/// Names of `service`'s tasks the store has running (`docker service ps`).
pub fn running_tasks(d: &TestDaemon, service: &str) -> anyhow::Result<Vec<String>> {
    let ps = d
        .docker(&[
            "service",
            "ps",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Name}}.{{.ID}} {{.CurrentState}}",
            service,
        ])
        .ok()?;
    Ok(ps
        .stdout
        .lines()
        .filter(|l| l.contains(" Running"))
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect())
}

/// Waits until `service` has exactly `n` tasks running, in the store and as containers on the
/// hosts; returns the containers.
pub fn wait_running(hosts: &TestHosts, service: &str, n: usize) -> anyhow::Result<Vec<TaskBox>> {
    wait_for(
        &format!("{n} running tasks of {service} (store and engines)"),
        CONVERGE,
        || {
            let store = running_tasks(manager(hosts), service).ok()?;
            let boxes = task_boxes(hosts, service).ok()?;
            (store.len() == n && boxes.len() == n).then_some(boxes)
        },
    )
}

/// `docker service create -d --name NAME --hostname {{.Task.Name}} ARGS… busybox httpd`.
pub fn create_web(d: &TestDaemon, name: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = vec![
        "service",
        "create",
        "-d",
        "--name",
        name,
        "--hostname",
        "{{.Task.Name}}",
    ];
    cmd.extend_from_slice(args);
    cmd.push(BUSYBOX);
    cmd.extend_from_slice(&WEB_CMD);
    d.docker(&cmd).ok()?;
    Ok(())
}

/// A long-running client task pinned to host `host` (for DNS and requests from a container).
pub fn create_client(
    hosts: &TestHosts,
    name: &str,
    host: usize,
    args: &[&str],
) -> anyhow::Result<TaskBox> {
    let pin = format!("node.hostname=={}", hosts.host(host).name());
    let mut cmd = vec![
        "service",
        "create",
        "-d",
        "--name",
        name,
        "--constraint",
        &pin,
    ];
    cmd.extend_from_slice(args);
    cmd.extend_from_slice(&[BUSYBOX, "sleep", "3600"]);
    manager(hosts).docker(&cmd).ok()?;
    let mut boxes = wait_running(hosts, name, 1)?;
    boxes
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no container of {name}"))
}

/// `docker exec` in a task container on its host's engine; stdout.
pub fn exec_in(hosts: &TestHosts, b: &TaskBox, cmd: &[&str]) -> anyhow::Result<String> {
    let mut args = vec!["exec", b.id.as_str()];
    args.extend_from_slice(cmd);
    Ok(hosts.host(b.host).engine_docker(&args).ok()?.stdout)
}

/// The container's address on the engine network named `network`.
pub fn container_addr(hosts: &TestHosts, b: &TaskBox, network: &str) -> anyhow::Result<Ipv4Addr> {
    let tpl = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    let out = hosts
        .host(b.host)
        .engine_docker(&["inspect", "--format", &tpl, &b.id])
        .ok()?;
    out.stdout
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("address of {} on {network}: {e}", b.task_name))
}

/// A service's VIP on a network, from `docker service inspect` (`Endpoint.VirtualIPs`).
pub fn service_vip(d: &TestDaemon, service: &str, network: &str) -> anyhow::Result<Ipv4Addr> {
    let net_id = d
        .docker(&["network", "inspect", "--format", "{{.Id}}", network])
        .ok()?
        .stdout
        .trim()
        .to_string();
    let vips = d
        .docker(&[
            "service",
            "inspect",
            "--format",
            "{{json .Endpoint.VirtualIPs}}",
            service,
        ])
        .ok()?;
    let vips: serde_json::Value = serde_json::from_str(vips.stdout.trim())?;
    let addr = vips
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["NetworkID"] == net_id.as_str())
        .and_then(|v| v["Addr"].as_str())
        .ok_or_else(|| anyhow::anyhow!("{service} has no VIP on {network}: {vips}"))?;
    let ip = addr.split('/').next().unwrap_or(addr);
    ip.parse()
        .map_err(|e| anyhow::anyhow!("VIP {addr} of {service}: {e}"))
}

/// A DNS answer: its code and the A records' addresses (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub addrs: Vec<Ipv4Addr>,
}

/// One query over UDP to `server` from the calling thread's network namespace.
pub fn dns_ask(server: &str, name: &str, ty: RecordType) -> anyhow::Result<Answer> {
    let server: SocketAddr = server.parse()?;
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut q = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name)?, ty));
    sock.send_to(&q.to_vec()?, server)?;
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = sock
            .recv_from(&mut buf)
            .map_err(|e| anyhow::anyhow!("no DNS answer for {name} from {server}: {e}"))?;
        let m = Message::from_vec(&buf[..n])?;
        if m.metadata.id != q.metadata.id {
            continue;
        }
        let mut addrs: Vec<Ipv4Addr> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect();
        addrs.sort();
        return Ok(Answer {
            rcode: m.metadata.response_code,
            addrs,
        });
    }
}

/// A query id that differs between calls (no RNG needed: the clock's nanoseconds).
fn rand_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos >> 4) as u16
}

/// `dns_ask` for an A record from inside the network namespace `ns`.
pub fn resolve_in(ns: &Path, server: &str, name: &str) -> anyhow::Result<Answer> {
    let (server, name) = (server.to_string(), name.to_string());
    run_in(ns, move || dns_ask(&server, &name, RecordType::A))
}

/// An HTTP/1.0 GET of `path` on `addr` ("ip:port") with a new connection; the body, trimmed.
pub fn http_get(addr: &str, path: &str) -> anyhow::Result<String> {
    let sa: SocketAddr = addr.parse()?;
    let mut s = TcpStream::connect_timeout(&sa, REQUEST_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    s.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| anyhow::anyhow!("read from {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    // The header ends at the first empty line; CGI scripts behind busybox httpd end theirs
    // with a bare "\n".
    let end = text
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .find(|&i| text[i..].starts_with('\n') || text[i..].starts_with("\r\n"))
        .ok_or_else(|| anyhow::anyhow!("no HTTP response from {addr}: {text:?}"))?;
    let (head, body) = text.split_at(end);
    anyhow::ensure!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{addr}{path}: {head}"
    );
    Ok(body.trim().to_string())
}

/// `n` GETs of `addr` from inside `ns`, one connection each; every body (errors fail).
pub fn http_many(ns: &Path, addr: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let addr = addr.to_string();
    run_in(ns, move || {
        (0..n)
            .map(|i| http_get(&addr, "/").map_err(|e| e.context(format!("request {i} of {n}"))))
            .collect()
    })
}

/// How many times each distinct string occurs.
pub fn tally(items: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i.clone()).or_insert(0) += 1;
    }
    m
}

/// Asserts that `got` hit exactly the task names `want`, each at least `min` times.
pub fn assert_spread(got: &[String], want: &[String], min: usize, what: &str) {
    let t = tally(got);
    let mut names: Vec<&String> = t.keys().collect();
    names.sort();
    let mut expected: Vec<&String> = want.iter().collect();
    expected.sort();
    assert_eq!(names, expected, "{what}: tasks reached {t:?}");
    for (name, count) in &t {
        assert!(*count >= min, "{what}: {name} got {count} < {min}: {t:?}");
    }
}

/// One request of a [`Load`] loop.
#[derive(Debug, Clone)]
pub struct Sample {
    pub start: Instant,
    pub end: Instant,
    /// The wall-clock time the request started (to compare with the store's timestamps).
    pub wall: std::time::SystemTime,
    /// The body (a task name) or the error.
    pub result: Result<String, String>,
}

/// A steady request loop (a new connection per request, `pause` between requests) on its own
/// thread in a network namespace, until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<anyhow::Result<Vec<Sample>>>,
}

impl Load {
    /// Starts GETs of `addr` ("ip:port") from inside `ns`.
    pub fn start(ns: &Path, addr: &str, pause: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, addr) = (stop.clone(), addr.to_string());
        let handle = spawn_in(ns, move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let (start, wall) = (Instant::now(), std::time::SystemTime::now());
                let result = http_get(&addr, "/").map_err(|e| format!("{e:#}"));
                samples.push(Sample {
                    start,
                    wall,
                    end: Instant::now(),
                    result,
                });
                std::thread::sleep(pause);
            }
            Ok(samples)
        });
        Load { stop, handle }
    }

    /// Stops the loop and returns every sample in order.
    pub fn stop(self) -> anyhow::Result<Vec<Sample>> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the request loop panicked"))?
    }
}

/// The failed samples, as "at +Xms: error" lines relative to `t0`, for messages.
pub fn failures(samples: &[Sample], t0: Instant) -> Vec<String> {
    samples
        .iter()
        .filter_map(|s| {
            s.result.as_ref().err().map(|e| {
                let at = s.start.saturating_duration_since(t0).as_millis();
                format!("at +{at}ms: {e}")
            })
        })
        .collect()
}

/// A UDP responder on `port` inside `ns` that answers each datagram with `reply`; runs until
/// the process ends (the namespace going away closes it).
pub fn udp_responder(ns: &Path, port: u16, reply: String) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    spawn_in(ns, move || {
        let sock = UdpSocket::bind(("0.0.0.0", port));
        let sock = match sock {
            Ok(s) => {
                let _ = tx.send(Ok(())); // the receiver waits for exactly this
                s
            }
            Err(e) => {
                let _ = tx.send(Err(anyhow::anyhow!("bind udp {port}: {e}"))); // as above
                return Ok(());
            }
        };
        let mut buf = [0u8; 2048];
        while let Ok((_, from)) = sock.recv_from(&mut buf) {
            // A lost reply is seen by the asking test as a timeout.
            let _ = sock.send_to(reply.as_bytes(), from);
        }
        Ok(())
    });
    rx.recv_timeout(REQUEST_TIMEOUT)
        .map_err(|_| anyhow::anyhow!("udp responder on {port} did not start"))?
}

/// One UDP datagram to `addr` from the calling thread's namespace; the reply's text.
pub fn udp_ask(addr: &str, payload: &str) -> anyhow::Result<String> {
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    sock.send_to(payload.as_bytes(), addr)?;
    let mut buf = [0u8; 2048];
    let (n, _) = sock
        .recv_from(&mut buf)
        .map_err(|e| anyhow::anyhow!("no UDP reply from {addr}: {e}"))?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

/// A fake upstream DNS server on `addr:53` inside `ns`: answers `known` with `ip`, NXDOMAIN
/// for every other name, and counts the queries it saw.
pub fn fake_upstream(
    ns: &Path,
    addr: &str,
    known: &str,
    ip: Ipv4Addr,
) -> anyhow::Result<Arc<std::sync::atomic::AtomicUsize>> {
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let (counter, bind, known) = (seen.clone(), format!("{addr}:53"), known.to_string());
    spawn_in(ns, move || {
        let sock = match UdpSocket::bind(&bind) {
            Ok(s) => {
                let _ = tx.send(Ok(())); // the receiver waits for exactly this
                s
            }
            Err(e) => {
                let _ = tx.send(Err(anyhow::anyhow!("bind {bind}: {e}"))); // as above
                return Ok(());
            }
        };
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut r = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
            r.metadata.recursion_desired = q.metadata.recursion_desired;
            r.metadata.recursion_available = true;
            r.metadata.response_code = ResponseCode::NXDomain;
            if let Some(query) = q.queries.first() {
                r.add_query(query.clone());
                if query.name().to_ascii().trim_end_matches('.') == known {
                    r.metadata.response_code = ResponseCode::NoError;
                    if query.query_type() == RecordType::A {
                        r.add_answer(Record::from_rdata(
                            query.name().clone(),
                            30,
                            RData::A(hickory_proto::rr::rdata::A(ip)),
                        ));
                    }
                }
            }
            if let Ok(bytes) = r.to_vec() {
                // A lost reply is seen by the asking test as a timeout.
                let _ = sock.send_to(&bytes, from);
            }
        }
        Ok(())
    });
    rx.recv_timeout(REQUEST_TIMEOUT)
        .map_err(|_| anyhow::anyhow!("fake upstream on {addr} did not start"))??;
    Ok(seen)
}

/// Polls `f` every `step` until it holds; returns how long that took, or fails after `limit`
/// naming `what` (for measured deadlines shorter than the kit's 100 ms polling allows).
pub fn time_until(
    what: &str,
    limit: Duration,
    step: Duration,
    mut f: impl FnMut() -> bool,
) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    loop {
        if f() {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > limit {
            anyhow::bail!("{what}: not within {limit:?}");
        }
        std::thread::sleep(step);
    }
}

/// Waits until the service's update completed (`UpdateStatus.State`) and its `n` running tasks
/// are all new (none named in `before`); returns them. `UpdateStatus` alone can still say
/// `completed` of the previous update just after a new one was asked for.
pub fn wait_rolled(
    hosts: &TestHosts,
    service: &str,
    before: &[String],
    n: usize,
) -> anyhow::Result<Vec<TaskBox>> {
    wait_for(
        &format!("the update of {service} to replace all {n} tasks and complete"),
        CONVERGE,
        || {
            let state = manager(hosts)
                .docker(&[
                    "service",
                    "inspect",
                    "--format",
                    "{{.UpdateStatus.State}}",
                    service,
                ])
                .ok()
                .ok()?;
            if state.stdout.trim() != "completed" {
                return None;
            }
            let boxes = task_boxes(hosts, service).ok()?;
            let fresh = boxes.len() == n && boxes.iter().all(|b| !before.contains(&b.task_name));
            fresh.then_some(boxes)
        },
    )
}

/// The task names of the containers.
pub fn names_of(boxes: &[TaskBox]) -> Vec<String> {
    boxes.iter().map(|b| b.task_name.clone()).collect()
}

/// Starts a start-first rolling update of `service`, one task at a time (a changed env var makes
/// every task dirty), without waiting for it.
pub fn start_first_update(d: &TestDaemon, service: &str) -> anyhow::Result<()> {
    d.docker(&[
        "service",
        "update",
        "-d",
        "--update-order",
        "start-first",
        "--update-parallelism",
        "1",
        "--env-add",
        "ROLL=2",
        service,
    ])
    .ok()?;
    Ok(())
}

/// Tasks start on a loaded CI machine within this.
pub const TASK_START: Duration = Duration::from_secs(90);

/// The running container of service `service` on `host`, once there is one.
pub fn container_of(host: &TestHost, service: &str) -> anyhow::Result<String> {
    wait_for(
        &format!("a running container of {service} on {}", host.name()),
        TASK_START,
        || {
            let ps = host
                .engine_docker(&[
                    "ps",
                    "--filter",
                    &format!("label=com.docker.swarm.service.name={service}"),
                    "--format",
                    "{{.Names}}",
                ])
                .ok()
                .ok()?;
            ps.stdout.lines().next().map(str::to_string)
        },
    )
}

/// The address of `container` on engine network `network`.
pub fn address_on(host: &TestHost, container: &str, network: &str) -> anyhow::Result<String> {
    let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    let out = host
        .engine_docker(&["inspect", "--format", &format, container])
        .ok()?;
    let ip = out.stdout.trim().to_string();
    anyhow::ensure!(!ip.is_empty(), "{container} has no address on {network}");
    Ok(ip)
}

/// Runs `cmd` in `container` on `host`; true when it exits 0.
pub fn runs(host: &TestHost, container: &str, cmd: &[&str]) -> bool {
    let mut args = vec!["exec", container];
    args.extend_from_slice(cmd);
    host.engine_docker(&args).code == 0
}

pub fn pings(host: &TestHost, container: &str, ip: &str) -> bool {
    runs(
        host,
        container,
        &["busybox", "ping", "-c", "1", "-W", "1", ip],
    )
}

/// A service of one replica on `host` (by hostname) on `networks`, running `cmd`.
pub fn service(
    hosts: &TestHosts,
    name: &str,
    host: &TestHost,
    networks: &[&str],
    cmd: &[&str],
) -> anyhow::Result<()> {
    let constraint = format!("node.hostname=={}", host.name());
    let mut args = vec![
        "service",
        "create",
        "--detach",
        "--name",
        name,
        "--constraint",
        &constraint,
    ];
    for n in networks {
        args.push("--network");
        args.push(n);
    }
    args.push(BUSYBOX);
    args.extend_from_slice(cmd);
    hosts.daemon(0).docker(&args).ok()?;
    Ok(())
}
