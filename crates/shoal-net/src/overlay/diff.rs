//! Desired vs observed → the operations that make the kernel match, grouped per network so a
//! failure is charged to the network it concerns. Pure; unit-tested in `diff_tests.rs`.

use super::observed::{LinkKind, Observed, VxlanAttrs};
use super::plan::{DesiredNetwork, Plan, bridge_name, vni_of_device, vxlan_name};
use crate::mac::Mac;
use std::collections::{BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr};

/// One kernel change. Links are named; the kernel resolves names to indexes when it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    DeleteLink {
        name: String,
    },
    AddBridge {
        name: String,
        mac: Mac,
        mtu: u32,
    },
    AddVxlan {
        name: String,
        vni: u32,
        /// IPv4 on the LAN, or the node's tunnel address (IPv6) for an encrypted network.
        local: IpAddr,
        port: u16,
        mtu: u32,
    },
    /// Sets the given attributes and brings the link up.
    SetLink {
        name: String,
        mac: Option<Mac>,
        mtu: u32,
        master: Option<String>,
    },
    AddAddress {
        link: String,
        ip: Ipv4Addr,
        prefix_len: u8,
    },
    DeleteAddress {
        link: String,
        ip: Ipv4Addr,
        prefix_len: u8,
    },
    AddFdb {
        link: String,
        mac: Mac,
        dst: IpAddr,
    },
    DeleteFdb {
        link: String,
        mac: Mac,
        dst: IpAddr,
    },
    AddNeighbour {
        link: String,
        ip: Ipv4Addr,
        mac: Mac,
    },
    DeleteNeighbour {
        link: String,
        ip: Ipv4Addr,
        mac: Mac,
    },
}

/// The operations of one network (`network_id` `None`: removal of a leftover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkOps {
    pub network_id: Option<String>,
    pub vni: u32,
    pub ops: Vec<Op>,
}

/// The operations that bring `observed` to `plan`. Devices of VNIs in `keep` that are not in
/// the plan are left alone; other leftover shoal devices are deleted. Groups with no
/// operation are omitted, so an empty result means the kernel already matches.
pub fn diff(plan: &Plan, observed: &Observed, keep: &BTreeSet<u32>) -> Vec<NetworkOps> {
    let mut out = Vec::new();
    let wanted: HashSet<u32> = plan.networks.iter().map(|n| n.vni).collect();
    let leftovers: BTreeSet<u32> = observed
        .links
        .keys()
        .filter_map(|name| vni_of_device(name))
        .filter(|vni| !wanted.contains(vni) && !keep.contains(vni))
        .collect();
    for vni in leftovers {
        let ops: Vec<Op> = [vxlan_name(vni), bridge_name(vni)]
            .into_iter()
            .filter(|name| observed.links.contains_key(name))
            .map(|name| Op::DeleteLink { name })
            .collect();
        out.push(NetworkOps {
            network_id: None,
            vni,
            ops,
        });
    }
    for network in &plan.networks {
        let ops = network_ops(network, observed);
        if !ops.is_empty() {
            out.push(NetworkOps {
                network_id: Some(network.network_id.clone()),
                vni: network.vni,
                ops,
            });
        }
    }
    out
}

fn network_ops(n: &DesiredNetwork, observed: &Observed) -> Vec<Op> {
    let mut ops = Vec::new();
    let bridge = n.bridge();
    let vxlan = n.vxlan();
    let mac = n.bridge_mac();

    // The bridge.
    let mut bridge_fresh = false;
    match observed.links.get(&bridge) {
        Some(link) if link.kind == LinkKind::Bridge => {
            if link.mac != Some(mac) || link.mtu != n.mtu || !link.up {
                ops.push(Op::SetLink {
                    name: bridge.clone(),
                    mac: Some(mac),
                    mtu: n.mtu,
                    master: None,
                });
            }
        }
        found => {
            if found.is_some() {
                ops.push(Op::DeleteLink {
                    name: bridge.clone(),
                });
            }
            ops.push(Op::AddBridge {
                name: bridge.clone(),
                mac,
                mtu: n.mtu,
            });
            ops.push(Op::SetLink {
                name: bridge.clone(),
                mac: Some(mac),
                mtu: n.mtu,
                master: None,
            });
            bridge_fresh = true;
        }
    }

    // Its gateway address. Only addresses with the subnet's prefix length are shoal's to
    // manage: /32s on the bridge are service VIPs of the load balancer.
    let empty = BTreeSet::new();
    let addresses = if bridge_fresh {
        &empty
    } else {
        observed.addresses.get(&bridge).unwrap_or(&empty)
    };
    for &(ip, len) in addresses {
        if len == n.prefix_len && len != 32 && ip != n.gateway {
            ops.push(Op::DeleteAddress {
                link: bridge.clone(),
                ip,
                prefix_len: len,
            });
        }
    }
    if !addresses.contains(&(n.gateway, n.prefix_len)) {
        ops.push(Op::AddAddress {
            link: bridge.clone(),
            ip: n.gateway,
            prefix_len: n.prefix_len,
        });
    }

    // The VXLAN device, enslaved to the bridge.
    let wanted = VxlanAttrs {
        vni: n.vni,
        local: Some(n.local),
        port: n.port,
        learning: false,
        proxy: true,
    };
    let bridge_index = if bridge_fresh {
        None
    } else {
        observed.links.get(&bridge).map(|l| l.index)
    };
    let mut vxlan_fresh = false;
    match observed.links.get(&vxlan) {
        Some(link) if link.kind == LinkKind::Vxlan(wanted) => {
            if link.master.is_none() || link.master != bridge_index || link.mtu != n.mtu || !link.up
            {
                ops.push(Op::SetLink {
                    name: vxlan.clone(),
                    mac: None,
                    mtu: n.mtu,
                    master: Some(bridge.clone()),
                });
            }
        }
        found => {
            if found.is_some() {
                ops.push(Op::DeleteLink {
                    name: vxlan.clone(),
                });
            }
            ops.push(Op::AddVxlan {
                name: vxlan.clone(),
                vni: n.vni,
                local: n.local,
                port: n.port,
                mtu: n.mtu,
            });
            ops.push(Op::SetLink {
                name: vxlan.clone(),
                mac: None,
                mtu: n.mtu,
                master: Some(bridge.clone()),
            });
            vxlan_fresh = true;
        }
    }

    // Peers: deletions first, so a moved address (same MAC, new VTEP) is replaced.
    let no_fdb = BTreeSet::new();
    let no_neigh = BTreeSet::new();
    let (fdb, neighbours) = if vxlan_fresh {
        (&no_fdb, &no_neigh)
    } else {
        (
            observed.fdb.get(&vxlan).unwrap_or(&no_fdb),
            observed.neighbours.get(&vxlan).unwrap_or(&no_neigh),
        )
    };
    let want_fdb: BTreeSet<(Mac, IpAddr)> = n.peers.iter().map(|p| (p.mac, p.vtep)).collect();
    let want_neigh: BTreeSet<(Ipv4Addr, Mac)> = n.peers.iter().map(|p| (p.ip, p.mac)).collect();
    for &(mac, dst) in fdb.difference(&want_fdb) {
        ops.push(Op::DeleteFdb {
            link: vxlan.clone(),
            mac,
            dst,
        });
    }
    for &(ip, mac) in neighbours.difference(&want_neigh) {
        ops.push(Op::DeleteNeighbour {
            link: vxlan.clone(),
            ip,
            mac,
        });
    }
    for &(mac, dst) in want_fdb.difference(fdb) {
        ops.push(Op::AddFdb {
            link: vxlan.clone(),
            mac,
            dst,
        });
    }
    for &(ip, mac) in want_neigh.difference(neighbours) {
        ops.push(Op::AddNeighbour {
            link: vxlan.clone(),
            ip,
            mac,
        });
    }
    ops
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
