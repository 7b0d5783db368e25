//! The node's data plane. Everything the kernel does for shoal's networks is decided here, from
//! the [`NodeNetwork`](shoal_types::dispatch::NodeNetwork) set the dispatcher sends a node:
//!
//! - overlay networks: a Linux bridge and a VXLAN device per network, static forwarding and
//!   neighbour entries for every remote endpoint (no learning, no flooding);
//! - the resolver: a DNS server on the node's gateway address of each network;
//! - service VIPs and the routing mesh: nftables DNAT rules, replaced atomically;
//! - encrypted overlays: a userspace WireGuard tunnel between nodes that carries their VXLAN
//!   traffic.
//!
//! Decisions are pure functions of the desired set and the observed state; syscalls sit
//! behind traits so the decisions are unit-tested without root.

pub mod dns;
pub mod lb;
pub mod tunnel;
