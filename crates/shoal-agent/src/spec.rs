//! Small readings of a task's container spec shared by the agent and executors.

use shoal_types::Task;
use shoal_types::api::TaskSpecContainerSpec;
use std::time::Duration;

/// Docker's default stop grace period (swarmkit `api/defaults/service.go`).
pub const DEFAULT_STOP_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// The task's container spec, if it has one.
pub fn container_spec(task: &Task) -> Option<&TaskSpecContainerSpec> {
    task.spec.container_spec.as_ref()
}

/// How long a stop waits before killing: `ContainerSpec.StopGracePeriod` (nanoseconds), else
/// the 10 s default. Negative values count as zero.
pub fn stop_grace_period(task: &Task) -> Duration {
    container_spec(task)
        .and_then(|c| c.stop_grace_period)
        .map(|ns| Duration::from_nanos(u64::try_from(ns).unwrap_or(0)))
        .unwrap_or(DEFAULT_STOP_GRACE_PERIOD)
}

/// The task's image reference (empty when the spec has none).
pub fn image(task: &Task) -> &str {
    container_spec(task)
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::TaskSpec;

    fn with_grace(ns: Option<i64>) -> Task {
        let spec = TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                stop_grace_period: ns,
                ..Default::default()
            }),
            ..Default::default()
        };
        Task {
            spec,
            ..Default::default()
        }
    }

    #[test]
    fn stop_grace_period_defaults_to_ten_seconds() {
        assert_eq!(
            stop_grace_period(&Task::default()),
            DEFAULT_STOP_GRACE_PERIOD
        );
        assert_eq!(
            stop_grace_period(&with_grace(None)),
            DEFAULT_STOP_GRACE_PERIOD
        );
    }

    #[test]
    fn stop_grace_period_is_read_in_nanoseconds() {
        assert_eq!(
            stop_grace_period(&with_grace(Some(1_500_000_000))),
            Duration::from_millis(1500)
        );
        assert_eq!(stop_grace_period(&with_grace(Some(-1))), Duration::ZERO);
    }
}
