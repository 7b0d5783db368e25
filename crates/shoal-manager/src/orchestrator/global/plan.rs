//! The global orchestrator's pure decision: one runnable task on every eligible node.
//!
//! A node gets a new task when it is ready, active and satisfies the placement constraints
//! (the scheduler's filters, so both agree). It keeps its task while it is not down, not
//! drained and still satisfies the constraints: a paused node keeps what it runs, and a node
//! whose state is unknown after a leader change is not emptied.

use crate::orchestrator::{is_dirty, is_runnable};
use crate::scheduler::filter::Requirements;
use shoal_types::api::{NodeSpecAvailabilityEnum, NodeState};
use shoal_types::service::ServiceMode;
use shoal_types::{Node, NodeId, Service, Task, TaskId};
use std::collections::BTreeMap;

/// What the orchestrator must write for one global service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Nodes that get a new task.
    pub create_on: Vec<NodeId>,
    /// Tasks to stop: on nodes that left, were drained or went down, and duplicates.
    pub shutdown: Vec<TaskId>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create_on.is_empty() && self.shutdown.is_empty()
    }

    pub fn changes(&self) -> usize {
        self.create_on.len() + self.shutdown.len()
    }
}

/// The placement requirements of `service`'s tasks.
pub fn requirements(service: &Service) -> Requirements {
    match &service.spec.task_template {
        Some(spec) => Requirements::of_spec(service.id.clone(), spec),
        None => Requirements::of_spec(service.id.clone(), &Default::default()),
    }
}

/// Whether `node` should get a new task of a service with requirements `req`.
pub fn takes_new_tasks(req: &Requirements, node: &Node) -> bool {
    req.static_ok(node)
}

/// Whether `node` keeps the task it already runs.
pub fn keeps_tasks(req: &Requirements, node: &Node) -> bool {
    node.status.state != Some(NodeState::DOWN)
        && node.availability() != NodeSpecAvailabilityEnum::DRAIN
        && req.placement_ok(node)
}

/// Decides the writes that give `service` (global mode) one runnable task per eligible
/// node. Other modes get an empty plan.
pub fn reconcile(service: &Service, tasks: &[&Task], nodes: &[&Node]) -> Plan {
    if service.mode() != ServiceMode::Global {
        return Plan::default();
    }
    let req = requirements(service);
    let mut plan = Plan::default();
    let mut by_node: BTreeMap<&NodeId, Vec<&Task>> = BTreeMap::new();
    for task in tasks.iter().copied().filter(|t| is_runnable(t)) {
        by_node.entry(&task.node_id).or_default().push(task);
    }
    for node in nodes {
        let mut here = by_node.remove(&node.id).unwrap_or_default();
        if here.is_empty() {
            if takes_new_tasks(&req, node) {
                plan.create_on.push(node.id.clone());
            }
            continue;
        }
        if !keeps_tasks(&req, node) {
            plan.shutdown.extend(here.iter().map(|t| t.id.clone()));
            continue;
        }
        // A node whose tasks are being updated is the update supervisor's (it may run an
        // old and a new task at once during a start-first update).
        if here.iter().any(|t| is_dirty(service, t)) {
            continue;
        }
        here.sort_by(|a, b| {
            (
                a.status.state.is_terminal(),
                std::cmp::Reverse(a.status.state),
                &a.id,
            )
                .cmp(&(
                    b.status.state.is_terminal(),
                    std::cmp::Reverse(b.status.state),
                    &b.id,
                ))
        });
        plan.shutdown
            .extend(here.iter().skip(1).map(|t| t.id.clone()));
    }
    // Tasks on nodes that no longer exist (or that never had a node).
    plan.shutdown
        .extend(by_node.into_values().flatten().map(|t| t.id.clone()));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::{
        NodeSpec, NodeStatus, ServiceSpec, ServiceSpecMode, TaskSpec, TaskSpecPlacement,
    };
    use shoal_types::{TaskState, TaskStatus};

    fn global(constraints: &[&str]) -> Service {
        Service {
            id: "mon".into(),
            spec: ServiceSpec {
                mode: Some(ServiceSpecMode {
                    global: Some(Default::default()),
                    ..Default::default()
                }),
                task_template: Some(TaskSpec {
                    placement: Some(TaskSpecPlacement {
                        constraints: Some(constraints.iter().map(|c| c.to_string()).collect()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn node(id: &str, state: NodeState, availability: NodeSpecAvailabilityEnum) -> Node {
        Node {
            id: id.into(),
            spec: NodeSpec {
                availability: Some(availability),
                ..Default::default()
            },
            status: NodeStatus {
                state: Some(state),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn ready(id: &str) -> Node {
        node(id, NodeState::READY, NodeSpecAvailabilityEnum::ACTIVE)
    }

    fn task_on(service: &Service, id: &str, node: &str) -> Task {
        Task {
            id: id.into(),
            service_id: service.id.clone(),
            node_id: node.into(),
            spec: service.spec.task_template.clone().unwrap_or_default(),
            status: TaskStatus {
                state: TaskState::Running,
                ..Default::default()
            },
            desired_state: TaskState::Running,
            ..Default::default()
        }
    }

    #[test]
    fn every_eligible_node_gets_one_task() {
        let svc = global(&[]);
        let nodes = [
            ready("a"),
            ready("b"),
            node("c", NodeState::DOWN, NodeSpecAvailabilityEnum::ACTIVE),
        ];
        let existing = [task_on(&svc, "t1", "a")];
        let plan = reconcile(
            &svc,
            &existing.iter().collect::<Vec<_>>(),
            &nodes.iter().collect::<Vec<_>>(),
        );
        assert_eq!(plan.create_on, [NodeId::from("b")]);
        assert!(plan.shutdown.is_empty());
    }

    #[test]
    fn a_drained_or_down_node_loses_its_task_but_a_paused_one_keeps_it() {
        let svc = global(&[]);
        let nodes = [
            node("a", NodeState::READY, NodeSpecAvailabilityEnum::DRAIN),
            node("b", NodeState::DOWN, NodeSpecAvailabilityEnum::ACTIVE),
            node("c", NodeState::READY, NodeSpecAvailabilityEnum::PAUSE),
            node("d", NodeState::UNKNOWN, NodeSpecAvailabilityEnum::ACTIVE),
        ];
        let tasks = [
            task_on(&svc, "ta", "a"),
            task_on(&svc, "tb", "b"),
            task_on(&svc, "tc", "c"),
            task_on(&svc, "td", "d"),
        ];
        let plan = reconcile(
            &svc,
            &tasks.iter().collect::<Vec<_>>(),
            &nodes.iter().collect::<Vec<_>>(),
        );
        assert_eq!(plan.shutdown, ["ta", "tb"].map(TaskId::from));
        assert!(plan.create_on.is_empty());
    }

    #[test]
    fn constraints_pick_the_nodes() {
        let svc = global(&["node.labels.role==edge"]);
        let mut edge = ready("a");
        edge.spec.labels = Some([("role".to_string(), "edge".to_string())].into());
        let nodes = [edge, ready("b")];
        let tasks = [task_on(&svc, "tb", "b")];
        let plan = reconcile(
            &svc,
            &tasks.iter().collect::<Vec<_>>(),
            &nodes.iter().collect::<Vec<_>>(),
        );
        assert_eq!(plan.create_on, [NodeId::from("a")]);
        assert_eq!(
            plan.shutdown,
            [TaskId::from("tb")],
            "b no longer satisfies the constraint"
        );
    }

    #[test]
    fn tasks_on_removed_nodes_and_duplicates_are_stopped() {
        let svc = global(&[]);
        let nodes = [ready("a")];
        let tasks = [
            task_on(&svc, "t1", "a"),
            task_on(&svc, "t2", "a"),
            task_on(&svc, "t3", "gone"),
        ];
        let plan = reconcile(
            &svc,
            &tasks.iter().collect::<Vec<_>>(),
            &nodes.iter().collect::<Vec<_>>(),
        );
        assert_eq!(plan.shutdown, ["t2", "t3"].map(TaskId::from));
    }

    #[test]
    fn a_node_whose_task_is_being_updated_is_left_to_the_update_supervisor() {
        let mut svc = global(&[]);
        let nodes = [ready("a")];
        let old = task_on(&svc, "old", "a");
        svc.spec_version = shoal_types::Version { index: 2 };
        if let Some(t) = svc.spec.task_template.as_mut() {
            t.force_update = Some(1);
        }
        let mut new = task_on(&svc, "new", "a");
        new.spec_version = svc.spec_version;
        let tasks = [old, new];
        let plan = reconcile(
            &svc,
            &tasks.iter().collect::<Vec<_>>(),
            &nodes.iter().collect::<Vec<_>>(),
        );
        assert!(plan.is_empty(), "a start-first pair is not deduplicated");
    }
}
