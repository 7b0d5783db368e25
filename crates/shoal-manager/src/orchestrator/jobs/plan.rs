//! The jobs orchestrator's pure decision.
//!
//! A replicated job runs `TotalCompletions` completions in slots 1..=total, at most
//! `MaxConcurrent` at a time; a global job runs one completion on every eligible node. Only
//! tasks of the current `JobIteration` count; runnable tasks of older iterations are stopped.
//! A slot (or node) is done when one of its tasks COMPLETEd, busy while one is runnable, and
//! given up when its tasks all ended without completing and none is runnable (the restart
//! supervisor declined another attempt): only slots never tried get new tasks.

use super::super::global::{keeps_tasks, requirements, takes_new_tasks};
use super::super::{is_runnable, job_iteration};
use shoal_types::service::ServiceMode;
use shoal_types::{Node, NodeId, Service, Task, TaskId, TaskState};
use std::collections::{BTreeMap, BTreeSet};

/// What the orchestrator must write for one job service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Slots of a replicated job that get a new task.
    pub create_slots: Vec<u64>,
    /// Nodes that get a new task of a global job.
    pub create_on: Vec<NodeId>,
    /// Tasks to stop (desired SHUTDOWN).
    pub shutdown: Vec<TaskId>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create_slots.is_empty() && self.create_on.is_empty() && self.shutdown.is_empty()
    }

    pub fn changes(&self) -> usize {
        self.create_slots.len() + self.create_on.len() + self.shutdown.len()
    }
}

/// Progress of one slot (or node) in the current iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Progress {
    /// Tasks ended without completing and none is runnable.
    GivenUp,
    /// A task is runnable.
    Busy,
    /// A task completed.
    Done,
}

fn progress<'a>(tasks: impl Iterator<Item = &'a Task>) -> Option<Progress> {
    tasks
        .map(|t| {
            if t.status.state == TaskState::Complete {
                Progress::Done
            } else if is_runnable(t) {
                Progress::Busy
            } else {
                Progress::GivenUp
            }
        })
        .max()
}

/// Decides the writes for a job service. Other modes get an empty plan.
///
/// At most `max_create` new tasks are planned, however large `MaxConcurrent` is: the caller
/// creates the rest in later passes, so the plan stays in proportion to the tasks that exist.
pub fn reconcile(service: &Service, tasks: &[&Task], nodes: &[&Node], max_create: usize) -> Plan {
    let mode = service.mode();
    if !mode.is_job() {
        return Plan::default();
    }
    let iteration = Some(job_iteration(service));
    let mut plan = Plan::default();
    let (current, old): (Vec<&Task>, Vec<&Task>) = tasks
        .iter()
        .copied()
        .partition(|t| t.job_iteration == iteration);
    plan.shutdown
        .extend(old.iter().filter(|t| is_runnable(t)).map(|t| t.id.clone()));
    match mode {
        ServiceMode::ReplicatedJob {
            max_concurrent,
            total,
        } => {
            let mut slots: BTreeMap<u64, Vec<&Task>> = BTreeMap::new();
            for t in current {
                slots.entry(t.slot).or_default().push(t);
            }
            let states: BTreeMap<u64, Progress> = slots
                .iter()
                .filter_map(|(s, ts)| Some((*s, progress(ts.iter().copied())?)))
                .collect();
            let busy = states.values().filter(|p| **p == Progress::Busy).count() as u64;
            let room = usize::try_from(max_concurrent.saturating_sub(busy)).unwrap_or(usize::MAX);
            plan.create_slots = (1..=total)
                .filter(|s| !states.contains_key(s))
                .take(room.min(max_create))
                .collect();
        }
        ServiceMode::GlobalJob => {
            let req = requirements(service);
            let mut by_node: BTreeMap<&NodeId, Vec<&Task>> = BTreeMap::new();
            for t in current {
                by_node.entry(&t.node_id).or_default().push(t);
            }
            let known: BTreeSet<&NodeId> = nodes.iter().map(|n| &n.id).collect();
            for node in nodes {
                match by_node.get(&node.id) {
                    None if takes_new_tasks(&req, node) && plan.create_on.len() < max_create => {
                        plan.create_on.push(node.id.clone())
                    }
                    None => {}
                    Some(ts) if !keeps_tasks(&req, node) => plan
                        .shutdown
                        .extend(ts.iter().filter(|t| is_runnable(t)).map(|t| t.id.clone())),
                    Some(_) => {}
                }
            }
            // Tasks on nodes that were removed.
            for ts in by_node
                .iter()
                .filter(|(n, _)| !known.contains(*n))
                .map(|(_, ts)| ts)
            {
                plan.shutdown
                    .extend(ts.iter().filter(|t| is_runnable(t)).map(|t| t.id.clone()));
            }
        }
        ServiceMode::Replicated { .. } | ServiceMode::Global => {}
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::{
        NodeSpec, NodeSpecAvailabilityEnum, NodeState, NodeStatus, ServiceSpec, ServiceSpecMode,
        ServiceSpecModeReplicatedJob,
    };
    use shoal_types::{TaskStatus, Version};

    fn job(max: i64, total: i64) -> Service {
        Service {
            id: "job".into(),
            spec: ServiceSpec {
                mode: Some(ServiceSpecMode {
                    replicated_job: Some(ServiceSpecModeReplicatedJob {
                        max_concurrent: Some(max),
                        total_completions: Some(total),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            spec_version: Version { index: 4 },
            ..Default::default()
        }
    }

    /// No limit on creations.
    const ALL: usize = usize::MAX;

    fn task(id: &str, slot: u64, state: TaskState, desired: TaskState, iteration: u64) -> Task {
        Task {
            id: id.into(),
            slot,
            status: TaskStatus {
                state,
                ..Default::default()
            },
            desired_state: desired,
            job_iteration: Some(Version { index: iteration }),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_job_starts_max_concurrent_tasks() {
        assert_eq!(reconcile(&job(2, 5), &[], &[], ALL).create_slots, [1, 2]);
    }

    #[test]
    fn a_huge_max_concurrent_plans_only_the_paced_creations() {
        // Without the bound this plan would hold a billion slot numbers.
        let plan = reconcile(&job(1_000_000_000, i64::MAX), &[], &[], 4);
        assert_eq!(plan.create_slots, [1, 2, 3, 4]);
    }

    #[test]
    fn a_completion_makes_room_for_the_next_slot() {
        let tasks = [
            task("a", 1, TaskState::Complete, TaskState::Complete, 4),
            task("b", 2, TaskState::Running, TaskState::Running, 4),
        ];
        let plan = reconcile(&job(2, 3), &tasks.iter().collect::<Vec<_>>(), &[], ALL);
        assert_eq!(plan.create_slots, [3]);
    }

    #[test]
    fn a_finished_job_makes_nothing() {
        let tasks: Vec<Task> = (1..=3)
            .map(|s| {
                task(
                    &format!("t{s}"),
                    s,
                    TaskState::Complete,
                    TaskState::Complete,
                    4,
                )
            })
            .collect();
        assert!(reconcile(&job(2, 3), &tasks.iter().collect::<Vec<_>>(), &[], ALL).is_empty());
    }

    #[test]
    fn a_slot_the_restart_supervisor_gave_up_on_is_not_retried() {
        let tasks = [task("a", 1, TaskState::Failed, TaskState::Shutdown, 4)];
        let plan = reconcile(&job(1, 2), &tasks.iter().collect::<Vec<_>>(), &[], ALL);
        assert_eq!(plan.create_slots, [2]);
    }

    #[test]
    fn tasks_of_an_older_iteration_are_stopped_and_not_counted() {
        let tasks = [task("a", 1, TaskState::Running, TaskState::Running, 3)];
        let plan = reconcile(&job(1, 1), &tasks.iter().collect::<Vec<_>>(), &[], ALL);
        assert_eq!(plan.shutdown, [TaskId::from("a")]);
        assert_eq!(plan.create_slots, [1]);
    }

    #[test]
    fn a_global_job_runs_once_on_every_eligible_node() {
        let mut svc = job(1, 1);
        svc.spec.mode = Some(ServiceSpecMode {
            global_job: Some(Default::default()),
            ..Default::default()
        });
        let node = |id: &str, state| Node {
            id: id.into(),
            spec: NodeSpec {
                availability: Some(NodeSpecAvailabilityEnum::ACTIVE),
                ..Default::default()
            },
            status: NodeStatus {
                state: Some(state),
                ..Default::default()
            },
            ..Default::default()
        };
        let nodes = [
            node("a", NodeState::READY),
            node("b", NodeState::READY),
            node("c", NodeState::DOWN),
        ];
        let mut done = task("t1", 0, TaskState::Complete, TaskState::Complete, 4);
        done.node_id = "a".into();
        let plan = reconcile(&svc, &[&done], &nodes.iter().collect::<Vec<_>>(), ALL);
        assert_eq!(plan.create_on, [NodeId::from("b")]);
    }
}
