//! The allocator: gives new tasks what they need before scheduling and moves them from NEW
//! to PENDING. Networks (addresses, VIPs) come later; for now there is nothing to allocate,
//! so it only advances the state, with SwarmKit's message.

use crate::controller::{self, Controller};
use shoal_store::{Event, StoreError, StoreHandle};
use shoal_types::{Object, Task, TaskId, TaskState};
use std::collections::BTreeSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// `Status.Message` of a task waiting for the scheduler (SwarmKit's words).
pub const PENDING_MESSAGE: &str = "pending task scheduling";

/// Whether the allocator should advance `task`: NEW and still wanted. A task shut down before
/// it was allocated stays NEW and is reaped.
pub fn needs_allocation(task: &Task) -> bool {
    task.status.state == TaskState::New && task.desired_state <= TaskState::Running
}

/// The allocator loop's state.
#[derive(Debug, Default)]
pub struct Allocator {
    all: bool,
    dirty: BTreeSet<TaskId>,
}

/// Runs the allocator until `cancel` fires.
pub async fn run(
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), crate::ControllerError> {
    controller::run_controller(Allocator::default(), store, cancel).await
}

impl Controller for Allocator {
    const NAME: &'static str = "allocator";

    fn observe(&mut self, event: &Event) {
        if let Object::Task(t) = &event.object
            && event.kind != shoal_store::EventKind::Deleted
            && needs_allocation(t)
        {
            self.dirty.insert(t.id.clone());
        }
    }

    fn mark_all(&mut self) {
        self.all = true;
    }

    async fn reconcile(&mut self, store: &StoreHandle, _now: Instant) -> Result<(), StoreError> {
        let ids: Vec<TaskId> = if std::mem::take(&mut self.all) {
            self.dirty.clear();
            store.view(|t| {
                t.tasks
                    .iter()
                    .filter(|t| needs_allocation(t))
                    .map(|t| t.id.clone())
                    .collect()
            })
        } else {
            std::mem::take(&mut self.dirty).into_iter().collect()
        };
        if ids.is_empty() {
            return Ok(());
        }
        let stamp = controller::timestamp(store);
        controller::update_in_batches(store, &ids, |tx, id| {
            let Some(mut task) = tx.task(id.as_str()) else {
                return Ok(());
            };
            if !needs_allocation(&task) {
                return Ok(());
            }
            task.status.state = TaskState::Pending;
            task.status.message = PENDING_MESSAGE.to_string();
            task.status.timestamp = stamp.clone();
            tx.update(Object::Task(task))
        })
        .await
    }
}
