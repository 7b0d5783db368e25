//! `swarm init --force-new-cluster` on a manager that lost its quorum, and the way the old
//! managers come back afterwards.
//!
//! As in Docker, the manager becomes the sole manager of a cluster that keeps all its state
//! (services, secrets, configs, networks, nodes, join tokens, root CA): its raft is stopped, its
//! raft file rewritten so that the effective membership is only itself
//! ([`shoal_raft::force_new_cluster`]), raft reopened (a sole voter elects itself at once), and
//! then, through the store, every other manager's node loses its raft id and shows as an
//! Unreachable manager. The role manager only adds managers that have a raft id, so it does not
//! pull them back in with their old raft ids; workers keep their sessions (they follow the
//! survivor, the only manager address left).
//!
//! An old manager that is restarted still has the old membership in its log. It cannot elect
//! itself: it needs votes from a majority of the old members, and the survivor refuses them
//! (its log is newer), so with the others gone it stays leaderless and refuses writes. When
//! its membership watch asks the survivor `/node/state`, the survivor reserves a fresh raft id
//! for it (its node still wants to be a manager); the node then drops its old raft state and
//! opens raft empty under the new id ([`Daemon::rejoin_raft`]), and the survivor's role
//! manager adds it as a learner and then a voter, replicating the current state to it. Docker
//! asks the operator to make old managers leave and rejoin; shoal does that rejoin itself.
//! Two old managers restarted together while both cut off from the survivor could still form
//! a majority of the old membership between themselves; do not restart them that way (Docker
//! has the same caveat).

use crate::daemon::{Daemon, Membership};
use crate::error::NodeError;
use crate::state::NodeState;
use crate::swarm_init;
use shoal_api::ApiError;
use shoal_api::error::{LOCKED, NOT_IN_SWARM, WORKER_NOT_MANAGER};
use shoal_raft::XChaChaSealer;
use shoal_types::api::{ManagerStatus, Reachability};
use shoal_types::requests::InitRequest;
use shoal_types::{Node, Object};
use std::sync::Arc;
use std::time::Duration;

/// How long to wait for the raft file to be closed by the stopped raft, and between tries.
const REOPEN_TRIES: u32 = 50;
const REOPEN_PAUSE: Duration = Duration::from_millis(100);
/// How long the restarted sole voter may take to apply its log before the store is updated.
const CATCH_UP_WAIT: Duration = Duration::from_secs(30);

/// The other managers' nodes as they are after a forced new cluster: no raft id, shown as
/// Unreachable managers. Pure; `me` is this manager's node id.
pub fn detach_other_managers(nodes: &[Node], me: &str) -> Vec<Node> {
    nodes
        .iter()
        .filter(|n| n.id.as_str() != me && n.raft_id != 0)
        .map(|n| {
            let mut n = n.clone();
            n.raft_id = 0;
            let addr = n.manager_status.as_ref().and_then(|m| m.addr.clone());
            n.manager_status = Some(ManagerStatus {
                leader: Some(false),
                reachability: Some(Reachability::UNREACHABLE),
                addr,
            });
            n
        })
        .collect()
}

impl Daemon {
    /// `POST /swarm/init` with `ForceNewCluster` on a node already in a swarm (the caller
    /// holds the `ops` lock). Refused on workers and locked nodes, changing nothing.
    pub(crate) async fn force_new_cluster(
        self: &Arc<Self>,
        req: &InitRequest,
    ) -> Result<String, ApiError> {
        let (mut state, runtime) = match &*self.membership.read() {
            Membership::Manager { state, runtime } => (state.clone(), runtime.clone()),
            Membership::Worker { .. } => return Err(ApiError::unavailable(WORKER_NOT_MANAGER)),
            Membership::Locked { .. } => return Err(ApiError::unavailable(LOCKED)),
            Membership::Inactive => return Err(ApiError::unavailable(NOT_IN_SWARM)),
        };
        let (listen, advertise) = swarm_init::addresses(
            &req.listen_addr,
            &req.advertise_addr,
            &state.listen_addr,
            Some(&state.advertise_addr),
        )
        .map_err(|e| ApiError::bad_request(e.0))?;
        let tls = self
            .services
            .lock()
            .as_ref()
            .map(|s| s.tls.clone())
            .ok_or_else(|| ApiError::unavailable(NOT_IN_SWARM))?;
        tracing::warn!(node.id = %state.node_id, "forcing a new cluster with this manager as its only member");
        let dek = runtime.dek;
        runtime.shutdown().await;
        state.listen_addr = listen;
        state.advertise_addr = advertise;
        state.managers = vec![state.advertise_addr.clone()];
        let broken = |e: NodeError| {
            tracing::error!(error = %e, "force-new-cluster failed after raft was stopped");
            ApiError::internal(format!(
                "could not force a new cluster: {e}; restart the daemon to retry"
            ))
        };
        let forced = self.rewrite_raft(&state, &dek).await.map_err(broken)?;
        tracing::info!(
            raft.index = forced.index,
            raft.term = forced.term,
            "raft membership is now this manager alone"
        );
        state.save(&self.paths).map_err(broken)?;
        let runtime = self
            .start_manager(&state, &dek, &tls)
            .await
            .map_err(broken)?;
        if let Some(s) = self.services.lock().as_ref() {
            self.spawn_prober(&runtime, &tls, &s.remote);
            s.remote.set_managers(state.managers.clone());
        }
        *self.membership.write() = Membership::Manager {
            state: state.clone(),
            runtime: runtime.clone(),
        };
        detach_in_store(&runtime, &state)
            .await
            .map_err(|e| ApiError::internal(format!("could not update the other managers: {e}")))?;
        Ok(state.node_id)
    }

    /// Rewrites the stopped raft's file; retries while the stopped raft still holds it open.
    async fn rewrite_raft(
        &self,
        state: &NodeState,
        dek: &[u8; 32],
    ) -> Result<shoal_raft::ForcedMembership, NodeError> {
        let mut last = None;
        for _ in 0..REOPEN_TRIES {
            let (dir, id, addr) = (
                self.paths.raft(),
                state.raft_id,
                state.advertise_addr.clone(),
            );
            let sealer = Arc::new(XChaChaSealer::new(dek));
            let r = tokio::task::spawn_blocking(move || {
                shoal_raft::force_new_cluster(&dir, sealer, id, &addr)
            })
            .await
            .map_err(|e| NodeError::Other(format!("force-new-cluster task failed: {e}")))?;
            match r {
                Ok(f) => return Ok(f),
                Err(shoal_raft::RaftError::Storage { reason, .. }) if reason == "already open" => {
                    last = Some(reason);
                    tokio::time::sleep(REOPEN_PAUSE).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(NodeError::Other(format!(
            "the raft file stayed open after raft stopped: {}",
            last.unwrap_or_default()
        )))
    }

    /// The cluster gave this manager a new raft id (a forced new cluster dropped its old one):
    /// drop the old raft state and open raft empty under the new id, for the leader to add.
    pub(crate) async fn rejoin_raft(self: &Arc<Self>, raft_id: u64) {
        let _op = self.ops.lock().await;
        let Some((mut state, runtime)) = self.manager_runtime() else {
            return;
        };
        if state.raft_id == raft_id {
            return;
        }
        let Some(tls) = self.services.lock().as_ref().map(|s| s.tls.clone()) else {
            return;
        };
        tracing::warn!(
            old = state.raft_id,
            new = raft_id,
            "this manager is no longer in the cluster's raft; rejoining with a new raft id"
        );
        let dek = runtime.dek;
        runtime.shutdown().await;
        let result = async {
            if self.paths.raft().exists() {
                std::fs::remove_dir_all(self.paths.raft())
                    .map_err(NodeError::io("remove", self.paths.raft()))?;
            }
            state.raft_id = raft_id;
            state.save(&self.paths)?;
            let runtime = self.start_manager(&state, &dek, &tls).await?;
            if let Some(s) = self.services.lock().as_ref() {
                self.spawn_prober(&runtime, &tls, &s.remote);
            }
            *self.membership.write() = Membership::Manager {
                state: state.clone(),
                runtime,
            };
            Ok::<_, NodeError>(())
        }
        .await;
        match result {
            Ok(()) => tracing::info!(
                raft.id = raft_id,
                "waiting for the leader to add this manager"
            ),
            Err(e) => {
                tracing::error!(error = %e, "rejoining raft failed; restart the daemon to retry")
            }
        }
    }
}

/// Once the sole voter applied its log: detach the other managers and record this manager's
/// (possibly new) address.
async fn detach_in_store(
    runtime: &crate::manager::ManagerRuntime,
    state: &NodeState,
) -> Result<(), NodeError> {
    let target = runtime.raft.metrics().last_log_index.unwrap_or(0);
    let caught_up = async {
        while runtime.store.store.applied_index() < target {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(CATCH_UP_WAIT, caught_up)
        .await
        .map_err(|_| NodeError::Other(format!("the store did not apply index {target}")))?;
    let me = state.node_id.clone();
    let addr = state.advertise_addr.clone();
    let deadline = tokio::time::Instant::now() + CATCH_UP_WAIT;
    loop {
        match detach_once(runtime, &me, &addr).await {
            // Leadership may still be settling right after the election, and the new
            // leader's controllers write nodes too (status, heartbeats): try again.
            Err(NodeError::Store(
                shoal_store::StoreError::NoLeader | shoal_store::StoreError::OutOfSequence { .. },
            )) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

async fn detach_once(
    runtime: &crate::manager::ManagerRuntime,
    me: &str,
    addr: &str,
) -> Result<(), NodeError> {
    runtime
        .store
        .update(|tx| {
            let nodes: Vec<Node> = tx.tables().nodes.iter().cloned().collect();
            for n in detach_other_managers(&nodes, me) {
                tx.update(Object::Node(n))?;
            }
            if let Some(mut n) = tx.node(me) {
                let ms = n.manager_status.get_or_insert_with(Default::default);
                if ms.addr.as_deref() != Some(addr) {
                    ms.addr = Some(addr.to_string());
                    tx.update(Object::Node(n))?;
                }
            }
            Ok(())
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(id: &str, raft: u64) -> Node {
        Node {
            id: id.into(),
            raft_id: raft,
            manager_status: Some(ManagerStatus {
                leader: Some(false),
                reachability: Some(Reachability::REACHABLE),
                addr: Some(format!("{id}:2377")),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn other_managers_lose_their_raft_id_and_show_unreachable() {
        let worker = Node {
            id: "w".into(),
            ..Default::default()
        };
        let nodes = [manager("a", 1), manager("b", 2), manager("c", 3), worker];
        let out = detach_other_managers(&nodes, "a");
        let ids: Vec<&str> = out.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        for n in &out {
            assert_eq!(n.raft_id, 0);
            let ms = n.manager_status.as_ref().expect("manager status kept");
            assert_eq!(ms.reachability, Some(Reachability::UNREACHABLE));
            assert_eq!(ms.addr.as_deref(), Some(format!("{}:2377", n.id).as_str()));
        }
    }
}
