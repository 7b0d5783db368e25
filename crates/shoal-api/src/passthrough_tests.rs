//! The passthrough against a fake engine on a Unix socket, through the real router and
//! listener: the version prefix, streamed bodies, an upgraded connection, a dead engine and
//! one that never answers.

use super::*;
use crate::backend::{Backend, LocalState, LogRequest, LogStream};
use futures::StreamExt;
use futures::future::BoxFuture;
use shoal_manager::control::Control;
use shoal_types::requests::{InitRequest, JoinRequest};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A node outside any swarm whose engine is `engine`.
struct EngineOnly(Arc<EngineProxy>);

impl Backend for EngineOnly {
    fn local_state(&self) -> LocalState {
        LocalState::Inactive
    }
    fn control(&self) -> Result<Arc<Control>, ApiError> {
        Err(ApiError::unavailable(crate::error::NOT_A_MANAGER))
    }
    fn info(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async { serde_json::json!({"Swarm": {"LocalNodeState": "inactive"}}) })
    }
    fn version(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async { serde_json::json!({"Version": "0.1.0", "ApiVersion": "1.44"}) })
    }
    fn init(&self, _req: InitRequest) -> BoxFuture<'_, Result<String, ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("not in this test")) })
    }
    fn join(&self, _req: JoinRequest) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("not in this test")) })
    }
    fn leave(&self, _force: bool) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("not in this test")) })
    }
    fn unlock(&self, _key: String) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("not in this test")) })
    }
    fn distribution(&self, _name: String) -> BoxFuture<'_, Result<serde_json::Value, ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("not in this test")) })
    }
    fn task_logs(
        &self,
        _task: shoal_types::Task,
        _req: LogRequest,
    ) -> BoxFuture<'_, Result<LogStream, ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("not in this test")) })
    }
    fn engine(&self) -> Option<Arc<EngineProxy>> {
        Some(self.0.clone())
    }
}

/// A temp dir removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "shoal-passthrough-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        // A leftover of an earlier run would only make the create below fail.
        let _ = std::fs::remove_dir_all(&p);
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // Teardown of a temp dir: nothing to do if it is already gone.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fake engine: speaks API 1.41, echoes the path it got, streams, and upgrades
/// `/hijack` into an echo of whatever the client sends, upper-cased.
fn fake_engine() -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/version",
            get(|| async { axum::Json(serde_json::json!({"ApiVersion": "1.41"})) }),
        )
        .route(
            "/v1.41/version",
            get(|| async { axum::Json(serde_json::json!({"ApiVersion": "1.41"})) }),
        )
        .fallback(|req: Request| async move {
            let path = req.uri().path().to_string();
            let query = req.uri().query().unwrap_or("").to_string();
            if path.ends_with("/hijack") {
                let mut req = req;
                let up = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    if let Ok(up) = up.await {
                        let mut io = TokioIo::new(up);
                        let mut buf = Vec::new();
                        // Reads to the client's half-close, then answers and closes.
                        if io.read_to_end(&mut buf).await.is_ok() {
                            let _ = io.write_all(&buf.to_ascii_uppercase()).await;
                            let _ = io.shutdown().await;
                        }
                    }
                });
                return Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .header(header::CONNECTION, "Upgrade")
                    .header(header::UPGRADE, "tcp")
                    .body(Body::empty())
                    .unwrap_or_default();
            }
            if path.ends_with("/stream") {
                let chunks = futures::stream::iter(["one\n", "two\n"]).then(|c| async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, std::io::Error>(bytes::Bytes::from(c))
                });
                return Response::new(Body::from_stream(chunks));
            }
            let mut resp = format!("{} {path}?{query}", req.method()).into_response();
            resp.headers_mut()
                .insert("Api-Version", HeaderValue::from_static("1.41"));
            resp
        })
}

/// Starts the fake engine (unless `engine` is `None`) and shoal's router, returning the
/// shoal socket path.
async fn start(dir: &Dir, engine: Option<axum::Router>, proxy: EngineProxy) -> PathBuf {
    let shoal = dir.0.join("shoal.sock");
    if let Some(router) = engine {
        // Served without shoal's version handling: the engine sees paths as sent.
        std::fs::create_dir_all(&dir.0).ok();
        let Ok(listener) = tokio::net::UnixListener::bind(dir.0.join("engine.sock")) else {
            panic!("cannot bind the fake engine");
        };
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
    }
    let backend: crate::routes::AppState = Arc::new(EngineOnly(Arc::new(proxy)));
    let socket = match crate::ApiSocket::claim(&shoal) {
        Ok(s) => s,
        Err(e) => panic!("cannot claim the shoal socket: {e}"),
    };
    tokio::spawn(async move {
        let _ = crate::serve_unix(socket, crate::router(backend), std::future::pending()).await;
    });
    for _ in 0..100 {
        if shoal.exists() && (dir.0.join("engine.sock").exists()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shoal
}

/// One raw HTTP/1.0 exchange on `sock`; the whole answer.
async fn raw(sock: &Path, request: &str) -> String {
    let mut s = match tokio::net::UnixStream::connect(sock).await {
        Ok(s) => s,
        Err(e) => return format!("connect failed: {e}"),
    };
    if s.write_all(request.as_bytes()).await.is_err() {
        return "write failed".into();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn unserved_routes_reach_the_engine_with_their_version_prefix() {
    let dir = Dir::new("prefix");
    let proxy = EngineProxy::new(dir.0.join("engine.sock"));
    let sock = start(&dir, Some(fake_engine()), proxy).await;
    let got = raw(&sock, "GET /v1.40/containers/json?all=1 HTTP/1.0\r\n\r\n").await;
    assert!(got.contains("GET /v1.40/containers/json?all=1"), "{got}");
    assert!(
        got.contains("api-version: 1.41"),
        "engine headers kept: {got}"
    );
    // Newer than the engine speaks: lowered to its maximum.
    let got = raw(&sock, "POST /v1.44/containers/x/stop?t=1 HTTP/1.0\r\n\r\n").await;
    assert!(got.contains("POST /v1.41/containers/x/stop?t=1"), "{got}");
    let got = raw(&sock, "DELETE /images/busybox HTTP/1.0\r\n\r\n").await;
    assert!(got.contains("DELETE /images/busybox?"), "{got}");
    // The routes that may attach containers to swarm networks pass through untouched on a
    // node that attaches none (outside a swarm, or without an overlay data plane).
    for (method, path) in [
        ("GET", "/v1.44/containers/json"),
        ("DELETE", "/v1.44/containers/c1"),
        ("POST", "/v1.44/containers/create"),
        ("POST", "/v1.44/networks/front/connect"),
        ("POST", "/v1.44/networks/front/disconnect"),
    ] {
        let got = raw(
            &sock,
            &format!("{method} {path} HTTP/1.0\r\nContent-Length: 2\r\n\r\n{{}}"),
        )
        .await;
        let lowered = path.replace("v1.44", "v1.41");
        assert!(got.contains(&format!("{method} {lowered}?")), "{got}");
    }
    let got = raw(
        &sock,
        "GET /v1.44/logs/stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(got.contains("one\n") && got.contains("two\n"), "{got}");
}

#[tokio::test]
async fn an_upgraded_connection_is_spliced_both_ways() {
    let dir = Dir::new("hijack");
    let proxy = EngineProxy::new(dir.0.join("engine.sock"));
    let sock = start(&dir, Some(fake_engine()), proxy).await;
    let Ok(mut s) = tokio::net::UnixStream::connect(&sock).await else {
        panic!("shoal socket did not accept");
    };
    let req = "POST /v1.44/exec/abc/hijack HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n";
    assert!(s.write_all(req.as_bytes()).await.is_ok());
    // Read the 101 head.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "head ended early ({other:?}): {}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(s.write_all(b"hello engine").await.is_ok());
    assert!(s.shutdown().await.is_ok(), "half-close towards the engine");
    let mut back = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut back)).await;
    assert!(
        matches!(read, Ok(Ok(_))),
        "the engine's answer and close came back"
    );
    assert_eq!(back, b"HELLO ENGINE");
}

#[tokio::test]
async fn a_dead_engine_answers_503_at_once() {
    let dir = Dir::new("dead");
    std::fs::create_dir_all(&dir.0).ok();
    // A socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(
        dir.0.join("engine.sock"),
    ));
    let proxy = EngineProxy::new(dir.0.join("engine.sock"));
    let sock = start(&dir, None, proxy).await;
    let started = std::time::Instant::now();
    let got = raw(&sock, "GET /v1.44/containers/json HTTP/1.0\r\n\r\n").await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        got.starts_with("HTTP/1.0 503") || got.starts_with("HTTP/1.1 503"),
        "{got}"
    );
    assert!(
        got.contains("Cannot connect to the container engine at unix://"),
        "{got}"
    );
}

#[tokio::test]
async fn an_engine_that_never_answers_gives_504_after_the_bound() {
    let dir = Dir::new("slow");
    std::fs::create_dir_all(&dir.0).ok();
    let Ok(listener) = tokio::net::UnixListener::bind(dir.0.join("engine.sock")) else {
        panic!("cannot bind the silent engine");
    };
    // Accepts and keeps connections open without a word.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let proxy = EngineProxy::new(dir.0.join("engine.sock"))
        .with_timeouts(Duration::from_secs(1), Duration::from_millis(300));
    let sock = start(&dir, None, proxy).await;
    let started = std::time::Instant::now();
    let got = raw(&sock, "GET /containers/json HTTP/1.0\r\n\r\n").await;
    assert!(started.elapsed() < Duration::from_secs(3), "bounded wait");
    assert!(got.contains(" 504 "), "{got}");
    assert!(got.contains("did not answer within"), "{got}");
    // `stop?t=1` waits a second more before giving up, as the engine may take that long.
    let started = std::time::Instant::now();
    let got = raw(&sock, "POST /containers/x/stop?t=1 HTTP/1.0\r\n\r\n").await;
    assert!(started.elapsed() >= Duration::from_millis(1300), "{got}");
    assert!(got.contains(" 504 "), "{got}");
}
