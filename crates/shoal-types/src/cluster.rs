//! The cluster object: swarm-wide spec, root CA and join tokens.

use crate::api::SwarmSpec;
use crate::id::ClusterId;
use crate::meta::Meta;
use serde::{Deserialize, Serialize};

/// Default `Orchestration.TaskHistoryRetentionLimit` (SwarmKit `defaultTaskHistoryRetentionLimit`).
pub const DEFAULT_TASK_HISTORY: i64 = 5;
/// Default raft snapshot interval, in entries.
pub const DEFAULT_SNAPSHOT_INTERVAL: u64 = 10_000;
/// Default log entries kept for slow followers.
pub const DEFAULT_LOG_ENTRIES_FOR_SLOW_FOLLOWERS: u64 = 500;
/// Default dispatcher heartbeat period: 5 s, in nanoseconds.
pub const DEFAULT_HEARTBEAT_NS: i64 = 5_000_000_000;
/// Default node certificate validity: 90 days (2160 h), in nanoseconds.
pub const DEFAULT_CERT_EXPIRY_NS: i64 = 2160 * 3600 * 1_000_000_000;
/// Minimum node certificate validity: 1 hour.
pub const MIN_CERT_EXPIRY_NS: i64 = 3600 * 1_000_000_000;
/// Default raft election tick (ticks of 1 s).
pub const DEFAULT_ELECTION_TICK: i64 = 10;
/// Default raft heartbeat tick.
pub const DEFAULT_HEARTBEAT_TICK: i64 = 1;
/// Default address pool for overlay networks.
pub const DEFAULT_ADDR_POOL: &str = "10.0.0.0/8";
/// Default subnet size carved out of the pool.
pub const DEFAULT_SUBNET_SIZE: u32 = 24;
/// Default VXLAN UDP port.
pub const DEFAULT_DATA_PATH_PORT: u32 = 4789;

/// The root CA material. The key lives only in the (encrypted) raft store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RootCa {
    /// PEM of the root certificate.
    #[serde(rename = "CACert")]
    pub ca_cert: String,
    /// PEM of the root key (PKCS#8). Never returned by the API.
    #[serde(rename = "CAKey")]
    pub ca_key: String,
    /// Hex sha256 of the root certificate DER.
    #[serde(rename = "CACertHash")]
    pub ca_cert_hash: String,
}

/// The current join tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JoinTokens {
    #[serde(rename = "Worker")]
    pub worker: String,
    #[serde(rename = "Manager")]
    pub manager: String,
}

/// The one cluster object (named `default`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Cluster {
    #[serde(rename = "ID")]
    pub id: ClusterId,
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(rename = "Spec", default)]
    pub spec: SwarmSpec,
    #[serde(rename = "RootCA", default)]
    pub root_ca: RootCa,
    #[serde(rename = "JoinTokens", default)]
    pub join_tokens: JoinTokens,
    #[serde(rename = "DefaultAddrPool", default)]
    pub default_addr_pool: Vec<String>,
    #[serde(rename = "SubnetSize", default)]
    pub subnet_size: u32,
    #[serde(rename = "DataPathPort", default)]
    pub data_path_port: u32,
    /// The current unlock key (`SWMKEY-1-…`) when autolock is on; empty otherwise.
    #[serde(rename = "UnlockKey", default)]
    pub unlock_key: String,
}

impl Cluster {
    /// Task history retention limit, with the default applied.
    pub fn task_history_limit(&self) -> i64 {
        self.spec
            .orchestration
            .as_ref()
            .and_then(|o| o.task_history_retention_limit)
            .unwrap_or(DEFAULT_TASK_HISTORY)
    }

    /// Dispatcher heartbeat period in nanoseconds, with the default applied.
    pub fn heartbeat_period_ns(&self) -> i64 {
        self.spec
            .dispatcher
            .as_ref()
            .and_then(|d| d.heartbeat_period)
            .filter(|p| *p > 0)
            .unwrap_or(DEFAULT_HEARTBEAT_NS)
    }

    /// Node certificate validity in nanoseconds, with the default applied.
    pub fn cert_expiry_ns(&self) -> i64 {
        self.spec
            .ca_config
            .as_ref()
            .and_then(|c| c.node_cert_expiry)
            .filter(|p| *p > 0)
            .unwrap_or(DEFAULT_CERT_EXPIRY_NS)
    }

    pub fn autolock(&self) -> bool {
        self.spec
            .encryption_config
            .as_ref()
            .and_then(|e| e.auto_lock_managers)
            .unwrap_or(false)
    }
}
