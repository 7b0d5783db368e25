//! The load balancer's nftables script: a pure function of the node's networks.
//!
//! One script replaces everything at once (`nft -f -` is one transaction): each shoal
//! table is declared, deleted and declared again with its full content, so applying a
//! script twice leaves one copy and a half-applied state never exists.

use crate::overlay::{bridge_name, vxlan_name};
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

/// A published port: protocol and port.
type Port = (String, u16);

/// What the script is made of, gathered network by network.
#[derive(Default)]
struct Rules {
    /// Every VIP, and every gateway of this node (sets `vips`, `gateways`).
    vips: BTreeSet<Ipv4Addr>,
    gateways: BTreeSet<Ipv4Addr>,
    /// VIP → DNAT target, for VIPs with ready tasks.
    vip_nat: BTreeMap<Ipv4Addr, String>,
    /// VIPs without a ready task (rejected).
    dead_vips: BTreeSet<Ipv4Addr>,
    /// VIP → the condition of a stale flow (its task is none of the live ones).
    stale_vips: BTreeMap<Ipv4Addr, String>,
    /// Published port → DNAT target, for ports with ready tasks.
    mesh_nat: BTreeMap<Port, String>,
    /// Published ports without a ready task (rejected).
    dead_ports: BTreeSet<Port>,
    /// Published port → the condition of a stale flow.
    stale_ports: BTreeMap<Port, String>,
    masquerade: Vec<String>,
    /// VXLAN device → the VIPs whose ARP stays off it.
    arp: BTreeMap<String, BTreeSet<Ipv4Addr>>,
}

/// Renders the plan for `networks` (this node's complete set).
///
/// - VIP (every network, every service with a VIP): `ip daddr VIP` is DNAT'd, any protocol
///   and port, to one of the service's ready tasks on that network picked at random; with
///   no ready task it is rejected (TCP reset, else ICMP unreachable) instead of reaching
///   the host's own sockets.
/// - Mesh (the ingress network): each published ingress port on any local address but the
///   VIPs is DNAT'd to `task . target` of a ready task on the ingress network, and
///   masqueraded out of the ingress bridge (replies must come back through this node); a
///   published port without a ready task is rejected. Port 53 on the node's gateways stays
///   its resolver's.
/// - A published TCP port with PROXY protocol (see [`proxies`]) is not DNAT'd: connections
///   reach the node's own proxy listening on it. Without a ready task it is rejected too.
/// - Connections already DNAT'd to a task that is no longer an endpoint of the network
///   (stopped, removed) are reset on their next packet rather than left hanging: a filter
///   at prerouting, before NAT (so the reset carries the address the client connected
///   to), matches flows whose conntrack reply source is no longer a live task. Tasks that
///   are only not ready keep their open connections: they drain.
///
/// Per-packet cost does not grow with the number of services: VIPs and ports are looked up
/// in verdict maps that jump to one small chain per VIP or port, and address lists are
/// named sets.
pub fn render(networks: &[NodeNetwork]) -> Plan {
    let mut rules = Rules::default();
    let mut vips: BTreeMap<String, BTreeSet<Ipv4Addr>> = BTreeMap::new();
    rules.gateways = networks
        .iter()
        .filter_map(|n| gateway_ip(&n.gateway))
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
            rules.vips.insert(vip);
            let (ready, alive) = backends.get(&s.service_id).cloned().unwrap_or_default();
            match dnat_target(&ready, None) {
                Some(target) => {
                    rules.vip_nat.insert(vip, target);
                }
                None => {
                    rules.dead_vips.insert(vip);
                }
            }
            rules.stale_vips.insert(vip, not_in(&alive));
        }
    }
    let mut bridges = BTreeSet::new();
    for p in published(networks) {
        if p.proxy {
            // the node's proxy serves it; without a ready task it is refused all the same
            if p.ready.is_empty() {
                rules.dead_ports.insert(p.key);
            }
            continue;
        }
        bridges.insert(p.bridge);
        match dnat_target(&p.ready, Some(p.target)) {
            Some(target) => {
                rules.mesh_nat.insert(p.key.clone(), target);
            }
            None => {
                rules.dead_ports.insert(p.key.clone());
            }
        }
        rules.stale_ports.insert(p.key, not_in(&p.alive));
    }
    for bridge in bridges {
        rules
            .masquerade
            .push(format!("ct status dnat oifname \"{bridge}\" masquerade"));
    }
    Plan {
        mesh: !rules.stale_ports.is_empty(),
        script: script(&rules),
        vips,
    }
}

/// A published ingress port the node's PROXY protocol proxy serves (see [`proxies`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyPort {
    /// The port inside the tasks.
    pub target: u16,
    /// The service's ready tasks on the ingress network, sorted.
    pub backends: Vec<Ipv4Addr>,
}

/// The published ingress TCP ports whose service asked for PROXY protocol v2
/// (`NetPort::proxy_protocol`), by published port: [`render`] leaves them out of the
/// kernel's DNAT, so connections reach the node's proxy listening on that port.
pub fn proxies(networks: &[NodeNetwork]) -> BTreeMap<u16, ProxyPort> {
    published(networks)
        .into_iter()
        .filter(|p| p.proxy)
        .map(|p| {
            (
                p.key.1,
                ProxyPort {
                    target: p.target,
                    backends: p.ready,
                },
            )
        })
        .collect()
}

/// A port the mesh publishes, with its service's tasks on the ingress network.
struct Published {
    key: Port,
    target: u16,
    /// Served by the PROXY protocol proxy rather than DNAT'd in the kernel.
    proxy: bool,
    bridge: String,
    ready: Vec<Ipv4Addr>,
    alive: Vec<Ipv4Addr>,
}

/// Every port the mesh publishes on the ingress network(s): ingress-mode, TCP, UDP or
/// SCTP, not one of [`RESERVED_PORTS`]; a port published twice stays the first service's.
fn published(networks: &[NodeNetwork]) -> Vec<Published> {
    let mut out: Vec<Published> = Vec::new();
    let mut seen: BTreeSet<Port> = BTreeSet::new();
    for n in networks.iter().filter(|n| n.network.is_ingress()) {
        let backends = by_service(&n.endpoints);
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
                let key = (proto, p.published);
                if !seen.insert(key.clone()) {
                    continue; // published twice: the first service keeps it
                }
                out.push(Published {
                    proxy: p.proxy_protocol && key.0 == "tcp",
                    key,
                    target: p.target,
                    bridge: bridge_name(n.network.vni),
                    ready: ready.clone(),
                    alive: alive.clone(),
                });
            }
        }
    }
    out
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

/// `ct reply ip saddr != { a, b } ` (the flow's task is none of these), or nothing when
/// no address is left (then every flow is stale).
fn not_in(alive: &[Ipv4Addr]) -> String {
    if alive.is_empty() {
        return String::new();
    }
    format!("ct reply ip saddr != {{ {} }} ", list(alive))
}

/// `a, b, c`.
fn list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The chain of one VIP: `vip_10_0_1_2`.
fn vip_chain(prefix: &str, vip: &Ipv4Addr) -> String {
    format!("{prefix}_{}", vip.to_string().replace('.', "_"))
}

/// The chain of one published port: `mesh_tcp_8080`.
fn port_chain(prefix: &str, (proto, port): &Port) -> String {
    format!("{prefix}_{proto}_{port}")
}

/// The rules rejecting what `cond` matches: TCP with a reset, the rest with ICMP
/// unreachable. `proto` says which one `cond` already implies.
fn rejects(cond: &str, proto: Option<&str>) -> Vec<String> {
    match proto {
        Some("tcp") => vec![format!("{cond}reject with tcp reset")],
        Some(_) => vec![format!("{cond}reject")],
        None => vec![
            format!("{cond}meta l4proto tcp reject with tcp reset"),
            format!("{cond}reject"),
        ],
    }
}

/// A chain: its name, its hook line (None for a regular chain) and its rules.
type Chain = (String, Option<&'static str>, Vec<String>);

/// The whole script: both tables removed, then recreated with their rules (if any).
fn script(rules: &Rules) -> String {
    // declaring a table before deleting it makes the delete valid when it does not exist
    let mut lines = vec![
        format!("table ip {NAT_TABLE}"),
        format!("delete table ip {NAT_TABLE}"),
        format!("table bridge {ARP_TABLE}"),
        format!("delete table bridge {ARP_TABLE}"),
    ];
    let chains = chains(rules);
    if !chains.is_empty() {
        lines.push(format!("table ip {NAT_TABLE} {{"));
        for (name, set) in [("vips", &rules.vips), ("gateways", &rules.gateways)] {
            lines.push(format!("\tset {name} {{"));
            lines.push("\t\ttype ipv4_addr;".into());
            if !set.is_empty() {
                lines.push(format!("\t\telements = {{ {} }}", list(set)));
            }
            lines.push("\t}".into());
        }
        for (name, hook, chain_rules) in chains {
            lines.push(format!("\tchain {name} {{"));
            if let Some(hook) = hook {
                lines.push(format!("\t\t{hook}; policy accept;"));
            }
            lines.extend(chain_rules.iter().map(|r| format!("\t\t{r}")));
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
                lines.push(format!(
                    "\t\t{dir} \"{vxlan}\" arp operation request arp daddr ip {{ {} }} drop",
                    list(vips)
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

/// The `ip shoal_lb` chains, base chains first; empty when there is nothing to do.
fn chains(rules: &Rules) -> Vec<Chain> {
    // the mesh's matcher: a published port on a local address that is not a VIP
    const MESH: &str = "fib daddr type local ip daddr != @vips meta l4proto . th dport";
    // port 53 on the node's gateways is its resolver's, whatever is published
    let keep_resolver = |(_, port): &Port| -> Vec<String> {
        if *port == DNS_PORT {
            vec!["ip daddr @gateways accept".into()]
        } else {
            vec![]
        }
    };
    let vmap = |entries: Vec<String>| format!("vmap {{ {} }}", entries.join(", "));
    let mut base: Vec<Chain> = vec![];
    let mut regular: Vec<Chain> = vec![];

    if !rules.stale_vips.is_empty() || !rules.stale_ports.is_empty() {
        let mut r = vec![];
        if !rules.stale_vips.is_empty() {
            let entries = rules
                .stale_vips
                .keys()
                .map(|v| format!("{v} : goto {}", vip_chain("stale", v)))
                .collect();
            r.push(format!(
                "ct direction original ct status dnat ct original ip daddr {}",
                vmap(entries)
            ));
        }
        if !rules.stale_ports.is_empty() {
            let entries = rules
                .stale_ports
                .keys()
                .map(|p| format!("{} . {} : goto {}", p.0, p.1, port_chain("stale", p)))
                .collect();
            r.push(format!(
                "ct direction original ct status dnat {MESH} {}",
                vmap(entries)
            ));
        }
        // before NAT, so a reset leaves with the address the client connected to
        base.push((
            "stale".into(),
            Some("type filter hook prerouting priority mangle"),
            r,
        ));
        for (vip, cond) in &rules.stale_vips {
            regular.push((vip_chain("stale", vip), None, rejects(cond, None)));
        }
        for (port, cond) in &rules.stale_ports {
            let mut r = keep_resolver(port);
            r.extend(rejects(cond, Some(&port.0)));
            regular.push((port_chain("stale", port), None, r));
        }
    }
    if !rules.vip_nat.is_empty() {
        let entries: Vec<String> = rules
            .vip_nat
            .keys()
            .map(|v| format!("{v} : goto {}", vip_chain("vip", v)))
            .collect();
        let rule = format!("ip daddr {}", vmap(entries));
        // VIPs before the mesh; the output hook serves the node's own connections
        base.push((
            "vip_pre".into(),
            Some("type nat hook prerouting priority dstnat - 10"),
            vec![rule.clone()],
        ));
        base.push((
            "vip_out".into(),
            Some("type nat hook output priority -110"),
            vec![rule],
        ));
        for (vip, target) in &rules.vip_nat {
            regular.push((
                vip_chain("vip", vip),
                None,
                vec![format!("dnat to {target}")],
            ));
        }
    }
    if !rules.mesh_nat.is_empty() {
        let entries: Vec<String> = rules
            .mesh_nat
            .keys()
            .map(|p| format!("{} . {} : goto {}", p.0, p.1, port_chain("mesh", p)))
            .collect();
        let rule = format!("{MESH} {}", vmap(entries));
        base.push((
            "mesh_pre".into(),
            Some("type nat hook prerouting priority dstnat"),
            vec![rule.clone()],
        ));
        // the node's own loopback traffic cannot be DNAT'd elsewhere (martian source)
        base.push((
            "mesh_out".into(),
            Some("type nat hook output priority -100"),
            vec![format!("ip daddr != 127.0.0.0/8 {rule}")],
        ));
        for (port, target) in &rules.mesh_nat {
            let mut r = keep_resolver(port);
            // nft needs the protocol in the rule to rewrite a port
            r.push(format!(
                "meta l4proto {} dnat ip addr . port to {target}",
                port.0
            ));
            regular.push((port_chain("mesh", port), None, r));
        }
    }
    if !rules.masquerade.is_empty() {
        base.push((
            "post".into(),
            Some("type nat hook postrouting priority srcnat"),
            rules.masquerade.clone(),
        ));
    }
    if !rules.dead_vips.is_empty() || !rules.dead_ports.is_empty() {
        let mut r = vec![];
        if !rules.dead_vips.is_empty() {
            r.extend(rejects(
                &format!("ip daddr {{ {} }} ", list(&rules.dead_vips)),
                None,
            ));
        }
        for port in &rules.dead_ports {
            if port.1 == DNS_PORT {
                r.push(format!(
                    "ip daddr @gateways {} dport {DNS_PORT} accept",
                    port.0
                ));
            }
            r.extend(rejects(
                &format!(
                    "fib daddr type local ip daddr != @vips {} dport {} ",
                    port.0, port.1
                ),
                Some(&port.0),
            ));
        }
        base.push((
            "input".into(),
            Some("type filter hook input priority filter - 10"),
            r,
        ));
    }
    if base.is_empty() {
        return vec![];
    }
    base.extend(regular);
    base
}
