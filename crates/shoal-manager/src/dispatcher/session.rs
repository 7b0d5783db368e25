//! One node's assignment stream: the complete task set at once, then again whenever it
//! changes for the agent, debounced.
//!
//! Streams do not watch the store themselves: the dispatcher's fan-out ([`super::fanout`])
//! reads every event once and wakes only the streams of the nodes it concerns. A thousand
//! sessions each filtering every one of 50,000 task writes cost the leader more than
//! everything else it does.

use super::assignments::{
    NetViews, agent_tasks, assigned_tasks, node_networks, referenced, sets_differ,
};
use parking_lot::Mutex;
use shoal_store::StoreHandle;
use shoal_types::dispatch::Assignments;
use shoal_types::dispatch::NodeNetwork;
use shoal_types::{NodeId, Task};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
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
    /// Notified by the fan-out when an event may change this node's set (a stored permit
    /// covers an event that lands while the set is being read or sent).
    pub changed: Arc<Notify>,
    /// The networks of the last set sent, read by the fan-out.
    pub networks: Arc<Mutex<BTreeSet<String>>>,
    /// Network views shared by all sessions.
    pub views: Arc<NetViews>,
}

impl Stream {
    /// Sends sets until the session is cancelled or the agent drops its receiver.
    pub async fn run(self) {
        let mut last: Option<(Vec<Task>, Vec<NodeNetwork>)> = None;
        loop {
            let (tasks, period_ms, (secrets, configs), networks) = self.store.view(|t| {
                let period = t
                    .cluster()
                    .map(|c| c.heartbeat_period_ns())
                    .unwrap_or(shoal_types::cluster::DEFAULT_HEARTBEAT_NS);
                let placed = assigned_tasks(t, &self.node_id);
                let networks = node_networks(t, &self.node_id, &placed, &self.views);
                let tasks = agent_tasks(placed);
                let deps = referenced(t, &tasks);
                (tasks, (period / 1_000_000).max(1) as u64, deps, networks)
            });
            // Membership first, so a change landing while the set is sent still wakes us.
            *self.networks.lock() = networks.iter().map(|n| n.network.id.clone()).collect();
            if last
                .as_ref()
                .is_none_or(|(l, n)| sets_differ(l, &tasks) || *n != networks)
            {
                let msg = Assignments {
                    session_id: self.session_id.clone(),
                    tasks: tasks.clone(),
                    heartbeat_period_ms: period_ms,
                    secrets,
                    configs,
                    networks: networks.clone(),
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
                last = Some((tasks, networks));
            }
            // Wait for a change that concerns this node, then let related changes land; the
            // set is read fresh next, so what happened meanwhile is already in it.
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return,
                _ = self.changed.notified() => {}
            }
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(DEBOUNCE) => {}
            }
        }
    }
}
