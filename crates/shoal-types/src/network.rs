//! Swarm-scoped networks (overlay).

use crate::api::Ipam;
use crate::meta::Meta;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What the user asked for (`POST /networks/create`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkSpec {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Labels")]
    pub labels: HashMap<String, String>,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Options")]
    pub options: HashMap<String, String>,
    #[serde(rename = "IPAM")]
    pub ipam: Option<Ipam>,
    #[serde(rename = "Internal")]
    pub internal: bool,
    #[serde(rename = "Attachable")]
    pub attachable: bool,
    #[serde(rename = "Ingress")]
    pub ingress: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
}

/// A network object with what the manager allocated for it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Network {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(rename = "Spec", default)]
    pub spec: NetworkSpec,
    /// Allocated subnets and gateways (from the spec, or from the default address pool).
    #[serde(rename = "IPAM", default)]
    pub ipam: Ipam,
    /// VXLAN network identifier.
    #[serde(rename = "VNI", default)]
    pub vni: u32,
}

/// One object's place on one network: a task's (or a node's) address there.
///
/// Tasks carry one per network of their spec, in spec order, with the ingress network last
/// when the service publishes ports in ingress mode; nodes carry one per network (their own
/// gateway address on it, where their resolver listens). Written by the leader's allocator.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkAttachment {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Addresses with their prefix length, e.g. `10.0.1.5/24`.
    #[serde(rename = "Addresses")]
    pub addresses: Vec<String>,
    /// Extra DNS names on this network (the spec's network aliases).
    #[serde(rename = "Aliases", skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl NetworkAttachment {
    /// The first address without its prefix length (`10.0.1.5`), if any parses.
    pub fn ip(&self) -> Option<std::net::Ipv4Addr> {
        self.addresses
            .first()
            .and_then(|a| a.split('/').next())
            .and_then(|ip| ip.parse().ok())
    }
}

/// The label on the engine bridge network that carries a swarm network on a node (shoal makes
/// one per overlay network the node has): its value is the swarm network's id.
pub const ENGINE_NETWORK_LABEL: &str = "com.shoal.network.id";

/// The option that marks a network as encrypted (`--opt encrypted`).
pub const ENCRYPTED_OPTION: &str = "encrypted";
/// The option that sets a network's MTU (default [`DEFAULT_OVERLAY_MTU`]).
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";
/// VXLAN adds 50 bytes to a 1500-byte LAN frame.
pub const DEFAULT_OVERLAY_MTU: u32 = 1450;
/// The MTU of an encrypted network unless its options set one. Its traffic crosses a
/// userspace WireGuard tunnel that pays per packet, not per byte (0.28 Gbit/s at 1450, 1.93
/// Gbit/s at 64000 in `shoal-net`'s tunnel bench), and the tunnel's datagrams are fragmented
/// on the LAN by the kernel, so a large MTU costs nothing on the wire. Traffic leaving such a
/// network for the outside relies on path MTU discovery (as from any jumbo-frame host).
pub const DEFAULT_ENCRYPTED_MTU: u32 = 64_000;
/// Name of the routing mesh's network, made at `swarm init`.
pub const INGRESS_NETWORK_NAME: &str = "ingress";

impl Network {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn is_ingress(&self) -> bool {
        self.spec.ingress
    }

    pub fn is_encrypted(&self) -> bool {
        self.spec.options.contains_key(ENCRYPTED_OPTION)
    }

    /// The MTU from `com.docker.network.driver.mtu`, else 1450, or
    /// [`DEFAULT_ENCRYPTED_MTU`] for an encrypted network.
    pub fn mtu(&self) -> u32 {
        self.spec
            .options
            .get(MTU_OPTION)
            .and_then(|m| m.parse().ok())
            .unwrap_or(if self.is_encrypted() {
                DEFAULT_ENCRYPTED_MTU
            } else {
                DEFAULT_OVERLAY_MTU
            })
    }
}
