//! `service logs SERVICE|TASK`: stream the logs, demultiplex them (stdcopy), and prefix
//! each line with `<service>.<slot>.<task id>@<node>    | ` as docker does (reference §3.5).

use super::LogsArgs;
use crate::client::{ApiError, Client, Query, segment};
use crate::cmd::emit;
use crate::output::StatusError;
use crate::stdcopy::{Demuxer, StdStream};
use crate::timefmt::Timestamp;
use crate::values::{bool_at, get, i64_at, str_at};
use http_body_util::BodyExt;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

pub(super) async fn logs(client: &Client, a: LogsArgs) -> anyhow::Result<()> {
    let target = segment(&a.target);
    let (kind, tty, max_len) = match client
        .get_json::<Value>(&format!("/services/{target}"))
        .await
    {
        Ok(s) => {
            let replicas =
                get(&s, &["Spec", "Mode", "Replicated", "Replicas"]).and_then(Value::as_i64);
            let max_len = replicas.map(|r| r.to_string().len()).unwrap_or(1);
            (
                "services",
                bool_at(&s, &["Spec", "TaskTemplate", "ContainerSpec", "TTY"]),
                max_len,
            )
        }
        Err(e) if e.is_not_found() => {
            match client.get_json::<Value>(&format!("/tasks/{target}")).await {
                Ok(t) => {
                    let max_len = i64_at(&t, &["Slot"]).to_string().len();
                    (
                        "tasks",
                        bool_at(&t, &["Spec", "ContainerSpec", "TTY"]),
                        max_len,
                    )
                }
                Err(e) if e.is_not_found() => {
                    return Err(StatusError {
                        code: 1,
                        message: format!("no such task or service: {}", a.target),
                    }
                    .into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    if tty && !a.raw {
        return Err(StatusError {
            code: 1,
            message: "tty service logs only supported with --raw".into(),
        }
        .into());
    }
    let mut q = Query::new()
        .push_if(a.details || !a.raw, "details", "1")
        .push_if(a.follow, "follow", "1");
    if let Some(s) = &a.since {
        q = q.push("since", since_value(s, &Timestamp::now()));
    }
    q = q
        .push("stderr", "1")
        .push("stdout", "1")
        .push("tail", a.tail.clone())
        .push_if(a.timestamps, "timestamps", "1");
    let mut stream = client
        .get_stream(&q.to_path(&format!("/{kind}/{target}/logs")))
        .await?;
    let mut prefixer = LogPrefixer::new(&a);
    let mut demux = Demuxer::new();
    let raw_out = |data: &[u8], err: bool| {
        // A closed stdout/stderr means nobody reads; like docker, stop caring.
        if err {
            let _ = std::io::stderr().write_all(data);
        } else {
            let _ = std::io::stdout().write_all(data);
            let _ = std::io::stdout().flush();
        }
    };
    while let Some(frame) = stream.body.frame().await {
        let frame = frame.map_err(|e| ApiError::Protocol(format!("error reading logs: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if tty {
            raw_out(&data, false);
            continue;
        }
        demux.push(&data);
        while let Some(f) = demux.next_frame().map_err(|m| StatusError {
            code: 1,
            message: m,
        })? {
            let to_err = match f.stream {
                StdStream::System => {
                    return Err(StatusError {
                        code: 1,
                        message: String::from_utf8_lossy(&f.payload).into_owned(),
                    }
                    .into());
                }
                StdStream::Stderr => true,
                StdStream::Stdout | StdStream::Stdin => false,
            };
            if a.raw {
                raw_out(&f.payload, to_err);
                continue;
            }
            let line = String::from_utf8_lossy(&f.payload).into_owned();
            let (ctx, _) = prefixer.split(&line).map_err(|m| StatusError {
                code: 1,
                message: m,
            })?;
            if !prefixer.cache.contains_key(&ctx) {
                let name = resolve_name(client, &ctx, &a, max_len).await?;
                prefixer.cache.insert(ctx.clone(), name);
            }
            let out = prefixer.format(&line).map_err(|m| StatusError {
                code: 1,
                message: m,
            })?;
            if to_err {
                raw_out(out.as_bytes(), true);
            } else {
                emit(&out);
            }
        }
    }
    Ok(())
}

/// `--since`: a Go duration means that long ago; an RFC 3339 time its Unix time; anything
/// else (a Unix timestamp) is passed through.
pub fn since_value(s: &str, now: &Timestamp) -> String {
    if let Ok(ns) = crate::parse::duration_ns(s) {
        let total = now.secs as i128 * 1_000_000_000 + now.nanos as i128 - ns as i128;
        return format!(
            "{}.{:09}",
            total.div_euclid(1_000_000_000),
            total.rem_euclid(1_000_000_000)
        );
    }
    if let Some(t) = Timestamp::parse(s) {
        return format!("{}.{:09}", t.secs, t.nanos);
    }
    s.to_string()
}

/// The node, service and task a log line came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogContext {
    pub node_id: String,
    pub service_id: String,
    pub task_id: String,
}

/// Parses docker's details field: `k=v` pairs joined by `,`, each side URL-query-escaped.
pub fn parse_details(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in s.split(',') {
        let (k, v) = pair
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or("invalid details format")?;
        out.insert(query_unescape(k)?, query_unescape(v)?);
    }
    Ok(out)
}

fn query_unescape(s: &str) -> Result<String, String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| format!("invalid URL escape: {e}"))
}

/// Rewrites log lines with docker's task prefix; names are cached per context.
#[derive(Debug)]
pub struct LogPrefixer {
    timestamps: bool,
    details: bool,
    pub cache: HashMap<LogContext, String>,
}

impl LogPrefixer {
    pub fn new(a: &LogsArgs) -> Self {
        LogPrefixer {
            timestamps: a.timestamps,
            details: a.details,
            cache: HashMap::new(),
        }
    }

    /// Splits `[ts ]details message` into the context and the remaining details.
    pub fn split(&self, line: &str) -> Result<(LogContext, BTreeMap<String, String>), String> {
        let parts = self.parts(line)?;
        let mut details = parse_details(parts[if self.timestamps { 1 } else { 0 }])?;
        let mut take = |k: &str, what: &str| {
            details
                .remove(k)
                .ok_or_else(|| format!("missing {what} id in details: {line}"))
        };
        let ctx = LogContext {
            node_id: take("com.docker.swarm.node.id", "node")?,
            service_id: take("com.docker.swarm.service.id", "service")?,
            task_id: take("com.docker.swarm.task.id", "task")?,
        };
        Ok((ctx, details))
    }

    fn parts<'a>(&self, line: &'a str) -> Result<Vec<&'a str>, String> {
        let n = if self.timestamps { 3 } else { 2 };
        let parts: Vec<&str> = line.splitn(n, ' ').collect();
        if parts.len() != n {
            return Err(format!("invalid context in log message: {line}"));
        }
        Ok(parts)
    }

    /// The printed line; the context's name must be in the cache.
    pub fn format(&self, line: &str) -> Result<String, String> {
        let (ctx, details) = self.split(line)?;
        let parts = self.parts(line)?;
        let name = self
            .cache
            .get(&ctx)
            .cloned()
            .unwrap_or_else(|| ctx.task_id.clone());
        let mut out = String::new();
        if self.timestamps {
            out.push_str(parts[0]);
            out.push(' ');
        }
        out.push_str(&name);
        out.push_str("    | ");
        if self.details {
            let d: Vec<String> = details.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&d.join(","));
            out.push(' ');
        }
        out.push_str(parts[parts.len() - 1]);
        Ok(out)
    }
}

/// `web.1.<task id>@<node>` plus padding so slots of different widths line up.
pub fn task_name(
    service: &str,
    slot: i64,
    task_id: &str,
    node: &str,
    a: &LogsArgs,
    max_len: usize,
) -> String {
    let mut name = format!("{service}.{slot}");
    if !a.no_task_ids {
        name.push('.');
        name.push_str(&if a.no_trunc {
            task_id.to_string()
        } else {
            crate::format::truncate_id(task_id)
        });
    }
    let pad = max_len.saturating_sub(slot.to_string().len());
    format!("{name}@{node}{}", " ".repeat(pad))
}

async fn resolve_name(
    client: &Client,
    ctx: &LogContext,
    a: &LogsArgs,
    max_len: usize,
) -> anyhow::Result<String> {
    let mut resolver = crate::cmd::task::Resolver::new(a.no_resolve);
    let node = resolver.node(client, &ctx.node_id).await;
    let service = resolver.service(client, &ctx.service_id).await;
    let task: Value = client
        .get_json(&format!("/tasks/{}", segment(&ctx.task_id)))
        .await?;
    Ok(task_name(
        &service,
        i64_at(&task, &["Slot"]),
        str_at(&task, &["ID"]),
        &node,
        a,
        max_len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: LogsArgs,
    }

    fn args(v: &[&str]) -> LogsArgs {
        let mut all = vec!["t"];
        all.extend_from_slice(v);
        all.push("web");
        T::try_parse_from(all).expect("valid").a
    }

    const DETAILS: &str =
        "com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1";

    #[test]
    fn details_are_unescaped() {
        let d = parse_details("key+with+spaces=value%3Dequals,asdf%2C=").expect("valid");
        assert_eq!(
            d.get("key with spaces").map(String::as_str),
            Some("value=equals")
        );
        assert_eq!(d.get("asdf,").map(String::as_str), Some(""));
        assert!(parse_details("nope").is_err());
    }

    #[test]
    fn lines_get_docker_prefixes() {
        let a = args(&[]);
        let mut p = LogPrefixer::new(&a);
        let line = format!("{DETAILS} hello world\n");
        let (ctx, _) = p.split(&line).expect("valid");
        p.cache.insert(
            ctx,
            task_name("web", 1, "t1aaaaaaaaaaaaaaaaaaaaaaa", "node-1", &a, 2),
        );
        assert_eq!(
            p.format(&line).expect("valid"),
            "web.1.t1aaaaaaaaaa@node-1     | hello world\n"
        );
    }

    #[test]
    fn timestamps_and_extra_details_are_kept() {
        let a = args(&["-t", "--details", "--no-task-ids"]);
        let mut p = LogPrefixer::new(&a);
        let line = format!("2024-01-01T00:00:00.000000000Z {DETAILS},extra=x hi\n");
        let (ctx, _) = p.split(&line).expect("valid");
        p.cache.insert(ctx, task_name("web", 1, "t1", "n", &a, 1));
        assert_eq!(
            p.format(&line).expect("valid"),
            "2024-01-01T00:00:00.000000000Z web.1@n    | extra=x hi\n"
        );
    }

    #[test]
    fn lines_without_context_are_errors() {
        let p = LogPrefixer::new(&args(&[]));
        assert!(p.split("com.docker.swarm.node.id=n1 hi").is_err());
        assert!(p.split("nospace").is_err());
    }

    #[test]
    fn since_accepts_durations_and_times() {
        let now = Timestamp::parse("2024-01-01T00:10:00Z").expect("valid");
        assert_eq!(
            since_value("10m", &now),
            format!("{}.000000000", now.secs - 600)
        );
        assert_eq!(
            since_value("2024-01-01T00:00:00Z", &now),
            format!("{}.000000000", now.secs - 600)
        );
        assert_eq!(since_value("1700000000", &now), "1700000000");
    }
}
