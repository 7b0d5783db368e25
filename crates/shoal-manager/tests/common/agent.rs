//! A fake agent: plays a node's agent against the real dispatcher.

use super::JOB_RUNTIME;
use parking_lot::Mutex;
use shoal_manager::{Dispatcher, DispatcherError};
use shoal_types::api::{NodeDescription, ResourceObject};
use shoal_types::dispatch::{SessionRequest, StatusBatch, StatusUpdate};
use shoal_types::{NodeId, Task, TaskId, TaskState, TaskStatus};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const SILENCED: &str = "silenced";

/// Moves assigned tasks to RUNNING, stops tasks whose desired state is past RUNNING, runs job
/// tasks for [`JOB_RUNTIME`] then completes them, and heartbeats.
pub struct FakeAgent {
    pub node_id: NodeId,
    pub dispatcher: Dispatcher,
    pub sessions: Arc<Mutex<HashMap<NodeId, String>>>,
    pub cancel: CancellationToken,
}

impl FakeAgent {
    pub async fn run(self) {
        loop {
            let req = SessionRequest {
                node_id: self.node_id.clone(),
                description: NodeDescription {
                    hostname: Some(format!("host-{}", self.node_id)),
                    resources: Some(ResourceObject {
                        nano_cpus: Some(4_000_000_000),
                        memory_bytes: Some(8 << 30),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                tunnel_key: String::new(),
            };
            let mut rx = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = self.dispatcher.session(req) => match r {
                    Ok(rx) => rx,
                    Err(DispatcherError::Stopped) => return,
                    Err(err) => panic!("session for {} refused: {err}", self.node_id),
                },
            };
            let mut jobs: Vec<(TaskId, Instant)> = Vec::new();
            let mut heartbeat = tokio::time::interval(self.dispatcher.heartbeat_period());
            loop {
                let next_job = jobs.iter().map(|(_, at)| *at).min();
                tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    msg = rx.recv() => match msg {
                        Some(a) => {
                            if self.silenced() { continue; }
                            self.sessions.lock().insert(self.node_id.clone(), a.session_id.clone());
                            let mut updates = Vec::new();
                            for t in &a.tasks {
                                if t.desired_state == TaskState::Ready && t.status.state < TaskState::Ready {
                                    // Prepared but not started: a stop-first update's new task.
                                    updates.push(status(t, TaskState::Ready, "prepared"));
                                } else if t.desired_state == TaskState::Running && t.status.state < TaskState::Running {
                                    updates.push(status(t, TaskState::Running, "started"));
                                    if t.job_iteration.is_some() {
                                        jobs.push((t.id.clone(), Instant::now() + JOB_RUNTIME));
                                    }
                                } else if t.desired_state > TaskState::Running && t.status.state <= TaskState::Running {
                                    updates.push(status(t, TaskState::Shutdown, "shutdown"));
                                }
                            }
                            self.send(&a.session_id, updates).await;
                        }
                        None => break,
                    },
                    _ = heartbeat.tick() => {
                        if self.silenced() { continue; }
                        let session = self.sessions.lock().get(&self.node_id).cloned().unwrap_or_default();
                        if self.dispatcher.heartbeat(&self.node_id, &session).await.is_err() {
                            break;
                        }
                    }
                    _ = sleep_until_opt(next_job) => {
                        let now = Instant::now();
                        let (done, rest): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|(_, at)| *at <= now);
                        jobs = rest;
                        let session = self.sessions.lock().get(&self.node_id).cloned().unwrap_or_default();
                        let updates = done.into_iter().map(|(id, _)| StatusUpdate {
                            task_id: id,
                            status: TaskStatus { state: TaskState::Complete, message: "finished".into(), ..Default::default() },
                        }).collect();
                        self.send(&session, updates).await;
                    }
                }
            }
            if self.silenced() {
                self.cancel.cancelled().await;
                return;
            }
        }
    }

    fn silenced(&self) -> bool {
        self.sessions
            .lock()
            .get(&self.node_id)
            .is_some_and(|s| s == SILENCED)
    }

    async fn send(&self, session: &str, updates: Vec<StatusUpdate>) {
        if updates.is_empty() {
            return;
        }
        let batch = StatusBatch {
            node_id: self.node_id.clone(),
            session_id: session.to_string(),
            updates,
        };
        // A refused batch means the session ended; the next assignments message resends.
        let _ = self.dispatcher.update_status(batch).await;
    }
}

fn status(t: &Task, state: TaskState, message: &str) -> StatusUpdate {
    StatusUpdate {
        task_id: t.id.clone(),
        status: TaskStatus {
            state,
            message: message.into(),
            ..Default::default()
        },
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
