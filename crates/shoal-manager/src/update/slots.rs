//! Slots as the updater sees them: the runnable tasks (desired state RUNNING or below) of a
//! replicated slot or of a global service's node, and whether a slot needs updating.
//!
//! A slot may hold more than one runnable task while it is being updated (`start-first`: the
//! new task runs beside the old one), so slots are groups, not single tasks.

use crate::orchestrator::{is_dirty, is_runnable};
use shoal_types::service::ServiceMode;
use shoal_types::{NodeId, Service, Task};
use std::collections::BTreeMap;

/// A replicated slot number, or the node of a global task.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlotKey {
    Slot(u64),
    Node(NodeId),
}

impl SlotKey {
    /// The key of `task` for a service in `mode`; `None` for a task outside any slot.
    pub fn of(mode: ServiceMode, task: &Task) -> Option<Self> {
        match mode {
            ServiceMode::Replicated { .. } if task.slot > 0 => Some(SlotKey::Slot(task.slot)),
            ServiceMode::Global if !task.node_id.is_empty() => {
                Some(SlotKey::Node(task.node_id.clone()))
            }
            _ => None,
        }
    }
}

/// Whether the updater handles `service`: replicated and global services (jobs are rerun,
/// not rolled).
pub fn is_updatable(service: &Service) -> bool {
    matches!(
        service.mode(),
        ServiceMode::Replicated { .. } | ServiceMode::Global
    )
}

/// The runnable tasks of `service` grouped by slot.
pub fn slots_of<'a>(service: &Service, tasks: &[&'a Task]) -> BTreeMap<SlotKey, Vec<&'a Task>> {
    let mode = service.mode();
    let mut slots: BTreeMap<SlotKey, Vec<&Task>> = BTreeMap::new();
    for task in tasks.iter().copied().filter(|t| is_runnable(t)) {
        if let Some(key) = SlotKey::of(mode, task) {
            slots.entry(key).or_default().push(task);
        }
    }
    slots
}

/// A slot needs the updater when one of its runnable tasks was made from an older spec that
/// differs (SwarmKit `isSlotDirty`; the orchestrators leave such slots alone).
pub fn is_slot_dirty(service: &Service, slot: &[&Task]) -> bool {
    slot.iter().any(|t| is_dirty(service, t))
}

/// The keys of the slots that need updating, in slot order.
pub fn dirty_slots(service: &Service, tasks: &[&Task]) -> Vec<SlotKey> {
    slots_of(service, tasks)
        .into_iter()
        .filter(|(_, slot)| is_slot_dirty(service, slot))
        .map(|(key, _)| key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::testing::{service, task};
    use shoal_types::TaskState;

    #[test]
    fn slots_group_runnable_tasks_and_skip_stopped_ones() {
        let svc = service("v2", 2, 4);
        let mut stopped = task("old", 1, "v1", 1, TaskState::Shutdown);
        stopped.desired_state = TaskState::Shutdown;
        let tasks = [
            task("a", 1, "v2", 2, TaskState::Running),
            task("b", 1, "v1", 1, TaskState::Running),
            stopped,
            task("c", 2, "v1", 1, TaskState::Running),
        ];
        let refs: Vec<&Task> = tasks.iter().collect();
        let slots = slots_of(&svc, &refs);
        assert_eq!(slots[&SlotKey::Slot(1)].len(), 2);
        assert_eq!(slots[&SlotKey::Slot(2)].len(), 1);
        assert_eq!(
            dirty_slots(&svc, &refs),
            [SlotKey::Slot(1), SlotKey::Slot(2)]
        );
    }

    #[test]
    fn a_slot_of_current_tasks_is_clean() {
        let svc = service("v2", 2, 2);
        let tasks = [task("a", 1, "v2", 2, TaskState::Running)];
        let refs: Vec<&Task> = tasks.iter().collect();
        assert!(dirty_slots(&svc, &refs).is_empty());
    }
}
