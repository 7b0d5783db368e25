//! Dispatcher sessions through RemoteDispatcher: streaming, leader redirects, failover.

use std::time::Duration;

use shoal_agent::{DispatcherClient, SessionError};
use shoal_types::dispatch::{Assignments, SessionRequest};
use shoal_types::{NodeId, Task, TaskId};
use tokio_util::sync::CancellationToken;

use shoal_cluster::RemoteDispatcher;

use crate::common::{FakeHandler, Pki, Script, TestServer};

fn set(session: &str, tasks: &[&str]) -> Assignments {
    Assignments {
        session_id: session.into(),
        tasks: tasks
            .iter()
            .map(|id| Task {
                id: TaskId::from(*id),
                ..Default::default()
            })
            .collect(),
        heartbeat_period_ms: 5000,
        ..Default::default()
    }
}

fn worker_session() -> SessionRequest {
    SessionRequest {
        node_id: NodeId::from("wrk1"),
        description: Default::default(),
        tunnel_key: String::new(),
    }
}

async fn recv(rx: &mut tokio::sync::mpsc::Receiver<Assignments>) -> Option<Assignments> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("waited 5 s for the next assignment set (or the end of the session)")
}

#[tokio::test]
async fn a_session_stream_delivers_assignment_sets_in_order_then_ends() {
    let pki = Pki::new();
    let first = set("s1", &["t1"]);
    let second = set("s1", &["t1", "t2"]);
    let handler = FakeHandler::new(
        &pki,
        Script {
            assignments: vec![first.clone(), second.clone()],
            ..Default::default()
        },
    );
    let server = TestServer::start(&pki, &pki.manager, handler.clone()).await;
    let dispatcher = RemoteDispatcher::new(
        pki.client(&pki.worker),
        vec![server.addr()],
        CancellationToken::new(),
    );

    let mut rx = dispatcher.session(worker_session()).await.expect("session");
    assert_eq!(recv(&mut rx).await, Some(first));
    assert_eq!(recv(&mut rx).await, Some(second));

    // A set pushed later still arrives on the open stream.
    let third = set("s1", &["t2"]);
    let tx = handler.sessions.lock().pop().expect("the session's sender");
    tx.send(third.clone()).await.expect("push");
    assert_eq!(recv(&mut rx).await, Some(third));

    // The dispatcher ending the session closes the agent's channel.
    drop(tx);
    assert_eq!(recv(&mut rx).await, None);
}

#[tokio::test]
async fn the_remote_dispatcher_follows_a_not_leader_redirect() {
    let pki = Pki::new();
    let leader_handler = FakeHandler::new(
        &pki,
        Script {
            assignments: vec![set("s1", &["t1"])],
            ..Default::default()
        },
    );
    let leader =
        TestServer::start(&pki, &pki.another_manager("mgr2"), leader_handler.clone()).await;
    let follower = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(
            &pki,
            Script {
                not_leader: Some(Some(leader.addr())),
                ..Default::default()
            },
        ),
    )
    .await;
    let dispatcher = RemoteDispatcher::new(
        pki.client(&pki.worker),
        vec![follower.addr()],
        CancellationToken::new(),
    );

    let mut rx = dispatcher
        .session(worker_session())
        .await
        .expect("session via redirect");
    assert_eq!(recv(&mut rx).await, Some(set("s1", &["t1"])));
    assert_eq!(dispatcher.leader_hint(), Some(leader.addr()));

    let hb = dispatcher
        .heartbeat(NodeId::from("wrk1"), "s1".into())
        .await
        .expect("heartbeat");
    assert_eq!(hb.period_ms, 5000);
    assert_eq!(leader_handler.heartbeats.lock().len(), 1);
}

#[tokio::test]
async fn the_remote_dispatcher_rotates_past_an_unreachable_manager() {
    let pki = Pki::new();
    let server = TestServer::start(
        &pki,
        &pki.manager,
        FakeHandler::new(&pki, Script::default()),
    )
    .await;
    // A port nobody listens on: bind, note it, close.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead_addr = dead.local_addr().expect("addr").to_string();
    drop(dead);

    let dispatcher = RemoteDispatcher::new(
        pki.client(&pki.worker),
        vec![dead_addr.clone()],
        CancellationToken::new(),
    );
    let err = dispatcher
        .heartbeat(NodeId::from("wrk1"), "s1".into())
        .await
        .expect_err("no manager reachable");
    assert!(matches!(err, SessionError::Unavailable(_)), "{err:?}");

    dispatcher.set_managers(vec![dead_addr, server.addr()]);
    dispatcher
        .heartbeat(NodeId::from("wrk1"), "s1".into())
        .await
        .expect("heartbeat via the live manager");
    assert_eq!(dispatcher.leader_hint(), Some(server.addr()));
}

#[tokio::test]
async fn a_stale_session_and_a_removed_node_map_to_session_errors() {
    let pki = Pki::new();
    let handler = FakeHandler::new(&pki, Script::default());
    let server = TestServer::start(&pki, &pki.manager, handler.clone()).await;
    let dispatcher = RemoteDispatcher::new(
        pki.client(&pki.worker),
        vec![server.addr()],
        CancellationToken::new(),
    );
    let err = dispatcher
        .heartbeat(NodeId::from("wrk1"), "old".into())
        .await
        .expect_err("stale session");
    assert_eq!(err, SessionError::InvalidSession("old".into()));

    handler.removed.lock().insert(NodeId::from("wrk1"));
    let err = dispatcher
        .session(worker_session())
        .await
        .expect_err("removed node");
    assert!(matches!(err, SessionError::Refused { .. }), "{err:?}");
}
