//! Errors of the control API, in Docker's words; the API crate maps them to statuses.

use shoal_store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 404: `service web not found`.
    #[error("{0}")]
    NotFound(String),
    /// 400: a bad spec or argument.
    #[error("{0}")]
    Invalid(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 403: not allowed (a container joining a network that is not attachable).
    #[error("{0}")]
    Forbidden(String),
    /// 503.
    #[error("{0}")]
    Unavailable(String),
    /// 501: a change Swarm does not support (e.g. the service mode).
    #[error("{0}")]
    Unimplemented(String),
    #[error("{0}")]
    Internal(String),
}

impl From<shoal_types::ValidationError> for ControlError {
    fn from(e: shoal_types::ValidationError) -> Self {
        ControlError::Invalid(e.0)
    }
}
