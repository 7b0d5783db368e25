//! The update supervisor against the real controllers and fake agents (paused time).

mod common;

use common::{Harness, replicated};
use shoal_types::TaskState;
use shoal_types::api::{ServiceSpecUpdateConfig, ServiceUpdateStatusStateEnum as S};

fn set_env(s: &mut shoal_types::api::ServiceSpec, value: &str) {
    if let Some(c) = s
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
    {
        c.env = Some(vec![format!("V={value}")]);
    }
}

fn status_of(h: &Harness, id: &shoal_types::ServiceId) -> (Option<S>, String) {
    h.store.view(|t| {
        let s = t
            .services
            .get(id.as_str())
            .and_then(|s| s.update_status.clone())
            .unwrap_or_default();
        (s.state, s.message.unwrap_or_default())
    })
}

#[tokio::test(start_paused = true)]
async fn an_update_replaces_every_slot_and_completes() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let web = h.create_service(replicated("web", 3)).await;
    h.wait_for("3 running tasks", |_| h.running(&web).len() == 3)
        .await;
    h.update_service(&web, |s| {
        set_env(s, "2");
        s.update_config = Some(ServiceSpecUpdateConfig {
            parallelism: Some(2),
            monitor: Some(1_000_000_000),
            ..Default::default()
        });
    })
    .await;
    h.wait_for("the update completes", |_| {
        status_of(&h, &web).0 == Some(S::COMPLETED)
    })
    .await;
    assert_eq!(status_of(&h, &web).1, "update completed");
    let running = h.running(&web);
    assert_eq!(running.len(), 3);
    assert!(running.iter().all(|t| t.spec_version.index == 2));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_new_task_pauses_the_update_and_leaves_the_rest_running() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let web = h.create_service(replicated("web", 3)).await;
    h.wait_for("3 running tasks", |_| h.running(&web).len() == 3)
        .await;
    h.update_service(&web, |s| {
        set_env(s, "2");
        // A long delay keeps the second slot untouched while the first task fails.
        s.update_config = Some(ServiceSpecUpdateConfig {
            delay: Some(60_000_000_000),
            ..Default::default()
        });
    })
    .await;
    h.wait_for("a new task runs", |_| {
        h.running(&web).iter().any(|t| t.spec_version.index == 2)
    })
    .await;
    let new = h
        .running(&web)
        .into_iter()
        .find(|t| t.spec_version.index == 2)
        .expect("new task");
    h.report(&new, TaskState::Failed, "started").await;
    h.wait_for("the update pauses", |_| {
        status_of(&h, &web).0 == Some(S::PAUSED)
    })
    .await;
    assert_eq!(
        status_of(&h, &web).1,
        format!(
            "update paused due to failure or early termination of task {}",
            new.id
        )
    );
    let old = h
        .running(&web)
        .into_iter()
        .filter(|t| t.spec_version.index == 1)
        .count();
    assert_eq!(old, 2, "the slots not yet updated keep their tasks");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_global_service_is_updated_node_by_node() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    h.add_node("n2", &[]).await;
    let mon = h.create_service(common::global("mon")).await;
    h.wait_for("one task per node", |_| h.running(&mon).len() == 2)
        .await;
    h.update_service(&mon, |s| set_env(s, "2")).await;
    h.wait_for("the update completes", |_| {
        status_of(&h, &mon).0 == Some(S::COMPLETED)
    })
    .await;
    let running = h.running(&mon);
    assert_eq!(running.len(), 2);
    assert!(running.iter().all(|t| t.spec_version.index == 2));
    let nodes: std::collections::BTreeSet<_> = running.iter().map(|t| t.node_id.clone()).collect();
    assert_eq!(nodes.len(), 2, "still one task on each node");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_new_update_during_an_update_supersedes_it() {
    let mut h = Harness::start(5).await;
    h.add_node("n1", &[]).await;
    let web = h.create_service(replicated("web", 4)).await;
    h.wait_for("4 running tasks", |_| h.running(&web).len() == 4)
        .await;
    let slow = ServiceSpecUpdateConfig {
        delay: Some(30_000_000_000),
        monitor: Some(1_000_000_000),
        ..Default::default()
    };
    h.update_service(&web, |s| {
        set_env(s, "2");
        s.update_config = Some(slow.clone());
    })
    .await;
    h.wait_for("the first slot on v2", |_| {
        h.running(&web).iter().any(|t| t.spec_version.index == 2)
    })
    .await;
    h.update_service(&web, |s| {
        set_env(s, "3");
        s.update_config = Some(ServiceSpecUpdateConfig {
            parallelism: Some(0),
            monitor: Some(1_000_000_000),
            ..Default::default()
        });
    })
    .await;
    h.wait_for("every slot on v3 and the update completed", |_| {
        let running = h.running(&web);
        running.len() == 4
            && running.iter().all(|t| t.spec_version.index == 3)
            && status_of(&h, &web).0 == Some(S::COMPLETED)
    })
    .await;
    let slots: Vec<u64> = h.running(&web).iter().map(|t| t.slot).collect();
    assert_eq!(slots, [1, 2, 3, 4], "one task per slot");
    h.stop().await;
}
