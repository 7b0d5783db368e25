//! Request bodies whose Engine API shape the `bollard-stubs` models do not fully cover
//! (`AutoLockManagers` and `Availability` are missing there).

use crate::api::{NodeSpecAvailabilityEnum, SwarmSpec};
use serde::{Deserialize, Serialize};

/// `POST /swarm/init`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InitRequest {
    #[serde(rename = "ListenAddr")]
    pub listen_addr: String,
    #[serde(rename = "AdvertiseAddr")]
    pub advertise_addr: String,
    #[serde(rename = "DataPathAddr")]
    pub data_path_addr: String,
    #[serde(rename = "DataPathPort")]
    pub data_path_port: u32,
    #[serde(rename = "ForceNewCluster")]
    pub force_new_cluster: bool,
    #[serde(rename = "Spec")]
    pub spec: SwarmSpec,
    #[serde(rename = "AutoLockManagers")]
    pub auto_lock_managers: bool,
    #[serde(rename = "Availability")]
    pub availability: Option<NodeSpecAvailabilityEnum>,
    #[serde(rename = "DefaultAddrPool")]
    pub default_addr_pool: Option<Vec<String>>,
    #[serde(rename = "SubnetSize")]
    pub subnet_size: u32,
}

/// `POST /swarm/join`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JoinRequest {
    #[serde(rename = "ListenAddr")]
    pub listen_addr: String,
    #[serde(rename = "AdvertiseAddr")]
    pub advertise_addr: String,
    #[serde(rename = "DataPathAddr")]
    pub data_path_addr: String,
    #[serde(rename = "RemoteAddrs")]
    pub remote_addrs: Vec<String>,
    #[serde(rename = "JoinToken")]
    pub join_token: String,
    #[serde(rename = "Availability")]
    pub availability: Option<NodeSpecAvailabilityEnum>,
}
