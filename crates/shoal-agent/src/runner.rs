//! The task runner: one tokio task per assigned task, driving its container with [`step`]
//! and reporting what it observes.
//!
//! The worker feeds the runner the latest version of its task through a `watch` channel
//! ([`RunnerInput`]), so updates never queue up behind a busy runner. A changed desired state
//! interrupts a `wait` (the long operation); removal from the assignment set interrupts any
//! operation, then the container is stopped and removed and the runner ends. When the agent is
//! cancelled the runner just returns: containers keep running and are adopted on restart.

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::dataplane::{NetworkFailures, network_error};
use crate::error::ExecError;
use crate::executor::{Executor, Health};
use crate::reporter::StatusSender;
use crate::step::{Action, ContainerState, Observed, host_port_status, step};
use shoal_types::dispatch::StatusUpdate;
use shoal_types::{Task, TaskState, TaskStatus};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How often a starting container's health is read: often, because an update waits on it.
const HEALTH_POLL_STARTING: Duration = Duration::from_millis(250);
/// How often a healthy container's health is read, to notice it turning unhealthy.
const HEALTH_POLL_RUNNING: Duration = Duration::from_secs(1);

/// How many times a removal retries a temporarily unavailable engine before giving up (the
/// container is then found again by the next agent start's adoption pass).
const REMOVE_ATTEMPTS: usize = 5;

/// What the worker tells a runner.
#[derive(Debug, Clone)]
pub(crate) struct RunnerInput {
    pub task: Task,
    /// The task has left the assignment set: stop and remove the container, then end.
    pub removed: bool,
}

/// Everything a runner shares with the rest of the agent.
#[derive(Clone)]
pub(crate) struct RunnerContext {
    pub executor: Arc<dyn Executor>,
    pub reporter: StatusSender,
    pub clock: Arc<dyn Clock>,
    pub config: AgentConfig,
    /// The node's networks as last applied (shared with the agent).
    pub networks: Arc<RwLock<NetworkStatus>>,
}

/// The outcome of the last network apply: what failed, and every network's name.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetworkStatus {
    pub failures: NetworkFailures,
    pub names: BTreeMap<String, String>,
}

impl RunnerContext {
    /// Why `task`'s networks keep it from running here, if they do.
    fn network_error(&self, task: &Task) -> Option<String> {
        let status = self.networks.read().unwrap_or_else(|e| e.into_inner());
        network_error(task, &status.failures, &status.names)
    }
}

/// How an operation ended.
enum Outcome {
    Done(Result<OpResult, ExecError>),
    /// The input changed so that the operation no longer applies (or the task was removed).
    Interrupted,
    /// The agent is stopping, or the worker dropped the runner.
    Stop,
}

enum OpResult {
    Prepared,
    Started {
        container_id: String,
        pid: i64,
    },
    Exited(crate::executor::ExitStatus),
    Stopped,
    /// The container's health changed while it ran.
    Health(Health),
}

/// Drives one task until it is removed from the assignment set or the agent stops.
pub(crate) async fn run(
    ctx: RunnerContext,
    mut input: watch::Receiver<RunnerInput>,
    mut observed: Observed,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::new(ctx.config.retry_min, ctx.config.retry_max);
    loop {
        let (task, removed) = {
            let current = input.borrow_and_update();
            (current.task.clone(), current.removed)
        };
        if removed {
            remove(&ctx, &task, &cancel).await;
            return;
        }
        // The manager may know a later state than ours (e.g. after an agent restart).
        observed.state = observed.state.max(task.status.state);

        let action = step(&task, &observed);
        debug!(?action, state = %observed.state, "task step");
        let outcome = match action {
            Action::Report(report) => {
                let status = TaskStatus {
                    timestamp: shoal_types::time::rfc3339(ctx.clock.now()),
                    state: report.state,
                    message: report.message.to_string(),
                    err: report.err.clone(),
                    container_status: report.container_status,
                    port_status: if report.state == TaskState::Running {
                        host_port_status(&task)
                    } else {
                        Default::default()
                    },
                };
                if report.state.is_terminal() && !report.err.is_empty() {
                    info!(state = %report.state, err = %report.err, "task ended");
                } else {
                    info!(state = %report.state, "task state");
                }
                if !ctx
                    .reporter
                    .send(StatusUpdate {
                        task_id: task.id.clone(),
                        status,
                    })
                    .await
                {
                    return;
                }
                observed.state = report.state;
                continue;
            }
            Action::Idle => {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    changed = input.changed() => {
                        if changed.is_err() && !input.borrow().removed {
                            return;
                        }
                    }
                }
                continue;
            }
            op => perform(&ctx, &task, &observed, op, &mut input, &cancel).await,
        };

        match outcome {
            Outcome::Stop => return,
            Outcome::Interrupted => continue,
            Outcome::Done(Ok(result)) => {
                backoff.reset();
                apply(&mut observed, result);
            }
            Outcome::Done(Err(e)) if e.is_temporary() => {
                let delay = backoff.next_delay();
                warn!(error = %e, retry_in = ?delay, "engine unavailable; retrying");
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Outcome::Done(Err(e)) => {
                warn!(error = %e, "task operation failed");
                observed.container = ContainerState::Failed {
                    rejected: e.is_rejection(),
                    err: e.to_string(),
                };
            }
        }
    }
}

fn apply(observed: &mut Observed, result: OpResult) {
    match result {
        OpResult::Prepared => observed.container = ContainerState::Created,
        OpResult::Started { container_id, pid } => {
            if !container_id.is_empty() {
                observed.container_id = container_id;
            }
            observed.container = ContainerState::Running { pid };
            observed.health = Health::Unknown;
        }
        OpResult::Health(health) => observed.health = health,
        OpResult::Exited(exit) => {
            if !exit.container_id.is_empty() {
                observed.container_id = exit.container_id.clone();
            }
            observed.container = ContainerState::Exited(exit);
        }
        OpResult::Stopped => observed.container = ContainerState::Stopped,
    }
}

/// Whether stopping the task waits [`AgentConfig::stop_drain`] first: its container runs and
/// has addresses that names and load balancers pointed at.
fn drains(task: &Task, observed: &Observed) -> bool {
    matches!(observed.container, ContainerState::Running { .. })
        && task.networks.iter().any(|n| !n.addresses.is_empty())
}

/// Runs one executor operation, watching for removal, desired-state changes and cancellation.
async fn perform(
    ctx: &RunnerContext,
    task: &Task,
    observed: &Observed,
    action: Action,
    input: &mut watch::Receiver<RunnerInput>,
    cancel: &CancellationToken,
) -> Outcome {
    let exec = ctx.executor.as_ref();
    let op = async {
        match action {
            Action::Prepare => match ctx.network_error(task) {
                Some(err) => Err(ExecError::Rejected(err)),
                None => exec.prepare(task).await.map(|()| OpResult::Prepared),
            },
            Action::Start => exec.start(task).await.map(|s| OpResult::Started {
                container_id: s.container_id,
                pid: s.pid,
            }),
            Action::Wait if observed.health != Health::NoCheck => {
                tokio::select! {
                    exit = exec.wait(task) => exit.map(OpResult::Exited),
                    health = watch_health(exec, task, observed.health) => Ok(OpResult::Health(health)),
                }
            }
            Action::Wait => exec.wait(task).await.map(OpResult::Exited),
            Action::Shutdown => {
                if drains(task, observed) {
                    debug!(drain = ?ctx.config.stop_drain, "draining connections before the stop");
                    tokio::time::sleep(ctx.config.stop_drain).await;
                }
                match exec.shutdown(task).await {
                    Err(e) if e.is_not_found() => Ok(OpResult::Stopped),
                    r => r.map(|()| OpResult::Stopped),
                }
            }
            Action::Report(_) | Action::Idle => {
                Err(ExecError::Engine("invariant: not an operation".into()))
            }
        }
    };
    tokio::pin!(op);
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Outcome::Stop,
            changed = input.changed() => {
                let current = input.borrow();
                if current.removed {
                    return Outcome::Interrupted;
                }
                if changed.is_err() {
                    return Outcome::Stop;
                }
                // Only a wait is abandoned for a new decision; other operations are short and
                // finish first, then the new task is stepped.
                if matches!(action, Action::Wait) {
                    let mut seen = observed.clone();
                    seen.state = seen.state.max(current.task.status.state);
                    if step(&current.task, &seen) != Action::Wait {
                        return Outcome::Interrupted;
                    }
                }
            }
            result = &mut op => return Outcome::Done(result),
        }
    }
}

/// Polls the container's health until it differs from `current` (the engine runs the
/// healthcheck; this only reads its verdict). Read errors are logged and retried: a container
/// that is gone ends the concurrent `wait` instead.
async fn watch_health(exec: &dyn Executor, task: &Task, current: Health) -> Health {
    let mut first = current == Health::Unknown;
    loop {
        if !first {
            let period = match current {
                Health::Healthy => HEALTH_POLL_RUNNING,
                _ => HEALTH_POLL_STARTING,
            };
            tokio::time::sleep(period).await;
        }
        first = false;
        match exec.health(task).await {
            Ok(health) if health != current => {
                debug!(?health, "container health changed");
                return health;
            }
            Ok(_) => {}
            Err(e) => debug!(error = %e, "reading container health failed"),
        }
    }
}

/// The task left the assignment set: stop and remove its container (SwarmKit's
/// `controller.Remove`). No status is reported; the manager has forgotten the task.
async fn remove(ctx: &RunnerContext, task: &Task, cancel: &CancellationToken) {
    let mut backoff = Backoff::new(ctx.config.retry_min, ctx.config.retry_max);
    for attempt in 1..=REMOVE_ATTEMPTS {
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            r = async {
                match ctx.executor.shutdown(task).await {
                    Err(e) if !e.is_not_found() => debug!(error = %e, "shutdown before removal failed"),
                    _ => {}
                }
                ctx.executor.remove(task).await
            } => r,
        };
        match result {
            Ok(()) => {
                info!("task container removed");
                return;
            }
            Err(e) if e.is_not_found() => return,
            Err(e) if e.is_temporary() && attempt < REMOVE_ATTEMPTS => {
                let delay = backoff.next_delay();
                warn!(error = %e, retry_in = ?delay, "removing task container failed; retrying");
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => {
                warn!(error = %e, "removing task container failed");
                return;
            }
        }
    }
}
