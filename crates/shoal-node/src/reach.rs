//! The manager's prober: every [`PROBE_PERIOD`] it asks each other raft member for the root CA
//! (the cheapest call there is) and records who answered, which is what `ManagerStatus.
//! Reachability` shows on every manager, followers included. It also keeps the node's
//! dispatcher client pointed at the current managers.

use crate::manager::ReachMap;
use shoal_cluster::{ClusterClient, RemoteDispatcher};
use shoal_raft::RaftNode;
use shoal_store::StoreHandle;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often each peer is probed; [`crate::manager::REACHABLE_WITHIN`] is three of these.
pub const PROBE_PERIOD: Duration = Duration::from_secs(1);

/// The managers' cluster addresses from the store.
pub fn manager_addrs(store: &StoreHandle) -> Vec<String> {
    store.view(|t| {
        let mut v: Vec<String> = t
            .nodes
            .iter()
            .filter(|n| n.raft_id != 0 && n.is_manager())
            .filter_map(|n| n.manager_status.as_ref()?.addr.clone())
            .collect();
        v.sort();
        v
    })
}

/// Runs until `cancel` fires.
pub async fn run(
    raft: Arc<RaftNode>,
    store: StoreHandle,
    seen: ReachMap,
    client: ClusterClient,
    remote: Arc<RemoteDispatcher>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(PROBE_PERIOD) => {}
        }
        let addrs = manager_addrs(&store);
        if !addrs.is_empty() && addrs != remote.managers() {
            remote.set_managers(addrs);
        }
        let me = raft.node_id();
        let peers: Vec<(u64, String)> = raft
            .metrics()
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id != me)
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect();
        let probes = peers.into_iter().map(|(id, addr)| {
            let client = client.clone();
            async move { (id, client.root_ca(&addr).await.is_ok()) }
        });
        let results = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            r = futures::future::join_all(probes) => r,
        };
        let now = Instant::now();
        let mut map = seen.write();
        for (id, ok) in results {
            if ok {
                map.insert(id, now);
            }
        }
    }
}
