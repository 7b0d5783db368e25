//! The session protocol between a node's agent and the leader's dispatcher.
//!
//! Down: the dispatcher sends the complete set of tasks assigned to the node (SwarmKit's
//! `AssignmentsMessage` of type COMPLETE) whenever it changes; the agent reconciles towards it.
//! Up: the agent sends batched task status updates and periodic heartbeats. The same messages
//! travel in-process (single daemon) and, later, over the mTLS cluster channel.

use crate::api::NodeDescription;
use crate::id::{NodeId, ServiceId, TaskId};
use crate::network::Network;
use crate::secret::{Config, Secret};
use crate::task::{Task, TaskStatus};
use serde::{Deserialize, Serialize};

/// Opens a session: who the node is and what it has.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SessionRequest {
    pub node_id: NodeId,
    pub description: NodeDescription,
    /// The node's WireGuard public key (base64) for encrypted overlay networks, made on the
    /// node (a new one at every start of its agent); the dispatcher keeps it on the node
    /// object and sends it to the node's peers as [`NetNode::key`]. Empty when the node has
    /// no data plane or could not make a key.
    #[serde(default)]
    pub tunnel_key: String,
}

/// The full set of tasks a node must run or stop. Tasks absent from the set must be stopped
/// and forgotten by the agent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Assignments {
    /// Session id; changes when the dispatcher restarts (new leader), telling the agent to
    /// re-register.
    pub session_id: String,
    pub tasks: Vec<Task>,
    /// Heartbeat period the agent must keep, in milliseconds.
    pub heartbeat_period_ms: u64,
    /// Every secret the tasks of the set that may still run reference (complete, like the
    /// tasks: one absent from the set must be dropped by the agent). Data included.
    #[serde(default)]
    pub secrets: Vec<Secret>,
    /// Every config those tasks reference, likewise.
    #[serde(default)]
    pub configs: Vec<Config>,
    /// Every network the node takes part in (complete; see [`NodeNetwork`]).
    #[serde(default)]
    pub networks: Vec<NodeNetwork>,
}

/// One observed task status from an agent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub task_id: TaskId,
    pub status: TaskStatus,
}

/// A batch of status updates.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StatusBatch {
    pub node_id: NodeId,
    pub session_id: String,
    pub updates: Vec<StatusUpdate>,
}

/// Answer to a heartbeat: when the next one is due.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub period_ms: u64,
}

/// What a node's data plane, resolver and load balancer need to know about one network it
/// takes part in: sent in [`Assignments::networks`] for every network one of the node's
/// tasks is attached to, plus the ingress network on every node while any service publishes
/// a port in ingress mode. Complete, like the tasks: a network absent from the set is torn
/// down on the node.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeNetwork {
    /// The network object (name, subnet in `IPAM`, `VNI`, options: MTU, internal, encrypted).
    pub network: Network,
    /// This node's own address on the network with its prefix (`10.0.1.254/24`): the bridge
    /// address, the default gateway of local tasks, where the node's resolver listens.
    pub gateway: String,
    /// Every node that has this network up (including this one): where to send frames for
    /// its endpoints and its gateway address.
    pub nodes: Vec<NetNode>,
    /// Every task on the network that is assigned to a node and not yet stopped, on every
    /// node (including this one).
    pub endpoints: Vec<NetEndpoint>,
    /// Every service with tasks on the network: names, VIPs, published ports.
    pub services: Vec<NetService>,
    /// The UDP port of the network's VXLAN traffic: the cluster's `DataPathPort`
    /// (`swarm init --data-path-port`); 0 means Docker's default, 4789.
    pub data_path_port: u16,
}

/// A node taking part in a network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetNode {
    pub node_id: NodeId,
    /// The node's data-path address on the LAN (its VXLAN tunnel end point).
    pub addr: String,
    /// The node's own address on the network, without prefix (its bridge's address).
    pub gateway: String,
    /// The node's WireGuard public key (base64, 32 bytes), generated on the node and published
    /// through the store: on an encrypted network, VXLAN traffic to this node goes through the
    /// encrypted tunnel to this key. Empty while the node has not published one yet.
    pub key: String,
}

/// One task's address on a network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetEndpoint {
    pub task_id: TaskId,
    pub service_id: ServiceId,
    pub node_id: NodeId,
    /// The task's address on the network, without prefix.
    pub addr: String,
    /// Running, and healthy where the task has a healthcheck: only ready endpoints get DNS
    /// records, VIP and routing-mesh traffic. Unready ones stay reachable by address.
    pub ready: bool,
    /// DNS names of this one task: `<service>.<slot>.<task id>` (the container name) and the
    /// container's hostname when the spec sets one (templates expanded).
    pub names: Vec<String>,
    /// The network aliases of this attachment (the service's `--network name=…,alias=…`).
    pub aliases: Vec<String>,
    /// The task's own nameservers (`--dns`): names the swarm does not own that this task asks
    /// for are forwarded there instead of to its node's upstream resolvers, as Docker's
    /// embedded DNS does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
}

/// A service attached to a network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetService {
    pub service_id: ServiceId,
    /// The service's name (`<stack>_<service>` for stack services).
    pub name: String,
    /// Other names answering for the whole service on this network: network aliases and,
    /// for stack services, the short service name.
    pub aliases: Vec<String>,
    /// The service's virtual IP on this network, without prefix; `None` in endpoint mode
    /// `dnsrr` (names then answer with the ready tasks' addresses).
    pub vip: Option<String>,
    /// Published ports (the ingress network carries these for the routing mesh).
    pub ports: Vec<NetPort>,
}

/// A published port of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetPort {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The port inside the task.
    pub target: u16,
    /// The port every node accepts (ingress mode) or the task's node binds (host mode).
    pub published: u16,
    /// `true` for ingress mode (routing mesh), `false` for host mode.
    pub ingress: bool,
    /// An ingress TCP port the service's `com.shoal.proxy-protocol` label names: the mesh
    /// serves it with a userspace proxy that sends the task a PROXY protocol v2 header.
    pub proxy_protocol: bool,
}

/// What a node asks of its network attachments (a manager's control API serves it):
/// addresses on attachable networks for containers its engine runs outside any service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachmentOp {
    /// Reserve an address on `network` (id or name) for the container `container_name` (may
    /// be empty); answered with the attachment once it has its address.
    Attach {
        network: String,
        container_name: String,
    },
    /// Record the engine's id of the container attachment `task_id` belongs to.
    Bind {
        task_id: TaskId,
        container_id: String,
    },
    /// Release these attachments (their containers are gone).
    Detach { task_ids: Vec<TaskId> },
    /// The node's attachments.
    List,
}
