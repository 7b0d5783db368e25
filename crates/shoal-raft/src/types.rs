//! The openraft type configuration: what a log entry carries, what applying it returns, and how
//! a peer is addressed.

use serde::{Deserialize, Serialize};
use shoal_store::{Proposal, StoreError};
use std::fmt;
use std::sync::Arc;

/// A raft member id: random u64 chosen when the manager joins, never reused (openraft requires
/// that ids are not reused; SwarmKit's raft ids are random u64 too).
pub type NodeId = u64;

/// What a raft member is reachable at: its cluster address (`host:2377`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerNode {
    pub addr: String,
}

impl fmt::Display for PeerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

/// The application data of a normal log entry: one store [`Proposal`].
///
/// A newtype because openraft wants `Display` on its app data and the store's type does not
/// implement it; it serialises exactly as the proposal (`serde(transparent)`). Shared (`Arc`)
/// so that handing an entry to the state machine and to each follower's replication stream,
/// from the log cache (`log_store.rs`), copies no proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Request(pub Arc<Proposal>);

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "proposal of {} action(s) at {}",
            self.0.actions.len(),
            self.0.timestamp
        )
    }
}

/// What applying an entry returned. A refused proposal (name conflict, stale version) is still
/// a committed entry: its response carries the store's error and the store is unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response(pub Result<(), StoreError>);

openraft::declare_raft_types!(
    /// shoal's raft types: store proposals as app data, random u64 ids, peers by address.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = PeerNode,
);

/// A log id (leader id + index) of this configuration.
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
/// A log entry of this configuration.
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
/// The persisted vote.
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
/// Snapshot metadata (last included log id and membership).
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
/// The membership as of some log id.
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
/// The data of a snapshot as openraft moves it: the JSON of a [`shoal_store::Snapshot`], in
/// clear (it is sealed only when written to disk; the wire is mutual TLS).
pub type SnapshotData = Vec<u8>;
/// A full snapshot: metadata plus data.
pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;
