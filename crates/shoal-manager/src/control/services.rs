//! Services: create, update (incl. server-side rollback), remove, list, status counts.

use super::lookup::resolve;
use super::validate::validate_service_spec;
use super::{Control, ControlError};
use crate::allocator::state::{is_ingress_port, needs_ingress, protocol_of, spec_ports};
use shoal_store::StoreError;
use shoal_types::api::{
    EndpointSpec, ServiceEndpoint, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceUpdateStatus, ServiceUpdateStatusStateEnum,
};
use shoal_types::service::{ServiceMode, mode_of};
use shoal_types::{Kind, Object, Service, ServiceId, TaskState};

/// The `rollback` query parameter of `POST /services/{id}/update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollback {
    None,
    Previous,
}

/// `ServiceStatus` of `GET /services?status=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServiceStatusCounts {
    pub running: u64,
    pub desired: u64,
    pub completed: u64,
}

/// Docker defaults applied to a spec as stored: Replicas 1 when the mode is absent or empty,
/// jobs' MaxConcurrent 1 and TotalCompletions = MaxConcurrent, endpoint mode vip.
pub fn normalize_spec(mut spec: ServiceSpec) -> ServiceSpec {
    let mode = spec.mode.get_or_insert_with(ServiceSpecMode::default);
    let none_set = mode.replicated.is_none()
        && mode.global.is_none()
        && mode.replicated_job.is_none()
        && mode.global_job.is_none();
    if none_set {
        mode.replicated = Some(ServiceSpecModeReplicated { replicas: Some(1) });
    }
    if let Some(r) = mode.replicated.as_mut()
        && r.replicas.is_none()
    {
        r.replicas = Some(1);
    }
    if let Some(job) = mode.replicated_job.as_mut() {
        let max = job.max_concurrent.filter(|m| *m > 0).unwrap_or(1);
        job.max_concurrent = Some(max);
        if job.total_completions.is_none_or(|t| t == 0) {
            job.total_completions = Some(max);
        }
    }
    // API < 1.44 sent networks at the top level; move them into the task template.
    if let Some(nets) = spec.networks.take() {
        let tt = spec.task_template.get_or_insert_with(Default::default);
        if tt.networks.as_ref().is_none_or(|n| n.is_empty()) {
            tt.networks = Some(nets);
        }
    }
    spec
}

fn endpoint_of(spec: &ServiceSpec) -> ServiceEndpoint {
    let es = spec.endpoint_spec.clone().unwrap_or(EndpointSpec {
        mode: None,
        ports: None,
    });
    ServiceEndpoint {
        spec: Some(es.clone()),
        ports: es.ports.clone().filter(|p| !p.is_empty()),
        virtual_ips: None,
    }
}

/// The endpoint of an updated service until the allocator has looked at it: what was
/// allocated stays (nodes keep routing to the virtual IPs), the spec is the new one.
fn keep_allocation(current: Option<ServiceEndpoint>, spec: &ServiceSpec) -> ServiceEndpoint {
    match current {
        Some(mut ep) => {
            ep.spec = endpoint_of(spec).spec;
            ep
        }
        None => endpoint_of(spec),
    }
}

impl Control {
    /// swarmkit's checks of a service's published ports: a port published in ingress mode
    /// needs the ingress network, and belongs to one service only.
    fn check_endpoint(
        &self,
        spec: &ServiceSpec,
        own: Option<&ServiceId>,
    ) -> Result<(), ControlError> {
        if !needs_ingress(spec) {
            return Ok(());
        }
        let wanted: Vec<(&str, i64)> = spec_ports(spec)
            .iter()
            .filter(|p| is_ingress_port(p))
            .filter_map(|p| {
                p.published_port
                    .filter(|n| *n > 0)
                    .map(|n| (protocol_of(p), n))
            })
            .collect();
        self.store.view(|t| {
            if !t.networks.iter().any(|n| n.is_ingress()) {
                return Err(ControlError::Invalid(
                    "rpc error: code = FailedPrecondition desc = service needs ingress network, but no ingress network is present".into(),
                ));
            }
            for s in t.services.iter().filter(|s| Some(&s.id) != own) {
                let published = s
                    .endpoint
                    .as_ref()
                    .and_then(|e| e.ports.as_deref())
                    .unwrap_or_default()
                    .iter()
                    .chain(spec_ports(&s.spec))
                    .filter(|p| is_ingress_port(p));
                for p in published {
                    if let Some(n) = p.published_port
                        && wanted.contains(&(protocol_of(p), n))
                    {
                        return Err(ControlError::Invalid(format!(
                            "rpc error: code = InvalidArgument desc = port '{n}' is already in use by service '{}' ({}) as an ingress port",
                            s.name(),
                            s.id
                        )));
                    }
                }
            }
            Ok(())
        })
    }

    pub fn services(&self) -> Vec<Service> {
        self.store.view(|t| t.services.iter().cloned().collect())
    }

    pub fn resolve_service(&self, input: &str) -> Result<Service, ControlError> {
        self.store.view(|t| {
            resolve(
                t.services.iter(),
                input,
                "service",
                |s| s.id.as_str(),
                |s| s.spec.name.as_deref(),
            )
            .cloned()
        })
    }

    /// `POST /services/create`. Returns the new id.
    pub async fn create_service(&self, spec: ServiceSpec) -> Result<ServiceId, ControlError> {
        let mut spec = normalize_spec(spec);
        if spec.name.as_deref().is_none_or(str::is_empty) {
            spec.name = Some(random_name(&mut rand::rng()));
        }
        validate_service_spec(&spec)?;
        self.check_references(&spec)?;
        self.resolve_spec_networks(&mut spec)?;
        self.check_endpoint(&spec, None)?;
        let id = ServiceId::generate(&mut rand::rng());
        let service = Service {
            id: id.clone(),
            endpoint: Some(endpoint_of(&spec)),
            spec,
            ..Default::default()
        };
        self.store
            .update(|tx| tx.create(Object::Service(service)))
            .await?;
        Ok(id)
    }

    /// `POST /services/{id}/update?version=N[&rollback=previous]`. An update whose spec equals
    /// the current one changes nothing (stack redeploys rely on it).
    pub async fn update_service(
        &self,
        input: &str,
        version: u64,
        spec: ServiceSpec,
        rollback: Rollback,
    ) -> Result<(), ControlError> {
        let current = self.resolve_service(input)?;
        if current.meta.version.index != version {
            return Err(StoreError::OutOfSequence {
                kind: Kind::Service,
                id: current.id.to_string(),
            }
            .into());
        }
        let mut svc = current.clone();
        match rollback {
            Rollback::Previous => {
                let Some(prev) = svc.previous_spec.take() else {
                    return Err(ControlError::Invalid(format!(
                        "service {} does not have a previous spec",
                        svc.id
                    )));
                };
                let prev_version = svc.previous_spec_version.take().unwrap_or_default();
                svc.previous_spec = Some(std::mem::replace(&mut svc.spec, prev));
                svc.previous_spec_version =
                    Some(std::mem::replace(&mut svc.spec_version, prev_version));
                self.check_endpoint(&svc.spec, Some(&svc.id))?;
                // The restored spec is a new deployment: its tasks must be rebuilt.
                svc.spec_version.index = current.meta.version.index;
                svc.endpoint = Some(keep_allocation(svc.endpoint.take(), &svc.spec));
                svc.update_status = Some(ServiceUpdateStatus {
                    state: Some(ServiceUpdateStatusStateEnum::ROLLBACK_STARTED),
                    started_at: Some(shoal_types::time::rfc3339(self.store.now())),
                    completed_at: None,
                    message: Some("manually requested rollback".into()),
                });
            }
            Rollback::None => {
                let mut spec = normalize_spec(spec);
                if spec.name.as_deref().is_none_or(str::is_empty) {
                    spec.name = current.spec.name.clone();
                }
                validate_service_spec(&spec)?;
                self.check_references(&spec)?;
                self.resolve_spec_networks(&mut spec)?;
                self.check_endpoint(&spec, Some(&current.id))?;
                if spec.name != current.spec.name {
                    return Err(ControlError::Unimplemented(
                        "rpc error: code = Unimplemented desc = renaming services is not supported"
                            .into(),
                    ));
                }
                if std::mem::discriminant(&mode_of(&spec))
                    != std::mem::discriminant(&mode_of(&current.spec))
                {
                    return Err(ControlError::Unimplemented(
                        "rpc error: code = Unimplemented desc = service mode change is not allowed"
                            .into(),
                    ));
                }
                if spec == current.spec {
                    return Ok(());
                }
                let only_scale = {
                    let mut a = spec.clone();
                    let mut b = current.spec.clone();
                    a.mode = None;
                    b.mode = None;
                    a == b
                };
                svc.previous_spec = Some(std::mem::replace(&mut svc.spec, spec));
                svc.previous_spec_version = Some(svc.spec_version);
                if !only_scale {
                    svc.spec_version.index = current.meta.version.index;
                    svc.update_status = None;
                }
                svc.endpoint = Some(keep_allocation(svc.endpoint.take(), &svc.spec));
            }
        }
        self.store
            .update(move |tx| tx.update(Object::Service(svc)))
            .await?;
        Ok(())
    }

    /// `DELETE /services/{id}`. The orchestrators shut its tasks down.
    pub async fn remove_service(&self, input: &str) -> Result<(), ControlError> {
        let svc = self.resolve_service(input)?;
        let id = svc.id.to_string();
        self.store
            .update(move |tx| tx.delete(Kind::Service, &id))
            .await?;
        Ok(())
    }

    /// Running/desired/completed counts as swarmkit's `ListServiceStatuses` computes them.
    pub fn service_status(&self, svc: &Service) -> ServiceStatusCounts {
        self.store.view(|t| {
            let tasks = t.tasks.find("service", svc.id.as_str());
            let running = tasks
                .iter()
                .filter(|t| {
                    t.status.state == TaskState::Running && t.desired_state == TaskState::Running
                })
                .count() as u64;
            let completed = tasks
                .iter()
                .filter(|t| t.status.state == TaskState::Complete)
                .count() as u64;
            let desired = match svc.mode() {
                ServiceMode::Replicated { replicas } => replicas,
                ServiceMode::ReplicatedJob {
                    max_concurrent,
                    total,
                } => max_concurrent.min(total.saturating_sub(completed)),
                ServiceMode::Global | ServiceMode::GlobalJob => tasks
                    .iter()
                    .filter(|t| {
                        t.desired_state == TaskState::Running
                            || (svc.mode().is_job() && t.desired_state == TaskState::Complete)
                    })
                    .count() as u64,
            };
            ServiceStatusCounts {
                running,
                desired,
                completed,
            }
        })
    }
}

/// moby picks a random `adjective_name` for unnamed services.
fn random_name(rng: &mut impl rand::Rng) -> String {
    const LEFT: [&str; 8] = [
        "brave", "calm", "eager", "gentle", "happy", "keen", "lucid", "quirky",
    ];
    const RIGHT: [&str; 8] = [
        "turing", "hopper", "lovelace", "knuth", "ritchie", "thompson", "liskov", "dijkstra",
    ];
    format!(
        "{}_{}",
        LEFT[rng.random_range(0..LEFT.len())],
        RIGHT[rng.random_range(0..RIGHT.len())]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_default_to_one() {
        let spec = normalize_spec(ServiceSpec::default());
        assert_eq!(
            spec.mode
                .and_then(|m| m.replicated)
                .and_then(|r| r.replicas),
            Some(1)
        );
    }
}
