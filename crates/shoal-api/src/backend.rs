//! What the API needs from the node it runs on.

use crate::error::ApiError;
use futures::future::BoxFuture;
use shoal_manager::control::Control;
use shoal_types::Task;
use shoal_types::dispatch::AttachmentOp;
use shoal_types::requests::{InitRequest, JoinRequest};
use std::sync::Arc;

/// This node's swarm membership, as `/_ping`'s `Swarm` header and `/info` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalState {
    Inactive,
    Pending,
    Active { manager: bool },
    Locked,
    Error(String),
}

impl LocalState {
    /// The `Swarm` header value: `inactive`, `active/manager`, …
    pub fn header(&self) -> &'static str {
        match self {
            LocalState::Inactive => "inactive",
            LocalState::Pending => "pending",
            LocalState::Active { manager: true } => "active/manager",
            LocalState::Active { manager: false } => "active/worker",
            LocalState::Locked => "locked",
            LocalState::Error(_) => "error",
        }
    }

    /// `Info.Swarm.LocalNodeState`.
    pub fn name(&self) -> &'static str {
        match self {
            LocalState::Inactive => "inactive",
            LocalState::Pending => "pending",
            LocalState::Active { .. } => "active",
            LocalState::Locked => "locked",
            LocalState::Error(_) => "error",
        }
    }
}

/// Options of a log request (`/services/{id}/logs`, `/tasks/{id}/logs`).
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    pub details: bool,
    /// `None` = all.
    pub tail: Option<u64>,
    /// Unix seconds.
    pub since: Option<f64>,
}

/// One log line of a task, ready to frame.
#[derive(Debug, Clone)]
pub struct TaskLogLine {
    pub stderr: bool,
    /// RFC 3339 nanos timestamp, if the engine gave one.
    pub timestamp: Option<String>,
    pub line: Vec<u8>,
}

/// A stream of log lines, or an error to report in-band.
pub type LogStream = futures::stream::BoxStream<'static, Result<TaskLogLine, String>>;

/// Node-level operations behind the API.
pub trait Backend: Send + Sync + 'static {
    fn local_state(&self) -> LocalState;
    /// The manager's control API, or the 503 Docker answers on this node.
    fn control(&self) -> Result<Arc<Control>, ApiError>;
    /// The whole `GET /info` body.
    fn info(&self) -> BoxFuture<'_, serde_json::Value>;
    /// The whole `GET /version` body.
    fn version(&self) -> BoxFuture<'_, serde_json::Value>;
    fn init(&self, req: InitRequest) -> BoxFuture<'_, Result<String, ApiError>>;
    fn join(&self, req: JoinRequest) -> BoxFuture<'_, Result<(), ApiError>>;
    fn leave(&self, force: bool) -> BoxFuture<'_, Result<(), ApiError>>;
    fn unlock(&self, key: String) -> BoxFuture<'_, Result<(), ApiError>>;
    /// `GET /distribution/{name}/json` from the local image store (there is no registry).
    fn distribution(&self, name: String) -> BoxFuture<'_, Result<serde_json::Value, ApiError>>;
    /// Logs of one task's container.
    fn task_logs(
        &self,
        task: shoal_types::Task,
        req: LogRequest,
    ) -> BoxFuture<'_, Result<LogStream, ApiError>>;
    /// The node's engine socket, for routes shoal does not serve itself; `None` answers them
    /// with a 404.
    fn engine(&self) -> Option<Arc<crate::passthrough::EngineProxy>> {
        None
    }
    /// Whether containers created through this socket may join attachable swarm networks:
    /// the node is in a swarm and builds overlay networks. When false, container and network
    /// requests pass through to the engine untouched.
    fn attaches(&self) -> bool {
        false
    }
    /// One operation on this node's network attachments
    /// ([`shoal_manager::control::attachments`]): served by the control API on a manager, by
    /// a manager on a worker. Refusals carry Docker's status and message.
    fn attachments(&self, _op: AttachmentOp) -> BoxFuture<'_, Result<Vec<Task>, ApiError>> {
        Box::pin(async {
            Err(ApiError::unavailable(
                "this node does not take network attachments",
            ))
        })
    }
}
