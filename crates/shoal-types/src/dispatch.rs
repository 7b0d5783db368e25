//! The session protocol between a node's agent and the leader's dispatcher.
//!
//! Down: the dispatcher sends the complete set of tasks assigned to the node (SwarmKit's
//! `AssignmentsMessage` of type COMPLETE) whenever it changes; the agent reconciles towards it.
//! Up: the agent sends batched task status updates and periodic heartbeats. The same messages
//! travel in-process (single daemon) and, later, over the mTLS cluster channel.

use crate::api::NodeDescription;
use crate::id::{NodeId, TaskId};
use crate::secret::{Config, Secret};
use crate::task::{Task, TaskStatus};
use serde::{Deserialize, Serialize};

/// Opens a session: who the node is and what it has.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SessionRequest {
    pub node_id: NodeId,
    pub description: NodeDescription,
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
