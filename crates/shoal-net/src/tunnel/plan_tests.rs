//! Unit tests of the tunnel's planning and addressing (no root needed).

use std::net::Ipv4Addr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use shoal_types::dispatch::{NetNode, NodeNetwork};
use shoal_types::network::{ENCRYPTED_OPTION, Network};

use super::*;

fn key(n: u8) -> String {
    STANDARD.encode([n; 32])
}

fn node(id: &str, addr: &str, key: String) -> NetNode {
    NetNode {
        node_id: id.into(),
        addr: addr.into(),
        gateway: "10.0.1.254".into(),
        key,
    }
}

fn network(encrypted: bool, nodes: Vec<NetNode>) -> NodeNetwork {
    let mut network = Network::default();
    if encrypted {
        network
            .spec
            .options
            .insert(ENCRYPTED_OPTION.into(), String::new());
    }
    NodeNetwork {
        network,
        nodes,
        ..NodeNetwork::default()
    }
}

const OWN: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);

#[test]
fn tunnel_addresses_embed_the_data_path_address() {
    assert_eq!(
        tunnel_addr(Ipv4Addr::new(10, 99, 0, 11)).to_string(),
        "fd5e:a1::a63:b"
    );
    assert_eq!(
        tunnel_addr(Ipv4Addr::new(192, 168, 1, 200)).to_string(),
        "fd5e:a1::c0a8:1c8"
    );
    let (prefix, len) = TUNNEL_PREFIX;
    let inside = u128::from(tunnel_addr(Ipv4Addr::new(1, 2, 3, 4)));
    assert_eq!(inside >> (128 - len), u128::from(prefix) >> (128 - len));
}

#[test]
fn no_encrypted_network_needs_no_tunnel() {
    let nets = [network(
        false,
        vec![
            node("n1", "10.99.0.11", key(1)),
            node("n2", "10.99.0.12", key(2)),
        ],
    )];
    assert_eq!(plan(OWN, DEFAULT_PORT, &nets), TunnelConfig::default());
}

#[test]
fn peers_are_the_other_nodes_of_encrypted_networks_once_each() {
    let nets = [
        network(
            true,
            vec![
                node("n1", "10.99.0.11", key(1)),
                node("n3", "10.99.0.13", key(3)),
                node("n2", "10.99.0.12", key(2)),
            ],
        ),
        network(
            true,
            vec![
                node("n1", "10.99.0.11", key(1)),
                node("n2", "10.99.0.12", key(2)),
            ],
        ),
        // nodes only on a clear network are not peers
        network(false, vec![node("n4", "10.99.0.14", key(4))]),
    ];
    let config = plan(OWN, 4790, &nets);
    assert!(config.needed);
    assert!(config.unusable.is_empty());
    let got: Vec<(String, String, String, [u8; 32])> = config
        .peers
        .iter()
        .map(|p| {
            (
                p.node_id.to_string(),
                p.endpoint.to_string(),
                p.tunnel_addr.to_string(),
                p.key,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "n2".into(),
                "10.99.0.12:4790".into(),
                "fd5e:a1::a63:c".into(),
                [2; 32]
            ),
            (
                "n3".into(),
                "10.99.0.13:4790".into(),
                "fd5e:a1::a63:d".into(),
                [3; 32]
            ),
        ]
    );
}

#[test]
fn nodes_without_a_usable_key_or_address_are_reported_not_peers() {
    let nets = [network(
        true,
        vec![
            node("n1", "10.99.0.11", key(1)),
            node("n2", "10.99.0.12", String::new()),
            node("n3", "10.99.0.13", "not-a-key".into()),
            node("n4", "fe80::1", key(4)),
        ],
    )];
    let config = plan(OWN, DEFAULT_PORT, &nets);
    assert!(config.peers.is_empty());
    let why: Vec<(String, String)> = config
        .unusable
        .iter()
        .map(|(id, why)| (id.to_string(), why.clone()))
        .collect();
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(
        why[0].0 == "n2" && why[0].1.contains("has not published"),
        "{why:?}"
    );
    assert!(
        why[1].0 == "n3" && why[1].1.contains("not base64"),
        "{why:?}"
    );
    assert!(
        why[2].0 == "n4" && why[2].1.contains("not an IPv4"),
        "{why:?}"
    );
}

#[test]
fn a_node_removed_from_the_networks_is_no_longer_a_peer() {
    let before = [network(
        true,
        vec![
            node("n1", "10.99.0.11", key(1)),
            node("n2", "10.99.0.12", key(2)),
        ],
    )];
    let after = [network(true, vec![node("n1", "10.99.0.11", key(1))])];
    assert_eq!(plan(OWN, DEFAULT_PORT, &before).peers.len(), 1);
    let config = plan(OWN, DEFAULT_PORT, &after);
    assert!(config.needed && config.peers.is_empty());
}

#[test]
fn a_rotated_key_changes_the_peer() {
    let old = plan(
        OWN,
        DEFAULT_PORT,
        &[network(true, vec![node("n2", "10.99.0.12", key(2))])],
    );
    let new = plan(
        OWN,
        DEFAULT_PORT,
        &[network(true, vec![node("n2", "10.99.0.12", key(9))])],
    );
    assert_ne!(old.peers, new.peers);
    assert_eq!(new.peers[0].key, [9; 32]);
}

#[test]
fn the_node_key_is_made_once_kept_private_and_reloaded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("shoal-wgkey-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = NodeKey::load_or_create(&dir).expect("make key");
    let file = dir.join(super::keys::KEY_FILE);
    let mode = std::fs::metadata(&file)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = NodeKey::load_or_create(&dir).expect("load key");
    assert_eq!(first.public_base64(), again.public_base64());
    assert_eq!(
        STANDARD.decode(first.public_base64()).map(|k| k.len()),
        Ok(32)
    );
    // the private key never shows in what is printed
    let text = std::fs::read_to_string(&file).expect("read key");
    assert!(!format!("{first:?}").contains(text.trim()));
    std::fs::write(&file, "garbage").expect("overwrite");
    let err = NodeKey::load_or_create(&dir).expect_err("garbage key");
    assert!(
        err.to_string().contains("not a base64 32-byte key"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
