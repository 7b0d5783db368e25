//! Errors of this crate, and the mapping of engine errors onto the agent's [`ExecError`].

use bollard::errors::Error as BollardError;
use shoal_agent::ExecError;

/// Connecting to the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("connecting to the container engine at {socket}: {source}")]
    Connect {
        socket: String,
        #[source]
        source: BollardError,
    },
    #[error("negotiating the API version with the container engine at {socket}: {source}")]
    Negotiate {
        socket: String,
        #[source]
        source: BollardError,
    },
    #[error("reading system info from the container engine at {socket}: {source}")]
    Info {
        socket: String,
        #[source]
        source: BollardError,
    },
    #[error("building the test image {image}: {reason}")]
    TestImage { image: String, reason: String },
}

/// The HTTP status of an engine error response, if it is one.
pub fn status_of(err: &BollardError) -> Option<u16> {
    match err {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The engine's own message, which Docker shows users as is.
pub fn engine_message(err: &BollardError) -> String {
    match err {
        BollardError::DockerResponseServerError { message, .. } => message.clone(),
        BollardError::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// Maps an engine error: 404 → `NotFound`, 400 → `Rejected` (the spec is unacceptable),
/// transport failures and timeouts → `Unavailable` (retried), the rest → `Engine`.
/// `context` prefixes the message where Docker does (e.g. `starting container failed`).
pub fn exec_error(context: Option<&str>, err: &BollardError) -> ExecError {
    let message = match context {
        Some(c) => format!("{c}: {}", engine_message(err)),
        None => engine_message(err),
    };
    match err {
        BollardError::DockerResponseServerError {
            status_code: 404, ..
        } => ExecError::NotFound(message),
        BollardError::DockerResponseServerError {
            status_code: 400, ..
        } => ExecError::Rejected(message),
        BollardError::DockerResponseServerError {
            status_code: 503, ..
        }
        | BollardError::RequestTimeoutError
        | BollardError::SocketNotFoundError(_)
        | BollardError::IOError { .. }
        | BollardError::HyperResponseError { .. }
        | BollardError::HyperLegacyError { .. } => ExecError::Unavailable(message),
        _ => ExecError::Engine(message),
    }
}

/// The error for an engine call that took longer than `limit`.
pub fn timed_out(what: &str, limit: std::time::Duration) -> ExecError {
    ExecError::Unavailable(format!(
        "{what}: no answer from the container engine within {limit:?}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: message.into(),
        }
    }

    #[test]
    fn engine_messages_are_kept_verbatim() {
        let e = exec_error(None, &server(404, "No such image: x:1"));
        assert_eq!(e, ExecError::NotFound("No such image: x:1".into()));
        assert_eq!(e.to_string(), "No such image: x:1");
    }

    #[test]
    fn bad_specs_reject_and_transport_failures_are_temporary() {
        assert!(exec_error(None, &server(400, "invalid mount config")).is_rejection());
        assert!(exec_error(None, &BollardError::RequestTimeoutError).is_temporary());
        let e = exec_error(
            Some("starting container failed"),
            &server(500, "OCI runtime create failed"),
        );
        assert_eq!(
            e,
            ExecError::Engine("starting container failed: OCI runtime create failed".into())
        );
    }
}
