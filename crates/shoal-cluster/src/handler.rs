//! [`ClusterHandler`]: what the server side of the cluster channel delegates to.
//!
//! `shoal-node` implements it over the CA, the raft node, the dispatcher and the API; tests
//! use a fake. The server has already authorised every call it makes (see [`crate::auth`]):
//! raft calls come from members of this manager's raft group, proposals and forward calls from
//! current managers in it, dispatcher calls from the node
//! the request names, and `peer` is the verified identity of the caller.

use futures::future::BoxFuture;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use shoal_raft::TypeConfig;
use shoal_types::dispatch::{Assignments, HeartbeatResponse, SessionRequest, StatusBatch};
use shoal_types::{ClusterId, NodeId};
use tokio::sync::mpsc;

use crate::auth::{NodePeer, Standing};
use crate::error::ClusterError;
use crate::wire::{
    AttachmentRequest, AttachmentResponse, ForwardRequest, ForwardResponse, HeartbeatRequest,
    JoinRequest, JoinResponse, NodeStateRequest, NodeStateResponse, ProposeRequest,
    ProposeResponse, RenewRequest, RenewResponse, SnapshotRequest,
};

/// Result of a handler operation.
pub type HandlerResult<'a, T> = BoxFuture<'a, Result<T, ClusterError>>;

/// The operations behind the cluster channel's endpoints. Object-safe; every future must be
/// cancel-safe, since the server drops it when the caller goes away.
pub trait ClusterHandler: Send + Sync + 'static {
    /// This cluster's id; authenticated peers whose certificate O differs are refused.
    fn cluster_id(&self) -> ClusterId;

    /// False for nodes removed from the cluster, whose still-valid certificates must be
    /// refused. Called on every authenticated request, so it must be cheap (a store read).
    fn node_allowed(&self, node_id: &NodeId) -> bool;

    /// What the store and raft membership say, now, about `node_id` (which presented a
    /// manager certificate): see [`Standing`]. Called on every manager-only request, so it
    /// must be cheap.
    fn manager_standing(&self, node_id: &NodeId) -> Standing;

    /// `/join/ca`: the root CA certificate, PEM.
    fn root_ca(&self) -> HandlerResult<'_, String>;

    /// `/join/sign`: check the token, sign the CSR, register the node (and for a manager,
    /// start adding it to raft). A bad token is [`ClusterError::Invalid`] with Docker's message.
    fn join(&self, req: JoinRequest) -> HandlerResult<'_, JoinResponse>;

    /// `/cert/renew`: a new certificate for `peer`, same node id, role from the store.
    fn renew_cert(&self, peer: NodePeer, req: RenewRequest) -> HandlerResult<'_, RenewResponse>;

    /// `/raft/append` (managers only).
    fn raft_append(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> HandlerResult<'_, AppendEntriesResponse<TypeConfig>>;

    /// `/raft/vote` (managers only).
    fn raft_vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> HandlerResult<'_, VoteResponse<TypeConfig>>;

    /// `/raft/pre_vote` (managers only).
    fn raft_pre_vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> HandlerResult<'_, VoteResponse<TypeConfig>>;

    /// `/raft/snapshot` (managers only).
    fn raft_snapshot(
        &self,
        req: SnapshotRequest,
    ) -> HandlerResult<'_, SnapshotResponse<TypeConfig>>;

    /// `/dispatcher/session`: the receiver yields the node's complete assignment set whenever
    /// it changes; the server streams each as one JSON line. Closing the sender ends the
    /// session; the receiver is dropped when the node goes away. `req.node_id` is `peer`'s.
    fn session(
        &self,
        peer: NodePeer,
        req: SessionRequest,
    ) -> HandlerResult<'_, mpsc::Receiver<Assignments>>;

    /// `/dispatcher/status`. `batch.node_id` is `peer`'s; a stale session is
    /// [`ClusterError::Invalid`].
    fn update_status(&self, peer: NodePeer, batch: StatusBatch) -> HandlerResult<'_, ()>;

    /// `/dispatcher/heartbeat`. `req.node_id` is `peer`'s; a stale session is
    /// [`ClusterError::Invalid`].
    fn heartbeat(
        &self,
        peer: NodePeer,
        req: HeartbeatRequest,
    ) -> HandlerResult<'_, HeartbeatResponse>;

    /// `/dispatcher/attachments`: the network attachments of `peer`'s node (`req.node_id` is
    /// `peer`'s). Served by any manager. The default refuses.
    fn attachments(
        &self,
        _peer: NodePeer,
        _req: AttachmentRequest,
    ) -> HandlerResult<'_, AttachmentResponse> {
        Box::pin(async {
            Err(ClusterError::Unavailable(
                "this node does not serve network attachments".into(),
            ))
        })
    }

    /// `/api/forward` (managers only): run an Engine API write on the leader.
    fn forward(&self, peer: NodePeer, req: ForwardRequest) -> HandlerResult<'_, ForwardResponse>;

    /// `/raft/propose` (managers only): commit a follower's store proposal on this leader.
    /// A follower answers [`ClusterError::NotLeader`]. The default refuses (for handlers that
    /// do not forward writes).
    fn propose(&self, _peer: NodePeer, _req: ProposeRequest) -> HandlerResult<'_, ProposeResponse> {
        Box::pin(async {
            Err(ClusterError::Unavailable(
                "this node does not accept proposals".into(),
            ))
        })
    }

    /// `/node/state`: what the cluster wants of `peer` and where the managers are. The
    /// default refuses.
    fn node_state(
        &self,
        _peer: NodePeer,
        _req: NodeStateRequest,
    ) -> HandlerResult<'_, NodeStateResponse> {
        Box::pin(async {
            Err(ClusterError::Unavailable(
                "node state is not served here".into(),
            ))
        })
    }
}
