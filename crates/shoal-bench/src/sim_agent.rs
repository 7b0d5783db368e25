//! A light simulated agent: a worker node that speaks the real cluster protocol but starts no
//! containers.
//!
//! [`join`] goes through the real join protocol (pinned root CA fetch, CSR with the worker
//! token, certificate back); [`SimAgent::run`] then opens dispatcher sessions over mutual TLS
//! with the real [`RemoteDispatcher`], heartbeats at the period the dispatcher asks for, and
//! answers every assignment set the way the real agent would if containers started at once:
//! new tasks go PREPARING, STARTING, RUNNING; tasks whose desired state is past RUNNING go
//! SHUTDOWN. The updates go through the real agent's reporter (`shoal_agent::reporter`: a
//! 10 ms batch window, at most 512 per batch, the furthest state per task kept, failed batches
//! resent), so a node's status reports never hold up its heartbeats. The shared [`Counters`]
//! say how many tasks the managers have acknowledged as running.

use futures::future::BoxFuture;
use parking_lot::Mutex;
use shoal_agent::reporter::{self, StatusSender};
use shoal_agent::{AgentConfig, DispatcherClient, SessionError};
use shoal_ca::{JoinToken, NodeKey};
use shoal_cluster::{ClusterClient, JoinRequest, RemoteDispatcher, TlsCell};
use shoal_types::api::{
    EngineDescription, NodeDescription, NodeSpecAvailabilityEnum, Platform, ResourceObject,
};
use shoal_types::dispatch::{
    Assignments, HeartbeatResponse, SessionRequest, StatusBatch, StatusUpdate,
};
use shoal_types::{NodeId, TaskId, TaskState, TaskStatus};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Status updates queued towards an agent's reporter: room for a node's whole set of starts.
const STATUS_CHANNEL: usize = 1024;
/// Pause before reopening a session that failed, so 1,000 agents do not hammer a manager
/// that is electing (the real agent backs off from 100 ms).
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// The states a starting task is reported in, in order.
const START_STEPS: [(TaskState, &str); 3] = [
    (TaskState::Preparing, "preparing"),
    (TaskState::Starting, "starting"),
    (TaskState::Running, "started"),
];

/// Figures shared by all agents of a run.
#[derive(Debug, Default)]
pub struct Counters {
    /// Tasks whose RUNNING report the dispatcher acknowledged and that were not shut down since.
    pub running: AtomicUsize,
    /// Agents with an open session.
    pub sessions: AtomicUsize,
    /// Status batches acknowledged.
    pub batches: AtomicUsize,
    /// Calls that failed (and were retried).
    pub errors: AtomicUsize,
}

/// A joined simulated node: its identity and a client presenting its certificate.
pub struct Joined {
    pub node_id: NodeId,
    pub client: ClusterClient,
    pub managers: Vec<String>,
    description: NodeDescription,
}

/// A node description that looks like a small real host.
fn description(index: usize) -> NodeDescription {
    NodeDescription {
        hostname: Some(format!("sim-{index:05}")),
        platform: Some(Platform {
            architecture: Some("x86_64".into()),
            os: Some("linux".into()),
        }),
        resources: Some(ResourceObject {
            nano_cpus: Some(4_000_000_000),
            memory_bytes: Some(8 << 30),
            generic_resources: None,
        }),
        engine: Some(EngineDescription {
            engine_version: Some("simulated".into()),
            labels: None,
            plugins: None,
        }),
        tls_info: None,
    }
}

/// Joins the swarm through the manager at `addr` with `token`, exactly as `swarm join` does
/// on the wire (key and CSR made here), and returns a mutual-TLS client for the new node.
pub async fn join(addr: &str, token: &str, index: usize) -> Result<Joined, String> {
    let parsed = JoinToken::parse(token).map_err(|e| format!("join token: {e}"))?;
    let boot =
        ClusterClient::join_bootstrap(addr, parsed.digest).map_err(|e| format!("join: {e}"))?;
    let root_pem = boot.root_ca().await.map_err(|e| format!("root CA: {e}"))?;
    let key = NodeKey::generate().map_err(|e| format!("node key: {e}"))?;
    let csr_pem = key.csr_pem().map_err(|e| format!("CSR: {e}"))?;
    let description = description(index);
    let response = boot
        .join(&JoinRequest {
            token: token.to_string(),
            csr_pem,
            // Nobody dials a worker; the address only labels the node.
            advertise_addr: format!(
                "10.{}.{}.{}:2377",
                index / 65_536,
                index / 256 % 256,
                index % 256
            ),
            listen_addr: "0.0.0.0:2377".into(),
            availability: NodeSpecAvailabilityEnum::ACTIVE,
            description: description.clone(),
        })
        .await
        .map_err(|e| format!("join: {e}"))?;
    let config = shoal_ca::client_config(&root_pem, &response.cert_pem, &key.key_pem)
        .map_err(|e| format!("TLS config: {e}"))?;
    Ok(Joined {
        node_id: response.node_id,
        client: ClusterClient::new(Arc::new(TlsCell::new(config))),
        managers: response.managers.into_iter().map(|m| m.addr).collect(),
        description,
    })
}

/// One simulated node after its join.
pub struct SimAgent {
    node_id: NodeId,
    description: NodeDescription,
    dispatcher: Arc<CountingDispatcher>,
    counters: Arc<Counters>,
    /// The furthest state this agent has handed to its reporter, per task in its set.
    queued: HashMap<TaskId, TaskState>,
}

impl SimAgent {
    pub fn new(joined: Joined, counters: Arc<Counters>, cancel: CancellationToken) -> Self {
        let remote = RemoteDispatcher::new(joined.client, joined.managers, cancel);
        Self {
            node_id: joined.node_id,
            description: joined.description,
            dispatcher: Arc::new(CountingDispatcher {
                inner: remote,
                counters: counters.clone(),
                running: Mutex::new(HashSet::new()),
            }),
            counters,
            queued: HashMap::new(),
        }
    }

    /// Keeps a session open until `cancel` fires, reopening it whenever it ends. Status goes
    /// through the real agent's reporter (batched, merged per task, resent on failure), so
    /// heartbeats never wait for status acknowledgements, as in the real agent.
    pub async fn run(mut self, cancel: CancellationToken) {
        let config = AgentConfig {
            status_channel_capacity: STATUS_CHANNEL,
            ..AgentConfig::default()
        };
        let (status_tx, status_rx) = reporter::channel(config.status_channel_capacity);
        let (session_tx, session_rx) = watch::channel(None::<String>);
        let reporter = tokio::spawn(reporter::run_reporter(
            self.dispatcher.clone(),
            self.node_id.clone(),
            session_rx,
            status_rx,
            config,
            cancel.child_token(),
        ));
        while !cancel.is_cancelled() {
            let request = SessionRequest {
                node_id: self.node_id.clone(),
                description: self.description.clone(),
                tunnel_key: String::new(),
            };
            let opened = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                r = self.dispatcher.session(request) => r,
            };
            match opened {
                Ok(rx) => {
                    self.counters.sessions.fetch_add(1, Ordering::Relaxed);
                    self.session(rx, &session_tx, &status_tx, &cancel).await;
                    session_tx.send_replace(None);
                    self.counters.sessions.fetch_sub(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
        // The reporter stops on the same cancellation; a panic there changes no figure.
        let _ = reporter.await;
    }

    /// Serves one session until its stream ends, a heartbeat is refused or `cancel` fires.
    async fn session(
        &mut self,
        mut rx: mpsc::Receiver<Assignments>,
        session_tx: &watch::Sender<Option<String>>,
        status: &StatusSender,
        cancel: &CancellationToken,
    ) {
        let Some(first) = rx.recv().await else {
            return;
        };
        let session_id = first.session_id.clone();
        session_tx.send_replace(Some(session_id.clone()));
        let mut period = Duration::from_millis(first.heartbeat_period_ms.max(100));
        self.apply(first, status).await;
        // Spread the heartbeats of 1,000 nodes over the period rather than all at once.
        let mut next_beat =
            tokio::time::Instant::now() + period.mul_f64(rand_fraction(&self.node_id));
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                set = rx.recv() => match set {
                    Some(set) => {
                        period = Duration::from_millis(set.heartbeat_period_ms.max(100));
                        self.apply(set, status).await;
                    }
                    None => return,
                },
                _ = tokio::time::sleep_until(next_beat) => {
                    match self.dispatcher.heartbeat(self.node_id.clone(), session_id.clone()).await {
                        Ok(r) => period = Duration::from_millis(r.period_ms.max(100)),
                        Err(SessionError::InvalidSession(_) | SessionError::Refused { .. }) => {
                            self.counters.errors.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Err(SessionError::Unavailable(_)) => {
                            self.counters.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    next_beat = tokio::time::Instant::now() + period;
                }
            }
        }
    }

    /// Hands the reporter what the real agent's runners would for `set` if containers started
    /// at once: the start steps of new tasks, SHUTDOWN for tasks told to stop; forgets tasks
    /// that left the set.
    async fn apply(&mut self, set: Assignments, status: &StatusSender) {
        let timestamp = shoal_types::time::rfc3339(SystemTime::now());
        let mut updates = Vec::new();
        for task in &set.tasks {
            let known = *self
                .queued
                .entry(task.id.clone())
                // Reported in an earlier session (or life) of this node: start from the store.
                .or_insert(task.status.state);
            let steps: &[(TaskState, &str)] = if task.desired_state <= TaskState::Running {
                &START_STEPS
            } else {
                &[(TaskState::Shutdown, "shutdown")]
            };
            for (state, message) in steps.iter().filter(|(s, _)| *s > known) {
                updates.push(StatusUpdate {
                    task_id: task.id.clone(),
                    status: TaskStatus {
                        timestamp: timestamp.clone(),
                        state: *state,
                        message: (*message).to_string(),
                        ..Default::default()
                    },
                });
                self.queued.insert(task.id.clone(), *state);
            }
            if task.status.state == TaskState::Running {
                // Already acknowledged as running before this agent queued anything.
                self.dispatcher.note_running(&task.id);
            }
        }
        let present: HashSet<&TaskId> = set.tasks.iter().map(|t| &t.id).collect();
        self.queued.retain(|id, _| present.contains(id));
        self.dispatcher.forget_missing(&present);
        for update in updates {
            if !status.send(update).await {
                return;
            }
        }
    }
}

/// The agent's dispatcher client, counting the RUNNING reports the managers acknowledge.
struct CountingDispatcher {
    inner: RemoteDispatcher,
    counters: Arc<Counters>,
    /// Tasks of this node acknowledged as running and not shut down or gone since.
    running: Mutex<HashSet<TaskId>>,
}

impl CountingDispatcher {
    fn note_running(&self, id: &TaskId) {
        if self.running.lock().insert(id.clone()) {
            self.counters.running.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn forget_missing(&self, present: &HashSet<&TaskId>) {
        let mut running = self.running.lock();
        let before = running.len();
        running.retain(|id| present.contains(id));
        self.counters
            .running
            .fetch_sub(before - running.len(), Ordering::Relaxed);
    }
}

impl DispatcherClient for CountingDispatcher {
    fn session(
        &self,
        request: SessionRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<Assignments>, SessionError>> {
        self.inner.session(request)
    }

    fn update_status(&self, batch: StatusBatch) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            let acknowledged = batch.clone();
            let result = self.inner.update_status(batch).await;
            match &result {
                Ok(()) => {
                    self.counters.batches.fetch_add(1, Ordering::Relaxed);
                    for u in &acknowledged.updates {
                        match u.status.state {
                            TaskState::Running => self.note_running(&u.task_id),
                            s if s > TaskState::Running
                                && self.running.lock().remove(&u.task_id) =>
                            {
                                self.counters.running.fetch_sub(1, Ordering::Relaxed);
                            }
                            _ => {}
                        }
                    }
                }
                Err(_) => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            result
        })
    }

    fn heartbeat(
        &self,
        node_id: NodeId,
        session_id: String,
    ) -> BoxFuture<'_, Result<HeartbeatResponse, SessionError>> {
        self.inner.heartbeat(node_id, session_id)
    }
}

/// A stable fraction in [0, 1) from the node id, to spread heartbeats without a RNG.
fn rand_fraction(id: &NodeId) -> f64 {
    let h = id
        .as_str()
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (h % 1000) as f64 / 1000.0
}
