//! The engine's container create body for a task: a pure translation of the task's
//! `ContainerSpec`, following moby's swarm executor (`daemon/cluster/executor/container`).

use crate::attach::host_ports;
use crate::template::{TemplateContext, TemplateError};
use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, RestartPolicy, RestartPolicyNameEnum,
};
use shoal_agent::ExecError;
use shoal_agent::spec::{container_spec, stop_grace_period};
use shoal_types::Task;
use std::collections::HashMap;

pub const LABEL_TASK: &str = "com.docker.swarm.task";
pub const LABEL_TASK_ID: &str = "com.docker.swarm.task.id";
pub const LABEL_TASK_NAME: &str = "com.docker.swarm.task.name";
pub const LABEL_NODE_ID: &str = "com.docker.swarm.node.id";
pub const LABEL_SERVICE_ID: &str = "com.docker.swarm.service.id";
pub const LABEL_SERVICE_NAME: &str = "com.docker.swarm.service.name";

/// What a container's templates may say about the node it runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    pub hostname: String,
    pub os: String,
    pub arch: String,
}

/// The labels every task container carries; they override the spec's labels of the same
/// name. `task.name` is the container name, `<service>.<slot>.<task id>`, as in Docker.
pub fn swarm_labels(task: &Task) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_TASK.to_string(), String::new()),
        (LABEL_TASK_ID.to_string(), task.id.to_string()),
        (LABEL_TASK_NAME.to_string(), task.container_name()),
        (LABEL_NODE_ID.to_string(), task.node_id.to_string()),
        (LABEL_SERVICE_ID.to_string(), task.service_id.to_string()),
        (
            LABEL_SERVICE_NAME.to_string(),
            task.service_annotations.name.clone(),
        ),
    ])
}

/// `ContainerSpec.Hosts` uses the hosts(5) layout `IP name [alias…]`; the engine's ExtraHosts
/// want `name:IP`, one per name.
pub fn extra_hosts(hosts: &[String]) -> Vec<String> {
    hosts
        .iter()
        .flat_map(|entry| {
            let mut fields = entry.split_whitespace();
            let ip = fields.next().unwrap_or_default().to_string();
            fields.map(move |name| format!("{name}:{ip}"))
        })
        .collect()
}

fn rejected(what: &str, err: TemplateError) -> ExecError {
    ExecError::Rejected(format!("expanding {what}: {err}"))
}

/// Builds the create body for `task`. Fails (rejecting the task) when the spec has no image
/// or a template cannot be expanded.
pub fn container_config(task: &Task, node: &NodeFacts) -> Result<ContainerCreateBody, ExecError> {
    let spec = container_spec(task).cloned().unwrap_or_default();
    let image = spec
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ExecError::Rejected(format!("task {} has no container image", task.id)))?;
    let ctx = TemplateContext::new(task, &node.hostname, &node.os, &node.arch);

    let mut labels = spec.labels.clone().unwrap_or_default();
    labels.extend(swarm_labels(task));

    let env = spec
        .env
        .as_deref()
        .map(|e| ctx.expand_env(e))
        .transpose()
        .map_err(|e| rejected("env", e))?;
    let hostname = spec
        .hostname
        .as_deref()
        .map(|h| ctx.expand(h))
        .transpose()
        .map_err(|e| rejected("hostname", e))?;
    let mounts = spec
        .mounts
        .clone()
        .map(|mounts| {
            mounts
                .into_iter()
                .map(|mut m| {
                    m.source = m.source.as_deref().map(|s| ctx.expand(s)).transpose()?;
                    m.target = m.target.as_deref().map(|t| ctx.expand(t)).transpose()?;
                    Ok(m)
                })
                .collect::<Result<Vec<_>, TemplateError>>()
        })
        .transpose()
        .map_err(|e| rejected("mounts", e))?;

    // Command replaces the image's entrypoint (Args then become its arguments); Args alone
    // replace the image's CMD.
    let command = spec.command.clone().filter(|c| !c.is_empty());
    let args = spec.args.clone().filter(|a| !a.is_empty());
    let (entrypoint, cmd) = match command {
        Some(command) => (Some(command), Some(args.unwrap_or_default())),
        None => (None, args),
    };

    let resources = task.spec.resources.as_ref();
    let limits = resources.and_then(|r| r.limits.as_ref());
    let reservations = resources.and_then(|r| r.reservations.as_ref());
    let dns = spec.dns_config.as_ref();
    let no_new_privileges = spec
        .privileges
        .as_ref()
        .and_then(|p| p.no_new_privileges)
        .unwrap_or(false);

    let (port_bindings, exposed_ports) = match host_ports(task) {
        Some((bindings, exposed)) => (Some(bindings), Some(exposed)),
        None => (None, None),
    };
    let host_config = HostConfig {
        port_bindings,
        // The orchestrator restarts tasks (as new tasks), never the engine.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        init: spec.init,
        mounts,
        nano_cpus: limits.and_then(|l| l.nano_cpus).filter(|n| *n > 0),
        memory: limits.and_then(|l| l.memory_bytes).filter(|m| *m > 0),
        pids_limit: limits.and_then(|l| l.pids).filter(|p| *p > 0),
        memory_reservation: reservations.and_then(|r| r.memory_bytes).filter(|m| *m > 0),
        cap_add: spec.capability_add.clone(),
        cap_drop: spec.capability_drop.clone(),
        sysctls: spec.sysctls.clone(),
        ulimits: spec.ulimits.clone(),
        readonly_rootfs: spec.read_only,
        extra_hosts: spec
            .hosts
            .as_deref()
            .map(extra_hosts)
            .filter(|h| !h.is_empty()),
        dns: dns.and_then(|d| d.nameservers.clone()),
        dns_search: dns.and_then(|d| d.search.clone()),
        dns_options: dns.and_then(|d| d.options.clone()),
        group_add: spec.groups.clone(),
        oom_score_adj: spec.oom_score_adj,
        security_opt: no_new_privileges.then(|| vec!["no-new-privileges".to_string()]),
        log_config: task.spec.log_driver.as_ref().and_then(|d| {
            d.name.clone().map(|name| HostConfigLogConfig {
                typ: Some(name),
                config: d.options.clone(),
            })
        }),
        ..Default::default()
    };

    Ok(ContainerCreateBody {
        image: Some(image),
        labels: Some(labels),
        env,
        hostname,
        entrypoint,
        cmd,
        working_dir: spec.dir.clone().filter(|d| !d.is_empty()),
        user: spec.user.clone().filter(|u| !u.is_empty()),
        tty: spec.tty,
        open_stdin: spec.open_stdin,
        stop_signal: spec.stop_signal.clone().filter(|s| !s.is_empty()),
        stop_timeout: Some(i64::try_from(stop_grace_period(task).as_secs()).unwrap_or(i64::MAX)),
        healthcheck: spec.health_check.clone(),
        exposed_ports,
        host_config: Some(host_config),
        ..Default::default()
    })
}

#[cfg(test)]
#[path = "container_config_tests.rs"]
mod tests;
