//! `GET /events`: the swarm's events from the store's watch (scope `swarm`: `service`, `node`,
//! `secret`, `config`, `network` with moby's actions and attributes) merged with the engine's
//! local events, filtered as moby filters them.
//!
//! Every manager applies the same raft log, so every manager reports the same swarm events.
//! Swarm events are live only: `since` replays the engine's history, not the swarm's (no
//! history of them is kept). `until` ends the stream at that time.

use crate::error::ApiError;
use crate::filters::Filters;
use crate::routes::{AppState, Query};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value, json};
use shoal_store::{Event, EventKind};
use shoal_types::Object;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The filter keys moby accepts on `/events`.
const FILTER_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// The Docker event message for one store change, or `None` for what Docker does not report
/// (tasks, the cluster object). `now` stamps removals (the store has no removal time), as moby.
pub fn swarm_message(ev: &Event, now: SystemTime) -> Option<Value> {
    let action = match ev.kind {
        EventKind::Created => "create",
        EventKind::Updated => "update",
        EventKind::Deleted => "remove",
    };
    let (kind, id, new) = match &ev.object {
        Object::Service(s) => ("service", s.id.to_string(), serde_json::to_value(s).ok()?),
        Object::Node(n) => ("node", n.id.to_string(), serde_json::to_value(n).ok()?),
        Object::Secret(s) => ("secret", s.id.to_string(), serde_json::to_value(s).ok()?),
        Object::Config(c) => ("config", c.id.to_string(), serde_json::to_value(c).ok()?),
        Object::Network(n) => ("network", n.id.to_string(), serde_json::to_value(n).ok()?),
        Object::Task(_) | Object::Cluster(_) => return None,
    };
    let old = match (&ev.kind, &ev.old) {
        (EventKind::Updated, Some(o)) => serde_json::to_value(o).ok().map(|v| {
            // `Object` serialises as `{"Service": {...}}`: take the inner value.
            v.as_object()
                .and_then(|m| m.values().next().cloned())
                .unwrap_or(Value::Null)
        }),
        _ => None,
    };
    let mut attrs = Map::new();
    let name = match kind {
        "node" => text(&new, &["Spec", "Name"])
            .filter(|n| !n.is_empty())
            .or_else(|| text(&new, &["Description", "Hostname"])),
        _ => text(&new, &["Spec", "Name"]),
    };
    attrs.insert("name".into(), name.unwrap_or_default().into());
    if let Some(old) = &old {
        let changes: &[(&str, &[&str])] = match kind {
            "node" => &[
                ("availability", &["Spec", "Availability"]),
                ("role", &["Spec", "Role"]),
                ("state", &["Status", "State"]),
                ("reachability", &["ManagerStatus", "Reachability"]),
            ],
            "service" => &[
                ("image", &["Spec", "TaskTemplate", "ContainerSpec", "Image"]),
                ("replicas", &["Spec", "Mode", "Replicated", "Replicas"]),
                ("updatestate", &["UpdateStatus", "State"]),
            ],
            _ => &[],
        };
        for (attr, path) in changes {
            let (was, is) = (text(old, path), text(&new, path));
            if was != is
                && let Some(is) = is
            {
                // moby leaves `updatestate.old` out when there was no update before.
                if let Some(was) = was {
                    attrs.insert(format!("{attr}.old"), was.to_lowercase().into());
                }
                attrs.insert(format!("{attr}.new"), is.to_lowercase().into());
            }
        }
        if kind == "node" {
            let leader = |v: &Value| v["ManagerStatus"]["Leader"].as_bool().unwrap_or(false);
            if !new["ManagerStatus"].is_null()
                && !old["ManagerStatus"].is_null()
                && leader(&new) != leader(old)
            {
                attrs.insert("leader.old".into(), leader(old).to_string().into());
                attrs.insert("leader.new".into(), leader(&new).to_string().into());
            }
        }
    }
    let at = match ev.kind {
        EventKind::Created => stamp(&new, "CreatedAt"),
        EventKind::Updated => stamp(&new, "UpdatedAt"),
        EventKind::Deleted => None,
    }
    .unwrap_or(now);
    let nanos = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    Some(json!({
        "Type": kind,
        "Action": action,
        "Actor": { "ID": id, "Attributes": attrs },
        "scope": "swarm",
        "time": nanos.as_secs(),
        "timeNano": nanos.as_nanos() as u64,
    }))
}

/// A string (or number) at `path` in `v`.
fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn stamp(v: &Value, field: &str) -> Option<SystemTime> {
    shoal_types::time::parse_rfc3339(v.get(field)?.as_str()?)
}

/// moby's `FuzzyMatch`: no values, or the source equals or starts with one of them.
fn fuzzy(f: &Filters, key: &str, sources: &[&str]) -> bool {
    let vals = f.get(key);
    vals.is_empty()
        || vals.iter().any(|v| {
            sources
                .iter()
                .any(|s| !s.is_empty() && s.starts_with(v.as_str()))
        })
}

/// Whether moby's event filter lets `msg` through.
pub fn include(f: &Filters, msg: &Value) -> bool {
    let kind = msg["Type"].as_str().unwrap_or("");
    let action = msg["Action"].as_str().unwrap_or("");
    let id = msg["Actor"]["ID"].as_str().unwrap_or("");
    let name = msg["Actor"]["Attributes"]["name"].as_str().unwrap_or("");
    let attrs: std::collections::HashMap<String, String> = msg["Actor"]["Attributes"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let by_name = |key: &str| {
        if kind == key {
            fuzzy(f, key, &[id, name])
        } else {
            f.get(key).is_empty()
        }
    };
    f.any("event", |v| {
        v == action || action.split_once(':').is_some_and(|(a, _)| a == v)
    }) && f.any("type", |v| v == kind)
        && f.any("scope", |v| Some(v) == msg["scope"].as_str())
        && ["service", "node", "secret", "config", "network"]
            .iter()
            .all(|k| by_name(k))
        && ["container", "image", "volume", "plugin", "daemon"]
            .iter()
            .all(|k| f.get(k).is_empty())
        && f.labels_match("label", Some(&attrs))
}

/// A time as the Engine API takes it: Unix seconds, with an optional fraction.
fn parse_time(s: &str) -> Result<SystemTime, ApiError> {
    let secs: f64 = s
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid timestamp: {s}")))?;
    Ok(UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0)))
}

/// The route.
pub async fn events(State(backend): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = Filters::parse(q.get("filters"), FILTER_KEYS)?;
    let until = q
        .get("until")
        .filter(|s| !s.is_empty())
        .map(|s| parse_time(s))
        .transpose()?;
    if let Some(s) = q.get("since").filter(|s| !s.is_empty()) {
        parse_time(s)?;
    }
    let wants_swarm = filters.any("scope", |v| v == "swarm");
    let swarm: futures::stream::BoxStream<'static, Bytes> = match backend.control() {
        Ok(control) if wants_swarm => {
            let watcher = control.store().store.watch();
            futures::stream::unfold((watcher, filters), |(mut w, f)| async move {
                loop {
                    let ev = w.recv_shared().await.ok()?;
                    if let Some(msg) = swarm_message(&ev, SystemTime::now())
                        && include(&f, &msg)
                    {
                        let mut line = msg.to_string().into_bytes();
                        line.push(b'\n');
                        return Some((Bytes::from(line), (w, f)));
                    }
                }
            })
            .boxed()
        }
        _ => futures::stream::pending().boxed(),
    };
    // The swarm's side ends at `until`; the engine ends its own stream there.
    let swarm = match until {
        Some(until) => {
            let left = until
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            swarm.take_until(tokio::time::sleep(left)).boxed()
        }
        None => swarm,
    };
    let local: futures::stream::BoxStream<'static, Bytes> = match backend.engine() {
        Some(engine) => {
            let query = serde_urlencoded::to_string(&q.0).unwrap_or_default();
            engine.stream_lines(&format!("/events?{query}")).await?
        }
        None if until.is_some() => futures::stream::empty().boxed(),
        None => futures::stream::pending().boxed(),
    };
    let body = futures::stream::select(swarm, local);
    let mut resp = Response::new(Body::from_stream(body.map(Ok::<_, std::io::Error>)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
