//! Conversions between `SystemTime` and the time types of rcgen / x509-parser.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

use crate::error::CertError;

/// `t` as an `OffsetDateTime` (whole seconds; X.509 times have no fractions).
pub(crate) fn to_offset(op: &'static str, t: SystemTime) -> Result<OffsetDateTime, CertError> {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()),
        Err(e) => i64::try_from(e.duration().as_secs()).map(|s| -s),
    }
    .map_err(|_| CertError::invalid(op, "time out of range"))?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| CertError::invalid(op, e))
}

/// Seconds since the Unix epoch as a `SystemTime`.
pub(crate) fn from_unix(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// `t + d`, or an error naming `op` on overflow.
pub(crate) fn add(op: &'static str, t: SystemTime, d: Duration) -> Result<SystemTime, CertError> {
    t.checked_add(d)
        .ok_or_else(|| CertError::invalid(op, "time out of range"))
}

/// `t - d`, or an error naming `op` on underflow.
pub(crate) fn sub(op: &'static str, t: SystemTime, d: Duration) -> Result<SystemTime, CertError> {
    t.checked_sub(d)
        .ok_or_else(|| CertError::invalid(op, "time out of range"))
}
