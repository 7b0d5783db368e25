//! The filter pipeline: which nodes can take a task, and Docker's words for why none can.
//!
//! Filters run in SwarmKit's order (ready, resources, constraints, platform, max replicas); a
//! node is counted against the first filter it fails, and the explanation lists the filters
//! that rejected nodes, most rejections first (`pipeline.go` `Explain`).

use super::constraint::{self, Constraint};
use shoal_types::api::{NodeSpecAvailabilityEnum, NodeState, TaskSpec};
use shoal_types::{Node, ServiceId, Task, TaskState};
use std::collections::HashMap;

/// What a node has committed: the tasks placed on it that still hold resources.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    pub node: Node,
    /// Active tasks (desired state ≤ RUNNING) per service, for spread and max replicas.
    pub active_by_service: HashMap<ServiceId, u64>,
    /// Active tasks of every service, the tie-breaker of the spread.
    pub active_total: u64,
    /// CPU reserved by tasks on the node that have not ended, in nano CPUs.
    pub reserved_nano_cpus: i64,
    /// Memory reserved by tasks on the node that have not ended, in bytes.
    pub reserved_memory_bytes: i64,
}

impl NodeInfo {
    pub fn new(node: Node) -> Self {
        Self {
            node,
            ..Default::default()
        }
    }

    /// Accounts `task`, which is on this node, if it still holds a place there: observed
    /// between ASSIGNED and RUNNING. It counts for the spread only while its desired state is
    /// RUNNING or below, but holds its reservations until it has actually stopped.
    pub fn add_task(&mut self, task: &Task) {
        if !holds_node(task) {
            return;
        }
        if task.desired_state <= TaskState::Running {
            *self
                .active_by_service
                .entry(task.service_id.clone())
                .or_default() += 1;
            self.active_total += 1;
        }
        let (cpus, mem) = reservations(task);
        self.reserved_nano_cpus += cpus;
        self.reserved_memory_bytes += mem;
    }

    /// Builds the infos of every node from a view's nodes and tasks.
    pub fn from_tables(tables: &shoal_store::Tables) -> Vec<NodeInfo> {
        let mut infos: Vec<NodeInfo> = tables.nodes.iter().cloned().map(NodeInfo::new).collect();
        let index: HashMap<String, usize> = infos
            .iter()
            .enumerate()
            .map(|(i, n)| (n.node.id.to_string(), i))
            .collect();
        for task in tables.tasks.iter() {
            if let Some(&i) = index.get(task.node_id.as_str()) {
                infos[i].add_task(task);
            }
        }
        infos
    }
}

/// A task placed on a node that has not ended.
pub fn holds_node(task: &Task) -> bool {
    !task.node_id.is_empty()
        && task.status.state >= TaskState::Assigned
        && task.status.state <= TaskState::Running
}

/// `(nano CPUs, memory bytes)` the task reserves.
pub fn reservations(task: &Task) -> (i64, i64) {
    spec_reservations(&task.spec)
}

/// `(nano CPUs, memory bytes)` tasks made from `spec` reserve.
pub fn spec_reservations(spec: &TaskSpec) -> (i64, i64) {
    let r = spec
        .resources
        .as_ref()
        .and_then(|r| r.reservations.as_ref());
    (
        r.and_then(|r| r.nano_cpus).unwrap_or(0).max(0),
        r.and_then(|r| r.memory_bytes).unwrap_or(0).max(0),
    )
}

/// Whether a node accepts new tasks at all: status ready and availability active.
pub fn node_is_ready(node: &Node) -> bool {
    node.status.state == Some(NodeState::READY)
        && node.availability() == NodeSpecAvailabilityEnum::ACTIVE
}

/// The filters, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Ready,
    Resources,
    Constraints,
    Platform,
    MaxReplicas,
}

impl Filter {
    pub const ALL: [Filter; 5] = [
        Filter::Ready,
        Filter::Resources,
        Filter::Constraints,
        Filter::Platform,
        Filter::MaxReplicas,
    ];

    /// SwarmKit's explanation for `nodes` rejections by this filter.
    pub fn explain(self, nodes: usize) -> String {
        let (one, many) = match self {
            Filter::Ready => (
                "1 node not available for new tasks",
                "nodes not available for new tasks",
            ),
            Filter::Resources => (
                "insufficient resources on 1 node",
                "insufficient resources on",
            ),
            Filter::Constraints => (
                "scheduling constraints not satisfied on 1 node",
                "scheduling constraints not satisfied on",
            ),
            Filter::Platform => ("unsupported platform on 1 node", "unsupported platform on"),
            Filter::MaxReplicas => return "max replicas per node limit exceed".to_string(),
        };
        match (self, nodes) {
            (_, 1) => one.to_string(),
            (Filter::Ready, n) => format!("{n} {many}"),
            (_, n) => format!("{many} {n} nodes"),
        }
    }
}

/// What the tasks of one group (same service and spec version) ask of a node, parsed once.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    pub service_id: ServiceId,
    pub nano_cpus: i64,
    pub memory_bytes: i64,
    /// Parsed constraints; `None` if one does not parse, which no node can satisfy.
    pub constraints: Option<Vec<Constraint>>,
    /// `(os, arch)` pairs the image supports; empty means any.
    pub platforms: Vec<(String, String)>,
    /// Most active tasks of the service per node; 0 is unlimited.
    pub max_replicas: u64,
    /// Spread descriptors of the placement preferences, highest precedence first.
    pub spread: Vec<String>,
}

impl Requirements {
    pub fn of(task: &Task) -> Self {
        Self::of_spec(task.service_id.clone(), &task.spec)
    }

    /// The requirements of tasks made from `spec` (a service's task template).
    pub fn of_spec(service_id: ServiceId, spec: &TaskSpec) -> Self {
        let (nano_cpus, memory_bytes) = spec_reservations(spec);
        let placement = spec.placement.as_ref();
        let exprs = placement
            .and_then(|p| p.constraints.clone())
            .unwrap_or_default();
        Self {
            service_id,
            nano_cpus,
            memory_bytes,
            constraints: constraint::parse_all(&exprs).ok(),
            platforms: placement
                .and_then(|p| p.platforms.as_ref())
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            (
                                p.os.clone().unwrap_or_default(),
                                p.architecture.clone().unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            max_replicas: placement.and_then(|p| p.max_replicas).unwrap_or(0).max(0) as u64,
            spread: placement
                .and_then(|p| p.preferences.as_ref())
                .map(|prefs| {
                    prefs
                        .iter()
                        .filter_map(|p| p.spread.as_ref()?.spread_descriptor.clone())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The first filter `node` fails in pipeline order, given what it has committed; `None`
    /// if it passes all. `active_of_service` is the node's active task count for the service.
    pub fn first_failure(
        &self,
        node: &Node,
        free: (i64, i64),
        active_of_service: u64,
    ) -> Option<Filter> {
        if !node_is_ready(node) {
            Some(Filter::Ready)
        } else if !self.resources_ok(free) {
            Some(Filter::Resources)
        } else if !self.constraints_ok(node) {
            Some(Filter::Constraints)
        } else if !self.platform_ok(node) {
            Some(Filter::Platform)
        } else if !self.replicas_ok(active_of_service) {
            Some(Filter::MaxReplicas)
        } else {
            None
        }
    }

    /// The filters that change as tasks are placed on the node.
    pub fn dynamic_ok(&self, free: (i64, i64), active_of_service: u64) -> bool {
        self.resources_ok(free) && self.replicas_ok(active_of_service)
    }

    /// Whether the node passes the filters that do not change as tasks are placed.
    pub fn static_ok(&self, node: &Node) -> bool {
        node_is_ready(node) && self.placement_ok(node)
    }

    /// Whether the node satisfies the constraints and platforms, whatever its state.
    pub fn placement_ok(&self, node: &Node) -> bool {
        self.constraints_ok(node) && self.platform_ok(node)
    }

    fn constraints_ok(&self, node: &Node) -> bool {
        match &self.constraints {
            Some(cs) => constraint::node_matches(cs, node),
            None => false,
        }
    }

    fn replicas_ok(&self, active_of_service: u64) -> bool {
        self.max_replicas == 0 || active_of_service < self.max_replicas
    }

    fn resources_ok(&self, (free_cpus, free_mem): (i64, i64)) -> bool {
        (self.nano_cpus == 0 || self.nano_cpus <= free_cpus)
            && (self.memory_bytes == 0 || self.memory_bytes <= free_mem)
    }

    fn platform_ok(&self, node: &Node) -> bool {
        if self.platforms.is_empty() {
            return true;
        }
        let platform = node.description.platform.clone().unwrap_or_default();
        let os = platform.os.unwrap_or_default();
        let arch = normalize_arch(&platform.architecture.unwrap_or_default());
        self.platforms.iter().any(|(want_os, want_arch)| {
            (want_os.is_empty() || want_os.eq_ignore_ascii_case(&os))
                && (want_arch.is_empty() || normalize_arch(want_arch) == arch)
        })
    }
}

/// Docker reports `x86_64`/`aarch64`; images say `amd64`/`arm64`.
fn normalize_arch(arch: &str) -> String {
    match arch.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        other => other.to_string(),
    }
}

/// The filter explanation from rejection counts (`pipeline.Explain`): non-zero counts, most
/// first (ties in pipeline order), joined by `; `. Empty when nothing rejected a node.
pub fn explain(counts: &[(Filter, usize)]) -> String {
    let mut failing: Vec<(Filter, usize)> =
        counts.iter().copied().filter(|(_, n)| *n > 0).collect();
    failing.sort_by_key(|f| std::cmp::Reverse(f.1));
    failing
        .iter()
        .map(|(f, n)| f.explain(*n))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `Status.Err` of a task no node can take: `no suitable node (<explanation>)`.
pub fn no_suitable_node(explanation: &str) -> String {
    if explanation.is_empty() {
        "no suitable node".to_string()
    } else {
        format!("no suitable node ({explanation})")
    }
}
