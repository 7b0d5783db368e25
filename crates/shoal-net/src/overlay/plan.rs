//! The desired kernel state of a node's overlay networks: a pure function of the dispatcher's
//! network set and the node's own data-path address.

use crate::mac::Mac;
use shoal_types::NodeId;
use shoal_types::dispatch::NodeNetwork;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

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
    /// The remote node's data-path address.
    pub vtep: Ipv4Addr,
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
    /// This node's data-path address: the VXLAN device's local end.
    pub local: Ipv4Addr,
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
/// Encrypted networks are refused (their traffic must never cross the LAN in clear text and
/// this node cannot encrypt it yet), as are networks whose VNI or gateway is unusable. Peers
/// are the endpoints and node gateways of other nodes (a node is remote when its data-path
/// address differs from `local`); an endpoint whose node is not among the network's nodes has
/// no known VTEP and is left out.
pub fn plan(networks: &[NodeNetwork], local: Ipv4Addr, port: u16) -> Plan {
    let mut out = Plan::default();
    let mut seen_vni = BTreeSet::new();
    for n in networks {
        let network = &n.network;
        let refuse = |reason: String| PlanRefusal {
            network_id: network.id.clone(),
            reason,
        };
        let name = network.name();
        if network.is_encrypted() {
            out.refused.push(refuse(format!(
                "network {name} is encrypted, and encrypted overlay networks are not supported on this node yet (traffic is never sent in clear text)"
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
        let mut vteps: BTreeMap<&str, Ipv4Addr> = BTreeMap::new();
        let mut peers = BTreeSet::new();
        for node in &n.nodes {
            let Ok(vtep) = node.addr.parse::<Ipv4Addr>() else {
                continue;
            };
            if vtep == local {
                continue;
            }
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
            local,
            port: vxlan_port(n, port),
            peers,
        });
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
