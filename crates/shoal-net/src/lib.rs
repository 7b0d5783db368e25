//! The node's data plane. Everything the kernel does for shoal's networks is decided here, from
//! the [`NodeNetwork`](shoal_types::dispatch::NodeNetwork) set the dispatcher sends a node:
//!
//! - overlay networks ([`overlay`]): a Linux bridge and a VXLAN device per network, static
//!   forwarding and neighbour entries for every remote endpoint (no learning, no flooding),
//!   applied through [`Netlink`];
//! - the resolver ([`dns`]): a DNS server on the node's gateway address of each network;
//! - service VIPs and the routing mesh ([`lb`]): nftables DNAT rules, replaced atomically;
//! - encrypted overlays ([`tunnel`]): a userspace WireGuard tunnel between nodes that
//!   carries their VXLAN traffic.
//!
//! Decisions are pure functions of the desired set and the observed state; syscalls sit
//! behind traits so the decisions are unit-tested without root.

pub mod dns;
mod error;
pub mod lb;
pub mod mac;
mod netlink;
pub mod overlay;
pub mod tunnel;

pub use error::NetError;
pub use mac::Mac;
pub use netlink::Netlink;
