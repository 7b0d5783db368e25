//! The dispatcher's session protocol, against the real controllers.

mod common;

use common::{Harness, replicated};
use shoal_manager::DispatcherError;
use shoal_types::api::NodeState;
use shoal_types::dispatch::{SessionRequest, StatusBatch, StatusUpdate};
use shoal_types::{TaskState, TaskStatus};
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn a_node_that_stops_heartbeating_is_marked_down_and_its_tasks_move() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    h.add_node("n2", &[]).await;
    let web = h.create_service(replicated("web", 2)).await;
    h.wait_for("2 running tasks", |_| h.running(&web).len() == 2)
        .await;
    h.silence("n1");
    h.wait_for("n1 to be down", |t| {
        t.nodes
            .get("n1")
            .is_some_and(|n| n.status.state == Some(NodeState::DOWN))
    })
    .await;
    let n1 = h.store.view(|t| t.nodes.get("n1").cloned()).expect("n1");
    assert_eq!(n1.status.message.as_deref(), Some("heartbeat failure"));
    h.wait_for("both tasks to run on n2", |_| {
        let r = h.running(&web);
        r.len() == 2 && r.iter().all(|t| t.node_id.as_str() == "n2")
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_assignment_set_is_complete_and_follows_desired_state() {
    let h = Harness::start(5).await;
    h.add_bare_node("n9").await;
    let mut rx = h
        .dispatcher
        .session(SessionRequest {
            node_id: "n9".into(),
            description: Default::default(),
            tunnel_key: String::new(),
        })
        .await
        .expect("session");
    let first = rx.recv().await.expect("first assignments");
    assert!(first.tasks.is_empty());
    assert_eq!(first.heartbeat_period_ms, 5_000);
    let web = h.create_service(replicated("web", 2)).await;
    let mut set = first;
    while set.tasks.len() < 2 {
        set = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a new set")
            .expect("open");
    }
    assert!(set.tasks.iter().all(|t| t.status.state == TaskState::Assigned && t.desired_state == TaskState::Running));
    h.dispatcher
        .heartbeat(&"n9".into(), &set.session_id)
        .await
        .expect("heartbeat");
    h.update_service(&web, |s| s.mode = replicated("web", 1).mode)
        .await;
    let next = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a new set")
        .expect("open");
    assert_eq!(next.tasks.len(), 2, "the task to stop is still in the set");
    assert_eq!(
        next.tasks
            .iter()
            .filter(|t| t.desired_state == TaskState::Shutdown)
            .count(),
        1
    );
    let reopened = h
        .dispatcher
        .session(SessionRequest {
            node_id: "n9".into(),
            description: Default::default(),
            tunnel_key: String::new(),
        })
        .await
        .expect("a second session");
    assert!(rx.recv().await.is_none(), "a new session ends the old one");
    drop(reopened);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn status_reports_only_move_forward_and_only_for_the_nodes_own_tasks() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    h.add_node("n2", &[]).await;
    let web = h.create_service(replicated("web", 1)).await;
    h.wait_for("1 running task", |_| h.running(&web).len() == 1)
        .await;
    let task = h.running(&web).remove(0);
    let other = if task.node_id.as_str() == "n1" {
        "n2"
    } else {
        "n1"
    };
    let session = |node: &str| {
        h.sessions
            .lock()
            .get(&shoal_types::NodeId::from(node))
            .cloned()
            .unwrap_or_default()
    };
    let report = |node: &str, state| StatusBatch {
        node_id: node.into(),
        session_id: session(node),
        updates: vec![StatusUpdate {
            task_id: task.id.clone(),
            status: TaskStatus {
                state,
                ..Default::default()
            },
        }],
    };
    h.dispatcher
        .update_status(report(task.node_id.as_str(), TaskState::Starting))
        .await
        .expect("accepted");
    h.dispatcher
        .update_status(report(other, TaskState::Failed))
        .await
        .expect("accepted, ignored");
    let now = h
        .store
        .view(|t| t.tasks.get(task.id.as_str()).cloned())
        .expect("task");
    assert_eq!(now.status.state, TaskState::Running);
    let stale = StatusBatch {
        session_id: "stale".into(),
        ..report(task.node_id.as_str(), TaskState::Failed)
    };
    assert!(matches!(
        h.dispatcher.update_status(stale).await,
        Err(DispatcherError::SessionInvalid(_))
    ));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_unknown_node_cannot_open_a_session() {
    let h = Harness::start(5).await;
    let err = h
        .dispatcher
        .session(SessionRequest {
            node_id: "ghost".into(),
            description: Default::default(),
            tunnel_key: String::new(),
        })
        .await;
    assert!(matches!(err, Err(DispatcherError::NodeNotRegistered(_))));
    h.stop().await;
}
