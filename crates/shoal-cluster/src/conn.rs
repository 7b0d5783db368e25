//! One HTTP/2 connection per peer address, made on first use and replaced when it closes or
//! when the TLS config changed (certificate rotation). The connection driver tasks are owned
//! by the pool's [`JoinSet`] and stop when the pool is dropped or cancelled.
//!
//! A pool may have a source IP: its connections are bound to it before connecting, so a
//! node listening on a specific address also talks from it (on one host with many
//! `127.x.y.z` nodes, the kernel would otherwise pick `127.0.0.1` for all of them, and a
//! firewall rule could not tell the nodes apart).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking_lot::Mutex;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use shoal_ca::MANAGER_SERVER_NAME;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use crate::error::ClientError;
use crate::server::{KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT};

pub(crate) type Sender = SendRequest<Full<Bytes>>;

struct Entry {
    sender: Sender,
    /// Stops the connection's driver, which closes its socket.
    driver: tokio::task::AbortHandle,
    /// The config the connection was made with; a different current config means the
    /// node's certificate changed and the connection must be remade.
    config: Arc<ClientConfig>,
}

pub(crate) struct Pool {
    conns: Mutex<HashMap<String, Entry>>,
    drivers: Mutex<JoinSet<()>>,
    cancel: CancellationToken,
    /// Local address to connect from, if any (see the module docs).
    source_ip: Option<IpAddr>,
}

impl Pool {
    pub(crate) fn new(source_ip: Option<IpAddr>) -> Self {
        Self {
            conns: Mutex::new(HashMap::new()),
            drivers: Mutex::new(JoinSet::new()),
            cancel: CancellationToken::new(),
            source_ip,
        }
    }

    /// A ready sender to `addr`: the pooled one if still usable, else a new connection.
    /// Returns whether it was reused, so the caller may retry once on a stale connection.
    pub(crate) async fn get(
        &self,
        op: &'static str,
        addr: &str,
        config: Arc<ClientConfig>,
    ) -> Result<(Sender, bool), ClientError> {
        let pooled = self.conns.lock().get(addr).and_then(|e| {
            (Arc::ptr_eq(&e.config, &config) && !e.sender.is_closed()).then(|| e.sender.clone())
        });
        if let Some(sender) = pooled {
            return Ok((sender, true));
        }
        let (sender, driver) = self.connect(op, addr, Arc::clone(&config)).await?;
        self.conns.lock().insert(
            addr.to_owned(),
            Entry {
                sender: sender.clone(),
                driver,
                config,
            },
        );
        Ok((sender, false))
    }

    /// Drop the pooled connection to `addr` (after a failure), so the next call reconnects.
    /// Requests already on it go on until they end.
    pub(crate) fn forget(&self, addr: &str) {
        self.conns.lock().remove(addr);
    }

    /// Drop the pooled connection to `addr` and close it at once, discarding whatever it had
    /// not delivered yet (its socket lingers 0: the kernel drops unsent data and resets).
    /// After a partition heals, a request the caller gave up on must not reach the peer late
    /// and take effect there (a forwarded write answered as failed must never commit).
    pub(crate) fn abort(&self, addr: &str) {
        if let Some(e) = self.conns.lock().remove(addr) {
            e.driver.abort();
        }
    }

    async fn connect(
        &self,
        op: &'static str,
        addr: &str,
        config: Arc<ClientConfig>,
    ) -> Result<(Sender, tokio::task::AbortHandle), ClientError> {
        let fail = |reason: String| ClientError::Connect {
            op,
            addr: addr.to_owned(),
            reason,
        };
        let tcp = dial(addr, self.source_ip)
            .await
            .map_err(|e| fail(format!("TCP: {e}")))?;
        // Raft heartbeats are small and latency-bound.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%addr, error = %e, "could not set TCP_NODELAY");
        }
        // Closing discards unsent data (see `abort`).
        if let Err(e) = tcp.set_zero_linger() {
            tracing::debug!(%addr, error = %e, "could not set SO_LINGER");
        }
        let name = ServerName::try_from(MANAGER_SERVER_NAME)
            .map_err(|e| fail(format!("server name: {e}")))?;
        let tls = TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| fail(format!("TLS handshake: {e}")))?;
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .adaptive_window(true)
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| fail(format!("HTTP/2 handshake: {e}")))?;
        let cancel = self.cancel.clone();
        let peer = addr.to_owned();
        let mut drivers = self.drivers.lock();
        // Reap drivers of connections that already ended.
        while drivers.try_join_next().is_some() {}
        let driver = drivers.spawn(async move {
            tokio::select! {
                biased;
                () = cancel.cancelled() => {}
                r = conn => if let Err(e) = r {
                    tracing::debug!(addr = %peer, error = %e, "cluster client connection ended");
                },
            }
        });
        tracing::debug!(%addr, "cluster client connected");
        Ok((sender, driver))
    }
}

/// A TCP connection to `addr`, from `source` when given. If the source cannot be bound (the
/// address left the host) the kernel picks one, as without a source.
async fn dial(addr: &str, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(src) = source else {
        return TcpStream::connect(addr).await;
    };
    let mut last = None;
    for target in tokio::net::lookup_host(addr).await? {
        if target.is_ipv4() != src.is_ipv4() {
            continue;
        }
        let socket = if src.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Err(e) = socket.bind(SocketAddr::new(src, 0)) {
            tracing::debug!(%addr, source = %src, error = %e, "cannot bind the source address; connecting without it");
            return TcpStream::connect(addr).await;
        }
        match socket.connect(target).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(e),
        // No address of the source's family: let the kernel choose.
        None => TcpStream::connect(addr).await,
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The JoinSet aborts its tasks on drop too; cancelling first lets them end cleanly.
        self.cancel.cancel();
    }
}
