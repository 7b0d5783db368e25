//! A small Engine API client over the daemon's Unix socket.
//!
//! It behaves like the docker CLI's client: `HEAD /_ping` once per invocation (negotiating the
//! API version from the `Api-Version` header), then `/v1.44/...` paths. One HTTP/1.1
//! connection per request keeps it simple; the CLI makes a handful of requests per command.
//!
//! Errors are [`ApiError`], so `run` can print them exactly as docker does.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

/// The API version shoal speaks (see `reference/engine-api-swarm.md` §1.2).
pub const API_VERSION: &str = "1.44";

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// The socket is missing or refuses connections.
    Connect { path: PathBuf },
    /// The socket exists but this user may not connect to it (EACCES).
    PermissionDenied { path: PathBuf },
    /// The daemon answered with a status ≥ 400; `message` is its `{"message"}` text.
    Daemon { status: u16, message: String },
    /// The answer could not be read or decoded.
    Protocol(String),
}

impl ApiError {
    /// True for a 404 from the daemon; the docker CLI branches on exactly this.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Daemon { status: 404, .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Connect { path } => write!(
                f,
                "Cannot connect to the shoal daemon at unix://{}. Is the shoal daemon running?",
                path.display()
            ),
            ApiError::PermissionDenied { path } => write!(
                f,
                "permission denied while trying to connect to the shoal daemon socket at unix://{}: connect: permission denied",
                path.display()
            ),
            ApiError::Daemon { message, .. } => write!(f, "Error response from daemon: {message}"),
            ApiError::Protocol(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for ApiError {}

/// The error for a failed connect to `path`: a permission problem is said as such (as the
/// docker CLI does), anything else means no daemon answers there.
fn connect_error(path: &std::path::Path, e: &std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        ApiError::PermissionDenied {
            path: path.to_path_buf(),
        }
    } else {
        ApiError::Connect {
            path: path.to_path_buf(),
        }
    }
}

/// True when `err` (anywhere in its chain) is a daemon 404.
pub fn is_not_found(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ApiError>()
        .is_some_and(ApiError::is_not_found)
}

/// A response whose body is still arriving, with the connection that carries it.
pub struct Streaming {
    pub body: Incoming,
    /// Drives the connection; aborted when the stream is dropped.
    conn: JoinHandle<()>,
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

/// An Engine API client bound to one socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    version: String,
}

impl Client {
    /// A client for `socket`; call [`Client::ping`] before the first request.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client {
            socket: socket.into(),
            version: API_VERSION.to_string(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The negotiated API version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `HEAD /_ping` (falling back to `GET`), then negotiates the version as docker does:
    /// the lower of the server's `Api-Version` and ours.
    pub async fn ping(&mut self) -> Result<(), ApiError> {
        let mut resp = self.send(Method::HEAD, "/_ping", None).await?;
        if resp.0 != StatusCode::OK {
            resp = self.send(Method::GET, "/_ping", None).await?;
        }
        if let Some(server) = resp.1.get("api-version").and_then(|v| v.to_str().ok())
            && version_less(server, API_VERSION)
        {
            self.version = server.to_string();
        }
        Ok(())
    }

    fn versioned(&self, path: &str) -> String {
        format!("/v{}{}", self.version, path)
    }

    /// Opens a connection and sends one request; the connection task is returned so the
    /// caller decides how long it lives.
    async fn open(
        &self,
        method: Method,
        uri: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(http::Response<Incoming>, JoinHandle<()>), ApiError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| connect_error(&self.socket, &e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ApiError::Protocol(format!("error during connect: {e}")))?;
        let conn = tokio::spawn(async move {
            // The connection ends with the response or with an I/O error that the request
            // future reports itself; nothing is lost by ignoring it here.
            let _ = conn.await;
        });
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("Host", "api.moby.localhost")
            .header(
                "User-Agent",
                concat!("shoal-cli/", env!("CARGO_PKG_VERSION")),
            );
        let body = match body {
            Some(b) => {
                builder = builder.header("Content-Type", "application/json");
                Full::new(Bytes::from(b))
            }
            None => Full::new(Bytes::new()),
        };
        let req = builder
            .body(body)
            .map_err(|e| ApiError::Protocol(format!("invalid request: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ApiError::Protocol(format!("error during request: {e}")))?;
        Ok((resp, conn))
    }

    /// Sends a request and reads the whole answer, without interpreting the status.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes), ApiError> {
        let (resp, conn) = self.open(method, uri, body).await?;
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.map(|c| c.to_bytes());
        conn.abort();
        let bytes =
            bytes.map_err(|e| ApiError::Protocol(format!("error reading response: {e}")))?;
        Ok((parts.status, parts.headers, bytes))
    }

    /// A versioned request; statuses ≥ 400 become [`ApiError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ApiError> {
        let (status, headers, bytes) = self.send(method, &self.versioned(path), body).await?;
        if status.as_u16() >= 400 {
            return Err(daemon_error(status, &headers, &bytes));
        }
        Ok(bytes)
    }

    /// `GET` returning the raw body (for inspect, which prints the daemon's JSON as is).
    pub async fn get_raw(&self, path: &str) -> Result<Bytes, ApiError> {
        self.request(Method::GET, path, None).await
    }

    /// `GET` decoded into `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        decode(&self.get_raw(path).await?)
    }

    /// `POST` with a JSON body; the answer decoded into `T` (use `serde_json::Value` or `()`
    /// via [`Client::post`] when the daemon answers with an empty body).
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        decode(&self.post(path, Some(body)).await?)
    }

    /// `POST`, optionally with a JSON body, returning the raw answer.
    pub async fn post<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<Bytes, ApiError> {
        let body = match body {
            Some(b) => Some(
                serde_json::to_vec(b)
                    .map_err(|e| ApiError::Protocol(format!("encoding request: {e}")))?,
            ),
            None => None,
        };
        self.request(Method::POST, path, body).await
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str) -> Result<(), ApiError> {
        self.request(Method::DELETE, path, None).await.map(|_| ())
    }

    /// `GET` whose body is read incrementally (logs).
    pub async fn get_stream(&self, path: &str) -> Result<Streaming, ApiError> {
        let (resp, conn) = self.open(Method::GET, &self.versioned(path), None).await?;
        let (parts, body) = resp.into_parts();
        if parts.status.as_u16() >= 400 {
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            conn.abort();
            return Err(daemon_error(parts.status, &parts.headers, &bytes));
        }
        Ok(Streaming { body, conn })
    }
}

/// Decodes a JSON answer.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Protocol(format!("error decoding daemon response: {e}")))
}

/// Builds the error docker would show: the `message` of a JSON body, else the body text,
/// else the status text.
fn daemon_error(status: StatusCode, headers: &http::HeaderMap, body: &[u8]) -> ApiError {
    let is_json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut message = None;
    if is_json && let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        message = v
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string);
    }
    let message = message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body).trim().to_string();
        if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("unknown error")
                .to_lowercase()
        } else {
            text
        }
    });
    ApiError::Daemon {
        status: status.as_u16(),
        message,
    }
}

/// Compares dotted versions numerically (`1.9` < `1.44`).
fn version_less(a: &str, b: &str) -> bool {
    let parse = |s: &str| {
        s.split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    parse(a) < parse(b)
}

/// Builds query strings the way Go's `url.Values.Encode` does (keys sorted by the caller).
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// Go's `url.QueryEscape` leaves these unescaped.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl Query {
    pub fn new() -> Self {
        Query::default()
    }

    pub fn push(mut self, key: &str, value: impl Into<String>) -> Self {
        self.pairs.push((key.to_string(), value.into()));
        self
    }

    /// Adds `key=value` only when `cond` holds.
    pub fn push_if(self, cond: bool, key: &str, value: impl Into<String>) -> Self {
        if cond { self.push(key, value) } else { self }
    }

    /// `path?k=v&…`, or `path` when there is nothing to add.
    pub fn to_path(&self, path: &str) -> String {
        if self.pairs.is_empty() {
            return path.to_string();
        }
        let qs: Vec<String> = self
            .pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    percent_encoding::utf8_percent_encode(k, QUERY),
                    percent_encoding::utf8_percent_encode(v, QUERY)
                )
            })
            .collect();
        format!("{path}?{}", qs.join("&"))
    }
}

/// Escapes one path segment (a name or id given by the user).
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_escape_json_filters() {
        let q = Query::new().push("filters", r#"{"role":{"manager":true}}"#);
        assert_eq!(
            q.to_path("/nodes"),
            "/nodes?filters=%7B%22role%22%3A%7B%22manager%22%3Atrue%7D%7D"
        );
        assert_eq!(Query::new().to_path("/nodes"), "/nodes");
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_less("1.9", "1.44"));
        assert!(!version_less("1.44", "1.44"));
        assert!(!version_less("1.45", "1.44"));
    }

    #[test]
    fn daemon_errors_use_the_json_message() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().expect("header"),
        );
        let e = daemon_error(
            StatusCode::NOT_FOUND,
            &h,
            br#"{"message":"service web not found"}"#,
        );
        assert!(e.is_not_found());
        assert_eq!(
            e.to_string(),
            "Error response from daemon: service web not found"
        );
        let e = daemon_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &http::HeaderMap::new(),
            b"boom\n",
        );
        assert_eq!(e.to_string(), "Error response from daemon: boom");
    }

    #[test]
    fn eacces_on_the_socket_says_permission_denied() {
        let path = std::path::Path::new("/run/shoal/shoal.sock");
        let e = connect_error(
            path,
            &std::io::Error::from_raw_os_error(13), // EACCES
        );
        assert_eq!(
            e.to_string(),
            "permission denied while trying to connect to the shoal daemon socket at unix:///run/shoal/shoal.sock: connect: permission denied"
        );
        let e = connect_error(path, &std::io::Error::from_raw_os_error(111)); // ECONNREFUSED
        assert!(
            e.to_string().contains("Is the shoal daemon running?"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_missing_socket_is_a_connect_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("none.sock");
        let mut c = Client::new(&path);
        let err = c.ping().await.expect_err("no daemon");
        assert_eq!(
            err.to_string(),
            format!(
                "Cannot connect to the shoal daemon at unix://{}. Is the shoal daemon running?",
                path.display()
            )
        );
    }
}
