//! [`RemoteDispatcher`]: the agent's [`DispatcherClient`] over the cluster channel.
//!
//! The dispatcher runs on the leader only. Each call goes first to the last manager that
//! answered as leader, follows `NotLeader { leader_addr }` redirects (at most
//! [`MAX_REDIRECTS`] per call), and on connection errors moves on through the other known
//! managers, starting from a rotating position so a dead manager is not always tried first.
//! A session's stream is read by a task owned by the dispatcher client, which feeds a bounded
//! channel and closes it when the stream ends; the agent then opens a new session.

use std::collections::VecDeque;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use shoal_agent::DispatcherClient;
use shoal_agent::SessionError;
use shoal_types::NodeId;
use shoal_types::dispatch::{Assignments, HeartbeatResponse, SessionRequest, StatusBatch};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::client::ClusterClient;
use crate::error::{ClientError, ClusterError};
use crate::session_stream::SessionStream;
use crate::wire::{AttachmentRequest, AttachmentResponse, HeartbeatRequest};

/// Redirects followed within one call; more means leadership is flapping, so give up and let
/// the agent's backoff retry.
pub const MAX_REDIRECTS: usize = 3;
/// Assignment sets buffered between the stream reader and the agent. Each set is complete, so
/// a small buffer suffices; the reader waits (and the server's stream with it) when full.
pub const SESSION_CHANNEL_CAPACITY: usize = 4;

/// See the module docs.
pub struct RemoteDispatcher {
    client: ClusterClient,
    managers: Mutex<Vec<String>>,
    /// The manager that last answered as leader (or that a redirect named).
    leader: Mutex<Option<String>>,
    /// Where the next walk through `managers` starts; advanced past unreachable managers.
    cursor: Mutex<usize>,
    readers: Mutex<JoinSet<()>>,
    cancel: CancellationToken,
}

impl RemoteDispatcher {
    /// A dispatcher client over `managers` (cluster addresses). Session readers stop when
    /// `cancel` fires or this value is dropped.
    pub fn new(client: ClusterClient, managers: Vec<String>, cancel: CancellationToken) -> Self {
        Self {
            client,
            managers: Mutex::new(managers),
            leader: Mutex::new(None),
            cursor: Mutex::new(0),
            readers: Mutex::new(JoinSet::new()),
            cancel,
        }
    }

    /// Replace the known manager addresses (from a join answer or the node list).
    pub fn set_managers(&self, managers: Vec<String>) {
        *self.managers.lock() = managers;
        *self.cursor.lock() = 0;
    }

    pub fn managers(&self) -> Vec<String> {
        self.managers.lock().clone()
    }

    /// The manager believed to lead, if any.
    pub fn leader_hint(&self) -> Option<String> {
        self.leader.lock().clone()
    }

    /// The order to try managers in: the leader hint, then the others from the cursor on.
    fn candidates(&self) -> VecDeque<String> {
        let managers = self.managers.lock().clone();
        let start = match managers.len() {
            0 => 0,
            n => *self.cursor.lock() % n,
        };
        let mut order: VecDeque<String> = self.leader.lock().iter().cloned().collect();
        for addr in managers[start..].iter().chain(&managers[..start]) {
            if !order.contains(addr) {
                order.push_back(addr.clone());
            }
        }
        order
    }

    fn note_unreachable(&self, addr: &str) {
        let mut leader = self.leader.lock();
        if leader.as_deref() == Some(addr) {
            *leader = None;
        }
        drop(leader);
        let mut cursor = self.cursor.lock();
        *cursor = cursor.wrapping_add(1);
    }

    /// Run `call` against the leader, as the module docs describe. Returns the address that
    /// answered. `on_invalid` maps the dispatcher's "invalid request" (a stale session).
    async fn with_leader<T>(
        &self,
        op: &'static str,
        node: &NodeId,
        on_invalid: impl Fn(String) -> SessionError,
        call: impl Fn(ClusterClient, String) -> BoxFuture<'static, Result<T, ClientError>>,
    ) -> Result<(String, T), SessionError> {
        let mut queue = self.candidates();
        let mut redirects = 0;
        let mut last = format!("{op}: no manager address known");
        while let Some(addr) = queue.pop_front() {
            let err = match call(self.client.clone(), addr.clone()).await {
                Ok(v) => {
                    *self.leader.lock() = Some(addr.clone());
                    return Ok((addr, v));
                }
                Err(e) => e,
            };
            match err.refusal() {
                Some(ClusterError::NotLeader {
                    leader_addr: Some(leader),
                }) if redirects < MAX_REDIRECTS && *leader != addr => {
                    redirects += 1;
                    tracing::debug!(%op, from = %addr, to = %leader, "following leader redirect");
                    *self.leader.lock() = Some(leader.clone());
                    queue.retain(|a| a != leader);
                    queue.push_front(leader.clone());
                }
                Some(ClusterError::Forbidden(reason) | ClusterError::Unauthorized(reason)) => {
                    return Err(SessionError::Refused {
                        node: node.to_string(),
                        reason: reason.clone(),
                    });
                }
                Some(ClusterError::Invalid(reason)) => return Err(on_invalid(reason.clone())),
                _ => {
                    if err.is_connection_error() {
                        self.note_unreachable(&addr);
                    }
                    tracing::debug!(%op, %addr, error = %err, "manager did not serve dispatcher call");
                }
            }
            last = err.to_string();
        }
        Err(SessionError::Unavailable(last))
    }

    /// `/dispatcher/attachments` for this node: served by any manager, tried in the same
    /// order as the dispatcher's calls (the leader first).
    pub async fn attachments(
        &self,
        req: AttachmentRequest,
    ) -> Result<AttachmentResponse, SessionError> {
        let node = req.node_id.clone();
        let (_, answer) = self
            .with_leader(
                "network attachments",
                &node,
                SessionError::Unavailable,
                move |client, addr| {
                    let req = req.clone();
                    Box::pin(async move { client.attachments(&addr, &req).await })
                },
            )
            .await?;
        Ok(answer)
    }

    fn spawn_reader(&self, addr: String, stream: SessionStream, tx: mpsc::Sender<Assignments>) {
        let cancel = self.cancel.clone();
        let mut readers = self.readers.lock();
        // Reap readers of sessions that already ended.
        while readers.try_join_next().is_some() {}
        readers.spawn(read_session(addr, stream, tx, cancel));
    }
}

/// Forward assignment sets until the stream ends, the agent drops the receiver, or shutdown.
/// Returning drops `tx` (closing the agent's channel) and the stream (resetting it, so the
/// server drops its side of the session).
async fn read_session(
    addr: String,
    mut stream: SessionStream,
    tx: mpsc::Sender<Assignments>,
    cancel: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            () = tx.closed() => return,
            next = stream.next() => next,
        };
        let set = match next {
            Some(Ok(set)) => set,
            Some(Err(e)) => {
                tracing::info!(manager = %addr, error = %e, "dispatcher session stream failed");
                return;
            }
            None => {
                tracing::debug!(manager = %addr, "dispatcher ended the session");
                return;
            }
        };
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            sent = tx.send(set) => if sent.is_err() { return },
        }
    }
}

impl Drop for RemoteDispatcher {
    fn drop(&mut self) {
        // The JoinSet aborts the readers on drop anyway; this lets them end at a clean point.
        self.readers.lock().abort_all();
    }
}

fn invalid_session(session_id: String) -> impl Fn(String) -> SessionError {
    move |_| SessionError::InvalidSession(session_id.clone())
}

impl DispatcherClient for RemoteDispatcher {
    fn session(
        &self,
        request: SessionRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<Assignments>, SessionError>> {
        Box::pin(async move {
            let node = request.node_id.clone();
            let refused = |reason| SessionError::Refused {
                node: node.to_string(),
                reason,
            };
            let (addr, stream) = self
                .with_leader("open session", &node, refused, |client, addr| {
                    let req = request.clone();
                    Box::pin(async move { client.open_session(&addr, &req).await })
                })
                .await?;
            tracing::debug!(node.id = %node, manager = %addr, "dispatcher session open");
            let (tx, rx) = mpsc::channel(SESSION_CHANNEL_CAPACITY);
            self.spawn_reader(addr, stream, tx);
            Ok(rx)
        })
    }

    fn update_status(&self, batch: StatusBatch) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            let node = batch.node_id.clone();
            let invalid = invalid_session(batch.session_id.clone());
            self.with_leader("report task status", &node, invalid, |client, addr| {
                let batch = batch.clone();
                Box::pin(async move { client.update_status(&addr, &batch).await })
            })
            .await
            .map(|_| ())
        })
    }

    fn heartbeat(
        &self,
        node_id: NodeId,
        session_id: String,
    ) -> BoxFuture<'_, Result<HeartbeatResponse, SessionError>> {
        Box::pin(async move {
            let req = HeartbeatRequest {
                node_id: node_id.clone(),
                session_id: session_id.clone(),
            };
            self.with_leader(
                "heartbeat",
                &node_id,
                invalid_session(session_id),
                |client, addr| {
                    let req = req.clone();
                    Box::pin(async move { client.heartbeat(&addr, &req).await })
                },
            )
            .await
            .map(|(_, r)| r)
        })
    }
}
