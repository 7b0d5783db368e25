//! Benchmark tools behind `shoal bench agents` (issue 4's control-plane scale benchmark).
//! Only the `shoal bench` command uses this crate; no product code path reaches it.
//!
//! - [`managers`]: real `shoal daemon` manager processes (own data root, socket and
//!   127.x address each), cluster formation, memory sampling.
//! - [`sim_agent`]: a light simulated agent that joins through the real protocol (CSR,
//!   certificate), holds a real dispatcher session over mutual TLS and reports its tasks
//!   running without starting containers.
//! - [`agents`]: the benchmark itself: form the cluster, join the agents, create the
//!   services, time until every task runs, print the table.

pub mod agents;
pub mod managers;
pub mod sim_agent;
