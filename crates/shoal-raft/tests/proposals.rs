//! Proposals through raft: refusals are committed but change nothing.

mod common;

use common::*;
use shoal_store::StoreError;
use shoal_types::Kind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_proposal_returns_the_store_error_and_changes_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (node, handle) = open(config(dir.path()), sealer()).await?;
    node.initialize_single().await?;
    wait_leader(&node).await?;

    handle
        .update(|tx| tx.create(service("svc-a", "web")))
        .await?;
    let before = handle.store.snapshot();

    // Bypass the transaction's own check so the conflict is found at apply time, in the log.
    let err = handle
        .propose(vec![shoal_store::Action::Create(service("svc-b", "web"))])
        .await
        .expect_err("a second service named web must be refused");
    assert_eq!(
        err,
        StoreError::NameConflict {
            kind: Kind::Service,
            name: "web".into()
        }
    );

    let after = handle.store.snapshot();
    assert_eq!(before.objects, after.objects);
    assert!(
        after.applied_index > before.applied_index,
        "the refused entry is still committed"
    );
    node.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn writes_before_initialisation_report_no_leader() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (node, handle) = open(config(dir.path()), sealer()).await?;
    let err = handle
        .update(|tx| tx.create(task("t1", "x")))
        .await
        .expect_err("no leader yet");
    assert_eq!(err, StoreError::NoLeader);
    node.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_store_with_data_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = std::sync::Arc::new(shoal_store::MemoryStore::new());
    store.note_applied(3);
    let res = shoal_raft::RaftNode::open(
        config(dir.path()),
        store,
        sealer(),
        std::sync::Arc::new(shoal_raft::UnreachableTransport),
    )
    .await;
    assert!(matches!(
        res,
        Err(shoal_raft::RaftError::StoreNotEmpty { applied: 3, .. })
    ));
    Ok(())
}
