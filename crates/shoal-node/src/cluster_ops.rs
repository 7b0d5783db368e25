//! Membership changes of the daemon: `swarm init`, `swarm join`, `swarm leave`, and the
//! promotions, demotions and removals the membership watch ([`crate::membership`]) asks for.
//! All of them hold the daemon's `ops` lock, so they never interleave.

use crate::daemon::{Daemon, LEAVE_LAST_MANAGER, Membership};
use crate::error::NodeError;
use crate::state::NodeState;
use crate::swarm_init;
use crate::tls::NodeTls;
use shoal_api::ApiError;
use shoal_api::error::{ALREADY_IN_SWARM, NOT_IN_SWARM};
use shoal_ca::{NodeKey, NodeKeyFile, Role};
use shoal_cluster::{ClusterClient, RenewRequest};
use shoal_types::requests::{InitRequest, JoinRequest};
use std::sync::Arc;
use std::time::Duration;

/// How long a joining manager waits for its store to receive the cluster before `join`
/// answers (Docker's join also returns only once the manager is part of raft).
pub const JOIN_SYNC_WAIT: Duration = Duration::from_secs(30);

/// What the membership watch needs to ask a manager about this node.
pub(crate) struct MembershipView {
    pub client: ClusterClient,
    pub advertise_addr: String,
    pub manager: bool,
    /// Managers to ask: the known managers, other than this node.
    pub targets: Vec<String>,
    /// The node certificate is due for renewal.
    pub renewal_due: bool,
    /// This manager's raft id (0 on workers).
    pub raft_id: u64,
    /// What this node reports as its `Description.TLSInfo`.
    pub tls_info: shoal_types::api::TlsInfo,
}

impl Daemon {
    pub(crate) async fn init(self: &Arc<Self>, req: InitRequest) -> Result<String, ApiError> {
        let _op = self.ops.lock().await;
        if !matches!(&*self.membership.read(), Membership::Inactive) {
            if req.force_new_cluster {
                return self.force_new_cluster(&req).await;
            }
            return Err(ApiError::unavailable(ALREADY_IN_SWARM));
        }
        // Without swarm state, `--force-new-cluster` just creates a swarm, as in Docker.
        let (listen, advertise) = swarm_init::addresses(
            &req.listen_addr,
            &req.advertise_addr,
            &self.config.listen_addr,
            self.config.advertise_addr.as_deref(),
        )
        .map_err(|e| ApiError::bad_request(e.0))?;
        let made = swarm_init::init(&self.paths, &self.host, &req, listen, advertise)
            .await
            .map_err(|e| match e {
                NodeError::Other(m) => ApiError::bad_request(m),
                other => ApiError::internal(other.to_string()),
            })?;
        let (state, runtime, tls) = (made.state, Arc::new(made.runtime), made.tls);
        let handler = Arc::new(crate::cluster_handler::NodeHandler {
            cluster_id: shoal_types::ClusterId::from(state.cluster_id.as_str()),
            runtime: runtime.clone(),
            tls: tls.clone(),
            dispatcher: self.dispatcher_slot.clone(),
        });
        if let Err(e) = runtime
            .serve_cluster(&state.listen_addr, &tls, handler)
            .await
        {
            runtime.shutdown().await;
            // Best effort: the swarm was never usable.
            let _ = std::fs::remove_dir_all(self.paths.swarm());
            return Err(ApiError::bad_request(e.to_string()));
        }
        runtime.supervise_leadership(self.leader_hook.clone());
        let id = state.node_id.clone();
        tracing::info!(node.id = %id, cluster.id = %state.cluster_id, "swarm initialized");
        let store = runtime.store.clone();
        *self.membership.write() = Membership::Manager {
            state: state.clone(),
            runtime,
        };
        self.start_services(&state, tls);
        // `network inspect ingress` right after init shows its subnet, as in Docker.
        if !shoal_manager::control::wait_allocated(&store, None).await {
            tracing::warn!("the ingress network is not allocated yet");
        }
        Ok(id)
    }

    pub(crate) async fn join(self: &Arc<Self>, req: JoinRequest) -> Result<(), ApiError> {
        let _op = self.ops.lock().await;
        if !matches!(&*self.membership.read(), Membership::Inactive) {
            return Err(ApiError::unavailable(ALREADY_IN_SWARM));
        }
        let (listen, advertise) = swarm_init::addresses(
            &req.listen_addr,
            &req.advertise_addr,
            &self.config.listen_addr,
            self.config.advertise_addr.as_deref(),
        )
        .map_err(|e| ApiError::bad_request(e.0))?;
        let joined = crate::join::join(&self.paths, &self.host, &req, listen, advertise).await?;
        let state = joined.state;
        let fail = |e: NodeError| {
            // Best effort: the membership never came up.
            let _ = std::fs::remove_dir_all(self.paths.swarm());
            ApiError::internal(e.to_string())
        };
        let tls = Arc::new(
            NodeTls::new(
                joined.response.root_pem.clone(),
                joined.response.cert_pem.clone(),
                joined.key_pem,
            )
            .map_err(fail)?
            .with_listen_addr(&state.listen_addr),
        );
        if state.role == "manager" {
            let runtime = self
                .start_manager(&state, &joined.dek, &tls)
                .await
                .map_err(fail)?;
            let me = state.node_id.clone();
            let synced = async {
                while !runtime.store.view(|t| t.nodes.get(&me).is_some()) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            if tokio::time::timeout(JOIN_SYNC_WAIT, synced).await.is_err() {
                tracing::warn!(
                    "this manager's store has not caught up yet; continuing in the background"
                );
            }
            *self.membership.write() = Membership::Manager {
                state: state.clone(),
                runtime,
            };
        } else {
            *self.membership.write() = Membership::Worker {
                state: state.clone(),
            };
        }
        self.start_services(&state, tls);
        Ok(())
    }

    pub(crate) async fn leave(&self, force: bool) -> Result<(), ApiError> {
        let _op = self.ops.lock().await;
        let (state, runtime) = match &*self.membership.read() {
            Membership::Inactive => return Err(ApiError::unavailable(NOT_IN_SWARM)),
            Membership::Locked { state } | Membership::Worker { state } => (state.clone(), None),
            Membership::Manager { state, runtime } => (state.clone(), Some(runtime.clone())),
        };
        if runtime.is_some() && !force {
            return Err(ApiError::unavailable(LEAVE_LAST_MANAGER));
        }
        if let Some(rt) = runtime.as_ref().filter(|rt| rt.has_peers()) {
            // Best effort: without its node object the leader's role manager takes this
            // member out of raft, so the others keep their quorum arithmetic right.
            let id = state.node_id.clone();
            let delete = rt
                .store
                .update(move |tx| tx.delete(shoal_types::Kind::Node, &id));
            match tokio::time::timeout(Duration::from_secs(5), delete).await {
                Ok(Ok(_)) => tracing::info!("removed this manager's node before leaving"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "could not remove this manager's node; leaving anyway")
                }
                Err(_) => tracing::warn!("removing this manager's node timed out; leaving anyway"),
            }
        }
        self.wipe(&state, runtime)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        tracing::info!("left the swarm");
        Ok(())
    }

    /// Stops everything of the membership and removes its state from disk.
    async fn wipe(
        &self,
        state: &NodeState,
        runtime: Option<Arc<crate::manager::ManagerRuntime>>,
    ) -> Result<(), NodeError> {
        self.stop_agent().await;
        // Taken now, dropped last: the membership watch may be the caller, and dropping the
        // services aborts it.
        let services = self.services.lock().take();
        if let Some(s) = &services {
            s.cancel.cancel();
        }
        if let Some(rt) = runtime {
            rt.shutdown().await;
        }
        self.remove_task_containers(&state.node_id).await;
        *self.membership.write() = Membership::Inactive;
        let removed = if self.paths.swarm().exists() {
            std::fs::remove_dir_all(self.paths.swarm())
                .map_err(NodeError::io("remove swarm state", self.paths.swarm()))
        } else {
            Ok(())
        };
        drop(services);
        removed
    }

    /// What the membership watch asks with; `None` outside a swarm.
    pub(crate) fn membership_view(&self) -> Option<MembershipView> {
        let services = self.services.lock();
        let s = services.as_ref()?;
        let client = s.tls.client();
        let renewal_due = s.tls.renewal_due(std::time::SystemTime::now());
        let tls_info = s.tls.tls_info();
        let remote = s.remote.managers();
        drop(services);
        match &*self.membership.read() {
            Membership::Worker { state } => Some(MembershipView {
                client,
                advertise_addr: state.advertise_addr.clone(),
                manager: false,
                renewal_due,
                raft_id: 0,
                tls_info,
                targets: if remote.is_empty() {
                    state.managers.clone()
                } else {
                    remote
                },
            }),
            Membership::Manager { state, runtime } => Some(MembershipView {
                client,
                advertise_addr: state.advertise_addr.clone(),
                manager: true,
                renewal_due,
                raft_id: state.raft_id,
                tls_info,
                targets: crate::reach::manager_addrs(&runtime.store)
                    .into_iter()
                    .filter(|a| *a != state.advertise_addr)
                    .collect(),
            }),
            _ => None,
        }
    }

    /// A worker learned the current managers: use and remember them.
    pub(crate) fn note_managers(&self, managers: Vec<String>) {
        if managers.is_empty() {
            return;
        }
        if let Some(s) = self.services.lock().as_ref()
            && s.remote.managers() != managers
        {
            s.remote.set_managers(managers.clone());
        }
        let mut m = self.membership.write();
        if let Membership::Worker { state } = &mut *m
            && state.managers != managers
        {
            state.managers = managers;
            if let Err(e) = state.save(&self.paths) {
                tracing::warn!(error = %e, "could not save the managers list");
            }
        }
    }

    /// A new certificate for this node's key, signed with its desired role by `addr`.
    async fn renew_cert(&self, addr: &str, want: Role) -> Result<Arc<NodeTls>, NodeError> {
        let tls = self
            .services
            .lock()
            .as_ref()
            .map(|s| s.tls.clone())
            .ok_or_else(|| NodeError::Other("not in a swarm".into()))?;
        let csr = NodeKey::from_pem(tls.key_pem())?.csr_pem()?;
        let resp = tls
            .client()
            .renew_cert(addr, &RenewRequest { csr_pem: csr })
            .await
            .map_err(|e| NodeError::Other(e.to_string()))?;
        let role = shoal_ca::CertInfo::parse(&resp.cert_pem)?.role;
        if role != want {
            return Err(NodeError::Other(format!(
                "manager {addr} signed a {role} certificate; waiting for the {want} role"
            )));
        }
        tls.replace_cert(&self.paths, resp.cert_pem)?;
        Ok(tls)
    }

    /// Renews this node's certificate with the role it has (automatic renewal).
    pub(crate) async fn renew_own_cert(&self, addr: &str, role: Role) {
        let _op = self.ops.lock().await;
        match self.renew_cert(addr, role).await {
            Ok(_) => tracing::info!(%role, "node certificate renewed"),
            Err(e) => tracing::warn!(error = %e, "node certificate renewal failed; will retry"),
        }
    }

    /// The cluster wants this worker to be a manager with `raft_id`.
    pub(crate) async fn promote_self(self: &Arc<Self>, addr: &str, raft_id: u64) {
        let _op = self.ops.lock().await;
        let Some(mut state) = self.worker_state() else {
            return;
        };
        let result = async {
            let tls = self.renew_cert(addr, Role::Manager).await?;
            if self.paths.raft().exists() {
                std::fs::remove_dir_all(self.paths.raft())
                    .map_err(NodeError::io("remove", self.paths.raft()))?;
            }
            state.role = "manager".into();
            state.raft_id = raft_id;
            state.save(&self.paths)?;
            let keys = NodeKeyFile::load(&self.paths.node_key(), None)?;
            let runtime = self
                .start_manager(&state, keys.dek.as_bytes(), &tls)
                .await?;
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
            Ok(()) => tracing::info!(raft.id = raft_id, "promoted to manager"),
            Err(e) => tracing::warn!(error = %e, "promotion to manager failed; will retry"),
        }
    }

    /// The leader took this manager out of raft: become a worker.
    pub(crate) async fn demote_self(self: &Arc<Self>, addr: &str) {
        let _op = self.ops.lock().await;
        let Some((mut state, runtime)) = self.manager_runtime() else {
            return;
        };
        let result = async {
            self.renew_cert(addr, Role::Worker).await?;
            runtime.shutdown().await;
            state.role = "worker".into();
            state.raft_id = 0;
            state.managers = crate::reach::manager_addrs(&runtime.store);
            state.save(&self.paths)?;
            *self.membership.write() = Membership::Worker {
                state: state.clone(),
            };
            if self.paths.raft().exists() {
                std::fs::remove_dir_all(self.paths.raft())
                    .map_err(NodeError::io("remove", self.paths.raft()))?;
            }
            Ok::<_, NodeError>(())
        }
        .await;
        match result {
            Ok(()) => tracing::info!("demoted to worker"),
            Err(e) => tracing::warn!(error = %e, "demotion to worker failed; will retry"),
        }
    }

    /// The managers refuse this node as removed: stop its tasks and leave locally.
    pub(crate) async fn removed_from_swarm(&self) {
        let _op = self.ops.lock().await;
        let (state, runtime) = match &*self.membership.read() {
            Membership::Worker { state } => (state.clone(), None),
            Membership::Manager { state, runtime } => (state.clone(), Some(runtime.clone())),
            _ => return,
        };
        tracing::warn!(node.id = %state.node_id, "this node was removed from the swarm; leaving it");
        if let Err(e) = self.wipe(&state, runtime).await {
            tracing::error!(error = %e, "could not remove the swarm state of a removed node");
        }
    }
}
