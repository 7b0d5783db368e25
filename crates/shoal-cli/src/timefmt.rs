//! RFC 3339 timestamps from the API, and the Go layouts docker prints them in.

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time as whole seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            secs: d.as_secs() as i64,
            nanos: d.subsec_nanos(),
        }
    }

    /// Nanoseconds from `self` to `later` (negative if `later` is earlier).
    pub fn nanos_until(&self, later: &Timestamp) -> i64 {
        (later.secs - self.secs).saturating_mul(1_000_000_000)
            + (later.nanos as i64 - self.nanos as i64)
    }

    /// Parses `2026-11-25T12:00:00.123456789Z` or with a `±hh:mm` offset. Go's zero time
    /// (`0001-01-01T00:00:00Z`) parses too; callers check [`Timestamp::is_zero`].
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut i = 19;
        let mut nanos: u32 = 0;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            let digits = s.get(start..end)?;
            let mut frac: String = digits.chars().take(9).collect();
            while frac.len() < 9 {
                frac.push('0');
            }
            nanos = frac.parse().ok()?;
            i = end;
        }
        let offset = match b.get(i)? {
            b'Z' | b'z' => 0,
            b'+' | b'-' => {
                let sign = if b[i] == b'-' { -1 } else { 1 };
                let oh = num(i + 1..i + 3)?;
                let om = num(i + 4..i + 6)?;
                sign * (oh * 3600 + om * 60)
            }
            _ => return None,
        };
        let days = days_from_civil(y, mo, d);
        Some(Timestamp {
            secs: days * 86400 + h * 3600 + mi * 60 + sec - offset,
            nanos,
        })
    }

    /// Go's zero `time.Time` (year 1), which the API uses for "never".
    pub fn is_zero(&self) -> bool {
        self.secs <= -62_135_596_800
    }

    /// Go's `time.Time.String()` for a UTC time, after docker's `PrettyPrint` lower-cased
    /// the zone: `2009-11-10 23:00:00 +0000 utc`, with trailing fraction zeros dropped.
    pub fn go_string_utc(&self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        let mut out = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
        if self.nanos > 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        out.push_str(" +0000 utc");
        out
    }

    /// docker's `RFC3339NanoFixed` in UTC: `2006-01-02T15:04:05.000000000Z`.
    pub fn rfc3339_nano_fixed(&self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        format!(
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:09}Z",
            self.nanos
        )
    }

    /// Go's `time.ANSIC` layout (`Mon Jan  2 15:04:05 2006`), used for build times.
    pub fn ansic(&self) -> String {
        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (y, mo, d, h, mi, s) = self.civil();
        let weekday = DAYS[self.secs.div_euclid(86400).rem_euclid(7) as usize];
        let month = MONTHS[(mo - 1).clamp(0, 11) as usize];
        format!("{weekday} {month} {d:>2} {h:02}:{mi:02}:{s:02} {y}")
    }

    fn civil(&self) -> (i64, i64, i64, i64, i64, i64) {
        let days = self.secs.div_euclid(86400);
        let rem = self.secs.rem_euclid(86400);
        let (y, mo, d) = civil_from_days(days);
        (y, mo, d, rem / 3600, rem % 3600 / 60, rem % 60)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// "5 minutes ago"-style age of an RFC 3339 timestamp, as docker prints task states.
pub fn ago(ts: &str, now: &Timestamp) -> String {
    match Timestamp::parse(ts) {
        Some(t) if !t.is_zero() => format!(
            "{} ago",
            crate::format::human_duration(t.nanos_until(now).max(0))
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_go_layouts() {
        let t = Timestamp::parse("2009-11-10T23:00:00Z").expect("valid");
        assert_eq!(t.secs, 1_257_894_000);
        assert_eq!(t.go_string_utc(), "2009-11-10 23:00:00 +0000 utc");
        assert_eq!(t.ansic(), "Tue Nov 10 23:00:00 2009");
        let t = Timestamp::parse("2026-11-25T12:00:00.123450000Z").expect("valid");
        assert_eq!(t.nanos, 123_450_000);
        assert_eq!(t.go_string_utc(), "2026-11-25 12:00:00.12345 +0000 utc");
    }

    #[test]
    fn offsets_are_applied() {
        let a = Timestamp::parse("2024-03-01T10:00:00+02:00").expect("valid");
        let b = Timestamp::parse("2024-03-01T08:00:00Z").expect("valid");
        assert_eq!(a, b);
    }

    #[test]
    fn go_zero_time_is_zero() {
        assert!(
            Timestamp::parse("0001-01-01T00:00:00Z")
                .expect("valid")
                .is_zero()
        );
        assert!(Timestamp::parse("garbage").is_none());
    }

    #[test]
    fn ages_use_human_duration() {
        let now = Timestamp::parse("2024-01-01T00:05:00Z").expect("valid");
        assert_eq!(ago("2024-01-01T00:00:00Z", &now), "5 minutes ago");
        assert_eq!(ago("", &now), "");
    }
}
