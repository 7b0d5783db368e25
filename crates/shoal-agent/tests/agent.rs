//! Agent scenarios with an in-memory executor and dispatcher.

#![allow(clippy::unwrap_used)]

mod support;

use shoal_agent::Agent;
use shoal_types::TaskState;
use std::sync::Arc;
use std::time::Duration;
use support::{FakeDispatcher, FakeExecutor, NODE, Phase, eventually, fast_config, task};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Harness {
    exec: Arc<FakeExecutor>,
    disp: Arc<FakeDispatcher>,
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl Harness {
    fn start(exec: FakeExecutor, disp: FakeDispatcher) -> Self {
        let exec = Arc::new(exec);
        let disp = Arc::new(disp);
        let cancel = CancellationToken::new();
        let agent = Agent::new(NODE.into(), exec.clone(), disp.clone()).with_config(fast_config());
        let handle = tokio::spawn(agent.run(cancel.clone()));
        Self {
            exec,
            disp,
            cancel,
            handle,
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.handle)
            .await
            .unwrap()
            .unwrap();
    }

    async fn wait_state(&self, task_id: &str, state: TaskState) {
        let disp = self.disp.clone();
        eventually(&format!("task {task_id} reported {state}"), || {
            disp.latest_state(task_id) == Some(state)
        })
        .await;
    }

    fn assert_forward_only(&self, task_id: &str) {
        let states: Vec<TaskState> = self.disp.history(task_id).iter().map(|s| s.state).collect();
        assert!(
            states.windows(2).all(|w| w[0] < w[1]),
            "states of {task_id} went backwards: {states:?}"
        );
    }
}

#[tokio::test]
async fn a_task_runs_and_completes_on_exit_zero() {
    let h = Harness::start(FakeExecutor::default(), FakeDispatcher::default());
    h.disp.assign(vec![task("t1", "busybox")]).await;
    h.wait_state("t1", TaskState::Running).await;

    let running = h.disp.latest("t1").unwrap();
    assert_eq!(running.message, "started");
    let cs = running.container_status.unwrap();
    assert_eq!(
        (cs.container_id.as_deref(), cs.pid),
        (Some("c1"), Some(4242))
    );
    assert!(!running.timestamp.is_empty());

    h.exec.exit("t1", 0);
    h.wait_state("t1", TaskState::Complete).await;
    let done = h.disp.latest("t1").unwrap();
    assert_eq!((done.message.as_str(), done.err.as_str()), ("finished", ""));
    h.assert_forward_only("t1");
    // The container of a finished task is kept (docker ps -a), until the task leaves the set.
    assert_eq!(h.exec.phase("t1"), Some(Phase::Exited(0)));
    h.stop().await;
}

#[tokio::test]
async fn a_non_zero_exit_fails_the_task_with_dockers_message() {
    let h = Harness::start(FakeExecutor::default(), FakeDispatcher::default());
    h.disp.assign(vec![task("t1", "busybox")]).await;
    h.wait_state("t1", TaskState::Running).await;
    h.exec.exit("t1", 3);
    h.wait_state("t1", TaskState::Failed).await;

    let failed = h.disp.latest("t1").unwrap();
    assert_eq!(failed.err, "task: non-zero exit (3)");
    assert_eq!(failed.message, "started");
    let cs = failed.container_status.unwrap();
    assert_eq!(
        (cs.container_id.as_deref(), cs.exit_code),
        (Some("c1"), Some(3))
    );
    h.assert_forward_only("t1");
    h.stop().await;
}

#[tokio::test]
async fn a_missing_image_rejects_the_task_with_the_engine_message_once() {
    let h = Harness::start(
        FakeExecutor::default().with_missing_image("nope:1"),
        FakeDispatcher::default(),
    );
    h.disp.assign(vec![task("t1", "nope:1")]).await;
    h.wait_state("t1", TaskState::Rejected).await;

    let rejected = h.disp.latest("t1").unwrap();
    assert_eq!(rejected.err, "No such image: nope:1");
    assert_eq!(rejected.message, "preparing");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        h.exec.prepares(),
        1,
        "a rejected task must not be retried by the agent"
    );
    assert_eq!(h.exec.container_count(), 0);
    h.stop().await;
}

#[tokio::test]
async fn desired_shutdown_stops_the_container_and_reports_shutdown() {
    let h = Harness::start(FakeExecutor::default(), FakeDispatcher::default());
    let mut t = task("t1", "busybox");
    h.disp.assign(vec![t.clone()]).await;
    h.wait_state("t1", TaskState::Running).await;

    t.desired_state = TaskState::Shutdown;
    h.disp.assign(vec![t]).await;
    h.wait_state("t1", TaskState::Shutdown).await;
    assert_eq!(h.disp.latest("t1").unwrap().message, "shutdown");
    assert_eq!(
        h.exec.phase("t1"),
        Some(Phase::Exited(143)),
        "stopped, not removed"
    );
    // The stop's exit code is not mistaken for a failure.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.disp.latest_state("t1"), Some(TaskState::Shutdown));
    h.assert_forward_only("t1");
    h.stop().await;
}

#[tokio::test]
async fn a_task_removed_from_the_set_has_its_container_removed() {
    let h = Harness::start(FakeExecutor::default(), FakeDispatcher::default());
    h.disp
        .assign(vec![task("t1", "busybox"), task("t2", "busybox")])
        .await;
    h.wait_state("t1", TaskState::Running).await;
    h.wait_state("t2", TaskState::Running).await;

    h.disp.assign(vec![task("t2", "busybox")]).await;
    let exec = h.exec.clone();
    eventually("t1's container removed", || exec.phase("t1").is_none()).await;
    assert_eq!(h.exec.phase("t2"), Some(Phase::Running));
    h.stop().await;
}

#[tokio::test]
async fn an_existing_running_container_is_adopted_without_a_duplicate() {
    let exec = FakeExecutor::default();
    exec.insert("t1", Phase::Running);
    let h = Harness::start(exec, FakeDispatcher::default());
    let mut t = task("t1", "busybox");
    t.status.state = TaskState::Starting; // the old agent died before reporting RUNNING
    h.disp.assign(vec![t]).await;

    h.wait_state("t1", TaskState::Running).await;
    let running = h.disp.latest("t1").unwrap();
    assert_eq!(
        running.container_status.unwrap().container_id.as_deref(),
        Some("old1")
    );
    assert_eq!(h.exec.creates(), 0);
    assert_eq!(h.exec.prepares(), 0);
    assert_eq!(h.exec.container_count(), 1);

    // It is waited on like any other.
    h.exec.exit("t1", 1);
    h.wait_state("t1", TaskState::Failed).await;
    h.stop().await;
}

#[tokio::test]
async fn an_adopted_exited_container_reports_its_terminal_state() {
    let exec = FakeExecutor::default();
    exec.insert("t1", Phase::Exited(0));
    let h = Harness::start(exec, FakeDispatcher::default());
    let mut t = task("t1", "busybox");
    t.status.state = TaskState::Running;
    h.disp.assign(vec![t]).await;
    h.wait_state("t1", TaskState::Complete).await;
    assert_eq!(h.exec.creates(), 0);
    h.stop().await;
}

#[tokio::test]
async fn containers_of_tasks_no_longer_assigned_are_removed_at_start() {
    let exec = FakeExecutor::default();
    exec.insert("gone", Phase::Running);
    exec.insert("kept", Phase::Running);
    let h = Harness::start(exec, FakeDispatcher::default());
    let mut kept = task("kept", "busybox");
    kept.status.state = TaskState::Running;
    h.disp.assign(vec![kept]).await;

    let exec = h.exec.clone();
    eventually("the orphan removed", || exec.phase("gone").is_none()).await;
    assert_eq!(h.exec.phase("kept"), Some(Phase::Running));
    assert_eq!(h.exec.creates(), 0);
    h.stop().await;
}

#[tokio::test]
async fn restarting_the_agent_adopts_what_the_previous_one_started() {
    let exec = Arc::new(FakeExecutor::default());
    let disp = Arc::new(FakeDispatcher::default());
    let tasks = vec![
        task("t1", "busybox"),
        task("t2", "busybox"),
        task("t3", "busybox"),
    ];
    for _ in 0..2 {
        let cancel = CancellationToken::new();
        let agent = Agent::new(NODE.into(), exec.clone(), disp.clone()).with_config(fast_config());
        let handle = tokio::spawn(agent.run(cancel.clone()));
        disp.assign(tasks.clone()).await;
        for id in ["t1", "t2", "t3"] {
            eventually(&format!("{id} running"), || {
                disp.latest_state(id) == Some(TaskState::Running)
            })
            .await;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        cancel.cancel();
        handle.await.unwrap();
        // Stopping the agent leaves the containers running.
        assert!(
            ["t1", "t2", "t3"]
                .iter()
                .all(|id| exec.phase(id) == Some(Phase::Running))
        );
    }
    assert_eq!(
        exec.creates(),
        3,
        "exactly one container per task across restarts"
    );
    assert_eq!(exec.container_count(), 3);
}

#[tokio::test]
async fn failed_status_sends_are_retried_not_dropped() {
    let disp = FakeDispatcher::default();
    disp.fail_status_sends(3);
    let h = Harness::start(FakeExecutor::default(), disp);
    h.disp.assign(vec![task("t1", "busybox")]).await;
    h.wait_state("t1", TaskState::Running).await;
    h.assert_forward_only("t1");
    h.stop().await;
}

#[tokio::test]
async fn status_updates_are_batched() {
    let h = Harness::start(FakeExecutor::default(), FakeDispatcher::default());
    let tasks: Vec<_> = (0..20).map(|i| task(&format!("t{i}"), "busybox")).collect();
    h.disp.assign(tasks).await;
    for i in 0..20 {
        h.wait_state(&format!("t{i}"), TaskState::Running).await;
    }
    // 20 tasks × 5 states = 100 updates, far fewer sends.
    assert!(
        h.disp.batches() < 50,
        "{} batches for 100 updates",
        h.disp.batches()
    );
    h.stop().await;
}

#[tokio::test]
async fn heartbeats_follow_the_dispatcher_period_and_sessions_reopen() {
    let disp = FakeDispatcher::with_heartbeat_period(20);
    let h = Harness::start(FakeExecutor::default(), disp);
    h.disp.assign(vec![task("t1", "busybox")]).await;
    let d = h.disp.clone();
    eventually("5 heartbeats at a 20 ms period", || d.heartbeats() >= 5).await;

    h.disp.close_session();
    eventually("a second session", || d.sessions() >= 2).await;
    // The new session re-sends the set; the running task is kept, not duplicated.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.exec.creates(), 1);
    assert_eq!(h.exec.phase("t1"), Some(Phase::Running));
    h.stop().await;
}
