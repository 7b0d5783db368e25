//! The controllers on a real clock and a multi-threaded runtime, as the daemon runs them.

mod common;

use common::{Harness, replicated, with_restart};
use shoal_types::TaskState;
use shoal_types::api::TaskSpecRestartPolicyConditionEnum as Condition;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_replicas_converge_quickly_on_a_real_clock() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    h.add_node("n2", &[]).await;
    let started = std::time::Instant::now();
    let spec = with_restart(
        replicated("web", 30),
        Condition::ANY,
        Duration::from_millis(200),
        0,
    );
    let web = h.create_service(spec).await;
    h.wait_for("30 running tasks", |_| h.running(&web).len() == 30)
        .await;
    let converged = started.elapsed();
    assert!(converged < Duration::from_secs(2), "took {converged:?}");

    let victim = h.running(&web).remove(0);
    h.report(&victim, TaskState::Failed, "task: non-zero exit (1)")
        .await;
    h.wait_for("the failed slot to run again", |_| {
        h.running(&web)
            .iter()
            .any(|t| t.slot == victim.slot && t.id != victim.id)
    })
    .await;
    assert_eq!(h.running(&web).len(), 30);
    h.stop().await;
}
