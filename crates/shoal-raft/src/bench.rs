//! Write benchmark: a real single-node raft (fsync on, encryption on) under concurrent store
//! writers. The `shoal` binary prints the report; this module prints nothing.

use crate::config::RaftConfig;
use crate::error::RaftError;
use crate::network::UnreachableTransport;
use crate::node::RaftNode;
use crate::sealer::XChaChaSealer;
use shoal_store::{MemoryStore, StoreHandle};
use shoal_types::{Object, Task, TaskId};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Raft id of the benchmark's node (any value: the directory is the benchmark's own).
const BENCH_NODE_ID: u64 = 1;
/// How long to wait for the fresh node to elect itself.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// What [`bench_writes`] measured. Latency is per write: from `StoreHandle::update` until the
/// write was committed (fsynced) and applied to the local store.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    pub writes: u64,
    pub failed: u64,
    pub concurrency: usize,
    pub elapsed: Duration,
    pub writes_per_sec: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Opens a fresh single-node raft in `dir` (which should be empty), then has `concurrency`
/// tasks create small Task objects through [`StoreHandle::update`] until `total_writes`
/// were attempted, and reports throughput and latency percentiles. Shuts the node down before
/// returning.
pub async fn bench_writes(
    dir: &Path,
    total_writes: u64,
    concurrency: usize,
) -> Result<BenchReport, RaftError> {
    let store = Arc::new(MemoryStore::new());
    let cfg = RaftConfig::new(dir, BENCH_NODE_ID, "127.0.0.1:2377");
    let node = RaftNode::open(
        cfg,
        Arc::clone(&store),
        Arc::new(XChaChaSealer::generate()),
        Arc::new(UnreachableTransport),
    )
    .await?;
    node.initialize_single().await?;
    let deadline = Instant::now() + LEADER_WAIT;
    while !node.is_leader() {
        if Instant::now() > deadline {
            node.shutdown().await;
            return Err(RaftError::Raft {
                node_id: BENCH_NODE_ID,
                op: "bench",
                reason: "no leader elected".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let handle = StoreHandle::new(store, node.proposer());

    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut writers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (handle, next, failed) = (handle.clone(), Arc::clone(&next), Arc::clone(&failed));
        writers.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total_writes {
                    break latencies;
                }
                let obj = bench_task(n);
                let t0 = Instant::now();
                match handle.update(|tx| tx.create(obj)).await {
                    Ok(_) => latencies.push(t0.elapsed()),
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    let mut latencies = Vec::with_capacity(usize::try_from(total_writes).unwrap_or(0));
    while let Some(res) = writers.join_next().await {
        match res {
            Ok(l) => latencies.extend(l),
            Err(_) => {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let elapsed = started.elapsed();
    node.shutdown().await;

    latencies.sort_unstable();
    let writes = latencies.len() as u64;
    Ok(BenchReport {
        writes,
        failed: failed.load(Ordering::Relaxed),
        concurrency,
        elapsed,
        writes_per_sec: writes as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        p50: percentile(&latencies, 50),
        p90: percentile(&latencies, 90),
        p99: percentile(&latencies, 99),
        max: latencies.last().copied().unwrap_or_default(),
    })
}

/// A small task, about the size of a real one's metadata.
fn bench_task(n: u64) -> Object {
    let mut t = Task {
        id: TaskId(format!("benchtask{n:016}")),
        ..Default::default()
    };
    t.name = format!("bench.{n}");
    t.labels.insert("com.example.bench".into(), "yes".into());
    Object::Task(t)
}

/// The `p`th percentile of sorted samples (nearest rank).
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 50), Duration::from_millis(50));
        assert_eq!(percentile(&s, 99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 99), Duration::ZERO);
    }

    /// Prints the figures; run with `cargo test --release -p shoal-raft bench -- --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn bench_single_node_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let total = if cfg!(debug_assertions) {
            2_000
        } else {
            20_000
        };
        let r = bench_writes(dir.path(), total, 64).await.expect("bench");
        eprintln!(
            "raft bench: {} writes ({} failed) by {} writers in {:?}: {:.0} writes/s, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
            r.writes,
            r.failed,
            r.concurrency,
            r.elapsed,
            r.writes_per_sec,
            r.p50,
            r.p90,
            r.p99,
            r.max
        );
        assert_eq!(r.failed, 0);
        assert_eq!(r.writes, total);
    }
}
