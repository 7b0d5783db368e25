//! Engine calls with their own deadlines.
//!
//! bollard's client-wide timeout bounds the response headers of every request, `stop`
//! included, which may legitimately take the whole stop grace period; so the client's is set
//! far above these and each call gets its own.

use crate::error::{exec_error, timed_out};
use bollard::errors::Error as BollardError;
use shoal_agent::ExecError;
use std::future::Future;
use std::time::Duration;

/// The client-wide timeout (seconds); real limits are per call, below.
pub(crate) const CLIENT_TIMEOUT_SECS: u64 = 24 * 60 * 60;
/// Ordinary calls (inspect, create, start, remove, list, info).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Pulling an image can be slow on a cold registry.
pub(crate) const PULL_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Time allowed for a stop beyond its grace period (the kill and the engine's bookkeeping).
pub(crate) const STOP_MARGIN: Duration = Duration::from_secs(30);

/// Runs `fut` with a deadline, mapping engine errors (with Docker's `context` prefix).
pub(crate) async fn call<T>(
    what: &str,
    context: Option<&str>,
    limit: Duration,
    fut: impl Future<Output = Result<T, BollardError>>,
) -> Result<T, ExecError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(|e| exec_error(context, &e)),
        Err(_) => Err(timed_out(what, limit)),
    }
}
