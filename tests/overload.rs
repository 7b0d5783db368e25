//! Services no cluster could run, against a real daemon: a replica count of a billion (or
//! 2^63−1) must not take the manager down, neither while it runs nor when it restarts on a
//! store that holds such a service, and must always be undone by a scale or a removal; a
//! service whose tasks do not fit two hundred to a transaction must still get its tasks
//! without holding up other services; a spec too large to store is refused naming the limit.
//!
//! Tasks are constrained to a node label no node has, so they stay pending and no container
//! is started.

use shoal_testkit::{TestDaemon, get_json, wait_for, wait_until};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
const CONVERGE: Duration = Duration::from_secs(60);
/// The API must answer this fast while a huge scale-up is in progress.
const PROMPT: Duration = Duration::from_secs(3);
/// Resident memory the manager must stay under with a billion-replica service (a few
/// thousand pending tasks exist at most; without pacing the plan alone is 8 GB).
const MAX_RSS_KIB: u64 = 1024 * 1024;
/// A constraint no node meets.
const NOWHERE: &str = "node.labels.shoal-test-nowhere==true";

fn swarm() -> anyhow::Result<TestDaemon> {
    let d = TestDaemon::start(BIN)?;
    d.shoal(&["swarm", "init"]).ok()?;
    Ok(d)
}

/// Resident set of the daemon, in KiB.
fn rss_kib(d: &TestDaemon) -> anyhow::Result<u64> {
    let pid = d
        .pid()
        .ok_or_else(|| anyhow::anyhow!("daemon not running"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// Tasks of service `name` with desired state running, and all of its tasks.
fn task_counts(d: &TestDaemon, name: &str) -> anyhow::Result<(usize, usize)> {
    let filter = format!("%7B%22service%22%3A%5B%22{name}%22%5D%7D");
    let all = get_json(d, &format!("/v1.44/tasks?filters={filter}"))?;
    let all = all.as_array().cloned().unwrap_or_default();
    let runnable = all
        .iter()
        .filter(|t| t["DesiredState"] == "running")
        .count();
    Ok((runnable, all.len()))
}

/// Fails unless the API answers `service ls` within [`PROMPT`] and memory stays bounded.
fn check_responsive(d: &TestDaemon, during: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    d.shoal(&["service", "ls"]).ok()?;
    let took = started.elapsed();
    anyhow::ensure!(
        took < PROMPT,
        "service ls took {took:?} {during}; log:\n{}",
        d.log()
    );
    let rss = rss_kib(d)?;
    anyhow::ensure!(
        rss < MAX_RSS_KIB,
        "the manager uses {rss} KiB {during}, over {MAX_RSS_KIB}"
    );
    Ok(())
}

fn create_pending(
    d: &TestDaemon,
    name: &str,
    replicas: &str,
    extra: &[&str],
) -> anyhow::Result<()> {
    let mut args = vec![
        "service",
        "create",
        "-d",
        "--name",
        name,
        "--replicas",
        replicas,
        "--constraint",
        NOWHERE,
    ];
    args.extend_from_slice(extra);
    args.push("busybox");
    d.shoal(&args).ok()?;
    Ok(())
}

#[test]
fn a_billion_replicas_leave_the_manager_responsive_and_can_be_scaled_back() -> anyhow::Result<()> {
    let d = swarm()?;
    create_pending(&d, "huge", "1000000000", &[])?;
    wait_until("the huge service's first tasks", CONVERGE, || {
        task_counts(&d, "huge").is_ok_and(|(r, _)| r >= 200)
    })
    .map_err(|e| anyhow::anyhow!("{e}; log:\n{}", d.log()))?;
    for _ in 0..5 {
        check_responsive(&d, "while a billion replicas are being created")?;
        std::thread::sleep(Duration::from_millis(500));
    }
    // Another service still gets its tasks.
    create_pending(&d, "small", "2", &[])?;
    wait_until("the small service's 2 tasks", CONVERGE, || {
        task_counts(&d, "small").is_ok_and(|(r, _)| r == 2)
    })?;

    d.shoal(&["service", "scale", "-d", "huge=1"]).ok()?;
    wait_until("the huge service scaled back to 1 task", CONVERGE, || {
        task_counts(&d, "huge").is_ok_and(|(r, _)| r == 1)
    })?;
    check_responsive(&d, "after the scale-down")?;
    d.shoal(&["service", "rm", "huge"]).ok()?;
    Ok(())
}

#[test]
fn a_manager_restarted_on_a_store_with_a_huge_service_serves_the_api() -> anyhow::Result<()> {
    let mut d = swarm()?;
    create_pending(&d, "max", &i64::MAX.to_string(), &[])?;
    wait_until("the 2^63-1 replica service's first tasks", CONVERGE, || {
        task_counts(&d, "max").is_ok_and(|(r, _)| r >= 200)
    })
    .map_err(|e| anyhow::anyhow!("{e}; log:\n{}", d.log()))?;
    d.kill_and_restart()?;
    wait_until(
        "the restarted manager to answer service ls",
        CONVERGE,
        || d.shoal(&["service", "ls"]).code == 0,
    )?;
    check_responsive(&d, "after restarting with a 2^63-1 replica service")?;
    d.shoal(&["service", "rm", "max"]).ok()?;
    wait_until(
        "every task of the removed service to be stopped",
        CONVERGE,
        || task_counts(&d, "max").is_ok_and(|(r, _)| r == 0),
    )?;
    anyhow::ensure!(d.is_running(), "the daemon exited; log:\n{}", d.log());
    Ok(())
}

#[test]
fn a_service_whose_tasks_overflow_a_transaction_gets_them_all_without_blocking_others()
-> anyhow::Result<()> {
    let d = swarm()?;
    // 16 env variables of 1 KiB each: a 16 KiB spec, 300 copies are 5 MB of tasks, over three
    // times what one transaction may hold.
    let env: Vec<String> = (0..16)
        .map(|i| format!("VAR{i}={}", "v".repeat(1016)))
        .collect();
    let mut extra = Vec::new();
    for e in &env {
        extra.push("--env");
        extra.push(e.as_str());
    }
    create_pending(&d, "a-big", "300", &extra)?;
    create_pending(&d, "b-small", "1", &[])?;
    let mut last = (0, 0);
    let r = wait_until(
        "300 tasks of the 16 KiB service and 1 of the small one",
        CONVERGE,
        || {
            let big = task_counts(&d, "a-big").unwrap_or_default();
            let small = task_counts(&d, "b-small").unwrap_or_default();
            last = (big.0, small.0);
            big.0 == 300 && small.0 == 1
        },
    );
    r.map_err(|e| anyhow::anyhow!("{e}; last (big, small): {last:?}; log:\n{}", d.log()))?;
    Ok(())
}

#[test]
fn a_spec_too_large_to_store_is_refused_naming_the_limit() -> anyhow::Result<()> {
    let d = swarm()?;
    let blob = "x".repeat(800 * 1024);
    let body = serde_json::json!({
        "Name": "too-big",
        "Labels": {"blob": blob},
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
    })
    .to_string();
    let resp = d.api("POST", "/v1.44/services/create", Some(&body))?;
    let text = resp.text();
    anyhow::ensure!(resp.status == 400, "status {}: {text}", resp.status);
    anyhow::ensure!(
        text.contains("service spec is too large") && text.contains("the limit is"),
        "{text}"
    );
    let created = wait_for("the service list", PROMPT, || {
        get_json(&d, "/v1.44/services").ok()
    })?;
    anyhow::ensure!(
        created.as_array().is_some_and(|a| a.is_empty()),
        "nothing was created: {created}"
    );
    Ok(())
}
