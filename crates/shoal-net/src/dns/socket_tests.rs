//! The resolver on real sockets on 127.0.0.x, with a fake upstream, on free ports.

use super::tests::{ip, network, query, service, task};
use super::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// A free UDP and TCP port on `addr` (bound and released).
fn free_port(addr: &str) -> u16 {
    let s = std::net::UdpSocket::bind((ip(addr), 0)).expect("bind an ephemeral port");
    s.local_addr().expect("local address").port()
}

/// A fake upstream that answers `example.org` with `answer` and NXDOMAIN otherwise.
async fn fake_upstream(addr: &str, answer: &str) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let answer = ip(answer);
    let sock = UdpSocket::bind((ip(addr), 0))
        .await
        .expect("bind fake upstream");
    let local = sock.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let name = q.queries[0].name().to_ascii();
            let mut resp = answer::reply(&q, ResponseCode::NXDomain);
            if name == "example.org." {
                resp.metadata.response_code = ResponseCode::NoError;
                resp.add_answer(hickory_proto::rr::Record::from_rdata(
                    q.queries[0].name().clone(),
                    60,
                    RData::A(hickory_proto::rr::rdata::A(answer)),
                ));
            }
            let _ = sock.send_to(&resp.to_vec().expect("encode"), from).await; // best effort in a fake
        }
    });
    (local, task)
}

async fn udp_ask(from: &str, server: SocketAddr, name: &str, ty: RecordType) -> Message {
    let sock = UdpSocket::bind((ip(from), 0)).await.expect("bind client");
    sock.send_to(&query(name, ty).to_vec().expect("encode"), server)
        .await
        .expect("send");
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no answer for {name} from {server} within 5 s"))
        .expect("receive");
    Message::from_vec(&buf[..n]).expect("decode reply")
}

async fn tcp_ask(server: SocketAddr, name: &str) -> Message {
    let mut stream = tokio::net::TcpStream::connect(server)
        .await
        .expect("connect over tcp");
    upstream::write_framed(
        &mut stream,
        &query(name, RecordType::A).to_vec().expect("encode"),
    )
    .await
    .expect("write");
    let bytes = tokio::time::timeout(Duration::from_secs(5), upstream::read_framed(&mut stream))
        .await
        .expect("tcp answer within 5 s")
        .expect("read");
    Message::from_vec(&bytes).expect("decode reply")
}

fn addrs(m: &Message) -> Vec<String> {
    let mut v: Vec<String> = m.answers.iter().map(|a| a.data.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn resolver_answers_owned_names_forwards_the_rest_and_follows_updates() {
    let (upstream, fake) = fake_upstream("127.0.0.3", "192.0.2.1").await;
    let port = free_port("127.0.0.2");
    let resolver = Resolver::start(ResolverConfig {
        port,
        upstreams: Upstreams {
            servers: vec![upstream],
        },
    })
    .expect("start");
    // the client network is 127.0.0.0/24 so queries from 127.0.0.x get its names
    let mut net = network("n1", "front", "127.0.0.0/24", "127.0.0.2/24");
    net.services = vec![service("s-web", "web", Some("127.0.0.50"), &[])];
    net.endpoints = vec![task("t1", "s-web", "127.0.0.60", true, &["web.1.t1"])];
    resolver.update(Records::build(std::slice::from_ref(&net)));
    resolver
        .set_listen(&[ip("127.0.0.2")])
        .expect("listen on 127.0.0.2");
    let server: SocketAddr = (ip("127.0.0.2"), port).into();

    assert_eq!(
        addrs(&udp_ask("127.0.0.9", server, "web", RecordType::A).await),
        ["127.0.0.50"]
    );
    assert_eq!(addrs(&tcp_ask(server, "tasks.web").await), ["127.0.0.60"]);
    let aaaa = udp_ask("127.0.0.9", server, "web", RecordType::AAAA).await;
    assert_eq!(
        (aaaa.metadata.response_code, aaaa.answers.len()),
        (ResponseCode::NoError, 0)
    );
    assert_eq!(
        addrs(&udp_ask("127.0.0.9", server, "example.org", RecordType::A).await),
        ["192.0.2.1"]
    );
    let unknown = udp_ask("127.0.0.9", server, "nosuch.example", RecordType::A).await;
    assert_eq!(
        unknown.metadata.response_code,
        ResponseCode::NXDomain,
        "upstream NXDOMAIN passes through"
    );

    // the service's task stops being ready: gone from the answers at once
    net.endpoints[0].ready = false;
    resolver.update(Records::build(std::slice::from_ref(&net)));
    let gone = udp_ask("127.0.0.9", server, "tasks.web", RecordType::A).await;
    assert_eq!(
        gone.metadata.response_code,
        ResponseCode::NXDomain,
        "{gone:?}"
    );

    // a second address, then only that one
    let second: SocketAddr = (ip("127.0.0.4"), port).into();
    resolver
        .set_listen(&[ip("127.0.0.2"), ip("127.0.0.4")])
        .expect("listen on both");
    assert_eq!(
        addrs(&udp_ask("127.0.0.9", second, "web", RecordType::A).await),
        ["127.0.0.50"]
    );
    resolver
        .set_listen(&[ip("127.0.0.4")])
        .expect("listen on 127.0.0.4 only");
    assert_eq!(resolver.listening(), [ip("127.0.0.4")]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        std::net::UdpSocket::bind(server).is_ok(),
        "the dropped address's socket is closed"
    );
    drop(resolver);
    fake.abort();
}

#[tokio::test]
async fn a_task_with_its_own_nameservers_has_the_rest_forwarded_there() {
    let (node_upstream, fake) = fake_upstream("127.0.0.3", "192.0.2.1").await;
    let (own_upstream, own_fake) = fake_upstream("127.0.0.5", "192.0.2.2").await;
    let port = free_port("127.0.0.2");
    let resolver = Resolver::start(ResolverConfig {
        port,
        upstreams: Upstreams {
            servers: vec![node_upstream],
        },
    })
    .expect("start");
    let mut net = network("n1", "front", "127.0.0.0/24", "127.0.0.2/24");
    net.services = vec![service("s-web", "web", Some("127.0.0.50"), &[])];
    net.endpoints = vec![task("t1", "s-web", "127.0.0.60", true, &["web.1.t1"])];
    let mut records = Records::build(std::slice::from_ref(&net));
    // (a task's loopback nameserver is skipped when records are built; set it directly)
    records.upstreams.insert(
        ip("127.0.0.9"),
        std::sync::Arc::new(Upstreams {
            servers: vec![own_upstream],
        }),
    );
    resolver.update(records);
    resolver.set_listen(&[ip("127.0.0.2")]).expect("listen");
    let server: SocketAddr = (ip("127.0.0.2"), port).into();

    // the task with its own nameservers: the swarm's names still answer, the rest go there
    assert_eq!(
        addrs(&udp_ask("127.0.0.9", server, "web", RecordType::A).await),
        ["127.0.0.50"]
    );
    assert_eq!(
        addrs(&udp_ask("127.0.0.9", server, "example.org", RecordType::A).await),
        ["192.0.2.2"]
    );
    // any other client: the node's upstreams
    assert_eq!(
        addrs(&udp_ask("127.0.0.8", server, "example.org", RecordType::A).await),
        ["192.0.2.1"]
    );
    drop(resolver);
    fake.abort();
    own_fake.abort();
}

#[tokio::test]
async fn without_upstreams_unknown_names_get_nxdomain_and_dead_upstreams_servfail() {
    let port = free_port("127.0.0.5");
    let resolver = Resolver::start(ResolverConfig {
        port,
        upstreams: Upstreams::default(),
    })
    .expect("start");
    // an address the host does not have (yet) is listened on too: the bridge carrying
    // a gateway may come up after the resolver is told about it
    resolver
        .set_listen(&[ip("127.0.0.5"), ip("10.254.254.254")])
        .expect("listen on a present and an absent address");
    assert_eq!(
        resolver.listening(),
        [ip("10.254.254.254"), ip("127.0.0.5")]
    );
    let server: SocketAddr = (ip("127.0.0.5"), port).into();
    let m = udp_ask("127.0.0.9", server, "example.org", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);

    // an upstream that answers nothing is given up on: SERVFAIL, as moby answers
    let silent = std::net::UdpSocket::bind((ip("127.0.0.6"), 0)).expect("bind silent upstream");
    resolver.set_upstreams(Upstreams {
        servers: vec![silent.local_addr().expect("addr")],
    });
    let sock = UdpSocket::bind((ip("127.0.0.9"), 0))
        .await
        .expect("bind client");
    sock.send_to(
        &query("example.org", RecordType::A)
            .to_vec()
            .expect("encode"),
        server,
    )
    .await
    .expect("send");
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(
        upstream::UPSTREAM_TIMEOUT + Duration::from_secs(3),
        sock.recv_from(&mut buf),
    )
    .await
    .expect("a SERVFAIL after the upstream timeout")
    .expect("receive");
    let m = Message::from_vec(&buf[..n]).expect("decode");
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // over TCP the query goes upstream over TCP: nothing listens there, SERVFAIL at once
    let m = tcp_ask(server, "example.org").await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}
