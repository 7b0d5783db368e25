//! DockerExecutor against the machine's real engine. Each scenario uses its own node id (the
//! containers' `com.docker.swarm.node.id` label), touches only its own containers and removes
//! them when done, even on failure. Without `/var/run/docker.sock` the scenarios fail.

#![allow(clippy::unwrap_used)]

use futures::StreamExt;
use shoal_agent::{ExecError, Executor, LogOptions, LogStream};
use shoal_docker::DockerExecutor;
use shoal_docker::testing::ensure_busybox_image;
use shoal_types::api::{TaskSpec, TaskSpecContainerSpec};
use shoal_types::{NodeId, ServiceId, Task, TaskId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SOCKET: &str = "/var/run/docker.sock";

/// Connects and makes the test image. Without an engine the scenario fails, naming what is
/// missing: a test that passes without running would hide a broken machine.
async fn engine() -> DockerExecutor {
    assert!(
        std::path::Path::new(SOCKET).exists(),
        "{SOCKET} is absent: these tests need a running container engine (.ci/run starts one)"
    );
    let exec = DockerExecutor::connect(SOCKET).await.unwrap();
    ensure_busybox_image(exec.docker()).await.unwrap();
    exec
}

fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}{:x}{}",
        nanos & 0xffff_ffff,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Removes every container of `node` when dropped (runs its own runtime: Drop cannot await).
struct Cleanup(NodeId);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let node = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let exec = DockerExecutor::connect(SOCKET).await.unwrap();
                for c in exec.list(&node).await.unwrap() {
                    let _ = exec.remove_existing(&c).await; // best effort: already gone is fine
                }
            });
        })
        .join();
    }
}

/// A task of service `shoaltest` in slot 1 on a fresh node id, running `command`.
fn task(image: &str, command: &[&str]) -> (Task, Cleanup) {
    let node = NodeId::from(unique("testnode"));
    let spec = TaskSpecContainerSpec {
        image: Some(image.into()),
        command: Some(command.iter().map(|s| s.to_string()).collect()),
        labels: Some(HashMap::from([(
            "shoal.test".to_string(),
            "engine".to_string(),
        )])),
        ..Default::default()
    };
    let mut t = Task {
        id: TaskId::from(unique("task")),
        service_id: ServiceId::from("svc0123456789"),
        node_id: node.clone(),
        slot: 1,
        spec: TaskSpec {
            container_spec: Some(spec),
            ..Default::default()
        },
        ..Default::default()
    };
    t.service_annotations.name = "shoaltest".into();
    (t, Cleanup(node))
}

fn container_spec(t: &mut Task) -> &mut TaskSpecContainerSpec {
    t.spec.container_spec.as_mut().unwrap()
}

#[tokio::test]
async fn a_task_that_echoes_and_exits_3_reports_exit_3_and_its_output() {
    let exec = engine().await;
    let (t, _cleanup) = task(
        "shoal-test/busybox:latest",
        &["sh", "-c", "echo hi; echo oops >&2; exit 3"],
    );
    exec.prepare(&t).await.unwrap();
    let started = exec.start(&t).await.unwrap();
    assert!(!started.container_id.is_empty());
    let exit = tokio::time::timeout(Duration::from_secs(30), exec.wait(&t))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.exit_code, 3);
    assert_eq!(exit.container_id, started.container_id);

    let lines: Vec<_> = exec
        .logs(
            &t,
            LogOptions {
                timestamps: true,
                ..LogOptions::default()
            },
        )
        .collect()
        .await;
    let lines: Vec<_> = lines.into_iter().map(Result::unwrap).collect();
    let out: Vec<_> = lines
        .iter()
        .filter(|l| l.stream == LogStream::Stdout)
        .map(|l| l.line.clone())
        .collect();
    let err: Vec<_> = lines
        .iter()
        .filter(|l| l.stream == LogStream::Stderr)
        .map(|l| l.line.clone())
        .collect();
    assert_eq!(out, vec![bytes::Bytes::from_static(b"hi\n")], "{lines:?}");
    assert_eq!(err, vec![bytes::Bytes::from_static(b"oops\n")], "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.timestamp.as_deref().is_some_and(|t| t.ends_with('Z')))
    );
}

#[tokio::test]
async fn a_missing_image_is_rejected_with_the_engine_message() {
    let exec = engine().await;
    let (t, _cleanup) = task("shoal-test/does-not-exist:1", &["true"]);
    let began = Instant::now();
    let err = exec.prepare(&t).await.unwrap_err();
    assert!(err.is_rejection(), "{err:?}");
    assert!(
        matches!(&err, ExecError::ImageNotFound(m) if m.contains("No such image: shoal-test/does-not-exist:1")),
        "{err:?}"
    );
    eprintln!("rejected after {:?}: {err}", began.elapsed());
    assert!(
        exec.list(&t.node_id).await.unwrap().is_empty(),
        "no container for a rejected task"
    );
}

#[tokio::test]
async fn containers_get_dockers_name_labels_and_templated_settings() {
    let exec = engine().await;
    let (mut t, _cleanup) = task("shoal-test/busybox:latest", &["sleep", "300"]);
    let spec = container_spec(&mut t);
    spec.hostname = Some("{{.Service.Name}}-{{.Task.Slot}}".into());
    spec.env = Some(vec!["WHO={{.Node.ID}}".into()]);
    spec.dir = Some("/tmp".into());
    spec.user = Some("nobody".into());
    spec.init = Some(true);
    spec.stop_signal = Some("SIGINT".into());
    exec.prepare(&t).await.unwrap();

    let inspect = exec
        .docker()
        .inspect_container(&t.container_name(), None)
        .await
        .unwrap();
    assert_eq!(
        inspect.name.as_deref(),
        Some(format!("/shoaltest.1.{}", t.id).as_str())
    );
    let config = inspect.config.unwrap();
    let labels = config.labels.unwrap();
    assert_eq!(labels["com.docker.swarm.task.id"], t.id.as_str());
    assert_eq!(
        labels["com.docker.swarm.task.name"],
        format!("shoaltest.1.{}", t.id)
    );
    assert_eq!(labels["com.docker.swarm.node.id"], t.node_id.as_str());
    assert_eq!(labels["com.docker.swarm.service.id"], "svc0123456789");
    assert_eq!(labels["com.docker.swarm.service.name"], "shoaltest");
    assert_eq!(labels["shoal.test"], "engine");
    assert_eq!(config.hostname.as_deref(), Some("shoaltest-1"));
    assert!(config.env.unwrap().contains(&format!("WHO={}", t.node_id)));
    assert_eq!(
        (config.working_dir.as_deref(), config.user.as_deref()),
        (Some("/tmp"), Some("nobody"))
    );
    assert_eq!(
        (config.stop_signal.as_deref(), config.stop_timeout),
        (Some("SIGINT"), Some(10))
    );
    let host = inspect.host_config.unwrap();
    assert_eq!(host.init, Some(true));
    assert_eq!(
        host.restart_policy.unwrap().name.map(|n| n.to_string()),
        Some("no".to_string())
    );

    // Preparing again adopts the container instead of making a second one.
    exec.prepare(&t).await.unwrap();
    assert_eq!(exec.list(&t.node_id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn shutdown_with_a_one_second_grace_period_is_quick() {
    let exec = engine().await;
    let (mut t, _cleanup) = task("shoal-test/busybox:latest", &["sleep", "300"]);
    container_spec(&mut t).stop_grace_period = Some(1_000_000_000);
    exec.prepare(&t).await.unwrap();
    exec.start(&t).await.unwrap();

    let began = Instant::now();
    exec.shutdown(&t).await.unwrap();
    let took = began.elapsed();
    // sleep as PID 1 ignores SIGTERM, so this is the grace period and the kill.
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    let exit = exec.wait(&t).await.unwrap();
    assert_eq!(exit.exit_code, 137);
    // Stopping a stopped container is fine (the engine answers 304).
    exec.shutdown(&t).await.unwrap();
}

#[tokio::test]
async fn list_finds_the_nodes_containers_and_remove_deletes_them() {
    let exec = engine().await;
    let (mut t, _cleanup) = task("shoal-test/busybox:latest", &["sleep", "300"]);
    container_spec(&mut t).stop_grace_period = Some(0);
    exec.prepare(&t).await.unwrap();
    let created = exec.list(&t.node_id).await.unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(
        (
            created[0].task_id.clone(),
            created[0].running,
            created[0].exit_code
        ),
        (t.id.clone(), false, None)
    );

    let started = exec.start(&t).await.unwrap();
    let running = exec.list(&t.node_id).await.unwrap();
    assert_eq!(
        (running[0].container_id.clone(), running[0].running),
        (started.container_id.clone(), true)
    );

    exec.shutdown(&t).await.unwrap();
    let stopped = exec.list(&t.node_id).await.unwrap();
    assert_eq!(
        (stopped[0].running, stopped[0].exit_code),
        (false, Some(137))
    );
    assert!(
        exec.list(&NodeId::from(unique("othernode")))
            .await
            .unwrap()
            .is_empty()
    );

    exec.remove(&t).await.unwrap();
    assert!(exec.list(&t.node_id).await.unwrap().is_empty());
    assert!(exec.remove(&t).await.unwrap_err().is_not_found());
    assert!(exec.wait(&t).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn describe_reports_the_engine_host() {
    let exec = engine().await;
    let d = exec.describe().await.unwrap();
    assert!(!d.hostname.unwrap_or_default().is_empty());
    let p = d.platform.unwrap();
    assert_eq!(p.os.as_deref(), Some("linux"));
    assert_eq!(p.architecture.as_deref(), Some(std::env::consts::ARCH));
    let r = d.resources.unwrap();
    assert!(r.nano_cpus.unwrap_or(0) >= 1_000_000_000 && r.memory_bytes.unwrap_or(0) > 0);
    assert!(
        !d.engine
            .unwrap()
            .engine_version
            .unwrap_or_default()
            .is_empty()
    );
}
