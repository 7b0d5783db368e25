//! The desired kernel state of a node's overlay networks: a pure function of the dispatcher's
//! network set, the node's own data-path address and whether its encrypted tunnel is up.
//!
//! A clear network's VXLAN device runs on the LAN: its local end is the node's data-path
//! address and its peers' VTEPs are theirs. An encrypted network's VXLAN device runs inside
//! the tunnel ([`crate::tunnel`]): its local end and its peers' VTEPs are tunnel addresses
//! (`fd5e:a1::a.b.c.d`), which only the tunnel device routes, and nodes that have not
//! published a usable tunnel key get no entries at all.

use crate::mac::Mac;
use crate::tunnel::{MAX_NETWORK_MTU, decode_key, tunnel_addr};
use shoal_types::NodeId;
use shoal_types::dispatch::NodeNetwork;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

/// The IANA VXLAN port, what Docker uses unless `--data-path-port` says otherwise.
pub const VXLAN_PORT: u16 = 4789;
/// VXLAN network identifiers are 24 bits; 0 is never allocated.
const MAX_VNI: u32 = (1 << 24) - 1;
const BRIDGE_PREFIX: &str = "shbr";
const VXLAN_PREFIX: &str = "shvx";

/// Name of the bridge of the network with VXLAN id `vni`.
pub fn bridge_name(vni: u32) -> String {
    format!("{BRIDGE_PREFIX}{vni}")
}

/// Name of the VXLAN device of the network with VXLAN id `vni`.
pub fn vxlan_name(vni: u32) -> String {
    format!("{VXLAN_PREFIX}{vni}")
}

/// The VNI in a shoal device name (`shbr4097` → 4097, `shvx4097` → 4097); `None` for any
/// other name, so devices shoal did not make are never touched.
pub fn vni_of_device(name: &str) -> Option<u32> {
    let digits = name
        .strip_prefix(BRIDGE_PREFIX)
        .or_else(|| name.strip_prefix(VXLAN_PREFIX))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// A remote address on a network and the node (VTEP) that has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Peer {
    pub ip: Ipv4Addr,
    pub mac: Mac,
    /// The remote node's VXLAN end: its data-path address, or its tunnel address on an
    /// encrypted network.
    pub vtep: IpAddr,
}

/// What one network must look like on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredNetwork {
    pub network_id: String,
    pub name: String,
    pub vni: u32,
    pub mtu: u32,
    /// This node's address on the network (the bridge's), and the subnet's prefix length.
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    /// The VXLAN device's local end: this node's data-path address, or its tunnel address on
    /// an encrypted network.
    pub local: IpAddr,
    pub port: u16,
    /// Every remote endpoint and remote node gateway, by address.
    pub peers: BTreeSet<Peer>,
}

impl DesiredNetwork {
    pub fn bridge(&self) -> String {
        bridge_name(self.vni)
    }

    pub fn vxlan(&self) -> String {
        vxlan_name(self.vni)
    }

    /// The bridge's MAC: the one derived from the gateway address, so remote nodes can
    /// program it without asking.
    pub fn bridge_mac(&self) -> Mac {
        Mac::of_ip(self.gateway)
    }
}

/// A network of the set that this node will not build, and why (the tasks on it fail with
/// the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRefusal {
    pub network_id: String,
    pub reason: String,
}

/// Whether this node's encrypted tunnel can carry encrypted networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption<'a> {
    /// The tunnel is up with the set's peers: encrypted networks run over it.
    Up,
    /// It is not, for this reason: encrypted networks are refused with it (never clear text).
    Unavailable(&'a str),
}

/// The desired state of every overlay network of the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub networks: Vec<DesiredNetwork>,
    pub refused: Vec<PlanRefusal>,
}

/// This node's data-path address as the managers know it: its entry in the `nodes` of any
/// network of the set.
pub fn local_address(networks: &[NodeNetwork], node_id: &NodeId) -> Option<Ipv4Addr> {
    networks
        .iter()
        .flat_map(|n| n.nodes.iter())
        .filter(|n| &n.node_id == node_id)
        .find_map(|n| n.addr.parse().ok())
}

/// The VXLAN UDP port of `n`: the cluster's data-path port when the managers sent one, else
/// `default`.
pub fn vxlan_port(n: &NodeNetwork, default: u16) -> u16 {
    if n.data_path_port == 0 {
        default
    } else {
        n.data_path_port
    }
}

fn parse_cidr(cidr: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = cidr.split_once('/')?;
    let len: u8 = len.parse().ok().filter(|l| (1..=32).contains(l))?;
    Some((ip.parse().ok()?, len))
}

/// The desired state for `networks` on the node whose data-path address is `local`, with
/// VXLAN traffic on UDP `port` unless a network names the cluster's own port
/// ([`NodeNetwork::data_path_port`], from `swarm init --data-path-port`).
///
/// Networks whose VNI or gateway is unusable are refused, and so are encrypted networks when
/// `encryption` is [`Encryption::Unavailable`] (their traffic must never cross the LAN in
/// clear text). Peers are the endpoints and node gateways of other nodes (a node is remote
/// when its data-path address differs from `local`); an endpoint whose node is not among the
/// network's nodes has no known VTEP and is left out. On an encrypted network, VXLAN ends are
/// tunnel addresses, and a remote node without a usable published key is left out with its
/// endpoints (its traffic has no key to be encrypted to).
pub fn plan(
    networks: &[NodeNetwork],
    local: Ipv4Addr,
    port: u16,
    encryption: Encryption<'_>,
) -> Plan {
    let mut out = Plan::default();
    let mut seen_vni = BTreeSet::new();
    for n in networks {
        let network = &n.network;
        let refuse = |reason: String| PlanRefusal {
            network_id: network.id.clone(),
            reason,
        };
        let name = network.name();
        let encrypted = network.is_encrypted();
        if encrypted && let Encryption::Unavailable(why) = encryption {
            out.refused.push(refuse(format!(
                "network {name} is encrypted and this node's encrypted tunnel is not available (its traffic is never sent in clear text): {why}"
            )));
            continue;
        }
        if encrypted && network.mtu() > MAX_NETWORK_MTU {
            out.refused.push(refuse(format!(
                "network {name} is encrypted and its MTU {} exceeds the tunnel's limit of {MAX_NETWORK_MTU}",
                network.mtu()
            )));
            continue;
        }
        if network.vni == 0 || network.vni > MAX_VNI {
            out.refused.push(refuse(format!(
                "network {name} has no usable VXLAN id ({})",
                network.vni
            )));
            continue;
        }
        if !seen_vni.insert(network.vni) {
            out.refused.push(refuse(format!(
                "network {name} shares VXLAN id {} with another network of this node",
                network.vni
            )));
            continue;
        }
        let Some((gateway, prefix_len)) = parse_cidr(&n.gateway) else {
            out.refused.push(refuse(format!(
                "network {name} has no usable gateway address for this node ({:?})",
                n.gateway
            )));
            continue;
        };
        // node id → VTEP, for remote nodes only.
        let mut vteps: BTreeMap<&str, IpAddr> = BTreeMap::new();
        let mut peers = BTreeSet::new();
        for node in &n.nodes {
            let Ok(addr) = node.addr.parse::<Ipv4Addr>() else {
                continue;
            };
            if addr == local {
                continue;
            }
            let vtep = if encrypted {
                if decode_key(&node.key).is_none() {
                    continue;
                }
                IpAddr::V6(tunnel_addr(addr))
            } else {
                IpAddr::V4(addr)
            };
            vteps.insert(node.node_id.as_str(), vtep);
            if let Ok(ip) = node.gateway.parse::<Ipv4Addr>() {
                peers.insert(Peer {
                    ip,
                    mac: Mac::of_ip(ip),
                    vtep,
                });
            }
        }
        for endpoint in &n.endpoints {
            let (Some(vtep), Ok(ip)) = (
                vteps.get(endpoint.node_id.as_str()),
                endpoint.addr.parse::<Ipv4Addr>(),
            ) else {
                continue;
            };
            peers.insert(Peer {
                ip,
                mac: Mac::of_ip(ip),
                vtep: *vtep,
            });
        }
        out.networks.push(DesiredNetwork {
            network_id: network.id.clone(),
            name: name.to_string(),
            vni: network.vni,
            mtu: network.mtu(),
            gateway,
            prefix_len,
            local: if encrypted {
                IpAddr::V6(tunnel_addr(local))
            } else {
                IpAddr::V4(local)
            },
            port: vxlan_port(n, port),
            peers,
        });
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
