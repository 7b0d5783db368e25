//! The dispatcher: the leader's end of every node's session (in-process API; the node crate
//! adapts it to the agent's client trait and, later, to the cluster channel).
//!
//! - [`Dispatcher::session`] registers a node (description, state READY) and returns a stream
//!   of complete assignment sets.
//! - [`Dispatcher::update_status`] applies a batch of observed states, forward-only, for tasks
//!   assigned to that node; all nodes' batches are coalesced into few transactions.
//! - Assignment streams are woken by one store watcher for all sessions (`fanout`).
//! - [`Dispatcher::heartbeat`] keeps the session alive; [`Dispatcher::run`] marks nodes that
//!   miss [`GRACE_MULTIPLIER`] periods DOWN ("heartbeat failure") and ends their sessions.
//!
//! When a dispatcher starts (a new leader), nodes the store says are READY are moved to
//! UNKNOWN and given twice the grace to reconnect, as SwarmKit does.

pub mod assignments;
mod fanout;
mod heartbeat;
mod session;
mod status;

pub use heartbeat::{
    GRACE_MULTIPLIER, HEARTBEAT_FAILURE, UNKNOWN_GRACE_MULTIPLIER, UNKNOWN_MESSAGE,
};
pub use session::DEBOUNCE;

use crate::controller;
use crate::error::{ControllerError, DispatcherError};
use parking_lot::Mutex;
use rand::SeedableRng;
use rand::rngs::StdRng;
use shoal_store::StoreHandle;
use shoal_types::NodeId;
use shoal_types::dispatch::{Assignments, HeartbeatResponse, SessionRequest, StatusBatch};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Assignment sets buffered per session; the agent only needs the latest, so a slow agent
/// holds the stream back rather than queueing stale sets.
pub const ASSIGNMENTS_BUFFER: usize = 4;

/// One node's registration: its live session, or a node from before this dispatcher started
/// that has not reconnected yet (`session_id` is `None`).
#[derive(Debug)]
pub(crate) struct Registration {
    session_id: Option<String>,
    expires: Instant,
    cancel: CancellationToken,
    /// Wakes the session's stream; see [`fanout`].
    changed: Arc<tokio::sync::Notify>,
    /// The networks of the last set sent to the node: the fan-out wakes it when one of
    /// them changes.
    networks: Arc<Mutex<BTreeSet<String>>>,
}

pub(crate) struct Inner {
    store: StoreHandle,
    cancel: CancellationToken,
    nodes: Mutex<HashMap<NodeId, Registration>>,
    streams: Mutex<JoinSet<()>>,
    rng: Mutex<StdRng>,
    /// Becomes true once [`Dispatcher::run`] has moved old READY nodes to UNKNOWN; sessions
    /// wait for it so that step cannot undo their registration.
    started: watch::Sender<bool>,
    /// Wakes the heartbeat monitor when an expiry moved earlier.
    changed: tokio::sync::Notify,
    /// Network views shared by every session ([`assignments::NetViews`]).
    views: Arc<assignments::NetViews>,
    /// Agents' status batches on their way to the status writer ([`status`]).
    status_tx: mpsc::Sender<status::Pending>,
    /// The writer's end; [`Dispatcher::run`] holds it while running.
    status_rx: tokio::sync::Mutex<mpsc::Receiver<status::Pending>>,
}

/// A handle on the dispatcher; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl Dispatcher {
    /// A dispatcher writing through `store`, stopping when `cancel` fires. Sessions are
    /// accepted once [`run`](Self::run) is running.
    pub fn new(store: StoreHandle, cancel: CancellationToken) -> Self {
        let (status_tx, status_rx) = mpsc::channel(status::QUEUE);
        let inner = Inner {
            store,
            cancel,
            nodes: Mutex::new(HashMap::new()),
            streams: Mutex::new(JoinSet::new()),
            rng: Mutex::new(StdRng::from_os_rng()),
            started: watch::Sender::new(false),
            changed: tokio::sync::Notify::new(),
            views: Default::default(),
            status_tx,
            status_rx: tokio::sync::Mutex::new(status_rx),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The heartbeat period from the cluster object (default 5 s).
    pub fn heartbeat_period(&self) -> Duration {
        heartbeat::period(&self.inner.store)
    }

    /// Opens a session for a node: records its description, marks it READY, and returns the
    /// stream of its assignment sets (the first one at once). A node opening a second session
    /// ends its first.
    pub async fn session(
        &self,
        req: SessionRequest,
    ) -> Result<mpsc::Receiver<Assignments>, DispatcherError> {
        let inner = &self.inner;
        let mut started = inner.started.subscribe();
        tokio::select! {
            biased;
            _ = inner.cancel.cancelled() => return Err(DispatcherError::Stopped),
            ok = started.wait_for(|s| *s) => if ok.is_err() { return Err(DispatcherError::Stopped) },
        }
        let node_id = req.node_id.clone();
        let session_id = shoal_types::new_id(&mut *inner.rng.lock());
        let cancel = inner.cancel.child_token();
        let expires = Instant::now() + self.heartbeat_period() * GRACE_MULTIPLIER;
        let changed = Arc::new(tokio::sync::Notify::new());
        let networks = Arc::new(Mutex::new(BTreeSet::new()));
        let registration = Registration {
            session_id: Some(session_id.clone()),
            expires,
            cancel: cancel.clone(),
            changed: changed.clone(),
            networks: networks.clone(),
        };
        if let Some(old) = inner.nodes.lock().insert(node_id.clone(), registration) {
            old.cancel.cancel();
        }
        inner.changed.notify_one();
        if let Err(err) = heartbeat::mark_ready(&inner.store, &req).await {
            self.forget(&node_id, &session_id);
            return Err(err);
        }
        tracing::info!(node.id = %node_id, session = %session_id, "node registered");
        let (tx, rx) = mpsc::channel(ASSIGNMENTS_BUFFER);
        let stream = session::Stream {
            store: inner.store.clone(),
            node_id,
            session_id,
            tx,
            cancel,
            changed,
            networks,
            views: inner.views.clone(),
        };
        let mut streams = inner.streams.lock();
        while streams.try_join_next().is_some() {}
        streams.spawn(stream.run());
        Ok(rx)
    }

    /// Applies an agent's status reports: forward-only, only for tasks assigned to that node.
    /// The reports of all nodes are coalesced into few transactions ([`status`]); this returns
    /// once this batch is committed.
    pub async fn update_status(&self, batch: StatusBatch) -> Result<(), DispatcherError> {
        self.check_session(&batch.node_id, &batch.session_id)?;
        if batch.updates.is_empty() {
            return Ok(());
        }
        let (done, outcome) = tokio::sync::oneshot::channel();
        let pending = status::Pending {
            node_id: batch.node_id,
            updates: batch.updates,
            done,
        };
        if self.inner.status_tx.send(pending).await.is_err() {
            return Err(DispatcherError::Stopped);
        }
        match outcome.await {
            Ok(result) => result.map_err(DispatcherError::from),
            // The writer stopped (leadership lost) before writing this batch.
            Err(_) => Err(DispatcherError::Stopped),
        }
    }

    /// Records a heartbeat and says when the next one is due.
    pub async fn heartbeat(
        &self,
        node_id: &NodeId,
        session_id: &str,
    ) -> Result<HeartbeatResponse, DispatcherError> {
        self.check_session(node_id, session_id)?;
        let period = self.heartbeat_period();
        {
            let mut nodes = self.inner.nodes.lock();
            match nodes.get_mut(node_id) {
                Some(r) if r.session_id.as_deref() == Some(session_id) => {
                    r.expires = Instant::now() + period * GRACE_MULTIPLIER
                }
                _ => return Err(DispatcherError::SessionInvalid(node_id.clone())),
            }
        }
        Ok(HeartbeatResponse {
            period_ms: period.as_millis() as u64,
        })
    }

    fn check_session(&self, node_id: &NodeId, session_id: &str) -> Result<(), DispatcherError> {
        if self.inner.cancel.is_cancelled() {
            return Err(DispatcherError::Stopped);
        }
        match self.inner.nodes.lock().get(node_id) {
            Some(r) if r.session_id.as_deref() == Some(session_id) => Ok(()),
            _ => Err(DispatcherError::SessionInvalid(node_id.clone())),
        }
    }

    /// Drops `node_id`'s registration if it is still `session_id`'s.
    fn forget(&self, node_id: &NodeId, session_id: &str) {
        let mut nodes = self.inner.nodes.lock();
        if nodes
            .get(node_id)
            .is_some_and(|r| r.session_id.as_deref() == Some(session_id))
            && let Some(r) = nodes.remove(node_id)
        {
            r.cancel.cancel();
        }
    }

    /// The heartbeat monitor. Moves READY nodes without a session to UNKNOWN, opens for
    /// sessions, then marks nodes whose registration expired DOWN, until cancelled; then ends
    /// every session stream.
    pub async fn run(&self) -> Result<(), ControllerError> {
        let inner = &self.inner;
        // Subscribed before the monitor opens for sessions, so no stream misses an event.
        let watcher = inner.store.store.watch();
        let mut status_rx = inner.status_rx.lock().await;
        let result = tokio::select! {
            r = self.monitor() => r,
            r = fanout::run(&inner.store, &inner.nodes, &inner.cancel, watcher) => r,
            () = status::run(&inner.store, &mut status_rx, &inner.cancel) => Ok(()),
        };
        drop(status_rx);
        for (_, r) in inner.nodes.lock().drain() {
            r.cancel.cancel();
        }
        let mut streams = std::mem::take(&mut *inner.streams.lock());
        streams.shutdown().await;
        result
    }

    async fn monitor(&self) -> Result<(), ControllerError> {
        let inner = &self.inner;
        loop {
            match heartbeat::mark_unknown(&inner.store, &inner.nodes, self.heartbeat_period()).await
            {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "dispatcher: marking nodes unknown failed; retrying");
                    tokio::select! {
                        biased;
                        _ = inner.cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(controller::RETRY_AFTER) => {}
                    }
                }
            }
        }
        inner.started.send_replace(true);
        let mut failed: Vec<NodeId> = Vec::new();
        loop {
            let now = Instant::now();
            {
                let mut nodes = inner.nodes.lock();
                let expired: Vec<NodeId> = nodes
                    .iter()
                    .filter(|(_, r)| r.expires <= now)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in expired {
                    if let Some(r) = nodes.remove(&id) {
                        r.cancel.cancel();
                        failed.push(id);
                    }
                }
            }
            if !failed.is_empty() {
                match heartbeat::mark_down(&inner.store, &failed).await {
                    Ok(()) => failed.clear(),
                    Err(err) => {
                        tracing::warn!(error = %err, "dispatcher: marking nodes down failed; retrying")
                    }
                }
            }
            let next = inner.nodes.lock().values().map(|r| r.expires).min();
            let wake = if failed.is_empty() {
                next
            } else {
                Some(now + controller::RETRY_AFTER)
            };
            tokio::select! {
                biased;
                _ = inner.cancel.cancelled() => return Ok(()),
                _ = inner.changed.notified() => {}
                _ = controller::sleep_until_opt(wake) => {}
            }
        }
    }
}
