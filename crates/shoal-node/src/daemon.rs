//! The daemon: membership state machine (inactive → manager | worker → inactive, with
//! promotion and demotion between the two), the API backend, and start-up/shutdown.
//!
//! Every node in a swarm has [`NodeServices`]: its TLS identity, the dispatcher client its
//! agent uses (in-process when this node leads, the cluster channel otherwise; see
//! [`LocalDispatcher`]) and the membership watch ([`crate::membership`]). A manager also has a
//! [`ManagerRuntime`], which serves the cluster channel on `--listen-addr`.

use crate::config::DaemonConfig;
use crate::controllers::{self, DispatcherSlot};
use crate::error::NodeError;
use crate::host::{self, HostInfo};
use crate::local_dispatcher::LocalDispatcher;
use crate::lock::DataRootLock;
use crate::manager::{LeaderHook, ManagerRuntime};
use crate::paths::Paths;
use crate::state::NodeState;
use crate::tls::NodeTls;
use parking_lot::RwLock;
use shoal_api::{ApiError, Backend, LocalState};
use shoal_ca::{NodeKeyFile, UnlockKey};
use shoal_cluster::RemoteDispatcher;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// 503 text for `swarm leave` on a manager without `--force`.
pub const LEAVE_LAST_MANAGER: &str = "You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.";

pub(crate) enum Membership {
    Inactive,
    Locked {
        state: NodeState,
    },
    Manager {
        state: NodeState,
        runtime: Arc<ManagerRuntime>,
    },
    Worker {
        state: NodeState,
    },
}

/// What every node in a swarm runs besides its agent (see the module docs).
pub(crate) struct NodeServices {
    pub(crate) tls: Arc<NodeTls>,
    pub(crate) remote: Arc<RemoteDispatcher>,
    pub(crate) cancel: CancellationToken,
    /// The membership watch; dropping the set aborts it (it holds no lock across awaits
    /// that matter: every change it makes is under the daemon's `ops` lock).
    pub(crate) _tasks: JoinSet<()>,
}

impl Drop for NodeServices {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The agent task of this node.
pub(crate) struct AgentHandle {
    cancel: CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

/// One running daemon.
pub struct Daemon {
    pub(crate) config: DaemonConfig,
    pub(crate) paths: Paths,
    pub(crate) host: HostInfo,
    pub(crate) membership: RwLock<Membership>,
    /// Serialises init/join/leave/unlock/promotion/demotion.
    pub(crate) ops: tokio::sync::Mutex<()>,
    pub(crate) leader_hook: LeaderHook,
    /// The container engine; `None` when it could not be reached at start-up (then no task
    /// runs on this node, and the log says why).
    pub(crate) executor: Option<Arc<shoal_docker::DockerExecutor>>,
    /// The engine side of the overlay data plane; `None` with `--overlay=false` or without
    /// an engine.
    pub(crate) engine_networks: Option<shoal_docker::EngineNetworks>,
    pub(crate) dispatcher_slot: DispatcherSlot,
    pub(crate) agent: parking_lot::Mutex<Option<AgentHandle>>,
    /// Secrets and configs the dispatcher sent this node's agent (memory only).
    pub(crate) secrets: shoal_agent::SecretStore,
    pub(crate) services: parking_lot::Mutex<Option<NodeServices>>,
    /// The API socket, claimed at start (so a second daemon on the same `--host` is refused
    /// before it starts anything) and served by [`Daemon::run`].
    api_socket: parking_lot::Mutex<Option<shoal_api::ApiSocket>>,
    /// The web view's login token and sessions (`<data-root>/web-token`); the token exists
    /// whether or not `--web-addr` serves the view, so `shoal web token` always answers.
    pub(crate) web_auth: Arc<shoal_web::WebAuth>,
    _lock: DataRootLock,
}

impl Daemon {
    /// Takes the data-root lock, claims the API socket and restores this node's swarm state
    /// from disk, if any. A corrupt raft log or key file fails start-up with a message naming
    /// the file; a live daemon's socket or a non-socket at `--host` with one naming the path.
    pub async fn start(config: DaemonConfig) -> Result<Arc<Daemon>, NodeError> {
        let lock = DataRootLock::acquire(&config.data_root)?;
        let api_socket = shoal_api::ApiSocket::claim(&config.socket)?;
        let paths = Paths::new(&config.data_root);
        crate::paths::create_private_dir(&paths.task_files())
            .map_err(NodeError::io("create", paths.task_files()))?;
        crate::paths::make_private(&paths)
            .map_err(NodeError::io("make private the data root", &paths.root))?;
        let web_auth = Arc::new(
            shoal_web::WebAuth::load_or_create(&config.data_root)
                .map_err(|e| NodeError::Other(e.to_string()))?,
        );
        let host = host::probe(&config.engine).await;
        let dispatcher_slot: DispatcherSlot = Arc::default();
        let leader_hook = controllers::hook(dispatcher_slot.clone());
        let secrets = shoal_agent::SecretStore::new();
        let mut engine_networks = None;
        let executor = match shoal_docker::DockerExecutor::connect(&config.engine.to_string_lossy())
            .await
        {
            Ok(e) => {
                let mut e = e.with_task_files(paths.task_files(), secrets.clone());
                if config.overlay {
                    let networks = shoal_docker::EngineNetworks::new(e.docker().clone());
                    e = e.with_engine_networks(networks.clone());
                    engine_networks = Some(networks);
                } else {
                    tracing::info!(
                        "overlay data plane off (--overlay=false): tasks stay on the engine's default network"
                    );
                }
                Some(Arc::new(e))
            }
            Err(e) => {
                tracing::error!(engine = %config.engine.display(), error = %e, "cannot reach the container engine; this node will run no tasks");
                None
            }
        };
        let daemon = Arc::new(Daemon {
            config,
            paths,
            host,
            membership: RwLock::new(Membership::Inactive),
            ops: tokio::sync::Mutex::new(()),
            leader_hook,
            executor,
            engine_networks,
            dispatcher_slot,
            agent: parking_lot::Mutex::new(None),
            secrets,
            services: parking_lot::Mutex::new(None),
            api_socket: parking_lot::Mutex::new(Some(api_socket)),
            web_auth,
            _lock: lock,
        });
        if let Some(state) = NodeState::load(&daemon.paths)? {
            if NodeKeyFile::is_locked(&daemon.paths.node_key())? {
                tracing::warn!("swarm is locked: run `shoal swarm unlock`");
                *daemon.membership.write() = Membership::Locked { state };
            } else {
                let keys = NodeKeyFile::load(&daemon.paths.node_key(), None)?;
                daemon.resume(state, &keys).await?;
            }
        }
        Ok(daemon)
    }

    /// Brings an existing membership back up from disk (start-up, unlock).
    async fn resume(
        self: &Arc<Self>,
        state: NodeState,
        keys: &NodeKeyFile,
    ) -> Result<(), NodeError> {
        let tls = Arc::new(
            NodeTls::load(&self.paths, &keys.node_key_pem)?.with_listen_addr(&state.listen_addr),
        );
        if state.role == "manager" {
            let runtime = self
                .start_manager(&state, keys.dek.as_bytes(), &tls)
                .await?;
            tracing::info!(node.id = %state.node_id, "manager started from disk");
            *self.membership.write() = Membership::Manager {
                state: state.clone(),
                runtime,
            };
        } else {
            tracing::info!(node.id = %state.node_id, "worker started from disk");
            *self.membership.write() = Membership::Worker {
                state: state.clone(),
            };
        }
        self.start_services(&state, tls);
        Ok(())
    }

    /// Opens raft, serves the cluster channel, and supervises leadership. A manager alone in
    /// its raft group waits to elect itself; one with peers does not wait (they may be down).
    pub(crate) async fn start_manager(
        &self,
        state: &NodeState,
        dek: &[u8; 32],
        tls: &Arc<NodeTls>,
    ) -> Result<Arc<ManagerRuntime>, NodeError> {
        let runtime = Arc::new(ManagerRuntime::open(&self.paths, state, dek, tls).await?);
        let handler = Arc::new(crate::cluster_handler::NodeHandler {
            cluster_id: shoal_types::ClusterId::from(state.cluster_id.as_str()),
            runtime: runtime.clone(),
            tls: tls.clone(),
            dispatcher: self.dispatcher_slot.clone(),
        });
        if let Err(e) = runtime
            .serve_cluster(&state.listen_addr, tls, handler)
            .await
        {
            runtime.shutdown().await;
            return Err(e);
        }
        if runtime.raft.is_initialized() && !runtime.has_peers() {
            if let Err(e) = runtime.wait_leader().await {
                runtime.shutdown().await;
                return Err(e);
            }
        } else if !runtime.raft.is_initialized()
            && state.raft_id != 0
            && self.paths.state().exists()
        {
            // Joined earlier but never received a membership: wait for the leader to add us.
            tracing::info!("waiting for the leader to add this manager to raft");
        }
        runtime.supervise_leadership(self.leader_hook.clone());
        Ok(runtime)
    }

    /// Starts the node services and the agent for `state` (after init, join or restart).
    pub(crate) fn start_services(self: &Arc<Self>, state: &NodeState, tls: Arc<NodeTls>) {
        let cancel = CancellationToken::new();
        let remote = Arc::new(RemoteDispatcher::new(
            tls.client(),
            state.managers.clone(),
            cancel.clone(),
        ));
        let mut tasks = JoinSet::new();
        tasks.spawn(crate::membership::run(Arc::downgrade(self), cancel.clone()));
        tasks.spawn(crate::attachments::run(
            Arc::downgrade(self),
            cancel.clone(),
        ));
        if let Some(rt) = self.runtime() {
            self.spawn_prober(&rt, &tls, &remote);
        }
        *self.services.lock() = Some(NodeServices {
            tls,
            remote: remote.clone(),
            cancel,
            _tasks: tasks,
        });
        self.start_agent(state, remote);
    }

    /// The manager's reachability prober, owned by its runtime.
    pub(crate) fn spawn_prober(
        &self,
        rt: &Arc<ManagerRuntime>,
        tls: &NodeTls,
        remote: &Arc<RemoteDispatcher>,
    ) {
        rt.spawn(crate::reach::run(
            rt.raft.clone(),
            rt.store.clone(),
            rt.seen.clone(),
            tls.client_with_timeout(crate::reach::PROBE_PERIOD),
            remote.clone(),
            rt.cancel_token(),
        ));
    }

    /// Starts this node's agent (tasks run on the local engine).
    fn start_agent(&self, state: &NodeState, remote: Arc<RemoteDispatcher>) {
        let Some(executor) = self.executor.clone() else {
            return;
        };
        let mut slot = self.agent.lock();
        if slot.is_some() {
            return;
        }
        let cancel = CancellationToken::new();
        let client = Arc::new(LocalDispatcher::new(
            self.dispatcher_slot.clone(),
            Some(remote),
        ));
        let node_id = shoal_types::NodeId::from(state.node_id.as_str());
        let mut agent = shoal_agent::Agent::new(node_id.clone(), executor, client)
            .with_secrets(self.secrets.clone());
        if let Some(networks) = &self.engine_networks {
            agent = agent.with_data_plane(Arc::new(crate::netplane::NetPlane::new(
                node_id,
                networks.clone(),
                self.paths.tunnel(),
            )));
        }
        let join = tokio::spawn(agent.run(cancel.clone()));
        *slot = Some(AgentHandle { cancel, join });
    }

    /// Stops the agent, leaving its containers running (a restarted agent adopts them).
    pub(crate) async fn stop_agent(&self) {
        let handle = self.agent.lock().take();
        if let Some(h) = handle {
            h.cancel.cancel();
            if let Err(e) = h.join.await {
                tracing::error!(error = %e, "agent task failed while stopping");
            }
        }
    }

    /// Removes every container this node's agent made (on `swarm leave`).
    pub(crate) async fn remove_task_containers(&self, node_id: &str) {
        use shoal_agent::Executor;
        let Some(executor) = self.executor.clone() else {
            return;
        };
        let node = shoal_types::NodeId::from(node_id);
        match executor.list(&node).await {
            Ok(found) => {
                // Each removal may wait out its container's stop grace period: run them
                // together, or leaving a node with many tasks takes grace × tasks.
                let removals = found.iter().map(|c| {
                    let executor = executor.clone();
                    async move {
                        if let Err(e) = executor.remove_existing(c).await {
                            tracing::warn!(container.id = %c.container_id, error = %e, "could not remove a task container");
                        }
                    }
                });
                futures::future::join_all(removals).await;
            }
            Err(e) => tracing::warn!(error = %e, "could not list task containers to remove"),
        }
    }

    /// Serves the API (and the web view with `--web-addr`) until `shutdown` resolves, then
    /// stops the manager.
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let backend: Arc<dyn Backend> = Arc::new(crate::backend::DaemonBackend::new(self.clone()));
        let router = shoal_api::router(backend.clone())
            .merge(shoal_web::token_routes(self.web_auth.clone()));
        let web_cancel = CancellationToken::new();
        let _stop_web = web_cancel.clone().drop_guard();
        if let Some(addr) = &self.config.web_addr {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                NodeError::Other(format!(
                    "cannot serve the web view on --web-addr {addr}: {e}"
                ))
            })?;
            tracing::info!(addr = %addr, "serving the web view (log in with `shoal web token`)");
            let auth = self.web_auth.clone();
            let cancel = web_cancel.clone();
            tokio::spawn(async move {
                if let Err(e) = shoal_web::serve(listener, backend, auth, cancel).await {
                    tracing::error!(error = %e, "the web view stopped");
                }
            });
        }
        let socket_path = self.config.socket.clone();
        let socket = self.api_socket.lock().take().ok_or_else(|| {
            NodeError::Other(format!(
                "the API socket {} is already being served",
                socket_path.display()
            ))
        })?;
        tracing::info!(socket = %socket_path.display(), "serving the Engine API");
        let served = shoal_api::serve_unix(socket, router, shutdown)
            .await
            .map_err(NodeError::io("serve API on", &socket_path));
        self.stop().await;
        served
    }

    /// Stops the agent, the node services and the manager runtime, if any.
    pub async fn stop(&self) {
        self.stop_agent().await;
        if let Some(executor) = &self.executor {
            executor.release_task_files().await;
        }
        let services = self.services.lock().take();
        drop(services);
        if let Some(rt) = self.runtime() {
            rt.shutdown().await;
        }
    }

    pub(crate) fn local_state(&self) -> LocalState {
        match &*self.membership.read() {
            Membership::Inactive => LocalState::Inactive,
            Membership::Locked { .. } => LocalState::Locked,
            Membership::Manager { .. } => LocalState::Active { manager: true },
            Membership::Worker { .. } => LocalState::Active { manager: false },
        }
    }

    pub(crate) fn runtime(&self) -> Option<Arc<ManagerRuntime>> {
        match &*self.membership.read() {
            Membership::Manager { runtime, .. } => Some(runtime.clone()),
            _ => None,
        }
    }

    pub(crate) fn manager_runtime(&self) -> Option<(NodeState, Arc<ManagerRuntime>)> {
        match &*self.membership.read() {
            Membership::Manager { state, runtime } => Some((state.clone(), runtime.clone())),
            _ => None,
        }
    }

    pub(crate) fn worker_state(&self) -> Option<NodeState> {
        match &*self.membership.read() {
            Membership::Worker { state } => Some(state.clone()),
            _ => None,
        }
    }

    pub(crate) async fn unlock(self: &Arc<Self>, key: String) -> Result<(), ApiError> {
        let _op = self.ops.lock().await;
        let state = match &*self.membership.read() {
            Membership::Locked { state } => state.clone(),
            _ => {
                return Err(ApiError::new(
                    crate::backend::axum_status(409),
                    "swarm is not locked",
                ));
            }
        };
        let invalid = || {
            ApiError::new(
                crate::backend::axum_status(401),
                "swarm could not be unlocked: invalid key provided",
            )
        };
        let key = UnlockKey::parse(key.trim()).map_err(|_| invalid())?;
        let keys = NodeKeyFile::load(&self.paths.node_key(), Some(&key)).map_err(|_| invalid())?;
        self.resume(state, &keys)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))
    }
}
