//! The load balancer's data path, end to end in scratch network namespaces (needs root,
//! as CI has, and Debian's static busybox, which CI installs): a "host" namespace with the
//! network's bridge, two task namespaces serving HTTP, a task-like client on the bridge
//! and an outside client on a LAN link. Everything is removed on drop, even on failure.

use super::*;
use shoal_types::dispatch::{NetEndpoint, NetPort, NetService, NodeNetwork};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Scratch namespaces, their servers and files; all removed on drop.
struct Lab {
    prefix: String,
    names: Vec<&'static str>,
    children: Vec<Child>,
    dir: std::path::PathBuf,
}

impl Lab {
    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Runs `args` in namespace `name`; panics with its stderr when it fails.
    fn sh(&self, name: &str, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(name)])
            .args(args)
            .output()
            .expect("run a command in a scratch namespace");
        assert!(
            out.status.success(),
            "{name}: {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn spawn(&mut self, name: &str, args: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(name)])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a server in a scratch namespace");
        self.children.push(child);
    }

    /// One HTTP GET from namespace `name`: the body, or `None` when it failed.
    fn get(&self, name: &str, url: &str) -> Option<String> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(name),
                "timeout",
                "3",
                "busybox",
                "wget",
                "-q",
                "-O",
                "-",
                url,
            ])
            .output()
            .expect("run wget");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// How many of `n` GETs each body answered.
    fn spread(&self, name: &str, url: &str, n: usize) -> BTreeMap<String, usize> {
        let mut seen = BTreeMap::new();
        for _ in 0..n {
            let body = self.get(name, url).unwrap_or_else(|| "<failed>".into());
            *seen.entry(body).or_insert(0) += 1;
        }
        seen
    }

    fn new() -> Lab {
        let mut lab = Lab {
            prefix: format!("shoal-lbdp{}-", std::process::id()),
            names: vec![],
            children: vec![],
            dir: std::env::temp_dir().join(format!("shoal-lbdp-{}", std::process::id())),
        };
        for name in ["host", "t1", "t2", "client", "outside"] {
            let ok = Command::new("ip")
                .args(["netns", "add", &lab.ns(name)])
                .status();
            assert!(
                ok.is_ok_and(|s| s.success()),
                "ip netns add {} (needs root)",
                lab.ns(name)
            );
            lab.names.push(name);
            lab.sh(name, &["ip", "link", "set", "lo", "up"]);
        }
        lab.sh("host", &["ip", "link", "add", "shbr9", "type", "bridge"]);
        lab.sh(
            "host",
            &["ip", "addr", "add", "10.0.9.254/24", "dev", "shbr9"],
        );
        lab.sh("host", &["ip", "link", "set", "shbr9", "up"]);
        // replies of VIP flows are bridged straight to the client: conntrack must see them
        lab.sh(
            "host",
            &["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"],
        );
        for (name, addr) in [
            ("t1", "10.0.9.10/24"),
            ("t2", "10.0.9.11/24"),
            ("client", "10.0.9.30/24"),
        ] {
            let ns = lab.ns(name);
            let port = format!("v{name}");
            lab.sh(
                "host",
                &[
                    "ip", "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                    &ns,
                ],
            );
            lab.sh(
                "host",
                &["ip", "link", "set", &port, "master", "shbr9", "up"],
            );
            lab.sh(name, &["ip", "addr", "add", addr, "dev", "eth0"]);
            lab.sh(name, &["ip", "link", "set", "eth0", "up"]);
            lab.sh(
                name,
                &["ip", "route", "add", "default", "via", "10.0.9.254"],
            );
        }
        let outside = lab.ns("outside");
        lab.sh(
            "host",
            &[
                "ip", "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns",
                &outside,
            ],
        );
        lab.sh(
            "host",
            &["ip", "addr", "add", "192.168.77.1/24", "dev", "lan0"],
        );
        lab.sh("host", &["ip", "link", "set", "lan0", "up"]);
        lab.sh(
            "outside",
            &["ip", "addr", "add", "192.168.77.2/24", "dev", "eth0"],
        );
        lab.sh("outside", &["ip", "link", "set", "eth0", "up"]);
        for name in ["t1", "t2"] {
            let root = lab.dir.join(name);
            std::fs::create_dir_all(&root).expect("create the web root");
            std::fs::write(root.join("index.html"), name).expect("write the page");
            let root = root.to_string_lossy().into_owned();
            lab.spawn(name, &["busybox", "httpd", "-f", "-p", "80", "-h", &root]);
        }
        lab.spawn(
            "t1",
            &["busybox", "nc", "-ll", "-p", "81", "-e", "/bin/cat"],
        );
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            // best effort: the namespace goes away below either way
            let _ = c.kill();
            let _ = c.wait();
        }
        for name in &self.names {
            // best effort: a namespace left behind is only a name in /run/netns
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(name)])
                .status();
        }
        // best effort: a temporary directory
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn endpoint(service: &str, task: &str, addr: &str, ready: bool) -> NetEndpoint {
    NetEndpoint {
        task_id: task.into(),
        service_id: service.into(),
        node_id: "n1".into(),
        addr: addr.into(),
        ready,
        ..Default::default()
    }
}

/// The ingress network (vni 9): `web` (VIP 10.0.9.2, published 8080→80) on t1 and t2,
/// `echo` (VIP 10.0.9.3) on t1's port 81.
fn ingress(t2_ready: bool, echo_alive: bool) -> Vec<NodeNetwork> {
    let mut n = NodeNetwork {
        gateway: "10.0.9.254/24".into(),
        ..Default::default()
    };
    n.network.vni = 9;
    n.network.spec.ingress = true;
    n.services = vec![
        NetService {
            service_id: "web".into(),
            name: "web".into(),
            vip: Some("10.0.9.2".into()),
            ports: vec![NetPort {
                protocol: "tcp".into(),
                target: 80,
                published: 8080,
                ingress: true,
                proxy_protocol: false,
            }],
            ..Default::default()
        },
        NetService {
            service_id: "echo".into(),
            name: "echo".into(),
            vip: Some("10.0.9.3".into()),
            ..Default::default()
        },
    ];
    n.endpoints = vec![
        endpoint("web", "w1", "10.0.9.10", true),
        endpoint("web", "w2", "10.0.9.11", t2_ready),
    ];
    if echo_alive {
        n.endpoints.push(endpoint("echo", "e1", "10.0.9.10", true));
    }
    vec![n]
}

fn wait_for<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < deadline, "waited {deadline:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn vips_and_published_ports_reach_ready_tasks_and_flows_to_gone_tasks_are_reset() {
    let lab = Lab::new();
    let host = System {
        netns: Some(lab.ns("host")),
    };
    apply(&host, &render(&ingress(true, true))).expect("apply");
    wait_for("t1's web server", Duration::from_secs(5), || {
        lab.get("t1", "http://127.0.0.1/")
    });
    wait_for("t2's web server", Duration::from_secs(5), || {
        lab.get("t2", "http://127.0.0.1/")
    });

    // a task on the network reaches the service by its VIP: both tasks answer
    let seen = lab.spread("client", "http://10.0.9.2/", 30);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["t1", "t2"],
        "VIP answers: {seen:?}"
    );
    // an outside client reaches it through the published port on the host's address
    let seen = lab.spread("outside", "http://192.168.77.1:8080/", 30);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["t1", "t2"],
        "mesh answers: {seen:?}"
    );

    // and the node itself reaches both too (output hooks)
    let seen = lab.spread("host", "http://10.0.9.2/", 20);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["t1", "t2"],
        "VIP from the node: {seen:?}"
    );
    let seen = lab.spread("host", "http://192.168.77.1:8080/", 20);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["t1", "t2"],
        "mesh from the node: {seen:?}"
    );

    // t2 stops being ready: no new connection reaches it
    apply(&host, &render(&ingress(false, true))).expect("apply");
    let seen = lab.spread("client", "http://10.0.9.2/", 10);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["t1"],
        "VIP answers: {seen:?}"
    );
    let seen = lab.spread("outside", "http://192.168.77.1:8080/", 10);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["t1"],
        "mesh answers: {seen:?}"
    );

    // an open connection through the echo VIP, then echo's only task goes away
    let mut nc = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("client"),
            "busybox",
            "nc",
            "10.0.9.3",
            "81",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nc");
    let mut stdin = nc.stdin.take().expect("nc's stdin");
    let mut stdout = BufReader::new(nc.stdout.take().expect("nc's stdout"));
    stdin.write_all(b"hello\n").expect("write through the VIP");
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the echo");
    assert_eq!(line, "hello\n");
    apply(&host, &render(&ingress(false, false))).expect("apply");
    let start = Instant::now();
    // the next packet of the flow is answered with a reset: nc ends instead of hanging
    let _ = stdin.write_all(b"again\n"); // the write itself may already fail: fine
    drop(stdin);
    let status = wait_for(
        "nc to see its connection reset",
        Duration::from_secs(3),
        || nc.try_wait().expect("poll nc"),
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "reset took {:?} ({status})",
        start.elapsed()
    );
    // and a new connection to the VIP without tasks is refused at once
    let start = Instant::now();
    assert_eq!(lab.get("client", "http://10.0.9.3:81/"), None);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "refusal took {:?}",
        start.elapsed()
    );

    clear(&host).expect("clear");
}
