use super::*;
use crate::overlay::observed::ObservedLink;
use crate::overlay::plan::{Peer, VXLAN_PORT};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 254);

fn peer(ip: [u8; 4], vtep: [u8; 4]) -> Peer {
    let ip = Ipv4Addr::from(ip);
    Peer {
        ip,
        mac: Mac::of_ip(ip),
        vtep: IpAddr::V4(Ipv4Addr::from(vtep)),
    }
}

fn desired(peers: &[Peer]) -> Plan {
    Plan {
        networks: vec![DesiredNetwork {
            network_id: "net1".into(),
            name: "front".into(),
            vni: 4097,
            mtu: 1450,
            gateway: GATEWAY,
            prefix_len: 24,
            local: LOCAL,
            port: VXLAN_PORT,
            peers: peers.iter().copied().collect(),
        }],
        refused: vec![],
    }
}

fn vxlan_attrs() -> VxlanAttrs {
    VxlanAttrs {
        vni: 4097,
        local: Some(LOCAL),
        port: VXLAN_PORT,
        learning: false,
        proxy: true,
    }
}

/// The kernel state `desired(peers)` produces.
fn built(peers: &[Peer]) -> Observed {
    let mut o = Observed::default();
    o.links.insert(
        "shbr4097".into(),
        ObservedLink {
            index: 10,
            name: "shbr4097".into(),
            kind: LinkKind::Bridge,
            mac: Some(Mac::of_ip(GATEWAY)),
            mtu: 1450,
            up: true,
            master: None,
        },
    );
    o.links.insert(
        "shvx4097".into(),
        ObservedLink {
            index: 11,
            name: "shvx4097".into(),
            kind: LinkKind::Vxlan(vxlan_attrs()),
            mac: Some(Mac([2, 0, 0, 0, 0, 1])),
            mtu: 1450,
            up: true,
            master: Some(10),
        },
    );
    o.addresses
        .insert("shbr4097".into(), [(GATEWAY, 24)].into_iter().collect());
    o.fdb.insert(
        "shvx4097".into(),
        peers.iter().map(|p| (p.mac, p.vtep)).collect(),
    );
    o.neighbours.insert(
        "shvx4097".into(),
        peers.iter().map(|p| (p.ip, p.mac)).collect(),
    );
    o
}

fn none() -> BTreeSet<u32> {
    BTreeSet::new()
}

#[test]
fn an_empty_kernel_gets_bridge_address_vxlan_and_peers_in_order() {
    let p = peer([10, 0, 1, 6], [10, 99, 0, 12]);
    let ops = diff(&desired(&[p]), &Observed::default(), &none());
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].network_id.as_deref(), Some("net1"));
    assert_eq!(
        ops[0].ops,
        vec![
            Op::AddBridge {
                name: "shbr4097".into(),
                mac: Mac::of_ip(GATEWAY),
                mtu: 1450
            },
            Op::SetLink {
                name: "shbr4097".into(),
                mac: Some(Mac::of_ip(GATEWAY)),
                mtu: 1450,
                master: None
            },
            Op::AddAddress {
                link: "shbr4097".into(),
                ip: GATEWAY,
                prefix_len: 24
            },
            Op::AddVxlan {
                name: "shvx4097".into(),
                vni: 4097,
                local: LOCAL,
                port: VXLAN_PORT,
                mtu: 1450
            },
            Op::SetLink {
                name: "shvx4097".into(),
                mac: None,
                mtu: 1450,
                master: Some("shbr4097".into())
            },
            Op::AddFdb {
                link: "shvx4097".into(),
                mac: p.mac,
                dst: p.vtep
            },
            Op::AddNeighbour {
                link: "shvx4097".into(),
                ip: p.ip,
                mac: p.mac
            },
        ]
    );
}

#[test]
fn a_matching_kernel_needs_nothing() {
    let peers = [
        peer([10, 0, 1, 6], [10, 99, 0, 12]),
        peer([10, 0, 1, 253], [10, 99, 0, 12]),
    ];
    assert_eq!(diff(&desired(&peers), &built(&peers), &none()), vec![]);
}

#[test]
fn a_stopped_task_loses_its_entries_and_a_new_one_gains_them() {
    let old = peer([10, 0, 1, 6], [10, 99, 0, 12]);
    let new = peer([10, 0, 1, 9], [10, 99, 0, 13]);
    let ops = diff(&desired(&[new]), &built(&[old]), &none());
    assert_eq!(
        ops[0].ops,
        vec![
            Op::DeleteFdb {
                link: "shvx4097".into(),
                mac: old.mac,
                dst: old.vtep
            },
            Op::DeleteNeighbour {
                link: "shvx4097".into(),
                ip: old.ip,
                mac: old.mac
            },
            Op::AddFdb {
                link: "shvx4097".into(),
                mac: new.mac,
                dst: new.vtep
            },
            Op::AddNeighbour {
                link: "shvx4097".into(),
                ip: new.ip,
                mac: new.mac
            },
        ]
    );
}

#[test]
fn vips_on_the_bridge_are_kept_and_a_stale_gateway_replaced() {
    let mut observed = built(&[]);
    let addrs = observed
        .addresses
        .get_mut("shbr4097")
        .expect("bridge addresses");
    addrs.clear();
    addrs.insert((Ipv4Addr::new(10, 0, 1, 2), 32)); // a service VIP
    addrs.insert((Ipv4Addr::new(10, 0, 1, 250), 24)); // an earlier gateway
    let ops = diff(&desired(&[]), &observed, &none());
    assert_eq!(
        ops[0].ops,
        vec![
            Op::DeleteAddress {
                link: "shbr4097".into(),
                ip: Ipv4Addr::new(10, 0, 1, 250),
                prefix_len: 24
            },
            Op::AddAddress {
                link: "shbr4097".into(),
                ip: GATEWAY,
                prefix_len: 24
            },
        ]
    );
}

#[test]
fn a_vxlan_device_with_other_attributes_is_recreated_and_reprogrammed() {
    let p = peer([10, 0, 1, 6], [10, 99, 0, 12]);
    let mut observed = built(&[p]);
    let vx = observed.links.get_mut("shvx4097").expect("vxlan");
    vx.kind = LinkKind::Vxlan(VxlanAttrs {
        local: Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 99))),
        ..vxlan_attrs()
    });
    let ops = diff(&desired(&[p]), &observed, &none());
    assert_eq!(
        ops[0].ops[..3],
        [
            Op::DeleteLink {
                name: "shvx4097".into()
            },
            Op::AddVxlan {
                name: "shvx4097".into(),
                vni: 4097,
                local: LOCAL,
                port: VXLAN_PORT,
                mtu: 1450
            },
            Op::SetLink {
                name: "shvx4097".into(),
                mac: None,
                mtu: 1450,
                master: Some("shbr4097".into())
            },
        ]
    );
    // the entries went with the old device
    assert_eq!(ops[0].ops.len(), 5);
}

#[test]
fn a_released_vxlan_device_is_enslaved_and_brought_up_again() {
    let mut observed = built(&[]);
    let vx = observed.links.get_mut("shvx4097").expect("vxlan");
    vx.master = None;
    vx.up = false;
    let ops = diff(&desired(&[]), &observed, &none());
    assert_eq!(
        ops[0].ops,
        vec![Op::SetLink {
            name: "shvx4097".into(),
            mac: None,
            mtu: 1450,
            master: Some("shbr4097".into())
        }]
    );
}

#[test]
fn leftovers_of_gone_networks_are_removed_unless_kept() {
    let mut observed = built(&[]);
    for (name, index) in [("shvx7", 20), ("shbr7", 21), ("shbr8", 22)] {
        observed.links.insert(
            name.into(),
            ObservedLink {
                index,
                name: name.into(),
                kind: LinkKind::Bridge,
                mac: None,
                mtu: 1450,
                up: true,
                master: None,
            },
        );
    }
    let keep: BTreeSet<u32> = [8].into();
    let ops = diff(&desired(&[]), &observed, &keep);
    assert_eq!(
        ops,
        vec![NetworkOps {
            network_id: None,
            vni: 7,
            ops: vec![
                Op::DeleteLink {
                    name: "shvx7".into()
                },
                Op::DeleteLink {
                    name: "shbr7".into()
                },
            ]
        }]
    );
}
