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
