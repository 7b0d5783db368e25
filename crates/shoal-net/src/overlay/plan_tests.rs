use super::*;
use shoal_types::Network;
use shoal_types::dispatch::{NetEndpoint, NetNode};
use shoal_types::network::{ENCRYPTED_OPTION, MTU_OPTION};
use std::net::IpAddr;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);

fn net_node(id: &str, addr: &str, gateway: &str) -> NetNode {
    NetNode {
        node_id: NodeId::from(id),
        addr: addr.into(),
        gateway: gateway.into(),
        ..Default::default()
    }
}

fn endpoint(task: &str, node: &str, addr: &str) -> NetEndpoint {
    NetEndpoint {
        task_id: task.into(),
        node_id: NodeId::from(node),
        addr: addr.into(),
        ready: true,
        ..Default::default()
    }
}

/// Network `front` (VNI 4097, 10.0.1.0/24) on three nodes; this node is n1.
fn front() -> NodeNetwork {
    let mut network = Network {
        id: "net1".into(),
        vni: 4097,
        ..Default::default()
    };
    network.spec.name = "front".into();
    NodeNetwork {
        network,
        gateway: "10.0.1.254/24".into(),
        nodes: vec![
            net_node("n1", "10.99.0.11", "10.0.1.254"),
            net_node("n2", "10.99.0.12", "10.0.1.253"),
            net_node("n3", "10.99.0.13", "10.0.1.252"),
        ],
        endpoints: vec![
            endpoint("t1", "n1", "10.0.1.5"),
            endpoint("t2", "n2", "10.0.1.6"),
            endpoint("t3", "n3", "10.0.1.7"),
            // a node without a data-path entry: no VTEP known
            endpoint("t4", "n9", "10.0.1.8"),
        ],
        services: vec![],
        data_path_port: 0,
    }
}

fn peer(ip: [u8; 4], vtep: [u8; 4]) -> Peer {
    let ip = Ipv4Addr::from(ip);
    Peer {
        ip,
        mac: Mac::of_ip(ip),
        vtep: IpAddr::V4(Ipv4Addr::from(vtep)),
    }
}

#[test]
fn a_network_gets_its_devices_gateway_and_remote_peers() {
    let plan = plan(&[front()], LOCAL, VXLAN_PORT, Encryption::Up);
    assert_eq!(plan.refused, vec![]);
    let n = &plan.networks[0];
    assert_eq!(
        (n.bridge(), n.vxlan()),
        ("shbr4097".into(), "shvx4097".into())
    );
    assert_eq!(
        (n.gateway, n.prefix_len),
        (Ipv4Addr::new(10, 0, 1, 254), 24)
    );
    assert_eq!(n.bridge_mac().to_string(), "02:42:0a:00:01:fe");
    assert_eq!((n.mtu, n.local, n.port), (1450, IpAddr::V4(LOCAL), 4789));
    // Remote endpoints and remote node gateways; nothing local, nothing without a VTEP.
    let expected: BTreeSet<Peer> = [
        peer([10, 0, 1, 253], [10, 99, 0, 12]),
        peer([10, 0, 1, 252], [10, 99, 0, 13]),
        peer([10, 0, 1, 6], [10, 99, 0, 12]),
        peer([10, 0, 1, 7], [10, 99, 0, 13]),
    ]
    .into();
    assert_eq!(n.peers, expected);
}

#[test]
fn the_clusters_data_path_port_is_the_vxlan_port() {
    let mut n = front();
    n.data_path_port = 7789;
    assert_eq!(
        plan(&[n], LOCAL, VXLAN_PORT, Encryption::Up).networks[0].port,
        7789
    );
    // Not sent (an older manager): Docker's default.
    assert_eq!(
        plan(&[front()], LOCAL, VXLAN_PORT, Encryption::Up).networks[0].port,
        4789
    );
}

#[test]
fn the_mtu_option_is_the_devices_mtu() {
    let mut n = front();
    n.network
        .spec
        .options
        .insert(MTU_OPTION.into(), "1400".into());
    assert_eq!(
        plan(&[n], LOCAL, VXLAN_PORT, Encryption::Up).networks[0].mtu,
        1400
    );
}

#[test]
fn encrypted_networks_are_refused_by_name_while_the_tunnel_is_unavailable() {
    let n = encrypted(front());
    let plan = plan(
        &[n],
        LOCAL,
        VXLAN_PORT,
        Encryption::Unavailable("encrypted overlay: cannot listen on UDP port 4790: in use"),
    );
    assert!(plan.networks.is_empty());
    assert_eq!(plan.refused.len(), 1);
    assert_eq!(plan.refused[0].network_id, "net1");
    assert_eq!(
        plan.refused[0].reason,
        "network front is encrypted and this node's encrypted tunnel is not available (its traffic is never sent in clear text): encrypted overlay: cannot listen on UDP port 4790: in use"
    );
}

fn encrypted(mut n: NodeNetwork) -> NodeNetwork {
    n.network
        .spec
        .options
        .insert(ENCRYPTED_OPTION.into(), String::new());
    n
}

fn keyed(mut n: NodeNetwork, keyless: &[&str]) -> NodeNetwork {
    for node in &mut n.nodes {
        if !keyless.contains(&node.node_id.as_str()) {
            node.key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
        }
    }
    n
}

#[test]
fn an_encrypted_network_runs_between_tunnel_addresses_and_leaves_out_keyless_nodes() {
    // n3 has not published a key: neither its gateway nor its endpoint get an entry.
    let n = keyed(encrypted(front()), &["n3"]);
    let plan = plan(&[n], LOCAL, VXLAN_PORT, Encryption::Up);
    assert_eq!(plan.refused, vec![]);
    let n = &plan.networks[0];
    let tunnel = |ip: [u8; 4]| IpAddr::V6(tunnel_addr(Ipv4Addr::from(ip)));
    assert_eq!(n.local, tunnel([10, 99, 0, 11]));
    assert_eq!(n.local.to_string(), "fd5e:a1::a63:b");
    assert_eq!(
        n.mtu,
        shoal_types::network::DEFAULT_ENCRYPTED_MTU,
        "encrypted networks default to a large MTU"
    );
    let want: BTreeSet<Peer> = [
        ([10, 0, 1, 253], [10, 99, 0, 12]),
        ([10, 0, 1, 6], [10, 99, 0, 12]),
    ]
    .into_iter()
    .map(|(ip, vtep)| {
        let ip = Ipv4Addr::from(ip);
        Peer {
            ip,
            mac: Mac::of_ip(ip),
            vtep: tunnel(vtep),
        }
    })
    .collect();
    assert_eq!(n.peers, want);
    // A garbled key is no key either.
    let mut garbled = keyed(encrypted(front()), &[]);
    garbled.nodes[1].key = "not base64".into();
    let plan = super::plan(&[garbled], LOCAL, VXLAN_PORT, Encryption::Up);
    assert!(
        plan.networks[0]
            .peers
            .iter()
            .all(|p| p.vtep == tunnel([10, 99, 0, 13]))
    );
    // A clear network beside it keeps the LAN.
    let plan = super::plan(
        &[keyed(encrypted(front()), &[]), {
            let mut clear = front();
            clear.network.id = "net2".into();
            clear.network.vni = 4098;
            clear
        }],
        LOCAL,
        VXLAN_PORT,
        Encryption::Up,
    );
    assert_eq!(plan.networks[1].local, IpAddr::V4(LOCAL));
    assert!(plan.networks[1].peers.iter().all(|p| p.vtep.is_ipv4()));
}

#[test]
fn an_encrypted_network_whose_mtu_exceeds_the_tunnel_is_refused() {
    let mut n = keyed(encrypted(front()), &[]);
    n.network
        .spec
        .options
        .insert(MTU_OPTION.into(), "65000".into());
    let plan = plan(&[n.clone()], LOCAL, VXLAN_PORT, Encryption::Up);
    assert_eq!(
        plan.refused[0].reason,
        "network front is encrypted and its MTU 65000 exceeds the tunnel's limit of 64930"
    );
    n.network
        .spec
        .options
        .insert(MTU_OPTION.into(), "1450".into());
    assert_eq!(
        super::plan(&[n], LOCAL, VXLAN_PORT, Encryption::Up).networks[0].mtu,
        1450
    );
}

#[test]
fn unusable_vnis_and_gateways_are_refused() {
    let mut no_vni = front();
    no_vni.network.vni = 0;
    let mut no_gateway = front();
    no_gateway.network.id = "net2".into();
    no_gateway.network.vni = 4098;
    no_gateway.gateway = "10.0.2.254".into();
    let mut same_vni = front();
    same_vni.network.id = "net3".into();
    let plan = plan(
        &[front(), no_vni, no_gateway, same_vni],
        LOCAL,
        VXLAN_PORT,
        Encryption::Up,
    );
    assert_eq!(plan.networks.len(), 1);
    let reasons: Vec<(&str, &str)> = plan
        .refused
        .iter()
        .map(|r| (r.network_id.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("net1", "network front has no usable VXLAN id (0)"),
            (
                "net2",
                "network front has no usable gateway address for this node (\"10.0.2.254\")"
            ),
            (
                "net3",
                "network front shares VXLAN id 4097 with another network of this node"
            ),
        ]
    );
}

#[test]
fn the_local_address_is_this_nodes_entry() {
    let id = NodeId::from("n2");
    assert_eq!(
        local_address(&[front()], &id),
        Some(Ipv4Addr::new(10, 99, 0, 12))
    );
    assert_eq!(local_address(&[front()], &NodeId::from("nx")), None);
}

#[test]
fn only_shoal_device_names_carry_a_vni() {
    assert_eq!(vni_of_device("shbr4097"), Some(4097));
    assert_eq!(vni_of_device("shvx1"), Some(1));
    for other in ["shbr", "shbr01", "shvxa", "docker0", "br-1234", "shbr4097x"] {
        assert_eq!(vni_of_device(other), None, "{other}");
    }
}
