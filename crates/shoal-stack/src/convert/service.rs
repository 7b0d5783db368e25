//! One compose service → a `ServiceSpec` (docker/cli `convert/service.go`).
//!
//! Where docker/cli leaves a field at its Go zero value with `omitempty`, the spec leaves it
//! `None`, so the JSON matches what `docker stack deploy` sends.

use std::collections::HashMap;
use std::str::FromStr;

use shoal_types::api::{
    HealthConfig, NetworkAttachmentConfig, ResourcesUlimits, ServiceSpec, TaskSpec,
    TaskSpecContainerSpec, TaskSpecContainerSpecConfigs, TaskSpecContainerSpecDnsConfig,
    TaskSpecContainerSpecFile, TaskSpecContainerSpecFile1, TaskSpecContainerSpecPrivileges,
    TaskSpecContainerSpecSecrets, TaskSpecLogDriver,
};

use super::mounts::convert_mounts;
use super::scheduling::{
    endpoint, mode, placement, resources, restart_policy, rollback_config, update_config,
};
use super::{DEFAULT_NETWORK, LABEL_IMAGE, scoped, with_stack_label};
use crate::error::ConvertError;
use crate::model::{Compose, FileRef, Healthcheck, Service};

/// Secret and config files are world-readable by default, as in docker/cli (0o444).
const DEFAULT_FILE_MODE: u32 = 0o444;

/// The service being converted, for names and errors.
pub(super) struct Ctx<'a> {
    pub(super) stack: &'a str,
    pub(super) name: &'a str,
}

impl Ctx<'_> {
    pub(super) fn invalid(&self, field: &str, value: &str, expected: &str) -> ConvertError {
        ConvertError::InvalidValue {
            service: self.name.to_string(),
            field: field.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// Parses one of `allowed` into an Engine API enum.
    pub(super) fn pick<T: FromStr>(
        &self,
        field: &str,
        value: &str,
        allowed: &[&str],
    ) -> Result<T, ConvertError> {
        let expected = format!("one of {}", allowed.join(", "));
        if !allowed.contains(&value) {
            return Err(self.invalid(field, value, &expected));
        }
        value
            .parse()
            .map_err(|_| self.invalid(field, value, &expected))
    }
}

pub(super) fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

pub(super) fn nonzero(ns: Option<i64>) -> Option<i64> {
    ns.filter(|&n| n != 0)
}

pub(super) fn convert_service(
    stack: &str,
    name: &str,
    svc: &Service,
    project: &Compose,
) -> Result<ServiceSpec, ConvertError> {
    let cx = Ctx { stack, name };
    let image = svc
        .image
        .clone()
        .ok_or_else(|| ConvertError::MissingImage {
            service: name.to_string(),
        })?;
    let deploy = svc.deploy.clone().unwrap_or_default();
    let mut labels = with_stack_label(stack, &deploy.labels);
    labels.insert(LABEL_IMAGE.to_string(), image.clone());
    let (cap_add, cap_drop) = effective_caps(&svc.cap_add, &svc.cap_drop);

    let container = TaskSpecContainerSpec {
        image: Some(image),
        labels: Some(with_stack_label(stack, &svc.labels)),
        // docker/cli leaves an empty list out (`command: []` is no override), as it does
        // when printing.
        command: svc.entrypoint.clone().filter(|c| !c.is_empty()),
        args: svc.command.clone().filter(|c| !c.is_empty()),
        hostname: svc.hostname.clone(),
        env: non_empty(environment(svc)),
        dir: svc.working_dir.clone(),
        user: svc.user.clone(),
        privileges: Some(TaskSpecContainerSpecPrivileges {
            no_new_privileges: Some(false),
            ..TaskSpecContainerSpecPrivileges::default()
        }),
        // docker/cli sends these as plain booleans left out when false: `tty: false` and
        // no `tty` give the same spec (and `stack config` prints neither).
        tty: svc.tty.filter(|on| *on),
        open_stdin: svc.stdin_open.filter(|on| *on),
        read_only: svc.read_only.filter(|on| *on),
        mounts: non_empty(convert_mounts(
            stack,
            name,
            &svc.volumes,
            &svc.tmpfs,
            project,
        )?),
        stop_signal: svc.stop_signal.clone(),
        stop_grace_period: svc.stop_grace_period.map(|d| d.0),
        health_check: svc
            .healthcheck
            .as_ref()
            .map(|h| healthcheck(&cx, h))
            .transpose()?,
        hosts: non_empty(
            svc.extra_hosts
                .iter()
                .filter_map(|h| host_entry(h))
                .collect(),
        ),
        dns_config: (!svc.dns.is_empty() || !svc.dns_search.is_empty()).then(|| {
            TaskSpecContainerSpecDnsConfig {
                nameservers: non_empty(svc.dns.clone()),
                search: non_empty(svc.dns_search.clone()),
                options: None,
            }
        }),
        secrets: non_empty(secrets(&cx, &svc.secrets, project)?),
        configs: non_empty(configs(&cx, &svc.configs, project)?),
        init: svc.init,
        sysctls: (!svc.sysctls.is_empty()).then(|| svc.sysctls.clone().into_iter().collect()),
        capability_add: non_empty(cap_add),
        capability_drop: non_empty(cap_drop),
        ulimits: non_empty(
            svc.ulimits
                .iter()
                .map(|(n, u)| {
                    let (soft, hard) = u.limits();
                    ResourcesUlimits {
                        name: Some(n.clone()),
                        soft: Some(soft),
                        hard: Some(hard),
                    }
                })
                .collect(),
        ),
        ..TaskSpecContainerSpec::default()
    };

    let task = TaskSpec {
        container_spec: Some(container),
        resources: Some(resources(&cx, &deploy)?),
        restart_policy: restart_policy(&cx, svc, &deploy)?,
        placement: Some(placement(&deploy)),
        force_update: Some(0),
        networks: Some(networks(&cx, svc, project)?),
        log_driver: svc.logging.as_ref().map(|l| TaskSpecLogDriver {
            name: l.driver.clone(),
            options: (!l.options.is_empty()).then(|| l.options.clone().into_iter().collect()),
        }),
        ..TaskSpec::default()
    };

    Ok(ServiceSpec {
        name: Some(scoped(stack, name)),
        labels: Some(labels),
        task_template: Some(task),
        mode: Some(mode(&cx, &deploy)?),
        update_config: deploy
            .update_config
            .as_ref()
            .map(|u| update_config(&cx, "deploy.update_config", u))
            .transpose()?,
        rollback_config: deploy
            .rollback_config
            .as_ref()
            .map(|u| rollback_config(&cx, u))
            .transpose()?,
        endpoint_spec: Some(endpoint(&cx, svc, &deploy)?),
        ..ServiceSpec::default()
    })
}

/// `KEY=VALUE` (or bare `KEY` when unresolved), sorted.
fn environment(svc: &Service) -> Vec<String> {
    let mut env: Vec<String> = svc
        .environment
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();
    env.sort();
    env
}

/// `host:ip` (or `host=ip`) → the `/etc/hosts` order `ip host`.
fn host_entry(entry: &str) -> Option<String> {
    let (host, ip) = entry.split_once('=').or_else(|| entry.split_once(':'))?;
    Some(format!("{ip} {host}"))
}

/// docker/cli `EffectiveCapAddCapDrop`: upper case, `CAP_` prefix, `ALL` wins, an added
/// capability is not also dropped; sorted and unique.
fn effective_caps(add: &[String], drop: &[String]) -> (Vec<String>, Vec<String>) {
    fn normalize(caps: &[String]) -> Vec<String> {
        let mut out: Vec<String> = caps
            .iter()
            .map(|c| {
                let c = c.trim().to_ascii_uppercase();
                if c == "ALL" || c.starts_with("CAP_") {
                    c
                } else {
                    format!("CAP_{c}")
                }
            })
            .collect();
        out.sort();
        out.dedup();
        if out.iter().any(|c| c == "ALL") {
            out = vec!["ALL".to_string()];
        }
        out
    }
    let add = normalize(add);
    let drop = normalize(drop)
        .into_iter()
        .filter(|c| !add.contains(c))
        .collect();
    (add, drop)
}

fn healthcheck(cx: &Ctx<'_>, h: &Healthcheck) -> Result<HealthConfig, ConvertError> {
    if h.disable == Some(true) {
        if h.test.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(ConvertError::HealthcheckTestAndDisable {
                service: cx.name.to_string(),
            });
        }
        return Ok(HealthConfig {
            test: Some(vec!["NONE".to_string()]),
            ..HealthConfig::default()
        });
    }
    Ok(HealthConfig {
        test: h.test.clone(),
        interval: nonzero(h.interval.map(|d| d.0)),
        timeout: nonzero(h.timeout.map(|d| d.0)),
        retries: h
            .retries
            .and_then(|r| i64::try_from(r).ok())
            .filter(|&r| r != 0),
        start_period: nonzero(h.start_period.map(|d| d.0)),
        start_interval: nonzero(h.start_interval.map(|d| d.0)),
    })
}

/// The resolved name of a secret or config and its file target.
fn file_target(
    cx: &Ctx<'_>,
    r: &FileRef,
    def_name: Option<&str>,
) -> (String, String, String, String, u32) {
    let full = def_name
        .map(str::to_string)
        .unwrap_or_else(|| scoped(cx.stack, &r.source));
    (
        full,
        r.effective_target().to_string(),
        r.uid.clone().unwrap_or_else(|| "0".into()),
        r.gid.clone().unwrap_or_else(|| "0".into()),
        r.mode.unwrap_or(DEFAULT_FILE_MODE),
    )
}

fn secrets(
    cx: &Ctx<'_>,
    refs: &[FileRef],
    project: &Compose,
) -> Result<Vec<TaskSpecContainerSpecSecrets>, ConvertError> {
    let mut out = Vec::new();
    for r in refs {
        let def = project
            .secrets
            .get(&r.source)
            .ok_or_else(|| ConvertError::UndefinedSecret {
                service: cx.name.to_string(),
                secret: r.source.clone(),
            })?;
        let (full, target, uid, gid, mode) = file_target(cx, r, def.name.as_deref());
        out.push(TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(target),
                uid: Some(uid),
                gid: Some(gid),
                mode: Some(mode),
            }),
            secret_id: Some(String::new()),
            secret_name: Some(full),
        });
    }
    out.sort_by(|a, b| a.secret_name.cmp(&b.secret_name));
    Ok(out)
}

fn configs(
    cx: &Ctx<'_>,
    refs: &[FileRef],
    project: &Compose,
) -> Result<Vec<TaskSpecContainerSpecConfigs>, ConvertError> {
    let mut out = Vec::new();
    for r in refs {
        let def = project
            .configs
            .get(&r.source)
            .ok_or_else(|| ConvertError::UndefinedConfig {
                service: cx.name.to_string(),
                config: r.source.clone(),
            })?;
        let (full, target, uid, gid, mode) = file_target(cx, r, def.name.as_deref());
        out.push(TaskSpecContainerSpecConfigs {
            file: Some(TaskSpecContainerSpecFile1 {
                name: Some(target),
                uid: Some(uid),
                gid: Some(gid),
                mode: Some(mode),
            }),
            runtime: None,
            config_id: Some(String::new()),
            config_name: Some(full),
        });
    }
    out.sort_by(|a, b| a.config_name.cmp(&b.config_name));
    Ok(out)
}

/// Attachments sorted by target; the service name is an alias on user-defined networks.
fn networks(
    cx: &Ctx<'_>,
    svc: &Service,
    project: &Compose,
) -> Result<Vec<NetworkAttachmentConfig>, ConvertError> {
    let default = [(DEFAULT_NETWORK.to_string(), Default::default())].into();
    let attached = if svc.networks.is_empty() {
        &default
    } else {
        &svc.networks
    };
    let mut out = Vec::new();
    for (key, net) in attached {
        let def = project.networks.get(key);
        if def.is_none() && key != DEFAULT_NETWORK {
            return Err(ConvertError::UndefinedNetwork {
                service: cx.name.to_string(),
                network: key.clone(),
            });
        }
        let target = def
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| scoped(cx.stack, key));
        let mut aliases = net.aliases.clone();
        let predefined = ["default", "bridge", "host", "none"].contains(&target.as_str())
            || target.starts_with("container:");
        if !predefined {
            aliases.push(cx.name.to_string());
        }
        out.push(NetworkAttachmentConfig {
            target: Some(target),
            aliases: non_empty(aliases),
            driver_opts: (!net.driver_opts.is_empty()).then(|| {
                net.driver_opts
                    .clone()
                    .into_iter()
                    .collect::<HashMap<_, _>>()
            }),
        });
    }
    out.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(out)
}
