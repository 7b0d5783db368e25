//! `service create` flags (docker/cli `cli/command/service/opts.go`).
//!
//! Flags whose absence means "leave the default to the daemon" are `Option`s, so the spec
//! carries only what was given, as docker's `flags.Changed` checks do.

use crate::parse::{duration_ns, nano_cpus, ram_in_bytes};
use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct CreateArgs {
    /// Service name
    #[arg(long)]
    pub name: Option<String>,
    /// Number of tasks
    #[arg(long)]
    pub replicas: Option<u64>,
    /// Service mode ("replicated", "global", "replicated-job", "global-job")
    #[arg(long, default_value = "replicated")]
    pub mode: String,
    /// Number of job tasks to run concurrently (default equal to --replicas)
    #[arg(long = "max-concurrent")]
    pub max_concurrent: Option<u64>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Service labels
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Container labels
    #[arg(long = "container-label")]
    pub container_label: Vec<String>,
    /// Placement constraints
    #[arg(long)]
    pub constraint: Vec<String>,
    /// Add a placement preference
    #[arg(long = "placement-pref")]
    pub placement_pref: Vec<String>,
    /// Maximum number of tasks per node (default 0 = unlimited)
    #[arg(long = "replicas-max-per-node")]
    pub replicas_max_per_node: Option<u64>,
    /// Reserve CPUs
    #[arg(long = "reserve-cpu", value_parser = nano_cpus)]
    pub reserve_cpu: Option<i64>,
    /// Reserve Memory
    #[arg(long = "reserve-memory", value_parser = ram_in_bytes)]
    pub reserve_memory: Option<i64>,
    /// Limit CPUs
    #[arg(long = "limit-cpu", value_parser = nano_cpus)]
    pub limit_cpu: Option<i64>,
    /// Limit Memory
    #[arg(long = "limit-memory", value_parser = ram_in_bytes)]
    pub limit_memory: Option<i64>,
    /// Limit maximum number of processes (default 0 = unlimited)
    #[arg(long = "limit-pids")]
    pub limit_pids: Option<i64>,
    /// Restart when condition is met ("none", "on-failure", "any") (default "any")
    #[arg(long = "restart-condition")]
    pub restart_condition: Option<String>,
    /// Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)
    #[arg(long = "restart-delay", value_parser = duration_ns)]
    pub restart_delay: Option<i64>,
    /// Maximum number of restarts before giving up
    #[arg(long = "restart-max-attempts")]
    pub restart_max_attempts: Option<u64>,
    /// Window used to evaluate the restart policy (ns|us|ms|s|m|h)
    #[arg(long = "restart-window", value_parser = duration_ns)]
    pub restart_window: Option<i64>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)
    #[arg(long = "stop-grace-period", value_parser = duration_ns)]
    pub stop_grace_period: Option<i64>,
    /// Attach a filesystem mount to the service
    #[arg(long)]
    pub mount: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Set one or more supplementary user groups for the container
    #[arg(long)]
    pub group: Vec<String>,
    /// Container hostname
    #[arg(long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Use an init inside each service container to forward signals and reap processes
    #[arg(long)]
    pub init: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval", value_parser = duration_ns)]
    pub health_interval: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout", value_parser = duration_ns)]
    pub health_timeout: Option<i64>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", default_value_t = 0)]
    pub health_retries: i64,
    /// Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)
    #[arg(long = "health-start-period", value_parser = duration_ns)]
    pub health_start_period: Option<i64>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long = "health-start-interval", value_parser = duration_ns)]
    pub health_start_interval: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Publish a port as a node port
    #[arg(short = 'p', long)]
    pub publish: Vec<String>,
    /// Endpoint mode (vip or dnsrr)
    #[arg(long = "endpoint-mode", default_value = "vip")]
    pub endpoint_mode: String,
    /// Specify secrets to expose to the service
    #[arg(long)]
    pub secret: Vec<String>,
    /// Specify configurations to expose to the service
    #[arg(long)]
    pub config: Vec<String>,
    /// Network attachments
    #[arg(long)]
    pub network: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set one or more custom host-to-IP mappings (host:ip)
    #[arg(long = "host")]
    pub host: Vec<String>,
    /// Logging driver for service
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Logging driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Exit immediately instead of waiting for the service to converge
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Suppress progress output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not query the registry to resolve image digest and supported platforms
    #[arg(long = "no-resolve-image")]
    pub no_resolve_image: bool,
    #[command(flatten)]
    pub update: UpdateConfigFlags,
    #[command(flatten)]
    pub rollback: RollbackConfigFlags,
    /// Image to run
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Command and arguments
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

/// `--update-*` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct UpdateConfigFlags {
    /// Maximum number of tasks updated simultaneously (0 to update all at once)
    #[arg(long = "update-parallelism")]
    pub parallelism: Option<u64>,
    /// Delay between updates (ns|us|ms|s|m|h)
    #[arg(long = "update-delay", value_parser = duration_ns)]
    pub delay: Option<i64>,
    /// Action on update failure ("pause", "continue", "rollback")
    #[arg(long = "update-failure-action")]
    pub failure_action: Option<String>,
    /// Duration after each task update to monitor for failure (ns|us|ms|s|m|h)
    #[arg(long = "update-monitor", value_parser = duration_ns)]
    pub monitor: Option<i64>,
    /// Failure rate to tolerate during an update
    #[arg(long = "update-max-failure-ratio")]
    pub max_failure_ratio: Option<f64>,
    /// Update order ("start-first", "stop-first")
    #[arg(long = "update-order")]
    pub order: Option<String>,
}

/// `--rollback-*` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct RollbackConfigFlags {
    /// Maximum number of tasks rolled back simultaneously (0 to roll back all at once)
    #[arg(id = "rollback-parallelism", long = "rollback-parallelism")]
    pub parallelism: Option<u64>,
    /// Delay between task rollbacks (ns|us|ms|s|m|h)
    #[arg(id = "rollback-delay", long = "rollback-delay", value_parser = duration_ns)]
    pub delay: Option<i64>,
    /// Action on rollback failure ("pause", "continue")
    #[arg(id = "rollback-failure-action", long = "rollback-failure-action")]
    pub failure_action: Option<String>,
    /// Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h)
    #[arg(id = "rollback-monitor", long = "rollback-monitor", value_parser = duration_ns)]
    pub monitor: Option<i64>,
    /// Failure rate to tolerate during a rollback
    #[arg(id = "rollback-max-failure-ratio", long = "rollback-max-failure-ratio")]
    pub max_failure_ratio: Option<f64>,
    /// Rollback order ("start-first", "stop-first")
    #[arg(id = "rollback-order", long = "rollback-order")]
    pub order: Option<String>,
}

impl UpdateConfigFlags {
    pub fn any(&self) -> bool {
        self.parallelism.is_some()
            || self.delay.is_some()
            || self.failure_action.is_some()
            || self.monitor.is_some()
            || self.max_failure_ratio.is_some()
            || self.order.is_some()
    }
}

impl RollbackConfigFlags {
    pub fn any(&self) -> bool {
        self.as_update().any()
    }

    /// The same fields, to share the conversion code.
    pub fn as_update(&self) -> UpdateConfigFlags {
        UpdateConfigFlags {
            parallelism: self.parallelism,
            delay: self.delay,
            failure_action: self.failure_action.clone(),
            monitor: self.monitor,
            max_failure_ratio: self.max_failure_ratio,
            order: self.order.clone(),
        }
    }
}
