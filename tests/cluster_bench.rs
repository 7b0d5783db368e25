//! Cluster benchmarks (issue 4), run on demand:
//! `cargo test --release --test cluster_bench -- --ignored --nocapture`.
//! They print figures; they do not assert on them.

use shoal_testkit::image::ensure_busybox;
use shoal_testkit::{TestCluster, wait_until};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
const LONG: Duration = Duration::from_secs(60);

fn summary(what: &str, mut v: Vec<Duration>) {
    v.sort();
    let median = v[v.len() / 2];
    let max = v[v.len() - 1];
    eprintln!(
        "{what}: {} trials, median {median:?}, max {max:?}, all {v:?}",
        v.len()
    );
}

/// One service create through the raw API; true when it was accepted.
fn write(c: &TestCluster, via: usize, name: &str) -> bool {
    let body = format!(
        r#"{{"Name":"{name}","TaskTemplate":{{"ContainerSpec":{{"Image":"shoal-test/busybox:latest"}}}},"Mode":{{"Replicated":{{"Replicas":0}}}}}}"#
    );
    c.nodes[via]
        .api("POST", "/v1.44/services/create", Some(&body))
        .is_ok_and(|r| r.status == 201)
}

#[test]
#[ignore]
fn bench_leader_failover() -> anyhow::Result<()> {
    let mut c = TestCluster::start(BIN, 3, 0, &[])?;
    let mut times = Vec::new();
    for trial in 0..10 {
        let leader = c.wait_leader(LONG)?;
        let survivor = (leader + 1) % 3;
        c.kill(leader)?;
        let start = Instant::now();
        let name = format!("failover{trial}");
        wait_until("a write on a survivor", LONG, || write(&c, survivor, &name))?;
        times.push(start.elapsed());
        c.restart(leader)?;
        c.wait_managers_reachable(3)?;
    }
    summary(
        "leader failover (SIGKILL leader -> first write on a survivor)",
        times,
    );
    Ok(())
}

#[test]
#[ignore]
fn bench_worker_loss() -> anyhow::Result<()> {
    ensure_busybox()?;
    let mut c = TestCluster::start(BIN, 1, 2, &["--dispatcher-heartbeat", "1s"])?;
    c.manager(0)
        .shoal(&[
            "service",
            "create",
            "-d",
            "--name",
            "w",
            "--replicas",
            "4",
            "--constraint",
            "node.role==worker",
            "shoal-test/busybox:latest",
            "sleep",
            "3600",
        ])
        .ok()?;
    let mut times = Vec::new();
    for _ in 0..5 {
        wait_until("4 running tasks", LONG, || {
            c.running_task_nodes(0, "w").is_ok_and(|v| v.len() == 4)
        })?;
        let on = c.running_task_nodes(0, "w")?;
        let victim = if on.iter().filter(|n| **n == c.node_ids[1]).count() >= 2 {
            1
        } else {
            2
        };
        let lost = c.node_ids[victim].clone();
        c.kill(victim)?;
        let start = Instant::now();
        wait_until("4 running tasks off the lost worker", LONG, || {
            c.running_task_nodes(0, "w")
                .is_ok_and(|v| v.len() == 4 && !v.contains(&lost))
        })?;
        times.push(start.elapsed());
        c.restart(victim)?;
        c.wait_all_ready()?;
    }
    summary("worker loss -> full strength (heartbeat 1s)", times);
    Ok(())
}
