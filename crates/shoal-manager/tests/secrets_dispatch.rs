//! Issue 6, distribution: the dispatcher sends a node only the secrets and configs its own
//! tasks reference, and stops sending them when its last such task is gone.

mod common;

use common::{Harness, replicated, with_constraints};
use shoal_types::api::{TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets};
use shoal_types::dispatch::{Assignments, SessionRequest};
use shoal_types::{Object, Secret};
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

async fn session(h: &Harness, node: &str) -> Receiver<Assignments> {
    h.add_bare_node(node).await;
    h.dispatcher
        .session(SessionRequest {
            node_id: node.into(),
            description: Default::default(),
            tunnel_key: String::new(),
        })
        .await
        .expect("session")
}

/// The next set satisfying `cond`, failing after 10 s (paused time).
async fn next_where(
    rx: &mut Receiver<Assignments>,
    what: &str,
    cond: impl Fn(&Assignments) -> bool,
) -> Assignments {
    loop {
        let set = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("session open");
        if cond(&set) {
            return set;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn only_the_node_running_a_task_gets_its_secret_and_drops_it_with_the_task() {
    let h = Harness::start(5).await;
    let mut n1 = session(&h, "n1").await;
    let mut n2 = session(&h, "n2").await;
    let mut secret = Secret {
        id: "sec1".into(),
        ..Default::default()
    };
    secret.spec.name = Some("db".into());
    secret.spec.data = Some("UEFZTE9BRA==".into());
    h.store
        .update(|tx| tx.create(Object::Secret(secret)))
        .await
        .expect("create secret");
    let mut spec = with_constraints(replicated("web", 1), &["node.id==n1"]);
    if let Some(cs) = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
    {
        cs.secrets = Some(vec![TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some("db".into()),
                ..Default::default()
            }),
            secret_id: Some("sec1".into()),
            secret_name: Some("db".into()),
        }]);
    }
    let web = h.create_service(spec).await;

    let set = next_where(&mut n1, "n1's task", |s| !s.tasks.is_empty()).await;
    let ids: Vec<&str> = set.secrets.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["sec1"], "n1 runs the task and gets its secret");
    assert_eq!(set.secrets[0].spec.data.as_deref(), Some("UEFZTE9BRA=="));

    while let Ok(Some(other)) = tokio::time::timeout(Duration::from_secs(2), n2.recv()).await {
        assert!(
            other.secrets.is_empty(),
            "n2 runs no task using it and never receives it"
        );
    }

    h.delete_service(&web).await;
    let set = next_where(&mut n1, "the task to be stopped", |s| {
        s.tasks
            .iter()
            .all(|t| t.desired_state > shoal_types::TaskState::Running)
    })
    .await;
    assert!(
        set.secrets.is_empty(),
        "the secret goes with the last task needing it"
    );
    h.stop().await;
}
