//! [`NodeHandler`]: the server side of the cluster channel on a manager.
//!
//! - Raft RPCs go to this manager's [`RaftNode`]; `/raft/propose` commits a follower's write
//!   when this manager leads, and answers `NotLeader { leader_addr }` otherwise.
//! - Dispatcher calls go to the leader's [`Dispatcher`](shoal_manager::Dispatcher) in the
//!   [`DispatcherSlot`]; a follower answers `NotLeader` so the agent follows the redirect.
//! - Join, renewal and node-state are in [`crate::join_handler`]; they read the cluster object
//!   (tokens, root key) from this manager's store and write through its store handle, which
//!   forwards to the leader.
//! - A peer is allowed while its node object exists. A manager whose store has not received
//!   the cluster yet (it is joining) allows every certificate of its cluster, or the leader
//!   could never replicate to it.
//! - A manager certificate stands for a manager only while the store and this manager's raft
//!   membership agree ([`Standing`]): desired role manager, raft id in the membership.

use crate::controllers::DispatcherSlot;
use crate::forward::leader_addr;
use crate::manager::ManagerRuntime;
use crate::tls::NodeTls;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use shoal_agent::SessionError;
use shoal_cluster::{
    AttachmentRequest, AttachmentResponse, ClusterError, ClusterHandler, ForwardRequest,
    ForwardResponse, HandlerResult, HeartbeatRequest, JoinRequest, JoinResponse, NodePeer,
    NodeStateRequest, NodeStateResponse, ProposeRequest, ProposeResponse, RenewRequest,
    RenewResponse, SnapshotRequest, Standing,
};
use shoal_manager::{Dispatcher, DispatcherError};
use shoal_raft::TypeConfig;
use shoal_types::dispatch::{Assignments, HeartbeatResponse, SessionRequest, StatusBatch};
use shoal_types::{ClusterId, NodeId};
use std::sync::Arc;
use tokio::sync::mpsc;

/// See the module docs.
pub struct NodeHandler {
    pub cluster_id: ClusterId,
    pub runtime: Arc<ManagerRuntime>,
    pub tls: Arc<NodeTls>,
    pub dispatcher: DispatcherSlot,
}

impl NodeHandler {
    fn not_leader(&self) -> ClusterError {
        if self.runtime.raft.is_leader() {
            // Leading, but the controllers are not up yet (or just stopped).
            return ClusterError::Unavailable("the leader's dispatcher is starting".into());
        }
        ClusterError::NotLeader {
            leader_addr: leader_addr(&self.runtime.raft),
        }
    }

    fn dispatcher(&self) -> Result<Dispatcher, ClusterError> {
        self.dispatcher
            .read()
            .clone()
            .ok_or_else(|| self.not_leader())
    }
}

fn raft_err(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Unavailable(format!("raft: {e}"))
}

fn dispatcher_err(e: DispatcherError) -> ClusterError {
    match e {
        DispatcherError::NodeNotRegistered(n) => {
            ClusterError::Forbidden(format!("node {n} has been removed from the swarm"))
        }
        DispatcherError::SessionInvalid(n) => {
            ClusterError::Invalid(format!("session of node {n} is invalid"))
        }
        DispatcherError::Stopped => ClusterError::Unavailable("dispatcher is stopped".into()),
        DispatcherError::Store(e) => ClusterError::Unavailable(e.to_string()),
    }
}

/// The agent-side error for a dispatcher error (used by the in-process client too).
pub fn session_err(e: DispatcherError) -> SessionError {
    match e {
        DispatcherError::NodeNotRegistered(node) => SessionError::Refused {
            node: node.to_string(),
            reason: "node is not registered".into(),
        },
        DispatcherError::SessionInvalid(node) => SessionError::InvalidSession(node.to_string()),
        other => SessionError::Unavailable(other.to_string()),
    }
}

impl ClusterHandler for NodeHandler {
    fn cluster_id(&self) -> ClusterId {
        self.cluster_id.clone()
    }

    fn node_allowed(&self, node_id: &NodeId) -> bool {
        self.runtime
            .store
            .view(|t| t.cluster().is_none() || t.nodes.get(node_id.as_str()).is_some())
    }

    fn manager_standing(&self, node_id: &NodeId) -> Standing {
        let node = self.runtime.store.view(|t| {
            t.cluster().map(|_| {
                t.nodes
                    .get(node_id.as_str())
                    .map(|n| (n.is_manager(), n.raft_id))
            })
        });
        let Some(node) = node else {
            return Standing::Unknown;
        };
        let Some((manager, raft_id)) = node else {
            return Standing::Known {
                manager: false,
                raft_member: false,
            };
        };
        let raft_member = raft_id != 0
            && self
                .runtime
                .raft
                .metrics()
                .membership_config
                .membership()
                .nodes()
                .any(|(id, _)| *id == raft_id);
        Standing::Known {
            manager,
            raft_member,
        }
    }

    fn root_ca(&self) -> HandlerResult<'_, String> {
        // From the store when it has the cluster, so a joining node gets the roots its token
        // pins even while this manager's own trust lags a rotation by a poll.
        Box::pin(async move {
            Ok(self
                .runtime
                .store
                .view(|t| t.cluster().map(|c| c.root_ca.trust_bundle()))
                .unwrap_or_else(|| self.tls.root_pem()))
        })
    }

    fn join(&self, req: JoinRequest) -> HandlerResult<'_, JoinResponse> {
        Box::pin(crate::join_handler::join(self, req))
    }

    fn renew_cert(&self, peer: NodePeer, req: RenewRequest) -> HandlerResult<'_, RenewResponse> {
        Box::pin(crate::join_handler::renew(self, peer, req))
    }

    fn node_state(
        &self,
        peer: NodePeer,
        req: NodeStateRequest,
    ) -> HandlerResult<'_, NodeStateResponse> {
        Box::pin(crate::join_handler::node_state(self, peer, req))
    }

    fn raft_append(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> HandlerResult<'_, AppendEntriesResponse<TypeConfig>> {
        Box::pin(async move {
            let resp = self
                .runtime
                .raft
                .handle_append(rpc)
                .await
                .map_err(raft_err)?;
            if !matches!(resp, AppendEntriesResponse::HigherVote(_)) {
                *self.runtime.leader_contact.lock() = Some(std::time::Instant::now());
            }
            Ok(resp)
        })
    }

    fn raft_vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> HandlerResult<'_, VoteResponse<TypeConfig>> {
        Box::pin(async move { self.runtime.raft.handle_vote(rpc).await.map_err(raft_err) })
    }

    fn raft_pre_vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> HandlerResult<'_, VoteResponse<TypeConfig>> {
        Box::pin(async move {
            self.runtime
                .raft
                .handle_pre_vote(rpc)
                .await
                .map_err(raft_err)
        })
    }

    fn raft_snapshot(
        &self,
        req: SnapshotRequest,
    ) -> HandlerResult<'_, SnapshotResponse<TypeConfig>> {
        Box::pin(async move {
            self.runtime
                .raft
                .handle_snapshot(req.vote, req.meta, req.data)
                .await
                .map_err(raft_err)
        })
    }

    fn propose(&self, _peer: NodePeer, req: ProposeRequest) -> HandlerResult<'_, ProposeResponse> {
        Box::pin(async move {
            if !self.runtime.raft.is_leader() {
                return Err(self.not_leader());
            }
            if !crate::forward::leader_has_quorum(&self.runtime.raft) {
                return Ok(ProposeResponse {
                    result: Err(shoal_store::StoreError::NoLeader),
                });
            }
            let propose = self.runtime.raft.proposer();
            let result =
                tokio::time::timeout(crate::forward::COMMIT_WAIT, propose.propose(req.proposal))
                    .await
                    .unwrap_or(Err(shoal_store::StoreError::NoLeader));
            Ok(ProposeResponse { result })
        })
    }

    fn session(
        &self,
        _peer: NodePeer,
        req: SessionRequest,
    ) -> HandlerResult<'_, mpsc::Receiver<Assignments>> {
        Box::pin(async move {
            self.dispatcher()?
                .session(req)
                .await
                .map_err(dispatcher_err)
        })
    }

    fn update_status(&self, _peer: NodePeer, batch: StatusBatch) -> HandlerResult<'_, ()> {
        Box::pin(async move {
            self.dispatcher()?
                .update_status(batch)
                .await
                .map_err(dispatcher_err)
        })
    }

    fn heartbeat(
        &self,
        _peer: NodePeer,
        req: HeartbeatRequest,
    ) -> HandlerResult<'_, HeartbeatResponse> {
        Box::pin(async move {
            self.dispatcher()?
                .heartbeat(&req.node_id, &req.session_id)
                .await
                .map_err(dispatcher_err)
        })
    }

    fn attachments(
        &self,
        _peer: NodePeer,
        req: AttachmentRequest,
    ) -> HandlerResult<'_, AttachmentResponse> {
        // Any manager serves them: its store writes reach the leader.
        Box::pin(
            async move { Ok(crate::attachments::serve_remote(&self.runtime.control, req).await) },
        )
    }

    fn forward(&self, _peer: NodePeer, _req: ForwardRequest) -> HandlerResult<'_, ForwardResponse> {
        // Followers forward store proposals (`/raft/propose`), not whole API requests.
        Box::pin(async {
            Err(ClusterError::Unavailable(
                "API forwarding is done with /raft/propose".into(),
            ))
        })
    }
}
