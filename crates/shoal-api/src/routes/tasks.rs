//! `/tasks…`: list with filters, inspect, logs (shared with service logs).

use super::system::json;
use super::{AppState, Query};
use crate::backend::{LogRequest, TaskLogLine};
use crate::body::query_bool;
use crate::error::ApiError;
use crate::filters::Filters;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use futures::StreamExt;
use shoal_types::{Task, TaskState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tasks", get(list))
        .route("/tasks/{id}", get(inspect))
        .route("/tasks/{id}/logs", get(logs))
}

fn task_json(t: &Task) -> serde_json::Value {
    let mut v = serde_json::to_value(t).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("SpecVersion");
        obj.remove("ServiceAnnotations");
    }
    v
}

async fn list(State(backend): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let f = Filters::parse(
        q.get("filters"),
        &[
            "desired-state",
            "id",
            "label",
            "name",
            "node",
            "service",
            "runtime",
            "_up-to-date",
        ],
    )?;
    for ds in f.get("desired-state") {
        if !matches!(ds.as_str(), "running" | "shutdown" | "accepted") {
            return Err(ApiError::bad_request(format!(
                "Invalid desired-state filter: '{ds}'"
            )));
        }
    }
    // `service` and `node` values may be names: resolve them to ids first, as moby does.
    let service_ids: Vec<String> = f
        .get("service")
        .iter()
        .map(|v| {
            control
                .resolve_service(v)
                .map(|s| s.id.to_string())
                .unwrap_or_else(|_| v.clone())
        })
        .collect();
    let node_ids: Vec<String> = f
        .get("node")
        .iter()
        .map(|v| {
            if v == "self" {
                control.node_id().to_string()
            } else {
                control
                    .resolve_node(v)
                    .map(|n| n.id.to_string())
                    .unwrap_or_else(|_| v.clone())
            }
        })
        .collect();
    let up_to_date = f.contains("_up-to-date");
    let mut out = Vec::new();
    for t in control.tasks() {
        let desired_ok = f.any("desired-state", |v| match v {
            "running" => t.desired_state == TaskState::Running,
            "shutdown" => t.desired_state >= TaskState::Shutdown,
            "accepted" => t.desired_state == TaskState::Accepted,
            _ => false,
        });
        let keep = desired_ok
            && f.any("id", |v| t.id.as_str().starts_with(v))
            && f.any("name", |v| t.display_name().starts_with(v))
            && (service_ids.is_empty() || service_ids.iter().any(|s| s == t.service_id.as_str()))
            && (node_ids.is_empty() || node_ids.iter().any(|n| n == t.node_id.as_str()))
            && f.labels_match("label", Some(&t.service_annotations.labels))
            && (!up_to_date || control.task_up_to_date(&t));
        if keep {
            out.push(task_json(&t));
        }
    }
    Ok(json(out))
}

async fn inspect(
    State(backend): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    Ok(json(task_json(&control.resolve_task(&id)?)))
}

async fn logs(
    State(backend): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let task = control.resolve_task(&id)?;
    logs_response(backend, vec![task], &q).await
}

/// Frames one stdcopy record: `[stream, 0, 0, 0, len u32 BE]` then the payload.
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The `details` part of a log line: swarm labels sorted by key, query-escaped.
pub fn details(task: &Task) -> String {
    let mut pairs = [
        ("com.docker.swarm.node.id", task.node_id.to_string()),
        ("com.docker.swarm.service.id", task.service_id.to_string()),
        ("com.docker.swarm.task.id", task.id.to_string()),
    ];
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| serde_urlencoded::to_string([(k, v)]).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",")
}

fn render(task: &Task, line: &TaskLogLine, req: &LogRequest) -> Vec<u8> {
    let mut out = Vec::new();
    if req.timestamps
        && let Some(ts) = &line.timestamp
    {
        out.extend_from_slice(ts.as_bytes());
        out.push(b' ');
    }
    if req.details {
        out.extend_from_slice(details(task).as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(&line.line);
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    frame(if line.stderr { 2 } else { 1 }, &out)
}

pub async fn logs_response(
    backend: AppState,
    tasks: Vec<Task>,
    q: &Query,
) -> Result<Response, ApiError> {
    let req = LogRequest {
        follow: query_bool(q.get("follow")),
        stdout: query_bool(q.get("stdout")),
        stderr: query_bool(q.get("stderr")),
        timestamps: query_bool(q.get("timestamps")),
        details: query_bool(q.get("details")),
        tail: q
            .get("tail")
            .and_then(|t| if t == "all" { None } else { t.parse().ok() }),
        since: q.get("since").and_then(|s| s.parse().ok()),
    };
    if !req.stdout && !req.stderr {
        return Err(ApiError::bad_request(
            "must specify at least one of 'stdout' or 'stderr'",
        ));
    }
    let mut streams = Vec::new();
    for task in tasks {
        if task.status.state < TaskState::Starting && task.status.container_status.is_none() {
            continue;
        }
        let stream = match backend.task_logs(task.clone(), req.clone()).await {
            Ok(s) => s,
            Err(e) => futures::stream::once(async move { Err(e.message) }).boxed(),
        };
        let req = req.clone();
        streams.push(
            stream
                .filter_map(move |item| {
                    let out = match item {
                        Ok(line) if (line.stderr && req.stderr) || (!line.stderr && req.stdout) => {
                            Some(render(&task, &line, &req))
                        }
                        Ok(_) => None,
                        Err(e) => Some(frame(3, format!("Error grabbing logs: {e}\n").as_bytes())),
                    };
                    futures::future::ready(out.map(Ok::<_, std::io::Error>))
                })
                .boxed(),
        );
    }
    let body = Body::from_stream(futures::stream::select_all(streams));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.docker.multiplexed-stream"),
    );
    Ok(resp)
}
