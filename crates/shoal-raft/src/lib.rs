//! Raft for shoal's managers: openraft 0.10 over an encrypted redb file, with the in-memory
//! store ([`shoal_store::MemoryStore`]) as its state machine.
//!
//! - [`RaftNode::open`] opens `<dir>/raft.redb`, restores the latest snapshot into the store
//!   and lets openraft re-apply the committed entries after it, so a restarted manager
//!   rebuilds exactly the store it had. A corrupt or undecryptable file is an error naming it.
//! - Every record on disk (log entry, vote, pointers, snapshot) is sealed by a [`Sealer`]
//!   (XChaCha20-Poly1305 in production) with an AAD binding it to its kind and index.
//! - [`RaftNode::proposer`] is the [`shoal_store::Proposer`] for the store's write
//!   transactions: a write returns once committed (fsynced) and applied locally.
//! - Peers are reached through a [`RaftTransport`]; the server side of the RPCs is
//!   [`RaftNode::handle_append`] and friends.
//! - [`force_new_cluster`] rewrites a stopped member's log so it is the sole voter
//!   (`swarm init --force-new-cluster`), keeping its store.
//! - A full disk stops nothing for good: storage calls wait until space is freed and then go
//!   on; [`RaftNode::no_space`] reports the condition meanwhile so writes can be refused.
//! - Snapshots every [`SNAPSHOT_INTERVAL`] entries, keeping
//!   [`LOG_ENTRIES_FOR_SLOW_FOLLOWERS`] behind, as SwarmKit does.
//!
//! Module map: `types` (openraft type config), `sealer` + `record` (encryption at rest), `db`
//! (the redb file), `space` (the out-of-space condition), `log_store` and `state_machine` (openraft storage traits), `network`
//! (transport seam), `proposer`, `node`, `config`, `bench` (write benchmark).

pub mod bench;
pub mod config;
mod db;
pub mod error;
mod force;
mod log_store;
pub mod network;
pub mod node;
pub mod proposer;
mod record;
pub mod sealer;
pub mod space;
pub mod state_machine;
pub mod types;

pub use bench::{BenchReport, bench_writes};
pub use config::{
    ELECTION_TIMEOUT_MS, HEARTBEAT_MS, LOG_ENTRIES_FOR_SLOW_FOLLOWERS, RaftConfig,
    SNAPSHOT_INTERVAL,
};
pub use db::FILE_NAME;
pub use error::RaftError;
pub use force::{ForcedMembership, force_new_cluster};
pub use log_store::LogStore;
pub use network::{Peer, RaftTransport, TransportError, UnreachableTransport};
pub use node::{RaftHandle, RaftNode};
pub use proposer::RaftProposer;
pub use sealer::{SealError, Sealer, XChaChaSealer};
pub use space::{NO_SPACE_RETRY, NoSpace};
pub use state_machine::StateMachine;
pub use types::{NodeId, PeerNode, Request, Response, TypeConfig};
#[cfg(test)]
mod suite_test;
