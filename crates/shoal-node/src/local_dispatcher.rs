//! The agent's dispatcher client when the dispatcher runs in the same daemon: the same session
//! protocol as a remote node, without the network.

use crate::controllers::DispatcherSlot;
use futures::future::BoxFuture;
use shoal_agent::{DispatcherClient, SessionError};
use shoal_manager::{Dispatcher, DispatcherError};
use shoal_types::NodeId;
use shoal_types::dispatch::{Assignments, HeartbeatResponse, SessionRequest, StatusBatch};
use tokio::sync::mpsc;

pub struct LocalDispatcher {
    slot: DispatcherSlot,
}

impl LocalDispatcher {
    pub fn new(slot: DispatcherSlot) -> Self {
        Self { slot }
    }

    fn current(&self) -> Result<Dispatcher, SessionError> {
        self.slot.read().clone().ok_or_else(|| {
            SessionError::Unavailable("no dispatcher: this manager is not the leader".into())
        })
    }
}

fn map_err(e: DispatcherError) -> SessionError {
    match e {
        DispatcherError::NodeNotRegistered(node) => SessionError::Refused {
            node: node.to_string(),
            reason: "node is not registered".into(),
        },
        DispatcherError::SessionInvalid(node) => SessionError::InvalidSession(node.to_string()),
        other => SessionError::Unavailable(other.to_string()),
    }
}

impl DispatcherClient for LocalDispatcher {
    fn session(
        &self,
        request: SessionRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<Assignments>, SessionError>> {
        Box::pin(async move { self.current()?.session(request).await.map_err(map_err) })
    }

    fn update_status(&self, batch: StatusBatch) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move { self.current()?.update_status(batch).await.map_err(map_err) })
    }

    fn heartbeat(
        &self,
        node_id: NodeId,
        session_id: String,
    ) -> BoxFuture<'_, Result<HeartbeatResponse, SessionError>> {
        Box::pin(async move {
            self.current()?
                .heartbeat(&node_id, &session_id)
                .await
                .map_err(map_err)
        })
    }
}
