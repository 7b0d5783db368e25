//! `service update`, `scale` and `rollback`: GET the service, edit its spec, POST the whole
//! spec back with the version it was read at (reference §3.3, §3.4).

use super::fields;
use super::opts::UpdateConfigFlags;
use super::spec::tagged_image;
use super::{RollbackArgs, ScaleArgs, UpdateArgs};
use crate::client::{Client, Query, segment};
use crate::cmd::{emit, eprintln_safe, join_errors};
use crate::output::StatusError;
use crate::parse::key_value;
use crate::values::{self, get, str_at, u64_at};
use serde_json::{Value, json};

async fn fetch(client: &Client, service: &str) -> anyhow::Result<Value> {
    Ok(client
        .get_json(&format!("/services/{}", segment(service)))
        .await?)
}

/// Posts `spec` as the new spec of `service` (as read, for its ID and version) and prints
/// the daemon's warnings.
async fn post_update(
    client: &Client,
    service: &Value,
    spec: &Value,
    query: Query,
) -> anyhow::Result<()> {
    let path = query
        .push(
            "version",
            u64_at(service, &["Version", "Index"]).to_string(),
        )
        .to_path(&format!(
            "/services/{}/update",
            segment(str_at(service, &["ID"]))
        ));
    let resp: Value = client.post_json(&path, spec).await?;
    for w in resp
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        eprintln_safe(w);
    }
    Ok(())
}

pub(super) async fn update(client: &Client, a: UpdateArgs) -> anyhow::Result<()> {
    let service = fetch(client, &a.service).await?;
    let mut spec = get(&service, &["Spec"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut query = Query::new();
    if a.rollback {
        if has_other_flags(&a) {
            return Err(StatusError {
                code: 1,
                message: "other flags may not be combined with --rollback".into(),
            }
            .into());
        }
        query = query
            .push("registryAuthFrom", "spec")
            .push("rollback", "previous");
    } else {
        apply_update(&a, &mut spec).map_err(|m| StatusError {
            code: 1,
            message: m,
        })?;
        crate::cmd::secret::refs::apply(client, &a.refs, &mut spec).await?;
        query = query.push("registryAuthFrom", "spec");
    }
    post_update(client, &service, &spec, query).await?;
    emit(&format!("{}\n", a.service));
    if a.detach {
        return Ok(());
    }
    crate::progress::wait_on_service(client, &a.service, a.quiet).await
}

fn has_other_flags(a: &UpdateArgs) -> bool {
    a.image.is_some()
        || a.replicas.is_some()
        || !a.env_add.is_empty()
        || !a.env_rm.is_empty()
        || !a.label_add.is_empty()
        || !a.label_rm.is_empty()
        || !a.container_label_add.is_empty()
        || !a.container_label_rm.is_empty()
        || !a.constraint_add.is_empty()
        || !a.constraint_rm.is_empty()
        || !a.publish_add.is_empty()
        || !a.publish_rm.is_empty()
        || a.args.is_some()
        || a.force
        || a.update.any()
        || a.rollback_config.any()
        || a.task.any()
        || a.refs.any()
}

/// Applies the flags to a spec read from the daemon (docker's `updateService`, for the
/// flags shoal supports so far).
pub fn apply_update(a: &UpdateArgs, spec: &mut Value) -> Result<(), String> {
    let cs = ["TaskTemplate", "ContainerSpec"];
    if let Some(image) = &a.image {
        values::set(
            spec,
            &["TaskTemplate", "ContainerSpec", "Image"],
            json!(tagged_image(image)),
        );
    }
    if let Some(r) = a.replicas {
        match get(spec, &["Mode", "Replicated"]) {
            Some(v) if !v.is_null() => {
                values::set(spec, &["Mode", "Replicated", "Replicas"], json!(r))
            }
            _ => return Err("replicas can only be used with replicated mode".to_string()),
        }
    }
    edit_map(spec, &["Labels"], &a.label_add, &a.label_rm);
    edit_map(
        spec,
        &["TaskTemplate", "ContainerSpec", "Labels"],
        &a.container_label_add,
        &a.container_label_rm,
    );
    if !a.env_add.is_empty() || !a.env_rm.is_empty() {
        let mut env: Vec<String> = strings(spec, &[cs[0], cs[1], "Env"]);
        let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
        env.retain(|e| !a.env_rm.contains(&key(e)));
        for add in &a.env_add {
            let k = key(add);
            match env.iter_mut().find(|e| key(e) == k) {
                Some(slot) => *slot = add.clone(),
                None => env.push(add.clone()),
            }
        }
        values::set(spec, &["TaskTemplate", "ContainerSpec", "Env"], json!(env));
    }
    if !a.constraint_add.is_empty() || !a.constraint_rm.is_empty() {
        let mut c = strings(spec, &["TaskTemplate", "Placement", "Constraints"]);
        c.retain(|x| !a.constraint_rm.contains(x));
        for add in &a.constraint_add {
            if !c.contains(add) {
                c.push(add.clone());
            }
        }
        c.sort();
        values::set(
            spec,
            &["TaskTemplate", "Placement", "Constraints"],
            json!(c),
        );
    }
    if !a.publish_add.is_empty() || !a.publish_rm.is_empty() {
        let mut ports: Vec<Value> = get(spec, &["EndpointSpec", "Ports"])
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for rm in &a.publish_rm {
            let (target, proto) = match rm.split_once('/') {
                Some((t, p)) => (t.to_string(), p.to_string()),
                None => (rm.clone(), "tcp".to_string()),
            };
            ports.retain(|p| {
                !(u64_at(p, &["TargetPort"]).to_string() == target
                    && str_at(p, &["Protocol"]) == proto)
            });
        }
        for add in &a.publish_add {
            for p in fields::ports(add)? {
                let v = serde_json::to_value(&p).map_err(|e| e.to_string())?;
                ports.retain(|old| {
                    !(u64_at(old, &["PublishedPort"]) == u64_at(&v, &["PublishedPort"])
                        && u64_at(&v, &["PublishedPort"]) != 0
                        && str_at(old, &["Protocol"]) == str_at(&v, &["Protocol"]))
                });
                ports.push(v);
            }
        }
        values::set(spec, &["EndpointSpec", "Ports"], json!(ports));
    }
    if let Some(args) = &a.args {
        values::set(
            spec,
            &["TaskTemplate", "ContainerSpec", "Args"],
            json!(crate::parse::shell_words(args)?),
        );
    }
    a.task.apply(spec)?;
    merge_update_config(spec, "UpdateConfig", &a.update);
    merge_update_config(spec, "RollbackConfig", &a.rollback_config.as_update());
    if a.force {
        let n = u64_at(spec, &["TaskTemplate", "ForceUpdate"]);
        values::set(spec, &["TaskTemplate", "ForceUpdate"], json!(n + 1));
    }
    Ok(())
}

fn strings(v: &Value, path: &[&str]) -> Vec<String> {
    get(v, path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// docker's `updateLabels`: removals, then additions.
fn edit_map(spec: &mut Value, path: &[&str], add: &[String], rm: &[String]) {
    if add.is_empty() && rm.is_empty() {
        return;
    }
    let map = values::object_mut(spec, path);
    for k in rm {
        map.remove(k);
    }
    for kv in add {
        let (k, v) = key_value(kv);
        map.insert(k, json!(v));
    }
}

/// Only the given `--update-*`/`--rollback-*` flags change the config; a missing config
/// starts from swarmkit's defaults, as docker does.
fn merge_update_config(spec: &mut Value, key: &str, f: &UpdateConfigFlags) {
    if !f.any() {
        return;
    }
    let cfg = values::object_mut(spec, &[key]);
    if cfg.is_empty() {
        cfg.insert("Parallelism".into(), json!(1));
        cfg.insert("FailureAction".into(), json!("pause"));
        cfg.insert("Monitor".into(), json!(5_000_000_000i64));
        cfg.insert("MaxFailureRatio".into(), json!(0));
        cfg.insert("Order".into(), json!("stop-first"));
    }
    if let Some(p) = f.parallelism {
        cfg.insert("Parallelism".into(), json!(p));
    }
    if let Some(d) = f.delay {
        cfg.insert("Delay".into(), json!(d));
    }
    if let Some(fa) = &f.failure_action {
        cfg.insert("FailureAction".into(), json!(fa));
    }
    if let Some(m) = f.monitor {
        cfg.insert("Monitor".into(), json!(m));
    }
    if let Some(r) = f.max_failure_ratio {
        cfg.insert("MaxFailureRatio".into(), json!(r));
    }
    if let Some(o) = &f.order {
        cfg.insert("Order".into(), json!(o));
    }
}

pub(super) async fn scale(client: &Client, a: ScaleArgs) -> anyhow::Result<()> {
    let mut errs: Vec<anyhow::Error> = Vec::new();
    let mut scaled = Vec::new();
    for arg in &a.services {
        let Some((name, n)) = arg.split_once('=') else {
            return Err(StatusError {
                code: 1,
                message: format!(
                    "invalid scale specifier '{arg}'.\nSee 'docker service scale --help'."
                ),
            }
            .into());
        };
        let replicas: u64 = match n.parse() {
            Ok(r) => r,
            Err(e) => {
                errs.push(anyhow::anyhow!("{name}: invalid replicas value {n}: {e}"));
                continue;
            }
        };
        match scale_one(client, name, replicas).await {
            Ok(()) => {
                emit(&format!("{name} scaled to {replicas}\n"));
                scaled.push(name.to_string());
            }
            Err(e) => errs.push(anyhow::anyhow!("{name}: {}", crate::cmd::error_text(&e))),
        }
    }
    if !a.detach {
        for name in &scaled {
            if let Err(e) = crate::progress::wait_on_service(client, name, false).await {
                errs.push(anyhow::anyhow!("{name}: {}", crate::cmd::error_text(&e)));
            }
        }
    }
    join_errors(errs)
}

async fn scale_one(client: &Client, name: &str, replicas: u64) -> anyhow::Result<()> {
    let service = fetch(client, name).await?;
    let mut spec = get(&service, &["Spec"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    if get(&spec, &["Mode", "Replicated"]).is_some_and(|v| !v.is_null()) {
        values::set(
            &mut spec,
            &["Mode", "Replicated", "Replicas"],
            json!(replicas),
        );
    } else if get(&spec, &["Mode", "ReplicatedJob"]).is_some_and(|v| !v.is_null()) {
        values::set(
            &mut spec,
            &["Mode", "ReplicatedJob", "TotalCompletions"],
            json!(replicas),
        );
    } else {
        anyhow::bail!("scale can only be used with replicated or replicated-job mode");
    }
    post_update(client, &service, &spec, Query::new()).await
}

pub(super) async fn rollback(client: &Client, a: RollbackArgs) -> anyhow::Result<()> {
    let service = fetch(client, &a.service).await?;
    let spec = get(&service, &["Spec"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    post_update(
        client,
        &service,
        &spec,
        Query::new().push("rollback", "previous"),
    )
    .await?;
    emit(&format!("{}\n", a.service));
    if a.detach {
        return Ok(());
    }
    crate::progress::wait_on_service(client, &a.service, a.quiet).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: UpdateArgs,
    }

    fn args(v: &[&str]) -> UpdateArgs {
        let mut all = vec!["t"];
        all.extend_from_slice(v);
        T::try_parse_from(all).expect("valid").a
    }

    #[test]
    fn update_edits_only_what_was_asked() {
        let mut spec = json!({
            "Name": "web", "Labels": {"a": "1", "b": "2"},
            "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.25", "Env": ["A=1", "B=2"], "Init": false}, "ForceUpdate": 0},
            "Mode": {"Replicated": {"Replicas": 1}},
            "Unknown": {"kept": true}
        });
        let a = args(&[
            "--image",
            "nginx",
            "--replicas",
            "3",
            "--env-add",
            "B=3",
            "--env-add",
            "C=4",
            "--env-rm",
            "A",
            "--label-rm",
            "a",
            "--label-add",
            "c=3",
            "--args",
            "sh -c 'sleep 1'",
            "--force",
            "--update-parallelism",
            "2",
            "web",
        ]);
        apply_update(&a, &mut spec).expect("valid");
        assert_eq!(
            spec,
            json!({
                "Name": "web", "Labels": {"b": "2", "c": "3"},
                "TaskTemplate": {"ContainerSpec": {"Image": "nginx:latest", "Env": ["B=3", "C=4"], "Init": false,
                                                   "Args": ["sh", "-c", "sleep 1"]}, "ForceUpdate": 1},
                "Mode": {"Replicated": {"Replicas": 3}},
                "UpdateConfig": {"Parallelism": 2, "FailureAction": "pause", "Monitor": 5_000_000_000i64, "MaxFailureRatio": 0, "Order": "stop-first"},
                "Unknown": {"kept": true}
            })
        );
    }

    #[test]
    fn replicas_need_replicated_mode() {
        let mut spec = json!({"Mode": {"Global": {}}});
        assert!(apply_update(&args(&["--replicas", "2", "x"]), &mut spec).is_err());
    }
}
