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
    /// The rotation to a new root in progress, if any (SwarmKit `RootCA.RootRotation`).
    #[serde(
        rename = "RootRotation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub root_rotation: Option<RootRotation>,
    /// The `Spec.CAConfig.ForceRotate` value the last rotation was started for; a spec whose
    /// value differs asks for a new rotation (SwarmKit `LastForcedRotation`).
    #[serde(rename = "LastForcedRotation", default)]
    pub last_forced_rotation: u64,
}

impl RootCa {
    /// What nodes must trust now: the root, and during a rotation also the new root (PEM).
    pub fn trust_bundle(&self) -> String {
        let mut out = self.ca_cert.clone();
        if let Some(r) = &self.root_rotation {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&r.ca_cert);
        }
        out
    }

    /// The CA certificate new node certificates are issued by: the new root during a
    /// rotation, else the root.
    pub fn issuer_cert(&self) -> &str {
        self.root_rotation
            .as_ref()
            .map_or(self.ca_cert.as_str(), |r| r.ca_cert.as_str())
    }
}

/// A root CA rotation in progress (SwarmKit `api.RootRotation`). Lives only in the encrypted
/// raft store; the API shows only `RootRotationInProgress`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RootRotation {
    /// PEM of the new root certificate.
    #[serde(rename = "CACert")]
    pub ca_cert: String,
    /// PEM of the new root key (PKCS#8).
    #[serde(rename = "CAKey")]
    pub ca_key: String,
    /// The new root's subject and key signed by the old root key (PEM): sent after every
    /// certificate the new key issues, so peers that trust only the old root verify it.
    #[serde(rename = "CrossSignedCACert")]
    pub cross_signed_ca_cert: String,
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
