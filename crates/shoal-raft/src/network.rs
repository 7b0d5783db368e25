//! The seam to the cluster channel: [`RaftTransport`] carries raft RPCs to a peer; openraft's
//! network factory is implemented once over it. Single-node clusters use
//! [`UnreachableTransport`]; the HTTP/2-over-mTLS transport plugs in here later, and its server
//! side calls [`RaftNode::handle_append`](crate::RaftNode::handle_append) and friends.

use crate::types::{NodeId, PeerNode, SnapshotData, SnapshotMeta, TypeConfig, Vote};
use futures::future::BoxFuture;
use openraft::OptionalSend;
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The peer an RPC goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: NodeId,
    pub addr: String,
}

/// Why an RPC did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The peer cannot be reached now (connection refused, no route, TLS refused); openraft
    /// backs off before retrying.
    #[error("raft peer {peer} at {addr} is unreachable: {reason}")]
    Unreachable {
        peer: NodeId,
        addr: String,
        reason: String,
    },
    /// The request failed in flight (reset, timeout, bad response); openraft retries soon.
    #[error("raft RPC to peer {peer} at {addr} failed: {reason}")]
    Network {
        peer: NodeId,
        addr: String,
        reason: String,
    },
}

/// Least time an append-entries call is given. openraft bounds appends by a fraction of the
/// heartbeat (150 ms with ours); a batch of a few hundred task writes, encrypted, sent and
/// fsynced on a busy follower can take longer, and an append that always times out is sent
/// again and again while the leader's lease on its followers runs out (seen in
/// `shoal bench agents`: 1,000 nodes, 50,000 tasks on 2 cores). A second is still half the
/// longest election timeout, so a dead follower is noticed as soon.
pub const MIN_APPEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Carries raft RPCs to peers. Implementations must be cancel-safe (openraft drops futures
/// on leadership change) and should bound each call by `timeout`.
pub trait RaftTransport: Send + Sync + 'static {
    fn append_entries(
        &self,
        peer: Peer,
        rpc: AppendEntriesRequest<TypeConfig>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<AppendEntriesResponse<TypeConfig>, TransportError>>;

    fn vote(
        &self,
        peer: Peer,
        rpc: VoteRequest<TypeConfig>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<VoteResponse<TypeConfig>, TransportError>>;

    /// The Pre-Vote round (openraft 0.10): asks whether the peer would grant a vote, without
    /// disturbing its term.
    fn pre_vote(
        &self,
        peer: Peer,
        rpc: VoteRequest<TypeConfig>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<VoteResponse<TypeConfig>, TransportError>>;

    /// Sends a whole snapshot (`data` is the clear JSON of the store snapshot).
    fn full_snapshot(
        &self,
        peer: Peer,
        vote: Vote,
        meta: SnapshotMeta,
        data: SnapshotData,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<SnapshotResponse<TypeConfig>, TransportError>>;
}

/// A transport with no peers: every RPC reports the peer unreachable. Enough for a
/// single-manager cluster, which never sends an RPC.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnreachableTransport;

impl UnreachableTransport {
    fn refuse<T: Send + 'static>(peer: Peer) -> BoxFuture<'static, Result<T, TransportError>> {
        Box::pin(async move {
            Err(TransportError::Unreachable {
                peer: peer.id,
                addr: peer.addr,
                reason: "no raft transport configured".into(),
            })
        })
    }
}

impl RaftTransport for UnreachableTransport {
    fn append_entries(
        &self,
        peer: Peer,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<AppendEntriesResponse<TypeConfig>, TransportError>> {
        Self::refuse(peer)
    }

    fn vote(
        &self,
        peer: Peer,
        _rpc: VoteRequest<TypeConfig>,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<VoteResponse<TypeConfig>, TransportError>> {
        Self::refuse(peer)
    }

    fn pre_vote(
        &self,
        peer: Peer,
        _rpc: VoteRequest<TypeConfig>,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<VoteResponse<TypeConfig>, TransportError>> {
        Self::refuse(peer)
    }

    fn full_snapshot(
        &self,
        peer: Peer,
        _vote: Vote,
        _meta: SnapshotMeta,
        _data: SnapshotData,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<SnapshotResponse<TypeConfig>, TransportError>> {
        Self::refuse(peer)
    }
}

/// openraft's network factory over a [`RaftTransport`].
pub(crate) struct NetworkFactory {
    pub(crate) transport: Arc<dyn RaftTransport>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> PeerClient {
        PeerClient {
            transport: Arc::clone(&self.transport),
            peer: Peer {
                id: target,
                addr: node.addr.clone(),
            },
        }
    }
}

/// One peer's connection as openraft sees it.
pub(crate) struct PeerClient {
    transport: Arc<dyn RaftTransport>,
    peer: Peer,
}

fn rpc_error(e: TransportError) -> RPCError<TypeConfig> {
    match e {
        TransportError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
        TransportError::Network { .. } => RPCError::Network(NetworkError::new(&e)),
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.transport
            .append_entries(
                self.peer.clone(),
                rpc,
                option.hard_ttl().max(MIN_APPEND_TIMEOUT),
            )
            .await
            .map_err(rpc_error)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.transport
            .vote(self.peer.clone(), rpc, option.hard_ttl())
            .await
            .map_err(rpc_error)
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.transport
            .pre_vote(self.peer.clone(), rpc, option.hard_ttl())
            .await
            .map_err(rpc_error)
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let send = self.transport.full_snapshot(
            self.peer.clone(),
            vote,
            snapshot.meta,
            snapshot.snapshot,
            option.hard_ttl(),
        );
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            res = send => res.map_err(|e| match e {
                TransportError::Unreachable { .. } => StreamingError::Unreachable(Unreachable::new(&e)),
                TransportError::Network { .. } => StreamingError::Network(NetworkError::new(&e)),
            }),
        }
    }
}
