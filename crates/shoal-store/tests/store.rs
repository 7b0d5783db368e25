//! Scenarios for the store without raft: transactions, indexes, versions, watches, snapshots.

use shoal_store::{
    Action, EventKind, LocalProposer, MemoryStore, Proposal, StoreError, StoreHandle, WatchError,
};
use shoal_types::api::ServiceSpec;
use shoal_types::{Kind, Object, Service, ServiceId, Task, TaskId};
use std::sync::Arc;

fn handle() -> StoreHandle {
    let store = Arc::new(MemoryStore::new());
    let proposer = Arc::new(LocalProposer::new(store.clone()));
    StoreHandle::new(store, proposer)
}

fn service(id: &str, name: &str) -> Service {
    Service {
        id: ServiceId::from(id),
        spec: ServiceSpec {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn task(id: &str, service: &str, slot: u64) -> Task {
    Task {
        id: TaskId::from(id),
        service_id: ServiceId::from(service),
        slot,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_created_object_gets_the_index_as_version_and_timestamps() {
    let h = handle();
    let (_, index) = h
        .update(|tx| tx.create(Object::Service(service("s1", "web"))))
        .await
        .unwrap();
    let svc = h.view(|t| t.services.get("s1").cloned()).unwrap();
    assert_eq!(svc.meta.version.index, index);
    assert!(!svc.meta.created_at.is_empty());
    assert_eq!(svc.meta.created_at, svc.meta.updated_at);
    assert_eq!(
        h.view(|t| t.services.by_name("web").map(|s| s.id.clone())),
        Some(ServiceId::from("s1"))
    );
}

#[tokio::test]
async fn duplicate_names_are_refused_and_change_nothing() {
    let h = handle();
    h.update(|tx| tx.create(Object::Service(service("s1", "web"))))
        .await
        .unwrap();
    let err = h
        .update(|tx| tx.create(Object::Service(service("s2", "web"))))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::NameConflict {
            kind: Kind::Service,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "name conflicts with an existing object: service web already exists"
    );
    assert_eq!(h.view(|t| t.services.len()), 1);
}

#[tokio::test]
async fn a_stale_version_is_out_of_sequence() {
    let h = handle();
    h.update(|tx| tx.create(Object::Service(service("s1", "web"))))
        .await
        .unwrap();
    let stale = h.view(|t| t.services.get("s1").cloned()).unwrap();
    let mut first = stale.clone();
    first.spec.labels = Some([("a".to_string(), "1".to_string())].into());
    h.update(|tx| tx.update(Object::Service(first)))
        .await
        .unwrap();
    let err = h
        .update(|tx| tx.update(Object::Service(stale)))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "update out of sequence");
}

#[tokio::test]
async fn a_batch_applies_all_or_nothing() {
    let h = handle();
    h.update(|tx| tx.create(Object::Service(service("s1", "web"))))
        .await
        .unwrap();
    // Built by hand so the transaction's own checks do not catch it first.
    let bad = Proposal {
        actions: vec![
            Action::Create(Object::Task(task("t1", "s1", 1))),
            Action::Create(Object::Service(service("s2", "web"))),
        ],
        timestamp: String::new(),
    };
    let err = h.store.apply(99, &bad).unwrap_err();
    assert!(matches!(err, StoreError::NameConflict { .. }));
    assert!(
        h.view(|t| t.tasks.get("t1").is_none()),
        "the first action must not have applied"
    );
}

#[tokio::test]
async fn secondary_indexes_follow_updates_and_deletes() {
    let h = handle();
    h.update(|tx| {
        tx.create(Object::Task(task("t1", "s1", 1)))?;
        tx.create(Object::Task(task("t2", "s1", 2)))?;
        tx.create(Object::Task(task("t3", "s2", 1)))
    })
    .await
    .unwrap();
    assert_eq!(h.view(|t| t.tasks.find("service", "s1").len()), 2);
    let mut t1 = h.view(|t| t.tasks.get("t1").cloned()).unwrap();
    t1.node_id = "n1".into();
    h.update(|tx| tx.update(Object::Task(t1))).await.unwrap();
    assert_eq!(h.view(|t| t.tasks.find("node", "n1").len()), 1);
    h.update(|tx| tx.delete(Kind::Task, "t1")).await.unwrap();
    assert_eq!(h.view(|t| t.tasks.find("node", "n1").len()), 0);
    assert_eq!(h.view(|t| t.tasks.find("service", "s1").len()), 1);
    assert_eq!(h.view(|t| t.tasks.with_prefix("t").len()), 2);
}

#[tokio::test]
async fn two_writes_to_one_object_in_a_transaction_make_one_action() {
    let h = handle();
    h.update(|tx| tx.create(Object::Service(service("s1", "web"))))
        .await
        .unwrap();
    h.update(|tx| {
        let mut s = tx.service("s1").unwrap();
        s.spec.labels = Some([("a".to_string(), "1".to_string())].into());
        tx.update(Object::Service(s))?;
        let mut s = tx.service("s1").unwrap();
        s.spec.labels = Some([("a".to_string(), "2".to_string())].into());
        tx.update(Object::Service(s))
    })
    .await
    .unwrap();
    let labels = h
        .view(|t| t.services.get("s1").and_then(|s| s.spec.labels.clone()))
        .unwrap();
    assert_eq!(labels.get("a").map(String::as_str), Some("2"));
}

#[tokio::test]
async fn watchers_see_created_updated_deleted_in_order() {
    let h = handle();
    let mut w = h.store.watch();
    h.update(|tx| tx.create(Object::Service(service("s1", "web"))))
        .await
        .unwrap();
    let mut s = h.view(|t| t.services.get("s1").cloned()).unwrap();
    s.spec.labels = Some(Default::default());
    h.update(|tx| tx.update(Object::Service(s))).await.unwrap();
    h.update(|tx| tx.delete(Kind::Service, "s1")).await.unwrap();
    let kinds: Vec<EventKind> = [w.recv().await, w.recv().await, w.recv().await]
        .into_iter()
        .map(|e| e.unwrap().kind)
        .collect();
    assert_eq!(
        kinds,
        vec![EventKind::Created, EventKind::Updated, EventKind::Deleted]
    );
}

#[tokio::test]
async fn a_lagging_watcher_is_dropped_and_must_resync() {
    let h = handle();
    let mut w = h.store.watch();
    for i in 0..(shoal_store::store::WATCH_BUFFER + 10) {
        h.update(|tx| tx.create(Object::Task(task(&format!("t{i}"), "s", 1))))
            .await
            .unwrap();
    }
    assert_eq!(w.recv().await.unwrap_err(), WatchError::Lagged);
    assert_eq!(
        w.recv().await.unwrap_err(),
        WatchError::Lagged,
        "stays dead until resubscribed"
    );
}

#[tokio::test]
async fn snapshot_and_restore_give_the_same_tables() {
    let h = handle();
    h.update(|tx| {
        tx.create(Object::Service(service("s1", "web")))?;
        tx.create(Object::Task(task("t1", "s1", 1)))
    })
    .await
    .unwrap();
    let snap = h.store.snapshot();
    let other = MemoryStore::new();
    other.restore(snap.clone());
    assert_eq!(other.snapshot(), snap);
    assert!(other.view(|t| t.services.by_name("web").is_some()));
    assert_eq!(other.view(|t| t.tasks.find("service", "s1").len()), 1);
}
