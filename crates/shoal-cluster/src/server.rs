//! [`ClusterServer`]: accepts TCP connections on the cluster port, does the TLS handshake with
//! the current config, reads the peer's identity from its certificate and serves the router
//! over HTTP/1.1 or HTTP/2 (auto-detected from the preface; clients use HTTP/2).
//!
//! What a peer may hold is bounded by [`ConnLimits`] (values and reasons in
//! [`crate::limits`]): connections without a node certificate are admitted only under a
//! total and a per-source cap, must finish the handshake in time, and are closed when idle or
//! past their lifetime; node connections are closed when idle for long.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::BodyExt;
use parking_lot::Mutex;
use tokio::time::Instant;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::auth::PeerIdentity;
use crate::error::ServerError;
use crate::handler::ClusterHandler;
pub use crate::limits::HANDSHAKE_TIMEOUT;
use crate::limits::{Admission, ConnLimits, Slot};
use crate::routes::{AppState, router};
use crate::tls::TlsSource;

/// HTTP/2 pings on idle connections, so a vanished agent's session stream is noticed
/// (SwarmKit's gRPC keepalive plays this role).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// How long an unanswered keepalive ping is tolerated before the connection is closed.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// On shutdown, connections get this long to finish in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The server side of the cluster channel.
pub struct ClusterServer;

impl ClusterServer {
    /// Serves `listener` until `cancel` fires, then lets open connections finish for up to
    /// [`SHUTDOWN_GRACE`]. Each connection is its own task in a [`JoinSet`] owned by this
    /// future; a failed handshake or connection is logged and does not stop the server.
    /// Connections are bounded by [`ConnLimits::default`].
    pub async fn serve(
        listener: TcpListener,
        tls: Arc<dyn TlsSource>,
        handler: Arc<dyn ClusterHandler>,
        cancel: CancellationToken,
    ) -> Result<(), ServerError> {
        Self::serve_with(listener, tls, handler, ConnLimits::default(), cancel).await
    }

    /// [`serve`](Self::serve) with the given connection limits.
    pub async fn serve_with(
        listener: TcpListener,
        tls: Arc<dyn TlsSource>,
        handler: Arc<dyn ClusterHandler>,
        limits: ConnLimits,
        cancel: CancellationToken,
    ) -> Result<(), ServerError> {
        let admission = Admission::new(
            limits.max_unauthenticated,
            limits.max_unauthenticated_per_source,
        );
        let local = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "<unknown>".into());
        let router = router(AppState {
            handler,
            cancel: cancel.clone(),
        });
        let mut http = auto::Builder::new(TokioExecutor::new());
        // A half-sent HTTP/1 request head is dropped like a stalled handshake.
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.handshake_timeout);
        http.http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT);
        let http = Arc::new(http);
        let mut conns = JoinSet::new();
        tracing::info!(addr = %local, "cluster channel listening");
        let result = loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break Ok(()),
                Some(done) = conns.join_next(), if !conns.is_empty() => {
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "cluster connection task failed");
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((tcp, remote)) => {
                        // Every connection counts as unauthenticated until its handshake
                        // shows a node certificate; past the caps it is closed at once.
                        let slot = match admission.admit(remote.ip()) {
                            Ok(slot) => slot,
                            Err(why) => {
                                refused_log(remote.ip(), why);
                                drop(tcp);
                                continue;
                            }
                        };
                        let conn = Connection {
                            slot: Some(slot),
                            limits,
                            acceptor: TlsAcceptor::from(tls.server_config()),
                            router: router.clone(),
                            http: Arc::clone(&http),
                            cancel: cancel.clone(),
                            remote: remote.to_string(),
                        };
                        conns.spawn(conn.run(tcp));
                    }
                    // Per-connection failures (peer reset before accept, fd limits) are
                    // transient; fatal ones repeat, so back off briefly and keep serving.
                    Err(e) if is_transient(&e) => {
                        tracing::warn!(addr = %local, error = %e, "accept failed; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(source) => break Err(ServerError::Accept { addr: local.clone(), source }),
                },
            }
        };
        let drain = async { while conns.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            tracing::warn!(addr = %local, "cluster connections still open after grace; aborting");
            conns.shutdown().await;
        }
        tracing::info!(addr = %local, "cluster channel stopped");
        result
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error().is_some_and(|c| c == 23 || c == 24) // ENFILE, EMFILE
}

/// Logs a refused connection at most once a second, so a flood does not flood the log too.
fn refused_log(source: IpAddr, why: crate::limits::Refusal) {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let now = Instant::now();
    let mut last = LAST.lock();
    if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
        *last = Some(now);
        tracing::warn!(%source, reason = %why, "cluster connection refused (further refusals this second not logged)");
    }
}

/// Requests in flight on one connection and when the last one ended: what the idle timeout
/// is measured from. A streamed answer (a dispatcher session) is in flight until its body
/// is dropped.
struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        })
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    /// When the connection becomes idle-expired if nothing happens before.
    fn idle_deadline(&self, idle: Duration) -> Instant {
        *self.last.lock() + idle
    }

    fn is_idle_for(&self, idle: Duration) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0 && self.last.lock().elapsed() >= idle
    }
}

/// One request in flight; dropped when its answer (body included) is done.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last.lock() = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One accepted TCP connection.
struct Connection {
    /// Held while the peer is not known to be a node.
    slot: Option<Slot>,
    limits: ConnLimits,
    acceptor: TlsAcceptor,
    router: axum::Router,
    http: Arc<auto::Builder<TokioExecutor>>,
    cancel: CancellationToken,
    remote: String,
}

impl Connection {
    async fn run(mut self, tcp: TcpStream) {
        let remote = self.remote;
        let tls = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return,
            r = tokio::time::timeout(self.limits.handshake_timeout, self.acceptor.accept(tcp)) => r,
        };
        let tls = match tls {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::info!(%remote, error = %e, "cluster TLS handshake refused");
                return;
            }
            Err(_) => {
                tracing::info!(%remote, "cluster TLS handshake timed out");
                return;
            }
        };
        let peer = match PeerIdentity::from_chain(tls.get_ref().1.peer_certificates()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%remote, error = %e, "peer certificate names no node; closing");
                return;
            }
        };
        tracing::debug!(%remote, ?peer, "cluster connection established");
        let (idle, lifetime) = match peer {
            PeerIdentity::Node(_) => {
                // A node: no longer counted against the unauthenticated caps.
                self.slot = None;
                (self.limits.node_idle_timeout, None)
            }
            PeerIdentity::Anonymous => (
                self.limits.anonymous_idle_timeout,
                Some(self.limits.anonymous_lifetime),
            ),
        };
        let end_of_life = lifetime.map(|l| Instant::now() + l);
        let activity = Activity::new();
        let router = self.router;
        let tracker = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(peer.clone());
            let guard = tracker.begin();
            let answer = router.clone().oneshot(req);
            async move {
                let resp = answer.await?;
                // The guard lives as long as the answer's body.
                Ok::<_, std::convert::Infallible>(resp.map(|body| {
                    axum::body::Body::new(body.map_frame(move |f| {
                        let _in_flight = &guard;
                        f
                    }))
                }))
            }
        });
        let conn = self.http.serve_connection(TokioIo::new(tls), service);
        tokio::pin!(conn);
        let why_closed = loop {
            let wake = activity.idle_deadline(idle);
            let wake = end_of_life.map_or(wake, |e| wake.min(e));
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => break "server stopping",
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%remote, error = %e, "cluster connection ended with an error");
                    }
                    return;
                }
                () = tokio::time::sleep_until(wake) => {
                    if end_of_life.is_some_and(|e| Instant::now() >= e) {
                        break "anonymous connection lifetime reached";
                    }
                    if activity.is_idle_for(idle) {
                        break "idle timeout";
                    }
                }
            }
        };
        tracing::debug!(%remote, reason = why_closed, "closing cluster connection");
        conn.as_mut().graceful_shutdown();
        // A peer that does not let the connection wind down is dropped after the grace.
        if let Ok(Err(e)) = tokio::time::timeout(SHUTDOWN_GRACE, conn).await {
            tracing::debug!(%remote, error = %e, "cluster connection ended with an error");
        }
    }
}
