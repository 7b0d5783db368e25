//! The [`Executor`] trait: everything the agent needs from a container engine.
//!
//! The agent never talks to an engine itself; `shoal-docker` implements this trait on the
//! Docker Engine API and tests use in-memory doubles. Every operation is keyed by the task, so
//! an implementation can find the task's container by its deterministic name
//! ([`Task::container_name`]) and stay stateless, which is what makes restarts safe.

use crate::error::ExecError;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use shoal_types::api::NodeDescription;
use shoal_types::{NodeId, Task, TaskId};

/// The container of a task has started.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Started {
    pub container_id: String,
    /// Host PID of the container's main process (0 when unknown).
    pub pid: i64,
}

/// The engine's health state of a task's container (`State.Health.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// The container has no healthcheck (none in the image, or `["NONE"]` in the spec).
    #[default]
    NoCheck,
    /// Not asked yet: a container just started or adopted.
    Unknown,
    /// The healthcheck has not passed yet.
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    /// Whether the task may be reported RUNNING: SwarmKit's container adapter waits for a
    /// container with a healthcheck to be healthy first.
    pub fn allows_running(self) -> bool {
        matches!(self, Health::NoCheck | Health::Healthy)
    }
}

/// How a task's container ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExitStatus {
    pub container_id: String,
    pub exit_code: i64,
    /// The engine's error text for the exit (`State.Error`), empty when none.
    pub error: String,
}

/// A container found on the engine, labelled with this node's id, as [`Executor::list`]
/// returns it at agent start-up for adoption.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExistingContainer {
    pub task_id: TaskId,
    pub container_id: String,
    pub running: bool,
    /// `Some` once the container has exited; `None` while running or when it was created
    /// but never started.
    pub exit_code: Option<i64>,
}

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One chunk of container output (a line for non-TTY containers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: LogStream,
    /// RFC 3339 timestamp written by the engine, when [`LogOptions::timestamps`] was asked.
    pub timestamp: Option<String>,
    /// The bytes as the container wrote them, trailing newline included.
    pub line: Bytes,
}

/// What part of a task's logs to read, as the Engine API's log endpoints take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep the stream open and send new output as it is written.
    pub follow: bool,
    /// Only the last `n` lines; `None` for all.
    pub tail: Option<u64>,
    pub timestamps: bool,
    /// Only output since this Unix time (seconds).
    pub since: Option<i64>,
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            follow: false,
            tail: None,
            timestamps: false,
            since: None,
            stdout: true,
            stderr: true,
        }
    }
}

/// Runs task containers on one engine. Object-safe: the agent holds an `Arc<dyn Executor>`.
///
/// Contract: every method may be called again after a restart of the agent for a container
/// created by an earlier process, and must be idempotent where noted. Errors carry the
/// engine's message (see [`ExecError`]).
pub trait Executor: Send + Sync + 'static {
    /// The node as this engine sees it: hostname, platform, CPUs, memory, engine version and
    /// labels.
    fn describe(&self) -> BoxFuture<'_, Result<NodeDescription, ExecError>>;

    /// Makes the image present (pulling only if missing) and creates the task's container.
    /// Idempotent: if the container already exists (name conflict), it is adopted.
    fn prepare<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), ExecError>>;

    /// Starts the created container. Starting a running container is not an error.
    fn start<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<Started, ExecError>>;

    /// Resolves when the container has exited. Dropping the future stops waiting only.
    fn wait<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<ExitStatus, ExecError>>;

    /// Stops the container with the task's stop signal, killing it after its stop grace
    /// period. Stopping a stopped container is not an error.
    fn shutdown<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), ExecError>>;

    /// The container's health state. Engines without healthchecks keep the default, which
    /// reports [`Health::NoCheck`].
    fn health<'a>(&'a self, _task: &'a Task) -> BoxFuture<'a, Result<Health, ExecError>> {
        Box::pin(async { Ok(Health::NoCheck) })
    }

    /// Removes the container and its anonymous volumes (forcibly).
    fn remove<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), ExecError>>;

    /// Stops (default grace period) and removes a container found by [`Executor::list`]
    /// whose task is no longer assigned to this node; only its ids are known.
    fn remove_existing<'a>(
        &'a self,
        container: &'a ExistingContainer,
    ) -> BoxFuture<'a, Result<(), ExecError>>;

    /// Every container labelled with `node_id`, running or not.
    fn list<'a>(
        &'a self,
        node_id: &'a NodeId,
    ) -> BoxFuture<'a, Result<Vec<ExistingContainer>, ExecError>>;

    /// The task container's output, for the API's log endpoints. Ends when the output ends
    /// (or, with `follow`, when the container stops).
    fn logs(
        &self,
        task: &Task,
        options: LogOptions,
    ) -> BoxStream<'static, Result<LogLine, ExecError>>;
}
