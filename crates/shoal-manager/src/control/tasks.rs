//! Tasks: list and resolve.

use super::lookup::resolve;
use super::{Control, ControlError};
use shoal_types::Task;

impl Control {
    pub fn tasks(&self) -> Vec<Task> {
        self.store.view(|t| t.tasks.iter().cloned().collect())
    }

    pub fn resolve_task(&self, input: &str) -> Result<Task, ControlError> {
        self.store
            .view(|t| resolve(t.tasks.iter(), input, "task", |t| t.id.as_str(), |_| None).cloned())
    }

    /// True when `task` was made from its service's current spec (the `_up-to-date` filter;
    /// swarmkit `IsTaskDirty` negated).
    pub fn task_up_to_date(&self, task: &Task) -> bool {
        self.store.view(|t| {
            t.services
                .get(task.service_id.as_str())
                .is_some_and(|s| s.spec_version == task.spec_version)
        })
    }
}
