//! Text formatting shared by the commands: docker-identical tables (Go `text/tabwriter`
//! with min width 10, padding 3), go-units `HumanDuration` and `BytesSize`, and docker's
//! `PrettyPrint` capitalisation.

use std::io::Write;
use tabwriter::TabWriter;

/// Docker's table writer is `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`: a column is
/// `max(10, widest cell + 3)` wide. The Rust crate computes `max(minwidth, widest) + padding`,
/// so a min width of 7 with padding 3 gives the same columns.
const TABLE_MIN_WIDTH: usize = 7;
const TABLE_PADDING: usize = 3;

/// Renders rows (the header first) as docker prints tables: cells separated by elastic
/// tabstops, the last cell of a row unpadded, every row ending in a newline.
pub fn table(rows: &[Vec<String>]) -> String {
    tabbed(rows, TABLE_MIN_WIDTH, TABLE_PADDING)
}

/// Aligns `key:\tvalue` lines the way `docker version` does (`tabwriter(20, 1, 1)`).
pub fn version_block(text: &str) -> String {
    let mut tw = TabWriter::new(Vec::new()).minwidth(19).padding(1);
    // Writing to a Vec cannot fail.
    let _ = tw.write_all(text.as_bytes());
    let _ = tw.flush();
    String::from_utf8_lossy(&tw.into_inner().unwrap_or_default()).into_owned()
}

fn tabbed(rows: &[Vec<String>], minwidth: usize, padding: usize) -> String {
    let mut text = String::new();
    for row in rows {
        text.push_str(&row.join("\t"));
        text.push('\n');
    }
    let mut tw = TabWriter::new(Vec::new())
        .minwidth(minwidth)
        .padding(padding);
    // Writing to a Vec cannot fail.
    let _ = tw.write_all(text.as_bytes());
    let _ = tw.flush();
    String::from_utf8_lossy(&tw.into_inner().unwrap_or_default()).into_owned()
}

/// go-units `HumanDuration`, for "Running 5 minutes ago" and `docker info`.
pub fn human_duration(ns: i64) -> String {
    let secs = ns / 1_000_000_000;
    let minutes = ns / 60_000_000_000;
    let hours = ((ns as f64) / 3.6e12 + 0.5) as i64;
    if secs < 1 {
        "Less than a second".to_string()
    } else if secs == 1 {
        "1 second".to_string()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", ns / 3_600_000_000_000 / 24 / 365)
    }
}

/// go-units `BytesSize`: binary units with Go's `%.4g` (`20MiB`, `1.953GiB`).
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g4(size), UNITS[i])
}

/// Go's `%.4g` for values in [0, 1024): four significant digits, trailing zeros dropped.
fn go_g4(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-4..4).contains(&exp) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Docker's `PrettyPrint` for strings: first letter upper-case, the rest lower-case
/// (`ready` → `Ready`, `UTC` → `Utc`); a single character is lower-cased.
pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        None => String::new(),
        Some(c) if s.chars().count() == 1 => c.to_lowercase().collect(),
        Some(c) => c
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
    }
}

/// `stringid.TruncateID`: the first 12 characters.
pub fn truncate_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Docker's `Ellipsis`: cut to `max` characters, the last being `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if max == 0 {
        return String::new();
    }
    if count <= max {
        return s.to_string();
    }
    if max == 1 {
        return s.chars().take(1).collect();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// `sortorder.NaturalLess` as an ordering: runs of digits compare as numbers, the rest
/// byte-wise (`node-2` < `node-10`).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = trim_zeros(&a[si..i]);
            let nb = trim_zeros(&b[sj..j]);
            let ord = na
                .len()
                .cmp(&nb.len())
                .then_with(|| na.cmp(nb))
                .then_with(|| (i - si).cmp(&(j - sj)));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|c| **c == b'0').count();
    &d[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tables_match_docker_node_ls_golden() {
        // docker/cli cli/command/node/testdata/node-list-sort.golden
        let out = table(&[
            row(&[
                "ID ",
                "HOSTNAME",
                "STATUS",
                "AVAILABILITY",
                "MANAGER STATUS",
                "ENGINE VERSION",
            ]),
            row(&["nodeID3  ", "node-1-foo", "Ready", "Active", "", "1.13.0"]),
            row(&["nodeID1 *", "node-2-foo", "Ready", "Active", "Leader", "."]),
            row(&[
                "nodeID2  ",
                "node-10-foo",
                "Ready",
                "Active",
                "Reachable",
                "18.03.0-ce",
            ]),
        ]);
        let want = "\
ID          HOSTNAME      STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION
nodeID3     node-1-foo    Ready     Active                          1.13.0
nodeID1 *   node-2-foo    Ready     Active         Leader           .
nodeID2     node-10-foo   Ready     Active         Reachable        18.03.0-ce
";
        assert_eq!(out, want);
    }

    #[test]
    fn a_header_only_table_still_prints() {
        assert_eq!(table(&[row(&["ID", "NAME"])]), "ID        NAME\n");
    }

    #[test]
    fn human_durations_match_go_units() {
        let s = 1_000_000_000i64;
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(s), "1 second");
        assert_eq!(human_duration(47 * s), "47 seconds");
        assert_eq!(human_duration(60 * s), "About a minute");
        assert_eq!(human_duration(5 * 60 * s), "5 minutes");
        assert_eq!(human_duration(3600 * s), "About an hour");
        assert_eq!(human_duration(5 * 3600 * s), "5 hours");
        assert_eq!(human_duration(3 * 86400 * s), "3 days");
        assert_eq!(human_duration(21 * 86400 * s), "3 weeks");
        assert_eq!(human_duration(90 * 86400 * s), "3 months");
        assert_eq!(human_duration(3 * 365 * 86400 * s), "3 years");
        // 2160h, the default certificate expiry, as `docker info` prints it
        assert_eq!(human_duration(2160 * 3600 * s), "3 months");
    }

    #[test]
    fn byte_sizes_match_go_units() {
        assert_eq!(bytes_size(20.0 * 1024.0 * 1024.0), "20MiB");
        assert_eq!(bytes_size(2_097_152_000.0), "1.953GiB");
        assert_eq!(bytes_size(16_686_202_880.0), "15.54GiB");
        assert_eq!(bytes_size(512.0), "512B");
        assert_eq!(bytes_size(0.0), "0B");
    }

    #[test]
    fn capitalize_is_docker_pretty_print() {
        assert_eq!(capitalize("ready"), "Ready");
        assert_eq!(capitalize("UNKNOWN"), "Unknown");
        assert_eq!(capitalize(""), "");
        assert_eq!(capitalize("A"), "a");
    }

    #[test]
    fn natural_order_compares_numbers() {
        let mut v = vec!["node-10-foo", "node-2-foo", "node-1-foo", "web.10", "web.9"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            vec!["node-1-foo", "node-2-foo", "node-10-foo", "web.9", "web.10"]
        );
    }

    #[test]
    fn ellipsis_cuts_with_a_mark() {
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
    }
}
