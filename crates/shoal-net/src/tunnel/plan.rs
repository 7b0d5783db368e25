//! The tunnel's peer set, decided from the networks the dispatcher sends a node: every other
//! node of every encrypted network is a peer, reached at its data-path address, allowed to
//! send only from its own tunnel address. A pure function; [`Tunnel::apply`] carries it out.
//!
//! [`Tunnel::apply`]: super::Tunnel::apply

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use shoal_types::NodeId;
use shoal_types::dispatch::NodeNetwork;

use super::keys::decode_key;
use super::tunnel_addr;

/// One node at the other end of the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub node_id: NodeId,
    /// Its WireGuard public key.
    pub key: [u8; 32],
    /// Where its WireGuard datagrams go: its data-path address and the tunnel port.
    pub endpoint: SocketAddr,
    /// Its tunnel address: the only source and destination its packets may carry inside the
    /// tunnel (allowed IP, a /128).
    pub tunnel_addr: Ipv6Addr,
}

/// What the node's tunnel must look like.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TunnelConfig {
    /// Whether any of the node's networks is encrypted (else no tunnel is needed at all).
    pub needed: bool,
    /// The peers, ordered by tunnel address, one per node.
    pub peers: Vec<Peer>,
    /// Nodes of encrypted networks that cannot be peers yet, each with the reason (no
    /// published key, an address that is not IPv4). Traffic to them is dropped, never sent
    /// in clear text.
    pub unusable: Vec<(NodeId, String)>,
}

/// The peers of the node whose data-path address is `own_addr`, on `networks` (the node's
/// complete set); every node's tunnel listens on `port`.
pub fn plan(own_addr: Ipv4Addr, port: u16, networks: &[NodeNetwork]) -> TunnelConfig {
    let mut peers: BTreeMap<Ipv6Addr, Peer> = BTreeMap::new();
    let mut unusable: BTreeMap<NodeId, String> = BTreeMap::new();
    let mut needed = false;
    for net in networks.iter().filter(|n| n.network.is_encrypted()) {
        needed = true;
        for node in &net.nodes {
            let Ok(addr) = node.addr.parse::<Ipv4Addr>() else {
                unusable.insert(
                    node.node_id.clone(),
                    format!("data-path address {:?} is not an IPv4 address", node.addr),
                );
                continue;
            };
            if addr == own_addr {
                continue;
            }
            let Some(key) = decode_key(&node.key) else {
                let why = if node.key.is_empty() {
                    "has not published a tunnel key".to_string()
                } else {
                    format!(
                        "published tunnel key {:?} is not base64 of 32 bytes",
                        node.key
                    )
                };
                unusable.insert(node.node_id.clone(), why);
                continue;
            };
            let tunnel = tunnel_addr(addr);
            peers.entry(tunnel).or_insert_with(|| Peer {
                node_id: node.node_id.clone(),
                key,
                endpoint: SocketAddr::V4(SocketAddrV4::new(addr, port)),
                tunnel_addr: tunnel,
            });
        }
    }
    for peer in peers.values() {
        unusable.remove(&peer.node_id);
    }
    TunnelConfig {
        needed,
        peers: peers.into_values().collect(),
        unusable: unusable.into_iter().collect(),
    }
}
