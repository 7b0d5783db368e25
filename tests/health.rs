//! Issue 5: healthchecks of real containers — a task is RUNNING only once healthy, an
//! unhealthy one is failed and replaced, and an update waits for health.

mod update_support;

use shoal_testkit::{wait_for, wait_until};
use std::process::Command;
use update_support::{CONVERGE, Swarm, V1, V2};

fn state_of(t: &serde_json::Value) -> &str {
    t["Status"]["State"].as_str().unwrap_or_default()
}

#[test]
fn a_task_stays_starting_until_its_healthcheck_passes() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "slow",
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "10",
        "--stop-signal",
        "KILL",
        "-d",
        V1,
        "sh",
        "-c",
        "sleep 4; touch /tmp/ok; sleep 3600",
    ])
    .ok()?;
    wait_until("the container runs", CONVERGE, || {
        s.containers("slow").len() == 1
    })?;
    let tasks = s.tasks("slow")?;
    assert_eq!(
        state_of(&tasks[0]),
        "starting",
        "running but not yet healthy: {tasks:?}"
    );
    let ps = Command::new("docker")
        .args(["ps", "--format", "{{.Status}}", "--filter"])
        .arg(format!("id={}", s.containers("slow")[0].0))
        .output()?;
    assert!(
        String::from_utf8_lossy(&ps.stdout).contains("health: starting"),
        "the engine runs the healthcheck"
    );
    let out = s.d.shoal(&["service", "ps", "slow"]).ok()?;
    assert!(out.stdout.contains("Starting"), "{}", out.stdout);
    wait_until("the task to run once healthy", CONVERGE, || {
        s.tasks("slow")
            .is_ok_and(|t| t.len() == 1 && state_of(&t[0]) == "running")
    })?;
    let out = s.d.shoal(&["service", "ps", "slow"]).ok()?;
    assert!(out.stdout.contains("Running"), "{}", out.stdout);
    Ok(())
}

#[test]
fn a_task_whose_healthcheck_starts_failing_is_failed_and_replaced() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "sick",
        "--health-cmd",
        "test ! -e /tmp/bad",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "--restart-delay",
        "1s",
        "--stop-signal",
        "KILL",
        "-d",
        V1,
        "sh",
        "-c",
        "sleep 3; touch /tmp/bad; sleep 3600",
    ])
    .ok()?;
    let first = wait_for("the first task to run healthy", CONVERGE, || {
        let t = s.tasks("sick").ok()?;
        t.iter()
            .find(|t| state_of(t) == "running")
            .and_then(|t| t["ID"].as_str().map(str::to_string))
    })?;
    wait_for(
        "the task to fail as unhealthy and be replaced",
        CONVERGE,
        || {
            let tasks = s.tasks("sick").ok()?;
            let failed = tasks.iter().any(|t| {
                t["ID"] == first.as_str()
                    && state_of(t) == "failed"
                    && t["Status"]["Err"] == "task: unhealthy container"
            });
            let replaced = tasks
                .iter()
                .any(|t| t["ID"] != first.as_str() && t["DesiredState"] == "running");
            (failed && replaced).then_some(())
        },
    )?;
    let out = s.d.shoal(&["service", "ps", "--no-trunc", "sick"]).ok()?;
    assert!(
        out.stdout.contains("task: unhealthy container"),
        "service ps shows why: {}",
        out.stdout
    );
    Ok(())
}

#[test]
fn an_update_whose_healthcheck_never_passes_stops_at_the_first_batch() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "never",
        "--replicas",
        "3",
        "--stop-signal",
        "KILL",
        "--restart-delay",
        "1s",
        "-d",
        V1,
        "sleep",
        "3600",
    ])
    .ok()?;
    s.wait_all_on("never", 3, V1)?;
    // The real docker CLI, detached; its flags build ContainerSpec.Healthcheck.
    s.d.docker(&[
        "service",
        "update",
        "-d",
        "--no-resolve-image",
        "--image",
        V2,
        "--health-cmd",
        "false",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "never",
    ])
    .ok()?;
    let (_, message) = s.wait_status("never", "paused")?;
    assert!(
        message.starts_with("update paused due to failure or early termination of task "),
        "{message}"
    );
    let v1 = s
        .containers("never")
        .iter()
        .filter(|(_, i)| i == V1)
        .count();
    assert_eq!(v1, 2, "only the first slot was touched");
    let new_slots: std::collections::BTreeSet<i64> = s
        .tasks("never")?
        .iter()
        .filter(|t| {
            t["Spec"]["ContainerSpec"]["Image"]
                .as_str()
                .is_some_and(|i| i.starts_with(V2))
        })
        .filter_map(|t| t["Slot"].as_i64())
        .collect();
    assert_eq!(
        new_slots.len(),
        1,
        "v2 tasks only in one slot: {new_slots:?}"
    );
    Ok(())
}
