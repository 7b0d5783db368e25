//! The scheduler: puts PENDING tasks on nodes (ASSIGNED), or leaves them PENDING with
//! Docker's `no suitable node (…)` in `Status.Err`.
//!
//! [`plan`] is the pure decision over node infos and tasks; [`Scheduler`] is the loop that
//! re-plans whenever a task becomes pending, a node changes, or a task frees its node, and
//! writes the decisions in batches.

pub mod bench;
pub mod constraint;
pub mod filter;
pub mod plan;
pub mod spread;
#[cfg(test)]
mod tests;

pub use bench::bench_plan;
pub use filter::{NodeInfo, node_is_ready};
pub use plan::{Decision, is_schedulable, plan};

use crate::controller::{self, Controller, Debounce};
use shoal_store::{Event, StoreError, StoreHandle};
use shoal_types::{Object, Task, TaskState};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// `Status.Message` of a task the scheduler placed (SwarmKit's words).
pub const ASSIGNED_MESSAGE: &str = "scheduler assigned task to node";

/// See [`Scheduler::debounce`].
pub const DEBOUNCE: Debounce = Debounce {
    gap: Duration::from_millis(50),
    max: Duration::from_secs(1),
};

/// The scheduler loop's state: whether anything happened that could change a placement.
#[derive(Debug, Default)]
pub struct Scheduler {
    dirty: bool,
}

/// Runs the scheduler until `cancel` fires.
pub async fn run(
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), crate::ControllerError> {
    controller::run_controller(Scheduler::default(), store, cancel).await
}

/// Whether a task change can change what the scheduler decides: a task to place, or a task
/// that took or gave back a node's resources.
fn task_event_matters(new: Option<&Task>, old: Option<&Task>) -> bool {
    let holds = |t: Option<&Task>| t.is_some_and(filter::holds_node);
    let active = |t: Option<&Task>| t.is_some_and(|t| t.desired_state <= TaskState::Running);
    new.is_some_and(is_schedulable)
        || holds(new) != holds(old)
        || (holds(new) && active(new) != active(old))
}

/// `decisions` grouped by node (placements in node order, unschedulable ones last), so each
/// written batch touches few nodes: a node then gets its new tasks in one assignment set
/// rather than one set per batch (a burst of 50,000 tasks over 1,000 nodes, written 200 at a
/// time in plan order, would send every node about 50 growing sets).
fn by_node(mut decisions: Vec<Decision>) -> Vec<Decision> {
    decisions.sort_by(|a, b| match (a, b) {
        (Decision::Assign { node_id: x, .. }, Decision::Assign { node_id: y, .. }) => x.cmp(y),
        (Decision::Assign { .. }, Decision::Unschedulable { .. }) => std::cmp::Ordering::Less,
        (Decision::Unschedulable { .. }, Decision::Assign { .. }) => std::cmp::Ordering::Greater,
        _ => std::cmp::Ordering::Equal,
    });
    decisions
}

impl Controller for Scheduler {
    const NAME: &'static str = "scheduler";

    fn observe(&mut self, event: &Event) {
        let old = match &event.old {
            Some(Object::Task(t)) => Some(t),
            _ => None,
        };
        match (&event.object, event.kind) {
            (Object::Node(_), _) => self.dirty = true,
            (Object::Task(t), shoal_store::EventKind::Deleted) => {
                self.dirty |= task_event_matters(None, Some(t))
            }
            (Object::Task(t), _) => self.dirty |= task_event_matters(Some(t), old),
            _ => {}
        }
    }

    fn mark_all(&mut self) {
        self.dirty = true;
    }

    /// SwarmKit's scheduler debounces commits the same way (`commitDebounceGap` 50 ms,
    /// `maxLatency` 1 s): a burst of task creations is placed in a few large rounds, so each
    /// node gets its new tasks together instead of one assignment set per orchestrator batch.
    fn debounce(&self) -> Option<Debounce> {
        self.dirty.then_some(DEBOUNCE)
    }

    async fn reconcile(&mut self, store: &StoreHandle, _now: Instant) -> Result<(), StoreError> {
        if !std::mem::take(&mut self.dirty) {
            return Ok(());
        }
        let input = store.view(|t| {
            let pending: Vec<Task> = t
                .tasks
                .iter()
                .filter(|t| is_schedulable(t))
                .cloned()
                .collect();
            (!pending.is_empty()).then(|| (NodeInfo::from_tables(t), pending))
        });
        let Some((nodes, pending)) = input else {
            return Ok(());
        };
        let decisions = by_node(plan(&nodes, &pending));
        let stamp = controller::timestamp(store);
        controller::update_in_batches(store, &decisions, |tx, decision| {
            let Some(mut task) = tx.task(decision.task_id().as_str()) else {
                return Ok(());
            };
            if !is_schedulable(&task) {
                return Ok(());
            }
            match decision {
                Decision::Assign { node_id, .. } => {
                    if !task.node_id.is_empty() && &task.node_id != node_id {
                        return Ok(());
                    }
                    tracing::debug!(task.id = %task.id, service.id = %task.service_id, node.id = %node_id, "assigned");
                    task.node_id = node_id.clone();
                    task.status.state = TaskState::Assigned;
                    task.status.message = ASSIGNED_MESSAGE.to_string();
                    task.status.err.clear();
                    task.status.timestamp = stamp.clone();
                }
                Decision::Unschedulable { err, .. } => {
                    if &task.status.err == err {
                        return Ok(());
                    }
                    tracing::info!(task.id = %task.id, service.id = %task.service_id, %err, "task cannot be scheduled");
                    task.status.err = err.clone();
                }
            }
            tx.update(Object::Task(task))
        })
        .await
    }
}
