//! The update (or rollback) configuration of a service, decoded once with SwarmKit's
//! defaults (`api/defaults/service.go`): parallelism 1, delay 0, failure action `pause`,
//! monitor 5 s, max failure ratio 0, order `stop-first`.

use shoal_types::api::{
    ServiceSpec, ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum,
};
use std::time::Duration;

/// SwarmKit's default monitoring window for updated tasks.
pub const DEFAULT_MONITOR: Duration = Duration::from_secs(5);

/// What happens when too many updated tasks fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    Pause,
    Continue,
    Rollback,
}

/// Which task of a slot goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Shut the old task down, then start the new one.
    StopFirst,
    /// Start the new task and shut the old one down once the new one runs.
    StartFirst,
}

/// An `UpdateConfig` or `RollbackConfig` with the defaults applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdatePolicy {
    /// Slots replaced at the same time; 0 means all at once.
    pub parallelism: u64,
    /// Wait after a slot is done before its worker takes the next one.
    pub delay: Duration,
    pub failure_action: FailureAction,
    /// How long an updated task is watched for failure once it runs.
    pub monitor: Duration,
    pub max_failure_ratio: f64,
    pub order: Order,
}

impl Default for UpdatePolicy {
    fn default() -> Self {
        Self {
            parallelism: 1,
            delay: Duration::ZERO,
            failure_action: FailureAction::Pause,
            monitor: DEFAULT_MONITOR,
            max_failure_ratio: 0.0,
            order: Order::StopFirst,
        }
    }
}

fn nanos(v: Option<i64>) -> Option<Duration> {
    v.map(|n| Duration::from_nanos(n.max(0) as u64))
}

impl UpdatePolicy {
    /// The policy a run of `spec` follows: its `RollbackConfig` when `rollback`, else its
    /// `UpdateConfig`; each absent field takes the default.
    pub fn of(spec: &ServiceSpec, rollback: bool) -> Self {
        let d = Self::default();
        if rollback {
            let Some(c) = spec.rollback_config.as_ref() else {
                return d;
            };
            Self {
                parallelism: c.parallelism.map_or(d.parallelism, |p| p.max(0) as u64),
                delay: nanos(c.delay).unwrap_or(d.delay),
                failure_action: match c.failure_action {
                    Some(ServiceSpecRollbackConfigFailureActionEnum::CONTINUE) => {
                        FailureAction::Continue
                    }
                    _ => FailureAction::Pause,
                },
                monitor: nanos(c.monitor)
                    .filter(|m| !m.is_zero())
                    .unwrap_or(d.monitor),
                max_failure_ratio: c.max_failure_ratio.unwrap_or(d.max_failure_ratio),
                order: match c.order {
                    Some(ServiceSpecRollbackConfigOrderEnum::START_FIRST) => Order::StartFirst,
                    _ => Order::StopFirst,
                },
            }
        } else {
            let Some(c) = spec.update_config.as_ref() else {
                return d;
            };
            Self {
                parallelism: c.parallelism.map_or(d.parallelism, |p| p.max(0) as u64),
                delay: nanos(c.delay).unwrap_or(d.delay),
                failure_action: match c.failure_action {
                    Some(ServiceSpecUpdateConfigFailureActionEnum::CONTINUE) => {
                        FailureAction::Continue
                    }
                    Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK) => {
                        FailureAction::Rollback
                    }
                    _ => FailureAction::Pause,
                },
                monitor: nanos(c.monitor)
                    .filter(|m| !m.is_zero())
                    .unwrap_or(d.monitor),
                max_failure_ratio: c.max_failure_ratio.unwrap_or(d.max_failure_ratio),
                order: match c.order {
                    Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST) => Order::StartFirst,
                    _ => Order::StopFirst,
                },
            }
        }
    }

    /// How many slots may be in flight when `dirty` slots need updating.
    pub fn workers(&self, dirty: usize) -> usize {
        if self.parallelism == 0 {
            dirty.max(1)
        } else {
            self.parallelism as usize
        }
    }

    /// The final watch after every slot is done. SwarmKit stretches it past the delay so that
    /// a slow failure of the last batch is still seen: `delay + 1 s` when the delay is at
    /// least the monitor window.
    pub fn final_monitor(&self) -> Duration {
        if self.delay >= self.monitor {
            self.delay + Duration::from_secs(1)
        } else {
            self.monitor
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::{ServiceSpecRollbackConfig, ServiceSpecUpdateConfig};

    #[test]
    fn an_absent_config_takes_swarmkits_defaults() {
        let p = UpdatePolicy::of(&ServiceSpec::default(), false);
        assert_eq!(p, UpdatePolicy::default());
        assert_eq!(p.parallelism, 1);
        assert_eq!(p.monitor, Duration::from_secs(5));
        assert_eq!(p.failure_action, FailureAction::Pause);
        assert_eq!(p.order, Order::StopFirst);
    }

    #[test]
    fn the_update_config_is_read_field_by_field() {
        let spec = ServiceSpec {
            update_config: Some(ServiceSpecUpdateConfig {
                parallelism: Some(2),
                delay: Some(2_000_000_000),
                failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
                monitor: None,
                max_failure_ratio: Some(0.5),
                order: Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST),
            }),
            rollback_config: Some(ServiceSpecRollbackConfig {
                parallelism: Some(0),
                failure_action: Some(ServiceSpecRollbackConfigFailureActionEnum::CONTINUE),
                ..Default::default()
            }),
            ..Default::default()
        };
        let up = UpdatePolicy::of(&spec, false);
        assert_eq!(up.parallelism, 2);
        assert_eq!(up.delay, Duration::from_secs(2));
        assert_eq!(up.failure_action, FailureAction::Rollback);
        assert_eq!(up.monitor, DEFAULT_MONITOR);
        assert_eq!(up.order, Order::StartFirst);
        let back = UpdatePolicy::of(&spec, true);
        assert_eq!(back.parallelism, 0);
        assert_eq!(
            back.workers(7),
            7,
            "parallelism 0 updates every slot at once"
        );
        assert_eq!(back.failure_action, FailureAction::Continue);
        assert_eq!(back.order, Order::StopFirst);
    }

    #[test]
    fn the_final_watch_outlasts_a_long_delay() {
        let mut p = UpdatePolicy {
            delay: Duration::from_secs(2),
            monitor: Duration::from_secs(1),
            ..Default::default()
        };
        assert_eq!(p.final_monitor(), Duration::from_secs(3));
        p.delay = Duration::ZERO;
        assert_eq!(p.final_monitor(), Duration::from_secs(1));
    }
}
