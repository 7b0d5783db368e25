//! Who may call what.

use std::sync::Arc;

use shoal_ca::{Role, RootCa};
use shoal_cluster::{
    ClientError, ClusterClient, ClusterError, ForwardRequest, JoinRequest, TlsCell,
};
use shoal_raft::types::Vote;
use shoal_types::NodeId;

use crate::common::{CLUSTER, FakeHandler, Pki, Script, TestServer, mint};

fn vote() -> openraft::raft::VoteRequest<shoal_raft::TypeConfig> {
    openraft::raft::VoteRequest::new(Vote::new(3, 7), None)
}

fn forward_req() -> ForwardRequest {
    ForwardRequest {
        method: "POST".into(),
        path_and_query: "/v1.47/services/create".into(),
        body: b"{\"Name\":\"web\"}".to_vec(),
    }
}

fn join_req(token: &str) -> JoinRequest {
    JoinRequest {
        token: token.into(),
        csr_pem: "CSR".into(),
        advertise_addr: "127.0.0.9:2377".into(),
        listen_addr: "0.0.0.0:2377".into(),
        availability: shoal_types::api::NodeSpecAvailabilityEnum::ACTIVE,
        description: Default::default(),
    }
}

fn assert_forbidden<T: std::fmt::Debug>(r: Result<T, ClientError>, needle: &str) {
    match r {
        Err(ClientError::Refused {
            error: ClusterError::Forbidden(msg),
            ..
        }) => assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}"),
        other => panic!("expected 403 mentioning {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn anonymous_peer_may_fetch_the_ca_and_join_but_not_vote() {
    let pki = Pki::new();
    let server = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
    )
    .await;

    let boot = ClusterClient::join_bootstrap(&server.addr(), pki.root.digest()).expect("bootstrap");
    assert_eq!(boot.root_ca().await.expect("root ca"), pki.root.cert_pem());
    let joined = boot.join(&join_req("good-token")).await.expect("join");
    assert_eq!(joined.node_id, NodeId::from("new-node"));
    match boot.join(&join_req("bad")).await {
        Err(ClientError::Refused {
            error: ClusterError::Invalid(m),
            ..
        }) => {
            assert!(m.contains("invalid join token"))
        }
        other => panic!("expected invalid token, got {other:?}"),
    }

    let pinned = shoal_ca::pinned_client_config(pki.root.digest()).expect("pinned");
    let anonymous = ClusterClient::new(Arc::new(TlsCell::new(pinned)));
    assert_forbidden(
        anonymous
            .raft_vote(&server.addr(), &vote(), crate::common::TEST_TIMEOUT)
            .await,
        "node certificate",
    );
}

#[tokio::test]
async fn a_join_token_pinning_another_root_is_refused_at_the_handshake() {
    let pki = Pki::new();
    let server = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
    )
    .await;
    let other = RootCa::generate(std::time::SystemTime::now()).expect("root");
    let boot = ClusterClient::join_bootstrap(&server.addr(), other.digest()).expect("bootstrap");
    let err = boot
        .root_ca()
        .await
        .expect_err("must not trust another root");
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn a_worker_is_refused_on_manager_endpoints_but_may_heartbeat() {
    let pki = Pki::new();
    let server = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
    )
    .await;
    let worker = pki.client(&pki.worker);
    let addr = server.addr();

    let t = crate::common::TEST_TIMEOUT;
    assert_forbidden(
        worker.raft_vote(&addr, &vote(), t).await,
        "only for managers",
    );
    assert_forbidden(
        worker.raft_pre_vote(&addr, &vote(), t).await,
        "only for managers",
    );
    assert_forbidden(
        worker.forward(&addr, &forward_req()).await,
        "only for managers",
    );

    let hb = shoal_cluster::HeartbeatRequest {
        node_id: NodeId::from("wrk1"),
        session_id: "s1".into(),
    };
    assert_eq!(
        worker
            .heartbeat(&addr, &hb)
            .await
            .expect("heartbeat")
            .period_ms,
        5000
    );
    let renewed = worker
        .renew_cert(
            &addr,
            &shoal_cluster::RenewRequest {
                csr_pem: "CSR".into(),
            },
        )
        .await
        .expect("renew");
    assert_eq!(renewed.cert_pem, "renewed wrk1");
}

#[tokio::test]
async fn a_manager_may_forward_api_writes() {
    let pki = Pki::new();
    let server = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
    )
    .await;
    let peer = pki.another_manager("mgr2");
    let resp = pki
        .client(&peer)
        .forward(&server.addr(), &forward_req())
        .await
        .expect("forward");
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body, forward_req().body);
}

#[tokio::test]
async fn a_node_may_not_speak_for_another_node() {
    let pki = Pki::new();
    let server = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
    )
    .await;
    let hb = shoal_cluster::HeartbeatRequest {
        node_id: NodeId::from("mgr1"),
        session_id: "s1".into(),
    };
    assert_forbidden(
        pki.client(&pki.worker).heartbeat(&server.addr(), &hb).await,
        "for node mgr1",
    );
}

#[tokio::test]
async fn a_certificate_of_another_root_is_refused_at_the_handshake() {
    let pki = Pki::new();
    let server = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
    )
    .await;
    let other_root = RootCa::generate(std::time::SystemTime::now()).expect("root");
    let stranger = mint(&other_root, "mgr9", Role::Manager, CLUSTER);
    // Trusts our root, so only the server's check of the client certificate can refuse it.
    let config =
        shoal_ca::client_config(pki.root.cert_pem(), &stranger.cert_pem, &stranger.key_pem)
            .expect("config");
    let client =
        ClusterClient::with_timeout(Arc::new(TlsCell::new(config)), crate::common::TEST_TIMEOUT);
    let err = client
        .raft_vote(&server.addr(), &vote(), crate::common::TEST_TIMEOUT)
        .await
        .expect_err("stranger must be refused");
    assert!(
        err.is_connection_error(),
        "refused at the TLS layer, got {err:?}"
    );
}

#[tokio::test]
async fn a_certificate_of_another_cluster_is_refused_with_403() {
    let pki = Pki::new();
    let server = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
    )
    .await;
    let foreign = mint(&pki.root, "mgr9", Role::Manager, "cluster-b");
    let r = pki
        .client(&foreign)
        .raft_vote(&server.addr(), &vote(), crate::common::TEST_TIMEOUT)
        .await;
    assert_forbidden(r, "cluster-b");
}

#[tokio::test]
async fn a_removed_node_is_refused_with_403() {
    let pki = Pki::new();
    let handler = FakeHandler::new(&pki, Script::default());
    let server = TestServer::start(&pki, &pki.manager, handler.clone()).await;
    let worker = pki.client(&pki.worker);
    let hb = shoal_cluster::HeartbeatRequest {
        node_id: NodeId::from("wrk1"),
        session_id: "s1".into(),
    };
    worker
        .heartbeat(&server.addr(), &hb)
        .await
        .expect("allowed before removal");

    handler.removed.lock().insert(NodeId::from("wrk1"));
    assert_forbidden(worker.heartbeat(&server.addr(), &hb).await, "removed");
}

#[tokio::test]
async fn a_demoted_manager_is_refused_proposals_at_once_with_its_old_certificate() {
    let pki = Pki::new();
    let handler = FakeHandler::new(&pki, Script::default());
    let server = TestServer::start(&pki, &pki.manager, handler.clone()).await;
    let peer = pki.another_manager("mgr2");
    let client = pki.client(&peer);
    client
        .forward(&server.addr(), &forward_req())
        .await
        .expect("allowed while a manager");

    handler.demoted.lock().insert(NodeId::from("mgr2"));
    assert_forbidden(
        client.forward(&server.addr(), &forward_req()).await,
        "no longer a manager",
    );
    // Still a raft member until the leader removes it: raft keeps working.
    client
        .raft_vote(&server.addr(), &vote(), crate::common::TEST_TIMEOUT)
        .await
        .expect("a demoted member still votes");

    handler.outside_raft.lock().insert(NodeId::from("mgr2"));
    assert_forbidden(
        client
            .raft_vote(&server.addr(), &vote(), crate::common::TEST_TIMEOUT)
            .await,
        "not a member of the raft group",
    );
}
