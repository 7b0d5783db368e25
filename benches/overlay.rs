//! Overlay benchmark between two of three test hosts (needs root, like the networking tests), in one run,
//! printing one table: TCP throughput (one stream) and round-trip latency (1-byte
//! ping-pong on one connection) between
//!
//! - the two hosts' LAN addresses directly;
//! - a bare VXLAN link built by hand between the same two hosts (host to host, no bridge,
//!   no containers: the reference the overlay is measured against);
//! - two task containers on a shoal overlay network, one on each host;
//! - two task containers on an encrypted overlay (`--opt encrypted`), when this build
//!   supports it (otherwise the row says why it was skipped);
//!
//! with the overlay's ratio to the bare VXLAN link and the RTT it adds. The sender and the
//! receiver are threads of this process moved into the containers' (or hosts') network
//! namespaces, so the figures are the kernel path's, not a tool's.
//!
//! `cargo bench --bench overlay` (release build), or `cargo bench --profile dev --bench overlay`.

#[path = "../tests/net_support/mod.rs"]
mod net_support;

use net_support::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long each throughput phase sends.
const PHASE: Duration = Duration::from_secs(4);
/// Round trips per latency measurement.
const ROUND_TRIPS: usize = 20_000;
/// The receiver's port.
const PORT: u16 = 5201;
/// The hand-built VXLAN link: id, subnet, MTU (the overlay's default).
const BARE_VNI: u32 = 77;
const BARE_NET: [u8; 3] = [10, 251, 0];
const BARE_MTU: &str = "1450";

/// One measured path: the two network namespaces and the receiver's address.
struct Path2 {
    what: String,
    from: PathBuf,
    to: PathBuf,
    addr: Ipv4Addr,
}

/// What one path measured.
struct Figures {
    gbit: f64,
    rtt_p50: Duration,
    rtt_p99: Duration,
}

fn main() -> anyhow::Result<()> {
    let hosts = swarm("bench-ovl")?;
    let d = manager(&hosts);
    let mut paths = Vec::new();
    let mut rows: Vec<String> = Vec::new();

    paths.push(Path2 {
        what: "LAN, host to host".into(),
        from: host_ns(&hosts, 0),
        to: host_ns(&hosts, 1),
        addr: hosts.host(1).addr().parse()?,
    });

    let bare = BareVxlan::build(&hosts)?;
    paths.push(Path2 {
        what: "bare VXLAN by hand, host to host".into(),
        from: host_ns(&hosts, 0),
        to: host_ns(&hosts, 1),
        addr: bare.addr(1),
    });

    d.docker(&["network", "create", "-d", "overlay", "plain"])
        .ok()?;
    paths.push(containers(
        &hosts,
        "plain",
        "overlay, container to container",
    )?);

    let encrypted = d.docker(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--opt",
        "encrypted",
        "sealed",
    ]);
    match encrypted.ok() {
        Ok(_) => match containers(
            &hosts,
            "sealed",
            "encrypted overlay, container to container",
        ) {
            Ok(p) => paths.push(p),
            Err(e) => rows.push(format!("encrypted overlay: skipped ({e:#})")),
        },
        Err(e) => rows.push(format!("encrypted overlay: skipped ({e:#})")),
    }

    let mut figures = Vec::new();
    for p in &paths {
        let f = measure(p)?;
        rows.push(format!(
            "{:<44} {:>7.2} Gbit/s   RTT p50 {:>6.1} µs  p99 {:>6.1} µs",
            p.what,
            f.gbit,
            micros(f.rtt_p50),
            micros(f.rtt_p99)
        ));
        figures.push(f);
    }
    drop(bare);

    // Ratios against the bare VXLAN link (paths[1]).
    let reference = &figures[1];
    for (p, f) in paths.iter().zip(&figures).skip(2) {
        rows.push(format!(
            "{:<44} {:>6.0} % of bare VXLAN throughput, RTT p50 {:+.1} µs",
            p.what,
            100.0 * f.gbit / reference.gbit,
            micros(f.rtt_p50) - micros(reference.rtt_p50)
        ));
    }
    rows.push(format!(
        "{:<44} {:>6.0} % of the LAN's throughput",
        "bare VXLAN by hand",
        100.0 * reference.gbit / figures[0].gbit
    ));

    println!(
        "\noverlay benchmark (2 test hosts, one TCP stream for {PHASE:?}, {ROUND_TRIPS} round trips)"
    );
    for r in rows {
        println!("{r}");
    }
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A task on host 0 and one on host 1, both on `network`: the path between them.
fn containers(
    hosts: &shoal_testkit::TestHosts,
    network: &str,
    what: &str,
) -> anyhow::Result<Path2> {
    let from = create_client(hosts, &format!("{network}-a"), 0, &["--network", network])?;
    let to = create_client(hosts, &format!("{network}-b"), 1, &["--network", network])?;
    let addr = container_addr(hosts, &to, network)?;
    Ok(Path2 {
        what: what.into(),
        from: from.netns,
        to: to.netns,
        addr,
    })
}

/// Throughput, then round trips, over `p`.
fn measure(p: &Path2) -> anyhow::Result<Figures> {
    let gbit = throughput(&p.from, &p.to, p.addr)?;
    let mut rtt = round_trips(&p.from, &p.to, p.addr)?;
    rtt.sort();
    Ok(Figures {
        gbit,
        rtt_p50: rtt[rtt.len() / 2],
        rtt_p99: rtt[rtt.len() * 99 / 100],
    })
}

/// A listener on `addr:PORT` inside `ns`, bound before this returns.
fn listen_in(ns: &Path, addr: Ipv4Addr) -> anyhow::Result<TcpListener> {
    let sa = SocketAddr::from((addr, PORT));
    run_in(ns, move || {
        // the address may still be settling (a container just started): retry briefly
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpListener::bind(sa) {
                Ok(l) => return Ok(l),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => return Err(anyhow::anyhow!("listen on {sa}: {e}")),
            }
        }
    })
}

/// One stream from `from` to `addr` in `to` for [`PHASE`]: Gbit/s received.
fn throughput(from: &Path, to: &Path, addr: Ipv4Addr) -> anyhow::Result<f64> {
    let listener = listen_in(to, addr)?;
    let receiver = std::thread::spawn(move || -> anyhow::Result<(usize, Duration)> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0usize;
        let t = Instant::now();
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok((total, t.elapsed()));
            }
            total += n;
        }
    });
    let target = SocketAddr::from((addr, PORT));
    run_in(from, move || {
        let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
        let buf = vec![0x5au8; 256 << 10];
        let t = Instant::now();
        while t.elapsed() < PHASE {
            s.write_all(&buf)?;
        }
        Ok(())
    })?;
    let (bytes, took) = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("the receiver panicked"))??;
    Ok(bytes as f64 * 8.0 / took.as_secs_f64() / 1e9)
}

/// [`ROUND_TRIPS`] one-byte ping-pongs on one connection: each round trip's time.
fn round_trips(from: &Path, to: &Path, addr: Ipv4Addr) -> anyhow::Result<Vec<Duration>> {
    let listener = listen_in(to, addr)?;
    let echo = std::thread::spawn(move || -> anyhow::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut b = [0u8; 1];
        loop {
            if s.read(&mut b)? == 0 {
                return Ok(());
            }
            s.write_all(&b)?;
        }
    });
    let target = SocketAddr::from((addr, PORT));
    let lat = run_in(from, move || {
        let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
        s.set_nodelay(true)?;
        let mut lat = Vec::with_capacity(ROUND_TRIPS);
        let mut b = [1u8; 1];
        for _ in 0..ROUND_TRIPS {
            let t = Instant::now();
            s.write_all(&b)?;
            s.read_exact(&mut b)?;
            lat.push(t.elapsed());
        }
        Ok(lat)
    })?;
    echo.join()
        .map_err(|_| anyhow::anyhow!("the echo thread panicked"))??;
    Ok(lat)
}

/// A VXLAN device `shbench` on hosts 0 and 1, each pointing at the other, removed on drop.
struct BareVxlan<'a> {
    hosts: &'a shoal_testkit::TestHosts,
}

impl<'a> BareVxlan<'a> {
    const DEV: &'static str = "shbench";

    fn build(hosts: &'a shoal_testkit::TestHosts) -> anyhow::Result<Self> {
        let bare = BareVxlan { hosts };
        for (me, peer) in [(0usize, 1usize), (1, 0)] {
            let (local, remote) = (hosts.host(me).addr(), hosts.host(peer).addr());
            let vni = BARE_VNI.to_string();
            let cidr = format!("{}/24", bare.addr(me));
            for cmd in [
                vec![
                    "ip",
                    "link",
                    "add",
                    Self::DEV,
                    "type",
                    "vxlan",
                    "id",
                    &vni,
                    "local",
                    &local,
                    "remote",
                    &remote,
                    "dstport",
                    "4789",
                ],
                vec!["ip", "link", "set", Self::DEV, "mtu", BARE_MTU, "up"],
                vec!["ip", "addr", "add", &cidr, "dev", Self::DEV],
            ] {
                let out = hosts.host(me).exec(&cmd);
                anyhow::ensure!(
                    out.status.success(),
                    "{} on host {me}: {}",
                    cmd.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(bare)
    }

    /// Host `i`'s address on the link.
    fn addr(&self, i: usize) -> Ipv4Addr {
        let [a, b, c] = BARE_NET;
        Ipv4Addr::new(a, b, c, i as u8 + 1)
    }
}

impl Drop for BareVxlan<'_> {
    fn drop(&mut self) {
        for i in 0..2 {
            let _ = self.hosts.host(i).exec(&["ip", "link", "del", Self::DEV]);
        }
    }
}
