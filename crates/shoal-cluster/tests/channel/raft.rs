//! ClusterClient as the raft transport, and deadlines.

use std::time::{Duration, Instant};

use openraft::raft::VoteRequest;
use shoal_raft::types::{SnapshotMeta, Vote};
use shoal_raft::{Peer, RaftTransport, TransportError};

use crate::common::{FakeHandler, Pki, Script, TestServer};

#[tokio::test]
async fn a_vote_round_trips_through_the_raft_transport() {
    let pki = Pki::new();
    let handler = FakeHandler::new(&pki, Script::default());
    let server = TestServer::start(&pki, &pki.manager, handler.clone()).await;
    let client = pki.client(&pki.another_manager("mgr2"));
    let peer = Peer {
        id: 1,
        addr: server.addr(),
    };

    let rpc = VoteRequest::new(Vote::new(4, 2), None);
    let resp = client
        .vote(peer.clone(), rpc.clone(), Duration::from_secs(5))
        .await
        .expect("vote");
    assert!(resp.vote_granted);
    assert_eq!(resp.vote, rpc.vote);
    assert_eq!(handler.votes.lock().as_slice(), std::slice::from_ref(&rpc));

    let pre = client
        .pre_vote(peer.clone(), rpc, Duration::from_secs(5))
        .await
        .expect("pre-vote");
    assert!(!pre.vote_granted);

    let snap = client
        .full_snapshot(
            peer,
            Vote::new(4, 2),
            SnapshotMeta::default(),
            b"snapshot bytes".to_vec(),
            Duration::from_secs(5),
        )
        .await
        .expect("snapshot");
    assert_eq!(snap.vote, Vote::new(4, 2));
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let pki = Pki::new();
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = dead.local_addr().expect("addr").to_string();
    drop(dead);
    let client = pki.client(&pki.manager);
    let err = client
        .vote(
            Peer { id: 9, addr },
            VoteRequest::new(Vote::new(1, 1), None),
            Duration::from_secs(5),
        )
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(err, TransportError::Unreachable { peer: 9, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_deadline_fires_when_the_handler_never_answers() {
    let pki = Pki::new();
    let handler = FakeHandler::new(
        &pki,
        Script {
            hang_votes: true,
            ..Default::default()
        },
    );
    let server = TestServer::start(&pki, &pki.manager, handler).await;
    let client = pki.client(&pki.another_manager("mgr2"));
    let started = Instant::now();
    let err = client
        .vote(
            Peer {
                id: 1,
                addr: server.addr(),
            },
            VoteRequest::new(Vote::new(1, 1), None),
            Duration::from_millis(300),
        )
        .await
        .expect_err("must time out");
    assert!(matches!(err, TransportError::Network { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_deadline_fires_when_the_server_never_speaks_tls() {
    let pki = Pki::new();
    // Accepts connections and then says nothing at all.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let client = pki.client(&pki.manager);
    let started = Instant::now();
    let err = client
        .vote(
            Peer { id: 1, addr },
            VoteRequest::new(Vote::new(1, 1), None),
            Duration::from_millis(300),
        )
        .await
        .expect_err("must time out");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    hold.abort();
}

#[tokio::test]
async fn the_client_reconnects_after_the_peer_restarts() {
    let pki = Pki::new();
    let handler = FakeHandler::new(&pki, Script::default());
    let server = TestServer::start(&pki, &pki.manager, handler.clone()).await;
    let addr = server.addr();
    let client = pki.client(&pki.another_manager("mgr2"));
    let peer = Peer {
        id: 1,
        addr: addr.clone(),
    };
    let rpc = VoteRequest::new(Vote::new(1, 1), None);
    client
        .vote(peer.clone(), rpc.clone(), Duration::from_secs(5))
        .await
        .expect("first vote");

    drop(server);
    // Wait until the old server has let go of the port, then restart in place.
    let deadline = Instant::now() + Duration::from_secs(5);
    let _restarted = loop {
        if tokio::net::TcpListener::bind(&addr).await.is_ok() {
            break TestServer::start_on(&addr, &pki, &pki.manager, handler.clone()).await;
        }
        assert!(
            Instant::now() < deadline,
            "port {addr} was not released within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    client
        .vote(peer, rpc, Duration::from_secs(5))
        .await
        .expect("vote over a new connection");
    assert_eq!(handler.votes.lock().len(), 2);
}
