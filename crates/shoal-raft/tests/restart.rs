//! A restarted node rebuilds exactly the store it had, from snapshot plus committed log.

mod common;

use common::*;
use shoal_raft::RaftConfig;

#[tokio::test]
async fn a_restarted_node_rebuilds_the_same_store() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (node, handle) = open(config(dir.path()), sealer()).await?;
    assert!(!node.is_initialized());
    node.initialize_single().await?;
    wait_leader(&node).await?;
    assert!(node.is_initialized());
    assert_eq!(node.leader_id(), Some(NODE_ID));

    let last = write_tasks(&handle, "task-", 20).await?;
    assert_eq!(
        handle.store.applied_index(),
        last,
        "propose returns after the local apply"
    );
    let before = handle.store.snapshot();
    node.shutdown().await;
    drop(node);
    drop(handle);

    let started = std::time::Instant::now();
    let (node, handle) = open(config(dir.path()), sealer()).await?;
    wait_leader(&node).await?;
    // A sole voter must not wait out an election timeout (1-2 s) after a restart.
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "leader after {:?}",
        started.elapsed()
    );
    wait_for(
        "replay of the committed log",
        std::time::Duration::from_secs(5),
        || handle.store.applied_index() >= before.applied_index,
    )
    .await?;
    let after = handle.store.snapshot();
    assert_eq!(before.objects, after.objects);
    // The store keeps working after a restart.
    write_tasks(&handle, "again-", 3).await?;
    node.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_restart_after_a_snapshot_restores_it_and_replays_the_rest() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = RaftConfig {
        snapshot_interval: 25,
        keep_entries_after_snapshot: 5,
        ..config(dir.path())
    };
    let (node, handle) = open(cfg.clone(), sealer()).await?;
    node.initialize_single().await?;
    wait_leader(&node).await?;
    write_tasks(&handle, "t", 60).await?;
    wait_for("a snapshot", std::time::Duration::from_secs(10), || {
        node.metrics().snapshot.is_some()
    })
    .await?;
    wait_for("a purge", std::time::Duration::from_secs(10), || {
        node.metrics().purged.is_some()
    })
    .await?;
    let before = handle.store.snapshot();
    node.shutdown().await;
    drop((node, handle));

    let (node, handle) = open(cfg, sealer()).await?;
    wait_leader(&node).await?;
    wait_for(
        "replay after the snapshot",
        std::time::Duration::from_secs(5),
        || handle.store.applied_index() >= before.applied_index,
    )
    .await?;
    assert_eq!(before.objects, handle.store.snapshot().objects);
    assert_eq!(before.objects.len(), 60);
    node.shutdown().await;
    Ok(())
}
