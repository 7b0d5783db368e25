//! Errors of the cluster channel.
//!
//! [`ClusterError`] is what a [`ClusterHandler`](crate::ClusterHandler) (and the server's
//! authorisation) answers; it maps to an HTTP status and an [`ErrorBody`] here and only here,
//! and the client rebuilds it from that body. [`ClientError`] is what a caller of
//! [`ClusterClient`](crate::ClusterClient) sees.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::wire::ErrorBody;

/// A refusal or failure answered by the server side of the cluster channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The peer presented no certificate, or one that does not identify a node.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The peer is known but may not do this (worker on a manager endpoint, removed node,
    /// another cluster, another node's session).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// This manager is not the leader; `leader_addr` is where to go, if known.
    #[error("this node is not the swarm leader{}", leader_hint(.leader_addr))]
    NotLeader { leader_addr: Option<String> },
    /// The request is malformed or refers to something invalid (bad token, stale session).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The request body is larger than its endpoint accepts.
    #[error("payload too large: {0}")]
    TooLarge(String),
    /// Temporarily unable to answer (no quorum, shutting down); retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure on the server.
    #[error("internal error: {0}")]
    Internal(String),
}

fn leader_hint(addr: &Option<String>) -> String {
    addr.as_deref()
        .map(|a| format!(" (leader at {a})"))
        .unwrap_or_default()
}

impl ClusterError {
    /// The HTTP status of this error: the single place the mapping lives.
    pub fn status(&self) -> StatusCode {
        match self {
            ClusterError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ClusterError::Forbidden(_) => StatusCode::FORBIDDEN,
            // 421 Misdirected Request: "ask the leader instead"; 503 when nobody leads.
            ClusterError::NotLeader {
                leader_addr: Some(_),
            } => StatusCode::MISDIRECTED_REQUEST,
            ClusterError::NotLeader { leader_addr: None } => StatusCode::SERVICE_UNAVAILABLE,
            ClusterError::Invalid(_) => StatusCode::BAD_REQUEST,
            ClusterError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ClusterError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ClusterError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ClusterError::Unauthorized(_) => "unauthorized",
            ClusterError::Forbidden(_) => "forbidden",
            ClusterError::NotLeader { .. } => "not_leader",
            ClusterError::Invalid(_) => "invalid",
            ClusterError::TooLarge(_) => "too_large",
            ClusterError::Unavailable(_) => "unavailable",
            ClusterError::Internal(_) => "internal",
        }
    }

    /// The wire form of this error.
    pub fn to_body(&self) -> ErrorBody {
        let (message, leader_addr) = match self {
            ClusterError::Unauthorized(m)
            | ClusterError::Forbidden(m)
            | ClusterError::Invalid(m)
            | ClusterError::TooLarge(m)
            | ClusterError::Unavailable(m)
            | ClusterError::Internal(m) => (m.clone(), None),
            ClusterError::NotLeader { leader_addr } => (self.to_string(), leader_addr.clone()),
        };
        ErrorBody {
            kind: self.kind().to_owned(),
            message,
            leader_addr,
        }
    }

    /// Rebuilds the error a server answered with `status` and `body` (`None` when the body
    /// was not an [`ErrorBody`], e.g. a 404 from the router or a proxy's page).
    pub fn from_response(status: StatusCode, body: Option<ErrorBody>) -> Self {
        let Some(body) = body else {
            let msg = format!("HTTP {status}");
            return match status {
                StatusCode::UNAUTHORIZED => ClusterError::Unauthorized(msg),
                StatusCode::FORBIDDEN => ClusterError::Forbidden(msg),
                StatusCode::SERVICE_UNAVAILABLE => ClusterError::Unavailable(msg),
                StatusCode::PAYLOAD_TOO_LARGE => ClusterError::TooLarge(msg),
                s if s.is_client_error() => ClusterError::Invalid(msg),
                _ => ClusterError::Internal(msg),
            };
        };
        let m = body.message;
        match body.kind.as_str() {
            "unauthorized" => ClusterError::Unauthorized(m),
            "forbidden" => ClusterError::Forbidden(m),
            "not_leader" => ClusterError::NotLeader {
                leader_addr: body.leader_addr,
            },
            "invalid" => ClusterError::Invalid(m),
            "too_large" => ClusterError::TooLarge(m),
            "unavailable" => ClusterError::Unavailable(m),
            _ => ClusterError::Internal(m),
        }
    }
}

impl IntoResponse for ClusterError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.to_body())).into_response()
    }
}

/// Why a call through [`ClusterClient`](crate::ClusterClient) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made: TCP refused, TLS handshake refused (wrong root, wrong
    /// pinned digest), or the HTTP/2 handshake failed.
    #[error("connect to {addr} for {op}: {reason}")]
    Connect {
        op: &'static str,
        addr: String,
        reason: String,
    },
    /// No complete answer within the call's deadline (connecting included).
    #[error("{op} to {addr} timed out after {timeout_ms} ms")]
    Timeout {
        op: &'static str,
        addr: String,
        timeout_ms: u128,
    },
    /// The connection failed while the request was in flight.
    #[error("{op} to {addr} failed in flight: {reason}")]
    Request {
        op: &'static str,
        addr: String,
        reason: String,
    },
    /// The server answered with an error.
    #[error("{op} refused by {addr}: {error}")]
    Refused {
        op: &'static str,
        addr: String,
        error: ClusterError,
    },
    /// The answer could not be decoded (or the request encoded).
    #[error("{op} with {addr}: bad message: {reason}")]
    Decode {
        op: &'static str,
        addr: String,
        reason: String,
    },
}

impl ClientError {
    /// The server's refusal, if the server answered with one.
    pub fn refusal(&self) -> Option<&ClusterError> {
        match self {
            ClientError::Refused { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The peer could not be reached or did not answer: worth trying another manager.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. } | ClientError::Timeout { .. } | ClientError::Request { .. }
        )
    }
}

/// Why [`ClusterServer::serve`](crate::ClusterServer::serve) stopped other than by cancellation.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("accept a cluster connection on {addr}: {source}")]
    Accept {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_survives_the_wire() {
        let all = [
            ClusterError::Unauthorized("a".into()),
            ClusterError::Forbidden("b".into()),
            ClusterError::NotLeader {
                leader_addr: Some("10.0.0.1:2377".into()),
            },
            ClusterError::NotLeader { leader_addr: None },
            ClusterError::Invalid("c".into()),
            ClusterError::TooLarge("f".into()),
            ClusterError::Unavailable("d".into()),
            ClusterError::Internal("e".into()),
        ];
        for e in all {
            let back = ClusterError::from_response(e.status(), Some(e.to_body()));
            assert_eq!(back, e);
        }
    }

    #[test]
    fn not_leader_status_says_whether_a_leader_is_known() {
        let known = ClusterError::NotLeader {
            leader_addr: Some("x:2377".into()),
        };
        assert_eq!(known.status(), StatusCode::MISDIRECTED_REQUEST);
        assert!(known.to_string().contains("x:2377"));
        let unknown = ClusterError::NotLeader { leader_addr: None };
        assert_eq!(unknown.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
