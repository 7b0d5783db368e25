//! Folding several `-c` files into one project, as `docker compose -f a.yml -f b.yml config`
//! does: the later file overrides the earlier one.
//!
//! | key | rule |
//! |---|---|
//! | scalars (`image`, `user`, `init`, durations, …) | later value wins when set |
//! | `command`, `entrypoint`, `healthcheck.test` | replaced as a whole |
//! | `environment`, `labels`, `sysctls`, `deploy.labels`, `logging.options`, `ulimits` | merged key by key |
//! | `ports` | merged by target port and protocol (a later `9090:80` replaces `8080:80`) |
//! | `volumes` | merged by target path |
//! | `secrets`, `configs` | merged by target file (`target`, else the source name) |
//! | `networks` (of a service) | merged by network name; an entry is replaced whole |
//! | `env_file`, `dns`, `dns_search`, `cap_add`, `cap_drop`, `tmpfs`, `extra_hosts`, placement `constraints` and `preferences` | union, earlier entries first, duplicates dropped (compose v2's unique-key rule) |
//! | `deploy`, `healthcheck`, `resources`, `restart_policy`, `update_config`, `rollback_config`, `placement` | merged field by field |
//! | `logging` | options merged when the driver is the same or not given, else replaced |
//! | top-level `networks`, `volumes`, `secrets`, `configs` | merged by name; a definition is replaced whole (docker/cli) |

use std::collections::BTreeMap;

use crate::model::{
    Compose, Deploy, FileRef, Healthcheck, Logging, Placement, ResourceLimits,
    ResourceReservations, Resources, RestartPolicy, Service, ServicePort, ServiceVolume,
    UpdateConfig,
};

/// Merges `over` onto `base`.
pub fn merge(mut base: Compose, over: Compose) -> Compose {
    base.version = over.version.or(base.version);
    base.name = over.name.or(base.name);
    for (name, service) in over.services {
        let merged = match base.services.remove(&name) {
            Some(b) => merge_service(b, service),
            None => service,
        };
        base.services.insert(name, merged);
    }
    base.extras.merge(over.extras);
    base.networks.extend(over.networks);
    base.volumes.extend(over.volumes);
    base.secrets.extend(over.secrets);
    base.configs.extend(over.configs);
    for w in over.warnings {
        if !base.warnings.contains(&w) {
            base.warnings.push(w);
        }
    }
    base
}

fn union(mut base: Vec<String>, over: Vec<String>) -> Vec<String> {
    for item in over {
        if !base.contains(&item) {
            base.push(item);
        }
    }
    base
}

/// Replaces the entries of `base` whose key matches an entry of `over`, in place, and
/// appends the others.
fn merge_by<T, K: PartialEq>(mut base: Vec<T>, over: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    for item in over {
        match base.iter().position(|b| key(b) == key(&item)) {
            Some(i) => base[i] = item,
            None => base.push(item),
        }
    }
    base
}

fn merge_opt<T>(base: Option<T>, over: Option<T>, f: impl FnOnce(T, T) -> T) -> Option<T> {
    match (base, over) {
        (Some(b), Some(o)) => Some(f(b, o)),
        (b, o) => o.or(b),
    }
}

fn extend<K: Ord, V>(mut base: BTreeMap<K, V>, over: BTreeMap<K, V>) -> BTreeMap<K, V> {
    base.extend(over);
    base
}

fn port_key(p: &ServicePort) -> (u32, String) {
    (p.target, p.protocol.clone().unwrap_or_else(|| "tcp".into()))
}

fn volume_key(v: &ServiceVolume) -> String {
    v.target.clone()
}

/// docker prints (and mounts) the volumes of a service defined in several files sorted by
/// target path; a single file keeps its order.
fn sorted_by_target(mut volumes: Vec<ServiceVolume>) -> Vec<ServiceVolume> {
    volumes.sort_by(|a, b| a.target.cmp(&b.target));
    volumes
}

fn file_key(f: &FileRef) -> String {
    f.effective_target().to_string()
}

fn merge_service(b: Service, o: Service) -> Service {
    Service {
        image: o.image.or(b.image),
        command: o.command.or(b.command),
        entrypoint: o.entrypoint.or(b.entrypoint),
        environment: extend(b.environment, o.environment),
        env_file: union(b.env_file, o.env_file),
        labels: extend(b.labels, o.labels),
        hostname: o.hostname.or(b.hostname),
        user: o.user.or(b.user),
        working_dir: o.working_dir.or(b.working_dir),
        init: o.init.or(b.init),
        stop_signal: o.stop_signal.or(b.stop_signal),
        stop_grace_period: o.stop_grace_period.or(b.stop_grace_period),
        healthcheck: merge_opt(b.healthcheck, o.healthcheck, merge_healthcheck),
        secrets: merge_by(b.secrets, o.secrets, file_key),
        configs: merge_by(b.configs, o.configs, file_key),
        ports: merge_by(b.ports, o.ports, port_key),
        networks: extend(b.networks, o.networks),
        volumes: sorted_by_target(merge_by(b.volumes, o.volumes, volume_key)),
        tmpfs: union(b.tmpfs, o.tmpfs),
        sysctls: extend(b.sysctls, o.sysctls),
        ulimits: extend(b.ulimits, o.ulimits),
        cap_add: union(b.cap_add, o.cap_add),
        cap_drop: union(b.cap_drop, o.cap_drop),
        extra_hosts: union(b.extra_hosts, o.extra_hosts),
        dns: union(b.dns, o.dns),
        dns_search: union(b.dns_search, o.dns_search),
        logging: merge_opt(b.logging, o.logging, merge_logging),
        deploy: merge_opt(b.deploy, o.deploy, merge_deploy),
        tty: o.tty.or(b.tty),
        stdin_open: o.stdin_open.or(b.stdin_open),
        read_only: o.read_only.or(b.read_only),
        restart: o.restart.or(b.restart),
    }
}

fn merge_healthcheck(b: Healthcheck, o: Healthcheck) -> Healthcheck {
    Healthcheck {
        test: o.test.or(b.test),
        interval: o.interval.or(b.interval),
        timeout: o.timeout.or(b.timeout),
        retries: o.retries.or(b.retries),
        start_period: o.start_period.or(b.start_period),
        start_interval: o.start_interval.or(b.start_interval),
        disable: o.disable.or(b.disable),
    }
}

fn merge_logging(b: Logging, o: Logging) -> Logging {
    if o.driver.is_none() || o.driver == b.driver {
        Logging {
            driver: b.driver,
            options: extend(b.options, o.options),
        }
    } else {
        o
    }
}

fn merge_deploy(b: Deploy, o: Deploy) -> Deploy {
    Deploy {
        mode: o.mode.or(b.mode),
        replicas: o.replicas.or(b.replicas),
        endpoint_mode: o.endpoint_mode.or(b.endpoint_mode),
        labels: extend(b.labels, o.labels),
        placement: merge_opt(b.placement, o.placement, |b, o| Placement {
            constraints: union(b.constraints, o.constraints),
            preferences: merge_by(b.preferences, o.preferences, |p| p.spread.clone()),
            max_replicas_per_node: o.max_replicas_per_node.or(b.max_replicas_per_node),
        }),
        resources: merge_opt(b.resources, o.resources, |b, o| Resources {
            limits: merge_opt(b.limits, o.limits, |b, o| ResourceLimits {
                cpus: o.cpus.or(b.cpus),
                memory: o.memory.or(b.memory),
                pids: o.pids.or(b.pids),
            }),
            reservations: merge_opt(b.reservations, o.reservations, |b, o| {
                ResourceReservations {
                    cpus: o.cpus.or(b.cpus),
                    memory: o.memory.or(b.memory),
                }
            }),
        }),
        restart_policy: merge_opt(b.restart_policy, o.restart_policy, |b, o| RestartPolicy {
            condition: o.condition.or(b.condition),
            delay: o.delay.or(b.delay),
            max_attempts: o.max_attempts.or(b.max_attempts),
            window: o.window.or(b.window),
        }),
        update_config: merge_opt(b.update_config, o.update_config, merge_update),
        rollback_config: merge_opt(b.rollback_config, o.rollback_config, merge_update),
    }
}

fn merge_update(b: UpdateConfig, o: UpdateConfig) -> UpdateConfig {
    UpdateConfig {
        parallelism: o.parallelism.or(b.parallelism),
        delay: o.delay.or(b.delay),
        failure_action: o.failure_action.or(b.failure_action),
        monitor: o.monitor.or(b.monitor),
        max_failure_ratio: o.max_failure_ratio.or(b.max_failure_ratio),
        order: o.order.or(b.order),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::loader::{ComposeFile, load};
    use crate::model::Compose;

    fn load_two(a: &str, b: &str) -> Compose {
        let files = [
            ComposeFile {
                name: "a.yml".into(),
                content: a.into(),
            },
            ComposeFile {
                name: "b.yml".into(),
                content: b.into(),
            },
        ];
        load(&files, Path::new("/p"), &|_| None, &|_| Ok(String::new())).unwrap()
    }

    const BASE: &str = r#"
services:
  web:
    image: nginx:1.26
    command: nginx -g "daemon off;"
    environment: {A: "1", B: "2"}
    labels: [x=1]
    ports: ["8080:80", "443:443"]
    volumes: ["data:/data", "./conf:/etc/conf:ro"]
    secrets: [tls, {source: key, target: app.key}]
    dns: [1.1.1.1]
    cap_add: [NET_ADMIN]
    networks: [front]
    deploy:
      replicas: 2
      placement: {constraints: ["node.role == worker"]}
      update_config: {parallelism: 2, delay: 5s}
    healthcheck: {test: ["CMD", "true"], interval: 10s}
  db:
    image: postgres:16
volumes: {data: {}}
secrets: {tls: {file: a}, key: {file: b}, other: {file: c}}
networks: {front: {}, back: {}}
"#;

    const OVERRIDE: &str = r#"
services:
  web:
    image: nginx:1.27
    command: ["nginx", "-T"]
    environment: [B=3, C=4]
    labels: {y: "2"}
    ports: ["9090:80"]
    volumes: [{type: volume, source: data, target: /data, read_only: true}]
    secrets: [{source: other, target: app.key}]
    dns: [1.1.1.1, 8.8.8.8]
    cap_add: [SYS_TIME]
    networks: {back: {aliases: [api]}}
    deploy:
      replicas: 3
      placement: {constraints: ["node.labels.ssd == true"]}
      update_config: {order: start-first}
    healthcheck: {test: "true"}
"#;

    #[test]
    fn two_files_merge_as_docker_compose_config_does() {
        let project = load_two(BASE, OVERRIDE);
        let web = &project.services["web"];
        assert_eq!(web.image.as_deref(), Some("nginx:1.27"));
        assert_eq!(
            web.command,
            Some(vec!["nginx".to_string(), "-T".to_string()])
        );
        let env: Vec<(&str, &str)> = web
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(env, vec![("A", "1"), ("B", "3"), ("C", "4")]);
        assert_eq!(web.labels.len(), 2);

        let ports: Vec<(Option<u32>, u32)> =
            web.ports.iter().map(|p| (p.published, p.target)).collect();
        assert_eq!(ports, vec![(Some(9090), 80), (Some(443), 443)]);

        let volumes: Vec<(&str, bool)> = web
            .volumes
            .iter()
            .map(|v| (v.target.as_str(), v.read_only))
            .collect();
        assert_eq!(volumes, vec![("/data", true), ("/etc/conf", true)]);
        assert_eq!(web.volumes[0].kind, "volume");

        let secrets: Vec<(&str, &str)> = web
            .secrets
            .iter()
            .map(|s| (s.source.as_str(), s.effective_target()))
            .collect();
        assert_eq!(secrets, vec![("tls", "tls"), ("other", "app.key")]);

        assert_eq!(web.dns, vec!["1.1.1.1", "8.8.8.8"]);
        assert_eq!(web.cap_add, vec!["NET_ADMIN", "SYS_TIME"]);
        assert_eq!(web.networks.len(), 2);
        assert_eq!(web.networks["back"].aliases, vec!["api"]);

        let deploy = web.deploy.as_ref().unwrap();
        assert_eq!(deploy.replicas, Some(3));
        assert_eq!(
            deploy.placement.as_ref().unwrap().constraints,
            vec!["node.role == worker", "node.labels.ssd == true"]
        );
        let update = deploy.update_config.as_ref().unwrap();
        assert_eq!(
            (update.parallelism, update.order.as_deref()),
            (Some(2), Some("start-first"))
        );
        let health = web.healthcheck.as_ref().unwrap();
        assert_eq!(
            health.test,
            Some(vec!["CMD-SHELL".to_string(), "true".to_string()])
        );
        assert!(health.interval.is_some());

        assert_eq!(project.services["db"].image.as_deref(), Some("postgres:16"));
    }

    #[test]
    fn entrypoint_is_replaced_and_logging_options_merge_for_the_same_driver() {
        let a = "services:\n  s:\n    image: x\n    entrypoint: [a, b]\n    logging: {driver: json-file, options: {max-size: 10m}}\n";
        let b = "services:\n  s:\n    entrypoint: c\n    logging: {options: {max-file: \"3\"}}\n";
        let project = load_two(a, b);
        let s = &project.services["s"];
        assert_eq!(s.entrypoint, Some(vec!["c".to_string()]));
        let logging = s.logging.as_ref().unwrap();
        assert_eq!(logging.driver.as_deref(), Some("json-file"));
        assert_eq!(logging.options.len(), 2);
    }
}
