//! The daemon: membership state machine (inactive → manager → inactive), the API backend, and
//! start-up/shutdown.

use crate::config::DaemonConfig;
use crate::controllers::{self, DispatcherSlot};
use crate::error::NodeError;
use crate::host::{self, HostInfo};
use crate::local_dispatcher::LocalDispatcher;
use crate::lock::DataRootLock;
use crate::manager::{LeaderHook, ManagerRuntime};
use crate::paths::Paths;
use crate::state::NodeState;
use crate::swarm_init;
use futures::future::BoxFuture;
use parking_lot::RwLock;
use shoal_api::backend::{LogRequest, LogStream};
use shoal_api::error::{ALREADY_IN_SWARM, LOCKED, MANAGER_STARTING, NOT_A_MANAGER, NOT_IN_SWARM};
use shoal_api::{ApiError, Backend, LocalState};
use shoal_ca::{NodeKeyFile, UnlockKey};
use shoal_manager::control::Control;
use shoal_types::requests::{InitRequest, JoinRequest};
use std::sync::Arc;

/// 503 text for `swarm leave` on the last manager without `--force`.
pub const LEAVE_LAST_MANAGER: &str = "You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.";

enum Membership {
    Inactive,
    Locked {
        state: NodeState,
    },
    Manager {
        state: NodeState,
        runtime: Arc<ManagerRuntime>,
    },
}

/// The agent task of this node.
struct AgentHandle {
    cancel: tokio_util::sync::CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

/// One running daemon.
pub struct Daemon {
    config: DaemonConfig,
    paths: Paths,
    host: HostInfo,
    membership: RwLock<Membership>,
    /// Serialises init/join/leave/unlock.
    ops: tokio::sync::Mutex<()>,
    leader_hook: LeaderHook,
    /// The container engine; `None` when it could not be reached at start-up (then no task
    /// runs on this node, and the log says why).
    executor: Option<Arc<shoal_docker::DockerExecutor>>,
    dispatcher_slot: DispatcherSlot,
    agent: parking_lot::Mutex<Option<AgentHandle>>,
    _lock: DataRootLock,
}

impl Daemon {
    /// Takes the data-root lock and restores this node's swarm state from disk, if any.
    /// A corrupt raft log or key file fails start-up with a message naming the file.
    pub async fn start(config: DaemonConfig) -> Result<Arc<Daemon>, NodeError> {
        let lock = DataRootLock::acquire(&config.data_root)?;
        let paths = Paths::new(&config.data_root);
        let host = host::probe(&config.engine).await;
        let dispatcher_slot: DispatcherSlot = Arc::default();
        let leader_hook = controllers::hook(dispatcher_slot.clone());
        let executor = match shoal_docker::DockerExecutor::connect(&config.engine.to_string_lossy())
            .await
        {
            Ok(e) => Some(Arc::new(e)),
            Err(e) => {
                tracing::error!(engine = %config.engine.display(), error = %e, "cannot reach the container engine; this node will run no tasks");
                None
            }
        };
        let membership = match NodeState::load(&paths)? {
            None => Membership::Inactive,
            Some(state) => {
                if NodeKeyFile::is_locked(&paths.node_key())? {
                    tracing::warn!("swarm is locked: run `shoal swarm unlock`");
                    Membership::Locked { state }
                } else {
                    let keys = NodeKeyFile::load(&paths.node_key(), None)?;
                    let runtime =
                        Self::start_manager(&paths, &state, keys.dek.as_bytes(), &leader_hook)
                            .await?;
                    Membership::Manager { state, runtime }
                }
            }
        };
        let daemon = Arc::new(Daemon {
            config,
            paths,
            host,
            membership: RwLock::new(membership),
            ops: tokio::sync::Mutex::new(()),
            leader_hook,
            executor,
            dispatcher_slot,
            agent: parking_lot::Mutex::new(None),
            _lock: lock,
        });
        if let Some((state, _)) = daemon.runtime() {
            daemon.start_agent(&state);
        }
        Ok(daemon)
    }

    /// Starts this node's agent (tasks run on the local engine), talking to the dispatcher in
    /// this daemon.
    fn start_agent(&self, state: &NodeState) {
        let Some(executor) = self.executor.clone() else {
            return;
        };
        let mut slot = self.agent.lock();
        if slot.is_some() {
            return;
        }
        let cancel = tokio_util::sync::CancellationToken::new();
        let client = Arc::new(LocalDispatcher::new(self.dispatcher_slot.clone()));
        let agent = shoal_agent::Agent::new(
            shoal_types::NodeId::from(state.node_id.as_str()),
            executor,
            client,
        );
        let join = tokio::spawn(agent.run(cancel.clone()));
        *slot = Some(AgentHandle { cancel, join });
    }

    /// Stops the agent, leaving its containers running (a restarted agent adopts them).
    async fn stop_agent(&self) {
        let handle = self.agent.lock().take();
        if let Some(h) = handle {
            h.cancel.cancel();
            if let Err(e) = h.join.await {
                tracing::error!(error = %e, "agent task failed while stopping");
            }
        }
    }

    /// Removes every container this node's agent made (on `swarm leave`).
    async fn remove_task_containers(&self, node_id: &str) {
        use shoal_agent::Executor;
        let Some(executor) = self.executor.clone() else {
            return;
        };
        let node = shoal_types::NodeId::from(node_id);
        match executor.list(&node).await {
            Ok(found) => {
                for c in found {
                    if let Err(e) = executor.remove_existing(&c).await {
                        tracing::warn!(container.id = %c.container_id, error = %e, "could not remove a task container");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list task containers to remove"),
        }
    }

    async fn start_manager(
        paths: &Paths,
        state: &NodeState,
        dek: &[u8; 32],
        hook: &LeaderHook,
    ) -> Result<Arc<ManagerRuntime>, NodeError> {
        let runtime = ManagerRuntime::open(paths, state, dek).await?;
        if let Err(e) = runtime.wait_leader().await {
            let detail = if runtime.raft.is_initialized() {
                e.to_string()
            } else {
                format!(
                    "raft log under {} holds no cluster membership; the swarm state is incomplete",
                    paths.raft().display()
                )
            };
            runtime.shutdown().await;
            return Err(NodeError::Other(detail));
        }
        runtime.supervise_leadership(hook.clone());
        tracing::info!(node.id = %state.node_id, "manager started from disk");
        Ok(Arc::new(runtime))
    }

    /// Serves the API until `shutdown` resolves, then stops the manager.
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let backend: Arc<dyn Backend> = Arc::new(DaemonBackend(self.clone()));
        let router = shoal_api::router(backend);
        let socket = self.config.socket.clone();
        tracing::info!(socket = %socket.display(), "serving the Engine API");
        shoal_api::serve_unix(&socket, router, shutdown)
            .await
            .map_err(NodeError::io("serve API on", &socket))?;
        self.stop().await;
        // Best effort: the socket is ours and now dead.
        let _ = std::fs::remove_file(&socket);
        Ok(())
    }

    /// Stops the manager runtime, if any.
    pub async fn stop(&self) {
        self.stop_agent().await;
        let runtime = match &*self.membership.read() {
            Membership::Manager { runtime, .. } => Some(runtime.clone()),
            _ => None,
        };
        if let Some(rt) = runtime {
            rt.shutdown().await;
        }
    }

    fn local_state(&self) -> LocalState {
        match &*self.membership.read() {
            Membership::Inactive => LocalState::Inactive,
            Membership::Locked { .. } => LocalState::Locked,
            Membership::Manager { .. } => LocalState::Active { manager: true },
        }
    }

    fn runtime(&self) -> Option<(NodeState, Arc<ManagerRuntime>)> {
        match &*self.membership.read() {
            Membership::Manager { state, runtime } => Some((state.clone(), runtime.clone())),
            _ => None,
        }
    }

    async fn init(&self, req: InitRequest) -> Result<String, ApiError> {
        let _op = self.ops.lock().await;
        if !matches!(&*self.membership.read(), Membership::Inactive) {
            return Err(ApiError::unavailable(ALREADY_IN_SWARM));
        }
        if req.force_new_cluster {
            return Err(ApiError::bad_request(
                "--force-new-cluster needs an existing swarm state on this node",
            ));
        }
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
        made.runtime.supervise_leadership(self.leader_hook.clone());
        let id = made.state.node_id.clone();
        tracing::info!(node.id = %id, cluster.id = %made.state.cluster_id, "swarm initialized");
        self.start_agent(&made.state);
        *self.membership.write() = Membership::Manager {
            state: made.state,
            runtime: Arc::new(made.runtime),
        };
        Ok(id)
    }

    async fn leave(&self, force: bool) -> Result<(), ApiError> {
        let _op = self.ops.lock().await;
        let (state, runtime) = match &*self.membership.read() {
            Membership::Inactive => return Err(ApiError::unavailable(NOT_IN_SWARM)),
            Membership::Locked { state } => (state.clone(), None),
            Membership::Manager { state, runtime } => (state.clone(), Some(runtime.clone())),
        };
        if !force {
            return Err(ApiError::unavailable(LEAVE_LAST_MANAGER));
        }
        self.stop_agent().await;
        if let Some(rt) = runtime {
            rt.shutdown().await;
        }
        self.remove_task_containers(&state.node_id).await;
        std::fs::remove_dir_all(self.paths.swarm()).map_err(|e| {
            ApiError::internal(format!(
                "failed to remove swarm state {}: {e}",
                self.paths.swarm().display()
            ))
        })?;
        *self.membership.write() = Membership::Inactive;
        tracing::info!("left the swarm");
        Ok(())
    }

    async fn unlock(&self, key: String) -> Result<(), ApiError> {
        let _op = self.ops.lock().await;
        let state = match &*self.membership.read() {
            Membership::Locked { state } => state.clone(),
            _ => return Err(ApiError::new(axum_status(409), "swarm is not locked")),
        };
        let invalid = || {
            ApiError::new(
                axum_status(401),
                "swarm could not be unlocked: invalid key provided",
            )
        };
        let key = UnlockKey::parse(key.trim()).map_err(|_| invalid())?;
        let keys = NodeKeyFile::load(&self.paths.node_key(), Some(&key)).map_err(|_| invalid())?;
        let runtime =
            Self::start_manager(&self.paths, &state, keys.dek.as_bytes(), &self.leader_hook)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
        self.start_agent(&state);
        *self.membership.write() = Membership::Manager { state, runtime };
        Ok(())
    }

    fn info_json(&self) -> serde_json::Value {
        let h = &self.host;
        let state = self.local_state();
        let mut swarm = serde_json::json!({
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": state.name(),
            "ControlAvailable": false,
            "Error": "",
            "RemoteManagers": null,
        });
        let (mut services, mut tasks) = (0usize, 0usize);
        if let Some((st, rt)) = self.runtime() {
            let adv_ip = st
                .advertise_addr
                .rsplit_once(':')
                .map(|(h, _)| h.to_string())
                .unwrap_or_default();
            swarm["NodeID"] = st.node_id.clone().into();
            swarm["NodeAddr"] = adv_ip.into();
            swarm["ControlAvailable"] = true.into();
            let (nodes, managers, cluster, remotes) = rt.store.view(|t| {
                services = t.services.len();
                tasks = t.tasks.len();
                let remotes: Vec<serde_json::Value> = t
                    .nodes
                    .iter()
                    .filter(|n| n.raft_id != 0)
                    .map(|n| serde_json::json!({ "NodeID": n.id, "Addr": n.manager_status.as_ref().and_then(|m| m.addr.clone()).unwrap_or_default() }))
                    .collect();
                (t.nodes.len(), t.nodes.iter().filter(|n| n.is_manager()).count(), t.cluster().cloned(), remotes)
            });
            swarm["Nodes"] = nodes.into();
            swarm["Managers"] = managers.into();
            swarm["RemoteManagers"] = remotes.into();
            if let Some(c) = cluster {
                let mut info = shoal_api::routes::swarm::swarm_json(&c);
                if let Some(obj) = info.as_object_mut() {
                    obj.remove("JoinTokens");
                }
                swarm["Cluster"] = info;
            }
        }
        serde_json::json!({
            "ID": "",
            "Containers": tasks,
            "ContainersRunning": 0,
            "ContainersPaused": 0,
            "ContainersStopped": 0,
            "Images": 0,
            "Driver": "shoal",
            "DriverStatus": [],
            "Plugins": { "Volume": [], "Network": ["overlay"], "Authorization": null, "Log": [] },
            "MemoryLimit": true,
            "SwapLimit": false,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "IPv4Forwarding": true,
            "Debug": false,
            "NFd": 0,
            "NGoroutines": 0,
            "SystemTime": shoal_types::time::rfc3339(std::time::SystemTime::now()),
            "LoggingDriver": "json-file",
            "CgroupDriver": "systemd",
            "CgroupVersion": "2",
            "NEventsListener": 0,
            "KernelVersion": h.kernel_version,
            "OperatingSystem": h.operating_system,
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": h.arch,
            "IndexServerAddress": "",
            "RegistryConfig": null,
            "NCPU": h.ncpu,
            "MemTotal": h.mem_total,
            "GenericResources": null,
            "DockerRootDir": self.paths.root,
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": h.hostname,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": concat!(env!("CARGO_PKG_VERSION"), "-shoal"),
            "Runtimes": {},
            "DefaultRuntime": "runc",
            "Swarm": swarm,
            "Services": services,
            "Tasks": tasks,
            "LiveRestoreEnabled": false,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": { "ID": "" },
            "RuncCommit": { "ID": "" },
            "InitCommit": { "ID": "" },
            "SecurityOptions": [],
            "Warnings": null,
            "EngineVersion": h.engine_version,
        })
    }

    fn version_json(&self) -> serde_json::Value {
        let h = &self.host;
        let version = env!("CARGO_PKG_VERSION");
        serde_json::json!({
            "Platform": { "Name": "shoal" },
            "Components": [{
                "Name": "Engine",
                "Version": version,
                "Details": {
                    "ApiVersion": shoal_api::API_VERSION,
                    "MinAPIVersion": shoal_api::MIN_API_VERSION,
                    "GitCommit": "",
                    "GoVersion": "",
                    "Os": h.os,
                    "Arch": h.arch,
                    "KernelVersion": h.kernel_version,
                    "Experimental": "false",
                    "BuildTime": "",
                    "ContainerEngine": h.engine_version,
                },
            }],
            "Version": version,
            "ApiVersion": shoal_api::API_VERSION,
            "MinAPIVersion": shoal_api::MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": h.os,
            "Arch": h.arch,
            "KernelVersion": h.kernel_version,
            "BuildTime": "",
        })
    }
}

fn axum_status(code: u16) -> shoal_api::error::StatusCode {
    shoal_api::error::StatusCode::from_u16(code)
        .unwrap_or(shoal_api::error::StatusCode::INTERNAL_SERVER_ERROR)
}

/// The [`Backend`] the API sees.
struct DaemonBackend(Arc<Daemon>);

impl Backend for DaemonBackend {
    fn local_state(&self) -> LocalState {
        self.0.local_state()
    }

    fn control(&self) -> Result<Arc<Control>, ApiError> {
        match &*self.0.membership.read() {
            Membership::Inactive => Err(ApiError::unavailable(NOT_A_MANAGER)),
            Membership::Locked { .. } => Err(ApiError::unavailable(LOCKED)),
            Membership::Manager { runtime, .. } => {
                if runtime.raft.leader_id().is_none() {
                    return Err(ApiError::unavailable(MANAGER_STARTING));
                }
                Ok(runtime.control.clone())
            }
        }
    }

    fn info(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async move { self.0.info_json() })
    }

    fn version(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async move { self.0.version_json() })
    }

    fn init(&self, req: InitRequest) -> BoxFuture<'_, Result<String, ApiError>> {
        Box::pin(self.0.init(req))
    }

    fn join(&self, _req: JoinRequest) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async move {
            if !matches!(&*self.0.membership.read(), Membership::Inactive) {
                return Err(ApiError::unavailable(ALREADY_IN_SWARM));
            }
            Err(ApiError::new(
                axum_status(501),
                "joining an existing swarm is not supported by this build yet",
            ))
        })
    }

    fn leave(&self, force: bool) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(self.0.leave(force))
    }

    fn unlock(&self, key: String) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(self.0.unlock(key))
    }

    fn distribution(&self, name: String) -> BoxFuture<'_, Result<serde_json::Value, ApiError>> {
        Box::pin(async move {
            crate::engine::distribution(&self.0.config.engine, &name)
                .await
                .ok_or_else(|| {
                    ApiError::new(
                        axum_status(401),
                        format!("errors:\ndenied: requested access to the resource is denied\nunauthorized: authentication required for {name} (no registry, and the image is not present on this node)"),
                    )
                })
        })
    }

    fn task_logs(
        &self,
        task: shoal_types::Task,
        req: LogRequest,
    ) -> BoxFuture<'_, Result<LogStream, ApiError>> {
        Box::pin(async move {
            use futures::StreamExt;
            use shoal_agent::Executor;
            let executor = self.0.executor.clone().ok_or_else(|| {
                ApiError::unavailable("the container engine is not reachable from this node")
            })?;
            let opts = shoal_agent::LogOptions {
                follow: req.follow,
                tail: req.tail,
                timestamps: req.timestamps,
                since: req.since.map(|s| s as i64),
                stdout: req.stdout,
                stderr: req.stderr,
            };
            let stream = executor
                .logs(&task, opts)
                .map(|item| {
                    item.map(|l| shoal_api::backend::TaskLogLine {
                        stderr: matches!(l.stream, shoal_agent::LogStream::Stderr),
                        timestamp: l.timestamp,
                        line: l.line.to_vec(),
                    })
                    .map_err(|e| e.to_string())
                })
                .boxed();
            Ok(stream)
        })
    }
}
