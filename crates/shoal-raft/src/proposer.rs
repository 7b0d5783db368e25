//! [`shoal_store::Proposer`] over raft: a write is committed through `client_write` and
//! returns once this node's state machine applied it.

use crate::state_machine::StateMachine;
use crate::types::{Request, TypeConfig};
use futures::future::BoxFuture;
use openraft::Raft;
use openraft::error::{ClientWriteError, RaftError};
use shoal_store::{Proposal, Proposer, StoreError};

/// Proposes through the local raft node. Only the leader can commit: on a follower, or while
/// no leader is elected, `propose` returns [`StoreError::NoLeader`] and the caller forwards the
/// write to the leader or retries.
pub struct RaftProposer {
    pub(crate) raft: Raft<TypeConfig, StateMachine>,
}

impl Proposer for RaftProposer {
    /// `Ok(index)` only after the local store applied `index` (openraft answers a client write
    /// from the state machine's apply). A refused proposal is committed too, and returns the
    /// store's error with the store unchanged.
    fn propose(&self, proposal: Proposal) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            match self
                .raft
                .client_write(Request(std::sync::Arc::new(proposal)))
                .await
            {
                Ok(resp) => resp.data.0.map(|()| resp.log_id.index),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                    Err(StoreError::NoLeader)
                }
                Err(RaftError::APIError(e)) => {
                    Err(StoreError::Internal(format!("raft write failed: {e}")))
                }
                Err(RaftError::Fatal(openraft::error::Fatal::Stopped)) => Err(StoreError::Shutdown),
                Err(RaftError::Fatal(e)) => Err(StoreError::Internal(format!("raft stopped: {e}"))),
            }
        })
    }
}
