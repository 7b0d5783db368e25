//! Encrypted overlay benchmark on three test hosts (needs root, like the networking tests):
//! TCP throughput from a task container on host 1 to a task container on host 2, over an
//! encrypted network (`--opt encrypted`, its default MTU) and over a clear one beside it. One
//! stream per run, sender and receiver run by this process inside the two containers' network
//! namespaces; several runs alternate the two networks and every figure is printed.
//!
//! `cargo bench --bench encrypted` (release build of shoal, whose daemon runs the tunnel), or
//! `cargo bench --profile dev --bench encrypted`.

#[path = "../tests/net_support/mod.rs"]
mod net_support;

use net_support::*;
use shoal_testkit::TestHosts;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// How long each run sends.
const RUN: Duration = Duration::from_secs(4);
/// Runs per network.
const RUNS: usize = 4;
/// The receiver's port in the server task.
const PORT: u16 = 9100;

/// One service of one task on host `host` on `network`, sleeping (this process serves).
fn sleeper(hosts: &TestHosts, name: &str, host: usize, network: &str) -> anyhow::Result<()> {
    let constraint = format!("node.hostname=={}", hosts.host(host).name());
    manager(hosts)
        .docker(&[
            "service",
            "create",
            "--detach",
            "--name",
            name,
            "--constraint",
            &constraint,
            "--network",
            network,
            shoal_testkit::image::BUSYBOX,
            "busybox",
            "sleep",
            "3600",
        ])
        .ok()?;
    Ok(())
}

/// Accepts connections in `ns` on `PORT` and reads each to its end, forever (the thread ends
/// with the process).
fn receiver(ns: &std::path::Path) -> anyhow::Result<()> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let _ = spawn_in(ns, move || {
        let listener = TcpListener::bind(("0.0.0.0", PORT))?;
        let _ = ready_tx.send(());
        let mut buf = vec![0u8; 1 << 20];
        for conn in listener.incoming() {
            let mut conn = conn?;
            while conn.read(&mut buf)? > 0 {}
            conn.write_all(b"k")?;
        }
        Ok(())
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| anyhow::anyhow!("the receiver did not start"))
}

/// Sends for [`RUN`] from `ns` to `to`; Gbit/s.
fn send(ns: &std::path::Path, to: SocketAddr) -> anyhow::Result<f64> {
    run_in(ns, move || {
        let mut conn = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
        let buf = vec![0u8; 1 << 20];
        let start = Instant::now();
        let mut sent = 0usize;
        while start.elapsed() < RUN {
            conn.write_all(&buf)?;
            sent += buf.len();
        }
        conn.shutdown(std::net::Shutdown::Write)?;
        let mut ack = [0u8; 1];
        conn.read_exact(&mut ack)?;
        Ok(sent as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9)
    })
}

fn main() -> anyhow::Result<()> {
    let hosts = swarm("bench-enc")?;
    let d = manager(&hosts);
    d.docker(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--opt",
        "encrypted",
        "vault",
    ])
    .ok()?;
    d.docker(&["network", "create", "-d", "overlay", "plain"])
        .ok()?;
    for net in ["vault", "plain"] {
        sleeper(&hosts, &format!("{net}-client"), 1, net)?;
        sleeper(&hosts, &format!("{net}-server"), 2, net)?;
    }
    let mut figures: Vec<(String, Vec<f64>)> = Vec::new();
    let mut targets = Vec::new();
    for (net, label) in [
        ("vault", "encrypted network (default MTU 64000)"),
        ("plain", "clear network (MTU 1450)"),
    ] {
        let client = wait_running(&hosts, &format!("{net}-client"), 1)?.remove(0);
        let server = wait_running(&hosts, &format!("{net}-server"), 1)?.remove(0);
        let addr = container_addr(&hosts, &server, net)?;
        receiver(&server.netns)?;
        let to = SocketAddr::from((addr, PORT));
        // The first connection also waits for the tunnel's handshake.
        shoal_testkit::wait_until(
            &format!("a connection to {to} over {net}"),
            CONVERGE,
            || {
                run_in(&client.netns, move || {
                    Ok(TcpStream::connect_timeout(&to, Duration::from_secs(2))
                        .and_then(|mut c| {
                            c.shutdown(std::net::Shutdown::Write)?;
                            let mut ack = [0u8; 1];
                            c.read_exact(&mut ack)
                        })
                        .is_ok())
                })
                .unwrap_or(false)
            },
        )?;
        targets.push((label.to_string(), client.netns.clone(), to));
        figures.push((label.to_string(), Vec::new()));
    }
    for _ in 0..RUNS {
        for (i, (_, ns, to)) in targets.iter().enumerate() {
            let gbits = send(ns, *to)?;
            figures[i].1.push(gbits);
        }
    }
    println!(
        "\nTCP throughput, task container on host 1 → task container on host 2, one stream, {RUN:?} per run:"
    );
    println!("| network | runs (Gbit/s) | median |");
    println!("|---|---|---|");
    for (label, runs) in &mut figures {
        let shown: Vec<String> = runs.iter().map(|g| format!("{g:.2}")).collect();
        runs.sort_by(f64::total_cmp);
        let median = (runs[(runs.len() - 1) / 2] + runs[runs.len() / 2]) / 2.0;
        println!("| {label} | {} | {median:.2} |", shown.join(", "));
    }
    Ok(())
}
