//! Agent scenarios about networks: the set's networks reach the data plane before its tasks
//! are prepared (encrypted ones too: the data plane carries them through its tunnel or fails
//! them), a task on a network that could not be set up fails with an error naming the network,
//! and the data plane's tunnel key is sent to the dispatcher when a session opens.

#![allow(clippy::unwrap_used)]

mod support;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use shoal_agent::{Agent, DataPlane, NetworkFailures};
use shoal_types::dispatch::NodeNetwork;
use shoal_types::network::ENCRYPTED_OPTION;
use shoal_types::{Network, NetworkAttachment, Task, TaskState};
use std::sync::Arc;
use std::time::Duration;
use support::{FakeDispatcher, FakeExecutor, NODE, Phase, eventually, fast_config, task};
use tokio_util::sync::CancellationToken;

/// Records every set it is given (ids only) and fails the networks named in `failing`.
#[derive(Default)]
struct RecordingDataPlane {
    applied: Mutex<Vec<Vec<String>>>,
    failing: Vec<String>,
    /// The tunnel key it reports.
    key: Option<String>,
    /// How many containers the executor had created at each apply.
    creates_at_apply: Mutex<Vec<usize>>,
    exec: Option<Arc<FakeExecutor>>,
}

impl DataPlane for RecordingDataPlane {
    fn apply<'a>(&'a self, networks: &'a [NodeNetwork]) -> BoxFuture<'a, NetworkFailures> {
        Box::pin(async move {
            self.applied
                .lock()
                .push(networks.iter().map(|n| n.network.id.clone()).collect());
            if let Some(exec) = &self.exec {
                self.creates_at_apply.lock().push(exec.creates());
            }
            networks
                .iter()
                .filter(|n| self.failing.contains(&n.network.id))
                .map(|n| {
                    let reason = if n.network.is_encrypted() {
                        TUNNEL_FAILURE
                    } else {
                        "adding bridge shbr9: File exists"
                    };
                    (n.network.id.clone(), reason.into())
                })
                .collect()
        })
    }

    fn tunnel_key(&self) -> Option<String> {
        self.key.clone()
    }
}

const TUNNEL_FAILURE: &str =
    "encrypted overlay: cannot create the tunnel device shwg0: No such file or directory";

fn node_network(id: &str, name: &str) -> NodeNetwork {
    let mut network = Network {
        id: id.into(),
        vni: 4096,
        ..Default::default()
    };
    network.spec.name = name.into();
    NodeNetwork {
        network,
        gateway: "10.0.1.254/24".into(),
        ..Default::default()
    }
}

fn task_on(id: &str, network: &str) -> Task {
    let mut t = task(id, "busybox");
    t.networks = vec![NetworkAttachment {
        network_id: network.into(),
        addresses: vec!["10.0.1.5/24".into()],
        aliases: vec![],
    }];
    t
}

#[tokio::test]
async fn networks_are_applied_first_and_failed_networks_fail_their_tasks_by_name() {
    let exec = Arc::new(FakeExecutor::default());
    let disp = Arc::new(FakeDispatcher::default());
    let plane = Arc::new(RecordingDataPlane {
        failing: vec!["n2".into(), "n3".into()],
        exec: Some(exec.clone()),
        ..Default::default()
    });
    let cancel = CancellationToken::new();
    let agent = Agent::new(NODE.into(), exec.clone(), disp.clone())
        .with_config(fast_config())
        .with_data_plane(plane.clone());
    let handle = tokio::spawn(agent.run(cancel.clone()));

    let mut vault = node_network("n3", "vault");
    vault
        .network
        .spec
        .options
        .insert(ENCRYPTED_OPTION.into(), String::new());
    disp.assign_with_networks(
        vec![
            task_on("t1", "n1"),
            task_on("t2", "n2"),
            task_on("t3", "n3"),
        ],
        vec![
            node_network("n1", "front"),
            node_network("n2", "back"),
            vault,
        ],
    )
    .await;

    let d = disp.clone();
    eventually("t1 running, t2 and t3 rejected", || {
        d.latest_state("t1") == Some(TaskState::Running)
            && d.latest_state("t2") == Some(TaskState::Rejected)
            && d.latest_state("t3") == Some(TaskState::Rejected)
    })
    .await;
    assert_eq!(
        disp.latest("t2").unwrap().err,
        "network back could not be set up on this node: adding bridge shbr9: File exists"
    );
    assert_eq!(
        disp.latest("t3").unwrap().err,
        format!("network vault could not be set up on this node: {TUNNEL_FAILURE}")
    );
    // Every network reached the data plane, the encrypted one too, before any container was
    // created.
    assert_eq!(plane.applied.lock()[0], vec!["n1", "n2", "n3"]);
    assert_eq!(plane.creates_at_apply.lock()[0], 0);
    assert_eq!(exec.creates(), 1);
    assert_eq!(exec.phase("t1"), Some(Phase::Running));

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn the_network_set_is_applied_again_periodically() {
    let exec = Arc::new(FakeExecutor::default());
    let disp = Arc::new(FakeDispatcher::default());
    let plane = Arc::new(RecordingDataPlane::default());
    let cancel = CancellationToken::new();
    let mut config = fast_config();
    config.network_resync = Duration::from_millis(20);
    let agent = Agent::new(NODE.into(), exec, disp.clone())
        .with_config(config)
        .with_data_plane(plane.clone());
    let handle = tokio::spawn(agent.run(cancel.clone()));
    disp.assign_with_networks(vec![], vec![node_network("n1", "front")])
        .await;
    let p = plane.clone();
    eventually("three applies of the same set", || {
        let applied = p.applied.lock();
        applied.iter().filter(|s| s.as_slice() == ["n1"]).count() >= 3
    })
    .await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn the_data_planes_tunnel_key_is_sent_when_a_session_opens() {
    let exec = Arc::new(FakeExecutor::default());
    let disp = Arc::new(FakeDispatcher::default());
    let plane = Arc::new(RecordingDataPlane {
        key: Some("bm9kZS1rZXk=".into()),
        ..Default::default()
    });
    let cancel = CancellationToken::new();
    let agent = Agent::new(NODE.into(), exec, disp.clone())
        .with_config(fast_config())
        .with_data_plane(plane);
    let handle = tokio::spawn(agent.run(cancel.clone()));
    let d = disp.clone();
    eventually("a session", || d.sessions() >= 1).await;
    // A new session (leader change) carries it again.
    disp.close_session();
    let d = disp.clone();
    eventually("a second session", || d.sessions() >= 2).await;
    assert_eq!(disp.tunnel_keys()[..2], ["bm9kZS1rZXk=", "bm9kZS1rZXk="]);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();

    // Without a data plane, the node publishes no key.
    let disp = Arc::new(FakeDispatcher::default());
    let cancel = CancellationToken::new();
    let agent = Agent::new(NODE.into(), Arc::new(FakeExecutor::default()), disp.clone())
        .with_config(fast_config());
    let handle = tokio::spawn(agent.run(cancel.clone()));
    let d = disp.clone();
    eventually("a session", || d.sessions() >= 1).await;
    assert_eq!(disp.tunnel_keys()[0], "");
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}
