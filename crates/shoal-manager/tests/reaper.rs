//! The task reaper with the real controllers.

mod common;

use common::{Harness, replicated, with_restart};
use shoal_types::TaskState;
use shoal_types::api::TaskSpecRestartPolicyConditionEnum as Condition;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn history_is_capped_at_the_retention_limit() {
    let mut h = Harness::start(3).await;
    h.add_node("n1", &[]).await;
    let spec = with_restart(
        replicated("crashy", 1),
        Condition::ANY,
        Duration::from_millis(100),
        0,
    );
    let svc = h.create_service(spec).await;
    for crash in 1..=6 {
        h.wait_for(&format!("run {crash}"), |_| h.running(&svc).len() == 1)
            .await;
        let t = h.running(&svc).remove(0);
        h.report(&t, TaskState::Failed, "task: non-zero exit (1)")
            .await;
        h.wait_for("the crash to be seen", |_| {
            h.running(&svc).iter().all(|r| r.id != t.id)
        })
        .await;
    }
    h.wait_for("a seventh run", |_| h.running(&svc).len() == 1)
        .await;
    h.wait_for("history trimmed to 3", |_| {
        h.tasks(&svc)
            .iter()
            .filter(|t| t.status.state == TaskState::Failed)
            .count()
            == 3
    })
    .await;
    let tasks = h.tasks(&svc);
    assert_eq!(tasks.len(), 4, "3 failed and the running one: {tasks:?}");
    h.stop().await;
}
