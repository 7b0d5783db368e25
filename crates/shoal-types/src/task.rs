//! The task object: one attempt to run a service's container in a slot or on a node.

use crate::api::{ContainerStatus, PortStatus, ServiceEndpoint, TaskSpec};
use crate::id::{NodeId, ServiceId, TaskId};
use crate::meta::{Meta, Version};
use crate::network::NetworkAttachment;
use crate::task_state::TaskState;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Observed status, written by the agent (and by managers for tasks that never reach a node).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskStatus {
    #[serde(rename = "Timestamp", default)]
    pub timestamp: String,
    #[serde(rename = "State", default)]
    pub state: TaskState,
    #[serde(rename = "Message", default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
    #[serde(
        rename = "ContainerStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_status: Option<ContainerStatus>,
    #[serde(rename = "PortStatus", default)]
    pub port_status: PortStatus,
}

/// A task, as `GET /tasks` returns it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Task {
    #[serde(rename = "ID")]
    pub id: TaskId,
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(rename = "Name", default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "Labels", default)]
    pub labels: HashMap<String, String>,
    #[serde(rename = "Spec", default)]
    pub spec: TaskSpec,
    /// The service's `SpecVersion` this task was made from. Internal.
    #[serde(rename = "SpecVersion", default)]
    pub spec_version: Version,
    #[serde(rename = "ServiceID", default)]
    pub service_id: ServiceId,
    /// 1..N for replicated services; 0 for global ones.
    #[serde(rename = "Slot", default)]
    pub slot: u64,
    #[serde(rename = "NodeID", default)]
    pub node_id: NodeId,
    #[serde(rename = "Status", default)]
    pub status: TaskStatus,
    #[serde(rename = "DesiredState", default)]
    pub desired_state: TaskState,
    /// The owning service's name and labels when the task was made (for `label` filters and
    /// container names). Internal.
    #[serde(rename = "ServiceAnnotations", default)]
    pub service_annotations: ServiceAnnotations,
    #[serde(
        rename = "JobIteration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub job_iteration: Option<Version>,
    /// The task's addresses, one entry per network (written by the allocator before the task
    /// leaves NEW).
    #[serde(
        rename = "NetworksAttachments",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub networks: Vec<NetworkAttachment>,
    /// The service's endpoint (resolved ports, VIPs) when the task was made: host-mode ports
    /// are bound from it.
    #[serde(rename = "Endpoint", default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<ServiceEndpoint>,
}

/// Name and labels of the owning service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceAnnotations {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Labels", default)]
    pub labels: HashMap<String, String>,
}

impl Task {
    /// The container name docker uses: `<service>.<slot>.<task id>` for replicated tasks,
    /// `<service>.<node id>.<task id>` for global ones.
    pub fn container_name(&self) -> String {
        if self.slot > 0 {
            format!(
                "{}.{}.{}",
                self.service_annotations.name, self.slot, self.id
            )
        } else {
            format!(
                "{}.{}.{}",
                self.service_annotations.name, self.node_id, self.id
            )
        }
    }

    /// Whether this task is a network attachment (SwarmKit's `Runtime: attachment`): an
    /// address on one network reserved for a container started outside any service
    /// (`docker run --network NAME` on an attachable network). It has no service, is bound to
    /// its node from creation, and is never run by an agent.
    pub fn is_attachment(&self) -> bool {
        self.spec.network_attachment_spec.is_some()
    }

    /// The id of the container an attachment belongs to, once the engine created it.
    pub fn attachment_container(&self) -> Option<&str> {
        self.spec
            .network_attachment_spec
            .as_ref()
            .and_then(|s| s.container_id.as_deref())
            .filter(|c| !c.is_empty())
    }

    /// The task name shown by `service ps`: `<service>.<slot>` or `<service>.<node id>`.
    pub fn display_name(&self) -> String {
        if self.slot > 0 {
            format!("{}.{}", self.service_annotations.name, self.slot)
        } else {
            format!("{}.{}", self.service_annotations.name, self.node_id)
        }
    }
}
