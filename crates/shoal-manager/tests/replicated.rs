//! Replicated services against the real controllers and dispatcher, with fake agents.

mod common;

use common::{Harness, replicated};
use shoal_types::{TaskState, TaskStatus};

#[tokio::test(start_paused = true)]
async fn three_replicas_become_three_running_tasks() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let web = h.create_service(replicated("web", 3)).await;
    h.wait_for("3 running tasks of web", |_| h.running(&web).len() == 3)
        .await;
    let tasks = h.running(&web);
    let slots: Vec<u64> = tasks.iter().map(|t| t.slot).collect();
    assert_eq!(slots, [1, 2, 3]);
    for t in &tasks {
        assert_eq!(t.node_id.as_str(), "n1");
        assert_eq!(t.service_annotations.name, "web");
        assert_eq!(t.spec_version.index, 1);
        assert_eq!(t.status.state, TaskState::Running, "{:?}", t.status);
    }
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn replicas_are_spread_over_the_nodes() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    h.add_node("n2", &[]).await;
    let web = h.create_service(replicated("web", 4)).await;
    h.wait_for("4 running tasks of web", |_| h.running(&web).len() == 4)
        .await;
    let on_n1 = h
        .running(&web)
        .iter()
        .filter(|t| t.node_id.as_str() == "n1")
        .count();
    assert_eq!(on_n1, 2);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn scaling_down_shuts_down_the_highest_slots() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let web = h.create_service(replicated("web", 5)).await;
    h.wait_for("5 running tasks of web", |_| h.running(&web).len() == 5)
        .await;
    h.update_service(&web, |s| s.mode = replicated("web", 2).mode)
        .await;
    h.wait_for("the scaled-away tasks to shut down", |_| {
        h.tasks(&web)
            .iter()
            .filter(|t| t.status.state == TaskState::Shutdown)
            .count()
            == 3
    })
    .await;
    let running: Vec<u64> = h.running(&web).iter().map(|t| t.slot).collect();
    assert_eq!(running, [1, 2]);
    for t in h.tasks(&web).iter().filter(|t| t.slot > 2) {
        assert_eq!(t.desired_state, TaskState::Shutdown);
    }
    h.update_service(&web, |s| s.mode = replicated("web", 4).mode)
        .await;
    h.wait_for("4 running tasks again", |_| h.running(&web).len() == 4)
        .await;
    let running: Vec<u64> = h.running(&web).iter().map(|t| t.slot).collect();
    assert_eq!(running, [1, 2, 3, 4], "scaling up reuses the freed slots");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn changing_the_environment_replaces_each_task_in_its_slot() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let web = h.create_service(replicated("web", 2)).await;
    h.wait_for("2 running tasks", |_| h.running(&web).len() == 2)
        .await;
    let before: Vec<_> = h.running(&web).into_iter().map(|t| t.id).collect();
    h.update_service(&web, |s| {
        if let Some(c) = s
            .task_template
            .as_mut()
            .and_then(|t| t.container_spec.as_mut())
        {
            c.env = Some(vec!["MODE=new".into()]);
        }
    })
    .await;
    h.wait_for("2 running tasks of the new spec", |_| {
        let running = h.running(&web);
        running.len() == 2 && running.iter().all(|t| t.spec_version.index == 2)
    })
    .await;
    let slots: Vec<u64> = h.running(&web).iter().map(|t| t.slot).collect();
    assert_eq!(slots, [1, 2]);
    for id in before {
        let old = h
            .tasks(&web)
            .into_iter()
            .find(|t| t.id == id)
            .expect("old task kept as history");
        assert_eq!(
            (old.desired_state, old.status.state),
            (TaskState::Shutdown, TaskState::Shutdown)
        );
    }
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_scale_change_alone_does_not_restart_tasks() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let web = h.create_service(replicated("web", 1)).await;
    h.wait_for("1 running task", |_| h.running(&web).len() == 1)
        .await;
    let first = h.running(&web)[0].id.clone();
    h.update_service(&web, |s| s.mode = replicated("web", 2).mode)
        .await;
    h.wait_for("2 running tasks", |_| h.running(&web).len() == 2)
        .await;
    assert_eq!(h.running(&web)[0].id, first);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn removing_a_service_removes_its_tasks() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let web = h.create_service(replicated("web", 3)).await;
    h.wait_for("3 running tasks", |_| h.running(&web).len() == 3)
        .await;
    h.delete_service(&web).await;
    h.wait_for("every task of the deleted service to be deleted", |t| {
        t.tasks.find("service", web.as_str()).is_empty()
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_new_task_starts_with_dockers_created_status() {
    let mut h = Harness::start(5).await;
    let web = h.create_service(replicated("web", 1)).await;
    // The scheduler debounces events (up to 1 s), so wait for its verdict, not just the task.
    h.wait_for("a pending task the scheduler found no node for", |_| {
        h.tasks(&web)
            .iter()
            .any(|t| t.status.state == TaskState::Pending && !t.status.err.is_empty())
    })
    .await;
    let TaskStatus { message, err, .. } = h.tasks(&web)[0].status.clone();
    assert_eq!(message, "pending task scheduling");
    assert_eq!(err, "no suitable node", "there are no nodes at all");
    h.add_node("n1", &[]).await;
    h.wait_for("the task to run once a node joined", |_| {
        h.running(&web).len() == 1
    })
    .await;
    h.stop().await;
}
