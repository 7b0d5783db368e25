//! Go-compatible parsers for the scalar formats compose borrows from Docker:
//! durations (`time.ParseDuration`, printed as `Duration.String`), byte sizes
//! (go-units `RAMInBytes`: binary multiples), CPU counts (`opts.ParseCPUs`: exact
//! decimals to nano-CPUs) and shell words (`command: echo "a b"`).

const NANOS_PER_SECOND: u128 = 1_000_000_000;
/// At most nine decimals make whole nano-CPUs; docker refuses more ("too precise").
const NANO_DIGITS: usize = 9;

/// Parses a Go duration (`1h2m3.5s`, `300ms`, `-1s`, `0`) into nanoseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid duration {text:?}");
    let (neg, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
        let (number, after) = rest.split_at(num_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_end);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SECOND,
            "m" => 60 * NANOS_PER_SECOND,
            "h" => 3600 * NANOS_PER_SECOND,
            _ => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let mut part = int.checked_mul(scale).ok_or_else(bad)?;
        let mut div: u128 = 1;
        for d in frac.chars().take(18) {
            div *= 10;
            let digit = u128::from(d.to_digit(10).ok_or_else(bad)?);
            part += digit * scale / div;
        }
        total = total.checked_add(part).ok_or_else(bad)?;
        rest = tail;
    }
    let total = i64::try_from(total).map_err(|_| bad())?;
    Ok(if neg { -total } else { total })
}

fn with_fraction(value: u64, unit: u64, width: usize) -> String {
    let (int, frac) = (value / unit, value % unit);
    if frac == 0 {
        return int.to_string();
    }
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// Prints nanoseconds the way Go's `time.Duration.String` does (`1m30s`, `500ms`, `0s`).
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let u = ns.unsigned_abs();
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", with_fraction(u, 1_000, 3))
    } else if u < 1_000_000_000 {
        format!("{}ms", with_fraction(u, 1_000_000, 6))
    } else {
        let (hour, minute) = (3_600_000_000_000u64, 60_000_000_000u64);
        let (h, m, s) = (u / hour, u % hour / minute, u % minute);
        let secs = format!("{}s", with_fraction(s, 1_000_000_000, 9));
        match (h, m) {
            (0, 0) => secs,
            (0, m) => format!("{m}m{secs}"),
            (h, m) => format!("{h}h{m}m{secs}"),
        }
    };
    if ns < 0 { format!("-{body}") } else { body }
}

/// Parses a memory size as go-units `RAMInBytes` does: `512M`, `1g`, `1.5GiB`, `100`
/// (bytes); multiples are powers of 1024.
pub fn parse_ram_bytes(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid size {text:?}");
    let t = text.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(num_end);
    if number.is_empty() {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let mut suffix = suffix
        .strip_prefix(' ')
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    if suffix.ends_with('b') {
        suffix.pop();
    }
    if suffix.len() == 2 && suffix.ends_with('i') {
        suffix.pop();
    }
    let power = match suffix.as_str() {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return Err(bad()),
    };
    Ok((value * 1024f64.powi(power)) as i64)
}

/// Parses a CPU count (`0.5`, `2`) into nano-CPUs, exactly, as docker's `ParseCPUs`.
pub fn parse_nano_cpus(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid CPU value {text:?}");
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let significant = frac.trim_end_matches('0');
    if significant.len() > NANO_DIGITS {
        return Err(format!("CPU value {text:?} is too precise"));
    }
    let int: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_nanos: i64 = if significant.is_empty() {
        0
    } else {
        format!("{significant:0<NANO_DIGITS$}")
            .parse()
            .map_err(|_| bad())?
    };
    int.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(frac_nanos))
        .ok_or_else(bad)
}

/// Splits a command string into words like a POSIX shell (quotes and backslashes, no
/// expansion), as docker/cli does for `command: "…"` and `entrypoint: "…"`.
pub fn split_shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(format!("unterminated single quote in {text:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err(format!("unterminated double quote in {text:?}")),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err(format!("unterminated double quote in {text:?}")),
                    }
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_and_print() {
        assert_eq!(parse_duration("10s"), Ok(10_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("5 s").is_err());
        assert_eq!(format_duration(90_000_000_000), "1m30s");
        assert_eq!(format_duration(10_000_000_000), "10s");
        assert_eq!(format_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(300_000_000), "300ms");
        assert_eq!(format_duration(0), "0s");
    }

    #[test]
    fn sizes_are_binary_multiples() {
        assert_eq!(parse_ram_bytes("512M"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_ram_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_ram_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_ram_bytes("1.5k"), Ok(1536));
        assert_eq!(parse_ram_bytes("100"), Ok(100));
        assert!(parse_ram_bytes("12x").is_err());
    }

    #[test]
    fn cpus_are_exact_nano_cpus() {
        assert_eq!(parse_nano_cpus("0.5"), Ok(500_000_000));
        assert_eq!(parse_nano_cpus("2"), Ok(2_000_000_000));
        assert_eq!(parse_nano_cpus("0.001"), Ok(1_000_000));
        assert!(parse_nano_cpus("0.0000000001").is_err());
        assert!(parse_nano_cpus("-1").is_err());
    }

    #[test]
    fn shell_words_respect_quotes() {
        assert_eq!(
            split_shell_words(r#"sh -c "echo \"hi\" there" 'a b' c\ d"#).unwrap(),
            vec!["sh", "-c", "echo \"hi\" there", "a b", "c d"]
        );
        assert!(split_shell_words("echo 'open").is_err());
    }
}
