//! The service object.

use crate::api::{ServiceEndpoint, ServiceJobStatus, ServiceSpec, ServiceUpdateStatus};
use crate::id::ServiceId;
use crate::meta::{Meta, Version};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The service label that turns on PROXY protocol v2 for published ports: a comma-separated
/// list of published ingress TCP ports (`com.shoal.proxy-protocol=8080,8443`). Connections
/// to those ports through the routing mesh reach the task after a PROXY v2 header carrying
/// the client's address and port. A label, because the docker CLI cannot carry a new field.
pub const PROXY_PROTOCOL_LABEL: &str = "com.shoal.proxy-protocol";

/// How a service places its tasks, decoded from `Spec.Mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceMode {
    /// `replicas` tasks in slots 1..=replicas.
    Replicated { replicas: u64 },
    /// One task on every eligible node.
    Global,
    /// Runs `total` completions, at most `max_concurrent` at a time.
    ReplicatedJob { max_concurrent: u64, total: u64 },
    /// One completion on every eligible node.
    GlobalJob,
}

impl ServiceMode {
    pub fn name(self) -> &'static str {
        match self {
            ServiceMode::Replicated { .. } => "replicated",
            ServiceMode::Global => "global",
            ServiceMode::ReplicatedJob { .. } => "replicated-job",
            ServiceMode::GlobalJob => "global-job",
        }
    }

    pub fn is_job(self) -> bool {
        matches!(
            self,
            ServiceMode::ReplicatedJob { .. } | ServiceMode::GlobalJob
        )
    }
}

/// A service, as `GET /services` returns it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Service {
    #[serde(rename = "ID")]
    pub id: ServiceId,
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(rename = "Spec", default)]
    pub spec: ServiceSpec,
    #[serde(
        rename = "PreviousSpec",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub previous_spec: Option<ServiceSpec>,
    #[serde(rename = "Endpoint", skip_serializing_if = "Option::is_none", default)]
    pub endpoint: Option<ServiceEndpoint>,
    #[serde(
        rename = "UpdateStatus",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub update_status: Option<ServiceUpdateStatus>,
    #[serde(rename = "JobStatus", skip_serializing_if = "Option::is_none", default)]
    pub job_status: Option<ServiceJobStatus>,
    /// Bumped on every spec change; tasks record the value they were made from, and a task
    /// whose `SpecVersion` differs is dirty (SwarmKit `orchestrator.IsTaskDirty`). Internal.
    #[serde(rename = "SpecVersion", default)]
    pub spec_version: Version,
    #[serde(
        rename = "PreviousSpecVersion",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub previous_spec_version: Option<Version>,
}

impl Service {
    pub fn name(&self) -> &str {
        self.spec.name.as_deref().unwrap_or_default()
    }

    /// The scheduling mode, with Docker's defaults (replicated 1; jobs MaxConcurrent 1 and
    /// TotalCompletions = MaxConcurrent).
    pub fn mode(&self) -> ServiceMode {
        mode_of(&self.spec)
    }
}

/// Decodes the mode of a spec, applying Docker's defaults.
pub fn mode_of(spec: &ServiceSpec) -> ServiceMode {
    let Some(mode) = spec.mode.as_ref() else {
        return ServiceMode::Replicated { replicas: 1 };
    };
    if mode.global.is_some() {
        ServiceMode::Global
    } else if mode.global_job.is_some() {
        ServiceMode::GlobalJob
    } else if let Some(job) = &mode.replicated_job {
        let max = job.max_concurrent.filter(|m| *m > 0).unwrap_or(1) as u64;
        let total = job
            .total_completions
            .filter(|t| *t > 0)
            .map(|t| t as u64)
            .unwrap_or(max);
        ServiceMode::ReplicatedJob {
            max_concurrent: max,
            total,
        }
    } else {
        let replicas = mode
            .replicated
            .as_ref()
            .and_then(|r| r.replicas)
            .unwrap_or(1)
            .max(0) as u64;
        ServiceMode::Replicated { replicas }
    }
}

/// The published ports a spec's [`PROXY_PROTOCOL_LABEL`] names (empty without the label), or
/// why its value is not a list of ports. Whether they are the service's published ingress
/// TCP ports is the control API's check.
pub fn proxy_protocol_ports(spec: &ServiceSpec) -> Result<BTreeSet<u16>, String> {
    let Some(value) = spec
        .labels
        .as_ref()
        .and_then(|l| l.get(PROXY_PROTOCOL_LABEL))
    else {
        return Ok(BTreeSet::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.parse::<u16>() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(format!(
                "label {PROXY_PROTOCOL_LABEL}={value}: '{p}' is not a port (1-65535); the value is a comma-separated list of published ports"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(value: Option<&str>) -> ServiceSpec {
        ServiceSpec {
            labels: value.map(|v| [(PROXY_PROTOCOL_LABEL.to_string(), v.to_string())].into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_proxy_protocol_label_is_a_comma_separated_list_of_ports() {
        assert_eq!(proxy_protocol_ports(&spec_with(None)), Ok(BTreeSet::new()));
        assert_eq!(
            proxy_protocol_ports(&spec_with(Some(""))),
            Ok(BTreeSet::new())
        );
        assert_eq!(
            proxy_protocol_ports(&spec_with(Some("8080"))),
            Ok(BTreeSet::from([8080]))
        );
        assert_eq!(
            proxy_protocol_ports(&spec_with(Some(" 8443, 8080,8080 "))),
            Ok(BTreeSet::from([8080, 8443]))
        );
        for bad in ["http", "0", "70000", "8080;8443", "8080/tcp"] {
            let e = proxy_protocol_ports(&spec_with(Some(bad))).expect_err(bad);
            assert!(
                e.contains(PROXY_PROTOCOL_LABEL) && e.contains("not a port"),
                "{e}"
            );
        }
    }
}
