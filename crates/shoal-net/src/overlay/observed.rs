//! What the kernel has of shoal's overlay devices, as a [`Kernel`](super::Kernel) reads it:
//! only links named `shbr<n>`/`shvx<n>`, their IPv4 addresses, and the permanent forwarding
//! and neighbour entries on the VXLAN devices.

use crate::mac::Mac;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

/// The VXLAN attributes that decide whether an existing device can be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanAttrs {
    pub vni: u32,
    /// The local end: IPv4 (`local`) or IPv6 (`local6`, encrypted networks).
    pub local: Option<IpAddr>,
    pub port: u16,
    pub learning: bool,
    pub proxy: bool,
}

/// The kind of a link, as far as the overlay cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Bridge,
    Vxlan(VxlanAttrs),
    /// Anything else that happens to carry a shoal name.
    Other,
}

/// One observed link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedLink {
    pub index: u32,
    pub name: String,
    pub kind: LinkKind,
    pub mac: Option<Mac>,
    pub mtu: u32,
    pub up: bool,
    /// Index of the bridge this link is enslaved to.
    pub master: Option<u32>,
}

/// The observed state, keyed by link name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub links: BTreeMap<String, ObservedLink>,
    /// IPv4 addresses (with prefix length) per link name.
    pub addresses: BTreeMap<String, BTreeSet<(Ipv4Addr, u8)>>,
    /// Permanent forwarding entries of a VXLAN device: MAC → remote VTEP (IPv4, or a tunnel
    /// address on an encrypted network).
    pub fdb: BTreeMap<String, BTreeSet<(Mac, IpAddr)>>,
    /// Permanent neighbour entries of a VXLAN device: IP → MAC.
    pub neighbours: BTreeMap<String, BTreeSet<(Ipv4Addr, Mac)>>,
}
