//! The status reporter: collects the runners' status updates for a few milliseconds and sends
//! them to the dispatcher as one [`StatusBatch`], retrying failed sends.
//!
//! Runners hand updates over a bounded channel ([`StatusSender`]). While a batch is being
//! retried, new updates keep being accepted and merged: for each task only the furthest state
//! is kept (states only move forward, and the latest one carries the truth), so the pending set
//! is bounded by the number of tasks however long the dispatcher is away.
//!
//! Public so that `shoal bench agents`' simulated nodes report exactly as a real agent does.

use crate::backoff::Backoff;
use crate::config::AgentConfig;
use crate::dispatcher::DispatcherClient;
use shoal_types::NodeId;
use shoal_types::dispatch::{StatusBatch, StatusUpdate};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// The runners' handle on the reporter.
#[derive(Debug, Clone)]
pub struct StatusSender {
    tx: mpsc::Sender<StatusUpdate>,
}

impl StatusSender {
    /// Queues an update; waits while the channel is full. Returns false when the reporter is
    /// gone (the agent is stopping).
    pub async fn send(&self, update: StatusUpdate) -> bool {
        self.tx.send(update).await.is_ok()
    }
}

/// Creates the channel between runners and [`run_reporter`].
pub fn channel(capacity: usize) -> (StatusSender, mpsc::Receiver<StatusUpdate>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (StatusSender { tx }, rx)
}

/// Adds `update` to `pending`, replacing an earlier update of the same task unless that one
/// is further on.
pub fn merge(pending: &mut Vec<StatusUpdate>, update: StatusUpdate) {
    match pending.iter_mut().find(|u| u.task_id == update.task_id) {
        Some(existing) if existing.status.state <= update.status.state => *existing = update,
        Some(_) => {}
        None => pending.push(update),
    }
}

/// Runs until `cancel` fires or every [`StatusSender`] is gone. `session` holds the current
/// session id (`None` while there is no session; sends wait for one).
pub async fn run_reporter(
    client: Arc<dyn DispatcherClient>,
    node_id: NodeId,
    mut session: watch::Receiver<Option<String>>,
    mut rx: mpsc::Receiver<StatusUpdate>,
    config: AgentConfig,
    cancel: CancellationToken,
) {
    let mut pending: Vec<StatusUpdate> = Vec::new();
    let mut backoff = Backoff::new(config.retry_min, config.retry_max);
    loop {
        if pending.is_empty() {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                update = rx.recv() => match update {
                    Some(u) => merge(&mut pending, u),
                    None => return,
                },
            }
            // Collect what else arrives within the batch window.
            let deadline = Instant::now() + config.status_batch_window;
            while pending.len() < config.status_batch_max {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    _ = sleep_until(deadline) => break,
                    update = rx.recv() => match update {
                        Some(u) => merge(&mut pending, u),
                        None => break,
                    },
                }
            }
        }

        let session_id = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            id = session.wait_for(Option::is_some) => match id {
                Ok(id) => id.clone().unwrap_or_default(),
                Err(_) => return, // the agent dropped the session channel: it is stopping
            },
        };
        let batch = StatusBatch {
            node_id: node_id.clone(),
            session_id,
            updates: pending.clone(),
        };
        let count = batch.updates.len();
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            r = client.update_status(batch) => r,
        };
        match result {
            Ok(()) => {
                debug!(node.id = %node_id, updates = count, "status batch sent");
                pending.clear();
                backoff.reset();
            }
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(node.id = %node_id, updates = count, error = %e, retry_in = ?delay, "sending task status failed; retrying");
                // Keep accepting (and merging) updates while waiting, so runners never block
                // on a dispatcher outage.
                let until = sleep(delay);
                tokio::pin!(until);
                loop {
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return,
                        _ = &mut until => break,
                        update = rx.recv() => match update {
                            Some(u) => merge(&mut pending, u),
                            None => break,
                        },
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shoal_types::{TaskId, TaskState, TaskStatus};

    fn update(id: &str, state: TaskState) -> StatusUpdate {
        StatusUpdate {
            task_id: TaskId::from(id),
            status: TaskStatus {
                state,
                ..Default::default()
            },
        }
    }

    #[test]
    fn merging_keeps_the_furthest_state_per_task_in_first_seen_order() {
        let mut pending = Vec::new();
        merge(&mut pending, update("a", TaskState::Accepted));
        merge(&mut pending, update("b", TaskState::Accepted));
        merge(&mut pending, update("a", TaskState::Running));
        merge(&mut pending, update("b", TaskState::Assigned)); // stale: ignored
        let got: Vec<(&str, TaskState)> = pending
            .iter()
            .map(|u| (u.task_id.as_str(), u.status.state))
            .collect();
        assert_eq!(
            got,
            vec![("a", TaskState::Running), ("b", TaskState::Accepted)]
        );
    }
}
