//! The [`Agent`]: one per node. Opens a session with the dispatcher, keeps it alive with
//! heartbeats, hands assignment sets to the worker and status updates to the reporter.

use crate::backoff::Backoff;
use crate::clock::{Clock, SystemClock};
use crate::config::AgentConfig;
use crate::dataplane::{DataPlane, NoDataPlane};
use crate::dispatcher::DispatcherClient;
use crate::executor::Executor;
use crate::reporter;
use crate::runner::{NetworkStatus, RunnerContext};
use crate::secrets::SecretStore;
use crate::worker::Worker;
use shoal_types::NodeId;
use shoal_types::dispatch::{Assignments, NodeNetwork, SessionRequest};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

/// Runs the tasks the dispatcher assigns to one node on an injected [`Executor`].
pub struct Agent {
    node_id: NodeId,
    executor: Arc<dyn Executor>,
    dispatcher: Arc<dyn DispatcherClient>,
    clock: Arc<dyn Clock>,
    config: AgentConfig,
    /// Secrets and configs of the current assignment set (shared with the executor).
    secrets: SecretStore,
    data_plane: Arc<dyn DataPlane>,
    /// Shared with the runners: what the last network apply could not set up.
    networks: Arc<RwLock<NetworkStatus>>,
}

/// Why a session ended.
#[derive(Debug, PartialEq, Eq)]
enum SessionEnd {
    Cancelled,
    /// The dispatcher closed the assignment stream.
    Closed,
    HeartbeatFailed,
}

impl Agent {
    pub fn new(
        node_id: NodeId,
        executor: Arc<dyn Executor>,
        dispatcher: Arc<dyn DispatcherClient>,
    ) -> Self {
        Self {
            node_id,
            executor,
            dispatcher,
            clock: Arc::new(SystemClock),
            config: AgentConfig::default(),
            secrets: SecretStore::default(),
            data_plane: Arc::new(NoDataPlane),
            networks: Arc::default(),
        }
    }

    /// Builds the node's side of its networks through `data_plane` (default: none).
    pub fn with_data_plane(mut self, data_plane: Arc<dyn DataPlane>) -> Self {
        self.data_plane = data_plane;
        self
    }

    /// Uses `store` for the secrets and configs the dispatcher sends, so an executor given
    /// the same handle can read them.
    pub fn with_secrets(mut self, store: SecretStore) -> Self {
        self.secrets = store;
        self
    }

    /// Replaces the timings (tests shorten them).
    pub fn with_config(mut self, config: AgentConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the clock used for status timestamps.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs until `cancel` fires. Task containers are left running on return; the next
    /// start adopts them.
    pub async fn run(self, cancel: CancellationToken) {
        let span = info_span!("agent", node.id = %self.node_id);
        self.run_inner(cancel).instrument(span).await
    }

    async fn run_inner(self, cancel: CancellationToken) {
        let (status_tx, status_rx) = reporter::channel(self.config.status_channel_capacity);
        let (session_tx, session_rx) = watch::channel(None::<String>);
        let mut background = JoinSet::new();
        background.spawn(
            reporter::run_reporter(
                self.dispatcher.clone(),
                self.node_id.clone(),
                session_rx,
                status_rx,
                self.config.clone(),
                cancel.child_token(),
            )
            .in_current_span(),
        );
        let ctx = RunnerContext {
            executor: self.executor.clone(),
            reporter: status_tx,
            clock: self.clock.clone(),
            config: self.config.clone(),
            networks: self.networks.clone(),
        };
        let mut worker = Worker::new(ctx, self.node_id.clone(), cancel.child_token());

        if worker.load_existing().await {
            self.session_loop(&mut worker, &session_tx, &cancel).await;
        }

        info!("agent stopping; task containers are left running");
        worker.shutdown().await;
        // The reporter sees the cancellation (or its channel closing) and ends.
        cancel.cancel();
        while let Some(joined) = background.join_next().await {
            if let Err(e) = joined {
                warn!(error = %e, "agent background task ended abnormally");
            }
        }
    }

    /// Opens sessions until cancelled, with backoff between failed attempts.
    async fn session_loop(
        &self,
        worker: &mut Worker,
        session_tx: &watch::Sender<Option<String>>,
        cancel: &CancellationToken,
    ) {
        let mut backoff = Backoff::new(self.config.retry_min, self.config.retry_max);
        while !cancel.is_cancelled() {
            match self.open_session(cancel).await {
                Ok(Some(assignments)) => {
                    let (end, received) = self
                        .run_session(assignments, worker, session_tx, cancel)
                        .await;
                    session_tx.send_replace(None);
                    if end == SessionEnd::Cancelled {
                        return;
                    }
                    if received {
                        backoff.reset();
                    }
                    warn!(reason = ?end, "dispatcher session ended; reconnecting");
                }
                Ok(None) => return,
                Err(e) => warn!(error = %e, "opening a dispatcher session failed"),
            }
            let delay = backoff.next_delay();
            debug!(retry_in = ?delay, "waiting before the next session attempt");
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Describes the node and opens a session; `Ok(None)` when cancelled.
    async fn open_session(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Option<mpsc::Receiver<Assignments>>, String> {
        let description = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(None),
            d = self.executor.describe() => d.map_err(|e| format!("describing the node: {e}"))?,
        };
        let request = SessionRequest {
            node_id: self.node_id.clone(),
            description,
            tunnel_key: self.data_plane.tunnel_key().unwrap_or_default(),
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Ok(None),
            s = self.dispatcher.session(request) => s.map(Some).map_err(|e| e.to_string()),
        }
    }

    /// Serves one session: assignment sets to the worker, heartbeats at the dispatcher's
    /// period. Returns why it ended and whether any assignment set arrived.
    async fn run_session(
        &self,
        mut assignments: mpsc::Receiver<Assignments>,
        worker: &mut Worker,
        session_tx: &watch::Sender<Option<String>>,
        cancel: &CancellationToken,
    ) -> (SessionEnd, bool) {
        let mut period = self.config.default_heartbeat_period;
        let mut session_id: Option<String> = None;
        let mut next_heartbeat = Instant::now() + period;
        let mut received = false;
        let mut networks: Vec<NodeNetwork> = Vec::new();
        let mut resync = tokio::time::interval(self.config.network_resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.reset();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return (SessionEnd::Cancelled, received),
                message = assignments.recv() => {
                    let Some(set) = message else { return (SessionEnd::Closed, received) };
                    received = true;
                    if set.heartbeat_period_ms > 0 {
                        period = Duration::from_millis(set.heartbeat_period_ms);
                    }
                    if session_id.as_deref() != Some(set.session_id.as_str()) {
                        info!(session.id = %set.session_id, "dispatcher session established");
                        session_id = Some(set.session_id.clone());
                        session_tx.send_replace(Some(set.session_id.clone()));
                        next_heartbeat = Instant::now() + period;
                    }
                    debug!(tasks = set.tasks.len(), secrets = set.secrets.len(), configs = set.configs.len(), "assignment set received");
                    // Before the tasks: a new task's runner may prepare at once.
                    if self.secrets.replace(&set.secrets, &set.configs) {
                        // Ids only: what this node holds, never the bytes.
                        info!(secrets = ?self.secrets.secret_ids(), configs = ?self.secrets.config_ids(), "secrets and configs held");
                    }
                    // Before the tasks too: a new task's container joins its networks.
                    networks = set.networks;
                    if !self.apply_networks(&networks, cancel).await {
                        return (SessionEnd::Cancelled, received);
                    }
                    worker.reconcile(set.tasks);
                    debug!(runners = worker.runner_count(), "worker reconciled");
                }
                _ = resync.tick() => {
                    if !self.apply_networks(&networks, cancel).await {
                        return (SessionEnd::Cancelled, received);
                    }
                }
                _ = sleep_until(next_heartbeat), if session_id.is_some() => {
                    let sid = session_id.clone().unwrap_or_default();
                    let answer = tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return (SessionEnd::Cancelled, received),
                        r = tokio::time::timeout(period, self.dispatcher.heartbeat(self.node_id.clone(), sid)) => r,
                    };
                    match answer {
                        Ok(Ok(response)) => {
                            if response.period_ms > 0 {
                                period = Duration::from_millis(response.period_ms);
                            }
                            next_heartbeat = Instant::now() + period;
                        }
                        Ok(Err(e)) => {
                            warn!(error = %e, "heartbeat refused");
                            return (SessionEnd::HeartbeatFailed, received);
                        }
                        Err(_) => {
                            warn!(timeout = ?period, "heartbeat timed out");
                            return (SessionEnd::HeartbeatFailed, received);
                        }
                    }
                }
            }
        }
    }

    /// Applies `networks` to the data plane and records what failed for the runners; false
    /// when cancelled first.
    async fn apply_networks(&self, networks: &[NodeNetwork], cancel: &CancellationToken) -> bool {
        let failures = tokio::select! {
            biased;
            _ = cancel.cancelled() => return false,
            f = self.data_plane.apply(networks) => f,
        };
        for (id, reason) in &failures {
            warn!(network.id = %id, error = %reason, "network not set up on this node");
        }
        let names = networks
            .iter()
            .map(|n| (n.network.id.clone(), n.network.name().to_string()))
            .collect();
        *self.networks.write().unwrap_or_else(|e| e.into_inner()) =
            NetworkStatus { failures, names };
        true
    }
}
