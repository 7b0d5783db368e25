//! Containers joining attachable swarm networks, on their way to the engine.
//!
//! `docker run --network NAME` (`POST /containers/create`) and `docker network connect NAME c`
//! (`POST /networks/{id}/connect`) naming a swarm overlay network are not the engine's to
//! answer alone: shoal first reserves the container an address on the network (a network
//! attachment, [`shoal_manager::control::attachments`]), waits until this node has the
//! network up (the engine bridge network named like it, label `com.shoal.network.id`), then
//! forwards the request with that address set (`EndpointsConfig.IPAMConfig.IPv4Address`).
//! A network that is not attachable is refused with Docker's message; a failed create or
//! connect releases the address again. `DELETE /containers/{id}` and `POST
//! /networks/{id}/disconnect` release the container's attachments once the engine did it.
//!
//! Everything else (engine-local networks, nodes outside a swarm or without an overlay data
//! plane) passes through untouched.

use super::AppState;
use crate::error::ApiError;
use crate::merge::NETWORK_ID_LABEL;
use crate::passthrough::{EngineProxy, RequestedUri};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};
use shoal_types::dispatch::AttachmentOp;
use shoal_types::{Task, TaskId};
use std::time::Duration;

/// Largest create or connect body read (a container config is a few KiB).
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How long a create waits for this node to have the network up after the address was
/// reserved (the dispatcher sends the network, the agent builds it).
pub const NETWORK_WAIT: Duration = Duration::from_secs(30);
const NETWORK_POLL: Duration = Duration::from_millis(100);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/create", post(create))
        // `/containers/json` and any other method on the path are the engine's.
        .route("/containers/{id}", any(container))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

/// Network modes that never name a network.
fn is_builtin_mode(mode: &str) -> bool {
    matches!(mode, "" | "default" | "bridge" | "host" | "none") || mode.starts_with("container:")
}

/// The networks a container config names: `HostConfig.NetworkMode` (unless a built-in mode)
/// and the keys of `NetworkingConfig.EndpointsConfig`, each once, in that order.
pub fn requested_networks(config: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(mode) = config["HostConfig"]["NetworkMode"].as_str()
        && !is_builtin_mode(mode)
    {
        out.push(mode.to_string());
    }
    if let Some(eps) = config["NetworkingConfig"]["EndpointsConfig"].as_object() {
        for name in eps.keys() {
            if !is_builtin_mode(name) && !out.contains(name) {
                out.push(name.clone());
            }
        }
    }
    out
}

/// Sets `IPAMConfig.IPv4Address` of an endpoint config (made an object when it is not one).
pub fn set_address(endpoint: &mut Value, ip: &str) {
    if !endpoint.is_object() {
        *endpoint = json!({});
    }
    if !endpoint["IPAMConfig"].is_object() {
        endpoint["IPAMConfig"] = json!({});
    }
    endpoint["IPAMConfig"]["IPv4Address"] = json!(ip);
}

/// Points a container config's use of network `input` at the engine network `engine_name`
/// with the reserved address `ip`: the network mode, and the endpoint config (added when the
/// network came only as the network mode).
pub fn rewrite_create(config: &mut Value, input: &str, engine_name: &str, ip: &str) {
    if config["HostConfig"]["NetworkMode"].as_str() == Some(input) {
        config["HostConfig"]["NetworkMode"] = json!(engine_name);
    }
    if !config["NetworkingConfig"].is_object() {
        config["NetworkingConfig"] = json!({});
    }
    if !config["NetworkingConfig"]["EndpointsConfig"].is_object() {
        config["NetworkingConfig"]["EndpointsConfig"] = json!({});
    }
    let Some(eps) = config["NetworkingConfig"]["EndpointsConfig"].as_object_mut() else {
        return;
    };
    let mut endpoint = eps.remove(input).unwrap_or_else(|| json!({}));
    set_address(&mut endpoint, ip);
    eps.insert(engine_name.to_string(), endpoint);
}

/// Makes the node's gateway on the network (its resolver) the container's DNS server unless
/// the config names its own (`--dns`): Docker's embedded DNS then asks shoal's resolver for the
/// swarm's names, as it does for task containers.
pub fn default_dns(config: &mut Value, gateway: &str) {
    let named = config["HostConfig"]["Dns"]
        .as_array()
        .is_some_and(|d| !d.is_empty());
    if named || gateway.is_empty() {
        return;
    }
    if !config["HostConfig"].is_object() {
        config["HostConfig"] = json!({});
    }
    config["HostConfig"]["Dns"] = json!([gateway]);
}

/// `path` (`/v1.44/networks/{id}/connect`) with the network segment replaced by `name`.
pub fn with_network_segment(path: &str, name: &str) -> Option<String> {
    let at = path.find("/networks/")? + "/networks/".len();
    let end = path[at..].find('/').map_or(path.len(), |i| at + i);
    Some(format!("{}{}{}", &path[..at], name, &path[end..]))
}

/// A reserved address, ready to be used on the engine.
#[derive(Debug)]
struct Attached {
    task: TaskId,
    network_id: String,
    input: String,
    engine_name: String,
    /// This node's gateway on the network (where its resolver listens).
    gateway: String,
    ip: String,
}

/// Whether the engine has a network `name` of its own (not one shoal made for a swarm
/// network): such a network is the engine's business.
async fn engine_local(engine: &EngineProxy, name: &str) -> bool {
    match engine
        .get_json(&format!("/networks/{}", encode(name)))
        .await
    {
        Ok(v) => v["Labels"][NETWORK_ID_LABEL].as_str().is_none(),
        Err(_) => false,
    }
}

/// Percent-encodes what may not appear in a path segment.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The name and gateway of the engine network carrying swarm network `network_id` on this
/// node, once it exists (up to [`NETWORK_WAIT`]).
async fn wait_engine_network(
    engine: &EngineProxy,
    network_id: &str,
) -> Result<(String, String), ApiError> {
    let filters = json!({ "label": [format!("{NETWORK_ID_LABEL}={network_id}")] }).to_string();
    let path = format!(
        "/networks?{}",
        serde_urlencoded::to_string([("filters", filters)]).unwrap_or_default()
    );
    let deadline = tokio::time::Instant::now() + NETWORK_WAIT;
    loop {
        if let Ok(list) = engine.get_json(&path).await
            && let Some(found) = list.as_array().and_then(|l| {
                l.iter().find_map(|n| {
                    let gateway = n["IPAM"]["Config"][0]["Gateway"].as_str().unwrap_or("");
                    Some((n["Name"].as_str()?.to_string(), gateway.to_string()))
                })
            })
        {
            return Ok(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::unavailable(format!(
                "network {network_id} was not set up on this node within {} s",
                NETWORK_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(NETWORK_POLL).await;
    }
}

/// Reserves an address on swarm network `input` for `container_name` and waits for the
/// network on this node. `None` when the swarm has no such network (the engine answers).
async fn attach(
    backend: &AppState,
    engine: &EngineProxy,
    input: &str,
    container_name: &str,
) -> Result<Option<Attached>, ApiError> {
    let op = AttachmentOp::Attach {
        network: input.to_string(),
        container_name: container_name.to_string(),
    };
    let task = match backend.attachments(op).await {
        Ok(tasks) => tasks.into_iter().next(),
        Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some((task, network_id, ip)) = task.and_then(|t: Task| {
        let att = t.networks.first()?;
        Some((t.id.clone(), att.network_id.clone(), att.ip()?.to_string()))
    }) else {
        return Err(ApiError::internal(format!(
            "the attachment to network {input} came back without an address"
        )));
    };
    match wait_engine_network(engine, &network_id).await {
        Ok((engine_name, gateway)) => Ok(Some(Attached {
            task,
            network_id,
            input: input.to_string(),
            engine_name,
            gateway,
            ip,
        })),
        Err(e) => {
            release(backend, vec![task]).await;
            Err(e)
        }
    }
}

/// Releases attachments; failures are logged (the node's periodic check releases them).
async fn release(backend: &AppState, task_ids: Vec<TaskId>) {
    if task_ids.is_empty() {
        return;
    }
    if let Err(e) = backend
        .attachments(AttachmentOp::Detach {
            task_ids: task_ids.clone(),
        })
        .await
    {
        tracing::warn!(tasks = ?task_ids, error = %e, "could not release network attachments; retried by the periodic check");
    }
}

async fn bind(backend: &AppState, task: &TaskId, container_id: &str) {
    let op = AttachmentOp::Bind {
        task_id: task.clone(),
        container_id: container_id.to_string(),
    };
    if let Err(e) = backend.attachments(op).await {
        tracing::error!(task = %task, container.id = %container_id, error = %e, "could not record the container of a network attachment");
    }
}

/// The engine's id and name of container `input` (id, name or prefix), if it exists.
async fn container_of(engine: &EngineProxy, input: &str) -> Option<(String, String)> {
    let v = engine
        .get_json(&format!("/containers/{}/json", encode(input)))
        .await
        .ok()?;
    let name = v["Name"].as_str().unwrap_or_default().to_string();
    v["Id"].as_str().map(|id| (id.to_string(), name))
}

fn query_param(uri: &Uri, key: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(uri.query().unwrap_or(""))
        .ok()?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Forwards `parts` with `body` (a new Content-Length) to the engine.
async fn forward_with(
    engine: &EngineProxy,
    mut parts: http::request::Parts,
    body: Vec<u8>,
) -> Result<Response, ApiError> {
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    engine
        .forward(Request::from_parts(parts, Body::from(body)))
        .await
}

/// A response whose body was read, rebuilt for the client.
async fn read_response(resp: Response) -> Result<(http::response::Parts, bytes::Bytes), ApiError> {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError::internal(format!("reading the engine's answer: {e}")))?;
    Ok((parts, bytes))
}

fn succeeded(result: &Result<Response, ApiError>) -> bool {
    result.as_ref().is_ok_and(|r| r.status().is_success())
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn passthrough(backend: &AppState, req: Request) -> Response {
    match backend.engine() {
        Some(engine) => respond(engine.forward(req).await),
        None => ApiError::not_found("page not found").into_response(),
    }
}

/// `POST /containers/create`.
async fn create(State(backend): State<AppState>, req: Request) -> Response {
    let Some(engine) = backend.engine().filter(|_| backend.attaches()) else {
        return passthrough(&backend, req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_request(format!("reading the request: {e}")).into_response();
        }
    };
    let Ok(mut config) = serde_json::from_slice::<Value>(&bytes) else {
        return respond(forward_with(&engine, parts, bytes.to_vec()).await);
    };
    let name = query_param(&parts.uri, "name").unwrap_or_default();
    let mut made: Vec<Attached> = Vec::new();
    for input in requested_networks(&config) {
        if engine_local(&engine, &input).await {
            continue;
        }
        match attach(&backend, &engine, &input, &name).await {
            Ok(Some(a)) => made.push(a),
            Ok(None) => {}
            Err(e) => {
                release(&backend, made.into_iter().map(|a| a.task).collect()).await;
                return e.into_response();
            }
        }
    }
    if made.is_empty() {
        return respond(forward_with(&engine, parts, bytes.to_vec()).await);
    }
    for a in &made {
        rewrite_create(&mut config, &a.input, &a.engine_name, &a.ip);
    }
    if let Some(first) = made.first() {
        default_dns(&mut config, &first.gateway);
    }
    let tasks: Vec<TaskId> = made.iter().map(|a| a.task.clone()).collect();
    let answer = match forward_with(&engine, parts, config.to_string().into_bytes()).await {
        Ok(resp) => read_response(resp).await,
        Err(e) => Err(e),
    };
    let (resp_parts, resp_body) = match answer {
        Ok(r) => r,
        Err(e) => {
            release(&backend, tasks).await;
            return e.into_response();
        }
    };
    let created = resp_parts
        .status
        .is_success()
        .then(|| serde_json::from_slice::<Value>(&resp_body).ok())
        .flatten()
        .and_then(|v| v["Id"].as_str().map(str::to_string));
    match created {
        Some(id) => {
            for a in &made {
                tracing::info!(container.id = %id, network = %a.network_id, address = %a.ip, "container attached to a swarm network");
                bind(&backend, &a.task, &id).await;
            }
        }
        None => release(&backend, tasks).await,
    }
    Response::from_parts(resp_parts, Body::from(resp_body))
}

/// `POST /networks/{id}/connect`.
async fn connect(State(backend): State<AppState>, req: Request) -> Response {
    let Some(engine) = backend.engine().filter(|_| backend.attaches()) else {
        return passthrough(&backend, req).await;
    };
    let original = req
        .extensions()
        .get::<RequestedUri>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| req.uri().clone());
    let Some(input) = network_segment(req.uri().path()) else {
        return passthrough(&backend, req).await;
    };
    if engine_local(&engine, &input).await {
        return passthrough(&backend, req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_request(format!("reading the request: {e}")).into_response();
        }
    };
    let parsed = serde_json::from_slice::<Value>(&bytes).ok();
    let container = parsed
        .as_ref()
        .and_then(|v| v["Container"].as_str().map(str::to_string));
    let (Some(mut body), Some(container)) = (parsed, container) else {
        return respond(forward_with(&engine, parts, bytes.to_vec()).await);
    };
    let Some((id, name)) = container_of(&engine, &container).await else {
        return respond(forward_with(&engine, parts, bytes.to_vec()).await);
    };
    let a = match attach(&backend, &engine, &input, &name).await {
        Ok(Some(a)) => a,
        Ok(None) => return respond(forward_with(&engine, parts, bytes.to_vec()).await),
        Err(e) => return e.into_response(),
    };
    set_address(&mut body["EndpointConfig"], &a.ip);
    let path = with_network_segment(original.path(), &encode(&a.engine_name));
    let uri = path.and_then(|p| {
        match original.query() {
            Some(q) => format!("{p}?{q}"),
            None => p,
        }
        .parse::<Uri>()
        .ok()
    });
    if let Some(uri) = uri {
        parts.extensions.insert(RequestedUri(uri));
    }
    let result = forward_with(&engine, parts, body.to_string().into_bytes()).await;
    if succeeded(&result) {
        tracing::info!(container.id = %id, network = %a.network_id, address = %a.ip, "container connected to a swarm network");
        bind(&backend, &a.task, &id).await;
    } else {
        release(&backend, vec![a.task]).await;
    }
    respond(result)
}

/// The `{id}` of `/networks/{id}/…`.
fn network_segment(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/networks/")?;
    let seg = rest.split('/').next().filter(|s| !s.is_empty())?;
    Some(percent_decode(seg))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The attachments of this node that belong to `container_id` (on `network_id` when given).
async fn attachments_of(
    backend: &AppState,
    container_id: &str,
    network_id: Option<&str>,
) -> Vec<TaskId> {
    match backend.attachments(AttachmentOp::List).await {
        Ok(tasks) => tasks
            .into_iter()
            .filter(|t| t.attachment_container() == Some(container_id))
            .filter(|t| network_id.is_none_or(|n| t.networks.iter().any(|a| a.network_id == n)))
            .map(|t| t.id)
            .collect(),
        Err(e) => {
            tracing::warn!(container.id = %container_id, error = %e, "could not list network attachments; the periodic check releases them");
            Vec::new()
        }
    }
}

/// `/containers/{id}`: a `DELETE` is [`remove`]; everything else passes through.
async fn container(State(backend): State<AppState>, req: Request) -> Response {
    if req.method() == http::Method::DELETE {
        remove(backend, req).await
    } else {
        passthrough(&backend, req).await
    }
}

/// `DELETE /containers/{id}`: the engine removes the container, then its attachments go.
async fn remove(backend: AppState, req: Request) -> Response {
    let Some(engine) = backend.engine().filter(|_| backend.attaches()) else {
        return passthrough(&backend, req).await;
    };
    let input = req
        .uri()
        .path()
        .strip_prefix("/containers/")
        .map(percent_decode)
        .unwrap_or_default();
    let id = container_of(&engine, &input).await.map(|(id, _)| id);
    let result = engine.forward(req).await;
    if let Some(id) = id.filter(|_| succeeded(&result)) {
        let gone = attachments_of(&backend, &id, None).await;
        if !gone.is_empty() {
            tracing::info!(container.id = %id, attachments = gone.len(), "container removed; releasing its network attachments");
            release(&backend, gone).await;
        }
    }
    respond(result)
}

/// `POST /networks/{id}/disconnect`: once the engine disconnected the container, its
/// attachment to that network goes.
async fn disconnect(State(backend): State<AppState>, req: Request) -> Response {
    let Some(engine) = backend.engine().filter(|_| backend.attaches()) else {
        return passthrough(&backend, req).await;
    };
    let Some(input) = network_segment(req.uri().path()) else {
        return passthrough(&backend, req).await;
    };
    let network_id = engine
        .get_json(&format!("/networks/{}", encode(&input)))
        .await
        .ok()
        .and_then(|v| v["Labels"][NETWORK_ID_LABEL].as_str().map(str::to_string));
    let Some(network_id) = network_id else {
        return passthrough(&backend, req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_request(format!("reading the request: {e}")).into_response();
        }
    };
    let container = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["Container"].as_str().map(str::to_string));
    let id = match &container {
        Some(c) => container_of(&engine, c).await.map(|(id, _)| id),
        None => None,
    };
    let result = forward_with(&engine, parts, bytes.to_vec()).await;
    if let Some(id) = id.filter(|_| succeeded(&result)) {
        let gone = attachments_of(&backend, &id, Some(&network_id)).await;
        release(&backend, gone).await;
    }
    respond(result)
}

#[cfg(test)]
#[path = "containers_tests.rs"]
mod tests;
