//! The [`DispatcherClient`] trait: the agent's side of the session with the dispatcher.
//!
//! `shoal-node` implements it in-process on the leader's dispatcher (and later over the mTLS
//! cluster channel); the messages are `shoal_types::dispatch`'s either way.

use crate::error::SessionError;
use futures::future::BoxFuture;
use shoal_types::NodeId;
use shoal_types::dispatch::{Assignments, HeartbeatResponse, SessionRequest, StatusBatch};
use tokio::sync::mpsc;

/// A connection to the leader's dispatcher.
pub trait DispatcherClient: Send + Sync + 'static {
    /// Opens a session. The receiver yields the node's complete assignment set whenever it
    /// changes (the first one promptly); it closes when the session ends, after which the agent
    /// opens a new one.
    fn session(
        &self,
        request: SessionRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<Assignments>, SessionError>>;

    /// Records observed task states. A failed batch is sent again by the agent.
    fn update_status(&self, batch: StatusBatch) -> BoxFuture<'_, Result<(), SessionError>>;

    /// Keeps the node READY; the answer says when the next heartbeat is due.
    fn heartbeat(
        &self,
        node_id: NodeId,
        session_id: String,
    ) -> BoxFuture<'_, Result<HeartbeatResponse, SessionError>>;
}
