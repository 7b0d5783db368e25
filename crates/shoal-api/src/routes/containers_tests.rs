//! Unit tests of the container-config rewriting for attachable networks.

use super::*;

#[test]
fn the_networks_a_config_names_skip_builtin_modes() {
    let c = json!({
        "HostConfig": {"NetworkMode": "front"},
        "NetworkingConfig": {"EndpointsConfig": {"front": {}, "back": {"Aliases": ["x"]}}}
    });
    assert_eq!(requested_networks(&c), vec!["front", "back"]);
    for mode in ["default", "bridge", "host", "none", "container:abc", ""] {
        let c = json!({"HostConfig": {"NetworkMode": mode}});
        assert!(requested_networks(&c).is_empty(), "{mode}");
    }
    assert!(requested_networks(&json!({})).is_empty());
}

#[test]
fn a_create_is_pointed_at_the_engine_network_with_the_reserved_address() {
    // The CLI sends the network both as the mode and as an endpoint.
    let mut c = json!({
        "Image": "busybox",
        "HostConfig": {"NetworkMode": "net1id"},
        "NetworkingConfig": {"EndpointsConfig": {"net1id": {"Aliases": ["web"]}}}
    });
    rewrite_create(&mut c, "net1id", "front", "10.0.1.7");
    assert_eq!(c["HostConfig"]["NetworkMode"], "front");
    assert_eq!(
        c["NetworkingConfig"]["EndpointsConfig"],
        json!({"front": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "10.0.1.7"}}})
    );
    assert_eq!(c["Image"], "busybox");

    // Only as the network mode (older clients): the endpoint is added.
    let mut c = json!({"HostConfig": {"NetworkMode": "front"}, "NetworkingConfig": null});
    rewrite_create(&mut c, "front", "front", "10.0.1.8");
    assert_eq!(
        c["NetworkingConfig"]["EndpointsConfig"]["front"]["IPAMConfig"]["IPv4Address"],
        "10.0.1.8"
    );

    // An explicit IPAMConfig of the user is overridden by the cluster's address.
    let mut e = json!({"IPAMConfig": {"IPv4Address": "1.2.3.4", "IPv6Address": ""}});
    set_address(&mut e, "10.0.1.9");
    assert_eq!(
        e["IPAMConfig"],
        json!({"IPv4Address": "10.0.1.9", "IPv6Address": ""})
    );
    let mut null = Value::Null;
    set_address(&mut null, "10.0.1.9");
    assert_eq!(null, json!({"IPAMConfig": {"IPv4Address": "10.0.1.9"}}));
}

#[test]
fn the_connect_path_names_the_engine_network() {
    assert_eq!(
        with_network_segment("/v1.41/networks/abc123/connect", "front").as_deref(),
        Some("/v1.41/networks/front/connect")
    );
    assert_eq!(
        with_network_segment("/networks/abc/connect", "front").as_deref(),
        Some("/networks/front/connect")
    );
    assert_eq!(with_network_segment("/containers/x", "front"), None);
    assert_eq!(
        network_segment("/networks/my%20net/connect").as_deref(),
        Some("my net")
    );
    assert_eq!(network_segment("/networks//connect"), None);
    assert_eq!(encode("a b/c"), "a%20b%2Fc");
}

#[test]
fn the_nodes_resolver_is_the_default_dns_server() {
    let mut c = json!({"HostConfig": {"NetworkMode": "front", "Dns": []}});
    default_dns(&mut c, "10.0.1.254");
    assert_eq!(c["HostConfig"]["Dns"], json!(["10.0.1.254"]));
    // `--dns` wins.
    let mut c = json!({"HostConfig": {"Dns": ["1.1.1.1"]}});
    default_dns(&mut c, "10.0.1.254");
    assert_eq!(c["HostConfig"]["Dns"], json!(["1.1.1.1"]));
    let mut c = json!({});
    default_dns(&mut c, "10.0.1.254");
    assert_eq!(c["HostConfig"]["Dns"], json!(["10.0.1.254"]));
}
