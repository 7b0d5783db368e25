//! The agent's dispatcher client on every node: the leader's dispatcher in this daemon when
//! this node leads (no network), else the cluster channel to whichever manager leads.
//!
//! A session opened locally ends when this node stops leading (the dispatcher is cancelled);
//! the agent then opens a new one, which goes remote. A heartbeat for a local session that
//! reaches the new leader is refused as a stale session, which has the same effect.

use crate::cluster_handler::session_err;
use crate::controllers::DispatcherSlot;
use futures::future::BoxFuture;
use shoal_agent::{DispatcherClient, SessionError};
use shoal_cluster::RemoteDispatcher;
use shoal_manager::Dispatcher;
use shoal_types::NodeId;
use shoal_types::dispatch::{Assignments, HeartbeatResponse, SessionRequest, StatusBatch};
use std::sync::Arc;
use tokio::sync::mpsc;

pub struct LocalDispatcher {
    slot: DispatcherSlot,
    remote: Option<Arc<RemoteDispatcher>>,
}

impl LocalDispatcher {
    /// `remote` is `None` only where no cluster channel exists (tests).
    pub fn new(slot: DispatcherSlot, remote: Option<Arc<RemoteDispatcher>>) -> Self {
        Self { slot, remote }
    }

    fn local(&self) -> Option<Dispatcher> {
        self.slot.read().clone()
    }

    fn remote(&self) -> Result<&RemoteDispatcher, SessionError> {
        self.remote.as_deref().ok_or_else(|| {
            SessionError::Unavailable("no dispatcher: this manager is not the leader".into())
        })
    }
}

impl DispatcherClient for LocalDispatcher {
    fn session(
        &self,
        request: SessionRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<Assignments>, SessionError>> {
        Box::pin(async move {
            match self.local() {
                Some(d) => d.session(request).await.map_err(session_err),
                None => self.remote()?.session(request).await,
            }
        })
    }

    fn update_status(&self, batch: StatusBatch) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            match self.local() {
                Some(d) => d.update_status(batch).await.map_err(session_err),
                None => self.remote()?.update_status(batch).await,
            }
        })
    }

    fn heartbeat(
        &self,
        node_id: NodeId,
        session_id: String,
    ) -> BoxFuture<'_, Result<HeartbeatResponse, SessionError>> {
        Box::pin(async move {
            match self.local() {
                Some(d) => d
                    .heartbeat(&node_id, &session_id)
                    .await
                    .map_err(session_err),
                None => self.remote()?.heartbeat(node_id, session_id).await,
            }
        })
    }
}
