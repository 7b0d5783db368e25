//! Root tests of the tunnel: two network namespaces on a veth "LAN", a tunnel in each, VXLAN
//! over it. Traffic crosses intact, the LAN sees only ciphertext (while the same canary sent
//! over a clear VXLAN is visible, so the check can fail), and a removed peer is cut off.

use std::net::Ipv4Addr;

use super::lab::{Lab, overlay_addr, tcp_send};
use super::{TunnelConfig, TunnelError};

fn tag(name: &str) -> String {
    format!("shwg{}{name}", std::process::id() % 100_000)
}

fn ping(lab: &Lab, to: Ipv4Addr) -> Result<String, String> {
    lab.a
        .exec("busybox", &["ping", "-c", "2", "-W", "2", &to.to_string()])
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn encrypted_overlay_carries_traffic_and_the_lan_sees_only_ciphertext() {
    let mut lab = Lab::new(&tag("c")).expect("lab namespaces (needs root)");
    lab.start_tunnels().expect("tunnels");
    lab.overlay(42, 1450, true).expect("encrypted overlay");
    lab.overlay(43, 1450, false).expect("clear overlay");
    let enc_b = overlay_addr(42, 2);
    let clear_b = overlay_addr(43, 2);

    // the first ping also makes the handshake
    ping(&lab, enc_b).expect("ping over the encrypted overlay");
    ping(&lab, clear_b).expect("ping over the clear overlay");

    let file = std::env::temp_dir().join(format!("{}.pcap", tag("c")));
    let capture = lab
        .capture(&file.to_string_lossy())
        .expect("capture on the LAN");
    let nonce: u64 = rand::random();
    let secret = format!("SHOAL-SECRET-{nonce:016x}");
    let clear = format!("SHOAL-CLEAR-{nonce:016x}");
    // 4 MB with the canary repeated: large transfers arrive intact
    let payload = |canary: &str| -> Vec<u8> {
        let mut p = Vec::new();
        let mut i = 0u32;
        while p.len() < 4 << 20 {
            p.extend_from_slice(canary.as_bytes());
            p.extend_from_slice(&i.to_be_bytes());
            i += 1;
        }
        p
    };
    let sent = payload(&secret);
    let got = tcp_send(&lab.a, &lab.b, enc_b, 5001, sent.clone()).expect("tcp over encrypted");
    assert!(
        got == sent,
        "encrypted transfer corrupted: {} of {} bytes",
        got.len(),
        sent.len()
    );
    let sent = payload(&clear);
    let got = tcp_send(&lab.a, &lab.b, clear_b, 5002, sent.clone()).expect("tcp over clear");
    assert!(
        got == sent,
        "clear transfer corrupted: {} of {} bytes",
        got.len(),
        sent.len()
    );
    let (pcap, report) = capture.finish().expect("capture file");

    assert!(
        contains(&pcap, clear.as_bytes()),
        "the clear overlay's canary is not in the LAN capture ({} bytes, tcpdump: {report}): \
         the check cannot tell",
        pcap.len()
    );
    assert!(
        !contains(&pcap, secret.as_bytes()),
        "the encrypted overlay's canary is visible on the LAN"
    );
}

#[test]
fn a_removed_peer_loses_access_at_once_and_bad_setups_fail_clearly() {
    let mut lab = Lab::new(&tag("r")).expect("lab namespaces (needs root)");
    lab.start_tunnels().expect("tunnels");
    lab.overlay(44, 1450, true).expect("encrypted overlay");
    let b = overlay_addr(44, 2);
    ping(&lab, b).expect("ping over the encrypted overlay");

    // b drops a from its peers: a's packets no longer decrypt there, at once
    let (ta, tb) = (&lab.tunnels()[0], &lab.tunnels()[1]);
    assert_eq!(ta.peers().len(), 1);
    tb.apply(&TunnelConfig {
        needed: true,
        ..TunnelConfig::default()
    })
    .expect("remove peer");
    assert!(tb.peers().is_empty());
    let err = ping(&lab, b).expect_err("ping after removal must fail");
    assert!(err.contains("100% packet loss"), "{err}");

    // b rotates its key and both sides learn the new peer set: traffic flows again, under
    // the new key
    let old_key = tb.public_key();
    let new_key = tb.rotate_key().expect("rotate");
    assert_ne!(old_key, new_key);
    assert_eq!(tb.public_key(), new_key);
    lab.exchange_keys().expect("apply the new keys");
    ping(&lab, b).expect("ping after key rotation");

    // a second tunnel on the same port in the same namespace cannot be made, and says why
    let options = super::TunnelOptions {
        name: "shwg1".into(),
        key_dir: lab.a.key_dir.clone(),
        lan_addr: lab.a.lan,
        port: super::DEFAULT_PORT,
    };
    let err = lab
        .a
        .within(move || super::Tunnel::start(&options).map(|_| ()))
        .expect("thread in namespace")
        .expect_err("port in use");
    assert!(
        matches!(err, TunnelError::Socket { port: 4790, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("UDP port 4790"), "{err}");
}

#[test]
fn clear_packets_to_a_tunnel_address_from_the_lan_are_dropped() {
    let mut lab = Lab::new(&tag("g")).expect("lab namespaces (needs root)");
    lab.start_tunnels().expect("tunnels");
    let b_tunnel = super::tunnel_addr(lab.b.lan).to_string();
    // Through the tunnel, b's tunnel address answers.
    lab.a
        .exec("busybox", &["ping", "-c", "2", "-W", "2", &b_tunnel])
        .expect("ping b's tunnel address through the tunnel");
    // Sent in clear over the LAN instead (a route and a neighbour entry on a's LAN side), the
    // same ping is dropped by b's guard before it reaches b's stack.
    let b_mac = lab
        .b
        .ip(&["-br", "link", "show", "lan0"])
        .expect("b's LAN link")
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string();
    lab.a
        .ip(&[
            "-6",
            "route",
            "add",
            &format!("{b_tunnel}/128"),
            "dev",
            "lan0",
        ])
        .expect("route over the LAN");
    lab.a
        .ip(&[
            "-6",
            "neigh",
            "replace",
            &b_tunnel,
            "lladdr",
            &b_mac,
            "dev",
            "lan0",
            "nud",
            "permanent",
        ])
        .expect("neighbour over the LAN");
    let err = lab
        .a
        .exec("busybox", &["ping", "-c", "2", "-W", "2", &b_tunnel])
        .expect_err("a clear ping to a tunnel address must not be answered");
    assert!(err.contains("100% packet loss"), "{err}");
    let guard = lab
        .b
        .exec("nft", &["list", "table", "ip6", "shoal_tunnel"])
        .expect("b's guard table");
    assert!(guard.contains("ip6 daddr fd5e:a1::/96 drop"), "{guard}");
    // Without the guard the same clear ping is answered: the check can fail.
    lab.b
        .exec("nft", &["delete", "table", "ip6", "shoal_tunnel"])
        .expect("remove b's guard");
    lab.a
        .exec("busybox", &["ping", "-c", "2", "-W", "2", &b_tunnel])
        .expect("without the guard, the clear ping reaches b");
}
