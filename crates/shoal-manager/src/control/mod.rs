//! The control API: what the Engine API routes do to cluster state, as SwarmKit's
//! `controlapi` does it. Validation happens here, before anything is proposed, so a rejected
//! request changes nothing; every write goes through the store (and so through raft).

pub mod attachments;
mod cluster;
mod configs;
pub mod defaults;
mod error;
mod lookup;
mod networks;
mod nodes;
pub mod root_ca;
mod secrets;
mod services;
mod tasks;
pub mod validate;

pub use cluster::Rotation;
pub use cluster::{swarm_tls_info, validate_swarm_spec};
pub use configs::config_ids;
pub use error::ControlError;
pub use networks::{OVERLAY, VXLANID_OPTION, wait_allocated};
pub use secrets::{redacted as redacted_secret, secret_ids};
pub use services::{Rollback, ServiceStatusCounts};

use shoal_store::StoreHandle;
use shoal_types::NodeId;

/// What the control API needs to know of raft to fill `ManagerStatus` at read time (as
/// swarmkit's controlapi does): who leads, and which members are reachable.
pub trait RaftView: Send + Sync + 'static {
    fn leader(&self) -> Option<u64>;
    fn reachable(&self, raft_id: u64) -> bool;
}

/// A view for tests and single managers: `leader` leads, everyone is reachable.
pub struct StaticRaftView(pub Option<u64>);

impl RaftView for StaticRaftView {
    fn leader(&self) -> Option<u64> {
        self.0
    }
    fn reachable(&self, _raft_id: u64) -> bool {
        true
    }
}

/// The control API of one manager. Reads come from the local store; writes are proposed.
pub struct Control {
    pub(crate) store: StoreHandle,
    node_id: NodeId,
    raft: std::sync::Arc<dyn RaftView>,
}

impl Control {
    pub fn new(store: StoreHandle, node_id: NodeId, raft: std::sync::Arc<dyn RaftView>) -> Self {
        Self {
            store,
            node_id,
            raft,
        }
    }

    /// Fills `ManagerStatus.Leader`/`Reachability` of a manager node from raft.
    pub fn decorate_node(&self, mut node: shoal_types::Node) -> shoal_types::Node {
        use shoal_types::api::Reachability;
        if node.raft_id != 0 {
            let ms = node.manager_status.get_or_insert_with(Default::default);
            let leader = self.raft.leader() == Some(node.raft_id);
            ms.leader = Some(leader);
            ms.reachability = Some(if leader || self.raft.reachable(node.raft_id) {
                Reachability::REACHABLE
            } else {
                Reachability::UNREACHABLE
            });
        }
        node
    }

    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    /// This manager's node id.
    pub fn node_id(&self) -> &NodeId {
        &self.node_id
    }
}
