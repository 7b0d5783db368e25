//! The task reaper: deletes old tasks so the store does not grow without bound.
//!
//! It keeps at most `Cluster::task_history_limit()` ended tasks per slot ([`plan`]), deletes
//! tasks stopped before they reached a node, and deletes the tasks of deleted services once
//! they have stopped. When a task is deleted its node's assignment set shrinks, and the
//! agent removes the container.

pub mod plan;

pub use plan::{is_history, reap_deleted_service, reap_slot};

use crate::controller::{self, Controller};
use shoal_store::{Event, EventKind, StoreError, StoreHandle, Tables};
use shoal_types::cluster::DEFAULT_TASK_HISTORY;
use shoal_types::{Kind, Object, ServiceId, Task, TaskId, TaskState};
use std::collections::BTreeSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The key of a task's slot in the store's `slot` index: `<service>/<slot>/<node if global>`.
pub fn slot_key(task: &Task) -> String {
    let node = if task.slot == 0 {
        task.node_id.as_str()
    } else {
        ""
    };
    format!("{}/{}/{}", task.service_id, task.slot, node)
}

/// The reaper loop's state.
#[derive(Debug, Default)]
pub struct TaskReaper {
    all: bool,
    slots: BTreeSet<String>,
    deleted: BTreeSet<ServiceId>,
}

/// Runs the task reaper until `cancel` fires.
pub async fn run(
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), crate::ControllerError> {
    controller::run_controller(TaskReaper::default(), store, cancel).await
}

/// Whether `task` may be deleted now, re-checked inside the deleting transaction.
fn deletable(tables_has_service: bool, task: &Task) -> bool {
    if tables_has_service {
        is_history(task)
    } else {
        task.status.state.is_terminal() || task.status.state < TaskState::Assigned
    }
}

impl TaskReaper {
    fn choose(
        &self,
        tables: &Tables,
        slots: &BTreeSet<String>,
        deleted: &BTreeSet<ServiceId>,
    ) -> Vec<TaskId> {
        let limit = tables
            .cluster()
            .map(|c| c.task_history_limit())
            .unwrap_or(DEFAULT_TASK_HISTORY);
        let mut out = Vec::new();
        for key in slots {
            let tasks = tables.tasks.find("slot", key);
            let Some(first) = tasks.first() else {
                continue;
            };
            if tables.services.get(first.service_id.as_str()).is_some() {
                out.extend(reap_slot(&tasks, limit));
            } else {
                out.extend(reap_deleted_service(&tasks));
            }
        }
        for id in deleted
            .iter()
            .filter(|id| tables.services.get(id.as_str()).is_none())
        {
            out.extend(reap_deleted_service(
                &tables.tasks.find("service", id.as_str()),
            ));
        }
        out.sort();
        out.dedup();
        out
    }
}

impl Controller for TaskReaper {
    const NAME: &'static str = "task-reaper";

    fn observe(&mut self, event: &Event) {
        match (&event.object, event.kind) {
            (Object::Task(t), EventKind::Created | EventKind::Updated)
                if is_history(t) || t.status.state.is_terminal() =>
            {
                self.slots.insert(slot_key(t));
            }
            (Object::Service(s), EventKind::Deleted) => {
                self.deleted.insert(s.id.clone());
            }
            (Object::Cluster(_), _) => self.all = true,
            _ => {}
        }
    }

    fn mark_all(&mut self) {
        self.all = true;
    }

    async fn reconcile(&mut self, store: &StoreHandle, _now: Instant) -> Result<(), StoreError> {
        let all = std::mem::take(&mut self.all);
        let mut slots = std::mem::take(&mut self.slots);
        let mut deleted = std::mem::take(&mut self.deleted);
        let doomed = store.view(|t| {
            if all {
                for task in t.tasks.iter() {
                    if is_history(task) {
                        slots.insert(slot_key(task));
                    }
                    // Network attachments have no service; they leave with their container.
                    if t.services.get(task.service_id.as_str()).is_none() && !task.is_attachment() {
                        deleted.insert(task.service_id.clone());
                    }
                }
            }
            self.choose(t, &slots, &deleted)
        });
        if doomed.is_empty() {
            return Ok(());
        }
        tracing::debug!(tasks = doomed.len(), "reaping tasks");
        controller::update_in_batches(store, &doomed, |tx, id| {
            let Some(task) = tx.task(id.as_str()) else {
                return Ok(());
            };
            let has_service = tx.service(task.service_id.as_str()).is_some();
            if task.is_attachment() || !deletable(has_service, &task) {
                return Ok(());
            }
            tx.delete(Kind::Task, id.as_str())
        })
        .await
    }
}
