//! [`ClusterServer`]: accepts TCP connections on the cluster port, does the TLS handshake with
//! the current config, reads the peer's identity from its certificate and serves the router
//! over HTTP/1.1 or HTTP/2 (auto-detected from the preface; clients use HTTP/2).

use std::sync::Arc;
use std::time::Duration;

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
use crate::routes::{AppState, router};
use crate::tls::TlsSource;

/// A peer must finish the TLS handshake within this, so a silent client cannot hold a
/// connection slot.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
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
    pub async fn serve(
        listener: TcpListener,
        tls: Arc<dyn TlsSource>,
        handler: Arc<dyn ClusterHandler>,
        cancel: CancellationToken,
    ) -> Result<(), ServerError> {
        let local = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "<unknown>".into());
        let router = router(AppState {
            handler,
            cancel: cancel.clone(),
        });
        let mut http = auto::Builder::new(TokioExecutor::new());
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
                        let conn = Connection {
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

/// One accepted TCP connection.
struct Connection {
    acceptor: TlsAcceptor,
    router: axum::Router,
    http: Arc<auto::Builder<TokioExecutor>>,
    cancel: CancellationToken,
    remote: String,
}

impl Connection {
    async fn run(self, tcp: TcpStream) {
        let remote = self.remote;
        let tls = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return,
            r = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)) => r,
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
        let router = self.router;
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(peer.clone());
            router.clone().oneshot(req)
        });
        let conn = self.http.serve_connection(TokioIo::new(tls), service);
        tokio::pin!(conn);
        let served = tokio::select! {
            biased;
            () = self.cancel.cancelled() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
            r = conn.as_mut() => r,
        };
        if let Err(e) = served {
            tracing::debug!(%remote, error = %e, "cluster connection ended with an error");
        }
    }
}
