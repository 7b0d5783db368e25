//! The routing mesh's opt-in userspace path: published TCP ports whose service asked for
//! PROXY protocol v2 (the `com.shoal.proxy-protocol` label) are served by a proxy in the
//! node daemon instead of the kernel's DNAT, so the task learns the client's address.
//!
//! For each such port the node listens on `0.0.0.0:<published>` ([`ProxySet`]); [`render`]
//! leaves the port out of the DNAT rules so connections reach that socket (VIPs are DNAT'd
//! before they could). Each accepted connection goes to the next ready task on the ingress
//! network, round robin (a task that does not accept the connection in
//! [`CONNECT_TIMEOUT`] is skipped for the next), which first receives a PROXY v2 header
//! ([`header`]: the client's address and port, the address and published port it
//! connected to), then the bytes of both directions as they come.
//!
//! The set of ports and their tasks follows the node's networks: [`ProxySet::start`] with
//! [`proxies`] before the rules are applied, [`ProxySet::stop_others`] after. Listeners of
//! ports that left are closed (connections already relayed go on until either side
//! closes); a task that is not ready any more gets no new connection.
//!
//! [`render`]: super::render
//! [`proxies`]: super::proxies

use super::ProxyPort;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The PROXY protocol v2 signature: the first 12 bytes of every header.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The length of a v2 header for TCP over IPv4: 16 bytes, then 12 of addresses and ports.
pub const HEADER_LEN: usize = 28;
/// How long a task may take to accept a relayed connection before the next one is tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The listen backlog of a proxied port.
const BACKLOG: i32 = 1024;
/// The pause after a failed `accept` (out of file descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The PROXY protocol v2 header of a TCP connection over IPv4 from `client` to
/// `destination` (the address and port the client connected to): the signature, version 2
/// with command PROXY (`0x21`), family AF_INET over STREAM (`0x11`), the length of the
/// address block (12, big endian), then source address, destination address, source port
/// and destination port, each in network byte order.
pub fn header(client: SocketAddrV4, destination: SocketAddrV4) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..12].copy_from_slice(&SIGNATURE);
    h[12] = 0x21;
    h[13] = 0x11;
    h[14..16].copy_from_slice(&12u16.to_be_bytes());
    h[16..20].copy_from_slice(&client.ip().octets());
    h[20..24].copy_from_slice(&destination.ip().octets());
    h[24..26].copy_from_slice(&client.port().to_be_bytes());
    h[26..28].copy_from_slice(&destination.port().to_be_bytes());
    h
}

/// The order in which a connection tries `n` backends when round robin is at `turn`: the
/// backend whose turn it is, then the others after it.
pub fn rotation(n: usize, turn: usize) -> Vec<usize> {
    (0..n).map(|i| (turn + i) % n).collect()
}

/// One proxied port: its tasks (replaced at every update) and the round-robin counter.
struct Shared {
    port: RwLock<ProxyPort>,
    turn: AtomicUsize,
}

impl Shared {
    /// The target port and the ready tasks in the order this connection tries them.
    fn pick(&self) -> (u16, Vec<Ipv4Addr>) {
        let port = self.port.read();
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let order = rotation(port.backends.len(), turn)
            .into_iter()
            .filter_map(|i| port.backends.get(i).copied())
            .collect();
        (port.target, order)
    }
}

/// A listening proxied port.
struct Listening {
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// The node's PROXY protocol listeners, one per proxied published port.
#[derive(Default)]
pub struct ProxySet {
    ports: Mutex<BTreeMap<u16, Listening>>,
}

impl ProxySet {
    /// Makes the listeners follow `wanted` (from [`proxies`](super::proxies)): [`start`]
    /// then [`stop_others`]. Must run on a tokio runtime.
    ///
    /// [`start`]: Self::start
    /// [`stop_others`]: Self::stop_others
    pub fn update(&self, wanted: &BTreeMap<u16, ProxyPort>) -> Result<(), String> {
        let started = self.start(wanted);
        self.stop_others(wanted);
        started
    }

    /// Binds and serves the ports of `wanted` not listened on yet and gives the others
    /// their new task lists; ports absent from `wanted` are left alone. Returns the ports
    /// that could not be bound, with the reason (tried again at the next call). Must run on
    /// a tokio runtime.
    pub fn start(&self, wanted: &BTreeMap<u16, ProxyPort>) -> Result<(), String> {
        let mut ports = self.ports.lock();
        let mut failed = Vec::new();
        for (port, want) in wanted {
            if let Some(l) = ports.get(port) {
                *l.shared.port.write() = want.clone();
                continue;
            }
            match listen(*port) {
                Ok(listener) => {
                    let shared = Arc::new(Shared {
                        port: RwLock::new(want.clone()),
                        turn: AtomicUsize::new(0),
                    });
                    let accept = tokio::spawn(serve(listener, shared.clone()));
                    tracing::info!(port, "PROXY protocol listener started");
                    ports.insert(*port, Listening { shared, accept });
                }
                Err(e) => failed.push(format!("port {port}: {e}")),
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "PROXY protocol listeners not started: {}",
                failed.join("; ")
            ))
        }
    }

    /// Closes the listeners of ports absent from `wanted`; connections already relayed go
    /// on.
    pub fn stop_others(&self, wanted: &BTreeMap<u16, ProxyPort>) {
        self.ports.lock().retain(|port, l| {
            let keep = wanted.contains_key(port);
            if !keep {
                l.accept.abort();
                tracing::info!(port, "PROXY protocol listener closed");
            }
            keep
        });
    }

    /// The ports listened on.
    pub fn ports(&self) -> Vec<u16> {
        self.ports.lock().keys().copied().collect()
    }
}

impl Drop for ProxySet {
    fn drop(&mut self) {
        for l in self.ports.get_mut().values() {
            l.accept.abort();
        }
    }
}

/// A listening socket on `0.0.0.0:port` (address reuse, so a restarted daemon binds again
/// while old connections are in TIME_WAIT).
fn listen(port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Accepts connections on `listener` until aborted, each relayed on its own task.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = relay(client, peer, &shared).await {
                        tracing::debug!(%peer, error = %e, "PROXY protocol connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "PROXY protocol listener: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Relays one client connection to a ready task, after the PROXY v2 header.
async fn relay(mut client: TcpStream, peer: SocketAddr, shared: &Shared) -> Result<(), String> {
    let local = client
        .local_addr()
        .map_err(|e| format!("its local address: {e}"))?;
    let (SocketAddr::V4(from), SocketAddr::V4(to)) = (peer, local) else {
        return Err(format!("{peer} to {local} is not IPv4"));
    };
    let (target, order) = shared.pick();
    let mut upstream = None;
    for addr in &order {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((*addr, target))).await {
            Ok(Ok(s)) => {
                upstream = Some(s);
                break;
            }
            Ok(Err(e)) => tracing::debug!(task = %addr, error = %e, "PROXY protocol: task refused"),
            Err(_) => tracing::debug!(task = %addr, "PROXY protocol: task did not answer in time"),
        }
    }
    let mut upstream = upstream.ok_or_else(|| {
        format!(
            "no ready task of port {} accepted the connection (tried {order:?})",
            to.port()
        )
    })?;
    // the header and each later write go out at once: latency matters more than packets here
    let _ = upstream.set_nodelay(true); // only slower without it
    let _ = client.set_nodelay(true); // as above
    upstream
        .write_all(&header(from, to))
        .await
        .map_err(|e| format!("writing the header: {e}"))?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream)
        .await
        .map(drop)
        .map_err(|e| format!("relaying: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn the_header_matches_the_spec_bytes() {
        let h = header(
            "192.0.2.10:51234".parse().expect("addr"),
            "198.51.100.7:8080".parse().expect("addr"),
        );
        let expected: [u8; HEADER_LEN] = [
            // signature
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
            // version 2, PROXY; AF_INET, STREAM; 12 bytes of addresses
            0x21, 0x11, 0x00, 0x0C, //
            192, 0, 2, 10, // source address
            198, 51, 100, 7, // destination address
            0xC8, 0x22, // source port 51234
            0x1F, 0x90, // destination port 8080
        ];
        assert_eq!(h, expected);
        assert_eq!(&h[..12], b"\r\n\r\n\0\r\nQUIT\n");
    }

    #[test]
    fn round_robin_starts_at_the_turn_and_tries_every_backend_once() {
        assert_eq!(rotation(0, 5), Vec::<usize>::new());
        assert_eq!(rotation(1, 5), vec![0]);
        assert_eq!(rotation(3, 0), vec![0, 1, 2]);
        assert_eq!(rotation(3, 4), vec![1, 2, 0]);
        let shared = Shared {
            port: RwLock::new(ProxyPort {
                target: 80,
                backends: vec![Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 6)],
            }),
            turn: AtomicUsize::new(0),
        };
        let firsts: Vec<Ipv4Addr> = (0..4).map(|_| shared.pick().1[0]).collect();
        assert_eq!(
            firsts,
            [[10, 0, 0, 5], [10, 0, 0, 6], [10, 0, 0, 5], [10, 0, 0, 6]].map(Ipv4Addr::from)
        );
    }

    /// On loopback: a client's connection to a proxied port reaches the backend after the
    /// header with the client's address and port; replies come back; a port that leaves
    /// the set stops listening.
    #[tokio::test]
    async fn a_connection_reaches_the_task_after_the_header_and_the_port_closes_when_it_leaves()
    -> Result<(), Box<dyn std::error::Error>> {
        let backend = TcpListener::bind("127.0.0.1:0").await?;
        let target = backend.local_addr()?.port();
        // a free port for the proxy: bind one, note it, free it
        let published = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let set = ProxySet::default();
        let wanted = BTreeMap::from([(
            published,
            ProxyPort {
                target,
                backends: vec![Ipv4Addr::LOCALHOST],
            },
        )]);
        set.update(&wanted)?;
        assert_eq!(set.ports(), [published]);

        let mut client = TcpStream::connect(("127.0.0.1", published)).await?;
        let client_addr = client.local_addr()?;
        client.write_all(b"ping").await?;
        let (mut task, _) = backend.accept().await?;
        let mut got = [0u8; HEADER_LEN + 4];
        task.read_exact(&mut got).await?;
        let SocketAddr::V4(client_v4) = client_addr else {
            return Err("client not IPv4".into());
        };
        let expected = header(client_v4, SocketAddrV4::new(Ipv4Addr::LOCALHOST, published));
        assert_eq!(&got[..HEADER_LEN], &expected);
        assert_eq!(&got[HEADER_LEN..], b"ping");
        task.write_all(b"pong").await?;
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).await?;
        assert_eq!(&reply, b"pong");

        set.update(&BTreeMap::new())?;
        assert!(set.ports().is_empty());
        // the listener is gone once its task noticed the abort
        let mut refused = false;
        for _ in 0..50 {
            if TcpStream::connect(("127.0.0.1", published)).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            refused,
            "port {published} still accepts after it left the set"
        );
        // the relayed connection outlives its listener
        task.write_all(b"more").await?;
        client.read_exact(&mut reply).await?;
        assert_eq!(&reply, b"more");
        Ok(())
    }
}
