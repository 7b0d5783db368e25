//! Orchestrators: keep each service's tasks at the shape its mode asks for.
//!
//! - [`replicated`]: `replicas` runnable tasks in numbered slots.
//! - [`global`]: one runnable task on every eligible node.
//! - [`jobs`]: replicated and global jobs, run to completion.
//!
//! They create tasks (state NEW) and set desired states; they never replace failed tasks —
//! the [restart supervisor](crate::restart) does. The helpers here are what they share: how
//! a task is made from a service, what "runnable" and "dirty" mean.

pub mod global;
pub mod jobs;
pub mod replicated;

use crate::controller;
use shoal_store::{StoreError, StoreHandle, Tx};
use shoal_types::api::{EndpointPortConfig, EndpointSpec, EndpointSpecModeEnum};
use shoal_types::task::ServiceAnnotations;
use shoal_types::{
    NodeId, Object, Service, ServiceId, Task, TaskId, TaskState, TaskStatus, Version,
};
use std::collections::BTreeSet;

/// `Status.Message` of a task an orchestrator (or the restart supervisor) just made.
pub const CREATED_MESSAGE: &str = "created";

/// A task's desired state says it should run (or get ready to): it occupies its slot.
pub fn is_runnable(task: &Task) -> bool {
    task.desired_state <= TaskState::Running
}

/// SwarmKit's `IsTaskDirty`: the task was made from an older spec that differs in what the
/// task runs, or in the endpoint spec its allocated endpoint was made from (published ports,
/// endpoint mode: `service update --publish-add` replaces the tasks, as in Docker). A changed
/// replica count or service labels leave tasks clean.
pub fn is_dirty(service: &Service, task: &Task) -> bool {
    if task.spec_version == service.spec_version {
        return false;
    }
    service.spec.task_template.clone().unwrap_or_default() != task.spec
        || task.endpoint.as_ref().is_some_and(|e| {
            normalized(service.spec.endpoint_spec.as_ref()) != normalized(e.spec.as_ref())
        })
}

/// An endpoint spec as the allocator copies it into an endpoint: mode `vip` when unset, no
/// ports the same as an empty list.
fn normalized(spec: Option<&EndpointSpec>) -> (EndpointSpecModeEnum, Vec<EndpointPortConfig>) {
    let mode = spec
        .and_then(|s| s.mode)
        .filter(|m| *m != EndpointSpecModeEnum::EMPTY)
        .unwrap_or(EndpointSpecModeEnum::VIP);
    let ports = spec.and_then(|s| s.ports.clone()).unwrap_or_default();
    (mode, ports)
}

/// The job iteration a job service is on: `JobStatus.JobIteration`, or the spec version when
/// the control API has not set one.
pub fn job_iteration(service: &Service) -> Version {
    service
        .job_status
        .as_ref()
        .and_then(|j| j.job_iteration.as_ref())
        .and_then(|v| v.index)
        .map(|index| Version { index })
        .unwrap_or(service.spec_version)
}

/// A new task for `service` in `slot` (replicated) or on `node_id` (global), in state NEW with
/// desired state RUNNING. `timestamp` is the RFC 3339 creation time.
pub fn new_task(
    service: &Service,
    slot: u64,
    node_id: Option<NodeId>,
    id: TaskId,
    timestamp: String,
) -> Task {
    let mode = service.mode();
    Task {
        id,
        spec: service.spec.task_template.clone().unwrap_or_default(),
        spec_version: service.spec_version,
        service_id: service.id.clone(),
        slot,
        node_id: node_id.unwrap_or_default(),
        status: TaskStatus {
            timestamp,
            state: TaskState::New,
            message: CREATED_MESSAGE.to_string(),
            ..Default::default()
        },
        desired_state: TaskState::Running,
        service_annotations: ServiceAnnotations {
            name: service.name().to_string(),
            labels: service.spec.labels.clone().unwrap_or_default(),
        },
        job_iteration: mode.is_job().then(|| job_iteration(service)),
        // The allocator sets it again with the task's addresses.
        endpoint: service.endpoint.clone(),
        ..Default::default()
    }
}

/// Ids of services that have tasks still wanted (desired state below REMOVE) but no longer
/// exist: deleted while no orchestrator was watching. Network attachments have no service
/// and are not orphans.
pub fn orphaned_services(tables: &shoal_store::Tables) -> BTreeSet<ServiceId> {
    tables
        .tasks
        .iter()
        .filter(|t| {
            t.desired_state < TaskState::Remove
                && !t.is_attachment()
                && tables.services.get(t.service_id.as_str()).is_none()
        })
        .map(|t| t.service_id.clone())
        .collect()
}

/// Sets desired state REMOVE on every task of `services` that are gone from the store, so
/// agents stop them and the reaper deletes them (SwarmKit `SetServiceTasksRemove`).
pub async fn remove_tasks_of_deleted(
    store: &StoreHandle,
    services: &BTreeSet<ServiceId>,
) -> Result<(), StoreError> {
    if services.is_empty() {
        return Ok(());
    }
    let ids: Vec<TaskId> = store.view(|t| {
        services
            .iter()
            .filter(|s| t.services.get(s.as_str()).is_none())
            .flat_map(|s| t.tasks.find("service", s.as_str()))
            .filter(|task| task.desired_state < TaskState::Remove)
            .map(|task| task.id.clone())
            .collect()
    });
    controller::update_in_batches(store, &ids, |tx, id| {
        let Some(mut task) = tx.task(id.as_str()) else {
            return Ok(());
        };
        if task.desired_state >= TaskState::Remove || tx.service(task.service_id.as_str()).is_some() {
            return Ok(());
        }
        tracing::debug!(service.id = %task.service_id, task.id = %task.id, "service deleted; removing task");
        task.desired_state = TaskState::Remove;
        tx.update(Object::Task(task))
    })
    .await
}

/// Stages desired state `desired` on task `id` if it is still runnable. Returns whether it
/// changed anything.
pub fn stage_stop(tx: &mut Tx<'_>, id: &TaskId, desired: TaskState) -> Result<bool, StoreError> {
    let Some(mut task) = tx.task(id.as_str()) else {
        return Ok(false);
    };
    if !is_runnable(&task) {
        return Ok(false);
    }
    task.desired_state = desired;
    tx.update(Object::Task(task))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::{TaskSpec, TaskSpecContainerSpec};

    fn service_with_image(image: &str, version: u64) -> Service {
        Service {
            id: "svc".into(),
            spec: shoal_types::api::ServiceSpec {
                name: Some("web".into()),
                task_template: Some(TaskSpec {
                    container_spec: Some(TaskSpecContainerSpec {
                        image: Some(image.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            spec_version: Version { index: version },
            ..Default::default()
        }
    }

    #[test]
    fn a_new_task_copies_the_template_and_waits_to_be_allocated() {
        let svc = service_with_image("nginx", 7);
        let t = new_task(&svc, 3, None, "t1".into(), "now".into());
        assert_eq!(t.slot, 3);
        assert_eq!(t.status.state, TaskState::New);
        assert_eq!(t.status.message, "created");
        assert_eq!(t.desired_state, TaskState::Running);
        assert_eq!(t.spec_version, Version { index: 7 });
        assert_eq!(t.service_annotations.name, "web");
        assert_eq!(t.job_iteration, None);
    }

    #[test]
    fn a_task_is_dirty_only_when_what_it_runs_changed() {
        let old = service_with_image("nginx", 1);
        let task = new_task(&old, 1, None, "t1".into(), String::new());
        let mut scaled = old.clone();
        scaled.spec_version = Version { index: 2 };
        assert!(
            !is_dirty(&scaled, &task),
            "a new version with the same template is clean"
        );
        let new_image = service_with_image("redis", 3);
        assert!(is_dirty(&new_image, &task));
    }

    #[test]
    fn a_changed_endpoint_spec_makes_allocated_tasks_dirty_as_in_swarmkit() {
        use shoal_types::api::{EndpointPortConfig, ServiceEndpoint};
        let port = |published: i64| EndpointPortConfig {
            target_port: Some(80),
            published_port: Some(published),
            ..Default::default()
        };
        let mut old = service_with_image("nginx", 1);
        old.spec.endpoint_spec = Some(EndpointSpec {
            mode: None,
            ports: Some(vec![port(8080)]),
        });
        let mut task = new_task(&old, 1, None, "t1".into(), String::new());
        // what the allocator gives the task: the spec with its mode defaulted
        task.endpoint = Some(ServiceEndpoint {
            spec: Some(EndpointSpec {
                mode: Some(EndpointSpecModeEnum::VIP),
                ports: Some(vec![port(8080)]),
            }),
            ..Default::default()
        });
        let mut relabeled = old.clone();
        relabeled.spec_version = Version { index: 2 };
        relabeled.spec.labels = Some([("a".to_string(), "b".to_string())].into());
        assert!(
            !is_dirty(&relabeled, &task),
            "same ports, mode defaulted: clean"
        );
        let mut published = relabeled.clone();
        published.spec_version = Version { index: 3 };
        published.spec.endpoint_spec = Some(EndpointSpec {
            mode: None,
            ports: Some(vec![port(8080), port(8081)]),
        });
        assert!(is_dirty(&published, &task), "--publish-add replaces tasks");
        // a task not allocated yet has no endpoint to compare (SwarmKit: `t.Endpoint != nil`)
        let mut fresh = task.clone();
        fresh.endpoint = None;
        assert!(!is_dirty(&published, &fresh));
        // no endpoint spec at all is the allocator's `vip` with no ports
        let mut bare = old.clone();
        bare.spec.endpoint_spec = None;
        let mut bare_task = task.clone();
        bare_task.endpoint = Some(ServiceEndpoint {
            spec: Some(EndpointSpec {
                mode: Some(EndpointSpecModeEnum::VIP),
                ports: None,
            }),
            ..Default::default()
        });
        bare.spec_version = Version { index: 4 };
        assert!(!is_dirty(&bare, &bare_task));
    }
}
