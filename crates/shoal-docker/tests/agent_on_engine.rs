//! The agent driving real containers through DockerExecutor, with a minimal in-test
//! dispatcher: the path a one-node shoal takes. Fails without `/var/run/docker.sock`.

#![allow(clippy::unwrap_used)]

use futures::future::BoxFuture;
use shoal_agent::{Agent, AgentConfig, DispatcherClient, Executor, SessionError};
use shoal_docker::DockerExecutor;
use shoal_docker::testing::ensure_busybox_image;
use shoal_types::api::{TaskSpec, TaskSpecContainerSpec};
use shoal_types::dispatch::{Assignments, HeartbeatResponse, SessionRequest, StatusBatch};
use shoal_types::{NodeId, ServiceId, Task, TaskId, TaskState, TaskStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SOCKET: &str = "/var/run/docker.sock";

/// Sends one fixed assignment set per session and records every status.
struct OneSetDispatcher {
    tasks: Vec<Task>,
    statuses: Mutex<Vec<(TaskId, TaskStatus)>>,
}

impl OneSetDispatcher {
    fn latest(&self, id: &TaskId) -> Option<TaskStatus> {
        let all = self.statuses.lock().unwrap();
        all.iter()
            .rev()
            .find(|(t, _)| t == id)
            .map(|(_, s)| s.clone())
    }
}

impl DispatcherClient for OneSetDispatcher {
    fn session(
        &self,
        _r: SessionRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<Assignments>, SessionError>> {
        Box::pin(async move {
            let (tx, rx) = mpsc::channel(1);
            let set = Assignments {
                session_id: "s1".into(),
                tasks: self.tasks.clone(),
                heartbeat_period_ms: 5000,
                ..Default::default()
            };
            tx.send(set).await.unwrap();
            // Keep the session open for the whole test.
            tokio::spawn(async move { tx.closed().await });
            Ok(rx)
        })
    }

    fn update_status(&self, batch: StatusBatch) -> BoxFuture<'_, Result<(), SessionError>> {
        let mut all = self.statuses.lock().unwrap();
        all.extend(batch.updates.into_iter().map(|u| (u.task_id, u.status)));
        Box::pin(async { Ok(()) })
    }

    fn heartbeat(
        &self,
        _n: NodeId,
        _s: String,
    ) -> BoxFuture<'_, Result<HeartbeatResponse, SessionError>> {
        Box::pin(async { Ok(HeartbeatResponse { period_ms: 5000 }) })
    }
}

fn task(node: &NodeId, slot: u64, script: &str) -> Task {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let spec = TaskSpecContainerSpec {
        image: Some("shoal-test/busybox:latest".into()),
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        stop_grace_period: Some(0),
        ..Default::default()
    };
    let mut t = Task {
        id: TaskId::from(format!("agenttask{nanos:x}{slot}")),
        service_id: ServiceId::from("agentsvc"),
        node_id: node.clone(),
        slot,
        desired_state: TaskState::Running,
        status: TaskStatus {
            state: TaskState::Assigned,
            ..Default::default()
        },
        spec: TaskSpec {
            container_spec: Some(spec),
            ..Default::default()
        },
        ..Default::default()
    };
    t.service_annotations.name = "agentsvc".into();
    t
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_agent_runs_real_containers_and_adopts_them_after_a_restart() {
    assert!(
        std::path::Path::new(SOCKET).exists(),
        "{SOCKET} is absent: this test needs a running container engine (.ci/run starts one)"
    );
    let exec = Arc::new(DockerExecutor::connect(SOCKET).await.unwrap());
    ensure_busybox_image(exec.docker()).await.unwrap();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let node = NodeId::from(format!("agentnode{nanos:x}"));
    let failing = task(&node, 1, "echo hi; exit 3");
    let sleeper = task(&node, 2, "sleep 300");
    let config = AgentConfig {
        retry_min: Duration::from_millis(20),
        ..AgentConfig::default()
    };

    let mut first_container = String::new();
    for round in 0..2 {
        let disp = Arc::new(OneSetDispatcher {
            tasks: vec![failing.clone(), sleeper.clone()],
            statuses: Mutex::default(),
        });
        let cancel = CancellationToken::new();
        let agent =
            Agent::new(node.clone(), exec.clone(), disp.clone()).with_config(config.clone());
        let handle = tokio::spawn(agent.run(cancel.clone()));

        until("the sleeper runs", || {
            disp.latest(&sleeper.id)
                .is_some_and(|s| s.state == TaskState::Running)
        })
        .await;
        until("the failing task fails", || {
            disp.latest(&failing.id)
                .is_some_and(|s| s.state == TaskState::Failed)
        })
        .await;
        let failed = disp.latest(&failing.id).unwrap();
        assert_eq!(
            (failed.err.as_str(), failed.message.as_str()),
            ("task: non-zero exit (3)", "started")
        );
        let running = disp.latest(&sleeper.id).unwrap();
        let container = running.container_status.unwrap().container_id.unwrap();
        if round == 0 {
            first_container = container;
        } else {
            assert_eq!(
                container, first_container,
                "the restarted agent adopted the same container"
            );
        }
        cancel.cancel();
        handle.await.unwrap();
    }
    let containers = exec.list(&node).await.unwrap();
    assert_eq!(
        containers.len(),
        2,
        "one container per task across the restart: {containers:?}"
    );
    for c in containers {
        exec.remove_existing(&c).await.unwrap();
    }
}
