//! Errors of the executor and of the dispatcher session.
//!
//! The text of an [`ExecError`] becomes the task's `Status.Err`, which `docker service ps`
//! shows verbatim, so executors carry the engine's own message rather than wrapping it.

/// Why an executor operation on a task's container failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The image is not present and could not be pulled; the engine's message
    /// (`No such image: foo:latest`, or the pull error). The task is REJECTED.
    #[error("{0}")]
    ImageNotFound(String),
    /// The engine refused the task's container (invalid mount, bad option, …); the engine's
    /// message. The task is REJECTED.
    #[error("{0}")]
    Rejected(String),
    /// The task's container does not exist (removed behind the agent's back).
    #[error("{0}")]
    NotFound(String),
    /// The engine could not be reached or did not answer in time. The agent retries the
    /// operation with backoff instead of failing the task.
    #[error("container engine unavailable: {0}")]
    Unavailable(String),
    /// Any other engine failure; the engine's message. Before the container starts this
    /// rejects the task (as SwarmKit does), afterwards it fails it.
    #[error("{0}")]
    Engine(String),
}

impl ExecError {
    /// The task cannot run on this node as specified: REJECTED whatever the state.
    pub fn is_rejection(&self) -> bool {
        matches!(self, ExecError::ImageNotFound(_) | ExecError::Rejected(_))
    }

    /// Worth retrying: the engine may answer later.
    pub fn is_temporary(&self) -> bool {
        matches!(self, ExecError::Unavailable(_))
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ExecError::NotFound(_))
    }
}

/// Why a call to the dispatcher failed. Every variant makes the agent drop the session and
/// open a new one (with backoff); status updates are kept and resent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The dispatcher could not be reached (no leader, connection refused, timeout).
    #[error("dispatcher unavailable: {0}")]
    Unavailable(String),
    /// The session id is not (or no longer) the dispatcher's current one.
    #[error("session {0} is not valid on this dispatcher")]
    InvalidSession(String),
    /// The dispatcher refused the node (unknown or removed node, wrong role, …).
    #[error("dispatcher refused node {node}: {reason}")]
    Refused { node: String, reason: String },
}
