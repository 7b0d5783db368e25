//! The replicated store's in-memory half: tables of cluster objects with indexes, write
//! transactions that go through a [`Proposer`] (raft in production, [`LocalProposer`] in tests),
//! watch events, and snapshots.
//!
//! The contract that keeps every manager identical: a write is a [`Proposal`] (a list of
//! [`Action`]s with the versions they were based on, and the proposer's timestamp); it takes
//! effect only when [`MemoryStore::apply`] runs it at a raft index, in log order, on every
//! manager. `apply` is deterministic and atomic: either every action applies, stamped with
//! `Version.Index = index`, or none does and the caller gets a typed [`StoreError`]
//! (`OutOfSequence`, `NameConflict`, `NotFound`, …).
//!
//! Readers take a consistent view with [`MemoryStore::view`]; the lock is never held across an
//! `.await`. Subscribers get bounded [`watch`] channels: one that falls behind is told it lagged
//! and must resync from a fresh view; writers never wait for readers.

pub mod error;
pub mod proposal;
pub mod proposer;
pub mod store;
pub mod table;
pub mod tx;
pub mod watch;

pub use error::StoreError;
pub use proposal::{Action, MAX_PROPOSAL_BYTES, Proposal};
pub use proposer::{LocalProposer, Proposer};
pub use store::{MemoryStore, Snapshot, Tables};
pub use table::Table;
pub use tx::{StoreHandle, Tx};
pub use watch::{Event, EventKind, WatchError, Watcher};
