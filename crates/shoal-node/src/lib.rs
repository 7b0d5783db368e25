//! One shoal node: the composition of CA, raft, store, manager, agent and API.
//!
//! [`Daemon::run`] is what `shoal daemon` runs: it takes the data-root lock, restores the
//! node's swarm state from disk (certificates, key file, raft log) if it has any, serves the
//! Engine API on the Unix socket, and answers `swarm init`/`join`/`leave` by creating or
//! tearing down that state. It is a library so tests can start nodes in-process, but the
//! cluster tests start the real binary.
//!
//! Multi-node pieces (see `docs/cluster.md`): managers serve the cluster channel through
//! [`cluster_handler::NodeHandler`] (CA side in [`join_handler`]); followers forward writes
//! with [`forward::ForwardingProposer`]; the leader's [`role_manager`] makes raft membership
//! follow the nodes' desired roles; every node's membership watch (`membership`) promotes,
//! demotes, renews or leaves as the cluster asks. With `--overlay` (the default) the agent
//! builds the node's side of its overlay networks through `netplane` (`docs/networking.md`).

#![recursion_limit = "256"]

mod attachments;
pub mod autolock;
mod backend;
mod ca_sync;
pub mod cluster_handler;
mod cluster_ops;
pub mod config;
pub mod controllers;
pub mod daemon;
pub mod error;
pub mod fd_limit;
pub mod force_new_cluster;
pub mod forward;
pub mod host;
mod info;
pub mod join;
pub mod join_handler;
pub mod local_dispatcher;
pub mod lock;
pub mod manager;
mod membership;
mod netplane;
pub mod paths;
mod reach;
pub mod role_manager;
pub mod state;
mod swarm_init;
pub mod tls;

pub use config::DaemonConfig;
pub use daemon::Daemon;
pub use error::NodeError;
pub mod engine;
