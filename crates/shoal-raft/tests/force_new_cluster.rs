//! `force_new_cluster` turns a member that lost its quorum into the sole voter of a cluster
//! that keeps its whole store.

mod common;

use common::*;
use openraft::ChangeMembers;
use shoal_raft::{PeerNode, force_new_cluster};
use std::collections::BTreeSet;
use std::time::Duration;

/// A peer that never answers (its address is not listened on).
const LOST_PEER: u64 = 0x5eed_0002;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_quorum_becomes_the_sole_voter_and_keeps_its_store() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let (node, handle) = open(config(dir.path()), sealer()).await?;
    node.initialize_single().await?;
    wait_leader(&node).await?;
    write_tasks(&handle, "kept-", 5).await?;
    // Make the peer a voter: the joint membership {me} + {me, peer} never commits, so the
    // member is left without a quorum, as when the other managers are gone.
    node.raft()
        .add_learner(
            LOST_PEER,
            PeerNode {
                addr: "127.0.0.1:1".into(),
            },
            false,
        )
        .await?;
    let raft = node.raft().clone();
    let stuck = tokio::spawn(async move {
        raft.change_membership(
            ChangeMembers::AddVoterIds(BTreeSet::from([LOST_PEER])),
            false,
        )
        .await
    });
    wait_for(
        "the peer to be a voter of the effective membership",
        Duration::from_secs(5),
        || {
            node.metrics()
                .membership_config
                .membership()
                .voter_ids()
                .any(|id| id == LOST_PEER)
        },
    )
    .await?;
    let before = handle.store.snapshot();
    let write = tokio::time::timeout(Duration::from_secs(2), write_tasks(&handle, "lost-", 1));
    assert!(
        !matches!(write.await, Ok(Ok(_))),
        "a write commits without quorum"
    );
    stuck.abort();
    node.shutdown().await;
    drop(node);
    drop(handle);

    let cfg = config(dir.path());
    let forced = tokio::task::spawn_blocking(move || {
        force_new_cluster(&cfg.dir, sealer(), cfg.node_id, &cfg.addr)
    })
    .await??;

    let (node, handle) = open(config(dir.path()), sealer()).await?;
    wait_leader(&node).await?;
    let voters: Vec<u64> = node
        .metrics()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
    assert_eq!(voters, [NODE_ID]);
    assert!(node.metrics().current_term > forced.term - 1);
    wait_for(
        "the store to hold every write made before the quorum was lost",
        Duration::from_secs(5),
        || {
            let now = handle.store.snapshot();
            before
                .objects
                .iter()
                .all(|o| now.objects.iter().any(|n| n == o))
        },
    )
    .await?;
    write_tasks(&handle, "after-", 3).await?;
    node.shutdown().await;
    Ok(())
}

#[test]
fn a_member_with_no_log_cannot_force_a_new_cluster() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = config(dir.path());
    let err = force_new_cluster(&cfg.dir, sealer(), cfg.node_id, &cfg.addr);
    assert!(err.is_err(), "{err:?}");
    Ok(())
}
