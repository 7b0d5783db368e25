//! The node's own swarm membership record (`swarm/state.json`).

use crate::error::NodeError;
use crate::paths::{Paths, write_atomic};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub node_id: String,
    pub cluster_id: String,
    /// `manager` or `worker`.
    pub role: String,
    /// Raft member id (managers only; random, never reused).
    pub raft_id: u64,
    pub listen_addr: String,
    pub advertise_addr: String,
    /// Cluster addresses of the managers, as last learned (workers reconnect with these).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managers: Vec<String>,
}

impl NodeState {
    /// The saved state, `None` if this node is in no swarm.
    pub fn load(paths: &Paths) -> Result<Option<NodeState>, NodeError> {
        let path = paths.state();
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| NodeError::CorruptState {
                        path,
                        reason: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(NodeError::Io {
                op: "read",
                path,
                source: e,
            }),
        }
    }

    pub fn save(&self, paths: &Paths) -> Result<(), NodeError> {
        let path = paths.state();
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| NodeError::Other(e.to_string()))?;
        write_atomic(&path, &bytes, 0o600).map_err(NodeError::io("write", &path))
    }
}
