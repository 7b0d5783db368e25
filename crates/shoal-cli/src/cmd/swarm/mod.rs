//! `shoal swarm …`: init, join, leave, join-token, update, unlock, unlock-key, ca.
//!
//! Call sequences and output follow docker/cli `cli/command/swarm` (reference §3.7, §3.9).
//! The one deliberate difference: printed join commands say `shoal swarm join`.

mod ca;
mod init;
mod tokens;

use crate::client::{Client, Query};
use crate::cmd::emit;
use crate::parse::duration_ns;
use crate::values;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

pub use init::{cidr_network, init_request, init_spec, node_addr};
pub use tokens::{join_command_text, unlock_text};

const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:2377";

#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// Initialize a swarm
    Init(InitArgs),
    /// Join a swarm as a node and/or manager
    Join(JoinArgs),
    /// Leave the swarm
    Leave(LeaveArgs),
    /// Manage join tokens
    #[command(name = "join-token")]
    JoinToken(JoinTokenArgs),
    /// Update the swarm
    Update(UpdateArgs),
    /// Unlock swarm
    Unlock,
    /// Manage the unlock key
    #[command(name = "unlock-key")]
    UnlockKey(UnlockKeyArgs),
    /// Display and rotate the root CA
    Ca(CaArgs),
}

#[derive(Debug, Args)]
pub struct CaArgs {
    /// Rotate the swarm CA - if no certificate or key are provided, new ones will be generated
    #[arg(long)]
    pub rotate: bool,
    /// Exit immediately instead of waiting for the root rotation to converge
    #[arg(short, long)]
    pub detach: bool,
    /// Suppress progress output
    #[arg(short, long)]
    pub quiet: bool,
    /// Path to the PEM-formatted root CA certificate to use for the new cluster
    #[arg(long = "ca-cert", value_name = "pem-file")]
    pub ca_cert: Option<String>,
    /// Path to the PEM-formatted root CA key to use for the new cluster
    #[arg(long = "ca-key", value_name = "pem-file")]
    pub ca_key: Option<String>,
    /// Validity period for node certificates (ns|us|ms|s|m|h)
    #[arg(long = "cert-expiry", value_parser = duration_ns)]
    pub cert_expiry: Option<i64>,
    /// Specifications of one or more certificate signing endpoints (not supported by shoal)
    #[arg(long = "external-ca", value_name = "external-ca")]
    pub external_ca: Vec<String>,
}

/// Cluster-wide settings shared by `init` and `update`; each is sent only when given.
#[derive(Debug, Clone, Default, Args)]
pub struct SpecFlags {
    /// Task history retention limit [default: 5]
    #[arg(long = "task-history-limit")]
    pub task_history_limit: Option<i64>,
    /// Dispatcher heartbeat period (ns|us|ms|s|m|h) [default: 5s]
    #[arg(long = "dispatcher-heartbeat", value_parser = duration_ns)]
    pub dispatcher_heartbeat: Option<i64>,
    /// Validity period for node certificates (ns|us|ms|s|m|h) [default: 2160h0m0s]
    #[arg(long = "cert-expiry", value_parser = duration_ns)]
    pub cert_expiry: Option<i64>,
    /// Number of log entries between Raft snapshots [default: 10000]
    #[arg(long = "snapshot-interval")]
    pub snapshot_interval: Option<u64>,
    /// Number of additional Raft snapshots to retain
    #[arg(long = "max-snapshots")]
    pub max_snapshots: Option<u64>,
    /// Enable manager autolocking (requiring an unlock key to start a stopped manager)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub autolock: Option<bool>,
}

impl SpecFlags {
    fn is_empty(&self) -> bool {
        self.task_history_limit.is_none()
            && self.dispatcher_heartbeat.is_none()
            && self.cert_expiry.is_none()
            && self.snapshot_interval.is_none()
            && self.max_snapshots.is_none()
            && self.autolock.is_none()
    }

    /// docker's `mergeSwarmSpec`: only the flags that were given change the spec.
    pub fn merge_into(&self, spec: &mut Value) {
        if let Some(v) = self.task_history_limit {
            values::set(
                spec,
                &["Orchestration", "TaskHistoryRetentionLimit"],
                json!(v),
            );
        }
        if let Some(v) = self.dispatcher_heartbeat {
            values::set(spec, &["Dispatcher", "HeartbeatPeriod"], json!(v));
        }
        if let Some(v) = self.max_snapshots {
            values::set(spec, &["Raft", "KeepOldSnapshots"], json!(v));
        }
        if let Some(v) = self.snapshot_interval {
            values::set(spec, &["Raft", "SnapshotInterval"], json!(v));
        }
        if let Some(v) = self.autolock {
            values::set(spec, &["EncryptionConfig", "AutoLockManagers"], json!(v));
        }
        if let Some(v) = self.cert_expiry {
            values::set(spec, &["CAConfig", "NodeCertExpiry"], json!(v));
        }
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Advertised address (format: "<ip|interface>[:port]")
    #[arg(long = "advertise-addr")]
    pub advertise_addr: Option<String>,
    /// Listen address (format: "<ip|interface>[:port]")
    #[arg(long = "listen-addr", default_value = DEFAULT_LISTEN_ADDR)]
    pub listen_addr: String,
    /// Address or interface to use for data path traffic (format: "<ip|interface>")
    #[arg(long = "data-path-addr")]
    pub data_path_addr: Option<String>,
    /// Port number to use for data path traffic (1024 - 49151). If no value is set or is set to 0, the default port (4789) is used.
    #[arg(long = "data-path-port", default_value_t = 0)]
    pub data_path_port: u32,
    /// Force create a new cluster from current state
    #[arg(long = "force-new-cluster")]
    pub force_new_cluster: bool,
    /// Availability of the node ("active", "pause", "drain")
    #[arg(long)]
    pub availability: Option<String>,
    /// default address pool in CIDR format
    #[arg(long = "default-addr-pool", value_delimiter = ',')]
    pub default_addr_pool: Vec<String>,
    /// default address pool subnet mask length
    #[arg(long = "default-addr-pool-mask-length", default_value_t = 24)]
    pub default_addr_pool_mask_length: u32,
    #[command(flatten)]
    pub spec: SpecFlags,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Token for entry into the swarm
    #[arg(long, default_value = "")]
    pub token: String,
    /// Listen address (format: "<ip|interface>[:port]")
    #[arg(long = "listen-addr", default_value = DEFAULT_LISTEN_ADDR)]
    pub listen_addr: String,
    /// Advertised address (format: "<ip|interface>[:port]")
    #[arg(long = "advertise-addr")]
    pub advertise_addr: Option<String>,
    /// Address or interface to use for data path traffic (format: "<ip|interface>")
    #[arg(long = "data-path-addr")]
    pub data_path_addr: Option<String>,
    /// Availability of the node ("active", "pause", "drain")
    #[arg(long)]
    pub availability: Option<String>,
    /// A manager's address
    #[arg(value_name = "HOST:PORT")]
    pub remote: String,
}

#[derive(Debug, Args)]
pub struct LeaveArgs {
    /// Force this node to leave the swarm, ignoring warnings
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct JoinTokenArgs {
    /// Rotate join token
    #[arg(long)]
    pub rotate: bool,
    /// Only display token
    #[arg(short, long)]
    pub quiet: bool,
    /// worker or manager
    #[arg(value_name = "worker|manager")]
    pub role: String,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub spec: SpecFlags,
}

#[derive(Debug, Args)]
pub struct UnlockKeyArgs {
    /// Rotate unlock key
    #[arg(long)]
    pub rotate: bool,
    /// Only display token
    #[arg(short, long)]
    pub quiet: bool,
}

pub async fn run(client: &Client, cmd: SwarmCommand) -> anyhow::Result<()> {
    match cmd {
        SwarmCommand::Init(a) => init::init(client, a).await,
        SwarmCommand::Join(a) => init::join(client, a).await,
        SwarmCommand::Leave(a) => {
            let path = Query::new()
                .push_if(a.force, "force", "1")
                .to_path("/swarm/leave");
            client.post::<Value>(&path, None).await?;
            emit("Node left the swarm.\n");
            Ok(())
        }
        SwarmCommand::JoinToken(a) => tokens::join_token(client, a).await,
        SwarmCommand::Update(a) => tokens::update(client, a).await,
        SwarmCommand::Unlock => tokens::unlock(client).await,
        SwarmCommand::UnlockKey(a) => tokens::unlock_key(client, a).await,
        SwarmCommand::Ca(a) => ca::ca(client, a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_merges_only_given_flags() {
        let mut spec = json!({"Name": "default", "Orchestration": {"TaskHistoryRetentionLimit": 5}, "Raft": {"ElectionTick": 10}});
        let flags = SpecFlags {
            task_history_limit: Some(2),
            autolock: Some(false),
            ..Default::default()
        };
        flags.merge_into(&mut spec);
        assert_eq!(
            spec,
            json!({"Name": "default", "Orchestration": {"TaskHistoryRetentionLimit": 2}, "Raft": {"ElectionTick": 10}, "EncryptionConfig": {"AutoLockManagers": false}})
        );
    }
}
