//! A leader without raft for controller scenarios: `MemoryStore` + `LocalProposer`, the real
//! controllers, and fake agents that talk to the real dispatcher.
#![allow(dead_code)]

mod agent;

use agent::{FakeAgent, SILENCED};

use parking_lot::Mutex;
use shoal_manager::{Controllers, Dispatcher};
use shoal_store::{LocalProposer, MemoryStore, StoreHandle, Tables};
use shoal_types::api::{
    NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecModeReplicatedJob, SwarmSpec, TaskSpec,
    TaskSpecContainerSpec, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use shoal_types::dispatch::{SessionRequest, StatusBatch, StatusUpdate};
use shoal_types::{
    Cluster, Node, NodeId, Object, Service, ServiceId, Task, TaskState, TaskStatus, Version,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Virtual time a wait may take before the test fails.
pub const WAIT_LIMIT: Duration = Duration::from_secs(120);
/// How long a fake job task runs before it completes.
pub const JOB_RUNTIME: Duration = Duration::from_secs(2);

/// One leader with its controllers and fake agents.
pub struct Harness {
    pub store: StoreHandle,
    pub dispatcher: Dispatcher,
    controllers: Option<Controllers>,
    cancel: CancellationToken,
    agents: JoinSet<()>,
    pub sessions: Arc<Mutex<HashMap<NodeId, String>>>,
}

impl Harness {
    /// A store with a cluster object whose history limit is `history`, and running controllers.
    pub async fn start(history: i64) -> Self {
        let store = Arc::new(MemoryStore::new());
        let handle = StoreHandle::new(store.clone(), Arc::new(LocalProposer::new(store)));
        let mut spec = SwarmSpec {
            name: Some("default".into()),
            ..Default::default()
        };
        spec.orchestration = Some(shoal_types::api::SwarmSpecOrchestration {
            task_history_retention_limit: Some(history),
        });
        let cluster = Cluster {
            id: "cluster".into(),
            spec,
            ..Default::default()
        };
        handle
            .update(|tx| tx.create(Object::Cluster(cluster)))
            .await
            .expect("create cluster");
        let cancel = CancellationToken::new();
        let controllers = Controllers::spawn(handle.clone(), cancel.child_token());
        let dispatcher = controllers.dispatcher();
        Self {
            store: handle,
            dispatcher,
            controllers: Some(controllers),
            cancel,
            agents: JoinSet::new(),
            sessions: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Adds a worker node with 4 CPUs and 8 GiB, and starts its fake agent.
    pub async fn add_node(&mut self, id: &str, labels: &[(&str, &str)]) -> NodeId {
        let node = Node {
            id: id.into(),
            spec: NodeSpec {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                role: Some(NodeSpecRoleEnum::WORKER),
                availability: Some(NodeSpecAvailabilityEnum::ACTIVE),
                ..Default::default()
            },
            ..Default::default()
        };
        self.store
            .update(|tx| tx.create(Object::Node(node)))
            .await
            .expect("create node");
        let agent = FakeAgent {
            node_id: id.into(),
            dispatcher: self.dispatcher.clone(),
            sessions: self.sessions.clone(),
            cancel: self.cancel.child_token(),
        };
        self.agents.spawn(agent.run());
        self.wait_for(&format!("node {id} to be ready"), |t| {
            t.nodes
                .get(id)
                .is_some_and(|n| n.status.state == Some(shoal_types::api::NodeState::READY))
        })
        .await;
        id.into()
    }

    /// Adds a node without an agent: the test plays its agent through the dispatcher.
    pub async fn add_bare_node(&self, id: &str) -> NodeId {
        let node = Node {
            id: id.into(),
            spec: NodeSpec {
                availability: Some(NodeSpecAvailabilityEnum::ACTIVE),
                ..Default::default()
            },
            ..Default::default()
        };
        self.store
            .update(|tx| tx.create(Object::Node(node)))
            .await
            .expect("create node");
        id.into()
    }

    /// Opens a dispatcher session for a bare node (the test plays its agent), publishing
    /// `tunnel_key` (empty: none): the stream of its assignment sets.
    pub async fn open_session(
        &self,
        node: &str,
        tunnel_key: &str,
    ) -> tokio::sync::mpsc::Receiver<shoal_types::dispatch::Assignments> {
        self.dispatcher
            .session(SessionRequest {
                node_id: node.into(),
                description: Default::default(),
                tunnel_key: tunnel_key.into(),
            })
            .await
            .expect("session")
    }

    /// Stops `node`'s agent from heartbeating and reporting (as if the host died).
    pub fn silence(&self, node: &str) {
        self.sessions.lock().insert(node.into(), SILENCED.into());
    }

    pub async fn create_service(&self, spec: ServiceSpec) -> ServiceId {
        let id = ServiceId::from(format!("svc-{}", spec.name.clone().unwrap_or_default()));
        let service = Service {
            id: id.clone(),
            spec,
            spec_version: Version { index: 1 },
            ..Default::default()
        };
        self.store
            .update(|tx| tx.create(Object::Service(service)))
            .await
            .expect("create service");
        id
    }

    /// Changes a service's spec as the control API does: new spec, new spec version.
    pub async fn update_service(&self, id: &ServiceId, change: impl Fn(&mut ServiceSpec)) {
        self.store
            .update(|tx| {
                let mut s = tx.service(id.as_str()).expect("service exists");
                change(&mut s.spec);
                s.spec_version.index += 1;
                tx.update(Object::Service(s))
            })
            .await
            .expect("update service");
    }

    pub async fn delete_service(&self, id: &ServiceId) {
        self.store
            .update(|tx| tx.delete(shoal_types::Kind::Service, id.as_str()))
            .await
            .expect("delete service");
    }

    pub async fn update_node(&self, id: &str, change: impl Fn(&mut Node)) {
        self.store
            .update(|tx| {
                let mut n = tx.node(id).expect("node exists");
                change(&mut n);
                tx.update(Object::Node(n))
            })
            .await
            .expect("update node");
    }

    /// The service's tasks, by slot then creation.
    pub fn tasks(&self, service: &ServiceId) -> Vec<Task> {
        let mut tasks: Vec<Task> = self.store.view(|t| {
            t.tasks
                .find("service", service.as_str())
                .into_iter()
                .cloned()
                .collect()
        });
        tasks.sort_by(|a, b| {
            (a.slot, &a.meta.created_at, &a.id).cmp(&(b.slot, &b.meta.created_at, &b.id))
        });
        tasks
    }

    /// Tasks of `service` observed RUNNING with desired state RUNNING.
    pub fn running(&self, service: &ServiceId) -> Vec<Task> {
        self.tasks(service)
            .into_iter()
            .filter(|t| {
                t.status.state == TaskState::Running && t.desired_state == TaskState::Running
            })
            .collect()
    }

    /// Reports `state` for `task` as its node's agent would.
    pub async fn report(&self, task: &Task, state: TaskState, message: &str) {
        let session = self
            .sessions
            .lock()
            .get(&task.node_id)
            .cloned()
            .unwrap_or_default();
        let update = StatusUpdate {
            task_id: task.id.clone(),
            status: TaskStatus {
                state,
                message: message.into(),
                ..Default::default()
            },
        };
        let batch = StatusBatch {
            node_id: task.node_id.clone(),
            session_id: session,
            updates: vec![update],
        };
        self.dispatcher
            .update_status(batch)
            .await
            .expect("status update accepted");
    }

    /// Polls `cond` every 10 ms of (virtual) time until it holds, failing after [`WAIT_LIMIT`]
    /// with `what`.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&Tables) -> bool) {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            if self.store.view(&cond) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT_LIMIT:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(c) = self.controllers.take() {
            c.shutdown().await;
        }
        while self.agents.join_next().await.is_some() {}
    }
}

/// A replicated service running `busybox` with `replicas` replicas.
pub fn replicated(name: &str, replicas: i64) -> ServiceSpec {
    ServiceSpec {
        name: Some(name.into()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some("busybox".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(replicas),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A global service.
pub fn global(name: &str) -> ServiceSpec {
    let mut spec = replicated(name, 0);
    spec.mode = Some(ServiceSpecMode {
        global: Some(Default::default()),
        ..Default::default()
    });
    spec
}

/// A replicated job.
pub fn replicated_job(name: &str, max_concurrent: i64, total: i64) -> ServiceSpec {
    let mut spec = replicated(name, 0);
    spec.mode = Some(ServiceSpecMode {
        replicated_job: Some(ServiceSpecModeReplicatedJob {
            max_concurrent: Some(max_concurrent),
            total_completions: Some(total),
        }),
        ..Default::default()
    });
    spec
}

/// Sets the restart policy of `spec`.
pub fn with_restart(
    mut spec: ServiceSpec,
    condition: TaskSpecRestartPolicyConditionEnum,
    delay: Duration,
    max_attempts: i64,
) -> ServiceSpec {
    let template = spec.task_template.get_or_insert_with(Default::default);
    template.restart_policy = Some(TaskSpecRestartPolicy {
        condition: Some(condition),
        delay: Some(delay.as_nanos() as i64),
        max_attempts: Some(max_attempts),
        window: Some(0),
    });
    spec
}

/// Sets placement constraints on `spec`.
pub fn with_constraints(mut spec: ServiceSpec, constraints: &[&str]) -> ServiceSpec {
    let template = spec.task_template.get_or_insert_with(Default::default);
    template
        .placement
        .get_or_insert_with(Default::default)
        .constraints = Some(constraints.iter().map(|c| c.to_string()).collect());
    spec
}
