//! The node's WireGuard interface in userspace: a TUN device carrying the tunnel addresses,
//! one UDP socket for the WireGuard datagrams, and three threads: TUN → encrypt → UDP, UDP →
//! decrypt → TUN, and the sessions' timers (handshakes, rekeys, keepalives).
//!
//! Packets only ever leave encrypted: a packet for an address that is not a current peer's
//! tunnel address is dropped, and so is a decrypted packet whose source is not the sending
//! peer's tunnel address (WireGuard's allowed IPs).

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use boringtun::device::tun::TunSocket;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, recvmmsg};
use parking_lot::{Mutex, RwLock};
use socket2::{Domain, Protocol, Socket, Type};

use super::keys::NodeKey;
use super::plan::{Peer, TunnelConfig};
use super::{TUNNEL_MTU, TUNNEL_PREFIX, TunnelError, WIREGUARD_OVERHEAD, tunnel_addr};

/// How often the sessions' timers run (WireGuard's timers have a resolution of this order).
const TIMER_TICK: Duration = Duration::from_millis(100);
/// Socket buffers: bursts of a fast TCP flow must not be dropped while a thread is busy.
const SOCKET_BUFFER: usize = 4 << 20;
/// Datagrams received per system call at most.
const RECV_BATCH: usize = 32;
/// The largest datagram or TUN packet handled.
const BUFFER: usize = TUNNEL_MTU as usize + WIREGUARD_OVERHEAD + 256;

/// How to make the node's tunnel.
#[derive(Debug, Clone)]
pub struct TunnelOptions {
    /// The TUN device's name (`shwg0`).
    pub name: String,
    /// Where the node key is kept (made there on first use).
    pub key_dir: PathBuf,
    /// The node's data-path address: WireGuard datagrams are sent from it, and the tunnel
    /// address is derived from it.
    pub lan_addr: Ipv4Addr,
    /// The UDP port WireGuard datagrams use on every node.
    pub port: u16,
}

/// A running tunnel. Stopped (threads joined, device gone) on drop.
pub struct Tunnel {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    /// Sends one packet into the TUN device on drop, to wake the thread blocked reading it.
    waker: Option<UdpSocket>,
    name: String,
    addr: Ipv6Addr,
}

struct Shared {
    key: RwLock<(StaticSecret, PublicKey)>,
    key_dir: PathBuf,
    tun: TunSocket,
    udp: UdpSocket,
    peers: RwLock<Peers>,
    next_index: AtomicU32,
    stop: AtomicBool,
    failed: Mutex<Option<String>>,
}

#[derive(Default)]
struct Peers {
    by_addr: HashMap<Ipv6Addr, Arc<PeerState>>,
    by_index: HashMap<u32, Arc<PeerState>>,
    by_key: HashMap<[u8; 32], Arc<PeerState>>,
}

struct PeerState {
    peer: Peer,
    index: u32,
    tunn: Mutex<Tunn>,
}

impl Tunnel {
    /// Makes the node's tunnel: loads (or makes) the node key, creates the TUN device with
    /// the node's tunnel address and the route of all tunnel addresses through it, binds the
    /// UDP port, starts the threads. It has no peers until [`Tunnel::apply`]. Runs in the
    /// calling thread's network namespace. Every failure names what failed.
    pub fn start(options: &TunnelOptions) -> Result<Tunnel, TunnelError> {
        let name = options.name.clone();
        let device_err = |detail: String| TunnelError::Device {
            name: name.clone(),
            detail,
        };
        if name.is_empty() || name.len() >= 16 || name.parse::<i64>().is_ok() {
            return Err(device_err(
                "a device name has 1 to 15 characters and is not a number".into(),
            ));
        }
        let key = NodeKey::load_or_create(&options.key_dir)?;
        // the port first: a tunnel that cannot listen must not take over the tunnel route
        let udp = bind_udp(options.lan_addr, options.port)?;
        let tun = TunSocket::new(&name).map_err(|e| device_err(e.to_string()))?;
        let addr = tunnel_addr(options.lan_addr);
        configure_device(&name, addr)?;
        let waker =
            UdpSocket::bind("[::]:0").map_err(|source| TunnelError::Socket { port: 0, source })?;
        let shared = Arc::new(Shared {
            key: RwLock::new((key.secret(), key.public())),
            key_dir: options.key_dir.clone(),
            tun,
            udp,
            peers: RwLock::new(Peers::default()),
            next_index: AtomicU32::new(1),
            stop: AtomicBool::new(false),
            failed: Mutex::new(None),
        });
        let mut threads = Vec::new();
        for (label, run) in [
            ("shoal-wg-tx", outbound as fn(&Shared)),
            ("shoal-wg-rx", inbound),
            ("shoal-wg-timers", timers),
        ] {
            let s = shared.clone();
            let handle = std::thread::Builder::new()
                .name(label.into())
                .spawn(move || run(&s))
                .map_err(|e| device_err(format!("cannot start a thread: {e}")))?;
            threads.push(handle);
        }
        tracing::info!(device = %name, %addr, port = options.port, key = %key.public_base64(), "encrypted overlay tunnel up");
        Ok(Tunnel {
            shared,
            threads,
            waker: Some(waker),
            name,
            addr,
        })
    }

    /// This node's public key (base64), to publish through the store.
    pub fn public_key(&self) -> String {
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            self.shared.key.read().1.as_bytes(),
        )
    }

    /// This node's tunnel address.
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The TUN device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current peers.
    pub fn peers(&self) -> Vec<Peer> {
        let peers = self.shared.peers.read();
        let mut all: Vec<Peer> = peers.by_addr.values().map(|p| p.peer.clone()).collect();
        all.sort_by_key(|p| p.tunnel_addr);
        all
    }

    /// Replaces the peer set with `config`'s. A peer whose key and endpoint are unchanged
    /// keeps its session; a peer that is gone or changed loses its session at once (its
    /// packets no longer decrypt, nothing more is sent to it).
    pub fn apply(&self, config: &TunnelConfig) -> Result<(), TunnelError> {
        if let Some(why) = self.shared.failed.lock().clone() {
            return Err(TunnelError::Command {
                command: format!("tunnel {}", self.name),
                detail: why,
            });
        }
        if self.shared.stop.load(Ordering::Relaxed) {
            return Err(TunnelError::Stopped);
        }
        let mut peers = self.shared.peers.write();
        let mut next = Peers::default();
        for peer in &config.peers {
            let state = match peers.by_addr.get(&peer.tunnel_addr) {
                Some(old) if old.peer == *peer => old.clone(),
                _ => {
                    let index = self.shared.next_index.fetch_add(1, Ordering::Relaxed) & 0xff_ffff;
                    let tunn = Tunn::new(
                        self.shared.key.read().0.clone(),
                        PublicKey::from(peer.key),
                        None,
                        None,
                        index,
                        None,
                    )
                    .map_err(|e| TunnelError::Device {
                        name: self.name.clone(),
                        detail: format!("peer {}: {e}", peer.node_id),
                    })?;
                    Arc::new(PeerState {
                        peer: peer.clone(),
                        index,
                        tunn: Mutex::new(tunn),
                    })
                }
            };
            next.by_index.insert(state.index, state.clone());
            next.by_key.insert(state.peer.key, state.clone());
            next.by_addr.insert(state.peer.tunnel_addr, state);
        }
        *peers = next;
        Ok(())
    }
}

impl Tunnel {
    /// Rotates the node key: a fresh key pair replaces the one in the key directory, and
    /// every session ends (peers know the node by its old key until they get the new one,
    /// which the caller publishes: the returned base64 public key).
    pub fn rotate_key(&self) -> Result<String, TunnelError> {
        let key = NodeKey::rotate(&self.shared.key_dir)?;
        let mut current = self.shared.key.write();
        *current = (key.secret(), key.public());
        let peers = self.shared.peers.read();
        for peer in peers.by_addr.values() {
            peer.tunn
                .lock()
                .set_static_private(key.secret(), key.public(), None)
                .map_err(|e| TunnelError::Device {
                    name: self.name.clone(),
                    detail: format!("new key for peer {}: {e:?}", peer.peer.node_id),
                })?;
        }
        tracing::info!(device = %self.name, key = %key.public_base64(), "encrypted overlay: node key rotated");
        Ok(key.public_base64())
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // The outbound thread blocks reading the TUN device: one packet through it wakes it
        // (the tunnel prefix is routed into the device; 255.255.255.255 is nobody's address).
        if let Some(waker) = self.waker.take() {
            let target = SocketAddr::new(
                IpAddr::V6(tunnel_addr(Ipv4Addr::BROADCAST)),
                9, // discard
            );
            let _ = waker.send_to(b"stop", target);
        }
        // The other threads notice within their 200 ms socket timeout or 100 ms tick. Should
        // the wake-up packet be lost (the route removed by hand), the outbound thread is left
        // to end with the process rather than hang the caller.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while self.threads.iter().any(|h| !h.is_finished()) && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        for handle in self.threads.drain(..) {
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                tracing::warn!(device = %self.name, "tunnel thread {:?} did not stop; left behind", handle.thread().name());
            }
        }
    }
}

/// The nftables table that keeps clear text out of the tunnel addresses: a packet to or from
/// a tunnel address that did not come out of the tunnel device (or loopback) is dropped before
/// routing, so nobody on the LAN can hand a node's VXLAN socket an unencrypted frame for an
/// encrypted network by sending it to the node's tunnel address.
pub(crate) fn guard_ruleset(device: &str) -> String {
    let (prefix, len) = TUNNEL_PREFIX;
    format!(
        "table ip6 shoal_tunnel {{}}\n\
         delete table ip6 shoal_tunnel\n\
         table ip6 shoal_tunnel {{\n\
         \tchain guard {{\n\
         \t\ttype filter hook prerouting priority raw; policy accept;\n\
         \t\tiifname \"{device}\" accept\n\
         \t\tiifname \"lo\" accept\n\
         \t\tip6 daddr {prefix}/{len} drop\n\
         \t\tip6 saddr {prefix}/{len} drop\n\
         \t}}\n\
         }}\n"
    )
}

/// Sets the device up with its address and the route of the tunnel prefix, through `ip`,
/// and installs the guard ([`guard_ruleset`]) through `nft`.
fn configure_device(name: &str, addr: Ipv6Addr) -> Result<(), TunnelError> {
    let (prefix, len) = TUNNEL_PREFIX;
    let mtu = TUNNEL_MTU.to_string();
    let own = format!("{addr}/128");
    let route = format!("{prefix}/{len}");
    ip(&["link", "set", "dev", name, "addrgenmode", "none"])?;
    ip(&["link", "set", "dev", name, "mtu", &mtu, "up"])?;
    ip(&["-6", "addr", "replace", &own, "dev", name, "nodad"])?;
    ip(&["-6", "route", "replace", &route, "dev", name])?;
    nft(&guard_ruleset(name))
}

fn nft(script: &str) -> Result<(), TunnelError> {
    use std::io::Write;
    let command = "nft -f - (the tunnel guard table ip6 shoal_tunnel)".to_string();
    let fail = |detail: String| TunnelError::Command {
        command: command.clone(),
        detail,
    };
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

fn ip(args: &[&str]) -> Result<(), TunnelError> {
    let command = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| TunnelError::Command {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TunnelError::Command {
            command,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn bind_udp(lan: Ipv4Addr, port: u16) -> Result<UdpSocket, TunnelError> {
    let err = |source| TunnelError::Socket { port, source };
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    // Larger buffers are best effort: the kernel caps them at its rmem_max/wmem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket
        .bind(&SocketAddr::V4(SocketAddrV4::new(lan, port)).into())
        .map_err(err)?;
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(err)?;
    Ok(socket.into())
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn fail(&self, why: String) {
        tracing::error!("encrypted overlay tunnel stopped: {why}");
        *self.failed.lock() = Some(why);
    }

    fn send(&self, datagram: &[u8], to: SocketAddr) {
        if let Err(e) = self.udp.send_to(datagram, to) {
            tracing::debug!(%to, "tunnel: send failed: {e}");
        }
    }
}

/// TUN → encrypt → UDP.
fn outbound(s: &Shared) {
    let mut packet = vec![0u8; BUFFER];
    let mut out = vec![0u8; BUFFER];
    while !s.stopped() {
        let pkt = match s.tun.read(&mut packet) {
            Ok(p) => p,
            Err(boringtun::device::Error::IfaceRead(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                ) =>
            {
                continue;
            }
            Err(e) => {
                if !s.stopped() {
                    s.fail(format!("reading the tunnel device: {e}"));
                }
                return;
            }
        };
        let Some(IpAddr::V6(dst)) = Tunn::dst_address(pkt) else {
            continue;
        };
        let Some(peer) = s.peers.read().by_addr.get(&dst).cloned() else {
            continue; // not a peer: dropped, never sent in clear
        };
        let mut tunn = peer.tunn.lock();
        match tunn.encapsulate(pkt, &mut out) {
            TunnResult::WriteToNetwork(d) => s.send(d, peer.peer.endpoint),
            TunnResult::Err(e) => {
                tracing::debug!(peer = %peer.peer.node_id, "tunnel: encrypt: {e:?}")
            }
            _ => {}
        }
    }
}

/// UDP → decrypt → TUN. Datagrams are received in batches (`recvmmsg`): one wake-up of this
/// thread handles every datagram that is waiting.
fn inbound(s: &Shared) {
    let mut bufs: Vec<Vec<u8>> = (0..RECV_BATCH).map(|_| vec![0u8; BUFFER]).collect();
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(RECV_BATCH, None);
    let mut got: Vec<(usize, SocketAddr)> = Vec::with_capacity(RECV_BATCH);
    let mut out = vec![0u8; BUFFER];
    let fd = s.udp.as_raw_fd();
    while !s.stopped() {
        got.clear();
        {
            let mut slices: Vec<[IoSliceMut; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            match recvmmsg(
                fd,
                &mut headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(results) => {
                    for msg in results {
                        if let Some(from) = msg.address {
                            got.push((msg.bytes, SocketAddr::V4(SocketAddrV4::from(from))));
                        }
                    }
                }
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                Err(e) => {
                    if !s.stopped() {
                        s.fail(format!("reading the tunnel socket: {e}"));
                    }
                    return;
                }
            }
        }
        for (i, &(n, from)) in got.iter().enumerate() {
            receive(s, &bufs[i][..n], from, &mut out);
        }
    }
}

/// One datagram from `from`: decrypted into the TUN device when it comes from a peer's
/// address, under that peer's session, from that peer's tunnel address.
fn receive(s: &Shared, data: &[u8], from: SocketAddr, out: &mut [u8]) {
    let Some(peer) = s.sender(data) else {
        return;
    };
    if from.ip() != peer.peer.endpoint.ip() {
        return; // peers do not roam: their address is the one in the store
    }
    let mut tunn = peer.tunn.lock();
    match tunn.decapsulate(Some(from.ip()), data, out) {
        TunnResult::WriteToNetwork(d) => {
            s.send(d, peer.peer.endpoint);
            // packets queued during the handshake
            while let TunnResult::WriteToNetwork(d) = tunn.decapsulate(None, &[], out) {
                s.send(d, peer.peer.endpoint);
            }
        }
        TunnResult::WriteToTunnelV6(p, src) if src == peer.peer.tunnel_addr => {
            drop(tunn);
            s.tun.write6(p);
        }
        TunnResult::Err(e) => {
            tracing::debug!(peer = %peer.peer.node_id, "tunnel: decrypt: {e:?}");
        }
        _ => {} // keepalives; packets from an address the peer does not own
    }
}

impl Shared {
    /// The peer a datagram comes from: by its static key for a handshake initiation, by our
    /// session index otherwise. `None` for anything else (dropped).
    fn sender(&self, data: &[u8]) -> Option<Arc<PeerState>> {
        let peers = self.peers.read();
        match Tunn::parse_incoming_packet(data).ok()? {
            Packet::HandshakeInit(init) => {
                let half = {
                    let key = self.key.read();
                    parse_handshake_anon(&key.0, &key.1, &init).ok()?
                };
                peers.by_key.get(&half.peer_static_public).cloned()
            }
            Packet::HandshakeResponse(r) => peers.by_index.get(&(r.receiver_idx >> 8)).cloned(),
            Packet::PacketCookieReply(r) => peers.by_index.get(&(r.receiver_idx >> 8)).cloned(),
            Packet::PacketData(d) => peers.by_index.get(&(d.receiver_idx >> 8)).cloned(),
        }
    }
}

/// Handshakes, rekeys and keepalives of every session.
fn timers(s: &Shared) {
    let mut out = vec![0u8; BUFFER];
    while !s.stopped() {
        std::thread::sleep(TIMER_TICK);
        let peers: Vec<Arc<PeerState>> = s.peers.read().by_addr.values().cloned().collect();
        for peer in peers {
            let mut tunn = peer.tunn.lock();
            if let TunnResult::WriteToNetwork(d) = tunn.update_timers(&mut out) {
                s.send(d, peer.peer.endpoint);
            }
        }
    }
}
