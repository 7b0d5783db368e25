//! The worker: reconciles the dispatcher's complete assignment set against the task runners
//! of this node.
//!
//! Each assigned task gets one runner ([`crate::runner`]); a task that changes is handed to its
//! runner; a task that leaves the set has its runner stop and remove its container. At start
//! the worker lists the engine's containers labelled with this node; the first assignment set
//! then adopts the containers of assigned tasks (no second container is ever created for a
//! task) and removes the others.

use crate::backoff::Backoff;
use crate::executor::{ExistingContainer, ExitStatus, Health};
use crate::runner::{self, RunnerContext, RunnerInput};
use crate::step::{ContainerState, Observed};
use shoal_types::{NodeId, Task, TaskId};
use std::collections::{HashMap, HashSet};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

/// The runners of one node.
pub(crate) struct Worker {
    ctx: RunnerContext,
    node_id: NodeId,
    runners: HashMap<TaskId, watch::Sender<RunnerInput>>,
    tasks: JoinSet<()>,
    /// Containers found at start; taken by the first reconcile.
    existing: Option<HashMap<TaskId, ExistingContainer>>,
    cancel: CancellationToken,
}

/// The runner's starting point for `task`, given the container found for it at start-up.
pub(crate) fn initial_observation(task: &Task, existing: Option<&ExistingContainer>) -> Observed {
    let Some(c) = existing else {
        return Observed {
            state: task.status.state,
            ..Default::default()
        };
    };
    let container = if c.running {
        ContainerState::Running { pid: 0 }
    } else if let Some(code) = c.exit_code {
        ContainerState::Exited(ExitStatus {
            container_id: c.container_id.clone(),
            exit_code: code,
            error: String::new(),
        })
    } else {
        ContainerState::Created
    };
    // A running container's health is asked again before the task counts as running.
    let health = if c.running {
        Health::Unknown
    } else {
        Health::NoCheck
    };
    Observed {
        state: task.status.state,
        container,
        container_id: c.container_id.clone(),
        health,
    }
}

impl Worker {
    /// `cancel` stops every runner without touching containers (the agent is stopping).
    pub(crate) fn new(ctx: RunnerContext, node_id: NodeId, cancel: CancellationToken) -> Self {
        Self {
            ctx,
            node_id,
            runners: HashMap::new(),
            tasks: JoinSet::new(),
            existing: None,
            cancel,
        }
    }

    /// Lists this node's containers for adoption, retrying until the engine answers. Returns
    /// false if cancelled first.
    pub(crate) async fn load_existing(&mut self) -> bool {
        let mut backoff = Backoff::new(self.ctx.config.retry_min, self.ctx.config.retry_max);
        loop {
            let listed = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return false,
                r = self.ctx.executor.list(&self.node_id) => r,
            };
            match listed {
                Ok(found) => {
                    info!(node.id = %self.node_id, containers = found.len(), "found existing task containers");
                    self.existing =
                        Some(found.into_iter().map(|c| (c.task_id.clone(), c)).collect());
                    return true;
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    warn!(node.id = %self.node_id, error = %e, retry_in = ?delay, "listing task containers failed; retrying");
                    tokio::select! {
                        biased;
                        _ = self.cancel.cancelled() => return false,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// Makes the runners match `tasks`, the node's complete assignment set.
    pub(crate) fn reconcile(&mut self, tasks: Vec<Task>) {
        self.reap();
        let mut adopting = self.existing.take();
        let mut assigned = HashSet::with_capacity(tasks.len());
        for task in tasks {
            assigned.insert(task.id.clone());
            if let Some(tx) = self.runners.get(&task.id) {
                tx.send_if_modified(|current| {
                    if current.task == task {
                        return false;
                    }
                    current.task = task;
                    true
                });
                continue;
            }
            let found = adopting.as_mut().and_then(|m| m.remove(&task.id));
            if let Some(c) = &found {
                info!(task.id = %task.id, service.id = %task.service_id, container.id = %c.container_id, running = c.running, "adopting existing container");
            }
            let observed = initial_observation(&task, found.as_ref());
            self.spawn_runner(task, observed);
        }

        let gone: Vec<TaskId> = self
            .runners
            .keys()
            .filter(|id| !assigned.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(tx) = self.runners.remove(&id) {
                info!(task.id = %id, "task no longer assigned; removing its container");
                tx.send_modify(|current| current.removed = true);
            }
        }

        for orphan in adopting.into_iter().flat_map(HashMap::into_values) {
            self.spawn_orphan_removal(orphan);
        }
    }

    /// How many tasks have a runner.
    pub(crate) fn runner_count(&self) -> usize {
        self.runners.len()
    }

    /// Stops every runner (containers are left as they are) and waits for them to end.
    pub(crate) async fn shutdown(mut self) {
        self.cancel.cancel();
        self.runners.clear();
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(e) = joined {
                warn!(error = %e, "task runner ended abnormally");
            }
        }
    }

    fn spawn_runner(&mut self, task: Task, observed: Observed) {
        let span = info_span!("task", task.id = %task.id, service.id = %task.service_id, node.id = %self.node_id);
        let (tx, rx) = watch::channel(RunnerInput {
            task: task.clone(),
            removed: false,
        });
        self.runners.insert(task.id.clone(), tx);
        let ctx = self.ctx.clone();
        let cancel = self.cancel.child_token();
        self.tasks
            .spawn(runner::run(ctx, rx, observed, cancel).instrument(span));
    }

    fn spawn_orphan_removal(&mut self, orphan: ExistingContainer) {
        let span = info_span!("orphan", task.id = %orphan.task_id, node.id = %self.node_id, container.id = %orphan.container_id);
        let executor = self.ctx.executor.clone();
        let cancel = self.cancel.child_token();
        self.tasks.spawn(
            async move {
                info!("removing container of a task no longer assigned");
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {}
                    r = executor.remove_existing(&orphan) => match r {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => warn!(error = %e, "removing orphaned container failed"),
                    },
                }
            }
            .instrument(span),
        );
    }

    /// Collects runners that have finished, logging any that panicked.
    fn reap(&mut self) {
        while let Some(joined) = self.tasks.try_join_next() {
            if let Err(e) = joined {
                warn!(error = %e, "task runner ended abnormally");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::{TaskState, TaskStatus};

    fn task(state: TaskState) -> Task {
        Task {
            id: TaskId::from("t1"),
            status: TaskStatus {
                state,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn existing(running: bool, exit_code: Option<i64>) -> ExistingContainer {
        ExistingContainer {
            task_id: TaskId::from("t1"),
            container_id: "c1".into(),
            running,
            exit_code,
        }
    }

    #[test]
    fn a_task_without_a_container_starts_from_its_reported_state() {
        let obs = initial_observation(&task(TaskState::Assigned), None);
        assert_eq!(
            (obs.state, obs.container),
            (TaskState::Assigned, ContainerState::Absent)
        );
    }

    #[test]
    fn found_containers_are_adopted_as_running_exited_or_created() {
        let t = task(TaskState::Running);
        assert_eq!(
            initial_observation(&t, Some(&existing(true, None))).container,
            ContainerState::Running { pid: 0 }
        );
        let exited = initial_observation(&t, Some(&existing(false, Some(2))));
        assert_eq!(
            exited.container,
            ContainerState::Exited(ExitStatus {
                container_id: "c1".into(),
                exit_code: 2,
                error: String::new()
            })
        );
        assert_eq!(exited.container_id, "c1");
        assert_eq!(
            initial_observation(&t, Some(&existing(false, None))).container,
            ContainerState::Created
        );
    }
}
