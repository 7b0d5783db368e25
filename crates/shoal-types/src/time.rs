//! Timestamps in the Engine API's layout: RFC 3339 with nanoseconds, UTC.

use std::time::SystemTime;

/// Go's zero `time.Time`, which the Engine API shows for unset timestamps.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Formats `t` as `2026-11-25T12:00:00.123456789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Parses an RFC 3339 timestamp written by [`rfc3339`] (or any RFC 3339 UTC time).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}
