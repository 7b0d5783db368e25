//! The [`Backend`] the Engine API sees: this daemon's membership, control API, engine
//! reads and task logs.

use crate::daemon::{Daemon, Membership};
use futures::future::BoxFuture;
use shoal_api::backend::{LogRequest, LogStream};
use shoal_api::error::{LOCKED, MANAGER_STARTING, NOT_A_MANAGER, WORKER_NOT_MANAGER};
use shoal_api::{ApiError, Backend, LocalState};
use shoal_manager::control::Control;
use shoal_types::requests::{InitRequest, JoinRequest};
use std::sync::Arc;

pub(crate) fn axum_status(code: u16) -> shoal_api::error::StatusCode {
    shoal_api::error::StatusCode::from_u16(code)
        .unwrap_or(shoal_api::error::StatusCode::INTERNAL_SERVER_ERROR)
}

/// The [`Backend`] the API sees.
pub(crate) struct DaemonBackend(pub(crate) Arc<Daemon>, Arc<shoal_api::EngineProxy>);

impl DaemonBackend {
    /// The daemon's backend, passing what shoal does not serve to its `--engine` socket.
    pub(crate) fn new(daemon: Arc<Daemon>) -> Self {
        let engine = Arc::new(shoal_api::EngineProxy::new(daemon.config.engine.clone()));
        Self(daemon, engine)
    }
}

impl Backend for DaemonBackend {
    fn local_state(&self) -> LocalState {
        self.0.local_state()
    }

    fn control(&self) -> Result<Arc<Control>, ApiError> {
        match &*self.0.membership.read() {
            Membership::Inactive => Err(ApiError::unavailable(NOT_A_MANAGER)),
            Membership::Locked { .. } => Err(ApiError::unavailable(LOCKED)),
            Membership::Worker { .. } => Err(ApiError::unavailable(WORKER_NOT_MANAGER)),
            Membership::Manager { runtime, .. } => {
                // Reads are served from the local store even without a leader; writes then
                // fail at once with "The swarm does not have a leader".
                if runtime.store.view(|t| t.cluster().is_none()) {
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

    fn join(&self, req: JoinRequest) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(self.0.join(req))
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

    fn engine(&self) -> Option<Arc<shoal_api::EngineProxy>> {
        Some(self.1.clone())
    }

    fn attaches(&self) -> bool {
        self.0.attaches()
    }

    fn attachments(
        &self,
        op: shoal_types::dispatch::AttachmentOp,
    ) -> BoxFuture<'_, Result<Vec<shoal_types::Task>, ApiError>> {
        Box::pin(self.0.attachment_op(op))
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
