//! Attachable overlay networks on three test hosts (host 0 the manager, hosts 1 and 2
//! workers), the swarm made with `--data-path-port 7789`:
//!
//! - `docker network create -d overlay --attachable` through the docker CLI against shoal;
//! - `docker run -d --network NAME` through shoal's socket on worker host 1 gets an address
//!   from the cluster (the attachment task in the store holds it), a service task on host 2
//!   reaches it and it reaches the task (ICMP, TCP, and UDP both ways: a UDP responder and a
//!   client run on threads moved into the containers' network namespaces, since the test
//!   image's busybox `nc` has no `-u`);
//! - `docker network connect NAME c` does the same for a running container, and `docker
//!   network disconnect` releases it;
//! - `docker rm -f` through shoal releases the attachment and its entries leave host 2; a
//!   container removed on the engine directly is released by the node's periodic check;
//! - a network created without `--attachable` is refused with Docker's message;
//! - every node's VXLAN devices use UDP port 7789 (`ip -d link` shows `dstport 7789`), and
//!   `docker info` shows the port.

mod net_support;

use net_support::{address_on, pings, run_in, runs, udp_ask, udp_responder};
use shoal_testkit::image::BUSYBOX;
use shoal_testkit::{TestDaemon, TestHost, TestHosts, wait_for, wait_until};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
/// Tasks and containers start on a loaded CI machine within this.
const START: Duration = Duration::from_secs(90);
/// A released address leaves the other hosts, and the periodic check (every 10 s) releases
/// a container removed behind shoal's back, within this on a loaded machine.
const RELEASE: Duration = Duration::from_secs(40);
const DATA_PATH_PORT: &str = "7789";
/// Serves /tmp/index.html over HTTP on 8080.
const SERVE: &str = "echo hello > /tmp/index.html; exec busybox httpd -f -p 8080 -h /tmp";

fn fetches(host: &TestHost, container: &str, ip: &str) -> bool {
    let url = format!("http://{ip}:8080/index.html");
    runs(host, container, &["busybox", "wget", "-q", "-O", "-", &url])
}

/// The network namespace of `container` on `host` (`/proc/<pid>/ns/net`: the test hosts
/// share the test's PID namespace).
fn netns_of(host: &TestHost, container: &str) -> anyhow::Result<PathBuf> {
    let pid = host
        .engine_docker(&["inspect", "--format", "{{.State.Pid}}", container])
        .ok()?
        .stdout
        .trim()
        .to_string();
    Ok(PathBuf::from(format!("/proc/{pid}/ns/net")))
}

/// A UDP responder on port 9000 in `to_container` (answering `reply`), asked from
/// `from_container` at `ip:9000` until the reply arrives.
fn udp_between(
    from: (&TestHost, &str),
    to: (&TestHost, &str),
    ip: &str,
    reply: &str,
) -> anyhow::Result<()> {
    udp_responder(&netns_of(to.0, to.1)?, 9000, reply.to_string())?;
    let client = netns_of(from.0, from.1)?;
    let addr = format!("{ip}:9000");
    wait_until(
        &format!("a UDP reply from {} at {addr} to {}", to.1, from.1),
        START,
        || {
            let addr = addr.clone();
            run_in(&client, move || udp_ask(&addr, "ping")).is_ok_and(|r| r == reply)
        },
    )
}

/// The attachment task of container `id` in the manager's store, if any.
fn attachment_of(manager: &TestDaemon, id: &str) -> Option<serde_json::Value> {
    let tasks = manager.api("GET", "/v1.44/tasks", None).ok()?.json().ok()?;
    tasks.as_array()?.iter().find_map(|t| {
        (t["Spec"]["NetworkAttachmentSpec"]["ContainerID"].as_str() == Some(id)).then(|| t.clone())
    })
}

fn neighbours(host: &TestHost) -> String {
    String::from_utf8_lossy(&host.exec(&["ip", "neigh", "show"]).stdout).into_owned()
}

#[test]
fn containers_join_attachable_overlays_across_hosts() -> anyhow::Result<()> {
    let mut hosts = TestHosts::start_with(BIN, "attach", 3)?;
    hosts.init_swarm_with(1, &["--data-path-port", DATA_PATH_PORT])?;
    let (d0, d1) = (hosts.daemon(0), hosts.daemon(1));
    let (h1, h2) = (hosts.host(1), hosts.host(2));

    // The port is the cluster's, as Docker shows it.
    let swarm = d0.api("GET", "/v1.44/swarm", None)?.json()?;
    assert_eq!(swarm["DataPathPort"], 7789, "{swarm}");
    // (a manager's `docker info`: workers show no cluster section, as in Docker)
    let info = d0.docker(&["info"]).ok()?;
    assert!(
        info.stdout.contains("Data Path Port: 7789"),
        "{}",
        info.stdout
    );

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
    let constraint = format!("node.hostname=={}", h2.name());
    d0.docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        "--network",
        "front",
        "--constraint",
        &constraint,
        BUSYBOX,
        "sh",
        "-c",
        SERVE,
    ])
    .ok()?;

    // A plain container on worker host 1, through shoal's socket.
    let started = Instant::now();
    let probe = d1
        .docker(&[
            "run",
            "-d",
            "--name",
            "probe",
            "--network",
            "front",
            BUSYBOX,
            "sh",
            "-c",
            SERVE,
        ])
        .ok()?
        .stdout
        .trim()
        .to_string();
    println!("docker run --network front took {:?}", started.elapsed());
    let probe_ip = address_on(h1, "probe", "front")?;
    let att = attachment_of(d0, &probe)
        .ok_or_else(|| anyhow::anyhow!("no attachment task for probe ({probe}) in the store"))?;
    assert_eq!(
        att["NetworksAttachments"][0]["Addresses"][0]
            .as_str()
            .and_then(|a| a.split('/').next()),
        Some(probe_ip.as_str()),
        "the container's address is not the one the cluster reserved: {att}"
    );
    assert_eq!(att["Status"]["State"], "running", "{att}");
    println!("probe on host 1 has the cluster's address {probe_ip}");

    let web = wait_for("web's container on host 2", START, || {
        h2.engine_docker(&[
            "ps",
            "--filter",
            "label=com.docker.swarm.service.name=web",
            "--format",
            "{{.Names}}",
        ])
        .ok()
        .ok()?
        .stdout
        .lines()
        .next()
        .map(str::to_string)
    })?;
    let web_ip = address_on(h2, &web, "front")?;

    // Both ways, ICMP, TCP and UDP.
    wait_until("web on host 2 pings probe on host 1", START, || {
        pings(h2, &web, &probe_ip)
    })?;
    wait_until("probe on host 1 pings web on host 2", START, || {
        pings(h1, "probe", &web_ip)
    })?;
    wait_until("web fetches from probe over TCP", START, || {
        fetches(h2, &web, &probe_ip)
    })?;
    wait_until("probe fetches from web over TCP", START, || {
        fetches(h1, "probe", &web_ip)
    })?;
    // Names: the attached container resolves the service, and the task resolves the
    // container by its name (both through the nodes' resolvers).
    wait_until("probe resolves web", START, || {
        runs(h1, "probe", &["busybox", "nslookup", "web"])
    })?;
    wait_until("web resolves probe to its address", START, || {
        h2.engine_docker(&["exec", &web, "busybox", "nslookup", "probe"])
            .stdout
            .contains(&probe_ip)
    })?;
    udp_between((h1, "probe"), (h2, &web), &web_ip, "udp-from-web")?;
    udp_between((h2, &web), (h1, "probe"), &probe_ip, "udp-from-probe")?;

    // The VXLAN devices use the cluster's port on both hosts.
    for h in [h1, h2] {
        let links = String::from_utf8_lossy(
            &h.exec(&["ip", "-d", "link", "show", "type", "vxlan"])
                .stdout,
        )
        .into_owned();
        assert!(
            links.contains(&format!("dstport {DATA_PATH_PORT}")),
            "{}: {links}",
            h.name()
        );
        assert!(!links.contains("dstport 4789"), "{}: {links}", h.name());
    }

    // `docker network connect` gives a running container an address too.
    d1.docker(&["run", "-d", "--name", "late", BUSYBOX, "sleep", "3600"])
        .ok()?;
    d1.docker(&["network", "connect", "front", "late"]).ok()?;
    let late_ip = address_on(h1, "late", "front")?;
    let late = h1
        .engine_docker(&["inspect", "--format", "{{.Id}}", "late"])
        .ok()?
        .stdout
        .trim()
        .to_string();
    assert!(attachment_of(d0, &late).is_some(), "no attachment for late");
    wait_until("web pings late (network connect)", START, || {
        pings(h2, &web, &late_ip)
    })?;

    // `docker network disconnect` releases that attachment at once.
    let third = d1
        .docker(&[
            "run",
            "-d",
            "--name",
            "third",
            "--network",
            "front",
            BUSYBOX,
            "sleep",
            "3600",
        ])
        .ok()?
        .stdout
        .trim()
        .to_string();
    assert!(
        attachment_of(d0, &third).is_some(),
        "no attachment for third"
    );
    d1.docker(&["network", "disconnect", "front", "third"])
        .ok()?;
    wait_until("third's attachment leaves the store", RELEASE, || {
        attachment_of(d0, &third).is_none()
    })?;
    d1.docker(&["rm", "-f", "third"]).ok()?;

    // Not attachable: Docker's refusal, and nothing left behind.
    let refused = d1
        .docker(&["run", "-d", "--network", "back", BUSYBOX, "sleep", "60"])
        .failed()?;
    assert!(
        refused.stderr.contains(
            "Could not attach to network back: rpc error: code = PermissionDenied desc = network back not manually attachable"
        ),
        "{}",
        refused.stderr
    );

    // `docker rm -f` through shoal: the attachment goes, and host 2 forgets the address.
    d1.docker(&["rm", "-f", "probe"]).ok()?;
    let removed = Instant::now();
    wait_until("probe's attachment leaves the store", RELEASE, || {
        attachment_of(d0, &probe).is_none()
    })?;
    wait_until(
        &format!("{probe_ip} leaves host 2's neighbour entries"),
        RELEASE,
        || !neighbours(h2).contains(&format!("{probe_ip} ")),
    )?;
    println!(
        "probe's entries left host 2 {:?} after docker rm",
        removed.elapsed()
    );
    assert!(!pings(h2, &web, &probe_ip), "probe's address still answers");

    // Removed on the engine directly, behind shoal's back: the periodic check releases it.
    h1.engine_docker(&["rm", "-f", "late"]).ok()?;
    let behind = Instant::now();
    wait_until(
        "late's attachment is released by the check",
        RELEASE,
        || attachment_of(d0, &late).is_none(),
    )?;
    println!(
        "late (removed on the engine directly) was released {:?} later",
        behind.elapsed()
    );
    wait_until(
        &format!("{late_ip} leaves host 2's neighbour entries"),
        RELEASE,
        || !neighbours(h2).contains(&format!("{late_ip} ")),
    )?;
    Ok(())
}
