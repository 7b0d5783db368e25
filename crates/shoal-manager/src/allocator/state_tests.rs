//! Tests of the allocator's decisions.

use super::*;
use shoal_types::api::{NetworkAttachmentConfig, TaskSpec};

fn allocated(id: &str, subnet: &str, vni: u32, ingress: bool) -> Network {
    Network {
        id: id.into(),
        spec: NetworkSpec {
            name: id.into(),
            ingress,
            ..NetworkSpec::default()
        },
        ipam: Ipam {
            driver: Some("default".into()),
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.into()),
                gateway: Ipv4Net::parse(subnet).map(|n| n.first_host().to_string()),
                ..IpamConfig::default()
            }]),
            options: None,
        },
        vni,
        ..Network::default()
    }
}

fn port(target: i64, published: Option<i64>, host: bool) -> EndpointPortConfig {
    EndpointPortConfig {
        target_port: Some(target),
        published_port: published,
        publish_mode: host.then_some(EndpointPortConfigPublishModeEnum::HOST),
        ..EndpointPortConfig::default()
    }
}

fn service(id: &str, nets: &[&str], ports: Vec<EndpointPortConfig>) -> Service {
    Service {
        id: id.into(),
        spec: ServiceSpec {
            name: Some(id.into()),
            task_template: Some(TaskSpec {
                networks: Some(
                    nets.iter()
                        .map(|n| NetworkAttachmentConfig {
                            target: Some(n.to_string()),
                            aliases: Some(vec![format!("{id}-alias")]),
                            driver_opts: None,
                        })
                        .collect(),
                ),
                ..TaskSpec::default()
            }),
            endpoint_spec: Some(EndpointSpec {
                mode: None,
                ports: Some(ports),
            }),
            ..ServiceSpec::default()
        },
        ..Service::default()
    }
}

fn pools() -> Allocations {
    let mut a = Allocations::default();
    a.add_network(&allocated("ing", "10.0.0.0/24", 4096, true));
    a.add_network(&allocated("front", "10.0.1.0/24", 4097, false));
    a.add_network(&allocated("back", "10.0.2.0/24", 4098, false));
    a
}

fn vips(ep: &ServiceEndpoint) -> Vec<(String, String)> {
    ep.virtual_ips
        .iter()
        .flatten()
        .map(|v| {
            (
                v.network_id.clone().unwrap_or_default(),
                v.addr.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn networks_get_pool_subnets_in_order_and_vnis_from_4096() {
    let ing = ingress_network("ing".into(), &[]);
    let first = allocate_network(&ing, &[&ing], None).expect("allocates");
    assert_eq!(first.vni, 4096);
    assert_eq!(subnets_of(&first.ipam)[0].to_string(), "10.0.0.0/24");
    let mut user = Network {
        id: "u".into(),
        ..Network::default()
    };
    let second = allocate_network(&user, &[&first, &user], None).expect("allocates");
    assert_eq!(second.vni, 4097);
    assert_eq!(subnets_of(&second.ipam)[0].to_string(), "10.0.1.0/24");
    // A pool subnet also avoids what a waiting network asked for.
    let waiting = Network {
        id: "w".into(),
        spec: NetworkSpec {
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some("10.0.1.0/24".into()),
                    ..IpamConfig::default()
                }]),
                ..Ipam::default()
            }),
            ..NetworkSpec::default()
        },
        ..Network::default()
    };
    user.id = "u2".into();
    let third = allocate_network(&user, &[&first, &waiting, &user], None).expect("allocates");
    assert_eq!(subnets_of(&third.ipam)[0].to_string(), "10.0.2.0/24");
    // A cluster with its own pools.
    let cluster = Cluster {
        default_addr_pool: vec!["192.168.0.0/16".into()],
        subnet_size: 26,
        ..Cluster::default()
    };
    let ing = ingress_network("i".into(), &cluster.default_addr_pool);
    let got = allocate_network(&ing, &[&ing], Some(&cluster)).expect("allocates");
    assert_eq!(subnets_of(&got.ipam)[0].to_string(), "192.168.0.0/26");
}

#[test]
fn a_service_gets_one_vip_per_network_ingress_first_and_dynamic_ports() {
    let mut a = pools();
    let web = service(
        "web",
        &["front", "back"],
        vec![
            port(80, None, false),
            port(443, Some(8443), false),
            port(9000, None, true),
        ],
    );
    let ep = a.endpoint(&web).expect("allocates");
    assert_eq!(
        vips(&ep),
        [
            ("ing".to_string(), "10.0.0.2/24".to_string()),
            ("front".to_string(), "10.0.1.2/24".to_string()),
            ("back".to_string(), "10.0.2.2/24".to_string()),
        ]
    );
    let ports: Vec<_> = ep
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.target_port,
                p.published_port,
                p.publish_mode,
                protocol_of(p),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            (
                Some(80),
                Some(30000),
                Some(EndpointPortConfigPublishModeEnum::INGRESS),
                "tcp"
            ),
            (
                Some(443),
                Some(8443),
                Some(EndpointPortConfigPublishModeEnum::INGRESS),
                "tcp"
            ),
            (
                Some(9000),
                None,
                Some(EndpointPortConfigPublishModeEnum::HOST),
                "tcp"
            ),
        ]
    );
    assert_eq!(
        ep.spec.as_ref().and_then(|s| s.mode),
        Some(EndpointSpecModeEnum::VIP)
    );
    // Allocating again (a re-run, or a later update) changes nothing.
    let mut stored = web.clone();
    stored.endpoint = Some(ep.clone());
    assert_eq!(a.endpoint(&stored), Ok(ep));

    // Another service cannot take 8443; it gets the next dynamic port.
    let other = service("api", &[], vec![port(443, Some(8443), false)]);
    assert_eq!(
        a.endpoint(&other),
        Err(AllocError::Failed(
            "port '8443' is already in use by service web as an ingress port".into()
        ))
    );
    let other = service("api", &[], vec![port(80, None, false)]);
    let ep = a.endpoint(&other).expect("allocates");
    assert_eq!(
        ep.ports.as_ref().expect("ports")[0].published_port,
        Some(30001)
    );

    // Removing the service frees its ports and addresses.
    a.release_service(&web.id);
    assert_eq!(a.port_owner("tcp", 8443), None);
    assert!(
        a.endpoint(&service("x", &[], vec![port(443, Some(8443), false)]))
            .is_ok()
    );
}

#[test]
fn dnsrr_services_have_no_vip_and_a_service_leaving_a_network_frees_its_vip() {
    let mut a = pools();
    let mut svc = service("db", &["back"], vec![]);
    let ep = a.endpoint(&svc).expect("allocates");
    assert_eq!(vips(&ep), [("back".to_string(), "10.0.2.2/24".to_string())]);
    svc.spec.endpoint_spec = Some(EndpointSpec {
        mode: Some(EndpointSpecModeEnum::DNSRR),
        ports: None,
    });
    let ep = a.endpoint(&svc).expect("allocates");
    assert!(ep.virtual_ips.is_none());
    // Back to vip mode: the serial allocator hands out a new address, the old one is free.
    svc.spec.endpoint_spec = None;
    assert_eq!(
        vips(&a.endpoint(&svc).expect("allocates"))[0].1,
        "10.0.2.3/24"
    );
}

#[test]
fn tasks_get_an_address_per_spec_network_then_ingress_and_wait_for_missing_networks() {
    let mut a = pools();
    let web = service("web", &["back", "front"], vec![port(80, Some(8080), false)]);
    let task = Task {
        id: "t1".into(),
        spec: web.spec.task_template.clone().unwrap_or_default(),
        ..Task::default()
    };
    let nets = a.task_networks(&task, &web).expect("allocates");
    let got: Vec<_> = nets
        .iter()
        .map(|n| {
            (
                n.network_id.as_str(),
                n.addresses[0].as_str(),
                n.aliases.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("back", "10.0.2.2/24", vec!["web-alias".to_string()]),
            ("front", "10.0.1.2/24", vec!["web-alias".to_string()]),
            ("ing", "10.0.0.2/24", vec![]),
        ]
    );
    // Idempotent, and released with the task.
    assert_eq!(a.task_networks(&task, &web).expect("again"), nets);
    let mut ended = task.clone();
    ended.networks = nets;
    a.release_task(&ended);
    let t2 = Task {
        id: "t2".into(),
        ..task.clone()
    };
    assert_eq!(
        a.task_networks(&t2, &web).expect("allocates")[0].addresses[0],
        "10.0.2.3/24"
    );

    let lonely = service("x", &["nope"], vec![]);
    let t3 = Task {
        id: "t3".into(),
        spec: lonely.spec.task_template.clone().unwrap_or_default(),
        ..Task::default()
    };
    assert_eq!(
        a.task_networks(&t3, &lonely),
        Err(AllocError::Waiting("network nope".into()))
    );
    let mut no_ingress = Allocations::default();
    no_ingress.add_network(&allocated("back", "10.0.2.0/24", 4098, false));
    assert_eq!(
        no_ingress.task_networks(&task, &web),
        Err(AllocError::Waiting("the ingress network".into()))
    );
}

#[test]
fn nodes_get_an_address_on_every_network_and_pools_rebuild_from_the_store() {
    let mut a = pools();
    let node = Node {
        id: "n1".into(),
        ..Node::default()
    };
    let atts = a.node_attachments(&node);
    let got: Vec<_> = atts
        .iter()
        .map(|n| (n.network_id.as_str(), n.addresses[0].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("back", "10.0.2.254/24"),
            ("front", "10.0.1.254/24"),
            ("ing", "10.0.0.254/24")
        ]
    );

    // The same state, read back from the store, hands out the next addresses only.
    let mut t = Tables::default();
    for n in [
        allocated("ing", "10.0.0.0/24", 4096, true),
        allocated("front", "10.0.1.0/24", 4097, false),
    ] {
        t.networks.put(n);
    }
    t.nodes.put(Node {
        attachments: atts,
        ..node.clone()
    });
    let mut web = service("web", &["front"], vec![port(80, Some(8080), false)]);
    web.endpoint = Some(a.endpoint(&web).expect("allocates"));
    t.services.put(web.clone());
    let mut rebuilt = Allocations::from_tables(&t);
    assert_eq!(
        rebuilt.node_attachments(&node).len(),
        2,
        "the store knows two networks"
    );
    assert_eq!(rebuilt.endpoint(&web).as_ref().ok(), web.endpoint.as_ref());
    assert_eq!(rebuilt.port_owner("tcp", 8080), Some(&web.id));
    let n2 = Node {
        id: "n2".into(),
        ..Node::default()
    };
    assert_eq!(
        rebuilt.node_attachments(&n2)[0].addresses[0],
        "10.0.1.253/24"
    );
}
