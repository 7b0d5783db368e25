//! Tunables of the agent, with SwarmKit-like defaults.

use std::time::Duration;

/// Timings and sizes of the agent. Tests shorten them.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// How long status updates are collected before they are sent as one batch.
    pub status_batch_window: Duration,
    /// A batch is sent early once it holds this many updates.
    pub status_batch_max: usize,
    /// Capacity of the channel from task runners to the status reporter; runners wait when
    /// it is full, which slows them rather than dropping states.
    pub status_channel_capacity: usize,
    /// First and largest delay between retries (sessions, status sends, engine calls).
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Heartbeat period until the dispatcher names one (its default, 5 s).
    pub default_heartbeat_period: Duration,
    /// How often the last network set is applied again between assignment sets: removes the
    /// networks whose last container has gone since, repairs what was changed behind the
    /// agent's back.
    pub network_resync: Duration,
    /// How long a running task with network addresses keeps running after it was told to
    /// stop, before its container is stopped. The same assignment round took it out of every
    /// node's names and load balancers; this covers the other nodes applying that round, so
    /// no new connection reaches a container that is going away (Docker waits 2 s for its
    /// gossip to converge).
    pub stop_drain: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            status_batch_window: Duration::from_millis(10),
            status_batch_max: 512,
            status_channel_capacity: 256,
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(8),
            default_heartbeat_period: Duration::from_secs(5),
            network_resync: Duration::from_secs(10),
            stop_drain: Duration::from_millis(500),
        }
    }
}
