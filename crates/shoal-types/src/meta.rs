//! Object metadata shared by every stored object.

use serde::{Deserialize, Serialize};

/// The optimistic-concurrency version of an object: the raft index of its last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Version {
    #[serde(rename = "Index", default)]
    pub index: u64,
}

/// Version and timestamps, flattened into each object as the Engine API does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Meta {
    #[serde(rename = "Version", default)]
    pub version: Version,
    #[serde(rename = "CreatedAt", default)]
    pub created_at: String,
    #[serde(rename = "UpdatedAt", default)]
    pub updated_at: String,
}
