//! An in-memory dispatcher for agent scenarios.

use super::NODE;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use shoal_agent::{DispatcherClient, SessionError};
use shoal_types::dispatch::{
    Assignments, HeartbeatResponse, NodeNetwork, SessionRequest, StatusBatch,
};
use shoal_types::{NodeId, Task, TaskState, TaskStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

#[derive(Default)]
struct DispatchState {
    sessions: usize,
    sender: Option<mpsc::Sender<Assignments>>,
    current: Vec<Task>,
    networks: Vec<NodeNetwork>,
    batches: Vec<StatusBatch>,
    failures_left: usize,
    /// The tunnel key of each session request, in order.
    tunnel_keys: Vec<String>,
}

/// A dispatcher in memory: sends the current assignment set on session open and on every
/// [`FakeDispatcher::assign`], records status batches.
pub struct FakeDispatcher {
    state: Mutex<DispatchState>,
    heartbeats: AtomicUsize,
    pub heartbeat_period_ms: u64,
}

impl Default for FakeDispatcher {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            heartbeats: AtomicUsize::new(0),
            heartbeat_period_ms: 5000,
        }
    }
}

impl FakeDispatcher {
    pub fn with_heartbeat_period(ms: u64) -> Self {
        Self {
            heartbeat_period_ms: ms,
            ..Self::default()
        }
    }

    /// The next `n` status sends fail.
    pub fn fail_status_sends(&self, n: usize) {
        self.state.lock().failures_left = n;
    }

    fn message(&self, st: &DispatchState) -> Assignments {
        Assignments {
            session_id: format!("session-{}", st.sessions),
            tasks: st.current.clone(),
            networks: st.networks.clone(),
            heartbeat_period_ms: self.heartbeat_period_ms,
            ..Default::default()
        }
    }

    /// Replaces the node's assignment set and sends it on the open session, if any (as the
    /// real dispatcher does, the next session starts with it too).
    pub async fn assign(&self, tasks: Vec<Task>) {
        let networks = self.state.lock().networks.clone();
        self.assign_with_networks(tasks, networks).await
    }

    /// Like [`FakeDispatcher::assign`], with the node's network set.
    pub async fn assign_with_networks(&self, tasks: Vec<Task>, networks: Vec<NodeNetwork>) {
        let (sender, message) = {
            let mut st = self.state.lock();
            st.current = tasks;
            st.networks = networks;
            (st.sender.clone(), self.message(&st))
        };
        if let Some(tx) = sender {
            // A closed session is fine: the next one starts with the current set.
            let _ = tx.send(message).await;
        }
    }

    /// Ends the open session (as a leader change would).
    pub fn close_session(&self) {
        self.state.lock().sender = None;
    }

    pub fn sessions(&self) -> usize {
        self.state.lock().sessions
    }

    /// The tunnel key each session request carried, in order.
    pub fn tunnel_keys(&self) -> Vec<String> {
        self.state.lock().tunnel_keys.clone()
    }

    pub fn heartbeats(&self) -> usize {
        self.heartbeats.load(Ordering::SeqCst)
    }

    pub fn batches(&self) -> usize {
        self.state.lock().batches.len()
    }

    /// Every status received for `task_id`, in order.
    pub fn history(&self, task_id: &str) -> Vec<TaskStatus> {
        let st = self.state.lock();
        st.batches
            .iter()
            .flat_map(|b| b.updates.iter())
            .filter(|u| u.task_id.as_str() == task_id)
            .map(|u| u.status.clone())
            .collect()
    }

    pub fn latest(&self, task_id: &str) -> Option<TaskStatus> {
        self.history(task_id).pop()
    }

    pub fn latest_state(&self, task_id: &str) -> Option<TaskState> {
        self.latest(task_id).map(|s| s.state)
    }
}

impl DispatcherClient for FakeDispatcher {
    fn session(
        &self,
        request: SessionRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<Assignments>, SessionError>> {
        Box::pin(async move {
            assert_eq!(request.node_id.as_str(), NODE);
            let (tx, rx) = mpsc::channel(16);
            let message = {
                let mut st = self.state.lock();
                st.sessions += 1;
                st.tunnel_keys.push(request.tunnel_key.clone());
                st.sender = Some(tx.clone());
                self.message(&st)
            };
            tx.send(message).await.unwrap();
            Ok(rx)
        })
    }

    fn update_status(&self, batch: StatusBatch) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            let mut st = self.state.lock();
            if st.failures_left > 0 {
                st.failures_left -= 1;
                return Err(SessionError::Unavailable("no leader".into()));
            }
            st.batches.push(batch);
            Ok(())
        })
    }

    fn heartbeat(
        &self,
        _node_id: NodeId,
        _session_id: String,
    ) -> BoxFuture<'_, Result<HeartbeatResponse, SessionError>> {
        Box::pin(async move {
            self.heartbeats.fetch_add(1, Ordering::SeqCst);
            Ok(HeartbeatResponse {
                period_ms: self.heartbeat_period_ms,
            })
        })
    }
}
