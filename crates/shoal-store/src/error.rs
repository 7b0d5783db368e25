//! Typed store errors; the API maps them to HTTP statuses in one place.

use shoal_types::Kind;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum StoreError {
    /// No object of this kind and id.
    #[error("{} {id} not found", kind.noun())]
    NotFound { kind: Kind, id: String },
    /// Another object of the kind already has this name.
    #[error("name conflicts with an existing object: {} {name} already exists", kind.noun())]
    NameConflict { kind: Kind, name: String },
    /// An object with this id already exists.
    #[error("{} {id} already exists", kind.noun())]
    IdConflict { kind: Kind, id: String },
    /// The write was based on an older version of the object (optimistic concurrency).
    #[error("update out of sequence")]
    OutOfSequence { kind: Kind, id: String },
    /// There is no leader to commit the write (lost quorum, or still electing).
    #[error(
        "The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online."
    )]
    NoLeader,
    /// The proposal is bigger than a raft entry may be.
    #[error("transaction is too large: {size} bytes, the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    /// The manager's disk is full: its raft log cannot be written, so nothing can be committed
    /// through it until space is freed (writes then resume by themselves).
    #[error(
        "no space left on device (ENOSPC) in the data root {data_root}: this manager cannot write its raft log {file}; writes resume once space is freed"
    )]
    NoSpace { data_root: String, file: String },
    /// The proposer is shutting down.
    #[error("the store is shutting down")]
    Shutdown,
    /// Raft or storage failed; the text says how.
    #[error("{0}")]
    Internal(String),
}
