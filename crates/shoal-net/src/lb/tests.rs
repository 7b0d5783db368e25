//! Scenarios of the load balancer: rendered scripts, address changes, the apply order on
//! a recording host, and real `nft`/`ip` in a scratch network namespace.

use super::*;
use shoal_types::dispatch::{NetEndpoint, NetPort, NetService, NodeNetwork};
use std::cell::RefCell;

fn net(vni: u32, ingress: bool) -> NodeNetwork {
    let mut n = NodeNetwork {
        gateway: format!("10.0.{vni}.254/24"),
        ..Default::default()
    };
    n.network.id = format!("net{vni}");
    n.network.vni = vni;
    n.network.spec.ingress = ingress;
    n
}

fn ep(svc: &str, addr: &str, ready: bool) -> NetEndpoint {
    NetEndpoint {
        task_id: format!("task-{addr}").as_str().into(),
        service_id: svc.into(),
        node_id: "n1".into(),
        addr: addr.into(),
        ready,
        ..Default::default()
    }
}

fn svc(id: &str, vip: Option<&str>, ports: Vec<NetPort>) -> NetService {
    NetService {
        service_id: id.into(),
        name: id.into(),
        vip: vip.map(Into::into),
        ports,
        ..Default::default()
    }
}

fn port(protocol: &str, target: u16, published: u16, ingress: bool) -> NetPort {
    NetPort {
        protocol: protocol.into(),
        target,
        published,
        ingress,
        proxy_protocol: false,
    }
}

/// Network 1 (vni 1): `web` (VIP 10.0.1.2) with two ready tasks and one starting, `idle`
/// (VIP 10.0.1.3) with none ready, `rr` in dnsrr mode. Ingress (vni 9): `web` publishes
/// 8080→80/tcp and 5353→53/udp, `idle` publishes 9090→90, and a host-mode port.
pub(super) fn scenario() -> Vec<NodeNetwork> {
    let mut app = net(1, false);
    app.services = vec![
        svc("web", Some("10.0.1.2"), vec![]),
        svc("idle", Some("10.0.1.3"), vec![]),
        svc("rr", None, vec![]),
    ];
    app.endpoints = vec![
        ep("web", "10.0.1.11", true),
        ep("web", "10.0.1.10", true),
        ep("web", "10.0.1.12", false),
        ep("idle", "10.0.1.20", false),
        ep("rr", "10.0.1.30", true),
    ];
    let mut ingress = net(9, true);
    ingress.services = vec![
        svc(
            "web",
            Some("10.0.9.2"),
            vec![
                port("tcp", 80, 8080, true),
                port("udp", 53, 5353, true),
                port("tcp", 22, 2222, false),
                port("udp", 4789, 4789, true),
            ],
        ),
        svc("idle", Some("10.0.9.3"), vec![port("tcp", 90, 9090, true)]),
    ];
    ingress.endpoints = vec![
        ep("web", "10.0.9.10", true),
        ep("web", "10.0.9.11", true),
        ep("idle", "10.0.9.20", false),
    ];
    vec![app, ingress]
}

fn has(script: &str, line: &str) {
    assert!(
        script.lines().any(|l| l.trim() == line),
        "missing rule\n  {line}\nin script:\n{script}"
    );
}

/// The rules of chain `name` (its hook line left out), trimmed.
fn chain(script: &str, name: &str) -> Vec<String> {
    let open = format!("chain {name} {{");
    script
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != open)
        .skip(1)
        .take_while(|l| *l != "}")
        .filter(|l| !l.starts_with("type "))
        .map(String::from)
        .collect()
}

#[test]
fn a_vip_balances_every_port_over_its_ready_tasks() {
    let plan = render(&scenario());
    let lookup = "ip daddr vmap { 10.0.1.2 : goto vip_10_0_1_2, 10.0.9.2 : goto vip_10_0_9_2 }";
    assert_eq!(chain(&plan.script, "vip_pre"), [lookup]);
    // the same lookup serves the node's own connections (output hook)
    assert_eq!(chain(&plan.script, "vip_out"), [lookup]);
    // the starting task gets no connection
    assert_eq!(
        chain(&plan.script, "vip_10_0_1_2"),
        ["dnat to numgen random mod 2 map { 0 : 10.0.1.10, 1 : 10.0.1.11 }"]
    );
}

#[test]
fn a_vip_without_ready_tasks_is_rejected_not_delivered_to_the_host() {
    let plan = render(&scenario());
    assert!(!plan.script.contains("vip_10_0_1_3 {"), "{}", plan.script);
    let input = chain(&plan.script, "input");
    assert_eq!(
        input[..2],
        [
            "ip daddr { 10.0.1.3, 10.0.9.3 } meta l4proto tcp reject with tcp reset",
            "ip daddr { 10.0.1.3, 10.0.9.3 } reject"
        ]
    );
}

#[test]
fn vips_are_held_on_their_bridges_and_their_arp_stays_off_the_vxlan_port() {
    let plan = render(&scenario());
    let vips: Vec<(String, Vec<String>)> = plan
        .vips
        .iter()
        .map(|(b, v)| (b.clone(), v.iter().map(ToString::to_string).collect()))
        .collect();
    assert_eq!(
        vips,
        [
            (
                "shbr1".to_string(),
                vec!["10.0.1.2".to_string(), "10.0.1.3".to_string()]
            ),
            (
                "shbr9".to_string(),
                vec!["10.0.9.2".to_string(), "10.0.9.3".to_string()]
            ),
        ]
    );
    has(
        &plan.script,
        "oifname \"shvx1\" arp operation request arp daddr ip { 10.0.1.2, 10.0.1.3 } drop",
    );
    has(
        &plan.script,
        "iifname \"shvx1\" arp operation request arp daddr ip { 10.0.1.2, 10.0.1.3 } drop",
    );
}

#[test]
fn published_ingress_ports_are_dnatted_from_every_local_address_but_vips_and_masqueraded() {
    let plan = render(&scenario());
    assert!(plan.mesh);
    let lookup = "fib daddr type local ip daddr != @vips meta l4proto . th dport \
                  vmap { tcp . 8080 : goto mesh_tcp_8080, udp . 5353 : goto mesh_udp_5353 }";
    assert_eq!(chain(&plan.script, "mesh_pre"), [lookup]);
    assert_eq!(
        chain(&plan.script, "mesh_out"),
        [format!("ip daddr != 127.0.0.0/8 {lookup}")]
    );
    assert_eq!(
        chain(&plan.script, "mesh_tcp_8080"),
        [
            "meta l4proto tcp dnat ip addr . port to numgen random mod 2 map { 0 : 10.0.9.10 . 80, 1 : 10.0.9.11 . 80 }"
        ]
    );
    assert_eq!(
        chain(&plan.script, "mesh_udp_5353"),
        [
            "meta l4proto udp dnat ip addr . port to numgen random mod 2 map { 0 : 10.0.9.10 . 53, 1 : 10.0.9.11 . 53 }"
        ]
    );
    has(
        &plan.script,
        "elements = { 10.0.1.2, 10.0.1.3, 10.0.9.2, 10.0.9.3 }",
    );
    assert_eq!(
        chain(&plan.script, "post"),
        ["ct status dnat oifname \"shbr9\" masquerade"]
    );
    // no ready task: refused at once
    has(
        &plan.script,
        "fib daddr type local ip daddr != @vips tcp dport 9090 reject with tcp reset",
    );
    // host-mode ports belong to the engine's port bindings, not the mesh
    assert!(!plan.script.contains("2222"), "{}", plan.script);
    // VXLAN's own port is never captured, whatever a spec says
    assert!(!plan.script.contains("4789"), "{}", plan.script);
}

#[test]
fn a_published_53_leaves_the_nodes_resolver_on_its_gateways_alone() {
    let mut nets = scenario();
    nets[1].services[0].ports = vec![port("udp", 53, 53, true)];
    nets[1].services[1].ports = vec![port("tcp", 53, 53, true)];
    let plan = render(&nets);
    has(&plan.script, "elements = { 10.0.1.254, 10.0.9.254 }");
    assert_eq!(
        chain(&plan.script, "mesh_udp_53")[0],
        "ip daddr @gateways accept"
    );
    assert_eq!(
        chain(&plan.script, "stale_udp_53")[0],
        "ip daddr @gateways accept"
    );
    let input = chain(&plan.script, "input");
    assert_eq!(
        input[2..],
        [
            "ip daddr @gateways tcp dport 53 accept",
            "fib daddr type local ip daddr != @vips tcp dport 53 reject with tcp reset"
        ]
    );
}

#[test]
fn connections_to_tasks_that_are_gone_are_reset() {
    let plan = render(&scenario());
    assert_eq!(
        chain(&plan.script, "stale"),
        [
            "ct direction original ct status dnat ct original ip daddr vmap { 10.0.1.2 : goto stale_10_0_1_2, \
             10.0.1.3 : goto stale_10_0_1_3, 10.0.9.2 : goto stale_10_0_9_2, 10.0.9.3 : goto stale_10_0_9_3 }",
            "ct direction original ct status dnat fib daddr type local ip daddr != @vips meta l4proto . th dport \
             vmap { tcp . 8080 : goto stale_tcp_8080, tcp . 9090 : goto stale_tcp_9090, udp . 5353 : goto stale_udp_5353 }",
        ]
    );
    // the starting task still counts as alive: only tasks no longer on the network are cut
    assert_eq!(
        chain(&plan.script, "stale_10_0_1_2"),
        [
            "ct reply ip saddr != { 10.0.1.10, 10.0.1.11, 10.0.1.12 } meta l4proto tcp reject with tcp reset",
            "ct reply ip saddr != { 10.0.1.10, 10.0.1.11, 10.0.1.12 } reject"
        ]
    );
    assert_eq!(
        chain(&plan.script, "stale_tcp_8080"),
        ["ct reply ip saddr != { 10.0.9.10, 10.0.9.11 } reject with tcp reset"]
    );
    assert_eq!(
        chain(&plan.script, "stale_udp_5353"),
        ["ct reply ip saddr != { 10.0.9.10, 10.0.9.11 } reject"]
    );
    // a service with no task left at all: every flow to it is stale
    let mut gone = scenario();
    gone[0]
        .endpoints
        .retain(|e| e.service_id.to_string() != "web");
    assert_eq!(
        chain(&render(&gone).script, "stale_10_0_1_2"),
        ["meta l4proto tcp reject with tcp reset", "reject"]
    );
}

#[test]
fn a_single_backend_needs_no_map_and_the_script_is_deterministic() {
    let mut nets = scenario();
    nets[0].endpoints.retain(|e| e.addr != "10.0.1.11");
    let plan = render(&nets);
    assert_eq!(chain(&plan.script, "vip_10_0_1_2"), ["dnat to 10.0.1.10"]);
    let mut shuffled = nets.clone();
    shuffled[0].endpoints.reverse();
    shuffled[1].services.reverse();
    assert_eq!(
        render(&shuffled),
        plan,
        "endpoint and service order must not change the rules"
    );
}

#[test]
fn the_script_replaces_shoals_tables_and_an_empty_set_removes_them() {
    let plan = render(&scenario());
    let head: Vec<&str> = plan.script.lines().take(4).collect();
    assert_eq!(
        head,
        [
            "table ip shoal_lb",
            "delete table ip shoal_lb",
            "table bridge shoal_lb_arp",
            "delete table bridge shoal_lb_arp"
        ]
    );
    let empty = render(&[]);
    assert_eq!(empty.script.lines().count(), 4, "{}", empty.script);
    assert!(!empty.mesh && empty.vips.is_empty());
    // a network without VIPs or published ports adds nothing
    let mut rr_only = net(3, false);
    rr_only.services = vec![svc("rr", None, vec![])];
    assert_eq!(render(&[rr_only]), empty);
}

pub(super) fn ifaddr(ifname: &str, addr: &str, prefix: u8) -> IfAddr {
    IfAddr {
        ifname: ifname.into(),
        addr: addr.parse().expect("test address"),
        prefix,
    }
}

#[test]
fn address_changes_add_missing_vips_and_remove_stale_ones_only_on_shoal_bridges() {
    let plan = render(&scenario());
    let observed = [
        ifaddr("shbr1", "10.0.1.254", 24), // the gateway: never ours
        ifaddr("shbr1", "10.0.1.2", 32),   // wanted, present
        ifaddr("shbr1", "10.0.1.99", 32),  // a VIP of a removed service
        ifaddr("shbr7", "10.0.7.2", 32),   // a network that is gone
        ifaddr("eth0", "192.168.1.5", 32), // not a shoal bridge
    ];
    let changes = address_changes(&plan.vips, &observed);
    let add = |b: &str, v: &str| AddrChange::Add {
        bridge: b.into(),
        vip: v.parse().expect("ip"),
    };
    let del = |b: &str, v: &str| AddrChange::Del {
        bridge: b.into(),
        vip: v.parse().expect("ip"),
    };
    assert_eq!(
        changes,
        [
            del("shbr1", "10.0.1.99"),
            del("shbr7", "10.0.7.2"),
            add("shbr1", "10.0.1.3"),
            add("shbr9", "10.0.9.2"),
            add("shbr9", "10.0.9.3"),
        ]
    );
}

#[test]
fn ip_addr_output_is_parsed() {
    let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                7: shbr4096    inet 10.0.1.254/24 brd 10.0.1.255 scope global shbr4096\\       valid_lft forever\n\
                7: shbr4096    inet 10.0.1.2/32 scope global shbr4096\\       valid_lft forever\n";
    assert_eq!(
        parse_addresses(text),
        [
            ifaddr("lo", "127.0.0.1", 8),
            ifaddr("shbr4096", "10.0.1.254", 24),
            ifaddr("shbr4096", "10.0.1.2", 32)
        ]
    );
}

/// A host that records what it is asked and holds addresses in memory.
#[derive(Default)]
struct Recording {
    calls: RefCell<Vec<String>>,
    addrs: RefCell<Vec<IfAddr>>,
}

impl Host for Recording {
    fn nft(&self, script: &str) -> Result<(), String> {
        self.calls
            .borrow_mut()
            .push(format!("nft {} lines", script.lines().count()));
        Ok(())
    }
    fn addresses(&self) -> Result<Vec<IfAddr>, String> {
        Ok(self.addrs.borrow().clone())
    }
    fn add_address(&self, ifname: &str, addr: std::net::Ipv4Addr) -> Result<(), String> {
        if ifname == "shbr9" {
            return Err(format!(
                "ip addr add {addr}/32 dev {ifname}: Cannot find device"
            ));
        }
        self.calls.borrow_mut().push(format!("add {ifname} {addr}"));
        self.addrs.borrow_mut().push(IfAddr {
            ifname: ifname.into(),
            addr,
            prefix: 32,
        });
        Ok(())
    }
    fn del_address(&self, ifname: &str, addr: std::net::Ipv4Addr) -> Result<(), String> {
        self.calls.borrow_mut().push(format!("del {ifname} {addr}"));
        self.addrs
            .borrow_mut()
            .retain(|a| !(a.ifname == ifname && a.addr == addr));
        Ok(())
    }
    fn docker_user_accept(&self, present: bool) -> Result<(), String> {
        self.calls
            .borrow_mut()
            .push(format!("docker-user {present}"));
        Ok(())
    }
    fn enable_forwarding(&self) -> Result<(), String> {
        self.calls.borrow_mut().push("sysctl".into());
        Ok(())
    }
}

#[test]
fn apply_puts_rules_before_addresses_names_a_missing_bridge_and_clear_undoes_it_all() {
    let host = Recording::default();
    let plan = render(&scenario());
    let err = apply(&host, &plan).expect_err("the ingress bridge does not exist");
    assert_eq!(
        err.to_string(),
        "load balancer: VIP addresses: ip addr add 10.0.9.2/32 dev shbr9: Cannot find device; \
         ip addr add 10.0.9.3/32 dev shbr9: Cannot find device"
    );
    let calls = host.calls.borrow().clone();
    assert_eq!(calls[0], "sysctl", "forwarding first: {calls:?}");
    assert!(
        calls[1].starts_with("nft "),
        "rules before addresses: {calls:?}"
    );
    assert_eq!(calls[2..], ["add shbr1 10.0.1.2", "add shbr1 10.0.1.3"]);

    // the same network set without the ingress network: shbr1 already holds its VIPs, no
    // mesh, so no firewall change either
    let mut only_app = scenario();
    only_app.truncate(1);
    host.calls.borrow_mut().clear();
    apply(&host, &render(&only_app)).expect("apply");
    let calls = host.calls.borrow().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");

    // a mesh whose bridge exists: its VIPs are added and DNAT'd flows are let through
    let mut mesh = scenario();
    mesh[1].network.vni = 8;
    host.calls.borrow_mut().clear();
    apply(&host, &render(&mesh)).expect("apply");
    assert_eq!(
        host.calls.borrow()[2..],
        [
            "add shbr8 10.0.9.2",
            "add shbr8 10.0.9.3",
            "docker-user true"
        ]
    );

    host.calls.borrow_mut().clear();
    clear(&host).expect("clear");
    assert_eq!(
        host.calls.borrow()[1..],
        [
            "del shbr1 10.0.1.2",
            "del shbr1 10.0.1.3",
            "del shbr8 10.0.9.2",
            "del shbr8 10.0.9.3",
            "docker-user false"
        ]
    );
}

#[test]
fn a_proxy_protocol_port_is_left_to_the_proxy_with_the_ready_tasks_and_refused_without() {
    let proxied = |target, published| NetPort {
        proxy_protocol: true,
        ..port("tcp", target, published, true)
    };
    let mut ingress = net(9, true);
    ingress.services = vec![
        svc(
            "web",
            Some("10.0.9.2"),
            // a UDP port cannot carry the header: it stays the kernel's
            vec![
                proxied(80, 8080),
                NetPort {
                    proxy_protocol: true,
                    ..port("udp", 53, 5353, true)
                },
            ],
        ),
        svc("idle", Some("10.0.9.3"), vec![proxied(90, 9090)]),
    ];
    ingress.endpoints = vec![
        ep("web", "10.0.9.11", true),
        ep("web", "10.0.9.10", true),
        ep("web", "10.0.9.12", false),
        ep("idle", "10.0.9.20", false),
    ];
    let networks = vec![ingress];
    assert_eq!(
        proxies(&networks),
        BTreeMap::from([
            (
                8080,
                ProxyPort {
                    target: 80,
                    backends: vec![
                        std::net::Ipv4Addr::new(10, 0, 9, 10),
                        std::net::Ipv4Addr::new(10, 0, 9, 11)
                    ],
                }
            ),
            (
                9090,
                ProxyPort {
                    target: 90,
                    backends: vec![],
                }
            ),
        ])
    );
    let plan = render(&networks);
    // no DNAT and no stale-flow reset for the proxied ports; the UDP one is DNAT'd
    assert_eq!(
        chain(&plan.script, "mesh_pre"),
        [
            "fib daddr type local ip daddr != @vips meta l4proto . th dport vmap { udp . 5353 : goto mesh_udp_5353 }"
        ]
    );
    assert!(!plan.script.contains("tcp_8080"), "{}", plan.script);
    // a proxied port without a ready task is refused as a kernel one is
    assert!(
        chain(&plan.script, "input").contains(
            &"fib daddr type local ip daddr != @vips tcp dport 9090 reject with tcp reset"
                .to_string()
        ),
        "{}",
        plan.script
    );
    // only proxied ports: nothing to DNAT, masquerade or let through DOCKER-USER
    let only_tcp: Vec<NodeNetwork> = networks
        .iter()
        .cloned()
        .map(|mut n| {
            n.services[0].ports.truncate(1);
            n
        })
        .collect();
    let plan = render(&only_tcp);
    assert!(!plan.mesh);
    assert!(!plan.script.contains("masquerade"), "{}", plan.script);
    assert!(!plan.script.contains("mesh_pre"), "{}", plan.script);
}
