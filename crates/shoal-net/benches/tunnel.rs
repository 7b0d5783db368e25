//! Benchmark of the encrypted overlay's userspace WireGuard tunnel: TCP throughput between
//! two network namespaces on a veth LAN, over VXLAN through the tunnel (at the default overlay
//! MTU and at larger ones), over clear VXLAN and over the LAN directly, in one run. Needs
//! root. Run with `cargo bench -p shoal-net --bench tunnel` (`SHOAL_BENCH_SECS` sets each
//! measurement's length, 3 s by default).

use shoal_net::tunnel::lab::{Lab, overlay_addr, tcp_throughput};

fn main() {
    if let Err(e) = run() {
        eprintln!("bench tunnel: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let secs: f64 = std::env::var("SHOAL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let mut lab = Lab::new(&format!("shwgb{}", std::process::id() % 100_000))?;
    lab.start_tunnels()?;
    lab.overlay(51, 1450, true)?;
    lab.overlay(52, 8950, true)?;
    lab.overlay(53, 1450, false)?;
    lab.overlay(54, 64000, true)?;
    let cases = [
        ("LAN (veth, no overlay)", lab.b.lan, 6000),
        ("clear VXLAN, MTU 1450", overlay_addr(53, 2), 6003),
        ("encrypted overlay, MTU 1450", overlay_addr(51, 2), 6001),
        ("encrypted overlay, MTU 8950", overlay_addr(52, 2), 6002),
        ("encrypted overlay, MTU 64000", overlay_addr(54, 2), 6004),
    ];
    // warm up: handshakes, ARP
    for (_, to, port) in &cases {
        tcp_throughput(&lab.a, &lab.b, *to, port + 100, 0.2)?;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_string();
    println!(
        "TCP throughput between two namespaces, {secs} s each (load average {load} on {} cores):",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut lan = 0.0;
    for (name, to, port) in cases {
        let gbps = tcp_throughput(&lab.a, &lab.b, to, port, secs)?;
        if lan == 0.0 {
            lan = gbps;
        }
        println!(
            "  {name:<30} {gbps:>6.2} Gbit/s  ({:.0} % of the LAN)",
            gbps / lan * 100.0
        );
    }
    Ok(())
}
