//! The replicated orchestrator's pure decision: what to create and stop so that a service has
//! `replicas` runnable slots.
//!
//! A slot is occupied while one of its tasks has desired state RUNNING or below, whatever its
//! observed state: a failed task waiting for the restart supervisor still holds its slot.
//! Like SwarmKit, the count is what is kept, not the slot numbers: new tasks take the lowest
//! free numbers, and scaling down stops the slots that leave the best balance (nodes with
//! the most copies first, then tasks not running, then the highest slot numbers).

use crate::orchestrator::{is_dirty, is_runnable};
use shoal_types::service::ServiceMode;
use shoal_types::{NodeId, Service, Task, TaskId, TaskState};
use std::collections::{BTreeMap, HashMap};

/// What the orchestrator must write for one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Slots that get a new task.
    pub create: Vec<u64>,
    /// Tasks to stop (desired SHUTDOWN): slots scaled away and duplicates.
    pub shutdown: Vec<TaskId>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.shutdown.is_empty()
    }

    /// How many store changes the plan makes.
    pub fn changes(&self) -> usize {
        self.create.len() + self.shutdown.len()
    }
}

/// Decides the writes that bring `service` (replicated mode) to its replica count, given all
/// of its tasks. Any other mode gets an empty plan.
///
/// A slot holding a dirty task (made from an older spec) belongs to the
/// [update supervisor](crate::update): it may hold an old and a new task at once during a
/// `start-first` update, so its tasks are neither deduplicated nor replaced here; it is only
/// counted, and stopped as a whole when the service is scaled down.
///
/// At most `max_create` slots are planned for new tasks, however many replicas are missing:
/// the plan, like the work of applying it, stays in proportion to the tasks that exist, and the
/// caller creates the rest in later passes.
pub fn reconcile(service: &Service, tasks: &[&Task], max_create: usize) -> Plan {
    let ServiceMode::Replicated { replicas } = service.mode() else {
        return Plan::default();
    };
    let mut plan = Plan::default();
    let mut groups: BTreeMap<u64, Vec<&Task>> = BTreeMap::new();
    for task in tasks.iter().copied().filter(|t| is_runnable(t)) {
        if task.slot == 0 {
            plan.shutdown.push(task.id.clone());
        } else {
            groups.entry(task.slot).or_default().push(task);
        }
    }
    let mut slots: BTreeMap<u64, &Task> = BTreeMap::new();
    for (slot, group) in &mut groups {
        group.sort_by(|a, b| keep_order(a).cmp(&keep_order(b)));
        let updating = group.iter().any(|t| is_dirty(service, t));
        if !updating {
            plan.shutdown
                .extend(group.iter().skip(1).map(|t| t.id.clone()));
            group.truncate(1);
        }
        slots.insert(*slot, group[0]);
    }

    let count = slots.len() as u64;
    if count < replicas {
        let missing = usize::try_from(replicas - count).unwrap_or(usize::MAX);
        let wanted = missing.min(max_create);
        let mut next = 1u64;
        while plan.create.len() < wanted {
            if !slots.contains_key(&next) {
                plan.create.push(next);
            }
            next += 1;
        }
    } else if count > replicas {
        for slot in removal_order(&slots)
            .into_iter()
            .take((count - replicas) as usize)
        {
            if let Some(group) = groups.get(&slot) {
                plan.shutdown.extend(group.iter().map(|t| t.id.clone()));
            }
        }
    }
    plan
}

/// Which of two runnable tasks in one slot to keep: not ended, then furthest along, then the
/// smallest id (so the choice is stable).
fn keep_order(task: &Task) -> (bool, std::cmp::Reverse<TaskState>, &str) {
    (
        task.status.state.is_terminal(),
        std::cmp::Reverse(task.status.state),
        task.id.as_str(),
    )
}

/// Occupied slots, the first to stop first. Each assigned task gets its rank among the
/// service's tasks on its node (running tasks and low slots ranked first); unassigned tasks go
/// first, then the highest ranks, then tasks not running, then high slot numbers.
fn removal_order(slots: &BTreeMap<u64, &Task>) -> Vec<u64> {
    let mut by_rank: Vec<(u64, &Task)> = slots.iter().map(|(s, t)| (*s, *t)).collect();
    by_rank.sort_by_key(|(slot, t)| (t.status.state != TaskState::Running, *slot));
    let mut per_node: HashMap<&NodeId, u64> = HashMap::new();
    let mut ranked: Vec<(u64, u64, bool)> = by_rank
        .into_iter()
        .map(|(slot, t)| {
            let rank = if t.node_id.is_empty() {
                u64::MAX
            } else {
                let n = per_node.entry(&t.node_id).or_default();
                *n += 1;
                *n
            };
            (slot, rank, t.status.state != TaskState::Running)
        })
        .collect();
    ranked.sort_by_key(|r| std::cmp::Reverse((r.1, r.2, r.0)));
    ranked.into_iter().map(|(slot, _, _)| slot).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::{
        ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
    };
    use shoal_types::{TaskStatus, Version};

    fn service(replicas: i64) -> Service {
        Service {
            id: "svc".into(),
            spec: ServiceSpec {
                name: Some("web".into()),
                mode: Some(ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated {
                        replicas: Some(replicas),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn task(id: &str, slot: u64, node: &str, state: TaskState) -> Task {
        Task {
            id: id.into(),
            service_id: "svc".into(),
            slot,
            node_id: node.into(),
            status: TaskStatus {
                state,
                ..Default::default()
            },
            desired_state: TaskState::Running,
            ..Default::default()
        }
    }

    /// No limit on creations.
    const ALL: usize = usize::MAX;

    fn refs(tasks: &[Task]) -> Vec<&Task> {
        tasks.iter().collect()
    }

    #[test]
    fn a_new_service_gets_one_task_per_slot() {
        let plan = reconcile(&service(3), &[], ALL);
        assert_eq!(plan.create, [1, 2, 3]);
        assert!(plan.shutdown.is_empty());
    }

    #[test]
    fn scaling_up_fills_the_lowest_free_slots() {
        let tasks = [
            task("a", 1, "n1", TaskState::Running),
            task("c", 3, "n1", TaskState::Running),
        ];
        assert_eq!(reconcile(&service(4), &refs(&tasks), ALL).create, [2, 4]);
    }

    #[test]
    fn a_failed_task_still_holds_its_slot_for_the_restart_supervisor() {
        let tasks = [task("a", 1, "n1", TaskState::Failed)];
        assert!(reconcile(&service(1), &refs(&tasks), ALL).is_empty());
    }

    #[test]
    fn a_stopped_task_frees_its_slot() {
        let mut stopped = task("a", 1, "n1", TaskState::Shutdown);
        stopped.desired_state = TaskState::Shutdown;
        assert_eq!(reconcile(&service(1), &[&stopped], ALL).create, [1]);
    }

    #[test]
    fn scaling_down_on_one_node_stops_the_highest_slots() {
        let tasks: Vec<Task> = (1..=5)
            .map(|s| task(&format!("t{s}"), s, "n1", TaskState::Running))
            .collect();
        let plan = reconcile(&service(2), &refs(&tasks), ALL);
        assert_eq!(plan.shutdown, ["t5", "t4", "t3"].map(TaskId::from));
    }

    #[test]
    fn scaling_down_prefers_the_node_with_the_most_copies() {
        let tasks = [
            task("t1", 1, "n1", TaskState::Running),
            task("t2", 2, "n2", TaskState::Running),
            task("t3", 3, "n2", TaskState::Running),
            task("t4", 4, "n1", TaskState::Running),
            task("t5", 5, "n2", TaskState::Running),
        ];
        let plan = reconcile(&service(3), &refs(&tasks), ALL);
        assert_eq!(
            plan.shutdown,
            ["t5", "t4"].map(TaskId::from),
            "leaves n1 and n2 with one task more or less"
        );
    }

    #[test]
    fn scaling_down_prefers_tasks_that_are_not_running() {
        let tasks = [
            task("t1", 1, "n1", TaskState::Starting),
            task("t2", 2, "n2", TaskState::Running),
            task("t3", 3, "", TaskState::Pending),
        ];
        let plan = reconcile(&service(1), &refs(&tasks), ALL);
        assert_eq!(
            plan.shutdown,
            ["t3", "t1"].map(TaskId::from),
            "unassigned first, then the one still starting"
        );
    }

    #[test]
    fn a_second_runnable_task_in_a_slot_is_stopped() {
        let tasks = [
            task("a", 1, "n1", TaskState::Running),
            task("b", 1, "n1", TaskState::Assigned),
        ];
        let plan = reconcile(&service(1), &refs(&tasks), ALL);
        assert_eq!(plan.shutdown, [TaskId::from("b")]);
    }

    #[test]
    fn slots_being_updated_are_left_to_the_update_supervisor() {
        let mut svc = service(2);
        svc.spec_version = Version { index: 9 };
        svc.spec.task_template = Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                env: Some(vec!["A=1".into()]),
                ..Default::default()
            }),
            ..Default::default()
        });
        let mut new = task("new", 1, "n1", TaskState::Starting);
        new.spec = svc.spec.task_template.clone().unwrap_or_default();
        new.spec_version = svc.spec_version;
        let tasks = [
            task("a", 1, "n1", TaskState::Running),
            new,
            task("b", 2, "n1", TaskState::Running),
        ];
        let plan = reconcile(&svc, &refs(&tasks), ALL);
        assert!(
            plan.is_empty(),
            "dirty tasks and a start-first pair are not touched"
        );
        let plan = reconcile(
            &{
                let mut s = svc.clone();
                s.spec.mode = service(1).spec.mode;
                s
            },
            &refs(&tasks),
            ALL,
        );
        assert_eq!(
            plan.shutdown,
            ["b"].map(TaskId::from),
            "scaling down stops a whole slot"
        );
    }

    #[test]
    fn a_huge_replica_count_plans_only_the_paced_creations() {
        // Without the bound this plan would hold a billion slot numbers (8 GB).
        let tasks = [task("a", 2, "n1", TaskState::Running)];
        let plan = reconcile(&service(1_000_000_000), &refs(&tasks), 3);
        assert_eq!(plan.create, [1, 3, 4]);
        let plan = reconcile(&service(i64::MAX), &[], 2);
        assert_eq!(plan.create, [1, 2]);
    }

    #[test]
    fn other_modes_are_left_alone() {
        let mut svc = service(1);
        svc.spec.mode = Some(ServiceSpecMode {
            global: Some(Default::default()),
            ..Default::default()
        });
        assert!(reconcile(&svc, &[], ALL).is_empty());
    }
}
