//! A light simulated agent: a worker node that speaks the real cluster protocol but starts no
//! containers.
//!
//! [`join`] goes through the real join protocol (pinned root CA fetch, CSR with the worker
//! token, certificate back); [`SimAgent::run`] then opens dispatcher sessions over mutual TLS
//! with the real [`RemoteDispatcher`], heartbeats at the period the dispatcher asks for, and
//! answers every assignment set the way the real agent would if containers started at once:
//! new tasks are reported PREPARING, then STARTING, then RUNNING, each step as one batch per
//! node (at most [`STATUS_BATCH_MAX`] updates, the real reporter's limit); tasks whose
//! desired state is past RUNNING are reported SHUTDOWN. The shared [`Counters`] say how many
//! tasks the managers have acknowledged as running.

use shoal_agent::{DispatcherClient, SessionError};
use shoal_ca::{JoinToken, NodeKey};
use shoal_cluster::{ClusterClient, JoinRequest, RemoteDispatcher, TlsCell};
use shoal_types::api::{
    EngineDescription, NodeDescription, NodeSpecAvailabilityEnum, Platform, ResourceObject,
};
use shoal_types::dispatch::{Assignments, SessionRequest, StatusBatch, StatusUpdate};
use shoal_types::{NodeId, TaskId, TaskState, TaskStatus};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Largest status batch, as the real agent's reporter (`AgentConfig::status_batch_max`).
pub const STATUS_BATCH_MAX: usize = 512;
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
    dispatcher: RemoteDispatcher,
    counters: Arc<Counters>,
    /// What this agent last reported per task (and the dispatcher acknowledged).
    reported: HashMap<TaskId, TaskState>,
}

impl SimAgent {
    pub fn new(joined: Joined, counters: Arc<Counters>, cancel: CancellationToken) -> Self {
        Self {
            node_id: joined.node_id,
            description: joined.description,
            dispatcher: RemoteDispatcher::new(joined.client, joined.managers, cancel),
            counters,
            reported: HashMap::new(),
        }
    }

    /// Keeps a session open until `cancel` fires, reopening it whenever it ends.
    pub async fn run(mut self, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            let request = SessionRequest {
                node_id: self.node_id.clone(),
                description: self.description.clone(),
            };
            let opened = tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                r = self.dispatcher.session(request) => r,
            };
            match opened {
                Ok(rx) => {
                    self.counters.sessions.fetch_add(1, Ordering::Relaxed);
                    self.session(rx, &cancel).await;
                    self.counters.sessions.fetch_sub(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
    }

    /// Serves one session until its stream ends, a heartbeat is refused or `cancel` fires.
    async fn session(&mut self, mut rx: mpsc::Receiver<Assignments>, cancel: &CancellationToken) {
        let Some(first) = rx.recv().await else {
            return;
        };
        let session_id = first.session_id.clone();
        let mut period = Duration::from_millis(first.heartbeat_period_ms.max(100));
        self.apply(first, &session_id).await;
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
                        self.apply(set, &session_id).await;
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

    /// Reports what the real agent would for `set`: the start steps of new tasks, SHUTDOWN for
    /// tasks told to stop; forgets tasks that left the set.
    async fn apply(&mut self, set: Assignments, session_id: &str) {
        let mut starting = Vec::new();
        let mut stopping = Vec::new();
        for task in &set.tasks {
            let known = match self.reported.get(&task.id) {
                Some(state) => *state,
                None => {
                    // Reported in an earlier life of this node (not in this run): adopt it.
                    if task.status.state == TaskState::Running {
                        self.reported.insert(task.id.clone(), TaskState::Running);
                        self.counters.running.fetch_add(1, Ordering::Relaxed);
                    }
                    task.status.state
                }
            };
            if task.desired_state <= TaskState::Running {
                if known < TaskState::Running {
                    starting.push(task.id.clone());
                }
            } else if known < TaskState::Shutdown {
                stopping.push(task.id.clone());
            }
        }
        let present: std::collections::HashSet<&TaskId> = set.tasks.iter().map(|t| &t.id).collect();
        self.reported.retain(|id, state| {
            let keep = present.contains(id);
            if !keep && *state == TaskState::Running {
                self.counters.running.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
        for (state, message) in START_STEPS {
            self.report(session_id, &starting, state, message).await;
        }
        self.report(session_id, &stopping, TaskState::Shutdown, "shutdown")
            .await;
    }

    /// Sends `state` for `ids` in batches, retrying each batch until it is acknowledged or the
    /// session is gone.
    async fn report(&mut self, session_id: &str, ids: &[TaskId], state: TaskState, message: &str) {
        for chunk in ids.chunks(STATUS_BATCH_MAX) {
            let timestamp = shoal_types::time::rfc3339(SystemTime::now());
            let batch = StatusBatch {
                node_id: self.node_id.clone(),
                session_id: session_id.to_string(),
                updates: chunk
                    .iter()
                    .map(|id| StatusUpdate {
                        task_id: id.clone(),
                        status: TaskStatus {
                            timestamp: timestamp.clone(),
                            state,
                            message: message.to_string(),
                            ..Default::default()
                        },
                    })
                    .collect(),
            };
            loop {
                match self.dispatcher.update_status(batch.clone()).await {
                    Ok(()) => break,
                    Err(SessionError::Unavailable(_)) => {
                        self.counters.errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                    // The session ended; the next one sends a fresh set to report against.
                    Err(_) => {
                        self.counters.errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            self.counters.batches.fetch_add(1, Ordering::Relaxed);
            for id in chunk {
                let before = self.reported.insert(id.clone(), state);
                let was_running = before == Some(TaskState::Running);
                let is_running = state == TaskState::Running;
                if is_running && !was_running {
                    self.counters.running.fetch_add(1, Ordering::Relaxed);
                } else if was_running && !is_running {
                    self.counters.running.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
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
