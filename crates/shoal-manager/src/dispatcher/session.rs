//! One node's assignment stream: the complete task set at once, then again whenever it
//! changes for the agent, debounced.

use super::assignments::{assigned_tasks, concerns_node, referenced, sets_differ};
use shoal_store::{StoreHandle, WatchError};
use shoal_types::dispatch::Assignments;
use shoal_types::{NodeId, Task};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long changes are collected before a new set is sent (SwarmKit batches for 100 ms;
/// a shorter gap keeps `service create` snappy while still coalescing a scale-up).
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// What a session stream needs.
pub(super) struct Stream {
    pub store: StoreHandle,
    pub node_id: NodeId,
    pub session_id: String,
    pub tx: mpsc::Sender<Assignments>,
    pub cancel: CancellationToken,
}

impl Stream {
    /// Sends sets until the session is cancelled or the agent drops its receiver.
    pub async fn run(self) {
        let mut watcher = self.store.store.watch();
        let mut last: Option<Vec<Task>> = None;
        loop {
            let (tasks, period_ms, (secrets, configs)) = self.store.view(|t| {
                let period = t
                    .cluster()
                    .map(|c| c.heartbeat_period_ns())
                    .unwrap_or(shoal_types::cluster::DEFAULT_HEARTBEAT_NS);
                let tasks = assigned_tasks(t, &self.node_id);
                let deps = referenced(t, &tasks);
                (tasks, (period / 1_000_000).max(1) as u64, deps)
            });
            if last.as_ref().is_none_or(|l| sets_differ(l, &tasks)) {
                let msg = Assignments {
                    session_id: self.session_id.clone(),
                    tasks: tasks.clone(),
                    heartbeat_period_ms: period_ms,
                    secrets,
                    configs,
                };
                tracing::debug!(node.id = %self.node_id, tasks = tasks.len(), secrets = msg.secrets.len(), configs = msg.configs.len(), "sending assignments");
                tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => return,
                    sent = self.tx.send(msg) => if sent.is_err() {
                        tracing::debug!(node.id = %self.node_id, "agent dropped its assignment stream");
                        return;
                    },
                }
                last = Some(tasks);
            }
            // Wait for a change that concerns this node, then let related changes land.
            loop {
                tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => return,
                    event = watcher.recv() => match event {
                        Ok(ev) if concerns_node(&ev, &self.node_id) => break,
                        Ok(_) => {}
                        Err(WatchError::Lagged) => {
                            watcher = self.store.store.watch();
                            break;
                        }
                        Err(WatchError::Closed) => return,
                    },
                }
            }
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(DEBOUNCE) => {}
            }
            // The set is read fresh next; what happened meanwhile is already in it.
            while let Some(event) = watcher.try_recv() {
                match event {
                    Ok(_) => {}
                    Err(WatchError::Lagged) => watcher = self.store.store.watch(),
                    Err(WatchError::Closed) => return,
                }
            }
        }
    }
}
