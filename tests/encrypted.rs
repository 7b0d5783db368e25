//! Encrypted overlay networks (`network create -d overlay --opt encrypted`) across real
//! separate hosts (test hosts: own network namespace, own engine, own shoal daemon each, on one
//! LAN): a payload between services on different hosts crosses the LAN only as WireGuard
//! ciphertext (a capture on the LAN bridge finds no canary, while the same transfer on a clear
//! network shows it, so the search can fail); the VXLAN device of an encrypted network runs
//! between tunnel addresses; a node's key is made anew when its daemon restarts and traffic
//! flows again with the new key; a node removed from the swarm loses its peer on the others.

mod net_support;

use net_support::{TASK_START, address_on, container_of, service};
use shoal_testkit::{TestHost, TestHosts, contains_bytes, wait_for, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
/// Tasks start on a loaded CI machine within this.
/// What the servers send and the LAN capture looks for.
const CANARY: &str = "SHOAL-CANARY-7f3a9c";

/// What `client` on `host` fetches from `http://ip:8080/c.txt`, or `None` when it fails.
fn fetch(host: &TestHost, client: &str, ip: &str) -> Option<String> {
    let url = format!("http://{ip}:8080/c.txt");
    // `timeout` rather than wget's own -T, which crashes this busybox build.
    let out = host.engine_docker(&[
        "exec", client, "busybox", "timeout", "10", "busybox", "wget", "-q", "-O", "-", &url,
    ]);
    (out.code == 0).then_some(out.stdout)
}

/// The node id of the host named `name`, from the manager.
fn node_id(hosts: &TestHosts, name: &str) -> anyhow::Result<String> {
    let out = hosts
        .daemon(0)
        .docker(&["node", "inspect", "--format", "{{.ID}}", name])
        .ok()?;
    Ok(out.stdout.trim().to_string())
}

/// The tunnel key the store holds for node `id` (empty when none).
fn stored_key(hosts: &TestHosts, id: &str) -> anyhow::Result<String> {
    let r = hosts.daemon(0).api("GET", &format!("/nodes/{id}"), None)?;
    anyhow::ensure!(r.status == 200, "GET /nodes/{id}: {}", r.status);
    let node: serde_json::Value = serde_json::from_slice(&r.body)?;
    Ok(node["TunnelKey"].as_str().unwrap_or_default().to_string())
}

/// The peers host `host`'s tunnel has, as its daemon last logged them.
fn logged_peers(host: &TestHost) -> Option<String> {
    host.daemon()
        .log()
        .lines()
        .rev()
        .find(|l| l.contains("encrypted overlay: tunnel peers changed"))
        .map(str::to_string)
}

#[test]
fn encrypted_networks_hide_payloads_from_the_lan_rotate_keys_and_drop_removed_nodes()
-> anyhow::Result<()> {
    let mut hosts = TestHosts::start_with(BIN, "enc", 3)?;
    hosts.init_swarm(1)?;
    let d0 = hosts.daemon(0);
    d0.docker(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--opt",
        "encrypted",
        "vault",
    ])
    .ok()?;
    d0.docker(&["network", "create", "-d", "overlay", "plain"])
        .ok()?;

    // ~60 KB of lines carrying the canary, served on port 8080.
    let serve = format!(
        "i=0; while [ $i -lt 2000 ]; do echo \"{CANARY} line $i\"; i=$((i+1)); done > /tmp/c.txt \
         && exec busybox httpd -f -p 8080 -h /tmp"
    );
    let httpd = ["busybox", "sh", "-c", serve.as_str()];
    let sleep = ["busybox", "sleep", "3600"];
    service(&hosts, "secret", hosts.host(2), &["vault"], &httpd)?;
    service(&hosts, "open", hosts.host(2), &["plain"], &httpd)?;
    service(&hosts, "client", hosts.host(1), &["vault", "plain"], &sleep)?;

    let (h1, h2) = (hosts.host(1), hosts.host(2));
    let secret = container_of(h2, "secret")?;
    let open = container_of(h2, "open")?;
    let client = container_of(h1, "client")?;
    let secret_ip = address_on(h2, &secret, "vault")?;
    let open_ip = address_on(h2, &open, "plain")?;
    println!("secret {secret_ip} (vault, encrypted) and open {open_ip} (plain) on host 2");

    // The encrypted network works: the client on host 1 gets the file from host 2.
    wait_until("client fetches from secret over vault", TASK_START, || {
        fetch(h1, &client, &secret_ip).is_some_and(|b| b.contains(CANARY))
    })?;

    // On the LAN: only ciphertext.
    let capture = hosts.capture_lan("udp")?;
    let body = fetch(h1, &client, &secret_ip).unwrap_or_default();
    let pcap = capture.stop()?;
    assert!(
        body.lines().count() >= 2000,
        "the encrypted fetch returned {} lines",
        body.lines().count()
    );
    // The canary is every ~30 bytes of the body: any part of it captured in clear would show
    // it, so the capture need not hold every frame (a burst of fragments may lose a few to the
    // capture socket), only most of the transfer.
    assert!(
        pcap.len() > body.len() / 2,
        "the capture ({} bytes) did not see the transfer ({} bytes)",
        pcap.len(),
        body.len()
    );
    assert!(
        !contains_bytes(&pcap, CANARY.as_bytes()),
        "the canary crossed the LAN in clear text on the encrypted network"
    );

    // The same on the clear network: the canary is visible (the search can fail).
    wait_until("client fetches from open over plain", TASK_START, || {
        fetch(h1, &client, &open_ip).is_some()
    })?;
    let capture = hosts.capture_lan("udp")?;
    let body = fetch(h1, &client, &open_ip).unwrap_or_default();
    let pcap = capture.stop()?;
    assert!(body.contains(CANARY));
    assert!(
        contains_bytes(&pcap, CANARY.as_bytes()),
        "the canary was not seen on the LAN for the clear network: the capture cannot tell"
    );

    // What the nodes built, as an operator sees it.
    let show =
        |h: &TestHost, cmd: &[&str]| String::from_utf8_lossy(&h.exec(cmd).stdout).into_owned();
    let links = show(h1, &["ip", "-d", "link", "show"]);
    assert!(links.contains("shwg0"), "{links}");
    assert!(links.contains("local fd5e:a1::"), "{links}");
    let routes = show(h1, &["ip", "-6", "route", "show", "dev", "shwg0"]);
    assert!(routes.contains("fd5e:a1::/96"), "{routes}");
    let h2_tunnel = tunnel_addr(&h2.addr());
    let fdb = show(h1, &["bridge", "fdb", "show"]);
    assert!(
        fdb.contains(&format!("dst {h2_tunnel}")),
        "no forwarding entry to host 2's tunnel address {h2_tunnel}: {fdb}"
    );

    // Key rotation: restarting host 2's daemon makes and publishes a new key; traffic flows
    // again with it.
    let h2_id = node_id(&hosts, &h2.name())?;
    let old_key = stored_key(&hosts, &h2_id)?;
    assert!(!old_key.is_empty(), "host 2 published no tunnel key");
    hosts.host_mut(2).restart_shoal()?;
    let new_key = wait_for("host 2's new key in the store", TASK_START, || {
        stored_key(&hosts, &h2_id)
            .ok()
            .filter(|k| !k.is_empty() && *k != old_key)
    })?;
    println!("host 2's key rotated: {old_key} -> {new_key}");
    let (h1, h2) = (hosts.host(1), hosts.host(2));
    let secret_now = container_of(h2, "secret")?;
    let secret_ip = address_on(h2, &secret_now, "vault")?;
    wait_until(
        "client fetches from secret after host 2's key rotated",
        TASK_START,
        || fetch(h1, &client, &secret_ip).is_some_and(|b| b.contains(CANARY)),
    )?;

    // A node removed from the swarm loses its peer on the others at once.
    assert!(
        logged_peers(h1).is_some_and(|l| l.contains(&h2_id)),
        "host 1's tunnel never had host 2 as a peer: {:?}",
        logged_peers(h1)
    );
    h2.daemon().docker(&["swarm", "leave"]).ok()?;
    hosts
        .daemon(0)
        .docker(&["node", "rm", "--force", &h2_id])
        .ok()?;
    let h1 = hosts.host(1);
    wait_until("host 1's tunnel drops host 2's peer", TASK_START, || {
        logged_peers(h1).is_some_and(|l| !l.contains(&h2_id))
    })?;
    wait_until(
        "host 1's forwarding entries to host 2's tunnel address are gone",
        TASK_START,
        || !show(h1, &["bridge", "fdb", "show"]).contains(&format!("dst {h2_tunnel}")),
    )?;
    Ok(())
}

/// The tunnel address of a host's LAN address: `fd5e:a1::` and the IPv4 address's 32 bits.
fn tunnel_addr(lan: &str) -> String {
    let ip: std::net::Ipv4Addr = lan.parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
    let [a, b, c, d] = ip.octets();
    let segments = [
        0xfd5e,
        0xa1,
        0,
        0,
        0,
        0,
        u16::from_be_bytes([a, b]),
        u16::from_be_bytes([c, d]),
    ];
    std::net::Ipv6Addr::from(segments).to_string()
}
