//! The restart supervisor with the real controllers: replacement in the same slot, delays,
//! conditions and attempts.

mod common;

use common::{Harness, replicated, with_restart};
use shoal_types::TaskState;
use shoal_types::api::TaskSpecRestartPolicyConditionEnum as Condition;
use std::time::Duration;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_failed_task_is_replaced_in_the_same_slot_after_the_delay() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let web = h.create_service(replicated("web", 2)).await;
    h.wait_for("2 running tasks", |_| h.running(&web).len() == 2)
        .await;
    let victim = h
        .running(&web)
        .into_iter()
        .find(|t| t.slot == 2)
        .expect("slot 2 runs");
    h.report(&victim, TaskState::Failed, "task: non-zero exit (137)")
        .await;
    let failed_at = Instant::now();

    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        h.tasks(&web).iter().filter(|t| t.slot == 2).count(),
        1,
        "no replacement before the 5 s delay"
    );

    h.wait_for("a running replacement in slot 2", |_| {
        h.running(&web)
            .iter()
            .any(|t| t.slot == 2 && t.id != victim.id)
    })
    .await;
    assert!(
        failed_at.elapsed() >= Duration::from_secs(5),
        "replaced after {:?}",
        failed_at.elapsed()
    );
    let old = h
        .tasks(&web)
        .into_iter()
        .find(|t| t.id == victim.id)
        .expect("the failed task stays as history");
    assert_eq!(
        (old.status.state, old.desired_state),
        (TaskState::Failed, TaskState::Shutdown)
    );
    assert_eq!(h.running(&web).len(), 2);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_that_exits_with_restart_condition_none_stays_complete() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let spec = with_restart(
        replicated("once", 1),
        Condition::NONE,
        Duration::from_secs(1),
        0,
    );
    let svc = h.create_service(spec).await;
    h.wait_for("1 running task", |_| h.running(&svc).len() == 1)
        .await;
    let task = h.running(&svc).remove(0);
    h.report(&task, TaskState::Complete, "finished").await;
    h.wait_for("the task to be let go", |_| {
        h.tasks(&svc)[0].desired_state == TaskState::Shutdown
    })
    .await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let tasks = h.tasks(&svc);
    assert_eq!(tasks.len(), 1, "nothing replaced it: {tasks:?}");
    assert_eq!(tasks[0].status.state, TaskState::Complete);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn on_failure_restarts_a_crash_but_not_a_clean_exit() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let spec = with_restart(
        replicated("web", 2),
        Condition::ON_FAILURE,
        Duration::from_secs(1),
        0,
    );
    let svc = h.create_service(spec).await;
    h.wait_for("2 running tasks", |_| h.running(&svc).len() == 2)
        .await;
    let tasks = h.running(&svc);
    h.report(&tasks[0], TaskState::Complete, "finished").await;
    h.report(&tasks[1], TaskState::Failed, "task: non-zero exit (1)")
        .await;
    h.wait_for("slot 2 to run again", |_| {
        h.running(&svc)
            .iter()
            .any(|t| t.slot == 2 && t.id != tasks[1].id)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        h.running(&svc).iter().all(|t| t.slot != 1),
        "slot 1 exited cleanly and stays down"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn max_attempts_stops_restarting_a_slot() {
    let mut h = Harness::start(10).await;
    h.add_node("n1", &[]).await;
    let spec = with_restart(
        replicated("flaky", 1),
        Condition::ANY,
        Duration::from_secs(1),
        2,
    );
    let svc = h.create_service(spec).await;
    for attempt in 1..=3 {
        h.wait_for(&format!("attempt {attempt} to run"), |_| {
            h.running(&svc).len() == 1
        })
        .await;
        let t = h.running(&svc).remove(0);
        h.report(&t, TaskState::Failed, "task: non-zero exit (1)")
            .await;
        h.wait_for("the failure to be recorded", |_| h.running(&svc).is_empty())
            .await;
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    let tasks = h.tasks(&svc);
    assert_eq!(tasks.len(), 3, "the first run and 2 restarts: {tasks:?}");
    assert!(
        tasks
            .iter()
            .all(|t| t.status.state == TaskState::Failed && t.desired_state == TaskState::Shutdown)
    );
    h.stop().await;
}
