//! The resolver's sockets: UDP and TCP on port 53 of each listen address, answering from
//! the current [`Records`] and forwarding the rest upstream.
//!
//! Each listen address owns its tasks (a [`JoinSet`]); dropping the listener, or the whole
//! [`Resolver`], aborts them and closes the sockets. Sockets are bound with `IP_FREEBIND`,
//! so an address can be listened on before the bridge carrying it exists (the node
//! programs its gateway addresses and its resolver concurrently).

use super::DnsError;
use super::answer::{Outcome, answer, encode_within, reply, udp_limit};
use super::table::Records;
use super::upstream::{
    UPSTREAM_TIMEOUT, Upstreams, exchange_tcp, exchange_udp, read_framed, write_framed,
};
use hickory_proto::op::{Message, ResponseCode};
use parking_lot::{Mutex, RwLock};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The DNS port.
pub const DNS_PORT: u16 = 53;
/// moby's `maxConcurrent`: queries being forwarded at once; more get SERVFAIL at once.
const MAX_FORWARDS: usize = 100;
/// A TCP client idle this long is disconnected (RFC 7766 suggests seconds, not minutes).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Pending TCP connections per listen address.
const TCP_BACKLOG: i32 = 128;
/// Room for the largest UDP query (EDNS allows 64 KiB).
const UDP_BUFFER: usize = 65535;

/// How the resolver is set up.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// The port to listen on: [`DNS_PORT`] in the daemon, any port in tests.
    pub port: u16,
    /// Where names the swarm does not own are sent.
    pub upstreams: Upstreams,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            port: DNS_PORT,
            upstreams: Upstreams::from_system(),
        }
    }
}

/// State every socket task shares.
struct Shared {
    records: RwLock<Arc<Records>>,
    upstreams: RwLock<Arc<Upstreams>>,
    forwards: Semaphore,
}

/// One listen address's UDP and TCP tasks; dropped = stopped.
struct Listener {
    _tasks: JoinSet<()>,
}

/// The node's DNS server. See the [module docs](super) for the API contract.
pub struct Resolver {
    shared: Arc<Shared>,
    port: u16,
    runtime: tokio::runtime::Handle,
    listeners: Mutex<BTreeMap<Ipv4Addr, Listener>>,
}

impl Resolver {
    /// A resolver with no records and no listen address yet. Must be called inside a
    /// tokio runtime: its socket tasks run there.
    pub fn start(config: ResolverConfig) -> Result<Resolver, DnsError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| DnsError::NoRuntime)?;
        Ok(Resolver {
            shared: Arc::new(Shared {
                records: RwLock::new(Arc::new(Records::default())),
                upstreams: RwLock::new(Arc::new(config.upstreams)),
                forwards: Semaphore::new(MAX_FORWARDS),
            }),
            port: config.port,
            runtime,
            listeners: Mutex::new(BTreeMap::new()),
        })
    }

    /// Replaces the records; the next query is answered from them.
    pub fn update(&self, records: Records) {
        *self.shared.records.write() = Arc::new(records);
    }

    /// Replaces the upstream resolvers.
    pub fn set_upstreams(&self, upstreams: Upstreams) {
        *self.shared.upstreams.write() = Arc::new(upstreams);
    }

    /// Listens on exactly `addrs`: starts the new ones, stops the ones no longer given.
    /// An address that cannot be bound is reported (all failures in one error) and the
    /// others are applied; calling again retries it.
    pub fn set_listen(&self, addrs: &[Ipv4Addr]) -> Result<(), DnsError> {
        let mut listeners = self.listeners.lock();
        listeners.retain(|a, _| addrs.contains(a));
        let mut failed = Vec::new();
        for &addr in addrs {
            if listeners.contains_key(&addr) {
                continue;
            }
            match self.listen(addr) {
                Ok(l) => {
                    tracing::debug!(%addr, port = self.port, "dns: listening");
                    listeners.insert(addr, l);
                }
                Err(e) => failed.push(format!("{addr}:{}: {e}", self.port)),
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(DnsError::Listen(failed.join("; ")))
        }
    }

    /// The addresses listened on.
    pub fn listening(&self) -> Vec<Ipv4Addr> {
        self.listeners.lock().keys().copied().collect()
    }

    fn listen(&self, addr: Ipv4Addr) -> std::io::Result<Listener> {
        let _guard = self.runtime.enter();
        let sa = SocketAddr::new(IpAddr::V4(addr), self.port);
        let udp = bind(sa, Type::DGRAM, Protocol::UDP)?;
        let udp = UdpSocket::from_std(udp.into())?;
        let tcp = bind(sa, Type::STREAM, Protocol::TCP)?;
        tcp.listen(TCP_BACKLOG)?;
        let tcp = TcpListener::from_std(tcp.into())?;
        let mut tasks = JoinSet::new();
        tasks.spawn_on(serve_udp(udp, self.shared.clone()), &self.runtime);
        tasks.spawn_on(serve_tcp(tcp, self.shared.clone()), &self.runtime);
        Ok(Listener { _tasks: tasks })
    }
}

/// A non-blocking socket bound to `sa` with `IP_FREEBIND` and `SO_REUSEADDR`.
fn bind(sa: SocketAddr, ty: Type, proto: Protocol) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, ty, Some(proto))?;
    s.set_freebind_v4(true)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&sa.into())?;
    Ok(s)
}

/// How a query arrived: the reply goes back the same way and upstream over the same
/// protocol (moby forwards over the client's protocol too).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

/// The reply to one query's wire bytes, or `None` when the bytes are not a DNS query
/// worth answering (garbage is dropped, as moby does).
async fn handle(
    shared: &Shared,
    client: SocketAddr,
    bytes: &[u8],
    transport: Transport,
) -> Option<Vec<u8>> {
    let query = Message::from_vec(bytes).ok()?;
    let client_v4 = match client.ip() {
        IpAddr::V4(a) => a,
        IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    let records = shared.records.read().clone();
    let outcome = answer(&records, client_v4, &query, &mut rand::rng());
    let limit = match transport {
        Transport::Udp => udp_limit(&query),
        Transport::Tcp => usize::from(u16::MAX),
    };
    match outcome {
        Outcome::Reply(msg) => encode_within(&msg, limit),
        Outcome::Forward => {
            let upstreams = match records.upstreams_of(client_v4) {
                Some(own) => own.clone(),
                None => shared.upstreams.read().clone(),
            };
            let Ok(_permit) = shared.forwards.try_acquire() else {
                tracing::warn!(%client, "dns: too many queries being forwarded, answering SERVFAIL");
                return encode_within(&reply(&query, ResponseCode::ServFail), limit);
            };
            Some(forward(&upstreams, &query, bytes, transport, limit).await)
        }
    }
}

/// Forwards to each upstream in turn (see [`super::upstream`]). No upstream at all:
/// NXDOMAIN (the swarm does not own the name and nothing else can); upstreams that all
/// failed: SERVFAIL, as moby answers.
async fn forward(
    upstreams: &Upstreams,
    query: &Message,
    bytes: &[u8],
    transport: Transport,
    limit: usize,
) -> Vec<u8> {
    let fallback = |code| encode_within(&reply(query, code), limit).unwrap_or_default();
    if upstreams.servers.is_empty() {
        return fallback(ResponseCode::NXDomain);
    }
    let mut failure = None;
    for &server in &upstreams.servers {
        let exchange = async {
            match transport {
                Transport::Udp => exchange_udp(server, bytes).await,
                Transport::Tcp => exchange_tcp(server, bytes).await,
            }
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, exchange).await {
            Ok(Ok(resp)) => match Message::from_vec(&resp) {
                Ok(m)
                    if matches!(
                        m.metadata.response_code,
                        ResponseCode::ServFail | ResponseCode::Refused
                    ) =>
                {
                    tracing::debug!(%server, code = %m.metadata.response_code, "dns: upstream failed, trying the next");
                    failure = Some(resp);
                }
                Ok(_) => return resp,
                Err(e) => {
                    tracing::debug!(%server, error = %e, "dns: upstream sent an unreadable reply")
                }
            },
            Ok(Err(e)) => tracing::debug!(%server, error = %e, "dns: upstream unreachable"),
            Err(_) => tracing::debug!(%server, "dns: upstream did not answer in time"),
        }
    }
    failure.unwrap_or_else(|| fallback(ResponseCode::ServFail))
}

async fn serve_udp(sock: UdpSocket, shared: Arc<Shared>) {
    let sock = Arc::new(sock);
    // forwarded queries wait on upstreams: each runs on its own so local answers never wait
    let mut pending = JoinSet::new();
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        while pending.try_join_next().is_some() {}
        let (n, client) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "dns: udp receive failed");
                continue;
            }
        };
        let bytes = buf[..n].to_vec();
        let sock = sock.clone();
        let shared = shared.clone();
        pending.spawn(async move {
            let Some(resp) = handle(&shared, client, &bytes, Transport::Udp).await else {
                return;
            };
            if let Err(e) = sock.send_to(&resp, client).await {
                tracing::debug!(%client, error = %e, "dns: udp reply failed");
            }
        });
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, client)) => {
                conns.spawn(serve_tcp_conn(stream, client, shared.clone()));
            }
            Err(e) => {
                tracing::debug!(error = %e, "dns: tcp accept failed");
                // accept errors (EMFILE, …) repeat at once: do not spin
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_tcp_conn(mut stream: TcpStream, client: SocketAddr, shared: Arc<Shared>) {
    while let Ok(Ok(query)) = tokio::time::timeout(TCP_IDLE, read_framed(&mut stream)).await {
        let Some(resp) = handle(&shared, client, &query, Transport::Tcp).await else {
            return;
        };
        if write_framed(&mut stream, &resp).await.is_err() {
            return;
        }
    }
}
