//! Scenarios for `plan`: filters, Docker's explanations, spread, max replicas, resources.

use super::filter::NodeInfo;
use super::plan::{Decision, plan};
use shoal_types::api::{
    NodeDescription, NodeSpec, NodeSpecAvailabilityEnum, NodeState, NodeStatus, ResourceObject,
    TaskSpec, TaskSpecPlacement, TaskSpecPlacementPreferences, TaskSpecPlacementSpread,
    TaskSpecResources,
};
use shoal_types::{Node, Task, TaskState, TaskStatus};
use std::collections::BTreeMap;

const GIB: i64 = 1 << 30;
const CPU: i64 = 1_000_000_000;

fn node(id: &str) -> Node {
    Node {
        id: id.into(),
        spec: NodeSpec {
            availability: Some(NodeSpecAvailabilityEnum::ACTIVE),
            ..Default::default()
        },
        description: NodeDescription {
            hostname: Some(format!("host-{id}")),
            resources: Some(ResourceObject {
                nano_cpus: Some(4 * CPU),
                memory_bytes: Some(8 * GIB),
                ..Default::default()
            }),
            ..Default::default()
        },
        status: NodeStatus {
            state: Some(NodeState::READY),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn with_label(mut n: Node, k: &str, v: &str) -> Node {
    n.spec
        .labels
        .get_or_insert_with(Default::default)
        .insert(k.into(), v.into());
    n
}

fn pending(id: &str, service: &str, slot: u64) -> Task {
    Task {
        id: id.into(),
        service_id: service.into(),
        slot,
        status: TaskStatus {
            state: TaskState::Pending,
            ..Default::default()
        },
        desired_state: TaskState::Running,
        ..Default::default()
    }
}

fn pendings(service: &str, n: u64, spec: &TaskSpec) -> Vec<Task> {
    (1..=n)
        .map(|slot| Task {
            spec: spec.clone(),
            ..pending(&format!("{service}-t{slot}"), service, slot)
        })
        .collect()
}

fn running_on(id: &str, service: &str, node: &str, spec: &TaskSpec) -> Task {
    Task {
        node_id: node.into(),
        spec: spec.clone(),
        status: TaskStatus {
            state: TaskState::Running,
            ..Default::default()
        },
        ..pending(id, service, 1)
    }
}

fn infos(nodes: Vec<Node>, placed: &[Task]) -> Vec<NodeInfo> {
    nodes
        .into_iter()
        .map(|n| {
            let id = n.id.clone();
            let mut info = NodeInfo::new(n);
            for t in placed.iter().filter(|t| t.node_id == id) {
                info.add_task(t);
            }
            info
        })
        .collect()
}

fn placement(constraints: &[&str], max_replicas: i64, spread: &[&str]) -> TaskSpec {
    TaskSpec {
        placement: Some(TaskSpecPlacement {
            constraints: Some(constraints.iter().map(|c| c.to_string()).collect()),
            max_replicas: Some(max_replicas),
            preferences: Some(
                spread
                    .iter()
                    .map(|d| TaskSpecPlacementPreferences {
                        spread: Some(TaskSpecPlacementSpread {
                            spread_descriptor: Some(d.to_string()),
                        }),
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn reserving(cpus: i64, mem: i64) -> TaskSpec {
    TaskSpec {
        resources: Some(TaskSpecResources {
            reservations: Some(ResourceObject {
                nano_cpus: Some(cpus),
                memory_bytes: Some(mem),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Tasks placed per node id.
fn per_node(decisions: &[Decision]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for d in decisions {
        if let Decision::Assign { node_id, .. } = d {
            *out.entry(node_id.to_string()).or_default() += 1;
        }
    }
    out
}

fn errors(decisions: &[Decision]) -> Vec<String> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Unschedulable { err, .. } => Some(err.clone()),
            Decision::Assign { .. } => None,
        })
        .collect()
}

#[test]
fn tasks_of_a_service_spread_evenly_over_the_nodes() {
    let d = plan(
        &infos(vec![node("a"), node("b"), node("c")], &[]),
        &pendings("web", 7, &TaskSpec::default()),
    );
    assert_eq!(
        per_node(&d),
        BTreeMap::from([("a".into(), 3), ("b".into(), 2), ("c".into(), 2)])
    );
}

#[test]
fn a_node_with_fewer_tasks_of_the_service_is_preferred() {
    let spec = TaskSpec::default();
    let placed = [
        running_on("x1", "web", "a", &spec),
        running_on("x2", "web", "a", &spec),
    ];
    let d = plan(
        &infos(vec![node("a"), node("b")], &placed),
        &pendings("web", 2, &spec),
    );
    assert_eq!(per_node(&d), BTreeMap::from([("b".into(), 2)]));
}

#[test]
fn equal_nodes_are_told_apart_by_their_total_task_count() {
    let spec = TaskSpec::default();
    let placed = [running_on("x1", "db", "a", &spec)];
    let d = plan(
        &infos(vec![node("a"), node("b")], &placed),
        &pendings("web", 1, &spec),
    );
    assert_eq!(per_node(&d), BTreeMap::from([("b".into(), 1)]));
}

#[test]
fn nodes_that_are_down_or_drained_get_nothing() {
    let mut down = node("a");
    down.status.state = Some(NodeState::DOWN);
    let mut drained = node("b");
    drained.spec.availability = Some(NodeSpecAvailabilityEnum::DRAIN);
    let d = plan(
        &infos(vec![down, drained, node("c")], &[]),
        &pendings("web", 2, &TaskSpec::default()),
    );
    assert_eq!(per_node(&d), BTreeMap::from([("c".into(), 2)]));
}

#[test]
fn an_unsatisfiable_constraint_gets_dockers_explanation() {
    let spec = placement(&["node.labels.zone==mars"], 0, &[]);
    let d = plan(&infos(vec![node("a")], &[]), &pendings("web", 1, &spec));
    assert_eq!(
        errors(&d),
        ["no suitable node (scheduling constraints not satisfied on 1 node)"]
    );
}

#[test]
fn a_matching_label_satisfies_the_constraint() {
    let spec = placement(&["node.labels.zone==mars"], 0, &[]);
    let d = plan(
        &infos(vec![node("a"), with_label(node("b"), "zone", "mars")], &[]),
        &pendings("web", 2, &spec),
    );
    assert_eq!(per_node(&d), BTreeMap::from([("b".into(), 2)]));
}

#[test]
fn reservations_beyond_every_node_are_insufficient_resources() {
    let d = plan(
        &infos(vec![node("a"), node("b")], &[]),
        &pendings("web", 1, &reserving(8 * CPU, GIB)),
    );
    assert_eq!(
        errors(&d),
        ["no suitable node (insufficient resources on 2 nodes)"]
    );
}

#[test]
fn reservations_of_tasks_already_on_a_node_are_subtracted() {
    let spec = reserving(3 * CPU, GIB);
    let placed = [running_on("x1", "db", "a", &spec)];
    let d = plan(
        &infos(vec![node("a"), node("b")], &placed),
        &pendings("web", 2, &spec),
    );
    assert_eq!(per_node(&d), BTreeMap::from([("b".into(), 1)]));
    assert_eq!(
        errors(&d),
        ["no suitable node (insufficient resources on 2 nodes)"]
    );
}

#[test]
fn a_task_that_has_ended_gives_its_reservation_back() {
    let spec = reserving(3 * CPU, GIB);
    let mut ended = running_on("x1", "db", "a", &spec);
    ended.status.state = TaskState::Failed;
    let d = plan(
        &infos(vec![node("a")], &[ended]),
        &pendings("web", 1, &spec),
    );
    assert_eq!(per_node(&d), BTreeMap::from([("a".into(), 1)]));
}

#[test]
fn max_replicas_per_node_caps_each_node() {
    let spec = placement(&[], 1, &[]);
    let d = plan(
        &infos(vec![node("a"), node("b")], &[]),
        &pendings("web", 3, &spec),
    );
    assert_eq!(
        per_node(&d),
        BTreeMap::from([("a".into(), 1), ("b".into(), 1)])
    );
    assert_eq!(
        errors(&d),
        ["no suitable node (max replicas per node limit exceed)"]
    );
}

#[test]
fn explanations_list_the_most_common_reason_first() {
    let mut spec = reserving(8 * CPU, GIB);
    spec.placement = placement(&["node.role==manager"], 0, &[]).placement;
    let mut down = node("c");
    down.status.state = Some(NodeState::DOWN);
    let d = plan(
        &infos(vec![node("a"), node("b"), down], &[]),
        &pendings("web", 1, &spec),
    );
    assert_eq!(
        errors(&d),
        [
            "no suitable node (insufficient resources on 2 nodes; 1 node not available for new tasks)"
        ]
    );
}

#[test]
fn with_no_nodes_there_is_no_suitable_node() {
    let d = plan(&[], &pendings("web", 1, &TaskSpec::default()));
    assert_eq!(errors(&d), ["no suitable node"]);
}

#[test]
fn a_malformed_constraint_matches_no_node() {
    let spec = placement(&["node.role=manager"], 0, &[]);
    let d = plan(&infos(vec![node("a")], &[]), &pendings("web", 1, &spec));
    assert_eq!(
        errors(&d),
        ["no suitable node (scheduling constraints not satisfied on 1 node)"]
    );
}

#[test]
fn spread_preference_evens_out_label_values_before_nodes() {
    let nodes = vec![
        with_label(node("a1"), "zone", "a"),
        with_label(node("b1"), "zone", "b"),
        with_label(node("b2"), "zone", "b"),
        with_label(node("b3"), "zone", "b"),
    ];
    let spec = placement(&[], 0, &["node.labels.zone"]);
    let d = plan(&infos(nodes, &[]), &pendings("web", 6, &spec));
    assert_eq!(
        per_node(&d),
        BTreeMap::from([
            ("a1".into(), 3),
            ("b1".into(), 1),
            ("b2".into(), 1),
            ("b3".into(), 1)
        ])
    );
}

#[test]
fn spread_counts_tasks_already_in_each_branch() {
    let nodes = vec![
        with_label(node("a1"), "zone", "a"),
        with_label(node("b1"), "zone", "b"),
    ];
    let spec = placement(&[], 0, &["node.labels.zone"]);
    let placed = [
        running_on("x1", "web", "a1", &spec),
        running_on("x2", "web", "a1", &spec),
    ];
    let d = plan(&infos(nodes, &placed), &pendings("web", 4, &spec));
    assert_eq!(
        per_node(&d),
        BTreeMap::from([("a1".into(), 1), ("b1".into(), 3)])
    );
}

#[test]
fn a_full_branch_overflows_into_the_others() {
    let nodes = [
        with_label(node("a1"), "zone", "a"),
        with_label(node("b1"), "zone", "b"),
    ];
    let mut spec = placement(&[], 0, &["node.labels.zone"]);
    spec.resources = reserving(CPU, GIB).resources;
    let mut small = nodes[0].clone();
    small.description.resources = Some(ResourceObject {
        nano_cpus: Some(CPU),
        memory_bytes: Some(GIB),
        ..Default::default()
    });
    let d = plan(
        &infos(vec![small, nodes[1].clone()], &[]),
        &pendings("web", 4, &spec),
    );
    assert_eq!(
        per_node(&d),
        BTreeMap::from([("a1".into(), 1), ("b1".into(), 3)])
    );
}

#[test]
fn a_preassigned_task_is_only_checked_against_its_node() {
    let mut global = pending("g1", "mon", 0);
    global.node_id = "b".into();
    let mut misfit = pending("g2", "mon", 0);
    misfit.node_id = "a".into();
    misfit.spec = placement(&["node.labels.zone==x"], 0, &[]);
    let d = plan(&infos(vec![node("a"), node("b")], &[]), &[global, misfit]);
    assert_eq!(per_node(&d), BTreeMap::from([("b".into(), 1)]));
    assert_eq!(
        errors(&d),
        ["scheduling constraints not satisfied on 1 node"]
    );
}

#[test]
fn tasks_that_are_not_pending_or_no_longer_wanted_are_ignored() {
    let mut shut = pending("t1", "web", 1);
    shut.desired_state = TaskState::Shutdown;
    let mut new = pending("t2", "web", 2);
    new.status.state = TaskState::New;
    assert!(plan(&infos(vec![node("a")], &[]), &[shut, new]).is_empty());
}

#[test]
fn decisions_are_written_grouped_by_node_with_unschedulable_ones_last() {
    let assign = |t: &str, n: &str| Decision::Assign {
        task_id: t.into(),
        node_id: n.into(),
    };
    let grouped = super::by_node(vec![
        assign("t1", "n2"),
        Decision::Unschedulable {
            task_id: "t2".into(),
            err: "no suitable node".into(),
        },
        assign("t3", "n1"),
        assign("t4", "n2"),
        assign("t5", "n1"),
    ]);
    let order: Vec<&str> = grouped.iter().map(|d| d.task_id().as_str()).collect();
    assert_eq!(
        order,
        ["t3", "t5", "t1", "t4", "t2"],
        "stable within a node"
    );
}
