//! Test hosts: separate network namespaces on one LAN, each with its own engine and a shoal
//! daemon inside. These tests prove the kit itself: hosts come up fast, engines are separate,
//! the LAN connects hosts and the client, cutting a link partitions a host, a swarm forms
//! over the LAN, captures see LAN payloads, and nothing is left after drop.

use shoal_testkit::hosts::layout::Layout;
use shoal_testkit::image::BUSYBOX;
use shoal_testkit::{HostOptions, TestHost, TestHosts, contains_bytes, wait_until};
use std::process::Output;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
/// How long a LAN change (cut or restored link) may take to show in pings.
const LAN_SETTLE: Duration = Duration::from_secs(10);

fn ok(out: &Output, what: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One ping from host `from` to `addr`, one second deadline.
fn pings(from: &TestHost, addr: &str) -> bool {
    from.exec(&["busybox", "ping", "-c", "1", "-W", "1", addr])
        .status
        .success()
}

#[test]
fn three_hosts_have_their_own_engines_on_one_lan() -> anyhow::Result<()> {
    let t0 = Instant::now();
    // Extra engine flags reach every host's dockerd (and stay across its restarts).
    let opts = HostOptions {
        engine_args: vec!["--live-restore".into()],
        ..HostOptions::default()
    };
    let mut hosts = TestHosts::start_opts(BIN, "kit-lan", 3, &opts)?;
    println!(
        "3 test hosts up (engines, image loaded, shoal daemons) in {:?}",
        t0.elapsed()
    );

    // Each engine is its own: a container on host 0 is not seen by host 1 or the main engine.
    let h0 = hosts.host(0);
    h0.engine_docker(&["run", "-d", "--name", "marker", BUSYBOX, "sleep", "600"])
        .ok()?;
    let on0 = h0
        .engine_docker(&["ps", "-a", "--format", "{{.Names}}"])
        .ok()?;
    assert!(on0.stdout.lines().any(|l| l == "marker"), "{}", on0.stdout);
    let on1 = hosts
        .host(1)
        .engine_docker(&["ps", "-a", "--format", "{{.Names}}"])
        .ok()?;
    assert!(
        !on1.stdout.contains("marker"),
        "host 1 sees host 0's container: {}",
        on1.stdout
    );
    let ids: Vec<String> = hosts
        .hosts()
        .iter()
        .map(|h| {
            h.engine_docker(&["info", "--format", "{{.ID}}"])
                .ok()
                .map(|c| c.stdout)
        })
        .collect::<Result<_, _>>()?;
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );

    // Each host has its own hostname and address, and no route off the LAN.
    let name = ok(&h0.exec(&["hostname"]), "hostname")?;
    assert_eq!(name.trim(), h0.name());
    let routes = ok(&h0.exec(&["ip", "route"]), "ip route")?;
    assert!(
        !routes.contains("default"),
        "host 0 has a default route: {routes}"
    );

    // Hosts reach each other over the LAN, and the client reaches a host.
    for a in hosts.hosts() {
        for b in hosts.hosts() {
            if a.name() != b.name() {
                assert!(pings(a, &b.addr()), "{} cannot ping {}", a.name(), b.name());
            }
        }
    }
    let from_client = hosts.client_exec(&["busybox", "ping", "-c", "1", "-W", "1", &h0.addr()]);
    ok(&from_client, "ping from the client")?;

    // A capture on the LAN sees what crosses it.
    let capture = hosts.capture_lan("udp port 9999")?;
    let send = format!(
        "echo LAN-CANARY-42 > /dev/udp/{}/9999",
        hosts.host(1).addr()
    );
    ok(&h0.exec(&["bash", "-c", &send]), "udp send")?;
    let pcap = capture.stop()?;
    assert!(
        contains_bytes(&pcap, b"LAN-CANARY-42"),
        "capture of {} bytes lacks the canary",
        pcap.len()
    );

    // Cutting host 2's link isolates it; restoring heals it.
    let (a0, a2) = (hosts.host(0).addr(), hosts.host(2).addr());
    hosts.host(2).cut_link()?;
    assert!(
        !pings(hosts.host(0), &a2),
        "host 2 still answers after its link was cut"
    );
    assert!(
        !pings(hosts.host(2), &a0),
        "host 2 still reaches host 0 after its link was cut"
    );
    assert!(
        pings(hosts.host(0), &hosts.host(1).addr()),
        "the cut broke hosts 0-1"
    );
    hosts.host(2).restore_link()?;
    wait_until(
        "host 0 to ping host 2 after the link was restored",
        LAN_SETTLE,
        || pings(hosts.host(0), &a2),
    )?;

    // Restarting the engine keeps the host (and, with --live-restore, its containers); the
    // shoal daemon answers after its own restart.
    let started = |h: &TestHost| {
        h.engine_docker(&[
            "inspect",
            "--format",
            "{{.State.Running}} {{.State.StartedAt}}",
            "marker",
        ])
        .ok()
        .map(|c| c.stdout)
    };
    let before = started(hosts.host(0))?;
    hosts.host_mut(0).restart_engine()?;
    assert_eq!(
        started(hosts.host(0))?,
        before,
        "the container did not survive the engine restart"
    );
    assert!(before.starts_with("true "), "{before}");
    hosts.host_mut(1).restart_shoal()?;
    hosts.host(1).daemon().shoal(&["info"]).ok()?;
    Ok(())
}

#[test]
fn a_three_node_swarm_forms_over_the_lan() -> anyhow::Result<()> {
    let mut hosts = TestHosts::start_with(BIN, "kit-swarm", 3)?;
    let t0 = Instant::now();
    hosts.init_swarm(2)?;
    println!(
        "swarm of 2 managers and 1 worker formed over the LAN in {:?}",
        t0.elapsed()
    );
    let ls = hosts
        .host(1)
        .daemon()
        .docker(&[
            "node",
            "ls",
            "--format",
            "{{.Hostname}} {{.Status}} {{.ManagerStatus}}",
        ])
        .ok()?;
    let mut rows: Vec<&str> = ls.stdout.lines().map(str::trim).collect();
    rows.sort();
    let want = [
        format!("{} Ready Leader", hosts.host(0).name()),
        format!("{} Ready Reachable", hosts.host(1).name()),
        format!("{} Ready", hosts.host(2).name()),
    ];
    assert_eq!(rows, want, "docker node ls on host 1:\n{}", ls.stdout);
    for h in hosts.hosts() {
        let addr = h
            .daemon()
            .shoal(&["info", "--format", "{{.Swarm.NodeAddr}}"])
            .ok()?;
        assert_eq!(addr.stdout.trim(), h.addr(), "{}", h.name());
    }
    Ok(())
}

/// Whether anything of the set `prefix` is still on the machine; names what is.
fn leftovers(prefix: &str) -> Vec<String> {
    let l = match Layout::new(prefix, 1) {
        Ok(l) => l,
        Err(e) => return vec![e.to_string()],
    };
    let mut found = Vec::new();
    for dir in [l.run_dir(), l.data_dir()] {
        if dir.exists() {
            found.push(dir.display().to_string());
        }
    }
    let ns_prefix = format!("shoal-{prefix}-");
    for e in std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&ns_prefix) {
            found.push(format!("netns {n}"));
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let run = l.run_dir().display().to_string();
    found.extend(
        mounts
            .lines()
            .filter(|m| m.contains(&run))
            .map(str::to_string),
    );
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for c in [0, 1] {
            let dir = h.path().join(l.cgroup_parent(c).trim_start_matches('/'));
            if dir.exists() {
                found.push(dir.display().to_string());
            }
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn everything_is_gone_after_drop() -> anyhow::Result<()> {
    let prefix = "kit-drop";
    let hosts = TestHosts::start_with(BIN, prefix, 2)?;
    hosts
        .host(0)
        .engine_docker(&["run", "-d", BUSYBOX, "sleep", "600"])
        .ok()?;
    let pids: Vec<u32> = hosts
        .hosts()
        .iter()
        .filter_map(|h| h.daemon().pid())
        .collect();
    let engines: Vec<u32> = (0..2)
        .filter_map(|i| {
            let f = Layout::new(prefix, 1).ok()?.engine_pid_file(i);
            std::fs::read_to_string(f).ok()?.trim().parse().ok()
        })
        .collect();
    assert_eq!((pids.len(), engines.len()), (2, 2));
    // Every process of the hosts: daemons, engines, their containerd, shims, containers.
    let mut in_hosts = Vec::new();
    for h in hosts.hosts() {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", &h.netns()])
            .output()?;
        in_hosts.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok()),
        );
    }
    assert!(in_hosts.len() >= 6, "processes in the hosts: {in_hosts:?}");
    assert!(!leftovers(prefix).is_empty());
    let t0 = Instant::now();
    drop(hosts);
    println!("2 test hosts torn down in {:?}", t0.elapsed());
    assert_eq!(leftovers(prefix), Vec::<String>::new());
    for pid in pids.iter().chain(&engines).chain(&in_hosts) {
        assert!(!alive(*pid), "process {pid} outlived its test host");
    }
    Ok(())
}

#[test]
fn everything_is_gone_after_a_panic_too() {
    let prefix = "kit-panic";
    let run = std::thread::spawn(move || {
        let hosts = TestHosts::start_with(BIN, prefix, 1).expect("test hosts start");
        hosts
            .host(0)
            .engine_docker(&["run", "-d", BUSYBOX, "sleep", "600"]);
        panic!("a failing test");
    });
    assert!(run.join().is_err(), "the test thread should have panicked");
    assert_eq!(leftovers(prefix), Vec::<String>::new());
}

#[test]
fn a_prefix_in_use_is_refused_and_a_dead_runs_leftovers_are_replaced() -> anyhow::Result<()> {
    let prefix = "kit-owner";
    let hosts = TestHosts::start_with(BIN, prefix, 1)?;
    let err = TestHosts::start_with(BIN, prefix, 1)
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("in use by process")),
        "{err:?}"
    );
    // Play a killed run: the set stays (its engine and daemon running) and its owner is a
    // process that has exited.
    let engine: u32 = std::fs::read_to_string(Layout::new(prefix, 1)?.engine_pid_file(0))?
        .trim()
        .parse()?;
    let mut gone = std::process::Command::new("true").spawn()?;
    gone.wait()?;
    std::fs::write(Layout::new(prefix, 1)?.owner_file(), gone.id().to_string())?;
    std::mem::forget(hosts);
    let hosts = TestHosts::start_with(BIN, prefix, 1)?;
    assert!(!alive(engine), "the dead run's dockerd {engine} still runs");
    hosts.host(0).engine_docker(&["info"]).ok()?;
    drop(hosts);
    assert_eq!(leftovers(prefix), Vec::<String>::new());
    Ok(())
}

/// Removes what killed runs left (all sets, or those whose prefix starts with
/// `SHOAL_HOSTS_PREFIX`) unless a live process owns them.
#[test]
#[ignore]
fn remove_leftover_test_hosts() {
    let prefix = std::env::var("SHOAL_HOSTS_PREFIX").unwrap_or_default();
    let removed = TestHosts::remove_leftovers(&prefix);
    println!("removed test hosts: {removed:?}");
}
