//! Builders shared by the update module's unit tests.

use shoal_types::api::{
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig, TaskSpec,
    TaskSpecContainerSpec,
};
use shoal_types::{Service, Task, TaskState, TaskStatus, Version};

pub fn template(image: &str) -> TaskSpec {
    TaskSpec {
        container_spec: Some(TaskSpecContainerSpec {
            image: Some(image.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A replicated service running `image` at spec version `version`.
pub fn service(image: &str, version: u64, replicas: i64) -> Service {
    Service {
        id: "svc".into(),
        spec: ServiceSpec {
            name: Some("web".into()),
            task_template: Some(template(image)),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(replicas),
                }),
                ..Default::default()
            }),
            update_config: Some(ServiceSpecUpdateConfig::default()),
            ..Default::default()
        },
        spec_version: Version { index: version },
        ..Default::default()
    }
}

/// A task of `image` made at spec version `version`, on node `n1`, desired RUNNING.
pub fn task(id: &str, slot: u64, image: &str, version: u64, state: TaskState) -> Task {
    Task {
        id: id.into(),
        service_id: "svc".into(),
        slot,
        node_id: "n1".into(),
        spec: template(image),
        spec_version: Version { index: version },
        status: TaskStatus {
            state,
            ..Default::default()
        },
        desired_state: TaskState::Running,
        ..Default::default()
    }
}
