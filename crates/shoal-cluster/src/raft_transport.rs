//! [`ClusterClient`] as openraft's transport between managers: each RPC is a POST to the
//! peer's `/raft/*` endpoint, bounded by the timeout openraft gives.

use std::time::Duration;

use futures::future::BoxFuture;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use shoal_raft::types::{SnapshotData, SnapshotMeta, Vote};
use shoal_raft::{Peer, RaftTransport, TransportError, TypeConfig};

use crate::client::ClusterClient;
use crate::error::ClientError;
use crate::wire::SnapshotRequest;

/// Unreachable (openraft backs off) when no connection could be made; Network (retried soon)
/// for everything that failed after connecting, refusals included.
fn transport_error(peer: &Peer, e: ClientError) -> TransportError {
    let reason = e.to_string();
    match e {
        ClientError::Connect { .. } => TransportError::Unreachable {
            peer: peer.id,
            addr: peer.addr.clone(),
            reason,
        },
        _ => TransportError::Network {
            peer: peer.id,
            addr: peer.addr.clone(),
            reason,
        },
    }
}

impl RaftTransport for ClusterClient {
    fn append_entries(
        &self,
        peer: Peer,
        rpc: AppendEntriesRequest<TypeConfig>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<AppendEntriesResponse<TypeConfig>, TransportError>> {
        Box::pin(async move {
            self.raft_append(&peer.addr, &rpc, timeout)
                .await
                .map_err(|e| transport_error(&peer, e))
        })
    }

    fn vote(
        &self,
        peer: Peer,
        rpc: VoteRequest<TypeConfig>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<VoteResponse<TypeConfig>, TransportError>> {
        Box::pin(async move {
            self.raft_vote(&peer.addr, &rpc, timeout)
                .await
                .map_err(|e| transport_error(&peer, e))
        })
    }

    fn pre_vote(
        &self,
        peer: Peer,
        rpc: VoteRequest<TypeConfig>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<VoteResponse<TypeConfig>, TransportError>> {
        Box::pin(async move {
            self.raft_pre_vote(&peer.addr, &rpc, timeout)
                .await
                .map_err(|e| transport_error(&peer, e))
        })
    }

    fn full_snapshot(
        &self,
        peer: Peer,
        vote: Vote,
        meta: SnapshotMeta,
        data: SnapshotData,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<SnapshotResponse<TypeConfig>, TransportError>> {
        Box::pin(async move {
            let req = SnapshotRequest { vote, meta, data };
            self.raft_snapshot(&peer.addr, &req, timeout)
                .await
                .map_err(|e| transport_error(&peer, e))
        })
    }
}
