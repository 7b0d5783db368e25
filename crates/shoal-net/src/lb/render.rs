//! The load balancer's nftables script: a pure function of the node's networks.
//!
//! One script replaces everything at once (`nft -f -` is one transaction): each shoal
//! table is declared, deleted and declared again with its full content, so applying a
//! script twice leaves one copy and a half-applied state never exists.

use shoal_types::dispatch::{NetEndpoint, NodeNetwork};
use shoal_types::id::ServiceId;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

/// The `ip` table holding VIP and routing-mesh NAT and their filters.
pub const NAT_TABLE: &str = "shoal_lb";
/// The `bridge` table keeping ARP for VIPs off the VXLAN ports.
pub const ARP_TABLE: &str = "shoal_lb_arp";

/// Ports the node itself serves on its LAN address, never the routing mesh's: VXLAN
/// (4789/udp) carries every overlay network, 2377/tcp the cluster. The mesh skips them so
/// a spec publishing them cannot cut a node off.
pub const RESERVED_PORTS: [(&str, u16); 2] = [("udp", 4789), ("tcp", 2377)];

/// The port of the node's resolver on its gateway addresses.
const DNS_PORT: u16 = 53;

/// The Linux bridge of the network with VXLAN id `vni`.
pub fn bridge_name(vni: u32) -> String {
    format!("shbr{vni}")
}

/// The VXLAN device of the network with VXLAN id `vni`.
pub fn vxlan_name(vni: u32) -> String {
    format!("shvx{vni}")
}

/// Everything the load balancer puts on a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The `nft -f -` script (also correct when empty of rules: it then removes shoal's
    /// tables).
    pub script: String,
    /// The VIPs to hold as /32 addresses, per bridge.
    pub vips: BTreeMap<String, BTreeSet<Ipv4Addr>>,
    /// Whether the routing mesh forwards traffic (the host firewall must then accept
    /// DNAT'd flows).
    pub mesh: bool,
}

/// The rules of one table's chains, filled network by network.
#[derive(Default)]
struct Rules {
    vip_nat: Vec<String>,
    mesh_nat: Vec<String>,
    masquerade: Vec<String>,
    input: Vec<String>,
    stale: Vec<String>,
    arp: BTreeMap<String, BTreeSet<Ipv4Addr>>,
}

/// Renders the plan for `networks` (this node's complete set).
///
/// - VIP (every network, every service with a VIP): `ip daddr VIP` is DNAT'd, any protocol
///   and port, to one of the service's ready tasks on that network picked at random; with
///   no ready task it is rejected (TCP reset, else ICMP unreachable) instead of reaching
///   the host's own sockets.
/// - Mesh (the ingress network): each published ingress port on any local address is
///   DNAT'd to `task . target` of a ready task on the ingress network, and masqueraded
///   out of the ingress bridge (replies must come back through this node); a published
///   port without a ready task is rejected.
/// - Connections already DNAT'd to a task that is no longer an endpoint of the network
///   (stopped, removed) are reset on their next packet rather than left hanging: a filter
///   at prerouting, before NAT (so the reset carries the address the client connected
///   to), matches flows whose conntrack reply source is no longer a live task. Tasks that
///   are only not ready keep their open connections: they drain.
pub fn render(networks: &[NodeNetwork]) -> Plan {
    let mut rules = Rules::default();
    let mut vips: BTreeMap<String, BTreeSet<Ipv4Addr>> = BTreeMap::new();
    let mut mesh = false;
    // VIPs are local addresses too, but their flows are the VIP's, not the mesh's; and the
    // node's gateways serve its resolver on port 53 (a service publishing 53 must not
    // capture the tasks' DNS)
    let vips_only: BTreeSet<Ipv4Addr> = networks
        .iter()
        .flat_map(|n| &n.services)
        .filter_map(|s| s.vip.as_deref().and_then(|v| v.parse().ok()))
        .collect();
    let vips_and_gateways: BTreeSet<Ipv4Addr> = vips_only
        .iter()
        .copied()
        .chain(networks.iter().filter_map(|n| gateway_ip(&n.gateway)))
        .collect();
    for n in networks {
        let backends = by_service(&n.endpoints);
        let bridge = bridge_name(n.network.vni);
        let vxlan = vxlan_name(n.network.vni);
        for s in &n.services {
            let Some(vip) = s.vip.as_deref().and_then(|v| v.parse::<Ipv4Addr>().ok()) else {
                continue;
            };
            vips.entry(bridge.clone()).or_default().insert(vip);
            rules.arp.entry(vxlan.clone()).or_default().insert(vip);
            let (ready, alive) = backends.get(&s.service_id).cloned().unwrap_or_default();
            match dnat_target(&ready, None) {
                Some(target) => rules
                    .vip_nat
                    .push(format!("ip daddr {vip} dnat to {target}")),
                None => reject(&mut rules.input, &format!("ip daddr {vip}"), None),
            }
            let stale = format!(
                "ct direction original ct status dnat ct original ip daddr {vip}{}",
                not_in(&alive)
            );
            reject(&mut rules.stale, &stale, None);
        }
        if !n.network.is_ingress() {
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut published = false;
        for s in &n.services {
            let (ready, alive) = backends.get(&s.service_id).cloned().unwrap_or_default();
            for p in s.ports.iter().filter(|p| p.ingress) {
                let proto = p.protocol.to_ascii_lowercase();
                if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") || p.published == 0 {
                    tracing::warn!(service = %s.name, protocol = %p.protocol, published = p.published, "lb: cannot publish this port");
                    continue;
                }
                if RESERVED_PORTS.contains(&(proto.as_str(), p.published)) {
                    tracing::warn!(service = %s.name, protocol = %proto, published = p.published, "lb: port is the node's own, not published");
                    continue;
                }
                if !seen.insert((proto.clone(), p.published)) {
                    continue;
                }
                published = true;
                let matcher = format!(
                    "fib daddr type local{} {proto} dport {}",
                    not_daddr(if p.published == DNS_PORT {
                        &vips_and_gateways
                    } else {
                        &vips_only
                    }),
                    p.published
                );
                match dnat_target(&ready, Some(p.target)) {
                    Some(target) => rules
                        .mesh_nat
                        .push(format!("{matcher} dnat ip addr . port to {target}")),
                    None => reject(&mut rules.input, &matcher, Some(&proto)),
                }
                let stale = format!(
                    "ct direction original ct status dnat {matcher}{}",
                    not_in(&alive)
                );
                reject(&mut rules.stale, &stale, Some(&proto));
            }
        }
        if published {
            mesh = true;
            rules
                .masquerade
                .push(format!("ct status dnat oifname \"{bridge}\" masquerade"));
        }
    }
    Plan {
        script: script(&rules),
        vips,
        mesh,
    }
}

/// Per service, the sorted addresses of its ready endpoints and of all its endpoints.
fn by_service(endpoints: &[NetEndpoint]) -> HashMap<&ServiceId, (Vec<Ipv4Addr>, Vec<Ipv4Addr>)> {
    let mut sets: HashMap<&ServiceId, (BTreeSet<Ipv4Addr>, BTreeSet<Ipv4Addr>)> = HashMap::new();
    for e in endpoints {
        let Ok(addr) = e.addr.parse::<Ipv4Addr>() else {
            continue;
        };
        let (ready, alive) = sets.entry(&e.service_id).or_default();
        alive.insert(addr);
        if e.ready {
            ready.insert(addr);
        }
    }
    sets.into_iter()
        .map(|(id, (ready, alive))| {
            (
                id,
                (ready.into_iter().collect(), alive.into_iter().collect()),
            )
        })
        .collect()
}

/// `a`, or `numgen random mod n map { 0 : a, 1 : b }`; with a port, `a . port` elements.
fn dnat_target(backends: &[Ipv4Addr], port: Option<u16>) -> Option<String> {
    let element = |a: &Ipv4Addr| match port {
        Some(p) => format!("{a} . {p}"),
        None => a.to_string(),
    };
    match backends {
        [] => None,
        [one] => Some(element(one)),
        many => {
            let map: Vec<String> = many
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{i} : {}", element(a)))
                .collect();
            Some(format!(
                "numgen random mod {} map {{ {} }}",
                many.len(),
                map.join(", ")
            ))
        }
    }
}

/// `10.0.1.254/24` (or a bare address) → `10.0.1.254`.
fn gateway_ip(gateway: &str) -> Option<Ipv4Addr> {
    gateway.split('/').next()?.parse().ok()
}

/// ` ct reply ip saddr != { a, b }` (the flow's task is none of these), or nothing when
/// no address is left (then every flow is stale).
fn not_in(alive: &[Ipv4Addr]) -> String {
    if alive.is_empty() {
        return String::new();
    }
    let list: Vec<String> = alive.iter().map(ToString::to_string).collect();
    format!(" ct reply ip saddr != {{ {} }}", list.join(", "))
}

/// ` ip daddr != { a, … }`, or nothing for no address.
fn not_daddr(addrs: &BTreeSet<Ipv4Addr>) -> String {
    if addrs.is_empty() {
        return String::new();
    }
    let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    format!(" ip daddr != {{ {} }}", list.join(", "))
}

/// Rejects what `matcher` matches: TCP with a reset, anything else with ICMP unreachable.
/// `proto` says which the matcher already implies.
fn reject(chain: &mut Vec<String>, matcher: &str, proto: Option<&str>) {
    match proto {
        Some("tcp") => chain.push(format!("{matcher} reject with tcp reset")),
        Some(_) => chain.push(format!("{matcher} reject")),
        None => {
            chain.push(format!("{matcher} meta l4proto tcp reject with tcp reset"));
            chain.push(format!("{matcher} reject"));
        }
    }
}

/// The whole script: both tables removed, then recreated with their rules (if any).
fn script(rules: &Rules) -> String {
    // declaring a table before deleting it makes the delete valid when it does not exist
    let mut lines = vec![
        format!("table ip {NAT_TABLE}"),
        format!("delete table ip {NAT_TABLE}"),
        format!("table bridge {ARP_TABLE}"),
        format!("delete table bridge {ARP_TABLE}"),
    ];
    let chains: [(&str, &str, &[String]); 7] = [
        // VIPs before the mesh: a VIP's own ports are never the mesh's
        (
            "vip_pre",
            "type nat hook prerouting priority dstnat - 10",
            &rules.vip_nat,
        ),
        (
            "vip_out",
            "type nat hook output priority -110",
            &rules.vip_nat,
        ),
        (
            "mesh_pre",
            "type nat hook prerouting priority dstnat",
            &rules.mesh_nat,
        ),
        (
            "mesh_out",
            "type nat hook output priority -100",
            &rules.mesh_nat,
        ),
        (
            "post",
            "type nat hook postrouting priority srcnat",
            &rules.masquerade,
        ),
        (
            "input",
            "type filter hook input priority filter - 10",
            &rules.input,
        ),
        // before NAT, so a reset leaves with the address the client connected to
        (
            "stale",
            "type filter hook prerouting priority mangle",
            &rules.stale,
        ),
    ];
    if chains.iter().any(|(_, _, r)| !r.is_empty()) {
        lines.push(format!("table ip {NAT_TABLE} {{"));
        for (name, hook, chain_rules) in chains.iter().filter(|(_, _, r)| !r.is_empty()) {
            lines.push(format!("\tchain {name} {{"));
            lines.push(format!("\t\t{hook}; policy accept;"));
            // the host's own loopback traffic cannot be DNAT'd elsewhere (martian source)
            let prefix = if *name == "mesh_out" {
                "ip daddr != 127.0.0.0/8 "
            } else {
                ""
            };
            lines.extend(chain_rules.iter().map(|r| format!("\t\t{prefix}{r}")));
            lines.push("\t}".into());
        }
        lines.push("}".into());
    }
    if !rules.arp.is_empty() {
        lines.push(format!("table bridge {ARP_TABLE} {{"));
        for (chain, dir) in [("forward", "oifname"), ("input", "iifname")] {
            lines.push(format!("\tchain {chain} {{"));
            lines.push(format!(
                "\t\ttype filter hook {chain} priority filter; policy accept;"
            ));
            for (vxlan, vips) in &rules.arp {
                let list: Vec<String> = vips.iter().map(ToString::to_string).collect();
                lines.push(format!(
                    "\t\t{dir} \"{vxlan}\" arp operation request arp daddr ip {{ {} }} drop",
                    list.join(", ")
                ));
            }
            lines.push("\t}".into());
        }
        lines.push("}".into());
    }
    let mut script = lines.join("\n");
    script.push('\n');
    script
}
