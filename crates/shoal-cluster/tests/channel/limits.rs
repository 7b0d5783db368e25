//! What an anonymous peer can make the server hold: body limits enforced while reading,
//! caps on unauthenticated connections, handshake and idle timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use shoal_cluster::ConnLimits;
use shoal_cluster::wire::path;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

use crate::common::{FakeHandler, Pki, Script, TEST_TIMEOUT, TestServer};

type StreamedBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// An HTTP/2 connection without a client certificate (what a joining node, or anyone, has).
async fn anonymous(pki: &Pki, addr: SocketAddr) -> http2::SendRequest<StreamedBody> {
    let config = shoal_ca::pinned_client_config(pki.root.digest()).expect("pinned config");
    let tcp = TcpStream::connect(addr).await.expect("tcp");
    let name = ServerName::try_from(shoal_ca::MANAGER_SERVER_NAME).expect("name");
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("tls handshake");
    let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    sender
}

/// A body that never ends, counting the bytes the server pulled from it.
fn endless_body(pulled: Arc<AtomicUsize>) -> StreamedBody {
    const CHUNK: usize = 16 * 1024;
    let chunk = Bytes::from(vec![b' '; CHUNK]);
    let frames = futures::stream::repeat_with(move || {
        pulled.fetch_add(CHUNK, Ordering::SeqCst);
        Ok::<_, std::convert::Infallible>(Frame::data(chunk.clone()))
    });
    BodyExt::boxed(StreamBody::new(frames))
}

#[tokio::test]
async fn an_endless_anonymous_join_body_is_refused_after_a_few_kib_not_buffered() {
    let pki = Pki::new();
    let server = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
    )
    .await;
    let mut sender = anonymous(&pki, server.addr).await;
    let pulled = Arc::new(AtomicUsize::new(0));
    let req = http::Request::post(format!("https://swarm-manager{}", path::JOIN_SIGN))
        .header("content-type", "application/json")
        .body(endless_body(pulled.clone()))
        .expect("request");
    let resp = tokio::time::timeout(TEST_TIMEOUT, sender.send_request(req))
        .await
        .expect("an answer before the body ends (it never does)")
        .expect("response");
    assert_eq!(resp.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("exceeds its limit of 65536 bytes"), "{text}");
    // The server reads at most the limit; what else was pulled sits in HTTP/2 flow-control
    // windows (about 1 MiB), never tens of MiB.
    let n = pulled.load(Ordering::SeqCst);
    assert!(n < 4 * 1024 * 1024, "server let the client send {n} bytes");
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_before_reading() {
    let pki = Pki::new();
    let server = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
    )
    .await;
    let mut sender = anonymous(&pki, server.addr).await;
    let pulled = Arc::new(AtomicUsize::new(0));
    let req = http::Request::post(format!("https://swarm-manager{}", path::JOIN_SIGN))
        .header("content-length", (60 * 1024 * 1024).to_string())
        .body(endless_body(pulled.clone()))
        .expect("request");
    let resp = tokio::time::timeout(TEST_TIMEOUT, sender.send_request(req))
        .await
        .expect("an answer in time")
        .expect("response");
    assert_eq!(resp.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    let n = pulled.load(Ordering::SeqCst);
    assert!(n < 4 * 1024 * 1024, "server let the client send {n} bytes");
}

/// A TCP connection from `source` that never says anything.
async fn silent_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("source"))
        .expect("bind source");
    socket.connect(to).await.expect("connect")
}

/// Whether the server closes `conn` within `within` (EOF or reset on read).
async fn closed_within(conn: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(within, conn.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => panic!("the server sent bytes to a client that never said hello"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn unauthenticated_connections_are_capped_per_source_and_nodes_still_get_in() {
    let pki = Pki::new();
    let limits = ConnLimits {
        max_unauthenticated: 6,
        max_unauthenticated_per_source: 3,
        ..ConnLimits::default()
    };
    let server = TestServer::start_with(
        "127.0.0.1:0",
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
        limits,
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(silent_from("127.0.0.2", server.addr).await);
    }
    let mut over = silent_from("127.0.0.2", server.addr).await;
    assert!(
        closed_within(&mut over, TEST_TIMEOUT).await,
        "a 4th silent connection from one address was kept open"
    );
    for conn in &mut held {
        assert!(
            !closed_within(conn, Duration::from_millis(200)).await,
            "an admitted connection was closed before its handshake timeout"
        );
    }
    // Another address is under its own cap; a node's client gets through.
    let client = pki.client(&pki.manager);
    let vote = openraft::raft::VoteRequest::new(shoal_raft::types::Vote::new(1, 1), None);
    client
        .raft_vote(&server.addr(), &vote, TEST_TIMEOUT)
        .await
        .expect("a node connects while one address is at its cap");

    // Fill the total cap from a third address: now every new unauthenticated connection is
    // closed, from any address.
    for _ in 0..2 {
        held.push(silent_from("127.0.0.3", server.addr).await);
    }
    // The node's connection above is pooled and authenticated: it no longer holds a slot.
    held.push(silent_from("127.0.0.4", server.addr).await);
    let mut over = silent_from("127.0.0.5", server.addr).await;
    assert!(
        closed_within(&mut over, TEST_TIMEOUT).await,
        "a connection past the total cap was kept open"
    );
    // Closing held connections frees their places.
    held.clear();
    let mut again = silent_from("127.0.0.2", server.addr).await;
    assert!(
        !closed_within(&mut again, Duration::from_millis(300)).await,
        "a freed place was not given back"
    );
}

#[tokio::test]
async fn silent_and_idle_anonymous_connections_are_closed() {
    let pki = Pki::new();
    let limits = ConnLimits {
        handshake_timeout: Duration::from_millis(300),
        anonymous_idle_timeout: Duration::from_millis(500),
        ..ConnLimits::default()
    };
    let server = TestServer::start_with(
        "127.0.0.1:0",
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
        limits,
    )
    .await;
    let mut silent = silent_from("127.0.0.2", server.addr).await;
    assert!(
        closed_within(&mut silent, TEST_TIMEOUT).await,
        "a connection that never started its handshake was kept open"
    );

    let mut sender = anonymous(&pki, server.addr).await;
    let req = http::Request::post(format!("https://swarm-manager{}", path::JOIN_CA))
        .body(BodyExt::boxed(http_body_util::Full::new(
            Bytes::from_static(b"{}"),
        )))
        .expect("request");
    let resp = sender.send_request(req).await.expect("root CA");
    assert_eq!(resp.status(), http::StatusCode::OK);
    drop(resp);
    let closed = poll_until(TEST_TIMEOUT, || sender.is_closed()).await;
    assert!(closed, "an idle anonymous connection was kept open");
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
async fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}
