//! [`ForwardingProposer`]: store writes from any manager.
//!
//! Only the raft leader can commit. On the leader a proposal goes straight to raft; on a
//! follower it is sent to the leader's `/raft/propose` endpoint, which commits it and answers
//! with the index it was applied at. The follower then waits until its own store has applied
//! that index before answering, so the caller reads its own write (the [`Proposer`] contract).
//!
//! With no leader known, a leader this follower has not heard from for [`QUORUM_GRACE`] (it is
//! cut off from it: a partition), or a leader that cannot be reached, the write fails with
//! [`StoreError::NoLeader`] (Docker's "The swarm does not have a leader…"); nothing retries
//! behind the caller's back, since the proposal may or may not have been committed.
//!
//! While this manager's raft file is out of space ([`RaftNode::no_space`]), every write fails
//! at once with [`StoreError::NoSpace`] naming the data root, and one already waiting to commit
//! fails as soon as the condition is seen (raft keeps it and commits it once space is freed,
//! as with a commit timeout). Writes resume by themselves when a raft write succeeds again.

use futures::future::BoxFuture;
use shoal_cluster::{ClusterClient, ClusterError, ProposeRequest};
use shoal_raft::{NoSpace, RaftNode};
use shoal_store::{MemoryStore, Proposal, Proposer, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a follower waits for its store to apply a write the leader committed. Followers
/// apply within a heartbeat or two; past this the follower is cut off and the caller is told.
pub const APPLY_WAIT: Duration = Duration::from_secs(10);
/// Poll period while waiting for the local apply.
const APPLY_POLL: Duration = Duration::from_millis(5);
/// A leader whose majority has not acknowledged it for this long (the longest election
/// timeout) has lost quorum: it refuses writes at once rather than letting them hang, as
/// SwarmKit's lost-quorum fast-fail does.
pub const QUORUM_GRACE: Duration = Duration::from_millis(shoal_raft::ELECTION_TIMEOUT_MS.1);
/// Longest a leader waits for a proposal to commit before telling the caller there is no
/// leader (the write may still commit later, as with SwarmKit's proposal timeout).
pub const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// Whether this leader heard from a majority of the voters (itself included) recently.
pub fn leader_has_quorum(raft: &RaftNode) -> bool {
    use openraft::Instant as _;
    let m = raft.metrics();
    let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
    let me = raft.node_id();
    if voters == [me] {
        // A sole voter is its own majority (its heartbeat metrics may not exist yet).
        return true;
    }
    let Some(heard) = m.heartbeat.as_ref() else {
        return false;
    };
    let fresh = voters
        .iter()
        .filter(|id| {
            **id == me
                || heard
                    .get(id)
                    .and_then(|t| t.as_ref())
                    .is_some_and(|t| (**t).elapsed() < QUORUM_GRACE)
        })
        .count();
    fresh * 2 > voters.len()
}

/// See the module docs.
pub struct ForwardingProposer {
    pub raft: Arc<RaftNode>,
    pub local: Arc<dyn Proposer>,
    pub client: ClusterClient,
    pub store: Arc<MemoryStore>,
    pub leader_contact: crate::manager::LeaderContact,
    /// The daemon's `--data-root`, named in the out-of-space error.
    pub data_root: PathBuf,
}

/// The error of a write refused because the raft file at `full.file` is out of space.
pub fn no_space_error(data_root: &Path, full: &NoSpace) -> StoreError {
    StoreError::NoSpace {
        data_root: data_root.display().to_string(),
        file: full.file.display().to_string(),
    }
}

impl ForwardingProposer {
    async fn forward(&self, proposal: Proposal) -> Result<u64, StoreError> {
        let Some(mut addr) = leader_addr(&self.raft) else {
            return Err(StoreError::NoLeader);
        };
        let heard = *self.leader_contact.lock();
        if heard.is_none_or(|t| t.elapsed() >= QUORUM_GRACE) {
            tracing::debug!(leader = %addr, "no word from the leader lately; refusing the write");
            return Err(StoreError::NoLeader);
        }
        let req = ProposeRequest { proposal };
        // One redirect: the leader may have changed between our view and the call.
        for _ in 0..2 {
            match self.client.propose(&addr, &req).await {
                Ok(resp) => {
                    let index = resp.result?;
                    self.wait_applied(index).await?;
                    return Ok(index);
                }
                Err(e) => match e.refusal() {
                    Some(ClusterError::NotLeader {
                        leader_addr: Some(next),
                    }) if *next != addr => addr = next.clone(),
                    _ => {
                        tracing::info!(leader = %addr, error = %e, "forwarding a write to the leader failed");
                        return Err(StoreError::NoLeader);
                    }
                },
            }
        }
        Err(StoreError::NoLeader)
    }

    async fn wait_applied(&self, index: u64) -> Result<(), StoreError> {
        let wait = async {
            while self.store.applied_index() < index {
                tokio::time::sleep(APPLY_POLL).await;
            }
        };
        tokio::time::timeout(APPLY_WAIT, wait).await.map_err(|_| {
            StoreError::Internal(format!(
                "the leader committed the write at index {index} but this manager did not apply it within {APPLY_WAIT:?}"
            ))
        })
    }
}

/// The cluster address of the leader this member knows of (`None`: no leader, or itself).
pub fn leader_addr(raft: &RaftNode) -> Option<String> {
    let m = raft.metrics();
    let leader = m.current_leader?;
    m.membership_config
        .membership()
        .get_node(&leader)
        .map(|n| n.addr.clone())
}

impl Proposer for ForwardingProposer {
    fn propose(&self, proposal: Proposal) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut no_space = self.raft.watch_no_space();
            if let Some(full) = no_space.borrow_and_update().as_ref() {
                return Err(no_space_error(&self.data_root, full));
            }
            if self.raft.is_leader() {
                if !leader_has_quorum(&self.raft) {
                    return Err(StoreError::NoLeader);
                }
                let local = tokio::time::timeout(COMMIT_WAIT, self.local.propose(proposal.clone()));
                let full = async {
                    // Resolves with the condition once it is set; never while it is not.
                    let seen = no_space.wait_for(Option::is_some).await.map(|f| f.clone());
                    match seen {
                        Ok(full) => full,
                        Err(_) => std::future::pending().await,
                    }
                };
                let local = tokio::select! {
                    r = local => r,
                    Some(full) = full => return Err(no_space_error(&self.data_root, &full)),
                };
                match local {
                    Err(_) => return Err(StoreError::NoLeader),
                    // Leadership moved while proposing: hand the write to the new leader.
                    Ok(Err(StoreError::NoLeader)) => {}
                    Ok(other) => return other,
                }
            }
            if self.raft.leader_id() == Some(self.raft.node_id()) {
                return Err(StoreError::NoLeader);
            }
            self.forward(proposal).await
        })
    }
}
