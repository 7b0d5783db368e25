//! [`DockerExecutor`]: the agent's [`Executor`] on a Docker Engine (or Podman's compatible
//! API) over its Unix socket.
//!
//! Every task operation addresses the container by its deterministic name
//! ([`Task::container_name`]), so the executor keeps no per-task state and a restarted daemon
//! finds what the previous one made. Every call has its own timeout; the client's global one
//! is set far above them because it also bounds `stop`, which may legitimately take the whole
//! stop grace period.

use crate::attach::{Attachments, attachments};
use crate::call::{CALL_TIMEOUT, CLIENT_TIMEOUT_SECS, PULL_TIMEOUT, STOP_MARGIN, call};
use crate::container_config::{NodeFacts, container_config};
use crate::describe::node_description;
use crate::error::{DockerError, exec_error, status_of, timed_out};
use crate::list::list_node;
use crate::logs::{log_line, tail_param};
use crate::networks::EngineNetworks;
use crate::reference::pull_parts;
use crate::secrets::TaskFiles;
use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{NetworkConnectRequest, NetworkingConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use shoal_agent::spec::{DEFAULT_STOP_GRACE_PERIOD, stop_grace_period};
use shoal_agent::{
    ExecError, Executor, ExistingContainer, ExitStatus, Health, LogLine, LogOptions, SecretStore,
    Started,
};
use shoal_types::api::HealthStatusEnum;
use shoal_types::api::NodeDescription;
use shoal_types::{NodeId, Task};
use std::collections::HashMap;
use std::time::Duration;
use tracing::{debug, info, warn};

/// Runs task containers on one Docker Engine.
#[derive(Debug, Clone)]
pub struct DockerExecutor {
    docker: Docker,
    node: NodeFacts,
    /// Where task secrets and configs go (a tmpfs per task); `None`: tasks get none.
    files: Option<TaskFiles>,
    /// The node's shoal networks on this engine; `None` when the node builds no overlay (task
    /// containers then stay on the engine's default network).
    networks: Option<EngineNetworks>,
}

impl DockerExecutor {
    /// Connects over the Unix socket at `socket_path` (`unix://` prefix optional), negotiates
    /// the API version down to the engine's (bollard speaks 1.53 by default, engines often
    /// less), and reads the node facts templates need.
    pub async fn connect(socket_path: &str) -> Result<Self, DockerError> {
        let socket = socket_path.to_string();
        let docker = Docker::connect_with_unix(
            socket_path,
            CLIENT_TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|source| DockerError::Connect {
            socket: socket.clone(),
            source,
        })?;
        let docker = match tokio::time::timeout(CALL_TIMEOUT, docker.negotiate_version()).await {
            Ok(Ok(d)) => d,
            Ok(Err(source)) => return Err(DockerError::Negotiate { socket, source }),
            Err(_) => {
                return Err(DockerError::Negotiate {
                    socket,
                    source: BollardError::RequestTimeoutError,
                });
            }
        };
        let info = match tokio::time::timeout(CALL_TIMEOUT, docker.info()).await {
            Ok(Ok(info)) => info,
            Ok(Err(source)) => return Err(DockerError::Info { socket, source }),
            Err(_) => {
                return Err(DockerError::Info {
                    socket,
                    source: BollardError::RequestTimeoutError,
                });
            }
        };
        let node = NodeFacts {
            hostname: info.name.unwrap_or_default(),
            os: info.os_type.unwrap_or_default(),
            arch: info.architecture.unwrap_or_default(),
        };
        let version = docker.client_version();
        info!(socket = %socket_path, api = %version, hostname = %node.hostname, "connected to the container engine");
        Ok(Self {
            docker,
            node,
            files: None,
            networks: None,
        })
    }

    /// The underlying client, for the few engine reads outside task execution (e.g. the
    /// API's `/distribution/{name}/json`, which inspects local images).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Attaches task containers to their shoal networks as `networks` has them set up.
    pub fn with_engine_networks(mut self, networks: EngineNetworks) -> Self {
        self.networks = Some(networks);
        self
    }

    /// Connects the created container of `task` to its networks after the first, skipping
    /// those it is on already (an adopted container).
    async fn connect_others(&self, name: &str, attach: &Attachments) -> Result<(), ExecError> {
        if attach.others.is_empty() {
            return Ok(());
        }
        let inspect = call(
            "inspecting container",
            None,
            CALL_TIMEOUT,
            self.docker.inspect_container(name, None),
        )
        .await?;
        let joined = inspect
            .network_settings
            .and_then(|s| s.networks)
            .unwrap_or_default();
        for (network, endpoint) in &attach.others {
            if joined.contains_key(network) {
                continue;
            }
            let request = NetworkConnectRequest {
                container: name.to_string(),
                endpoint_config: Some(endpoint.clone()),
            };
            let context = format!("connecting to network {network}");
            call(
                &context,
                Some(&context),
                CALL_TIMEOUT,
                self.docker.connect_network(network, request),
            )
            .await
            .map_err(|e| match e {
                ExecError::NotFound(m) | ExecError::Engine(m) => ExecError::Rejected(m),
                other => other,
            })?;
        }
        Ok(())
    }

    /// Pulls `image` (tag `latest` when none). Errors carry the engine's pull message.
    async fn pull(&self, image: &str) -> Result<(), ExecError> {
        let (repo, tag) = pull_parts(image);
        let options = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let pull = self
            .docker
            .create_image(Some(options), None, None)
            .try_for_each(|_| async { Ok(()) });
        call("pulling image", None, PULL_TIMEOUT, pull).await
    }

    /// Makes sure `image` is present, pulling it only when missing. A failed pull is not an
    /// error here: as in Docker, the create that follows reports the engine's "No such
    /// image" message.
    async fn ensure_image(&self, image: &str) -> Result<(), ExecError> {
        match call(
            "inspecting image",
            None,
            CALL_TIMEOUT,
            self.docker.inspect_image(image),
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => {
                info!(image, "image not present; pulling");
                if let Err(e) = self.pull(image).await {
                    warn!(image, error = %e, "pulling image failed");
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A pinned reference `name:tag@<digest>` whose digest is the local image's id (what
    /// shoal's `/distribution` answers for images that never came from a registry) resolves to
    /// the local `name:tag`; the engine only resolves registry digests itself.
    async fn resolve_local(&self, image: &str) -> String {
        let Some((name, digest)) = image.split_once('@') else {
            return image.to_string();
        };
        if self.docker.inspect_image(image).await.is_ok() {
            return image.to_string();
        }
        match self.docker.inspect_image(name).await {
            Ok(found) if found.id.as_deref() == Some(digest) => name.to_string(),
            _ => image.to_string(),
        }
    }

    /// Gives tasks their secrets and configs from `store`, on per-task tmpfs mounts under
    /// `base` (see [`crate::secrets`]).
    pub fn with_task_files(
        mut self,
        base: impl Into<std::path::PathBuf>,
        store: SecretStore,
    ) -> Self {
        let files = TaskFiles::new(base, store);
        files.sweep();
        self.files = Some(files);
        self
    }

    /// Unmounts every task tmpfs still on the host (tasks prepared but not started). Safe
    /// once the agent has stopped: a start re-creates the files. Called on shutdown.
    pub async fn release_task_files(&self) {
        if let Some(files) = self.files.clone() {
            let swept = tokio::task::spawn_blocking(move || files.sweep()).await;
            if let Err(e) = swept {
                warn!(error = %e, "releasing task tmpfs mounts panicked");
            }
        }
    }

    async fn prepare_task(&self, task: &Task) -> Result<(), ExecError> {
        let mut body = container_config(task, &self.node)?;
        let attach = match &self.networks {
            Some(networks) => attachments(task, &networks.directory())?,
            None => None,
        };
        if let Some(attach) = &attach {
            let hc = body.host_config.get_or_insert_with(Default::default);
            hc.network_mode = Some(attach.first.0.clone());
            // The node's resolver on the first network, always: it answers the swarm's names
            // and forwards the rest to the spec's nameservers (`--dns`) if it sets any, as
            // Docker's embedded DNS does with them.
            if let Some(resolver) = &attach.dns {
                hc.dns = Some(vec![resolver.clone()]);
            }
            body.networking_config = Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([attach.first.clone()])),
            });
        }
        if let Some(files) = &self.files {
            let binds = files.prepare(task).await?;
            if !binds.is_empty() {
                let hc = body.host_config.get_or_insert_with(Default::default);
                hc.mounts.get_or_insert_with(Vec::new).extend(binds);
            }
        }
        let image = self
            .resolve_local(body.image.as_deref().unwrap_or_default())
            .await;
        self.ensure_image(&image).await?;
        body.image = Some(image);
        let name = task.container_name();
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = tokio::time::timeout(
            CALL_TIMEOUT,
            self.docker.create_container(Some(options), body),
        )
        .await;
        match created {
            Ok(Ok(response)) => {
                debug!(container = %name, container.id = %response.id, "container created");
            }
            // The name is the task's: the container exists already (an earlier attempt or an
            // earlier agent made it), so it is adopted rather than duplicated.
            Ok(Err(e)) if status_of(&e) == Some(409) => {
                debug!(container = %name, "container exists; adopting it");
            }
            Ok(Err(e)) if status_of(&e) == Some(404) => {
                return Err(ExecError::ImageNotFound(exec_error(None, &e).to_string()));
            }
            Ok(Err(e)) => return Err(exec_error(None, &e)),
            Err(_) => return Err(timed_out("creating container", CALL_TIMEOUT)),
        }
        match &attach {
            Some(attach) => self.connect_others(&name, attach).await,
            None => Ok(()),
        }
    }

    async fn start_task(&self, task: &Task) -> Result<Started, ExecError> {
        let name = task.container_name();
        let context = Some("starting container failed");
        call(
            "starting container",
            context,
            CALL_TIMEOUT,
            self.docker.start_container(&name, None),
        )
        .await?;
        let inspect = call(
            "inspecting container",
            None,
            CALL_TIMEOUT,
            self.docker.inspect_container(&name, None),
        )
        .await?;
        Ok(Started {
            container_id: inspect.id.unwrap_or_default(),
            pid: inspect.state.and_then(|s| s.pid).unwrap_or(0),
        })
    }

    async fn wait_task(&self, task: &Task) -> Result<ExitStatus, ExecError> {
        let name = task.container_name();
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut waiting = self.docker.wait_container(&name, Some(options));
        // Waits as long as the container runs: no deadline, the runner drops the future.
        let (mut exit_code, mut error) = match waiting.next().await {
            Some(Ok(response)) => (response.status_code, String::new()),
            Some(Err(BollardError::DockerContainerWaitError { error, code })) => (code, error),
            Some(Err(e)) => return Err(exec_error(None, &e)),
            None => {
                return Err(ExecError::Unavailable(format!(
                    "waiting for container {name}: stream ended"
                )));
            }
        };
        // The engine's record of the exit (id, code, `State.Error`) is authoritative.
        let inspect = call(
            "inspecting container",
            None,
            CALL_TIMEOUT,
            self.docker.inspect_container(&name, None),
        )
        .await?;
        if let Some(state) = inspect.state {
            exit_code = state.exit_code.unwrap_or(exit_code);
            if let Some(e) = state.error.filter(|e| !e.is_empty()) {
                error = e;
            }
        }
        Ok(ExitStatus {
            container_id: inspect.id.unwrap_or_default(),
            exit_code,
            error,
        })
    }

    /// Stops `container` with `grace` (the engine answers 304 for a stopped one, which is fine).
    async fn stop(&self, container: &str, grace: Duration) -> Result<(), ExecError> {
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(seconds).build();
        let limit = grace + STOP_MARGIN;
        call(
            "stopping container",
            None,
            limit,
            self.docker.stop_container(container, Some(options)),
        )
        .await
    }

    async fn remove_container(&self, container: &str) -> Result<(), ExecError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        call(
            "removing container",
            None,
            CALL_TIMEOUT,
            self.docker.remove_container(container, Some(options)),
        )
        .await
    }
}

impl Executor for DockerExecutor {
    fn describe(&self) -> BoxFuture<'_, Result<NodeDescription, ExecError>> {
        Box::pin(async move {
            let info = call(
                "reading system info",
                None,
                CALL_TIMEOUT,
                self.docker.info(),
            )
            .await?;
            Ok(node_description(&info))
        })
    }

    fn prepare<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let prepared = self.prepare_task(task).await;
            // A task that failed to prepare never starts: its files must not wait for the
            // removal (which a killed daemon would never do).
            if prepared.is_err()
                && let Some(files) = &self.files
            {
                files.release(task.id.as_str()).await;
            }
            prepared
        })
    }

    fn start<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<Started, ExecError>> {
        Box::pin(async move {
            // The files may be gone (a daemon restart between prepare and start): put them
            // back; once the container runs, its mount namespace holds them and the host's
            // copy goes.
            if let Some(files) = &self.files {
                files.prepare(task).await?;
            }
            let started = self.start_task(task).await;
            if let Some(files) = &self.files {
                files.release(task.id.as_str()).await;
            }
            started
        })
    }

    fn wait<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<ExitStatus, ExecError>> {
        Box::pin(self.wait_task(task))
    }

    fn shutdown<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            self.stop(&task.container_name(), stop_grace_period(task))
                .await
        })
    }

    fn remove<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let removed = self.remove_container(&task.container_name()).await;
            if let Some(files) = &self.files {
                files.release(task.id.as_str()).await;
            }
            removed
        })
    }

    fn health<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<Health, ExecError>> {
        Box::pin(async move {
            let name = task.container_name();
            let inspect = call(
                "inspecting container",
                None,
                CALL_TIMEOUT,
                self.docker.inspect_container(&name, None),
            )
            .await?;
            Ok(health_of(
                inspect.state.and_then(|s| s.health).and_then(|h| h.status),
            ))
        })
    }

    fn remove_existing<'a>(
        &'a self,
        container: &'a ExistingContainer,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            if container.running {
                // The task is unknown; its grace period was recorded as the StopTimeout.
                let inspect = self.docker.inspect_container(&container.container_id, None);
                let grace = call("inspecting container", None, CALL_TIMEOUT, inspect)
                    .await
                    .ok()
                    .and_then(|i| i.config.and_then(|c| c.stop_timeout))
                    .and_then(|secs| u64::try_from(secs).ok())
                    .map_or(DEFAULT_STOP_GRACE_PERIOD, Duration::from_secs);
                match self.stop(&container.container_id, grace).await {
                    Err(e) if !e.is_not_found() => {
                        warn!(container.id = %container.container_id, error = %e, "stop before removal failed")
                    }
                    _ => {}
                }
            }
            let removed = self.remove_container(&container.container_id).await;
            if let Some(files) = &self.files {
                files.release(container.task_id.as_str()).await;
            }
            removed
        })
    }

    fn list<'a>(
        &'a self,
        node_id: &'a NodeId,
    ) -> BoxFuture<'a, Result<Vec<ExistingContainer>, ExecError>> {
        Box::pin(list_node(&self.docker, node_id))
    }

    fn logs(
        &self,
        task: &Task,
        options: LogOptions,
    ) -> BoxStream<'static, Result<LogLine, ExecError>> {
        let mut builder = LogsOptionsBuilder::default()
            .follow(options.follow)
            .stdout(options.stdout)
            .stderr(options.stderr)
            .timestamps(options.timestamps)
            .tail(&tail_param(options.tail));
        if let Some(since) = options.since {
            builder = builder.since(i32::try_from(since).unwrap_or(i32::MAX));
        }
        let timestamps = options.timestamps;
        self.docker
            .logs(&task.container_name(), Some(builder.build()))
            .filter_map(move |frame| async move {
                match frame {
                    Ok(output) => log_line(output, timestamps).map(Ok),
                    Err(e) => Some(Err(exec_error(None, &e))),
                }
            })
            .boxed()
    }
}

/// The agent's view of the engine's `State.Health.Status`; no health object means no
/// healthcheck (the image has none, or the spec's `["NONE"]` disabled it).
pub fn health_of(status: Option<HealthStatusEnum>) -> Health {
    match status {
        Some(HealthStatusEnum::STARTING) => Health::Starting,
        Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
        Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY) | None => Health::NoCheck,
    }
}

#[cfg(test)]
mod health_tests {
    use super::*;

    #[test]
    fn the_engines_health_states_map_to_the_agents() {
        assert_eq!(health_of(None), Health::NoCheck);
        assert_eq!(health_of(Some(HealthStatusEnum::NONE)), Health::NoCheck);
        assert_eq!(
            health_of(Some(HealthStatusEnum::STARTING)),
            Health::Starting
        );
        assert_eq!(health_of(Some(HealthStatusEnum::HEALTHY)), Health::Healthy);
        assert_eq!(
            health_of(Some(HealthStatusEnum::UNHEALTHY)),
            Health::Unhealthy
        );
    }
}
