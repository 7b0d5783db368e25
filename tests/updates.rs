//! Issue 5: rolling updates and rollbacks of real containers through real `shoal daemon`
//! processes, the shoal CLI and the docker CLI.

mod update_support;

use shoal_types::time::parse_rfc3339;
use std::time::Duration;
use update_support::{Swarm, V1, V2};

/// Creates `name` with `replicas` tasks of [`V1`] that stop at once (SIGKILL) and waits for
/// them.
fn create_v1(s: &Swarm, name: &str, replicas: &str, extra: &[&str]) -> anyhow::Result<()> {
    let mut args = vec![
        "service",
        "create",
        "--name",
        name,
        "--replicas",
        replicas,
        "--stop-signal",
        "KILL",
        "--restart-delay",
        "1s",
        "-d",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[V1, "sleep", "3600"]);
    s.d.shoal(&args).ok()?;
    s.wait_all_on(name, replicas.parse()?, V1)
}

/// Creation times of the tasks of `service` made from image `image`, sorted.
fn created_on(s: &Swarm, service: &str, image: &str) -> anyhow::Result<Vec<std::time::SystemTime>> {
    let mut times: Vec<_> = s
        .tasks(service)?
        .iter()
        .filter(|t| {
            t["Spec"]["ContainerSpec"]["Image"]
                .as_str()
                .is_some_and(|i| i.starts_with(image))
        })
        .filter_map(|t| t["CreatedAt"].as_str().and_then(parse_rfc3339))
        .collect();
    times.sort();
    Ok(times)
}

#[test]
fn stop_first_updates_two_slots_per_batch_at_least_the_delay_apart() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    create_v1(&s, "roll", "4", &[])?;
    let sampler = s.sample_running("roll");
    s.d.shoal(&[
        "service",
        "update",
        "-d",
        "--image",
        V2,
        "--update-parallelism",
        "2",
        "--update-delay",
        "2s",
        "roll",
    ])
    .ok()?;
    let (_, message) = s.wait_status("roll", "completed")?;
    let min = sampler.finish();
    assert_eq!(message, "update completed");
    s.wait_all_on("roll", 4, V2)?;
    assert!(
        min >= 2,
        "stop-first with parallelism 2 kept {min} of 4 running"
    );
    let created = created_on(&s, "roll", V2)?;
    assert_eq!(created.len(), 4, "one new task per slot: {created:?}");
    let gap = |a: usize, b: usize| created[b].duration_since(created[a]).unwrap_or_default();
    assert!(
        gap(0, 1) < Duration::from_secs(1),
        "the first batch together"
    );
    assert!(
        gap(2, 3) < Duration::from_secs(1),
        "the second batch together"
    );
    assert!(
        gap(1, 2) >= Duration::from_secs(2),
        "batches {:?} apart, less than the 2 s delay",
        gap(1, 2)
    );
    Ok(())
}

#[test]
fn start_first_never_runs_fewer_tasks_than_replicas() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    create_v1(&s, "early", "4", &[])?;
    let sampler = s.sample_running("early");
    // Not detached: the CLI's progress waits for the update to converge.
    let out =
        s.d.shoal(&[
            "service",
            "update",
            "--image",
            V2,
            "--update-parallelism",
            "2",
            "--update-delay",
            "2s",
            "--update-order",
            "start-first",
            "--update-monitor",
            "1s",
            "early",
        ])
        .ok()?;
    assert!(out.stdout.starts_with("early"), "{}", out.stdout);
    s.wait_status("early", "completed")?;
    let min = sampler.finish();
    s.wait_all_on("early", 4, V2)?;
    assert!(min >= 4, "start-first let the count drop to {min}");
    Ok(())
}

#[test]
fn a_failing_update_with_failure_action_rollback_returns_to_v1_by_itself() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    create_v1(&s, "back", "4", &["--rollback-monitor", "1s"])?;
    // Not detached: the CLI's progress follows the update into its rollback.
    let out =
        s.d.shoal(&[
            "service",
            "update",
            "--image",
            V2,
            "--args",
            "false",
            "--update-failure-action",
            "rollback",
            "--update-monitor",
            "1s",
            "back",
        ])
        .ok()?;
    assert!(
        out.stdout
            .contains("rollback: update rolled back due to failure or early termination of task "),
        "{}",
        out.stdout
    );
    let (_, message) = s.wait_status("back", "rollback_completed")?;
    assert_eq!(message, "rollback completed");
    let svc = s.service("back")?;
    let image = svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].as_str();
    assert!(image.is_some_and(|i| i.starts_with(V1)), "{image:?}");
    assert!(
        svc["PreviousSpec"].is_null(),
        "an automatic rollback forgets v2"
    );
    s.wait_all_on("back", 4, V1)?;
    Ok(())
}

#[test]
fn a_failing_update_with_failure_action_pause_stops_with_dockers_message() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    create_v1(&s, "halt", "4", &[])?;
    s.d.shoal(&[
        "service",
        "update",
        "-d",
        "--image",
        V2,
        "--args",
        "false",
        "--update-failure-action",
        "pause",
        "--update-delay",
        "20s",
        "halt",
    ])
    .ok()?;
    let (_, message) = s.wait_status("halt", "paused")?;
    let prefix = "update paused due to failure or early termination of task ";
    assert!(message.starts_with(prefix), "{message}");
    let failed = &message[prefix.len()..];
    let tasks = s.tasks("halt")?;
    assert!(
        tasks.iter().any(|t| t["ID"] == failed),
        "the message names a task of the service: {message}"
    );
    std::thread::sleep(Duration::from_secs(3));
    let v1 = s.containers("halt").iter().filter(|(_, i)| i == V1).count();
    assert_eq!(v1, 3, "the slots not yet updated keep running v1");
    assert_eq!(
        s.update_status("halt").0,
        "paused",
        "and the update stays paused"
    );
    Ok(())
}

#[test]
fn service_rollback_restores_the_previous_spec_and_a_second_one_the_other() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    create_v1(
        &s,
        "flip",
        "2",
        &["--update-monitor", "1s", "--rollback-monitor", "1s"],
    )?;
    s.d.shoal(&["service", "update", "--image", V2, "flip"])
        .ok()?;
    s.wait_all_on("flip", 2, V2)?;
    let out = s.d.shoal(&["service", "rollback", "flip"]).ok()?;
    assert!(
        out.stdout.contains("rollback: manually requested rollback"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("verify: Service flip converged"),
        "{}",
        out.stdout
    );
    s.wait_status("flip", "rollback_completed")?;
    s.wait_all_on("flip", 2, V1)?;
    // The docker CLI, this time.
    s.d.docker(&["service", "rollback", "flip"]).ok()?;
    s.wait_status("flip", "rollback_completed")?;
    s.wait_all_on("flip", 2, V2)?;
    let svc = s.service("flip")?;
    let image = svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].as_str();
    assert!(image.is_some_and(|i| i.starts_with(V2)), "{image:?}");
    // And `service update --rollback`, a third time.
    s.d.shoal(&["service", "update", "--rollback", "flip"])
        .ok()?;
    s.wait_status("flip", "rollback_completed")?;
    s.wait_all_on("flip", 2, V1)?;
    Ok(())
}

#[test]
fn the_docker_cli_updates_and_converges() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    create_v1(&s, "dock", "2", &["--update-monitor", "1s"])?;
    let out =
        s.d.docker(&[
            "service",
            "update",
            "--image",
            V2,
            "--no-resolve-image",
            "dock",
        ])
        .ok()?;
    assert!(out.stdout.starts_with("dock"), "{}", out.stdout);
    assert_eq!(s.update_status("dock").0, "completed");
    s.wait_all_on("dock", 2, V2)?;
    Ok(())
}

#[test]
fn a_scale_change_updates_nothing() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    create_v1(&s, "grow", "1", &[])?;
    let first = s.containers("grow");
    s.d.shoal(&["service", "scale", "-d", "grow=2"]).ok()?;
    s.wait_all_on("grow", 2, V1)?;
    assert!(s.containers("grow").contains(&first[0]));
    assert_eq!(
        s.update_status("grow").0,
        "",
        "no update status for a scale"
    );
    Ok(())
}

#[test]
fn shoal_service_update_flags_reach_the_spec() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    create_v1(&s, "flags", "1", &["--update-monitor", "1s"])?;
    s.d.shoal(&[
        "service",
        "update",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "--restart-max-attempts",
        "3",
        "--limit-memory",
        "64M",
        "--mount-add",
        "type=tmpfs,target=/scratch",
        "--rollback-parallelism",
        "0",
        "--update-order",
        "start-first",
        "flags",
    ])
    .ok()?;
    let spec = &s.service("flags")?["Spec"];
    let t = &spec["TaskTemplate"];
    let hc = &t["ContainerSpec"]["HealthCheck"];
    assert_eq!(hc["Test"], serde_json::json!(["CMD-SHELL", "true"]), "{t}");
    assert_eq!(hc["Interval"], 1_000_000_000i64);
    assert_eq!(t["RestartPolicy"]["MaxAttempts"], 3);
    assert_eq!(t["Resources"]["Limits"]["MemoryBytes"], 64 << 20);
    assert_eq!(t["ContainerSpec"]["Mounts"][0]["Target"], "/scratch");
    assert_eq!(spec["RollbackConfig"]["Parallelism"], 0);
    assert_eq!(spec["UpdateConfig"]["Order"], "start-first");
    s.wait_status("flags", "completed")?;
    let running = s.tasks("flags")?;
    assert!(
        running
            .iter()
            .any(|t| t["Status"]["State"] == "running" && t["DesiredState"] == "running"),
        "the healthy new task runs"
    );
    s.d.shoal(&["service", "update", "-d", "--no-healthcheck", "flags"])
        .ok()?;
    let hc = &s.service("flags")?["Spec"]["TaskTemplate"]["ContainerSpec"]["HealthCheck"];
    assert_eq!(hc["Test"], serde_json::json!(["NONE"]));
    Ok(())
}
