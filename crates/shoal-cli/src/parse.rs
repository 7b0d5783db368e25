//! Parsers for the value syntaxes the docker CLI accepts: Go durations, go-units memory
//! sizes, `--filter key=value` and `key=value` lists.

use std::collections::BTreeMap;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Parses a Go-style duration (`5s`, `1m30s`, `2160h`, `300ms`, `1.5h`, `0`) into
/// nanoseconds, as the Engine API carries durations.
pub fn duration_ns(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    if t.starts_with('-') {
        return Err(format!(
            "invalid duration \"{s}\": negative durations are not allowed"
        ));
    }
    let d = humantime::parse_duration(t.trim_start_matches('+'))
        .map_err(|e| format!("invalid duration \"{s}\": {e}"))?;
    i64::try_from(d.as_nanos()).map_err(|_| format!("invalid duration \"{s}\": out of range"))
}

/// Formats nanoseconds like Go's `time.Duration.String` (`5s`, `1m30s`, `2160h0m0s`,
/// `1.5ms`), which is how docker shows durations in `--pretty` output.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < NANOS_PER_SEC as u64 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(u, div));
        out.push_str(unit);
    } else {
        let hours = u / (3600 * NANOS_PER_SEC as u64);
        let rem = u % (3600 * NANOS_PER_SEC as u64);
        let mins = rem / (60 * NANOS_PER_SEC as u64);
        let secs_ns = rem % (60 * NANOS_PER_SEC as u64);
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        if hours > 0 || mins > 0 {
            out.push_str(&format!("{mins}m"));
        }
        out.push_str(&fraction(secs_ns, NANOS_PER_SEC as u64));
        out.push('s');
    }
    if neg { format!("-{out}") } else { out }
}

/// `value / div` with the remainder as a decimal fraction without trailing zeros.
fn fraction(value: u64, div: u64) -> String {
    let whole = value / div;
    let rem = value % div;
    if rem == 0 {
        return whole.to_string();
    }
    let digits = div.ilog10() as usize;
    let frac = format!("{rem:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// go-units `RAMInBytes`: `512M`, `1g`, `2GiB`, `1024`, `1.5k`; binary multiples,
/// case-insensitive suffixes `b`, `k|kb|kib`, `m…`, `g…`, `t…`, `p…`.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let sep = s
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(|| format!("invalid size: '{s}'"))?;
    let (num, sfx) = if s.as_bytes()[sep] != b' ' {
        (&s[..=sep], &s[sep + 1..])
    } else {
        (&s[..sep], &s[sep + 1..])
    };
    let size: f64 = num.parse().map_err(|_| format!("invalid size: '{s}'"))?;
    if size < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = || format!("invalid suffix: '{}'", sfx.to_lowercase());
    if sfx.len() > 3 {
        return Err(format!("invalid suffix: '{sfx}'"));
    }
    let lower = sfx.to_lowercase();
    let mut chars = lower.chars();
    let first = chars.next().ok_or_else(bad)?;
    if first == 'b' {
        return if lower.len() > 1 {
            Err(bad())
        } else {
            Ok(size as i64)
        };
    }
    let mul: i64 = match first {
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        't' => 1 << 40,
        'p' => 1 << 50,
        _ => return Err(bad()),
    };
    let rest = &lower[1..];
    if (lower.len() == 2 && rest != "b") || (lower.len() == 3 && rest != "ib") {
        return Err(bad());
    }
    Ok((size * mul as f64) as i64)
}

/// Parses a CPU count (`0.5`, `2`) into NanoCPUs, as docker's `NanoCPUs` option does.
pub fn nano_cpus(s: &str) -> Result<i64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("failed to parse {s} as a rational number"))?;
    let nano = (v * 1e9).round();
    if nano < 0.0 || nano > i64::MAX as f64 {
        return Err(format!("value is too precise or out of range: {s}"));
    }
    Ok(nano as i64)
}

/// Accumulates `-f/--filter key=value` flags into the Engine API's map form,
/// `{"key":{"value":true}}`, sorted like Go's JSON encoder sorts map keys.
pub fn filters(args: &[String]) -> Result<BTreeMap<String, BTreeMap<String, bool>>, String> {
    let mut out: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for arg in args {
        let (k, v) = arg
            .split_once('=')
            .ok_or_else(|| "bad format of filter (expected name=value)".to_string())?;
        out.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.trim().to_string(), true);
    }
    Ok(out)
}

/// The filters as the URL query value docker sends, or `None` when there are none.
pub fn filters_json(f: &BTreeMap<String, BTreeMap<String, bool>>) -> Option<String> {
    if f.is_empty() {
        None
    } else {
        serde_json::to_string(f).ok()
    }
}

/// Splits `key=value` (or a bare `key`, whose value is empty) into a pair.
pub fn key_value(s: &str) -> (String, String) {
    match s.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (s.to_string(), String::new()),
    }
}

/// Parses `KEY=VALUE` labels into a map (later values win).
pub fn labels(items: &[String]) -> BTreeMap<String, String> {
    items.iter().map(|s| key_value(s)).collect()
}

/// Splits a string into shell words (single and double quotes, backslash escapes).
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("EOF found when expecting closing quote".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => cur.push(c),
                            None => return Err("EOF found after escape character".to_string()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("EOF found when expecting closing quote".to_string()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err("EOF found after escape character".to_string()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// docker's `ValidateEnv`: `K=V` as is; a bare `K` takes its value from the environment
/// when set.
pub fn env_entry(v: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    match v.split_once('=') {
        Some(("", _)) => Err(format!("invalid environment variable: {v}")),
        Some(_) => Ok(v.to_string()),
        None if v.is_empty() => Err(format!("invalid environment variable: {v}")),
        None => Ok(lookup(v)
            .map(|val| format!("{v}={val}"))
            .unwrap_or_else(|| v.to_string())),
    }
}

/// docker's `ParseEnvFile`: `K=V` lines; `#` comments and blank lines skipped; a bare `K`
/// is taken from the environment, or dropped when unset.
pub fn env_file(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for line in content.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) => {
                let k = k.trim_start();
                if k.contains(char::is_whitespace) {
                    return Err(format!("variable '{k}' contains whitespaces"));
                }
                out.push(format!("{k}={v}"));
            }
            None => {
                if let Some(v) = lookup(line.trim_end()) {
                    out.push(format!("{}={v}", line.trim_end()));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_to_nanoseconds() {
        assert_eq!(duration_ns("5s"), Ok(5 * NANOS_PER_SEC));
        assert_eq!(duration_ns("1m30s"), Ok(90 * NANOS_PER_SEC));
        assert_eq!(duration_ns("2160h"), Ok(2160 * 3600 * NANOS_PER_SEC));
        assert_eq!(duration_ns("300ms"), Ok(300_000_000));
        assert_eq!(duration_ns("1.5h"), Ok(5400 * NANOS_PER_SEC));
        assert_eq!(duration_ns("0"), Ok(0));
        assert!(duration_ns("five").is_err());
        assert!(duration_ns("-1s").is_err());
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(5 * NANOS_PER_SEC), "5s");
        assert_eq!(go_duration(90 * NANOS_PER_SEC), "1m30s");
        assert_eq!(go_duration(2160 * 3600 * NANOS_PER_SEC), "2160h0m0s");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(250), "250ns");
    }

    #[test]
    fn memory_sizes_follow_go_units() {
        assert_eq!(ram_in_bytes("512M"), Ok(512 << 20));
        assert_eq!(ram_in_bytes("1g"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(ram_in_bytes("64mb"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("1024"), Ok(1024));
        assert_eq!(ram_in_bytes("10b"), Ok(10));
        assert_eq!(ram_in_bytes("1.5k"), Ok(1536));
        assert_eq!(ram_in_bytes("32 MiB"), Ok(32 << 20));
        assert_eq!(ram_in_bytes("1x"), Err("invalid suffix: 'x'".to_string()));
        assert!(ram_in_bytes("M").is_err());
        assert!(ram_in_bytes("1gigs").is_err());
    }

    #[test]
    fn cpus_become_nano_cpus() {
        assert_eq!(nano_cpus("0.5"), Ok(500_000_000));
        assert_eq!(nano_cpus("2"), Ok(2_000_000_000));
        assert!(nano_cpus("lots").is_err());
    }

    #[test]
    fn filters_use_the_map_form() {
        let f = filters(&["role=manager".into(), "name=a".into(), "name=b".into()]).expect("valid");
        assert_eq!(
            filters_json(&f).as_deref(),
            Some(r#"{"name":{"a":true,"b":true},"role":{"manager":true}}"#)
        );
        assert!(filters(&["nope".into()]).is_err());
        assert_eq!(filters_json(&BTreeMap::new()), None);
    }

    #[test]
    fn shell_words_split_like_shlex() {
        assert_eq!(
            shell_words(r#"sh -c "echo hi; sleep 1" 'a b'"#).expect("valid"),
            vec!["sh", "-c", "echo hi; sleep 1", "a b"]
        );
        assert!(shell_words("'open").is_err());
    }

    #[test]
    fn env_values_and_files() {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        assert_eq!(env_entry("A=1", &lookup).expect("valid"), "A=1");
        assert_eq!(env_entry("HOME", &lookup).expect("valid"), "HOME=/root");
        assert_eq!(env_entry("NOPE", &lookup).expect("valid"), "NOPE");
        assert!(env_entry("=x", &lookup).is_err());
        let f = env_file("# c\n\nA=1\nHOME\nNOPE\n  B=two words\n", &lookup).expect("valid");
        assert_eq!(f, vec!["A=1", "HOME=/root", "B=two words"]);
    }
}
