//! The overlay data plane of one node: per shoal network a Linux bridge `shbr<vni>` carrying
//! the node's gateway address, and a VXLAN device `shvx<vni>` enslaved to it, with static
//! forwarding (`bridge fdb`) and neighbour (`ip neigh`) entries for every remote endpoint and
//! every remote node's gateway. No learning, no flooding: ARP for an address that is not
//! programmed goes unanswered.
//!
//! The work is split so that every decision is a pure function:
//!
//! 1. [`plan()`] turns the dispatcher's [`NodeNetwork`](shoal_types::dispatch::NodeNetwork) set,
//!    the node's data-path address and the state of its encrypted tunnel into the desired
//!    state ([`Plan`]); encrypted networks run their VXLAN between tunnel addresses (IPv6);
//! 2. a [`Kernel`] reads what exists ([`Observed`]), limited to shoal's own devices;
//! 3. [`diff`] compares the two and returns the operations ([`Op`]) per network;
//! 4. [`reconcile`] runs them through the [`Kernel`] (netlink in production, a recording
//!    double in tests) and says which networks could not be set up.
//!
//! Reconciling is idempotent: a second run with the same plan does nothing. Devices named
//! `shbr<n>`/`shvx<n>` whose network is no longer in the plan are removed, unless the caller
//! asks to keep them (an engine network still has containers on them).

mod diff;
mod observed;
mod plan;
mod reconcile;

pub use diff::{NetworkOps, Op, diff};
pub use observed::{LinkKind, Observed, ObservedLink, VxlanAttrs};
pub use plan::{
    DesiredNetwork, Encryption, Peer, Plan, PlanRefusal, VXLAN_PORT, bridge_name, local_address,
    plan, vni_of_device, vxlan_name,
};
pub use reconcile::{Kernel, Outcome, reconcile};
