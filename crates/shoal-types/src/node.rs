//! The node object.

use crate::api::{
    ManagerStatus, NodeDescription, NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum,
    NodeStatus,
};
use crate::id::NodeId;
use crate::meta::Meta;
use crate::network::NetworkAttachment;
use serde::{Deserialize, Serialize};

/// A member of the cluster, as `GET /nodes` returns it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: NodeId,
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(rename = "Spec", default)]
    pub spec: NodeSpec,
    #[serde(rename = "Description", default)]
    pub description: NodeDescription,
    #[serde(rename = "Status", default)]
    pub status: NodeStatus,
    #[serde(
        rename = "ManagerStatus",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub manager_status: Option<ManagerStatus>,
    /// Raft member id of a manager (random, never reused); 0 for workers. Internal.
    #[serde(rename = "RaftID", default, skip_serializing_if = "is_zero")]
    pub raft_id: u64,
    /// This node's own address on each overlay network (its gateway there), written by the
    /// allocator. Internal.
    #[serde(rename = "Attachments", default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<NetworkAttachment>,
    /// The node's WireGuard public key (base64) for encrypted overlay networks, as its agent
    /// last reported it when opening a dispatcher session; empty while it has none (no data
    /// plane, or the key could not be made). Internal.
    #[serde(
        rename = "TunnelKey",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub tunnel_key: String,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Node {
    /// The desired role from the spec.
    pub fn is_manager(&self) -> bool {
        matches!(self.spec.role, Some(NodeSpecRoleEnum::MANAGER))
    }

    pub fn availability(&self) -> NodeSpecAvailabilityEnum {
        self.spec
            .availability
            .filter(|a| *a != NodeSpecAvailabilityEnum::EMPTY)
            .unwrap_or(NodeSpecAvailabilityEnum::ACTIVE)
    }

    /// The name docker shows: `Spec.Name`, else the hostname, else the id.
    pub fn display_name(&self) -> &str {
        if let Some(n) = self.spec.name.as_deref().filter(|n| !n.is_empty()) {
            return n;
        }
        if let Some(h) = self
            .description
            .hostname
            .as_deref()
            .filter(|h| !h.is_empty())
        {
            return h;
        }
        self.id.as_str()
    }
}
