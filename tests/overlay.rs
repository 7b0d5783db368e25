//! The overlay data plane across real separate hosts (test hosts: own network namespace, own
//! engine, own shoal daemon each, on one LAN): services on different hosts reach each other
//! by address over an overlay network (ICMP, TCP), large transfers arrive intact, networks
//! are isolated from each other, a task's address stops answering everywhere once it is
//! gone, restarting shoal and then the engine on a host keeps its containers connected, and
//! a task on an `--internal` network cannot reach the LAN.

mod net_support;

use net_support::{TASK_START, address_on, container_of, pings, service};
use shoal_testkit::{HostOptions, TestHosts, wait_until};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
/// A stopped task's entries leave every host within this (the target is 1 s; a loaded CI
/// machine gets slack, the measured figure is printed).
const PEER_REMOVAL: Duration = Duration::from_secs(5);

#[test]
fn services_on_different_hosts_talk_over_overlay_networks() -> anyhow::Result<()> {
    let opts = HostOptions {
        engine_args: vec!["--live-restore".into()],
        ..HostOptions::default()
    };
    let mut hosts = TestHosts::start_opts(BIN, "ovl-talk", 3, &opts)?;
    hosts.init_swarm(1)?;
    let d0 = hosts.daemon(0);
    // Through the docker CLI, as a user would.
    d0.docker(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--attachable",
        "front",
    ])
    .ok()?;
    d0.docker(&["network", "create", "-d", "overlay", "back"])
        .ok()?;

    let httpd = ["busybox", "httpd", "-f", "-p", "8080", "-h", "/"];
    let sleep = ["busybox", "sleep", "3600"];
    service(&hosts, "web", hosts.host(2), &["front"], &httpd)?;
    service(&hosts, "db", hosts.host(2), &["back"], &httpd)?;
    service(&hosts, "client", hosts.host(1), &["front"], &sleep)?;
    service(&hosts, "both", hosts.host(1), &["front", "back"], &sleep)?;

    let (h1, h2) = (hosts.host(1), hosts.host(2));
    let web = container_of(h2, "web")?;
    let db = container_of(h2, "db")?;
    let client = container_of(h1, "client")?;
    let both = container_of(h1, "both")?;
    let web_ip = address_on(h2, &web, "front")?;
    let db_ip = address_on(h2, &db, "back")?;
    println!("web {web_ip} (front) and db {db_ip} (back) on host 2");

    // Host 1 → host 2 by address, ICMP and TCP.
    wait_until("client on host 1 pings web on host 2", TASK_START, || {
        pings(h1, &client, &web_ip)
    })?;
    // A large transfer arrives intact: the busybox binary (a few hundred KiB and more),
    // served by web on host 2, checksummed on both sides.
    let local = h1
        .engine_docker(&["exec", &client, "busybox", "md5sum", "/bin/busybox"])
        .ok()?;
    let fetch = format!("busybox wget -q -O - http://{web_ip}:8080/bin/busybox | busybox md5sum");
    let remote = h1
        .engine_docker(&["exec", &client, "busybox", "sh", "-c", &fetch])
        .ok()?;
    assert_eq!(
        remote.stdout.split_whitespace().next(),
        local.stdout.split_whitespace().next(),
        "the transfer over the overlay changed the bytes"
    );

    // A service on two networks reaches both; the networks are isolated from each other.
    wait_until("both reaches web (front) and db (back)", TASK_START, || {
        pings(h1, &both, &web_ip) && pings(h1, &both, &db_ip)
    })?;
    assert!(
        !pings(h1, &client, &db_ip),
        "client (front only) reached db on back"
    );

    // What the node built, as an operator sees it.
    let links = String::from_utf8_lossy(&h2.exec(&["ip", "-d", "link"]).stdout).into_owned();
    assert!(links.contains("vxlan id"), "{links}");
    assert!(links.contains("nolearning"), "{links}");

    // Restart shoal on host 2: web keeps its container and stays reachable.
    let before = h2
        .engine_docker(&["inspect", "--format", "{{.Id}}", &web])
        .ok()?
        .stdout;
    hosts.host_mut(2).restart_shoal()?;
    let (h1, h2) = (hosts.host(1), hosts.host(2));
    wait_until(
        "web answers after shoal restarted on host 2",
        TASK_START,
        || pings(h1, &client, &web_ip),
    )?;
    let after = h2
        .engine_docker(&["inspect", "--format", "{{.Id}}", &web])
        .ok()?
        .stdout;
    assert_eq!(before, after, "restarting shoal restarted the task");

    // Then restart host 2's engine (live-restore keeps containers): traffic resumes, no task
    // restarted.
    hosts.host_mut(2).restart_engine()?;
    let (h1, h2) = (hosts.host(1), hosts.host(2));
    wait_until(
        "web answers after host 2's engine restarted",
        TASK_START,
        || pings(h1, &client, &web_ip),
    )?;
    let after_engine = h2
        .engine_docker(&["inspect", "--format", "{{.Id}}", &web])
        .ok()?
        .stdout;
    assert_eq!(
        before, after_engine,
        "restarting the engine restarted the task"
    );

    // An --internal network has no way out: its task cannot reach the LAN.
    hosts
        .daemon(0)
        .docker(&["network", "create", "-d", "overlay", "--internal", "sealed"])
        .ok()?;
    service(&hosts, "hermit", hosts.host(1), &["sealed"], &sleep)?;
    let hermit = container_of(h1, "hermit")?;
    assert!(
        !pings(h1, &hermit, &hosts.host(0).addr()),
        "a task on an --internal network reached the LAN"
    );

    // Scale up: a new task on host 2 is reachable.
    hosts
        .daemon(0)
        .docker(&["service", "scale", "--detach", "web=2"])
        .ok()?;
    wait_until("two web containers on host 2", TASK_START, || {
        h2.engine_docker(&[
            "ps",
            "--filter",
            "label=com.docker.swarm.service.name=web",
            "-q",
        ])
        .stdout
        .lines()
        .count()
            == 2
    })?;
    let ids = h2
        .engine_docker(&[
            "ps",
            "--filter",
            "label=com.docker.swarm.service.name=web",
            "--format",
            "{{.Names}}",
        ])
        .ok()?
        .stdout;
    for name in ids.lines() {
        let ip = address_on(h2, name, "front")?;
        wait_until(
            &format!("client reaches {name} at {ip}"),
            TASK_START,
            || pings(h1, &client, &ip),
        )?;
    }

    // Kill the task: its address stops answering, its entries leave host 1.
    hosts.daemon(0).docker(&["service", "rm", "db"]).ok()?;
    wait_until("db's container gone from host 2", TASK_START, || {
        !h2.engine_docker(&["ps", "-a", "--format", "{{.Names}}"])
            .stdout
            .contains(&db)
    })?;
    let gone = Instant::now();
    wait_until(
        &format!("{db_ip} leaves host 1's neighbour entries"),
        PEER_REMOVAL,
        || {
            !String::from_utf8_lossy(&h1.exec(&["ip", "neigh", "show"]).stdout)
                .contains(&format!("{db_ip} "))
        },
    )?;
    println!(
        "db's entries left host 1 {:?} after its container",
        gone.elapsed()
    );
    assert!(!pings(h1, &both, &db_ip), "db's address still answers");
    Ok(())
}
