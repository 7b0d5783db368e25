//! The scheduler with the real controllers: constraints and Docker's explanations.

mod common;

use common::{Harness, replicated, with_constraints};
use shoal_types::TaskState;

#[tokio::test(start_paused = true)]
async fn an_unsatisfiable_constraint_leaves_the_task_pending_with_dockers_message() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let svc = h
        .create_service(with_constraints(
            replicated("db", 1),
            &["node.labels.disk==ssd"],
        ))
        .await;
    let message = "no suitable node (scheduling constraints not satisfied on 1 node)";
    h.wait_for("the task to explain why it is pending", |_| {
        h.tasks(&svc).iter().any(|t| t.status.err == message)
    })
    .await;
    let task = h.tasks(&svc).remove(0);
    assert_eq!(task.status.state, TaskState::Pending);
    assert!(task.node_id.is_empty());

    h.update_node("n1", |n| {
        n.spec
            .labels
            .get_or_insert_with(Default::default)
            .insert("disk".into(), "ssd".into());
    })
    .await;
    h.wait_for("the task to run once the label is added", |_| {
        h.running(&svc).len() == 1
    })
    .await;
    assert_eq!(
        h.running(&svc)[0].id,
        task.id,
        "the same task is scheduled, not a new one"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_constraint_picks_the_matching_node() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    h.add_node("n2", &[("zone", "east")]).await;
    let svc = h
        .create_service(with_constraints(
            replicated("web", 3),
            &["node.labels.zone==east"],
        ))
        .await;
    h.wait_for("3 running tasks", |_| h.running(&svc).len() == 3)
        .await;
    assert!(h.running(&svc).iter().all(|t| t.node_id.as_str() == "n2"));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn draining_a_node_moves_its_tasks_without_delay() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let svc = h.create_service(replicated("web", 2)).await;
    h.wait_for("2 running tasks", |_| h.running(&svc).len() == 2)
        .await;
    h.add_node("n2", &[]).await;
    h.update_node("n1", |n| {
        n.spec.availability = Some(shoal_types::api::NodeSpecAvailabilityEnum::DRAIN)
    })
    .await;
    h.wait_for("both tasks to run on n2", |_| {
        let r = h.running(&svc);
        r.len() == 2 && r.iter().all(|t| t.node_id.as_str() == "n2")
    })
    .await;
    h.stop().await;
}
