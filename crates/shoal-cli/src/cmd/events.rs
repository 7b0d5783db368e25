//! `events`: `GET /events`, printed as they arrive, in docker's line format or a template.

use crate::client::{ApiError, Client, Query};
use crate::cmd::emit;
use crate::cmd::service::logs::since_value;
use crate::output::StatusError;
use crate::parse::{filters, filters_json};
use crate::template::Template;
use crate::timefmt::Timestamp;
use clap::Args;
use http_body_util::BodyExt;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('json' for one JSON object a line)
    #[arg(long)]
    pub format: Option<String>,
}

/// Streams events until the daemon ends the stream (`--until`) or the user stops it.
pub async fn events(client: &Client, a: EventsArgs) -> anyhow::Result<()> {
    let f = filters(&a.filter).map_err(|m| StatusError {
        code: 125,
        message: m,
    })?;
    let template = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}").map_err(bad_format)?),
        Some(t) => Some(Template::parse(t).map_err(bad_format)?),
    };
    let now = Timestamp::now();
    let fjson = filters_json(&f);
    let mut q = Query::new();
    if let Some(s) = &a.since {
        q = q.push("since", since_value(s, &now));
    }
    if let Some(u) = &a.until {
        q = q.push("until", since_value(u, &now));
    }
    let path = q
        .push_if(fjson.is_some(), "filters", fjson.unwrap_or_default())
        .to_path("/events");
    let mut stream = client.get_stream(&path).await?;
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = stream.body.frame().await {
        let frame = frame.map_err(|e| ApiError::Protocol(format!("error reading events: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(i) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            let Ok(msg) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let out = match &template {
                Some(t) => t.render(&msg).map_err(|m| StatusError {
                    code: 1,
                    message: m,
                })?,
                None => line_format(&msg),
            };
            emit(&format!("{out}\n"));
        }
    }
    Ok(())
}

fn bad_format(m: String) -> StatusError {
    StatusError {
        code: 125,
        message: format!("template parsing error: {m}"),
    }
}

/// docker's default line: `<time> <type> <action> <id> (k=v, …)`, attributes sorted.
pub fn line_format(msg: &Value) -> String {
    let nanos = msg["timeNano"].as_i64().unwrap_or(0);
    let ts = Timestamp {
        secs: nanos.div_euclid(1_000_000_000),
        nanos: nanos.rem_euclid(1_000_000_000) as u32,
    };
    let mut out = format!(
        "{} {} {} {}",
        ts.rfc3339_nano_fixed(),
        msg["Type"].as_str().unwrap_or(""),
        msg["Action"].as_str().unwrap_or(""),
        msg["Actor"]["ID"].as_str().unwrap_or("")
    );
    if let Some(attrs) = msg["Actor"]["Attributes"].as_object()
        && !attrs.is_empty()
    {
        let mut pairs: Vec<String> = attrs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        pairs.sort();
        out.push_str(&format!(" ({})", pairs.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_line_is_dockers() {
        let msg = json!({
            "Type": "service", "Action": "update", "scope": "swarm",
            "Actor": {"ID": "svc1", "Attributes": {"replicas.new": "3", "name": "web", "replicas.old": "1"}},
            "time": 1767323045, "timeNano": 1767323045000000001i64,
        });
        assert_eq!(
            line_format(&msg),
            "2026-01-02T03:04:05.000000001Z service update svc1 (name=web, replicas.new=3, replicas.old=1)"
        );
    }
}
