//! The scheduling half of a service spec, from `deploy:` (and `ports:`): mode, resources,
//! restart policy, placement, update and rollback configs, endpoint. Zero values docker/cli
//! would omit (`omitempty`) stay `None`.

use std::collections::HashMap;

use shoal_types::api::{
    EndpointPortConfig, EndpointSpec, Limit, ResourceObject, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecModeReplicatedJob, ServiceSpecRollbackConfig,
    ServiceSpecUpdateConfig, TaskSpecPlacement, TaskSpecPlacementPreferences,
    TaskSpecPlacementSpread, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};

use super::service::{Ctx, non_empty, nonzero};
use crate::error::ConvertError;
use crate::model::{Deploy, Service, UpdateConfig};
use crate::units::parse_nano_cpus;

pub(super) fn resources(cx: &Ctx<'_>, deploy: &Deploy) -> Result<TaskSpecResources, ConvertError> {
    let cpus = |field: &str, v: &Option<String>| -> Result<Option<i64>, ConvertError> {
        match v {
            Some(c) => parse_nano_cpus(c)
                .map(|n| Some(n).filter(|&n| n != 0))
                .map_err(|e| cx.invalid(field, c, &e)),
            None => Ok(None),
        }
    };
    let r = deploy.resources.clone().unwrap_or_default();
    let limits = match &r.limits {
        Some(l) => Some(Limit {
            nano_cpus: cpus("deploy.resources.limits.cpus", &l.cpus)?,
            memory_bytes: l.memory.map(|m| m.0).filter(|&m| m != 0),
            pids: l.pids.filter(|&p| p != 0),
        }),
        None => None,
    };
    let reservations = match &r.reservations {
        Some(l) => Some(ResourceObject {
            nano_cpus: cpus("deploy.resources.reservations.cpus", &l.cpus)?,
            memory_bytes: l.memory.map(|m| m.0).filter(|&m| m != 0),
            generic_resources: None,
        }),
        None => None,
    };
    Ok(TaskSpecResources {
        limits,
        reservations,
        ..TaskSpecResources::default()
    })
}

/// `deploy.restart_policy`, else the ignored-but-honoured `restart:` as docker/cli maps it.
pub(super) fn restart_policy(
    cx: &Ctx<'_>,
    svc: &Service,
    deploy: &Deploy,
) -> Result<Option<TaskSpecRestartPolicy>, ConvertError> {
    if let Some(p) = &deploy.restart_policy {
        let condition = match &p.condition {
            Some(c) => Some(cx.pick::<TaskSpecRestartPolicyConditionEnum>(
                "deploy.restart_policy.condition",
                c,
                &["none", "on-failure", "any"],
            )?),
            None => None,
        };
        return Ok(Some(TaskSpecRestartPolicy {
            condition,
            delay: p.delay.map(|d| d.0),
            max_attempts: p.max_attempts.and_then(|m| i64::try_from(m).ok()),
            window: p.window.map(|d| d.0),
        }));
    }
    let Some(restart) = svc.restart.as_deref() else {
        return Ok(None);
    };
    let (policy, count) = restart.split_once(':').unwrap_or((restart, "0"));
    match policy {
        "" | "no" => Ok(None),
        "always" | "unless-stopped" => Ok(Some(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
            ..TaskSpecRestartPolicy::default()
        })),
        "on-failure" => {
            let attempts: i64 = count
                .parse()
                .map_err(|_| cx.invalid("restart", restart, "on-failure[:max-retries]"))?;
            Ok(Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE),
                max_attempts: Some(attempts),
                ..TaskSpecRestartPolicy::default()
            }))
        }
        _ => Err(cx.invalid(
            "restart",
            restart,
            "no, always, unless-stopped or on-failure",
        )),
    }
}

pub(super) fn placement(deploy: &Deploy) -> TaskSpecPlacement {
    let p = deploy.placement.clone().unwrap_or_default();
    TaskSpecPlacement {
        constraints: non_empty(p.constraints),
        preferences: non_empty(
            p.preferences
                .into_iter()
                .map(|pref| TaskSpecPlacementPreferences {
                    spread: Some(TaskSpecPlacementSpread {
                        spread_descriptor: Some(pref.spread),
                    }),
                })
                .collect(),
        ),
        max_replicas: p
            .max_replicas_per_node
            .and_then(|m| i64::try_from(m).ok())
            .filter(|&m| m != 0),
        platforms: None,
    }
}

pub(super) fn mode(cx: &Ctx<'_>, deploy: &Deploy) -> Result<ServiceSpecMode, ConvertError> {
    let replicas = deploy.replicas.and_then(|r| i64::try_from(r).ok());
    let global_with_replicas = || ConvertError::ReplicasWithGlobalMode {
        service: cx.name.to_string(),
    };
    let mode = deploy.mode.as_deref().unwrap_or("replicated");
    Ok(match mode {
        "replicated" | "" => ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas }),
            ..ServiceSpecMode::default()
        },
        "global" if replicas.is_none() => ServiceSpecMode {
            global: Some(HashMap::new()),
            ..ServiceSpecMode::default()
        },
        "replicated-job" => ServiceSpecMode {
            replicated_job: Some(ServiceSpecModeReplicatedJob {
                max_concurrent: replicas,
                total_completions: replicas,
            }),
            ..ServiceSpecMode::default()
        },
        "global-job" if replicas.is_none() => ServiceSpecMode {
            global_job: Some(HashMap::new()),
            ..ServiceSpecMode::default()
        },
        "global" | "global-job" => return Err(global_with_replicas()),
        other => {
            return Err(cx.invalid(
                "deploy.mode",
                other,
                "one of replicated, global, replicated-job, global-job",
            ));
        }
    })
}

pub(super) fn update_config(
    cx: &Ctx<'_>,
    field: &str,
    u: &UpdateConfig,
) -> Result<ServiceSpecUpdateConfig, ConvertError> {
    Ok(ServiceSpecUpdateConfig {
        parallelism: Some(
            u.parallelism
                .map_or(1, |p| i64::try_from(p).unwrap_or(i64::MAX)),
        ),
        delay: nonzero(u.delay.map(|d| d.0)),
        failure_action: match &u.failure_action {
            Some(a) => Some(cx.pick(
                &format!("{field}.failure_action"),
                a,
                &["continue", "pause", "rollback"],
            )?),
            None => None,
        },
        monitor: nonzero(u.monitor.map(|d| d.0)),
        max_failure_ratio: Some(u.max_failure_ratio.unwrap_or(0.0)),
        order: Some(cx.pick(
            &format!("{field}.order"),
            u.order.as_deref().unwrap_or(""),
            &["", "stop-first", "start-first"],
        )?),
    })
}

pub(super) fn rollback_config(
    cx: &Ctx<'_>,
    u: &UpdateConfig,
) -> Result<ServiceSpecRollbackConfig, ConvertError> {
    let field = "deploy.rollback_config";
    Ok(ServiceSpecRollbackConfig {
        parallelism: Some(
            u.parallelism
                .map_or(1, |p| i64::try_from(p).unwrap_or(i64::MAX)),
        ),
        delay: nonzero(u.delay.map(|d| d.0)),
        failure_action: match &u.failure_action {
            Some(a) => Some(cx.pick(
                &format!("{field}.failure_action"),
                a,
                &["continue", "pause"],
            )?),
            None => None,
        },
        monitor: nonzero(u.monitor.map(|d| d.0)),
        max_failure_ratio: Some(u.max_failure_ratio.unwrap_or(0.0)),
        order: Some(cx.pick(
            &format!("{field}.order"),
            u.order.as_deref().unwrap_or(""),
            &["", "stop-first", "start-first"],
        )?),
    })
}

/// Ports sorted by published, target, protocol, mode; `endpoint_mode` lower-cased.
pub(super) fn endpoint(
    cx: &Ctx<'_>,
    svc: &Service,
    deploy: &Deploy,
) -> Result<EndpointSpec, ConvertError> {
    let mut ports = Vec::new();
    for p in &svc.ports {
        let protocol = match &p.protocol {
            Some(v) => Some(cx.pick(
                "ports.protocol",
                &v.to_ascii_lowercase(),
                &["tcp", "udp", "sctp"],
            )?),
            None => None,
        };
        let publish_mode = match &p.mode {
            Some(v) => Some(cx.pick("ports.mode", v, &["ingress", "host"])?),
            None => None,
        };
        ports.push(EndpointPortConfig {
            name: None,
            protocol,
            target_port: Some(i64::from(p.target)),
            published_port: p.published.map(i64::from),
            publish_mode,
        });
    }
    ports.sort_by(|a, b| {
        (
            a.published_port,
            a.target_port,
            a.protocol.map(|p| p.to_string()),
            a.publish_mode.map(|m| m.to_string()),
        )
            .cmp(&(
                b.published_port,
                b.target_port,
                b.protocol.map(|p| p.to_string()),
                b.publish_mode.map(|m| m.to_string()),
            ))
    });
    let mode = match &deploy.endpoint_mode {
        Some(m) => Some(cx.pick(
            "deploy.endpoint_mode",
            &m.to_ascii_lowercase(),
            &["vip", "dnsrr"],
        )?),
        None => None,
    };
    Ok(EndpointSpec {
        mode,
        ports: non_empty(ports),
    })
}
