//! The Engine API passthrough: every route shoal does not serve itself (containers, exec,
//! images, volumes, `system df`, build, plugins, …) is forwarded unchanged to the node's engine
//! socket, so the docker CLI pointed at shoal does everything it does against the engine.
//!
//! Contract:
//! - The request goes as it came: method, path with its `/v1.xx` prefix, query, headers and a
//!   streamed body. The one change: a prefix newer than the engine speaks is lowered to the
//!   engine's own maximum (shoal speaks 1.44; an older engine such as 20.10 speaks 1.41), as
//!   the docker CLI would do when negotiating with that engine directly.
//! - Responses stream back as the engine sends them (`logs -f`, `stats`, `pull`), headers and
//!   status untouched.
//! - Hijacked connections (`attach`, `exec -it`, `start --attach`: `Connection: Upgrade`,
//!   `Upgrade: tcp`) answer the engine's `101` and then splice the two connections in both
//!   directions, half-closes included, until either side ends.
//! - A dead engine answers at once with a 503 naming the socket; one that accepts but does not
//!   answer gets [`DEFAULT_HEADER_TIMEOUT`] (plus a request's own `t`/`timeout` seconds, as a
//!   `stop` waits that long before answering) and then a 504. Neither hangs the client.
//! - Nobody gets more than the engine socket gives: the shoal socket is root-only, as the
//!   engine's socket is (see [`crate::socket::SOCKET_MODE`]).

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Connecting to a local socket is instant unless the engine is wedged.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the engine may take to start answering. Long engine operations either stream
/// (pull, build, logs: headers come first) or are bounded by a timeout the client passes,
/// which is added; prunes on a large host are the slowest of the rest.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(120);

/// The path and query a client sent, before the version prefix was stripped for routing.
#[derive(Debug, Clone)]
pub struct RequestedUri(pub Uri);

/// The node's engine API socket, as seen by the passthrough and the merged routes.
#[derive(Debug)]
pub struct EngineProxy {
    socket: PathBuf,
    connect_timeout: Duration,
    header_timeout: Duration,
    /// The engine's maximum API version, learned on first use.
    max_version: OnceCell<(u32, u32)>,
}

impl EngineProxy {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_version: OnceCell::new(),
        }
    }

    /// The same with other bounds (tests use short ones).
    pub fn with_timeouts(mut self, connect: Duration, header: Duration) -> Self {
        self.connect_timeout = connect;
        self.header_timeout = header;
        self
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn unreachable(&self, why: impl std::fmt::Display) -> ApiError {
        ApiError::unavailable(format!(
            "Cannot connect to the container engine at unix://{}: {why}. Is the engine running?",
            self.socket.display()
        ))
    }

    /// Sends one request and waits for the response head within the bounds.
    async fn send(
        &self,
        req: http::Request<Body>,
        extra_wait: Duration,
    ) -> Result<http::Response<hyper::body::Incoming>, ApiError> {
        let stream = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::UnixStream::connect(&self.socket),
        )
        .await
        .map_err(|_| self.unreachable("timed out connecting"))?
        .map_err(|e| self.unreachable(e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.unreachable(e))?;
        // The connection task ends when the response (or the upgraded stream) is done with
        // it: it owns nothing but this one connection, so it is not joined.
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "engine connection ended with an error");
            }
        });
        let wait = self.header_timeout + extra_wait;
        match tokio::time::timeout(wait, sender.send_request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(self.unreachable(e)),
            Err(_) => Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the container engine at unix://{} did not answer within {}s",
                    self.socket.display(),
                    wait.as_secs()
                ),
            )),
        }
    }

    /// The engine's maximum API version (from its `/version`), cached once known.
    async fn max_version(&self) -> Option<(u32, u32)> {
        self.max_version
            .get_or_try_init(|| async {
                let v = self.get_json("/version").await?;
                v["ApiVersion"]
                    .as_str()
                    .and_then(parse_version)
                    .ok_or_else(|| ApiError::internal("the engine's /version has no ApiVersion"))
            })
            .await
            .ok()
            .copied()
    }

    /// `GET path` on the engine, decoded as JSON; the engine's own error when it refuses.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, ApiError> {
        self.call_json(http::Method::GET, path).await
    }

    /// `method path` (no body) on the engine, its JSON answer (`null` when empty); the engine's
    /// own status and message when it refuses.
    pub async fn call_json(
        &self,
        method: http::Method,
        path: &str,
    ) -> Result<serde_json::Value, ApiError> {
        use http_body_util::BodyExt;
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "docker")
            .body(Body::empty())
            .map_err(|e| ApiError::internal(format!("bad engine request {path}: {e}")))?;
        let resp = self.send(req, Duration::ZERO).await?;
        let status = resp.status();
        let body = tokio::time::timeout(self.header_timeout, resp.into_body().collect())
            .await
            .map_err(|_| self.unreachable(format!("timed out reading {path}")))?
            .map_err(|e| self.unreachable(e))?
            .to_bytes();
        let value: serde_json::Value = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                ApiError::internal(format!("the engine's answer to {path} is not JSON: {e}"))
            })?
        };
        if !status.is_success() {
            let msg = value["message"]
                .as_str()
                .unwrap_or("engine error")
                .to_string();
            return Err(ApiError::new(status, msg));
        }
        Ok(value)
    }

    /// `GET path` on the engine as a stream of whole lines (newline included), for
    /// newline-delimited JSON streams such as `/events`; the engine's error when it refuses.
    pub async fn stream_lines(
        &self,
        path: &str,
    ) -> Result<futures::stream::BoxStream<'static, bytes::Bytes>, ApiError> {
        use futures::StreamExt;
        use http_body_util::BodyExt;
        let req = http::Request::get(path)
            .header(header::HOST, "docker")
            .body(Body::empty())
            .map_err(|e| ApiError::internal(format!("bad engine request {path}: {e}")))?;
        let resp = self.send(req, Duration::ZERO).await?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let msg = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(ApiError::new(status, msg));
        }
        let frames = resp.into_body().into_data_stream();
        let lines = futures::stream::unfold(
            (frames, Vec::<u8>::new()),
            |(mut frames, mut buf)| async move {
                loop {
                    if let Some(i) = buf.iter().position(|b| *b == b'\n') {
                        let rest = buf.split_off(i + 1);
                        return Some((bytes::Bytes::from(buf), (frames, rest)));
                    }
                    match frames.next().await {
                        Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                        // The engine ended the stream (or the connection broke): a partial
                        // last line is not a message.
                        _ => return None,
                    }
                }
            },
        );
        Ok(lines.boxed())
    }

    /// Forwards `req` as described in the module docs.
    pub async fn forward(&self, mut req: Request) -> Result<Response, ApiError> {
        let original = req
            .extensions()
            .get::<RequestedUri>()
            .map(|r| r.0.clone())
            .unwrap_or_else(|| req.uri().clone());
        let path = match original.path().strip_prefix("/v").and_then(split_version) {
            Some((v, tail)) => {
                let v = match self.max_version().await {
                    Some(max) if v > max => max,
                    _ => v,
                };
                format!("/v{}.{}{tail}", v.0, v.1)
            }
            None => original.path().to_string(),
        };
        let pq = match original.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let extra_wait = Duration::from_secs(client_timeout(original.query()));
        let client_upgrade = wants_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let mut out = http::Request::builder()
            .method(parts.method)
            .uri(pq.as_str())
            .body(body)
            .map_err(|e| ApiError::bad_request(format!("cannot forward {pq}: {e}")))?;
        *out.headers_mut() = parts.headers;
        out.headers_mut()
            .entry(header::HOST)
            .or_insert(HeaderValue::from_static("docker"));
        let mut resp = self.send(out, extra_wait).await?;
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client) = client_upgrade else {
                return Err(ApiError::internal(
                    "the engine switched protocols on a request that did not ask to",
                ));
            };
            let engine = hyper::upgrade::on(&mut resp);
            tokio::spawn(splice(client, engine));
            let (parts, _) = resp.into_parts();
            return Ok(Response::from_parts(parts, Body::empty()));
        }
        let (parts, body) = resp.into_parts();
        Ok(Response::from_parts(parts, Body::new(body)))
    }
}

/// The router's fallback: forward to the engine, or Docker's 404 when this node has none.
pub async fn fallback(State(backend): State<crate::routes::AppState>, req: Request) -> Response {
    match backend.engine() {
        Some(engine) => match engine.forward(req).await {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
        },
        None => ApiError::not_found("page not found").into_response(),
    }
}

/// Copies both ways between the client's and the engine's upgraded connections until both
/// directions are closed. Owned by the two connections: it ends when they do.
async fn splice(client: hyper::upgrade::OnUpgrade, engine: hyper::upgrade::OnUpgrade) {
    let (client, engine) = match tokio::try_join!(client, engine) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "hijacked connection was not upgraded");
            return;
        }
    };
    let (mut client, mut engine) = (TokioIo::new(client), TokioIo::new(engine));
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut engine).await {
        tracing::debug!(error = %e, "hijacked connection ended with an error");
    }
}

fn wants_upgrade(h: &http::HeaderMap) -> bool {
    h.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
    }) && h.contains_key(header::UPGRADE)
}

/// The seconds a request itself asks the engine to wait (`stop?t=`, `restart?timeout=`).
fn client_timeout(query: Option<&str>) -> u64 {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == "t" || k == "timeout")
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

/// `"1.44"` → `(1, 44)`.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (maj, min) = v.split_once('.')?;
    Some((maj.parse().ok()?, min.parse().ok()?))
}

/// `"1.44/containers/json"` → `((1, 44), "/containers/json")`.
fn split_version(rest: &str) -> Option<((u32, u32), &str)> {
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    Some((parse_version(ver)?, tail))
}

#[cfg(test)]
#[path = "passthrough_tests.rs"]
mod tests;
