//! Scenarios of the resolver: the records built from a node's networks, the answers to
//! queries built with hickory-proto, and real sockets on 127.0.0.x.

use super::*;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use rand::SeedableRng;
use rand::rngs::StdRng;
use shoal_types::api::{Ipam, IpamConfig};
use shoal_types::dispatch::{NetEndpoint, NetService, NodeNetwork};
use shoal_types::network::{Network, NetworkSpec};

pub(super) fn network(id: &str, name: &str, subnet: &str, gateway: &str) -> NodeNetwork {
    NodeNetwork {
        network: Network {
            id: id.into(),
            spec: NetworkSpec {
                name: name.into(),
                ..Default::default()
            },
            ipam: Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            vni: 4096,
            ..Default::default()
        },
        gateway: gateway.into(),
        ..Default::default()
    }
}

pub(super) fn service(id: &str, name: &str, vip: Option<&str>, aliases: &[&str]) -> NetService {
    NetService {
        service_id: id.into(),
        name: name.into(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        vip: vip.map(Into::into),
        ports: vec![],
    }
}

pub(super) fn task(task: &str, svc: &str, addr: &str, ready: bool, names: &[&str]) -> NetEndpoint {
    NetEndpoint {
        task_id: task.into(),
        service_id: svc.into(),
        node_id: "node1".into(),
        addr: addr.into(),
        ready,
        names: names.iter().map(|n| n.to_string()).collect(),
        aliases: vec![],
        dns: vec![],
    }
}

/// `front` (10.0.1.0/24): stack service `app_web` (VIP, alias `web`) with two ready tasks
/// and a starting one, dnsrr service `db`, a client task. `back` (10.0.2.0/24): `app_web`
/// again, and `cache` only there. The ingress network is left out of the records.
fn scenario() -> Vec<NodeNetwork> {
    let mut front = network("n1", "front", "10.0.1.0/24", "10.0.1.254/24");
    front.services = vec![
        service("s-web", "app_web", Some("10.0.1.2"), &["web", "www"]),
        service("s-db", "db", None, &[]),
        service("s-client", "client", Some("10.0.1.3"), &[]),
    ];
    front.endpoints = vec![
        task(
            "t1",
            "s-web",
            "10.0.1.10",
            true,
            &["app_web.1.t1", "webhost"],
        ),
        task("t2", "s-web", "10.0.1.11", true, &["app_web.2.t2"]),
        task("t3", "s-web", "10.0.1.12", false, &["app_web.3.t3"]),
        task("t4", "s-db", "10.0.1.20", true, &["db.1.t4"]),
        task("t5", "s-db", "10.0.1.21", true, &["db.2.t5"]),
        task("t6", "s-client", "10.0.1.30", true, &["client.1.t6"]),
    ];
    let mut back = network("n2", "back", "10.0.2.0/24", "10.0.2.254/24");
    back.services = vec![
        service("s-web", "app_web", Some("10.0.2.2"), &["web"]),
        service("s-cache", "cache", Some("10.0.2.3"), &[]),
    ];
    back.endpoints = vec![
        task("t1", "s-web", "10.0.2.10", true, &["app_web.1.t1"]),
        task("t7", "s-cache", "10.0.2.40", true, &["cache.1.t7"]),
    ];
    let mut ingress = network("n0", "ingress", "10.0.0.0/24", "10.0.0.254/24");
    ingress.network.spec.ingress = true;
    ingress.services = vec![service("s-web", "app_web", Some("10.0.0.2"), &[])];
    vec![ingress, front, back]
}

pub(super) fn ip(s: &str) -> std::net::Ipv4Addr {
    s.parse().expect("test address")
}

pub(super) fn query(name: &str, ty: RecordType) -> Message {
    let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("test name"), ty));
    m
}

fn ask(records: &Records, client: &str, name: &str, ty: RecordType) -> Outcome {
    answer(
        records,
        ip(client),
        &query(name, ty),
        &mut StdRng::seed_from_u64(7),
    )
}

/// The A addresses of a reply, sorted; panics on a forward.
fn a_records(outcome: &Outcome) -> Vec<String> {
    let Outcome::Reply(m) = outcome else {
        panic!("expected a reply, got {outcome:?}");
    };
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let mut v: Vec<String> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0.to_string(),
            other => panic!("expected A records, got {other:?}"),
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_service_name_and_its_aliases_resolve_to_the_vip_of_the_clients_network() {
    let r = Records::build(&scenario());
    for name in ["app_web", "web", "www", "WEB.", "App_Web"] {
        assert_eq!(
            a_records(&ask(&r, "10.0.1.30", name, RecordType::A)),
            ["10.0.1.2"],
            "{name}"
        );
    }
    assert_eq!(
        a_records(&ask(&r, "10.0.2.77", "web", RecordType::A)),
        ["10.0.2.2"]
    );
}

#[test]
fn tasks_name_lists_only_ready_tasks() {
    let r = Records::build(&scenario());
    assert_eq!(
        a_records(&ask(&r, "10.0.1.30", "tasks.app_web", RecordType::A)),
        ["10.0.1.10", "10.0.1.11"]
    );
    // every alias of the service has its tasks name too (a stack's short name)
    assert_eq!(
        a_records(&ask(&r, "10.0.1.30", "tasks.web", RecordType::A)),
        ["10.0.1.10", "10.0.1.11"]
    );
}

#[test]
fn dnsrr_service_answers_task_addresses_and_no_vip() {
    let r = Records::build(&scenario());
    assert_eq!(
        a_records(&ask(&r, "10.0.1.30", "db", RecordType::A)),
        ["10.0.1.20", "10.0.1.21"]
    );
    // shuffled: over a few answers both orders show up
    let firsts: std::collections::BTreeSet<String> = (0..32u64)
        .map(|seed| {
            let Outcome::Reply(m) = answer(
                &r,
                ip("10.0.1.30"),
                &query("db", RecordType::A),
                &mut StdRng::seed_from_u64(seed),
            ) else {
                panic!("db must be answered");
            };
            m.answers[0].data.to_string()
        })
        .collect();
    assert_eq!(firsts.len(), 2, "dnsrr answers are shuffled: {firsts:?}");
}

#[test]
fn task_names_and_hostnames_resolve_to_the_task() {
    let r = Records::build(&scenario());
    assert_eq!(
        a_records(&ask(&r, "10.0.1.30", "app_web.2.t2", RecordType::A)),
        ["10.0.1.11"]
    );
    assert_eq!(
        a_records(&ask(&r, "10.0.1.30", "webhost", RecordType::A)),
        ["10.0.1.10"]
    );
    // a task that is not ready has no name yet
    assert_eq!(
        ask(&r, "10.0.1.30", "app_web.3.t3", RecordType::A),
        Outcome::Forward
    );
}

#[test]
fn endpoint_aliases_resolve_but_never_shadow_a_service_name() {
    let mut nets = scenario();
    nets[1].endpoints[3].aliases = vec!["primary".into(), "web".into()];
    let r = Records::build(&nets);
    assert_eq!(
        a_records(&ask(&r, "10.0.1.30", "primary", RecordType::A)),
        ["10.0.1.20"]
    );
    assert_eq!(
        a_records(&ask(&r, "10.0.1.30", "web", RecordType::A)),
        ["10.0.1.2"]
    );
}

#[test]
fn a_name_resolves_only_on_networks_of_its_service() {
    let r = Records::build(&scenario());
    // `cache` is on `back` only: a client on `front` alone does not see it
    assert_eq!(
        ask(&r, "10.0.1.30", "cache", RecordType::A),
        Outcome::Forward
    );
    assert_eq!(
        a_records(&ask(&r, "10.0.2.99", "cache", RecordType::A)),
        ["10.0.2.3"]
    );
    // nor does anyone outside the swarm's networks, nor the ingress network
    assert_eq!(
        ask(&r, "192.168.5.5", "web", RecordType::A),
        Outcome::Forward
    );
    assert_eq!(ask(&r, "10.0.0.7", "web", RecordType::A), Outcome::Forward);
}

#[test]
fn a_task_on_two_networks_sees_the_names_of_both_from_either_address() {
    let r = Records::build(&scenario());
    // t1 queries from its `front` address: `cache` (on `back`) resolves through t1's other network
    assert_eq!(
        a_records(&ask(&r, "10.0.1.10", "cache", RecordType::A)),
        ["10.0.2.3"]
    );
    // and `web` answers with the VIP of the network it asked from
    assert_eq!(
        a_records(&ask(&r, "10.0.1.10", "web", RecordType::A)),
        ["10.0.1.2"]
    );
    assert_eq!(
        a_records(&ask(&r, "10.0.2.10", "web", RecordType::A)),
        ["10.0.2.2"]
    );
}

#[test]
fn other_types_of_an_owned_name_get_an_empty_noerror_answer() {
    let r = Records::build(&scenario());
    for ty in [RecordType::AAAA, RecordType::MX, RecordType::TXT] {
        let Outcome::Reply(m) = ask(&r, "10.0.1.30", "web", ty) else {
            panic!("{ty} for an owned name must be answered, not forwarded");
        };
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty(), "{ty}: {:?}", m.answers);
    }
}

#[test]
fn unknown_names_are_forwarded() {
    let r = Records::build(&scenario());
    assert_eq!(
        ask(&r, "10.0.1.30", "example.org", RecordType::A),
        Outcome::Forward
    );
    assert_eq!(
        ask(&r, "10.0.1.30", "nosuchservice", RecordType::AAAA),
        Outcome::Forward
    );
}

#[test]
fn reverse_lookups_name_tasks_and_vips_with_their_network() {
    let r = Records::build(&scenario());
    let ptr = |addr: &str| match ask(&r, "10.0.1.30", addr, RecordType::PTR) {
        Outcome::Reply(m) => m
            .answers
            .iter()
            .map(|a| a.data.to_string())
            .collect::<Vec<_>>(),
        Outcome::Forward => vec![],
    };
    assert_eq!(ptr("10.1.0.10.in-addr.arpa."), ["app_web.1.t1.front."]);
    assert_eq!(ptr("2.1.0.10.in-addr.arpa."), ["app_web.front."]);
    assert!(
        ptr("9.9.168.192.in-addr.arpa.").is_empty(),
        "foreign addresses go upstream"
    );
}

#[test]
fn replies_carry_the_query_id_question_ttl_and_recursion_flags() {
    let r = Records::build(&scenario());
    let Outcome::Reply(m) = ask(&r, "10.0.1.30", "web", RecordType::A) else {
        panic!("web must be answered");
    };
    assert_eq!(m.metadata.id, 4242);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert!(m.metadata.recursion_desired && m.metadata.recursion_available);
    assert_eq!(m.queries, query("web", RecordType::A).queries);
    assert_eq!(m.answers[0].ttl, TTL);
    assert_eq!(TTL, 600, "moby's resolver answers with a 600 s TTL");
}

#[test]
fn a_reply_too_big_for_udp_is_truncated_for_a_retry_over_tcp() {
    let mut nets = scenario();
    nets[1].endpoints = (1..=60)
        .map(|i| {
            task(
                &format!("t{i}"),
                "s-web",
                &format!("10.0.1.{}", 100 + i),
                true,
                &[],
            )
        })
        .collect();
    let r = Records::build(&nets);
    let q = query("tasks.app_web", RecordType::A);
    let Outcome::Reply(m) = answer(&r, ip("10.0.1.30"), &q, &mut StdRng::seed_from_u64(1)) else {
        panic!("tasks.app_web must be answered");
    };
    assert_eq!(m.answers.len(), 60);
    let udp = answer::encode_within(&m, answer::udp_limit(&q)).expect("encodes");
    assert!(udp.len() <= 512, "{} bytes", udp.len());
    let udp = Message::from_vec(&udp).expect("decodes");
    assert!(udp.metadata.truncation);
    let tcp =
        Message::from_vec(&answer::encode_within(&m, 65535).expect("encodes")).expect("decodes");
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 60);
}

#[test]
fn listen_addrs_are_the_gateways_of_non_ingress_networks() {
    assert_eq!(
        listen_addrs(&scenario()),
        [ip("10.0.1.254"), ip("10.0.2.254")]
    );
}

#[test]
fn garbage_and_non_queries_get_errors_not_answers() {
    let r = Records::build(&scenario());
    let mut m = query("web", RecordType::A);
    m.metadata.op_code = OpCode::Update;
    let Outcome::Reply(reply) = answer(&r, ip("10.0.1.30"), &m, &mut StdRng::seed_from_u64(1))
    else {
        panic!("an update must be refused");
    };
    assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
}
