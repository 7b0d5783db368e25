//! The restart decision, pure: given why a task stopped running, its service's restart policy
//! and the slot's restart history, restart it (when) or let it go (with which desired state).
//!
//! SwarmKit `restart.go` `shouldRestart`: condition `none` never restarts; `on-failure`
//! restarts unless the task COMPLETEd; `any` always; a positive `MaxAttempts` caps restarts
//! of a slot, counted within `Window` (0 = forever) and reset when the spec version changes.
//! Jobs never restart a task that completed. The delay is not applied to tasks leaving a
//! drained node.

use shoal_types::TaskState;
use shoal_types::api::{TaskSpec, TaskSpecRestartPolicyConditionEnum};
use shoal_types::service::ServiceMode;
use std::time::Duration;
use tokio::time::Instant;

/// Default restart delay (`api/defaults/service.go`).
pub const DEFAULT_DELAY: Duration = Duration::from_secs(5);

/// When to restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    None,
    OnFailure,
    Any,
}

/// A task's restart policy with Docker's defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    pub condition: Condition,
    pub delay: Duration,
    /// 0 means unlimited.
    pub max_attempts: u64,
    /// Zero means restarts are counted forever.
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            condition: Condition::Any,
            delay: DEFAULT_DELAY,
            max_attempts: 0,
            window: Duration::ZERO,
        }
    }
}

fn nanos(v: Option<i64>) -> Option<Duration> {
    v.map(|n| Duration::from_nanos(n.max(0) as u64))
}

impl RestartPolicy {
    /// The policy in `spec.RestartPolicy`, defaults filled in.
    pub fn of(spec: &TaskSpec) -> Self {
        let d = Self::default();
        let Some(p) = spec.restart_policy.as_ref() else {
            return d;
        };
        Self {
            condition: match p.condition {
                Some(TaskSpecRestartPolicyConditionEnum::NONE) => Condition::None,
                Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE) => Condition::OnFailure,
                _ => Condition::Any,
            },
            delay: nanos(p.delay).unwrap_or(d.delay),
            max_attempts: p.max_attempts.unwrap_or(0).max(0) as u64,
            window: nanos(p.window).unwrap_or(d.window),
        }
    }
}

/// Why a task whose desired state is RUNNING needs the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The task reached this terminal observed state.
    Ended(TaskState),
    /// Its node is down or was removed (replicated tasks only).
    NodeLost,
    /// Its node was drained (replicated tasks only): move it without delay.
    NodeDrained,
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    pub mode: ServiceMode,
    pub trigger: Trigger,
    pub policy: RestartPolicy,
    /// Times of the slot's earlier restarts under the task's spec version, oldest first.
    pub history: &'a [Instant],
    /// Global modes: whether the node still takes this service's tasks.
    pub node_eligible: bool,
    /// Job modes: whether the task belongs to the job's current iteration.
    pub current_iteration: bool,
    pub now: Instant,
}

/// What to do with the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// At `at`, stop the task (desired SHUTDOWN) and make a new one in its slot (or on its
    /// node, for global services).
    Restart { at: Instant },
    /// Make nothing; set the task's desired state to `desired` now.
    Stop { desired: TaskState },
}

const STOP: Decision = Decision::Stop {
    desired: TaskState::Shutdown,
};

/// Decides the fate of a task per its restart policy.
pub fn decide(s: &Situation<'_>) -> Decision {
    let global = matches!(s.mode, ServiceMode::Global | ServiceMode::GlobalJob);
    if global && (!s.node_eligible || !matches!(s.trigger, Trigger::Ended(_))) {
        // The global orchestrator shuts it down and makes a new task when the node is
        // eligible again.
        return STOP;
    }
    if s.mode.is_job() {
        if !s.current_iteration {
            return STOP;
        }
        if s.trigger == Trigger::Ended(TaskState::Complete) {
            return Decision::Stop {
                desired: TaskState::Complete,
            };
        }
    }
    let completed = s.trigger == Trigger::Ended(TaskState::Complete);
    let allowed = match s.policy.condition {
        Condition::None => false,
        Condition::OnFailure => !completed,
        Condition::Any => true,
    };
    if !allowed || !within_attempts(s) {
        return STOP;
    }
    let delay = if s.trigger == Trigger::NodeDrained {
        Duration::ZERO
    } else {
        s.policy.delay
    };
    Decision::Restart { at: s.now + delay }
}

fn within_attempts(s: &Situation<'_>) -> bool {
    if s.policy.max_attempts == 0 {
        return true;
    }
    let counted = if s.policy.window.is_zero() {
        s.history.len()
    } else {
        s.history
            .iter()
            .filter(|t| s.now.saturating_duration_since(**t) < s.policy.window)
            .count()
    };
    (counted as u64) < s.policy.max_attempts
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::TaskSpecRestartPolicy;

    fn situation(
        trigger: Trigger,
        policy: RestartPolicy,
        history: &[Instant],
        now: Instant,
    ) -> Situation<'_> {
        Situation {
            mode: ServiceMode::Replicated { replicas: 1 },
            trigger,
            policy,
            history,
            node_eligible: true,
            current_iteration: true,
            now,
        }
    }

    fn policy(condition: Condition, max_attempts: u64, window: Duration) -> RestartPolicy {
        RestartPolicy {
            condition,
            delay: Duration::from_secs(5),
            max_attempts,
            window,
        }
    }

    const FAILED: Trigger = Trigger::Ended(TaskState::Failed);
    const COMPLETE: Trigger = Trigger::Ended(TaskState::Complete);

    #[test]
    fn the_default_policy_restarts_anything_after_five_seconds() {
        let now = Instant::now();
        let p = RestartPolicy::of(&TaskSpec::default());
        assert_eq!(p, RestartPolicy::default());
        for trigger in [
            FAILED,
            COMPLETE,
            Trigger::Ended(TaskState::Shutdown),
            Trigger::NodeLost,
        ] {
            assert_eq!(
                decide(&situation(trigger, p, &[], now)),
                Decision::Restart {
                    at: now + Duration::from_secs(5)
                }
            );
        }
    }

    #[test]
    fn the_spec_overrides_the_defaults() {
        let spec = TaskSpec {
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE),
                delay: Some(1_000_000_000),
                max_attempts: Some(3),
                window: Some(60_000_000_000),
            }),
            ..Default::default()
        };
        assert_eq!(
            RestartPolicy::of(&spec),
            policy(Condition::OnFailure, 3, Duration::from_secs(60)).with_delay(1)
        );
    }

    impl RestartPolicy {
        fn with_delay(mut self, secs: u64) -> Self {
            self.delay = Duration::from_secs(secs);
            self
        }
    }

    #[test]
    fn condition_none_never_restarts() {
        let now = Instant::now();
        let d = decide(&situation(
            FAILED,
            policy(Condition::None, 0, Duration::ZERO),
            &[],
            now,
        ));
        assert_eq!(
            d,
            Decision::Stop {
                desired: TaskState::Shutdown
            }
        );
    }

    #[test]
    fn on_failure_does_not_restart_a_task_that_completed() {
        let now = Instant::now();
        let p = policy(Condition::OnFailure, 0, Duration::ZERO);
        assert_eq!(
            decide(&situation(COMPLETE, p, &[], now)),
            Decision::Stop {
                desired: TaskState::Shutdown
            }
        );
        assert!(matches!(
            decide(&situation(FAILED, p, &[], now)),
            Decision::Restart { .. }
        ));
        assert!(matches!(
            decide(&situation(Trigger::NodeLost, p, &[], now)),
            Decision::Restart { .. }
        ));
    }

    #[test]
    fn max_attempts_without_a_window_counts_every_restart() {
        let now = Instant::now();
        let p = policy(Condition::Any, 2, Duration::ZERO);
        let long_ago = now - Duration::from_secs(3600);
        assert!(matches!(
            decide(&situation(FAILED, p, &[long_ago], now)),
            Decision::Restart { .. }
        ));
        assert_eq!(decide(&situation(FAILED, p, &[long_ago, now], now)), STOP);
    }

    #[test]
    fn max_attempts_with_a_window_forgets_old_restarts() {
        let now = Instant::now() + Duration::from_secs(3600);
        let p = policy(Condition::Any, 2, Duration::from_secs(60));
        let old = now - Duration::from_secs(120);
        let recent = now - Duration::from_secs(10);
        assert!(matches!(
            decide(&situation(FAILED, p, &[old, old, recent], now)),
            Decision::Restart { .. }
        ));
        assert_eq!(
            decide(&situation(FAILED, p, &[old, recent, recent], now)),
            STOP
        );
    }

    #[test]
    fn a_drained_node_moves_its_tasks_without_delay() {
        let now = Instant::now();
        let d = decide(&situation(
            Trigger::NodeDrained,
            RestartPolicy::default(),
            &[],
            now,
        ));
        assert_eq!(d, Decision::Restart { at: now });
    }

    #[test]
    fn a_job_task_that_completed_is_done() {
        let now = Instant::now();
        let mut s = situation(COMPLETE, RestartPolicy::default(), &[], now);
        s.mode = ServiceMode::ReplicatedJob {
            max_concurrent: 1,
            total: 1,
        };
        assert_eq!(
            decide(&s),
            Decision::Stop {
                desired: TaskState::Complete
            }
        );
        s.trigger = FAILED;
        assert!(matches!(decide(&s), Decision::Restart { .. }));
        s.current_iteration = false;
        assert_eq!(
            decide(&s),
            STOP,
            "a task of an older iteration is not restarted"
        );
    }

    #[test]
    fn a_global_task_restarts_only_on_a_node_that_still_takes_it() {
        let now = Instant::now();
        let mut s = situation(FAILED, RestartPolicy::default(), &[], now);
        s.mode = ServiceMode::Global;
        assert!(matches!(decide(&s), Decision::Restart { .. }));
        s.node_eligible = false;
        assert_eq!(decide(&s), STOP);
    }
}
