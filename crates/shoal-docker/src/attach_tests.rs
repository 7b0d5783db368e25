use super::*;
use bollard::models::{EndpointPortConfig, ServiceEndpoint};
use shoal_types::NetworkAttachment;

fn directory() -> NetworkDirectory {
    [
        (
            "ing".to_string(),
            LocalNetwork {
                name: "ingress".into(),
                gateway: "10.255.0.254".into(),
                ingress: true,
            },
        ),
        (
            "n1".to_string(),
            LocalNetwork {
                name: "front".into(),
                gateway: "10.0.1.254".into(),
                ingress: false,
            },
        ),
        (
            "n2".to_string(),
            LocalNetwork {
                name: "back".into(),
                gateway: "10.0.2.254".into(),
                ingress: false,
            },
        ),
    ]
    .into()
}

fn on(networks: &[(&str, &str, &[&str])]) -> Task {
    Task {
        id: "t1".into(),
        networks: networks
            .iter()
            .map(|(id, addr, aliases)| NetworkAttachment {
                network_id: id.to_string(),
                addresses: vec![addr.to_string()],
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
            })
            .collect(),
        ..Default::default()
    }
}

fn endpoint(ip: &str, aliases: Option<Vec<String>>) -> EndpointSettings {
    EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(ip.into()),
            ..Default::default()
        }),
        aliases,
        ..Default::default()
    }
}

#[test]
fn a_task_without_networks_stays_on_the_default_network() {
    assert_eq!(attachments(&on(&[]), &directory()), Ok(None));
}

#[test]
fn the_first_network_creates_the_others_connect_in_order() {
    let task = on(&[
        ("n2", "10.0.2.5/24", &["db"]),
        ("n1", "10.0.1.5/24", &[]),
        ("ing", "10.255.0.5/16", &[]),
    ]);
    let a = attachments(&task, &directory())
        .expect("attachments")
        .expect("some");
    assert_eq!(
        a.first,
        // the service alias `db` is not an engine alias (Docker would answer it with the
        // container's address instead of the VIP)
        ("back".to_string(), endpoint("10.0.2.5", None))
    );
    assert_eq!(
        a.others,
        vec![
            ("front".to_string(), endpoint("10.0.1.5", None)),
            ("ingress".to_string(), endpoint("10.255.0.5", None)),
        ]
    );
    assert_eq!(a.dns.as_deref(), Some("10.0.2.254"));
}

#[test]
fn the_dns_server_skips_the_ingress_network() {
    let task = on(&[("ing", "10.255.0.5/16", &[]), ("n1", "10.0.1.5/24", &[])]);
    let a = attachments(&task, &directory())
        .expect("attachments")
        .expect("some");
    assert_eq!(a.dns.as_deref(), Some("10.0.1.254"));
    let only_ingress = on(&[("ing", "10.255.0.5/16", &[])]);
    let a = attachments(&only_ingress, &directory())
        .expect("attachments")
        .expect("some");
    assert_eq!(a.dns, None);
}

#[test]
fn a_network_not_set_up_here_or_without_address_rejects_the_task() {
    assert_eq!(
        attachments(&on(&[("nx", "10.0.9.5/24", &[])]), &directory()),
        Err(ExecError::Rejected(
            "network nx is not set up on this node".into()
        ))
    );
    assert_eq!(
        attachments(&on(&[("n1", "", &[])]), &directory()),
        Err(ExecError::Rejected(
            "task t1 has no address on network front".into()
        ))
    );
}

#[test]
fn only_host_mode_ports_are_bound() {
    let port = |target, published, mode, protocol| EndpointPortConfig {
        target_port: Some(target),
        published_port: published,
        publish_mode: Some(mode),
        protocol: Some(protocol),
        ..Default::default()
    };
    let task = Task {
        endpoint: Some(ServiceEndpoint {
            ports: Some(vec![
                port(
                    80,
                    Some(8080),
                    EndpointPortConfigPublishModeEnum::HOST,
                    EndpointPortConfigProtocolEnum::TCP,
                ),
                port(
                    53,
                    Some(5353),
                    EndpointPortConfigPublishModeEnum::HOST,
                    EndpointPortConfigProtocolEnum::UDP,
                ),
                port(
                    9000,
                    None,
                    EndpointPortConfigPublishModeEnum::HOST,
                    EndpointPortConfigProtocolEnum::TCP,
                ),
                port(
                    443,
                    Some(30443),
                    EndpointPortConfigPublishModeEnum::INGRESS,
                    EndpointPortConfigProtocolEnum::TCP,
                ),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (bindings, exposed) = host_ports(&task).expect("host ports");
    assert_eq!(exposed, vec!["80/tcp", "53/udp", "9000/tcp"]);
    let host = |key: &str| -> Vec<String> {
        bindings[key]
            .as_ref()
            .expect("bindings")
            .iter()
            .map(|b| b.host_port.clone().unwrap_or_default())
            .collect()
    };
    assert_eq!(host("80/tcp"), vec!["8080"]);
    assert_eq!(host("53/udp"), vec!["5353"]);
    assert_eq!(host("9000/tcp"), vec![""]);
    assert!(!bindings.contains_key("443/tcp"));
    assert_eq!(host_ports(&Task::default()), None);
}
