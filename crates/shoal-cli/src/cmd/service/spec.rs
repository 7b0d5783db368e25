//! Building the ServiceSpec that `service create` posts, exactly as docker's `ToService`
//! does (reference §3.1, §5.2–5.4). Pure: environment lookups and env-file contents are
//! passed in; names of networks, secrets and configs are resolved later by the caller.

use super::fields;
use super::opts::{CreateArgs, UpdateConfigFlags};
use crate::parse::env_entry;
use crate::parse::labels;
use serde_json::Value;
use shoal_types::api::{
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, ResourceObject, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecModeReplicatedJob,
    ServiceSpecRollbackConfig, ServiceSpecUpdateConfig, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecDnsConfig, TaskSpecLogDriver, TaskSpecPlacement,
    TaskSpecPlacementPreferences, TaskSpecPlacementSpread, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use std::collections::HashMap;
use std::str::FromStr;

/// swarmkit defaults that docker fills in when any `--update-*`/`--rollback-*` flag is given.
const DEFAULT_MONITOR_NS: i64 = 5_000_000_000;
/// swarmkit's default restart delay, sent when any `--restart-*` flag is given.
const DEFAULT_RESTART_DELAY_NS: i64 = 5_000_000_000;

fn hash(map: std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    map.into_iter().collect()
}

/// The spec for `a`. `env_files` are the contents of the `--env-file` files, in order.
pub fn build(
    a: &CreateArgs,
    env_files: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ServiceSpec, String> {
    let mode = service_mode(a)?;
    let is_job = mode.replicated_job.is_some() || mode.global_job.is_some();
    if is_job && (a.update.any() || a.rollback.any()) {
        return Err("update and rollback configuration is not supported for jobs".to_string());
    }
    let container_labels = labels(&a.container_label);
    let mut dns = TaskSpecContainerSpecDnsConfig::default();
    if !a.dns.is_empty() {
        dns.nameservers = Some(a.dns.clone());
    }
    if !a.dns_search.is_empty() {
        dns.search = Some(a.dns_search.clone());
    }
    if !a.dns_option.is_empty() {
        dns.options = Some(a.dns_option.clone());
    }
    let mounts = a
        .mount
        .iter()
        .map(|m| fields::mount(m))
        .collect::<Result<Vec<_>, _>>()?;
    let command = match &a.entrypoint {
        Some(e) => Some(crate::parse::shell_words(e)?).filter(|c| !c.is_empty()),
        None => None,
    };
    let env = make_env(a, env_files, lookup)?;
    let container = TaskSpecContainerSpec {
        image: Some(a.image.clone()),
        labels: (!container_labels.is_empty()).then(|| hash(container_labels)),
        command,
        args: (!a.args.is_empty()).then(|| a.args.clone()),
        hostname: a.hostname.clone().filter(|h| !h.is_empty()),
        env: (!env.is_empty()).then_some(env),
        dir: a.workdir.clone().filter(|d| !d.is_empty()),
        user: a.user.clone().filter(|u| !u.is_empty()),
        groups: (!a.group.is_empty()).then(|| a.group.clone()),
        init: Some(a.init),
        stop_signal: a.stop_signal.clone().filter(|s| !s.is_empty()),
        tty: a.tty.then_some(true),
        read_only: a.read_only.then_some(true),
        mounts: (!mounts.is_empty()).then_some(mounts),
        dns_config: Some(dns),
        hosts: (!a.host.is_empty()).then(|| a.host.iter().map(|h| swarm_host(h)).collect()),
        stop_grace_period: a.stop_grace_period,
        health_check: health(a)?,
        ..Default::default()
    };
    let resources = TaskSpecResources {
        limits: Some(Limit {
            nano_cpus: a.limit_cpu.filter(|v| *v != 0),
            memory_bytes: a.limit_memory.filter(|v| *v != 0),
            pids: a.limit_pids.filter(|v| *v != 0),
        }),
        reservations: Some(ResourceObject {
            nano_cpus: a.reserve_cpu.filter(|v| *v != 0),
            memory_bytes: a.reserve_memory.filter(|v| *v != 0),
            generic_resources: None,
        }),
        ..Default::default()
    };
    let mut prefs = Vec::new();
    for p in &a.placement_pref {
        let (strategy, arg) = p
            .split_once('=')
            .filter(|(s, _)| !s.is_empty())
            .ok_or_else(|| {
                r#"placement preference must be of the format "<strategy>=<arg>""#.to_string()
            })?;
        if strategy != "spread" {
            return Err(format!(
                "unsupported placement preference {strategy} (only spread is supported)"
            ));
        }
        prefs.push(TaskSpecPlacementPreferences {
            spread: Some(TaskSpecPlacementSpread {
                spread_descriptor: Some(arg.to_string()),
            }),
        });
    }
    let placement = TaskSpecPlacement {
        constraints: (!a.constraint.is_empty()).then(|| a.constraint.clone()),
        preferences: (!prefs.is_empty()).then_some(prefs),
        max_replicas: a.replicas_max_per_node.filter(|m| *m > 0).map(|m| m as i64),
        platforms: None,
    };
    let log_driver =
        a.log_driver
            .as_ref()
            .filter(|n| !n.is_empty())
            .map(|name| TaskSpecLogDriver {
                name: Some(name.clone()),
                options: Some(hash(labels(&a.log_opt))),
            });
    let mut port_configs = Vec::new();
    for p in &a.publish {
        port_configs.extend(fields::ports(p)?);
    }
    let endpoint_mode = EndpointSpecModeEnum::from_str(&a.endpoint_mode.to_lowercase())
        .map_err(|_| format!("invalid endpoint mode: {}", a.endpoint_mode))?;
    Ok(ServiceSpec {
        name: a.name.clone().filter(|n| !n.is_empty()),
        labels: Some(hash(labels(&a.label))),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources: Some(resources),
            restart_policy: restart_policy(a)?,
            placement: Some(placement),
            log_driver,
            force_update: Some(0),
            ..Default::default()
        }),
        mode: Some(mode),
        update_config: update_config(&a.update, true)?.map(|u| ServiceSpecUpdateConfig {
            parallelism: u.parallelism,
            delay: u.delay,
            failure_action: u.failure_action.as_deref().and_then(|f| f.parse().ok()),
            monitor: u.monitor,
            max_failure_ratio: u.max_failure_ratio,
            order: u.order.as_deref().and_then(|o| o.parse().ok()),
        }),
        rollback_config: update_config(&a.rollback.as_update(), false)?.map(|u| {
            ServiceSpecRollbackConfig {
                parallelism: u.parallelism,
                delay: u.delay,
                failure_action: u.failure_action.as_deref().and_then(|f| f.parse().ok()),
                monitor: u.monitor,
                max_failure_ratio: u.max_failure_ratio,
                order: u.order.as_deref().and_then(|o| o.parse().ok()),
            }
        }),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(endpoint_mode),
            ports: (!port_configs.is_empty()).then_some(port_configs),
        }),
        networks: None,
    })
}

/// The spec as docker serialises it: Go's `ContainerSpec` field is `Healthcheck`, where the
/// swagger-generated model says `HealthCheck`.
pub fn to_docker_json(spec: &ServiceSpec) -> Value {
    let mut v = serde_json::to_value(spec).unwrap_or(Value::Null);
    if let Some(cs) = v
        .pointer_mut("/TaskTemplate/ContainerSpec")
        .and_then(Value::as_object_mut)
        && let Some(h) = cs.remove("HealthCheck")
    {
        cs.insert("Healthcheck".to_string(), h);
    }
    v
}

/// docker's `ToServiceMode`.
fn service_mode(a: &CreateArgs) -> Result<ServiceSpecMode, String> {
    let mut m = ServiceSpecMode::default();
    let max_per_node = a.replicas_max_per_node.unwrap_or(0) > 0;
    match a.mode.as_str() {
        "global" => {
            if a.replicas.is_some() {
                return Err(
                    "replicas can only be used with replicated or replicated-job mode".into(),
                );
            }
            if max_per_node {
                return Err(
                    "replicas-max-per-node can only be used with replicated or replicated-job mode"
                        .into(),
                );
            }
            if a.max_concurrent.is_some() {
                return Err("max-concurrent can only be used with replicated-job mode".into());
            }
            m.global = Some(HashMap::new());
        }
        "replicated" => {
            if a.max_concurrent.is_some() {
                return Err("max-concurrent can only be used with replicated-job mode".into());
            }
            m.replicated = Some(ServiceSpecModeReplicated {
                replicas: a.replicas.map(|r| r as i64),
            });
        }
        "replicated-job" => {
            let concurrent = a.max_concurrent.or(a.replicas);
            m.replicated_job = Some(ServiceSpecModeReplicatedJob {
                max_concurrent: concurrent.map(|c| c as i64),
                total_completions: a.replicas.map(|r| r as i64),
            });
        }
        "global-job" => {
            if max_per_node {
                return Err(
                    "replicas-max-per-node can only be used with replicated or replicated-job mode"
                        .into(),
                );
            }
            if a.max_concurrent.is_some() {
                return Err("max-concurrent can only be used with replicated-job mode".into());
            }
            if a.replicas.is_some() {
                return Err(
                    "replicas can only be used with replicated or replicated-job mode".into(),
                );
            }
            m.global_job = Some(HashMap::new());
        }
        other => {
            return Err(format!(
                "unknown mode: {other}, only replicated and global supported"
            ));
        }
    }
    Ok(m)
}

/// docker's `makeEnv`: env files first, then `-e`; a later value for a key replaces the
/// earlier one, moving it to the end.
fn make_env(
    a: &CreateArgs,
    env_files: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut all = Vec::new();
    for content in env_files {
        all.extend(crate::parse::env_file(content, lookup)?);
    }
    for e in &a.env {
        all.push(env_entry(e, lookup)?);
    }
    let mut out: Vec<String> = Vec::new();
    for e in all {
        if out.contains(&e) {
            continue;
        }
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_string();
        out.retain(|cur| !cur.starts_with(&format!("{key}=")));
        out.push(e);
    }
    Ok(out)
}

/// docker's `toHealthConfig`.
fn health(a: &CreateArgs) -> Result<Option<HealthConfig>, String> {
    let have = a.health_cmd.as_deref().is_some_and(|c| !c.is_empty())
        || a.health_interval.is_some()
        || a.health_timeout.is_some()
        || a.health_start_period.is_some()
        || a.health_start_interval.is_some()
        || a.health_retries != 0;
    if a.no_healthcheck {
        if have {
            return Err("--no-healthcheck conflicts with --health-* options".to_string());
        }
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".to_string()]),
            ..Default::default()
        }));
    }
    if !have {
        return Ok(None);
    }
    let nz = |v: Option<i64>| v.filter(|d| *d != 0);
    Ok(Some(HealthConfig {
        test: a
            .health_cmd
            .as_ref()
            .filter(|c| !c.is_empty())
            .map(|c| vec!["CMD-SHELL".to_string(), c.clone()]),
        interval: nz(a.health_interval),
        timeout: nz(a.health_timeout),
        retries: Some(a.health_retries).filter(|r| *r != 0),
        start_period: nz(a.health_start_period),
        start_interval: nz(a.health_start_interval),
    }))
}

/// docker's `ToRestartPolicy`: nothing unless a `--restart-*` flag is given, then swarmkit's
/// defaults (any, 5 s, unlimited) overridden by the flags.
fn restart_policy(a: &CreateArgs) -> Result<Option<TaskSpecRestartPolicy>, String> {
    if a.restart_condition.is_none()
        && a.restart_delay.is_none()
        && a.restart_max_attempts.is_none()
        && a.restart_window.is_none()
    {
        return Ok(None);
    }
    let condition = match a.restart_condition.as_deref() {
        None => TaskSpecRestartPolicyConditionEnum::ANY,
        Some(c) => TaskSpecRestartPolicyConditionEnum::from_str(c)
            .map_err(|_| format!("invalid restart condition \"{c}\": must be one of \"none\", \"on-failure\", \"any\""))?,
    };
    Ok(Some(TaskSpecRestartPolicy {
        condition: Some(condition),
        delay: Some(a.restart_delay.unwrap_or(DEFAULT_RESTART_DELAY_NS)),
        max_attempts: Some(a.restart_max_attempts.unwrap_or(0) as i64),
        window: a.restart_window,
    }))
}

/// Resolved update/rollback settings.
struct UpdateValues {
    parallelism: Option<i64>,
    delay: Option<i64>,
    failure_action: Option<String>,
    monitor: Option<i64>,
    max_failure_ratio: Option<f64>,
    order: Option<String>,
}

/// docker's `updateConfig`/`rollbackConfig`: nothing unless a flag is given, then swarmkit's
/// defaults (parallelism 1, pause, monitor 5 s, ratio 0, stop-first) overridden by the flags.
fn update_config(f: &UpdateConfigFlags, update: bool) -> Result<Option<UpdateValues>, String> {
    if !f.any() {
        return Ok(None);
    }
    let what = if update { "update" } else { "rollback" };
    let failure_action = f
        .failure_action
        .clone()
        .unwrap_or_else(|| "pause".to_string());
    let allowed: &[&str] = if update {
        &["pause", "continue", "rollback"]
    } else {
        &["pause", "continue"]
    };
    if !allowed.contains(&failure_action.as_str()) {
        return Err(format!("invalid {what} failure action: {failure_action}"));
    }
    let order = f.order.clone().unwrap_or_else(|| "stop-first".to_string());
    if !matches!(order.as_str(), "stop-first" | "start-first") {
        return Err(format!("invalid {what} order: {order}"));
    }
    Ok(Some(UpdateValues {
        parallelism: Some(f.parallelism.unwrap_or(1) as i64),
        delay: f.delay.filter(|d| *d != 0),
        failure_action: Some(failure_action),
        monitor: Some(f.monitor.unwrap_or(DEFAULT_MONITOR_NS)).filter(|m| *m != 0),
        max_failure_ratio: Some(f.max_failure_ratio.unwrap_or(0.0)),
        order: Some(order),
    }))
}

/// `host:ip` (docker's `--host`) → swarmkit's `ip host`.
fn swarm_host(h: &str) -> String {
    match h.split_once(':') {
        Some((host, ip)) => format!("{ip} {host}"),
        None => h.to_string(),
    }
}

/// Image reference as the docker client sends it: `nginx` → `nginx:latest`; tagged or
/// digested references unchanged (`imageWithTagString`).
pub fn tagged_image(image: &str) -> String {
    if image.contains('@') {
        return image.to_string();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
