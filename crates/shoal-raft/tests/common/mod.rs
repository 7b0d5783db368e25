//! Helpers shared by the integration tests.
#![allow(dead_code)]

use shoal_raft::{RaftConfig, RaftNode, Sealer, UnreachableTransport, XChaChaSealer};
use shoal_store::{MemoryStore, StoreHandle};
use shoal_types::{Object, Service, ServiceId, Task, TaskId};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const NODE_ID: u64 = 0x5eed_0001;
pub const KEY: [u8; 32] = [7; 32];

pub fn sealer() -> Arc<dyn Sealer> {
    Arc::new(XChaChaSealer::new(&KEY))
}

pub fn config(dir: &Path) -> RaftConfig {
    RaftConfig::new(dir, NODE_ID, "127.0.0.1:2377")
}

/// Opens a node over a fresh store; returns both.
pub async fn open(
    cfg: RaftConfig,
    sealer: Arc<dyn Sealer>,
) -> anyhow::Result<(RaftNode, StoreHandle)> {
    let store = Arc::new(MemoryStore::new());
    let node = RaftNode::open(
        cfg,
        Arc::clone(&store),
        sealer,
        Arc::new(UnreachableTransport),
    )
    .await?;
    let handle = StoreHandle::new(store, node.proposer());
    Ok((node, handle))
}

/// Polls `cond` until it holds or `timeout` passes; the error names what was awaited.
pub async fn wait_for(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

pub async fn wait_leader(node: &RaftNode) -> anyhow::Result<()> {
    wait_for("the node to become leader", Duration::from_secs(10), || {
        node.is_leader()
    })
    .await
}

pub fn task(id: &str, label: &str) -> Object {
    let mut t = Task {
        id: TaskId(id.to_string()),
        ..Default::default()
    };
    t.labels.insert("purpose".into(), label.into());
    Object::Task(t)
}

pub fn service(id: &str, name: &str) -> Object {
    let mut s = Service {
        id: ServiceId(id.to_string()),
        ..Default::default()
    };
    s.spec.name = Some(name.to_string());
    Object::Service(s)
}

/// Creates `n` tasks, one transaction each.
pub async fn write_tasks(handle: &StoreHandle, prefix: &str, n: usize) -> anyhow::Result<u64> {
    let mut last = 0;
    for i in 0..n {
        let obj = task(&format!("{prefix}{i}"), "x");
        last = handle.update(|tx| tx.create(obj)).await?.1;
    }
    Ok(last)
}
