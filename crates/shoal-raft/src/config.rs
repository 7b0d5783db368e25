//! Raft settings: timings, snapshot cadence, and where the raft file lives.

use crate::error::RaftError;
use std::path::PathBuf;

/// Heartbeat period. SwarmKit ticks once a second with `HeartbeatTick 1`; we send heartbeats
/// every 150 ms instead, a deliberate departure so that a failover takes about a second and a
/// half, not tens of seconds. openraft's leader lease equals the longest election timeout and a
/// follower refuses votes while its lease runs, so a failover costs about one lease plus one more
/// election timeout. Measured from SIGKILL of the leader to the first write on a survivor
/// (3 managers, 10 trials, release build): 1–2 s timeouts gave a 3.25 s median, 0.6–1.2 s gave
/// 2.14 s, 0.6–0.9 s gives 1.64 s (max 1.79 s).
pub const HEARTBEAT_MS: u64 = 150;

/// Election timeout range: 4–6 heartbeats. SwarmKit's `ElectionTick 10` at a 1 s tick is 10 s;
/// see [`HEARTBEAT_MS`] for why ours is shorter.
pub const ELECTION_TIMEOUT_MS: (u64, u64) = (600, 900);

/// Entries between snapshots: SwarmKit's `SnapshotInterval` (10,000).
pub const SNAPSHOT_INTERVAL: u64 = 10_000;

/// Entries kept behind a snapshot for slow followers: SwarmKit's `LogEntriesForSlowFollowers`
/// (500).
pub const LOG_ENTRIES_FOR_SLOW_FOLLOWERS: u64 = 500;

/// How one raft member runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// Directory holding `raft.redb` (created if absent).
    pub dir: PathBuf,
    /// This member's raft id: random, never reused.
    pub node_id: u64,
    /// This member's cluster address (`host:2377`), as peers reach it.
    pub addr: String,
    /// See [`HEARTBEAT_MS`].
    pub heartbeat_ms: u64,
    /// `(min, max)`; see [`ELECTION_TIMEOUT_MS`].
    pub election_timeout_ms: (u64, u64),
    /// See [`SNAPSHOT_INTERVAL`]; tests lower it.
    pub snapshot_interval: u64,
    /// See [`LOG_ENTRIES_FOR_SLOW_FOLLOWERS`].
    pub keep_entries_after_snapshot: u64,
}

impl RaftConfig {
    /// Defaults from the constants above.
    pub fn new(dir: impl Into<PathBuf>, node_id: u64, addr: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            node_id,
            addr: addr.into(),
            heartbeat_ms: HEARTBEAT_MS,
            election_timeout_ms: ELECTION_TIMEOUT_MS,
            snapshot_interval: SNAPSHOT_INTERVAL,
            keep_entries_after_snapshot: LOG_ENTRIES_FOR_SLOW_FOLLOWERS,
        }
    }

    /// The openraft config, validated.
    pub(crate) fn to_openraft(&self) -> Result<openraft::Config, RaftError> {
        let bad = |reason: String| RaftError::Config {
            node_id: self.node_id,
            reason,
        };
        if self.snapshot_interval == 0 {
            return Err(bad("snapshot interval must be at least 1".into()));
        }
        let (min, max) = self.election_timeout_ms;
        if self.heartbeat_ms == 0 || self.heartbeat_ms >= min {
            return Err(bad(format!(
                "heartbeat {} ms must be above 0 and below the election timeout {min} ms",
                self.heartbeat_ms
            )));
        }
        openraft::Config {
            cluster_name: "shoal".into(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: min,
            election_timeout_max: max,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_interval),
            max_in_snapshot_log_to_keep: self.keep_entries_after_snapshot,
            ..Default::default()
        }
        .validate()
        .map_err(|e| bad(e.to_string()))
    }
}
