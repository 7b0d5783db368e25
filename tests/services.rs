//! Issue 3 scenarios: services run as real containers on the local engine, kept at their
//! count, healed after failures; through the shoal CLI, the docker CLI and the raw API.

use nix::sys::signal::Signal;
use shoal_testkit::image::ensure_busybox;
use shoal_testkit::{TestDaemon, wait_for, wait_until};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
const CONVERGE: Duration = Duration::from_secs(60);

/// A swarm of one with the test image present; removes its containers when dropped.
struct Swarm {
    d: TestDaemon,
    node_id: String,
}

impl Swarm {
    fn new() -> anyhow::Result<Swarm> {
        ensure_busybox()?;
        let d = TestDaemon::start(BIN)?;
        d.shoal(&["swarm", "init"]).ok()?;
        let node_id = d.api("GET", "/info", None)?.json()?["Swarm"]["NodeID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(Swarm { d, node_id })
    }

    /// Ids of this node's containers of `service`, running only unless `all`.
    fn containers(&self, service: &str, all: bool) -> Vec<String> {
        let mut cmd = Command::new("docker");
        cmd.args(["ps", "-q", "--no-trunc"]);
        if all {
            cmd.arg("-a");
        }
        cmd.args([
            "--filter",
            &format!("label=com.docker.swarm.node.id={}", self.node_id),
        ])
        .args([
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
        ]);
        let out = cmd
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }

    fn wait_running(&self, service: &str, n: usize) -> anyhow::Result<()> {
        wait_until(
            &format!("{n} running containers of {service}"),
            CONVERGE,
            || self.containers(service, false).len() == n,
        )
    }

    fn tasks(&self, service: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let filters = format!("%7B%22service%22%3A%7B%22{service}%22%3Atrue%7D%7D");
        let v = self
            .d
            .api("GET", &format!("/v1.44/tasks?filters={filters}"), None)?
            .json()?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }
}

#[test]
fn three_replicas_run_as_three_containers_and_a_killed_one_is_replaced_in_its_slot()
-> anyhow::Result<()> {
    let s = Swarm::new()?;
    let out =
        s.d.shoal(&[
            "service",
            "create",
            "--name",
            "web",
            "--replicas",
            "3",
            "--restart-delay",
            "1s",
            "-d",
            "shoal-test/busybox:latest",
            "sleep",
            "3600",
        ])
        .ok()?;
    assert_eq!(
        out.stdout.trim().len(),
        25,
        "prints the service id: {}",
        out.stdout
    );
    s.wait_running("web", 3)?;
    wait_until("service ls to show 3/3", CONVERGE, || {
        s.d.shoal(&["service", "ls"]).stdout.contains("3/3")
    })?;

    let victim = s.containers("web", false)[0].clone();
    let victim_task = String::from_utf8_lossy(
        &Command::new("docker")
            .args([
                "inspect",
                "-f",
                "{{index .Config.Labels \"com.docker.swarm.task.id\"}}",
                &victim,
            ])
            .output()?
            .stdout,
    )
    .trim()
    .to_string();
    let slot = s
        .tasks("web")?
        .iter()
        .find(|t| t["ID"] == victim_task.as_str())
        .map(|t| t["Slot"].clone())
        .unwrap_or_default();
    Command::new("docker").args(["kill", &victim]).output()?;

    wait_for(
        "a replacement task running in the killed task's slot",
        CONVERGE,
        || {
            let tasks = s.tasks("web").ok()?;
            let old_failed = tasks
                .iter()
                .any(|t| t["ID"] == victim_task.as_str() && t["Status"]["State"] == "failed");
            let new_running = tasks.iter().any(|t| {
                t["ID"] != victim_task.as_str()
                    && t["Slot"] == slot
                    && t["Status"]["State"] == "running"
            });
            (old_failed && new_running).then_some(())
        },
    )?;
    s.wait_running("web", 3)?;
    let ps = s.d.shoal(&["service", "ps", "web"]).ok()?;
    assert!(
        ps.stdout.contains(" \\_ web."),
        "history row: {}",
        ps.stdout
    );
    assert!(ps.stdout.contains("Failed"), "{}", ps.stdout);
    assert!(
        ps.stdout.contains("task: non-zero exit (137)"),
        "{}",
        ps.stdout
    );
    Ok(())
}

#[test]
fn scaling_up_and_down_gives_exactly_that_many_containers() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "scaler",
        "--replicas",
        "2",
        "-d",
        "shoal-test/busybox:latest",
        "sleep",
        "3600",
    ])
    .ok()?;
    s.wait_running("scaler", 2)?;
    let out = s.d.shoal(&["service", "scale", "-d", "scaler=5"]).ok()?;
    assert!(out.stdout.contains("scaler scaled to 5"), "{}", out.stdout);
    s.wait_running("scaler", 5)?;
    s.d.shoal(&["service", "scale", "-d", "scaler=1"]).ok()?;
    s.wait_running("scaler", 1)?;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.containers("scaler", false).len(), 1, "stays at one");
    Ok(())
}

#[test]
fn restart_conditions_none_and_on_failure_leave_finished_tasks_alone() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "once",
        "--restart-condition",
        "none",
        "-d",
        "shoal-test/busybox:latest",
        "sh",
        "-c",
        "exit 3",
    ])
    .ok()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "okonce",
        "--restart-condition",
        "on-failure",
        "--restart-delay",
        "1s",
        "-d",
        "shoal-test/busybox:latest",
        "true",
    ])
    .ok()?;
    wait_until(
        "the none task to fail and the on-failure task to complete",
        CONVERGE,
        || {
            let none = s.tasks("once").unwrap_or_default();
            let okonce = s.tasks("okonce").unwrap_or_default();
            none.iter().any(|t| t["Status"]["State"] == "failed")
                && okonce.iter().any(|t| t["Status"]["State"] == "complete")
        },
    )?;
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        s.tasks("once")?.len(),
        1,
        "restart-condition none never restarts"
    );
    let ok = s.tasks("okonce")?;
    assert_eq!(
        ok.len(),
        1,
        "on-failure does not restart after exit 0: {ok:?}"
    );
    assert_eq!(ok[0]["Status"]["State"], "complete");
    Ok(())
}

#[test]
fn a_global_service_runs_one_task_on_the_node() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "everywhere",
        "--mode",
        "global",
        "-d",
        "shoal-test/busybox:latest",
        "sleep",
        "3600",
    ])
    .ok()?;
    s.wait_running("everywhere", 1)?;
    // The container runs a moment before its agent's report of it reaches the store.
    let mut last = String::new();
    let r = wait_until("service ls to show everywhere global 1/1", CONVERGE, || {
        last =
            s.d.shoal(&["service", "ls"])
                .ok()
                .map(|o| o.stdout)
                .unwrap_or_default();
        last.contains("global") && last.contains("1/1")
    });
    r.map_err(|e| anyhow::anyhow!("{e}: {last}"))?;
    let tasks = s.tasks("everywhere")?;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["NodeID"], s.node_id.as_str());
    Ok(())
}

#[test]
fn an_unmet_constraint_stays_pending_until_the_node_label_appears() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "picky",
        "--constraint",
        "node.labels.disk==ssd",
        "-d",
        "shoal-test/busybox:latest",
        "sleep",
        "3600",
    ])
    .ok()?;
    wait_until("service ps to explain the pending task", CONVERGE, || {
        let ps = s.d.shoal(&["service", "ps", "--no-trunc", "picky"]).stdout;
        ps.contains("Pending")
            && ps.contains("no suitable node (scheduling constraints not satisfied on 1 node)")
    })?;
    assert!(s.containers("picky", true).is_empty());
    s.d.shoal(&["node", "update", "--label-add", "disk=ssd", &s.node_id])
        .ok()?;
    s.wait_running("picky", 1)?;
    Ok(())
}

#[test]
fn a_missing_image_rejects_the_task_with_the_engines_message() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "ghost",
        "--restart-delay",
        "30s",
        "-d",
        "shoal-test/does-not-exist:1",
    ])
    .ok()?;
    let task = wait_for("a rejected task", CONVERGE, || {
        s.tasks("ghost")
            .ok()?
            .into_iter()
            .find(|t| t["Status"]["State"] == "rejected")
    })?;
    let err = task["Status"]["Err"].as_str().unwrap_or_default();
    assert!(
        err.contains("shoal-test/does-not-exist"),
        "the engine's message: {err}"
    );
    Ok(())
}

#[test]
fn sigkill_of_the_daemon_adopts_running_containers_without_duplicates() -> anyhow::Result<()> {
    let mut s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "durable",
        "--replicas",
        "3",
        "-d",
        "shoal-test/busybox:latest",
        "sleep",
        "3600",
    ])
    .ok()?;
    s.wait_running("durable", 3)?;
    let before: std::collections::BTreeSet<String> =
        s.containers("durable", false).into_iter().collect();
    s.d.kill_and_restart()?;
    wait_until("3 running tasks after restart", CONVERGE, || {
        s.tasks("durable")
            .unwrap_or_default()
            .iter()
            .filter(|t| t["Status"]["State"] == "running" && t["DesiredState"] == "running")
            .count()
            == 3
    })?;
    std::thread::sleep(Duration::from_secs(3));
    let after: std::collections::BTreeSet<String> =
        s.containers("durable", true).into_iter().collect();
    assert_eq!(
        before, after,
        "the same three containers, adopted, and no others"
    );
    s.d.signal_and_wait(Signal::SIGTERM)?;
    Ok(())
}

#[test]
fn service_rm_removes_every_container() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "gone",
        "--replicas",
        "2",
        "-d",
        "shoal-test/busybox:latest",
        "sleep",
        "3600",
    ])
    .ok()?;
    s.wait_running("gone", 2)?;
    let out = s.d.shoal(&["service", "rm", "gone"]).ok()?;
    assert_eq!(out.stdout.trim(), "gone");
    wait_until(
        "every container of the removed service to be gone",
        CONVERGE,
        || s.containers("gone", true).is_empty(),
    )?;
    Ok(())
}

#[test]
fn a_replicated_job_runs_to_completion_and_is_not_restarted() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "batch",
        "--mode",
        "replicated-job",
        "--replicas",
        "3",
        "--max-concurrent",
        "2",
        "-d",
        "shoal-test/busybox:latest",
        "true",
    ])
    .ok()?;
    wait_until("3 completed job tasks", CONVERGE, || {
        s.tasks("batch")
            .unwrap_or_default()
            .iter()
            .filter(|t| t["Status"]["State"] == "complete")
            .count()
            == 3
    })?;
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(s.tasks("batch")?.len(), 3, "no task after the completions");
    Ok(())
}

#[test]
fn bad_input_gets_dockers_answers_and_changes_nothing() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    let bad_image =
        s.d.shoal(&[
            "service",
            "create",
            "--name",
            "x1",
            "-d",
            "Not A/Valid:Image",
        ])
        .failed()?;
    assert!(
        bad_image.stderr.contains("is not a valid repository/tag"),
        "{}",
        bad_image.stderr
    );
    let neg = s.d.api("POST", "/v1.44/services/create", Some(r#"{"Name":"x2","TaskTemplate":{"ContainerSpec":{"Image":"shoal-test/busybox:latest"}},"Mode":{"Replicated":{"Replicas":-1}}}"#))?;
    assert_eq!(neg.status, 400, "{}", neg.text());
    let constraint =
        s.d.shoal(&[
            "service",
            "create",
            "--name",
            "x3",
            "--constraint",
            "node.role=manager",
            "-d",
            "shoal-test/busybox:latest",
        ])
        .failed()?;
    assert!(
        constraint.stderr.contains("constraint"),
        "{}",
        constraint.stderr
    );
    s.d.shoal(&[
        "service",
        "create",
        "--name",
        "dup",
        "-d",
        "shoal-test/busybox:latest",
        "sleep",
        "3600",
    ])
    .ok()?;
    let dup = s.d.api("POST", "/v1.44/services/create", Some(r#"{"Name":"dup","TaskTemplate":{"ContainerSpec":{"Image":"shoal-test/busybox:latest"}}}"#))?;
    assert_eq!(dup.status, 409);
    assert!(dup.text().contains("already exists"), "{}", dup.text());
    let svc = s.d.api("GET", "/v1.44/services/dup", None)?.json()?;
    let stale = s.d.api(
        "POST",
        "/v1.44/services/dup/update?version=1",
        Some(&svc["Spec"].to_string()),
    )?;
    assert!(
        stale.text().contains("update out of sequence"),
        "{}",
        stale.text()
    );
    let missing = s.d.api("GET", "/v1.44/services/nosuch", None)?;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()?["message"], "service nosuch not found");
    let names: Vec<String> =
        s.d.api("GET", "/v1.44/services", None)?
            .json()?
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|v| v["Spec"]["Name"].as_str().unwrap_or_default().to_string())
            .collect();
    assert_eq!(
        names,
        vec!["dup".to_string()],
        "rejected requests created nothing"
    );
    Ok(())
}

#[test]
fn the_docker_cli_creates_scales_logs_and_removes_services() -> anyhow::Result<()> {
    let s = Swarm::new()?;
    let create =
        s.d.docker(&[
            "service",
            "create",
            "--name",
            "dweb",
            "--replicas",
            "2",
            "shoal-test/busybox:latest",
            "sh",
            "-c",
            "echo hello-from-shoal; sleep 3600",
        ])
        .ok()?;
    assert!(
        create.stdout.contains("converged") || create.stderr.contains("converged"),
        "waited for convergence: {}{}",
        create.stdout,
        create.stderr
    );
    assert_eq!(s.containers("dweb", false).len(), 2);
    let ls = s.d.docker(&["service", "ls"]).ok()?;
    assert!(
        ls.stdout.contains("dweb") && ls.stdout.contains("2/2"),
        "{}",
        ls.stdout
    );
    let ps = s.d.docker(&["service", "ps", "dweb"]).ok()?;
    assert!(
        ps.stdout.contains("dweb.1") && ps.stdout.contains("Running"),
        "{}",
        ps.stdout
    );
    s.d.docker(&["service", "scale", "dweb=3"]).ok()?;
    s.wait_running("dweb", 3)?;
    let logs = s.d.docker(&["service", "logs", "dweb"]).ok()?;
    assert!(logs.stdout.contains("hello-from-shoal"), "{}", logs.stdout);
    assert!(
        logs.stdout.contains("dweb.1."),
        "task prefix: {}",
        logs.stdout
    );
    let inspect =
        s.d.docker(&["service", "inspect", "--pretty", "dweb"])
            .ok()?;
    assert!(
        inspect.stdout.contains("Replicas:") && inspect.stdout.contains("3"),
        "{}",
        inspect.stdout
    );
    s.d.docker(&["service", "rm", "dweb"]).ok()?;
    wait_until(
        "the docker-created service's containers to go",
        CONVERGE,
        || s.containers("dweb", true).is_empty(),
    )?;
    Ok(())
}
