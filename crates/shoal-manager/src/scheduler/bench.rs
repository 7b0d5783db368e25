//! The scheduler benchmark behind `shoal bench scheduler`: SwarmKit's published figure is
//! 22.6 s for 100,000 tasks on 1,000 nodes.

use super::filter::NodeInfo;
use super::plan::{Decision, plan};
use shoal_types::api::{
    NodeDescription, NodeSpec, NodeSpecAvailabilityEnum, NodeState, NodeStatus, ResourceObject,
    TaskSpec, TaskSpecResources,
};
use shoal_types::{Node, NodeId, ServiceId, Task, TaskId, TaskState, TaskStatus};
use std::time::{Duration, Instant};

/// Services the synthetic tasks are spread over.
const BENCH_SERVICES: usize = 10;

/// Builds `nodes` ready nodes (8 CPUs, 32 GiB) and `tasks` pending tasks of
/// [`BENCH_SERVICES`] services, each reserving 1 milli-CPU and 1 MiB (so the resource filter
/// does real accounting), runs [`plan`] and returns how long it took. Building the input is
/// not timed.
pub fn bench_plan(nodes: usize, tasks: usize) -> Duration {
    let (infos, pending) = synthetic(nodes, tasks);
    let started = Instant::now();
    let decisions = plan(&infos, &pending);
    let elapsed = started.elapsed();
    let placed = decisions
        .iter()
        .filter(|d| matches!(d, Decision::Assign { .. }))
        .count();
    tracing::info!(nodes, tasks, placed, ?elapsed, "scheduler benchmark");
    elapsed
}

fn synthetic(nodes: usize, tasks: usize) -> (Vec<NodeInfo>, Vec<Task>) {
    let infos = (0..nodes)
        .map(|i| {
            NodeInfo::new(Node {
                id: NodeId::from(format!("node{i:06}")),
                spec: NodeSpec {
                    availability: Some(NodeSpecAvailabilityEnum::ACTIVE),
                    ..Default::default()
                },
                description: NodeDescription {
                    hostname: Some(format!("host{i}")),
                    resources: Some(ResourceObject {
                        nano_cpus: Some(8_000_000_000),
                        memory_bytes: Some(32 << 30),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                status: NodeStatus {
                    state: Some(NodeState::READY),
                    ..Default::default()
                },
                ..Default::default()
            })
        })
        .collect();
    let spec = TaskSpec {
        resources: Some(TaskSpecResources {
            reservations: Some(ResourceObject {
                nano_cpus: Some(1_000_000),
                memory_bytes: Some(1 << 20),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pending = (0..tasks)
        .map(|i| Task {
            id: TaskId::from(format!("task{i:08}")),
            service_id: ServiceId::from(format!("service{:02}", i % BENCH_SERVICES)),
            slot: (i / BENCH_SERVICES) as u64 + 1,
            spec: spec.clone(),
            status: TaskStatus {
                state: TaskState::Pending,
                ..Default::default()
            },
            desired_state: TaskState::Running,
            ..Default::default()
        })
        .collect();
    (infos, pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_places_every_task() {
        let (infos, pending) = synthetic(10, 1_000);
        let decisions = plan(&infos, &pending);
        assert_eq!(
            decisions
                .iter()
                .filter(|d| matches!(d, Decision::Assign { .. }))
                .count(),
            1_000
        );
        assert!(bench_plan(10, 1_000) < Duration::from_secs(5));
    }

    /// `cargo test --release -p shoal-manager -- --ignored --nocapture bench_figure`
    #[test]
    #[ignore = "a benchmark; run it in release mode"]
    fn bench_figure_100k_tasks_on_1k_nodes() {
        let elapsed = bench_plan(1_000, 100_000);
        println!("scheduler: 100000 tasks on 1000 nodes in {elapsed:?} (SwarmKit: 22.6 s)");
    }
}
