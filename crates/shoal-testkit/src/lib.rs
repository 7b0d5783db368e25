//! Test harness: real `shoal daemon` processes with their own data root, socket and cluster
//! address; the `shoal` and `docker` CLIs pointed at them; raw Engine API calls; and waits that
//! poll with a deadline and say which condition was not met.
//!
//! [`TestCluster::partition`] cuts the network between groups of nodes with nftables.
//! [`TestHosts`] makes separate hosts (network namespaces on a LAN, each with its own engine
//! and daemon) for tests of networking between hosts.
//!
//! Everything is synchronous (std processes and sockets) so tests stay plain `#[test]`s.

mod api;
mod cluster;
mod daemon;
pub mod hosts;
mod partition;
mod wait;

pub use api::{ApiResponse, api_call};
pub use cluster::{FORM_TIMEOUT, TestCluster, get_json, next_addr};
pub use daemon::{Cli, DaemonProc, Launch, TestDaemon};
pub use hosts::{Capture, HostOptions, TestHost, TestHosts, contains_bytes};
pub use partition::partition_script;
pub use wait::{wait_for, wait_until};

/// A small test image built from Debian's static busybox, if the engine lacks it.
pub mod image;
