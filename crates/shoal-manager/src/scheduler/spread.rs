//! Placement preferences: `spread=node.labels.<k>` (or `engine.labels.<k>`) as SwarmKit's
//! decision tree (`nodeset.tree`, `scheduleNTasksOnSubtree`).
//!
//! Each preference is one level of the tree; the nodes of a branch share the label's value
//! (nodes without the label form the `""` branch). Tasks are split so that every branch ends
//! with the same number of tasks of the service, counting those already there; a branch
//! that runs out of room is dropped and the rest is spread over the others. Leaves place
//! their share with the same heap as an unpreferenced group.

use super::constraint::{
    ENGINE_LABEL_PREFIX, NODE_LABEL_PREFIX, engine_label, node_label, strip_prefix_ci,
};
use super::filter::Requirements;
use super::plan::{Decision, Work};
use shoal_types::{Node, Task};
use std::collections::{BTreeMap, VecDeque};

/// A level of the decision tree.
#[derive(Debug)]
pub struct Tree {
    /// Tasks of the service already on the nodes of this subtree.
    tasks: u64,
    branches: Branches,
}

#[derive(Debug)]
enum Branches {
    /// The nodes (indexes into the planning run) of a leaf.
    Leaf(Vec<usize>),
    /// Subtrees by label value, in value order so the result is deterministic.
    Split(BTreeMap<String, Tree>),
}

/// The value of a spread descriptor on `node`; `""` when it is missing or unsupported.
pub fn descriptor_value<'a>(node: &'a Node, descriptor: &str) -> &'a str {
    if let Some(label) = strip_prefix_ci(descriptor, NODE_LABEL_PREFIX) {
        node_label(node, label).unwrap_or_default()
    } else if let Some(label) = strip_prefix_ci(descriptor, ENGINE_LABEL_PREFIX) {
        engine_label(node, label).unwrap_or_default()
    } else {
        ""
    }
}

/// Builds the tree over the candidate nodes, one level per descriptor.
pub fn build(
    nodes: &[&Node],
    counts: &[u64],
    candidates: &[usize],
    descriptors: &[String],
) -> Tree {
    let tasks = candidates.iter().map(|&i| counts[i]).sum();
    let Some((descriptor, rest)) = descriptors.split_first() else {
        return Tree {
            tasks,
            branches: Branches::Leaf(candidates.to_vec()),
        };
    };
    let mut by_value: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in candidates {
        by_value
            .entry(descriptor_value(nodes[i], descriptor).to_string())
            .or_default()
            .push(i);
    }
    let split = by_value
        .into_iter()
        .map(|(value, members)| (value, build(nodes, counts, &members, rest)))
        .collect();
    Tree {
        tasks,
        branches: Branches::Split(split),
    }
}

/// Places up to `n` tasks from `queue` in `tree`, evening out the branches. Returns how many
/// it placed.
pub(super) fn schedule(
    work: &mut Work<'_>,
    req: &Requirements,
    counts: &mut [u64],
    tree: &mut Tree,
    n: usize,
    queue: &mut VecDeque<&Task>,
    out: &mut Vec<Decision>,
) -> usize {
    let branches = match &mut tree.branches {
        Branches::Leaf(nodes) => return work.on_nodes(req, counts, nodes, n, queue, out),
        Branches::Split(branches) => branches,
    };
    let mut scheduled = 0usize;
    let mut usable_tasks = tree.tasks;
    let mut no_room: Vec<bool> = vec![false; branches.len()];
    while scheduled < n && no_room.iter().any(|full| !full) && !queue.is_empty() {
        let usable = no_room.iter().filter(|full| !**full).count() as u64;
        let target = usable_tasks + (n - scheduled) as u64;
        let desired = target / usable;
        let mut remainder = target % usable;
        let before = (scheduled, usable);
        for (b, subtree) in branches.values_mut().enumerate() {
            if no_room[b] || scheduled >= n {
                continue;
            }
            // SwarmKit compares against the tasks the branch had before this round; tasks
            // placed this round are counted in `scheduled` instead, which keeps the target
            // consistent.
            let have = subtree.tasks;
            if have < desired || (have == desired && remainder > 0) {
                let mut want = (desired - have) as usize;
                if remainder > 0 {
                    want += 1;
                }
                let want = want.min(n - scheduled);
                let got = schedule(work, req, counts, subtree, want, queue, out);
                if got < want {
                    no_room[b] = true;
                    usable_tasks -= subtree.tasks;
                } else {
                    remainder = remainder.saturating_sub(1);
                }
                scheduled += got;
            }
        }
        let now_usable = no_room.iter().filter(|full| !**full).count() as u64;
        if (scheduled, now_usable) == before {
            // No branch could take a task and none filled up: nothing more will change.
            break;
        }
    }
    scheduled
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::NodeSpec;

    fn labelled(zone: Option<&str>) -> Node {
        Node {
            spec: NodeSpec {
                labels: zone.map(|z| [("zone".to_string(), z.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn nodes_without_the_label_share_the_empty_branch() {
        let nodes = [
            labelled(Some("a")),
            labelled(None),
            labelled(Some("b")),
            labelled(None),
        ];
        let refs: Vec<&Node> = nodes.iter().collect();
        let tree = build(
            &refs,
            &[1, 0, 2, 0],
            &[0, 1, 2, 3],
            &["node.labels.zone".into()],
        );
        assert_eq!(tree.tasks, 3);
        let Branches::Split(branches) = tree.branches else {
            panic!("expected a split")
        };
        let keys: Vec<&str> = branches.keys().map(String::as_str).collect();
        assert_eq!(keys, ["", "a", "b"]);
        assert!(matches!(&branches[""].branches, Branches::Leaf(n) if n == &vec![1, 3]));
    }
}
