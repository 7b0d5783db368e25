//! The unit of replication: a batch of actions applied atomically at one raft index.

use serde::{Deserialize, Serialize};
use shoal_types::{Kind, Object};

/// One change to one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Insert a new object; its id and (for named kinds) name must be free.
    Create(Object),
    /// Replace an object. `Meta.Version` of the given object must equal the stored one.
    Update(Object),
    /// Remove an object. `version`, when set, must equal the stored one.
    Delete {
        kind: Kind,
        id: String,
        version: Option<u64>,
    },
}

/// A batch of actions, with the timestamp the proposer chose (so every replica stamps the
/// same `UpdatedAt`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Proposal {
    pub actions: Vec<Action>,
    /// RFC 3339 time of the proposal, used for `CreatedAt`/`UpdatedAt`.
    pub timestamp: String,
}

/// SwarmKit's limit on one store transaction (`MaxTransactionBytes`, 1.5 MiB).
pub const MAX_PROPOSAL_BYTES: usize = 1536 * 1024;
