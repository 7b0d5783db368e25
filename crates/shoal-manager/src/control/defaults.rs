//! The defaults `GET /services/{id}?insertDefaults=true` shows (swarmkit
//! `api/defaults/service.go`).

use shoal_types::api::{ServiceSpec, TaskSpecRestartPolicyConditionEnum};

/// Default stop grace period: 10 s.
pub const DEFAULT_STOP_GRACE_NS: i64 = 10_000_000_000;
/// Default restart delay: 5 s.
pub const DEFAULT_RESTART_DELAY_NS: i64 = 5_000_000_000;
/// Default update/rollback monitor: 5 s.
pub const DEFAULT_MONITOR_NS: i64 = 5_000_000_000;

/// Fills the defaults `GET /services/{id}?insertDefaults=true` shows (swarmkit
/// `api/defaults/service.go`), leaving set values alone.
pub fn insert_defaults(spec: &mut ServiceSpec) {
    use shoal_types::api::{
        ServiceSpecRollbackConfig, ServiceSpecRollbackConfigFailureActionEnum,
        ServiceSpecRollbackConfigOrderEnum, ServiceSpecUpdateConfig,
        ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum,
        TaskSpecRestartPolicy,
    };
    let tt = spec.task_template.get_or_insert_with(Default::default);
    if let Some(cs) = tt.container_spec.as_mut() {
        cs.stop_grace_period.get_or_insert(DEFAULT_STOP_GRACE_NS);
        cs.dns_config.get_or_insert_with(Default::default);
    }
    tt.resources.get_or_insert_with(Default::default);
    tt.placement.get_or_insert_with(Default::default);
    let rp = tt
        .restart_policy
        .get_or_insert_with(TaskSpecRestartPolicy::default);
    if rp
        .condition
        .is_none_or(|c| c == TaskSpecRestartPolicyConditionEnum::EMPTY)
    {
        rp.condition = Some(TaskSpecRestartPolicyConditionEnum::ANY);
    }
    rp.delay.get_or_insert(DEFAULT_RESTART_DELAY_NS);
    rp.max_attempts.get_or_insert(0);
    let uc = spec
        .update_config
        .get_or_insert_with(ServiceSpecUpdateConfig::default);
    if uc.parallelism.is_none_or(|p| p == 0) {
        uc.parallelism = Some(1);
    }
    if uc
        .failure_action
        .is_none_or(|a| a == ServiceSpecUpdateConfigFailureActionEnum::EMPTY)
    {
        uc.failure_action = Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE);
    }
    uc.monitor.get_or_insert(DEFAULT_MONITOR_NS);
    uc.max_failure_ratio.get_or_insert(0.0);
    if uc
        .order
        .is_none_or(|o| o == ServiceSpecUpdateConfigOrderEnum::EMPTY)
    {
        uc.order = Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST);
    }
    let rc = spec
        .rollback_config
        .get_or_insert_with(ServiceSpecRollbackConfig::default);
    if rc.parallelism.is_none_or(|p| p == 0) {
        rc.parallelism = Some(1);
    }
    if rc
        .failure_action
        .is_none_or(|a| a == ServiceSpecRollbackConfigFailureActionEnum::EMPTY)
    {
        rc.failure_action = Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE);
    }
    rc.monitor.get_or_insert(DEFAULT_MONITOR_NS);
    rc.max_failure_ratio.get_or_insert(0.0);
    if rc
        .order
        .is_none_or(|o| o == ServiceSpecRollbackConfigOrderEnum::EMPTY)
    {
        rc.order = Some(ServiceSpecRollbackConfigOrderEnum::STOP_FIRST);
    }
}
