//! The one mapping from errors to HTTP responses.

pub use axum::http::StatusCode;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use shoal_manager::control::ControlError;
use shoal_store::StoreError;

/// 503 text when this node is in no swarm.
pub const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
/// 503 text on a worker.
pub const WORKER_NOT_MANAGER: &str = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
/// 503 text while the manager starts.
pub const MANAGER_STARTING: &str = "This node is not a swarm manager. Manager is being prepared or has trouble connecting to the cluster.";
/// 503 text when locked.
pub const LOCKED: &str = "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"docker swarm unlock\" to unlock it.";
/// 503 text for init/join when already in a swarm.
pub const ALREADY_IN_SWARM: &str = "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.";
/// 503 text for leave when not in a swarm.
pub const NOT_IN_SWARM: &str = "This node is not part of a swarm";

/// An error answered as `{"message": …}` with a status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::NameConflict { .. } | StoreError::IdConflict { .. } => StatusCode::CONFLICT,
            // moby answers 500 (gRPC Unknown) for a stale version; no client depends on it.
            StoreError::OutOfSequence { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            StoreError::NoLeader | StoreError::Shutdown | StoreError::NoSpace { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            StoreError::TooLarge { .. } => StatusCode::BAD_REQUEST,
            StoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &e {
            StoreError::NameConflict { .. } => {
                format!("rpc error: code = AlreadyExists desc = {e}")
            }
            StoreError::OutOfSequence { .. } => format!("rpc error: code = Unknown desc = {e}"),
            _ => e.to_string(),
        };
        Self::new(status, message)
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Store(s) => s.into(),
            ControlError::NotFound(m) => Self::not_found(m),
            ControlError::Invalid(m) => Self::bad_request(m),
            ControlError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            ControlError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, m),
            ControlError::Unavailable(m) => Self::unavailable(m),
            ControlError::Unimplemented(m) => Self::new(StatusCode::NOT_IMPLEMENTED, m),
            ControlError::Internal(m) => Self::internal(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.message }).to_string();
        let mut resp = (self.status, body).into_response();
        // The docker CLI compares the header with `==`: no charset.
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}
