//! Global services and jobs with the real controllers.

mod common;

use common::{Harness, global, replicated_job};
use shoal_types::TaskState;
use shoal_types::api::NodeSpecAvailabilityEnum;

#[tokio::test(start_paused = true)]
async fn a_global_service_runs_one_task_per_eligible_node() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    h.add_node("n2", &[]).await;
    let mon = h.create_service(global("mon")).await;
    h.wait_for("a task on each node", |_| h.running(&mon).len() == 2)
        .await;
    let mut nodes: Vec<String> = h
        .running(&mon)
        .iter()
        .map(|t| t.node_id.to_string())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2"]);
    assert!(h.running(&mon).iter().all(|t| t.slot == 0));

    h.add_node("n3", &[]).await;
    h.wait_for("the new node to get a task", |_| {
        h.running(&mon).iter().any(|t| t.node_id.as_str() == "n3")
    })
    .await;

    h.update_node("n1", |n| {
        n.spec.availability = Some(NodeSpecAvailabilityEnum::DRAIN)
    })
    .await;
    h.wait_for("the drained node's task to stop", |_| {
        h.tasks(&mon)
            .iter()
            .any(|t| t.node_id.as_str() == "n1" && t.status.state == TaskState::Shutdown)
    })
    .await;
    assert_eq!(h.running(&mon).len(), 2);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_replicated_job_runs_its_completions_at_most_max_concurrent_at_a_time() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    h.add_node("n2", &[]).await;
    let job = h.create_service(replicated_job("batch", 2, 5)).await;
    let mut most = 0;
    loop {
        let tasks = h.tasks(&job);
        let running = tasks
            .iter()
            .filter(|t| t.status.state == TaskState::Running)
            .count();
        most = most.max(running);
        if tasks
            .iter()
            .filter(|t| t.status.state == TaskState::Complete)
            .count()
            == 5
        {
            break;
        }
        assert!(tokio::time::Instant::now().elapsed() < common::WAIT_LIMIT);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(most, 2, "never more than MaxConcurrent at once");
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    let tasks = h.tasks(&job);
    assert_eq!(
        tasks.len(),
        5,
        "a completed task is never restarted: {tasks:?}"
    );
    let slots: Vec<u64> = tasks.iter().map(|t| t.slot).collect();
    assert_eq!(slots, [1, 2, 3, 4, 5]);
    assert!(tasks.iter().all(|t| t.desired_state == TaskState::Complete));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_global_job_completes_once_on_every_node() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    h.add_node("n2", &[]).await;
    let mut spec = global("sweep");
    spec.mode = Some(shoal_types::api::ServiceSpecMode {
        global_job: Some(Default::default()),
        ..Default::default()
    });
    let job = h.create_service(spec).await;
    h.wait_for("a completion on each node", |_| {
        h.tasks(&job)
            .iter()
            .filter(|t| t.status.state == TaskState::Complete)
            .count()
            == 2
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    assert_eq!(h.tasks(&job).len(), 2);
    h.stop().await;
}
