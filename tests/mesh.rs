//! The routing mesh on three test hosts (one manager, two workers) and the outside client,
//! driven through the docker CLI: a published port answers on every host's address, also
//! where no task runs, and reaches every task; UDP goes through it too; `mode=host` ports
//! answer only where a task runs; a killed task costs only the requests sent before the mesh
//! dropped it; a start-first update under load loses none; `service create -p`, `service
//! update --publish-add` and a stack's `ports:` work; after a daemon SIGKILL and restart the
//! ports still answer and no firewall rule is duplicated; a port opted into PROXY protocol v2
//! (`com.shoal.proxy-protocol`) tells the task the outside client's address and port, on
//! every host, and follows the service's tasks and label.

mod net_support;

use net_support::*;
use shoal_testkit::{TestHosts, wait_for, wait_until};
use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the mesh may take to serve a port after its tasks run.
const MESH_SETTLE: Duration = Duration::from_secs(15);
/// A stopped task gets no new connection after this long.
const DROP_STOPPED: Duration = Duration::from_secs(1);

/// Every host's LAN address with `port`.
fn on_every_host(hosts: &TestHosts, port: u16) -> Vec<String> {
    hosts
        .hosts()
        .iter()
        .map(|h| format!("{}:{port}", h.addr()))
        .collect()
}

/// Waits until `target` answers a GET from the outside client.
fn wait_serving(hosts: &TestHosts, target: &str) -> anyhow::Result<()> {
    let ns = client_ns(hosts);
    wait_until(
        &format!("{target} to answer the outside client"),
        MESH_SETTLE,
        || http_many(&ns, target, 1).is_ok(),
    )
}

#[test]
fn a_published_port_answers_on_every_host_and_reaches_every_task() -> anyhow::Result<()> {
    let hosts = swarm("mesh-pub")?;
    let d = manager(&hosts);
    // Tasks only on the workers: host 0 has none and must answer all the same.
    create_web(
        d,
        "web",
        &[
            "-p",
            "8080:80",
            "-p",
            "9000:9000/udp",
            "--replicas",
            "3",
            "--constraint",
            "node.role==worker",
        ],
    )?;
    let webs = wait_running(&hosts, "web", 3)?;
    assert!(webs.iter().all(|b| b.host != 0), "{webs:?}");
    let names: Vec<String> = webs.iter().map(|b| b.task_name.clone()).collect();
    let ls = d
        .docker(&["service", "ls", "--format", "{{.Name}} {{.Ports}}"])
        .ok()?;
    assert!(
        ls.stdout.contains("web *:8080->80/tcp, *:9000->9000/udp"),
        "{}",
        ls.stdout
    );

    // TCP: 300 requests from the outside client to each host's address reach all 3 tasks.
    let client = client_ns(&hosts);
    for target in on_every_host(&hosts, 8080) {
        wait_serving(&hosts, &target)?;
        let bodies = http_many(&client, &target, 300)?;
        assert_spread(&bodies, &names, 50, &format!("300 requests to {target}"));
    }

    // UDP: a responder in each task's namespace answers with its task name; datagrams to
    // every host's port 9000 reach all of them.
    for b in &webs {
        udp_responder(&b.netns, 9000, b.task_name.clone())?;
    }
    for target in on_every_host(&hosts, 9000) {
        let t = target.clone();
        let replies = run_in(&client, move || {
            (0..60)
                .map(|i| udp_ask(&t, &format!("ping {i}")))
                .collect::<anyhow::Result<Vec<_>>>()
        })?;
        assert_spread(&replies, &names, 5, &format!("60 datagrams to {target}"));
    }

    // --publish-add through the docker CLI: as in Docker (swarmkit's IsTaskDirty compares
    // the endpoint spec), the tasks are replaced; then the new port answers everywhere and
    // reaches every new task, the old one too.
    d.docker(&["service", "update", "-d", "--publish-add", "8081:80", "web"])
        .ok()?;
    let webs = wait_rolled(&hosts, "web", &names, 3)?;
    let names: Vec<String> = webs.iter().map(|b| b.task_name.clone()).collect();
    for target in on_every_host(&hosts, 8081)
        .into_iter()
        .chain(on_every_host(&hosts, 8080))
    {
        wait_until(
            &format!("{target} to reach all 3 new tasks"),
            MESH_SETTLE,
            || http_many(&client, &target, 30).is_ok_and(|b| tally(&b).len() == 3),
        )?;
        let bodies = http_many(&client, &target, 60)?;
        assert_spread(&bodies, &names, 5, &format!("60 requests to {target}"));
    }

    // mode=host: bound by the engine only where the task runs.
    create_web(
        d,
        "hweb",
        &[
            "--publish",
            "published=8090,target=80,mode=host",
            "--constraint",
            &format!("node.hostname=={}", hosts.host(1).name()),
        ],
    )?;
    let hweb = wait_running(&hosts, "hweb", 1)?;
    let ps = d
        .docker(&["service", "ps", "--format", "{{.Ports}}", "hweb"])
        .ok()?;
    assert!(ps.stdout.contains("*:8090->80/tcp"), "{}", ps.stdout);
    let on_task = format!("{}:8090", hosts.host(1).addr());
    wait_serving(&hosts, &on_task)?;
    assert_eq!(
        http_many(&client, &on_task, 1)?,
        [hweb[0].task_name.clone()]
    );
    for i in [0, 2] {
        let elsewhere = format!("{}:8090", hosts.host(i).addr());
        assert!(
            http_many(&client, &elsewhere, 1).is_err(),
            "a host-mode port answers on host {i}, which runs no task"
        );
    }
    Ok(())
}

#[test]
fn under_load_a_killed_task_costs_only_its_requests_and_a_start_first_update_none()
-> anyhow::Result<()> {
    let hosts = swarm("mesh-load")?;
    let d = manager(&hosts);
    create_web(
        d,
        "web",
        &[
            "-p",
            "8080:80",
            "--replicas",
            "3",
            "--placement-pref",
            "spread=node.id",
        ],
    )?;
    let webs = wait_running(&hosts, "web", 3)?;
    let target = format!("{}:8080", hosts.host(0).addr());
    wait_serving(&hosts, &target)?;
    let client = client_ns(&hosts);

    // Kill the task on host 2 under a steady loop through host 0: requests fail only until
    // the mesh drops the task (within 1 s), never before the kill, never after.
    let victim = webs
        .iter()
        .find(|b| b.host == 2)
        .ok_or_else(|| anyhow::anyhow!("no web task on host 2: {webs:?}"))?;
    let load = Load::start(&client, &target, Duration::from_millis(5));
    std::thread::sleep(Duration::from_secs(1));
    let t_kill = Instant::now();
    hosts.host(2).engine_docker(&["kill", &victim.id]).ok()?;
    std::thread::sleep(Duration::from_secs(3));
    let samples = load.stop()?;
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.result.is_err()).collect();
    let outside: Vec<String> = failures(
        &failed
            .iter()
            .filter(|s| s.end < t_kill || s.start > t_kill + DROP_STOPPED)
            .map(|s| (*s).clone())
            .collect::<Vec<_>>(),
        t_kill,
    );
    assert!(
        outside.is_empty(),
        "requests failed outside the kill's window: {outside:?}"
    );
    let after = samples
        .iter()
        .filter(|s| s.start > t_kill + DROP_STOPPED)
        .count();
    assert!(after > 50, "only {after} requests after the kill's window");
    println!(
        "kill under load: {} of {} requests failed, all within {DROP_STOPPED:?} of the kill",
        failed.len(),
        samples.len()
    );
    assert!(
        !samples.iter().any(|s| s.start > t_kill + DROP_STOPPED
            && s.result.as_deref() == Ok(victim.task_name.as_str())),
        "the killed task answered after it was killed"
    );

    // A start-first update under the same loop: zero failed requests.
    let before = names_of(&wait_running(&hosts, "web", 3)?);
    let load = Load::start(&client, &target, Duration::from_millis(5));
    let t0 = Instant::now();
    start_first_update(d, "web")?;
    wait_rolled(&hosts, "web", &before, 3)?;
    std::thread::sleep(Duration::from_secs(1));
    let samples = load.stop()?;
    let failed = failures(&samples, t0);
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during a start-first update: {failed:?}",
        failed.len(),
        samples.len()
    );
    Ok(())
}

const PORTS_STACK: &str = r#"
version: "3.8"
services:
  short:
    image: BUSYBOX
    hostname: "{{.Task.Name}}"
    command: ["sh", "-c", "hostname > /tmp/index.html && exec httpd -f -p 80 -h /tmp"]
    ports: ["7000:80"]
    deploy: {replicas: 2}
  long:
    image: BUSYBOX
    hostname: "{{.Task.Name}}"
    command: ["sh", "-c", "hostname > /tmp/index.html && exec httpd -f -p 80 -h /tmp"]
    ports:
      - target: 80
        published: 7001
        protocol: tcp
        mode: ingress
    deploy: {replicas: 2}
"#;

/// Lines of shoal's nftables tables on host `i` that occur more than once in one chain or
/// set, and how many times each of shoal's tables is listed.
fn duplicated_rules(hosts: &TestHosts, i: usize) -> anyhow::Result<(Vec<String>, usize)> {
    let out = hosts.host(i).exec(&["nft", "list", "ruleset"]);
    anyhow::ensure!(
        out.status.success(),
        "nft list ruleset on host {i}: {out:?}"
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (mut dups, mut tables) = (Vec::new(), 0);
    let (mut in_shoal, mut block, mut seen) = (false, String::new(), Vec::<String>::new());
    for line in text.lines().map(str::trim) {
        if line.starts_with("table ") {
            in_shoal = line.contains("shoal_");
            tables += usize::from(in_shoal);
            continue;
        }
        if !in_shoal || line.is_empty() {
            continue;
        }
        if line.starts_with("chain ") || line.starts_with("set ") || line.starts_with("map ") {
            block = line.to_string();
            seen.clear();
            continue;
        }
        if seen.iter().any(|l| l == line) && line != "}" {
            dups.push(format!("{block}: {line}"));
        }
        seen.push(line.to_string());
    }
    Ok((dups, tables))
}

/// How many `DOCKER-USER` rules accept DNAT'd flows on host `i`.
fn docker_user_accepts(hosts: &TestHosts, i: usize) -> usize {
    let out = hosts.host(i).exec(&["iptables", "-S", "DOCKER-USER"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("DNAT") && l.contains("ACCEPT"))
        .count()
}

#[test]
fn stack_ports_answer_everywhere_and_survive_a_daemon_sigkill_without_duplicate_rules()
-> anyhow::Result<()> {
    let mut hosts = swarm("mesh-stack")?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("compose.yml");
    std::fs::write(
        &file,
        PORTS_STACK.replace("BUSYBOX", shoal_testkit::image::BUSYBOX),
    )?;
    manager(&hosts)
        .docker(&[
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            &file.to_string_lossy(),
            "ports",
        ])
        .ok()?;
    let short: Vec<String> = wait_running(&hosts, "ports_short", 2)?
        .into_iter()
        .map(|b| b.task_name)
        .collect();
    let long: Vec<String> = wait_running(&hosts, "ports_long", 2)?
        .into_iter()
        .map(|b| b.task_name)
        .collect();
    let client = client_ns(&hosts);
    let check = |hosts: &TestHosts| -> anyhow::Result<()> {
        for (port, names) in [(7000, &short), (7001, &long)] {
            for target in on_every_host(hosts, port) {
                wait_serving(hosts, &target)?;
                let bodies = http_many(&client, &target, 40)?;
                assert_spread(&bodies, names, 5, &format!("40 requests to {target}"));
            }
        }
        Ok(())
    };
    check(&hosts)?;
    let before = duplicated_rules(&hosts, 1)?;
    assert_eq!(before.0, Vec::<String>::new(), "duplicated rules on host 1");
    assert_eq!(docker_user_accepts(&hosts, 1), 1);

    // SIGKILL host 1's daemon and start it again: same answers, no rule twice.
    hosts.host_mut(1).restart_shoal()?;
    wait_for("host 1's node to be Ready again", CONVERGE, || {
        manager(&hosts)
            .docker(&["node", "ls", "--format", "{{.Hostname}} {{.Status}}"])
            .ok()
            .ok()
            .filter(|c| {
                c.stdout
                    .lines()
                    .any(|l| l == format!("{} Ready", hosts.host(1).name()))
            })
    })?;
    check(&hosts)?;
    // Once more after the first restart's round of rules settled: still one of each.
    std::thread::sleep(Duration::from_secs(2));
    let after = duplicated_rules(&hosts, 1)?;
    assert_eq!(
        after.0,
        Vec::<String>::new(),
        "duplicated rules after restart"
    );
    assert_eq!(after.1, before.1, "shoal's tables listed {} times", after.1);
    assert_eq!(
        docker_user_accepts(&hosts, 1),
        1,
        "DOCKER-USER accept rules after restart"
    );
    Ok(())
}

/// What the outside client sends first on a PROXY protocol test connection: 16 bytes, as
/// long as a v2 header's fixed part, so the task's reader tells the two apart.
const HELLO: &[u8; 16] = b"hello, outside!\n";

/// A fake task server on `port` inside a task's namespace `ns`: per connection it reads 16
/// bytes; a PROXY v2 header (signature, `0x21`, `0x11`, length 12) is followed by its
/// addresses, then the client's [`HELLO`]; it answers `<name> <source> <destination>` from
/// the header, or `<name> none` when the connection started with the hello itself.
fn proxy_reader(ns: &Path, port: u16, name: String) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    spawn_in(ns, move || {
        let listener = match TcpListener::bind(("0.0.0.0", port)) {
            Ok(l) => {
                let _ = tx.send(Ok(())); // the receiver waits for exactly this
                l
            }
            Err(e) => {
                let _ = tx.send(Err(anyhow::anyhow!("bind tcp {port}: {e}"))); // as above
                return Ok(());
            }
        };
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let name = name.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                conn.set_read_timeout(Some(REQUEST_TIMEOUT))?;
                let mut first = [0u8; 16];
                conn.read_exact(&mut first)?;
                let reply = if first.starts_with(b"\r\n\r\n\0\r\nQUIT\n") {
                    if first[12..] != [0x21, 0x11, 0, 12] {
                        format!("{name} bad header {first:?}")
                    } else {
                        let mut a = [0u8; 12];
                        conn.read_exact(&mut a)?;
                        let mut hello = [0u8; 16];
                        conn.read_exact(&mut hello)?;
                        let src = SocketAddrV4::new(
                            [a[0], a[1], a[2], a[3]].into(),
                            u16::from_be_bytes([a[8], a[9]]),
                        );
                        let dst = SocketAddrV4::new(
                            [a[4], a[5], a[6], a[7]].into(),
                            u16::from_be_bytes([a[10], a[11]]),
                        );
                        format!("{name} {src} {dst}")
                    }
                } else {
                    format!("{name} none")
                };
                conn.write_all(reply.as_bytes())
            });
        }
        Ok(())
    });
    rx.recv_timeout(REQUEST_TIMEOUT)
        .map_err(|_| anyhow::anyhow!("PROXY protocol reader on {port} did not start"))?
}

/// One connection to `target` from the calling thread's namespace: sends [`HELLO`], returns
/// the reader's answer and the client's own address.
fn proxy_ask(target: &str) -> anyhow::Result<(String, SocketAddr)> {
    let sa: SocketAddr = target.parse()?;
    let mut s = TcpStream::connect_timeout(&sa, REQUEST_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("connect {target}: {e}"))?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let me = s.local_addr()?;
    s.write_all(HELLO)?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)
        .map_err(|e| anyhow::anyhow!("read from {target}: {e}"))?;
    Ok((reply, me))
}

/// `n` connections to `target` from the outside client: each answer with the client's
/// address it was made from.
fn proxy_many(
    hosts: &TestHosts,
    target: &str,
    n: usize,
) -> anyhow::Result<Vec<(String, SocketAddr)>> {
    let target = target.to_string();
    run_in(&client_ns(hosts), move || {
        (0..n).map(|_| proxy_ask(&target)).collect()
    })
}

#[test]
fn a_proxy_protocol_port_tells_the_task_the_clients_address_on_every_host() -> anyhow::Result<()> {
    let hosts = swarm("mesh-proxy")?;
    let d = manager(&hosts);
    let label = "com.shoal.proxy-protocol";

    // The label names published ingress TCP ports of the service, nothing else.
    let refused = d.docker(&[
        "service",
        "create",
        "-d",
        "--name",
        "bad",
        "-p",
        "9000:9000/udp",
        "--label",
        &format!("{label}=9000"),
        shoal_testkit::image::BUSYBOX,
        "sleep",
        "600",
    ]);
    assert!(
        refused.code != 0
            && refused
                .stderr
                .contains("port 9000 is not a published ingress TCP port of this service"),
        "{refused:?}"
    );

    // Tasks only on the workers: host 0 has none and must proxy all the same.
    create_web(
        d,
        "pp",
        &[
            "-p",
            "8080:7000",
            "--label",
            &format!("{label}=8080"),
            "--replicas",
            "2",
            "--constraint",
            "node.role==worker",
        ],
    )?;
    let pps = wait_running(&hosts, "pp", 2)?;
    for b in &pps {
        proxy_reader(&b.netns, 7000, b.task_name.clone())?;
    }
    let names = names_of(&pps);
    let refused = d.docker(&[
        "service",
        "update",
        "-d",
        "--label-add",
        &format!("{label}=8080,8081"),
        "pp",
    ]);
    assert!(
        refused.code != 0
            && refused.stderr.contains(
                "port 8081 is not a published ingress TCP port of this service (its published ingress TCP ports: 8080)"
            ),
        "{refused:?}"
    );

    // Every host's address: the task sees the outside client's own address and port, and
    // the host address and published port it connected to; both tasks get connections.
    for (i, h) in hosts.hosts().iter().enumerate() {
        let target = format!("{}:8080", h.addr());
        wait_until(
            &format!("{target} to proxy with a PROXY v2 header"),
            MESH_SETTLE,
            || {
                proxy_many(&hosts, &target, 1)
                    .is_ok_and(|r| r.iter().all(|(reply, _)| !reply.ends_with(" none")))
            },
        )?;
        let answers = proxy_many(&hosts, &target, 20)?;
        for (reply, me) in &answers {
            let words: Vec<&str> = reply.split(' ').collect();
            assert_eq!(
                words[1..],
                [me.to_string(), target.clone()],
                "host {i}: the task's view of a connection from {me}: {reply}"
            );
        }
        let reached: Vec<String> = answers
            .iter()
            .map(|(r, _)| r.split(' ').next().unwrap_or_default().to_string())
            .collect();
        assert_spread(&reached, &names, 5, &format!("20 connections to {target}"));
    }
    println!("PROXY v2: every host passes the client's address to both tasks");

    // Scaled to one task: the other one gets no new connection.
    d.docker(&["service", "scale", "-d", "pp=1"]).ok()?;
    let left = wait_running(&hosts, "pp", 1)?;
    let target = format!("{}:8080", hosts.host(0).addr());
    let only = |answers: &[(String, SocketAddr)]| {
        answers
            .iter()
            .all(|(r, _)| r.starts_with(&format!("{} ", left[0].task_name)))
    };
    wait_until(
        "connections to reach only the task left",
        MESH_SETTLE,
        || proxy_many(&hosts, &target, 4).is_ok_and(|a| only(&a)),
    )?;
    let answers = proxy_many(&hosts, &target, 20)?;
    assert!(only(&answers), "after scaling to 1: {answers:?}");

    // Without the label the port is the kernel's again: no header reaches the task.
    d.docker(&["service", "update", "-d", "--label-rm", label, "pp"])
        .ok()?;
    wait_until(
        "the port to reach the task without a header",
        MESH_SETTLE,
        || {
            proxy_many(&hosts, &target, 1)
                .is_ok_and(|a| a.iter().all(|(r, _)| r.ends_with(" none")))
        },
    )?;
    let answers = proxy_many(&hosts, &target, 10)?;
    assert!(
        answers
            .iter()
            .all(|(r, _)| *r == format!("{} none", left[0].task_name)),
        "without the label: {answers:?}"
    );
    Ok(())
}
