//! Errors of opening and running a raft node. Storage errors name the file.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    /// The raft file exists but cannot be trusted: redb refused it, a record failed to
    /// decrypt (wrong key, altered bytes), or the log has a hole. Never start empty instead.
    #[error("raft log {path} is corrupt or unreadable: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// A read or write of the raft file failed (I/O, disk full, ...).
    #[error("raft log {path}: {op} failed: {reason}")]
    Storage {
        path: PathBuf,
        op: &'static str,
        reason: String,
    },
    /// A write of the raft file failed for lack of space (ENOSPC or EDQUOT). Storage calls wait
    /// this out (see `space.rs`); it is returned only when the node stops meanwhile.
    #[error("raft log {path}: {op} failed: no space left on device (ENOSPC): {reason}")]
    NoSpace {
        path: PathBuf,
        op: &'static str,
        reason: String,
    },
    /// The raft directory could not be created.
    #[error("cannot create raft directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The store handed to [`RaftNode::open`](crate::RaftNode::open) already holds data; raft
    /// rebuilds it from snapshot + log and must start from an empty one.
    #[error("the store given to raft node {node_id} is not empty (applied index {applied})")]
    StoreNotEmpty { node_id: u64, applied: u64 },
    /// The timing or snapshot settings were refused by openraft.
    #[error("invalid raft config for node {node_id}: {reason}")]
    Config { node_id: u64, reason: String },
    /// openraft failed to start or stopped.
    #[error("raft node {node_id}: {op} failed: {reason}")]
    Raft {
        node_id: u64,
        op: &'static str,
        reason: String,
    },
}

impl RaftError {
    /// This error as the `io::Error` openraft's storage traits return.
    pub(crate) fn into_io(self) -> std::io::Error {
        std::io::Error::other(self)
    }
}
