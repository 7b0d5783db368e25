//! Test doubles for the agent: an in-memory executor and dispatcher, and a polling wait.

#![allow(dead_code, clippy::unwrap_used)]

mod dispatcher;
mod executor;

pub use dispatcher::FakeDispatcher;
pub use executor::{FakeExecutor, Phase};

use shoal_agent::AgentConfig;
use shoal_types::api::{TaskSpec, TaskSpecContainerSpec};
use shoal_types::{NodeId, ServiceId, Task, TaskId, TaskState, TaskStatus};
use std::time::Duration;
pub const NODE: &str = "node1";

/// Short timings so scenarios finish in milliseconds.
pub fn fast_config() -> AgentConfig {
    AgentConfig {
        status_batch_window: Duration::from_millis(5),
        retry_min: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
        stop_drain: Duration::from_millis(20),
        ..AgentConfig::default()
    }
}

pub fn task(id: &str, image: &str) -> Task {
    let mut t = Task {
        id: TaskId::from(id),
        service_id: ServiceId::from("svc1"),
        slot: 1,
        node_id: NodeId::from(NODE),
        desired_state: TaskState::Running,
        status: TaskStatus {
            state: TaskState::Assigned,
            ..Default::default()
        },
        spec: TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    t.service_annotations.name = "web".into();
    t
}

/// Polls `cond` every 10 ms until it holds, panicking with `what` after 5 s.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
