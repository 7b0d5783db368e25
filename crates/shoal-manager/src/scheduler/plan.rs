//! `plan`: the pure placement of pending tasks onto nodes.
//!
//! Tasks are grouped by service and spec version (SwarmKit's task groups: one spec, so the
//! filters are parsed once per group). Preassigned tasks (global services) are only checked
//! against their node. For a group, the nodes passing the static filters form a min-heap on
//! (tasks of this service, tasks overall, node order); each task goes to the top node that
//! still passes the dynamic filters (resources, max replicas). That is SwarmKit's "fewest
//! tasks of the service, then fewest tasks" spread in O(tasks × log nodes). Placement
//! preferences split the nodes into a tree first ([`super::spread`]).

use super::filter::{self, Filter, NodeInfo, Requirements};
use super::spread;
use shoal_types::{Node, NodeId, ServiceId, Task, TaskId, TaskState};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

/// What the scheduler decided for one pending task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Put the task on the node (state ASSIGNED).
    Assign { task_id: TaskId, node_id: NodeId },
    /// Leave the task PENDING with this `Status.Err`.
    Unschedulable { task_id: TaskId, err: String },
}

impl Decision {
    pub fn task_id(&self) -> &TaskId {
        match self {
            Decision::Assign { task_id, .. } | Decision::Unschedulable { task_id, .. } => task_id,
        }
    }
}

/// Whether the scheduler should place `task`: allocated (PENDING) and still wanted.
pub fn is_schedulable(task: &Task) -> bool {
    task.status.state == TaskState::Pending && task.desired_state <= TaskState::Running
}

/// Places every schedulable task of `tasks` on `nodes`, whose infos account for the tasks
/// already placed. Deterministic: groups in (service, version) order, tasks in (slot, id)
/// order, ties between equal nodes broken by their order in `nodes`.
pub fn plan(nodes: &[NodeInfo], tasks: &[Task]) -> Vec<Decision> {
    let mut work = Work::new(nodes);
    let mut out = Vec::new();
    let mut groups: BTreeMap<(ServiceId, u64), Vec<&Task>> = BTreeMap::new();
    for task in tasks.iter().filter(|t| is_schedulable(t)) {
        if task.node_id.is_empty() {
            groups
                .entry((task.service_id.clone(), task.spec_version.index))
                .or_default()
                .push(task);
        } else {
            work.place_preassigned(task, &mut out);
        }
    }
    for (_, mut group) in groups {
        group.sort_by(|a, b| (a.slot, &a.id).cmp(&(b.slot, &b.id)));
        work.schedule_group(&group, &mut out);
    }
    out
}

/// The mutable per-node state of one planning run.
pub(super) struct Work<'a> {
    pub(super) nodes: Vec<&'a Node>,
    index: HashMap<&'a str, usize>,
    free: Vec<(i64, i64)>,
    total: Vec<u64>,
    by_service: Vec<HashMap<ServiceId, u64>>,
}

impl<'a> Work<'a> {
    fn new(infos: &'a [NodeInfo]) -> Self {
        let free = infos
            .iter()
            .map(|n| {
                let r = n.node.description.resources.as_ref();
                let cpus = r.and_then(|r| r.nano_cpus).unwrap_or(0);
                let mem = r.and_then(|r| r.memory_bytes).unwrap_or(0);
                (cpus - n.reserved_nano_cpus, mem - n.reserved_memory_bytes)
            })
            .collect();
        Self {
            nodes: infos.iter().map(|n| &n.node).collect(),
            index: infos
                .iter()
                .enumerate()
                .map(|(i, n)| (n.node.id.as_str(), i))
                .collect(),
            free,
            total: infos.iter().map(|n| n.active_total).collect(),
            by_service: infos.iter().map(|n| n.active_by_service.clone()).collect(),
        }
    }

    fn service_count(&self, node: usize, service: &ServiceId) -> u64 {
        self.by_service[node].get(service).copied().unwrap_or(0)
    }

    fn account(&mut self, node: usize, req: &Requirements) {
        self.free[node].0 -= req.nano_cpus;
        self.free[node].1 -= req.memory_bytes;
        self.total[node] += 1;
        *self.by_service[node]
            .entry(req.service_id.clone())
            .or_default() += 1;
    }

    /// Global tasks come with their node: check it, as SwarmKit's `taskFitNode` does. A task
    /// whose node is gone is left alone; the global orchestrator shuts it down.
    fn place_preassigned(&mut self, task: &Task, out: &mut Vec<Decision>) {
        let Some(&i) = self.index.get(task.node_id.as_str()) else {
            return;
        };
        let req = Requirements::of(task);
        match req.first_failure(
            self.nodes[i],
            self.free[i],
            self.service_count(i, &req.service_id),
        ) {
            None => {
                self.account(i, &req);
                out.push(Decision::Assign {
                    task_id: task.id.clone(),
                    node_id: task.node_id.clone(),
                });
            }
            Some(f) => out.push(Decision::Unschedulable {
                task_id: task.id.clone(),
                err: filter::explain(&[(f, 1)]),
            }),
        }
    }

    fn schedule_group(&mut self, group: &[&Task], out: &mut Vec<Decision>) {
        let Some(first) = group.first() else {
            return;
        };
        let req = Requirements::of(first);
        let mut counts: Vec<u64> = (0..self.nodes.len())
            .map(|i| self.service_count(i, &req.service_id))
            .collect();
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| req.static_ok(self.nodes[i]) && req.dynamic_ok(self.free[i], counts[i]))
            .collect();
        let mut queue: VecDeque<&Task> = group.iter().copied().collect();
        if !candidates.is_empty() {
            let n = queue.len();
            if req.spread.is_empty() {
                self.on_nodes(&req, &mut counts, &candidates, n, &mut queue, out);
            } else {
                let mut tree =
                    spread::build(self.nodes.as_slice(), &counts, &candidates, &req.spread);
                spread::schedule(self, &req, &mut counts, &mut tree, n, &mut queue, out);
            }
        }
        if queue.is_empty() {
            return;
        }
        let mut rejected: Vec<(Filter, usize)> = Filter::ALL.iter().map(|f| (*f, 0)).collect();
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(f) = req.first_failure(node, self.free[i], counts[i])
                && let Some(entry) = rejected.iter_mut().find(|(g, _)| *g == f)
            {
                entry.1 += 1;
            }
        }
        let err = filter::no_suitable_node(&filter::explain(&rejected));
        out.extend(queue.into_iter().map(|t| Decision::Unschedulable {
            task_id: t.id.clone(),
            err: err.clone(),
        }));
    }

    /// Places up to `n` tasks from `queue` on `nodes`, always on the node with the fewest tasks
    /// of the service, then the fewest tasks. Returns how many it placed; a node that no
    /// longer passes the dynamic filters leaves the heap for the rest of the group.
    pub(super) fn on_nodes(
        &mut self,
        req: &Requirements,
        counts: &mut [u64],
        nodes: &[usize],
        n: usize,
        queue: &mut VecDeque<&Task>,
        out: &mut Vec<Decision>,
    ) -> usize {
        let mut heap: BinaryHeap<Reverse<(u64, u64, usize)>> = nodes
            .iter()
            .map(|&i| Reverse((counts[i], self.total[i], i)))
            .collect();
        let mut placed = 0;
        while placed < n && !queue.is_empty() {
            let Some(Reverse((_, _, i))) = heap.pop() else {
                break;
            };
            if !req.dynamic_ok(self.free[i], counts[i]) {
                continue;
            }
            let Some(task) = queue.pop_front() else {
                break;
            };
            self.account(i, req);
            counts[i] += 1;
            out.push(Decision::Assign {
                task_id: task.id.clone(),
                node_id: self.nodes[i].id.clone(),
            });
            placed += 1;
            heap.push(Reverse((counts[i], self.total[i], i)));
        }
        placed
    }
}
