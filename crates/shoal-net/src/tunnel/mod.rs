//! Encrypted overlays: a userspace WireGuard tunnel between nodes that carries the VXLAN
//! traffic of encrypted networks (`network create -d overlay --opt encrypted`).
//!
//! The kernel has neither ESP/XFRM AEAD nor WireGuard, so each node runs one WireGuard
//! interface in userspace ([`Tunnel`], a TUN device named `shwg0` by default plus a UDP socket on
//! port [`DEFAULT_PORT`]) using boringtun's Noise sessions. Nothing in it is allocated:
//!
//! - every node's tunnel address is derived from its data-path IPv4 address
//!   ([`tunnel_addr`]: `10.99.0.11` → `fd5e:a1::a63:b`), a /128 on the TUN device plus one
//!   route for [`TUNNEL_PREFIX`] through it;
//! - the VXLAN device of an encrypted network uses the node's own tunnel address as its local
//!   address and the peers' tunnel addresses as forwarding destinations, so its UDP packets
//!   enter the TUN device, are encrypted there and leave as WireGuard datagrams to the peer's
//!   LAN address; a guard table (nftables `ip6 shoal_tunnel`) drops packets to or from tunnel
//!   addresses that did not come out of the TUN device, so nothing can reach the VXLAN
//!   sockets of encrypted networks in clear text from the LAN;
//! - a node's key pair ([`NodeKey`]) is made on the node and kept in its data root (mode 0600);
//!   only the public key leaves the node, through the store ([`NetNode::key`]).
//!
//! [`plan`] turns a node's networks into the peer set ([`TunnelConfig`]); [`Tunnel::apply`]
//! replaces the peers (a node that is gone loses its session at once). There is no clear-text
//! fallback: when the tunnel cannot be made, [`Tunnel::start`] fails with an error that names
//! the problem and the caller fails the tasks of encrypted networks with it.
//!
//! [`NetNode::key`]: shoal_types::dispatch::NetNode::key

mod device;
mod keys;
#[doc(hidden)]
pub mod lab;
mod plan;

#[cfg(test)]
mod lab_tests;
#[cfg(test)]
mod plan_tests;

use std::net::{Ipv4Addr, Ipv6Addr};

pub use device::{Tunnel, TunnelOptions};
pub use keys::{NodeKey, decode_key};
pub use plan::{Peer, TunnelConfig, plan};

/// The UDP port WireGuard datagrams between nodes use unless configured otherwise.
pub const DEFAULT_PORT: u16 = 4790;

/// The name of the node's tunnel interface unless configured otherwise.
pub const DEFAULT_IFNAME: &str = "shwg0";

/// The prefix of all tunnel addresses: `fd5e:a1::/96`, the low 32 bits being the node's
/// data-path IPv4 address.
pub const TUNNEL_PREFIX: (Ipv6Addr, u8) = (Ipv6Addr::new(0xfd5e, 0xa1, 0, 0, 0, 0, 0, 0), 96);

/// The MTU of the tunnel interface. Large on purpose: the VXLAN packets of an encrypted
/// network (its MTU + 70 bytes of Ethernet, VXLAN, UDP and IPv6 headers) always fit, and the
/// WireGuard datagrams carrying them are fragmented by the kernel on the LAN when they exceed
/// its MTU. A network with a larger MTU (`com.docker.network.driver.mtu`) therefore costs fewer
/// packets per byte, which is what bounds a userspace tunnel's throughput.
pub const TUNNEL_MTU: u32 = 65_000;

/// The largest MTU of an encrypted network: its VXLAN packets (MTU + 14 bytes of Ethernet,
/// 8 of VXLAN, 8 of UDP, 40 of IPv6) must fit the tunnel device.
pub const MAX_NETWORK_MTU: u32 = TUNNEL_MTU - 70;

/// The bytes WireGuard adds to each packet (header and authentication tag).
pub const WIREGUARD_OVERHEAD: usize = 32;

/// The tunnel address of the node whose data-path address is `lan`: `fd5e:a1::a.b.c.d`.
/// The VXLAN device of an encrypted network uses it as its local address, and as the
/// forwarding destination of the node's endpoints on other nodes.
pub fn tunnel_addr(lan: Ipv4Addr) -> Ipv6Addr {
    let [a, b, c, d] = lan.octets();
    let (prefix, _) = TUNNEL_PREFIX;
    let s = prefix.segments();
    Ipv6Addr::new(
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        u16::from_be_bytes([a, b]),
        u16::from_be_bytes([c, d]),
    )
}

/// Why the tunnel could not be made or changed. Each variant names what failed; none of them
/// leaves traffic in clear text.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("encrypted overlay: the node key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("encrypted overlay: the node key file {path} is not a base64 32-byte key")]
    BadKeyFile { path: String },
    #[error("encrypted overlay: cannot create the tunnel device {name}: {detail}")]
    Device { name: String, detail: String },
    #[error("encrypted overlay: cannot listen on UDP port {port}: {source}")]
    Socket { port: u16, source: std::io::Error },
    #[error("encrypted overlay: `{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("encrypted overlay: the tunnel has stopped")]
    Stopped,
}
