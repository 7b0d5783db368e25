//! The role manager: a leader-only loop that makes raft membership follow the node objects'
//! desired roles, one membership change at a time, as SwarmKit's `RoleManager`.
//!
//! Each round looks at the committed membership and the store and takes at most one step:
//! - a node that should be a manager and has a raft id and address, but is not a member:
//!   add it as a learner;
//! - a learner that has caught up with the log: promote it to voter;
//! - a member whose node should be a worker: if it is this leader, hand leadership to another
//!   voter first; otherwise remove it from the voters, then clear its raft id and manager
//!   status in the store (the node sees that through `/node/state` and steps down);
//! - a member with no node object (removed with `--force`): remove it.
//!
//! Nothing happens while a membership change is still uncommitted.

use openraft::ChangeMembers;
use shoal_raft::{PeerNode, RaftNode};
use shoal_store::StoreHandle;
use shoal_types::{Node, Object};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Pause between rounds.
pub const ROUND: Duration = Duration::from_millis(500);
/// A learner within this many entries of the leader's log is caught up enough to vote.
pub const CAUGHT_UP_ENTRIES: u64 = 100;

/// What one round decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    AddLearner { id: u64, addr: String },
    Promote(u64),
    TransferLeadership { to: u64 },
    RemoveVoter(u64),
    RemoveLearner(u64),
    ClearRaftId(String),
}

/// Raft's side of the decision.
#[derive(Debug, Clone, Default)]
pub struct Members {
    pub me: u64,
    pub voters: BTreeSet<u64>,
    pub learners: BTreeSet<u64>,
    /// Learner id → how far behind the leader's last log index it is.
    pub lag: BTreeMap<u64, u64>,
}

/// The pure decision of one round (see the module docs).
pub fn plan(members: &Members, nodes: &[Node]) -> Option<Step> {
    let by_raft: BTreeMap<u64, &Node> = nodes
        .iter()
        .filter(|n| n.raft_id != 0)
        .map(|n| (n.raft_id, n))
        .collect();
    for n in nodes.iter().filter(|n| n.is_manager() && n.raft_id != 0) {
        let id = n.raft_id;
        if members.voters.contains(&id) {
            continue;
        }
        if members.learners.contains(&id) {
            if members
                .lag
                .get(&id)
                .is_some_and(|l| *l <= CAUGHT_UP_ENTRIES)
            {
                return Some(Step::Promote(id));
            }
            continue;
        }
        if let Some(addr) = n.manager_status.as_ref().and_then(|m| m.addr.clone()) {
            return Some(Step::AddLearner { id, addr });
        }
    }
    for id in members.voters.iter().chain(&members.learners) {
        let wanted = by_raft.get(id).is_some_and(|n| n.is_manager());
        if wanted {
            continue;
        }
        if *id == members.me {
            let to = members.voters.iter().find(|v| **v != members.me).copied()?;
            return Some(Step::TransferLeadership { to });
        }
        return Some(if members.voters.contains(id) {
            Step::RemoveVoter(*id)
        } else {
            Step::RemoveLearner(*id)
        });
    }
    // Demoted nodes already out of raft: forget their raft id (and the manager status an old
    // manager detached by a forced new cluster still shows).
    nodes
        .iter()
        .find(|n| {
            !n.is_manager()
                && (n.raft_id != 0 || n.manager_status.is_some())
                && !members.voters.contains(&n.raft_id)
                && !members.learners.contains(&n.raft_id)
        })
        .map(|n| Step::ClearRaftId(n.id.to_string()))
}

fn members(raft: &RaftNode) -> Option<Members> {
    let m = raft.metrics();
    if m.membership_config != m.committed_membership_config {
        return None;
    }
    let membership = m.membership_config.membership();
    let last = m.last_log_index.unwrap_or(0);
    let lag = m
        .replication
        .as_ref()
        .map(|r| {
            r.iter()
                .map(|(id, matched)| {
                    let idx = matched.as_ref().map(|l| l.index).unwrap_or(0);
                    (*id, last.saturating_sub(idx))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Members {
        me: raft.node_id(),
        voters: membership.voter_ids().collect(),
        learners: membership.learner_ids().collect(),
        lag,
    })
}

async fn apply(raft: &RaftNode, store: &StoreHandle, step: Step) -> Result<(), String> {
    let r = raft.raft();
    match step {
        Step::AddLearner { id, addr } => r
            .add_learner(id, PeerNode { addr }, false)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Step::Promote(id) => r
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Step::TransferLeadership { to } => r
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| e.to_string()),
        Step::RemoveVoter(id) => r
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Step::RemoveLearner(id) => r
            .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Step::ClearRaftId(node) => store
            .update(|tx| {
                if let Some(mut n) = tx.node(&node) {
                    n.raft_id = 0;
                    n.manager_status = None;
                    tx.update(Object::Node(n))?;
                }
                Ok(())
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

/// Runs rounds until `cancel` fires (leadership lost).
pub async fn run(raft: Arc<RaftNode>, store: StoreHandle, cancel: CancellationToken) {
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(ROUND) => {}
        }
        if !raft.is_leader() {
            continue;
        }
        let Some(members) = members(&raft) else {
            continue;
        };
        let nodes: Vec<Node> = store.view(|t| {
            if t.cluster().is_none() {
                return Vec::new();
            }
            t.nodes.iter().cloned().collect()
        });
        if nodes.is_empty() {
            continue;
        }
        let Some(step) = plan(&members, &nodes) else {
            continue;
        };
        tracing::info!(?step, "role manager: changing raft membership");
        let done = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            r = apply(&raft, &store, step.clone()) => r,
        };
        if let Err(e) = done {
            tracing::warn!(?step, error = %e, "role manager step failed; will retry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::{ManagerStatus, NodeSpecRoleEnum};

    fn node(id: &str, raft: u64, manager: bool) -> Node {
        let mut n = Node {
            id: id.into(),
            raft_id: raft,
            ..Default::default()
        };
        n.spec.role = Some(if manager {
            NodeSpecRoleEnum::MANAGER
        } else {
            NodeSpecRoleEnum::WORKER
        });
        n.manager_status = Some(ManagerStatus {
            addr: Some(format!("{id}:2377")),
            ..Default::default()
        });
        n
    }

    fn members(me: u64, voters: &[u64], learners: &[(u64, u64)]) -> Members {
        Members {
            me,
            voters: voters.iter().copied().collect(),
            learners: learners.iter().map(|l| l.0).collect(),
            lag: learners.iter().copied().collect(),
        }
    }

    #[test]
    fn a_new_manager_is_added_as_learner_then_promoted_when_caught_up() {
        let nodes = [node("a", 1, true), node("b", 2, true)];
        assert_eq!(
            plan(&members(1, &[1], &[]), &nodes),
            Some(Step::AddLearner {
                id: 2,
                addr: "b:2377".into()
            })
        );
        assert_eq!(plan(&members(1, &[1], &[(2, 5000)]), &nodes), None);
        assert_eq!(
            plan(&members(1, &[1], &[(2, 3)]), &nodes),
            Some(Step::Promote(2))
        );
        assert_eq!(plan(&members(1, &[1, 2], &[]), &nodes), None);
    }

    #[test]
    fn demoting_the_leader_hands_leadership_over_first() {
        let nodes = [node("a", 1, false), node("b", 2, true), node("c", 3, true)];
        assert_eq!(
            plan(&members(1, &[1, 2, 3], &[]), &nodes),
            Some(Step::TransferLeadership { to: 2 })
        );
        assert_eq!(
            plan(&members(2, &[1, 2, 3], &[]), &nodes),
            Some(Step::RemoveVoter(1))
        );
        assert_eq!(
            plan(&members(2, &[2, 3], &[]), &nodes),
            Some(Step::ClearRaftId("a".into()))
        );
    }

    #[test]
    fn a_demoted_manager_detached_by_a_forced_new_cluster_loses_its_manager_status() {
        let nodes = [node("a", 1, true), node("b", 0, false)];
        assert_eq!(
            plan(&members(1, &[1], &[]), &nodes),
            Some(Step::ClearRaftId("b".into()))
        );
    }

    #[test]
    fn a_member_without_a_node_is_removed() {
        let nodes = [node("a", 1, true)];
        assert_eq!(
            plan(&members(1, &[1, 9], &[]), &nodes),
            Some(Step::RemoveVoter(9))
        );
    }
}
