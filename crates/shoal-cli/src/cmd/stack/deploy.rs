//! `stack deploy` and `stack config`: load the compose files with `shoal-stack`, then make
//! the same Engine API calls as `docker stack deploy` (reference §3.2): check the node is a
//! manager, prune, check external networks, create missing networks, create or update
//! secrets and configs, resolve their ids, create or update services.

use super::plan::{
    pin_image, prepare_update, referenced, set_reference_ids, stale_services, tag_image,
};
use super::{DeployArgs, ResolveImage, labels_json, stack_objects, validate_name};
use crate::client::{Client, Query, segment};
use crate::cmd::{emit, eprintln_safe, error_text, join_errors};
use crate::output::StatusError;
use crate::values::{str_at, u64_at};
use anyhow::Context;
use base64::Engine;
use serde_json::{Value, json};
use shoal_stack::{Compose, FileObjectPlan, ObjectSource, StackPlan};
use shoal_types::api::ServiceSpec;
use std::collections::{BTreeSet, HashMap};

/// docker's error when the node cannot manage the swarm.
const NOT_A_MANAGER: &str = "this node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again";

/// What docker prints when `--detach` is not given.
const DETACH_NOTICE: &str = "Since --detach=false was not specified, tasks will be created in the background.\nIn a future release, --detach=false will become the default.";

fn load(files: &[std::path::PathBuf]) -> Result<Compose, StatusError> {
    let env = |k: &str| std::env::var(k).ok();
    shoal_stack::load_files(files, &env).map_err(|e| StatusError {
        code: 1,
        message: e.to_string(),
    })
}

/// `stack config`: the merged, interpolated project as YAML.
pub(super) fn config(a: super::ConfigArgs) -> anyhow::Result<()> {
    let project = load(&a.compose_files)?;
    emit(&shoal_stack::render_config(&project));
    Ok(())
}

pub(super) async fn deploy(client: &Client, a: DeployArgs) -> anyhow::Result<()> {
    validate_name(&a.stack)?;
    let project = load(&a.compose_files)?;
    let plan = shoal_stack::convert(&a.stack, &project).map_err(|e| StatusError {
        code: 1,
        message: e.to_string(),
    })?;
    for w in &plan.warnings {
        eprintln_safe(&format!("{w}\n"));
    }
    if a.detach.is_none() {
        eprintln_safe(DETACH_NOTICE);
    }
    let info: Value = client.get_json("/info").await?;
    if !info["Swarm"]["ControlAvailable"].as_bool().unwrap_or(false) {
        return Err(StatusError {
            code: 1,
            message: NOT_A_MANAGER.into(),
        }
        .into());
    }
    if a.prune {
        prune(client, &a.stack, &plan).await;
    }
    networks(client, &a.stack, &plan).await?;
    file_objects(client, "secret", &plan.secrets).await?;
    file_objects(client, "config", &plan.configs).await?;
    let secret_ids = ids_by_name(client, "/secrets", &referenced(&plan.services, false)).await?;
    let config_ids = ids_by_name(client, "/configs", &referenced(&plan.services, true)).await?;
    let mut specs = Vec::new();
    for (name, mut spec) in plan.services.clone() {
        set_reference_ids(&mut spec, &secret_ids, &config_ids)
            .map_err(|message| StatusError { code: 1, message })?;
        specs.push((name, spec));
    }
    let ids = services(client, &a, specs).await?;
    if a.detach != Some(false) {
        return Ok(());
    }
    let mut errs = Vec::new();
    for id in ids {
        if let Err(e) = crate::progress::wait_on_service(client, &id, a.quiet).await {
            errs.push(anyhow::anyhow!("{id}: {}", error_text(&e)));
        }
    }
    join_errors(errs)
}

/// `--prune`: remove the stack's services the files no longer name (failures are reported,
/// not fatal, as docker does).
async fn prune(client: &Client, stack: &str, plan: &StackPlan) {
    let existing = match stack_objects(client, "/services", stack).await {
        Ok(s) => s,
        Err(e) => {
            eprintln_safe(&format!("Failed to list services: {}", error_text(&e)));
            return;
        }
    };
    let wanted: BTreeSet<String> = plan.services.iter().map(|(n, _)| n.clone()).collect();
    let mut stale = stale_services(&existing, &wanted);
    stale.sort_by_key(|s| str_at(s, &["Spec", "Name"]).to_string());
    for s in stale {
        let name = str_at(s, &["Spec", "Name"]);
        emit(&format!("Removing service {name}\n"));
        let id = str_at(s, &["ID"]);
        if let Err(e) = client.delete(&format!("/services/{}", segment(id))).await {
            eprintln_safe(&format!("Failed to remove service {id}: {e}"));
        }
    }
}

/// Checks external networks, then creates the stack's missing ones.
async fn networks(client: &Client, stack: &str, plan: &StackPlan) -> anyhow::Result<()> {
    for (name, _) in plan.networks.iter().filter(|(_, n)| n.external) {
        match client
            .get_json::<Value>(&format!("/networks/{}", segment(name)))
            .await
        {
            Err(e) if e.is_not_found() => anyhow::bail!(StatusError {
                code: 1,
                message: format!(
                    "network {name:?} is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed"
                ),
            }),
            Err(e) => return Err(e.into()),
            Ok(found) if str_at(&found, &["Scope"]) != "swarm" => anyhow::bail!(StatusError {
                code: 1,
                message: format!(
                    "network {name:?} is declared as external, but it is not in the right scope: {:?} instead of \"swarm\"",
                    str_at(&found, &["Scope"])
                ),
            }),
            Ok(_) => {}
        }
    }
    let existing: BTreeSet<String> = stack_objects(client, "/networks", stack)
        .await?
        .iter()
        .map(|n| str_at(n, &["Name"]).to_string())
        .collect();
    for (name, net) in plan.networks.iter().filter(|(_, n)| !n.external) {
        if existing.contains(name) {
            continue;
        }
        emit(&format!("Creating network {name}\n"));
        client
            .post_json::<_, Value>("/networks/create", &net.create_request(name))
            .await
            .map_err(|e| anyhow::anyhow!("failed to create network {name}: {e}"))?;
    }
    Ok(())
}

/// Creates the stack's secrets or configs from their files; an existing one is updated
/// with the same spec, which the daemon accepts only if its data did not change.
async fn file_objects(
    client: &Client,
    kind: &str,
    objects: &[(String, FileObjectPlan)],
) -> anyhow::Result<()> {
    for (name, obj) in objects {
        let ObjectSource::File(path) = &obj.source else {
            continue;
        };
        let data = std::fs::read(path).with_context(|| format!("open {}", path.display()))?;
        let spec = json!({
            "Name": name,
            "Labels": labels_json(&obj.labels),
            "Data": base64::engine::general_purpose::STANDARD.encode(data),
        });
        match client
            .get_json::<Value>(&format!("/{kind}s/{}", segment(name)))
            .await
        {
            Ok(found) => {
                let path = Query::new()
                    .push("version", u64_at(&found, &["Version", "Index"]).to_string())
                    .to_path(&format!(
                        "/{kind}s/{}/update",
                        segment(str_at(&found, &["ID"]))
                    ));
                client
                    .post(&path, Some(&spec))
                    .await
                    .map_err(|e| anyhow::anyhow!("failed to update {kind} {name}: {e}"))?;
            }
            Err(e) if e.is_not_found() => {
                emit(&format!("Creating {kind} {name}\n"));
                client
                    .post_json::<_, Value>(&format!("/{kind}s/create"), &spec)
                    .await
                    .map_err(|e| anyhow::anyhow!("failed to create {kind} {name}: {e}"))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Name → id of the secrets or configs named in `names` (one filtered list, exact names).
async fn ids_by_name(
    client: &Client,
    path: &str,
    names: &BTreeSet<String>,
) -> anyhow::Result<HashMap<String, String>> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let filter: serde_json::Map<String, Value> =
        names.iter().map(|n| (n.clone(), json!(true))).collect();
    let q = Query::new().push("filters", json!({ "name": filter }).to_string());
    let found: Vec<Value> = client.get_json(&q.to_path(path)).await?;
    Ok(found
        .iter()
        .filter(|o| names.contains(str_at(o, &["Spec", "Name"])))
        .map(|o| {
            (
                str_at(o, &["Spec", "Name"]).to_string(),
                str_at(o, &["ID"]).to_string(),
            )
        })
        .collect())
}

/// Pins the image through `GET /distribution`; false when the daemon cannot tell.
async fn resolve_image(client: &Client, spec: &mut ServiceSpec) -> bool {
    let image = spec
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    match client
        .get_json::<Value>(&format!("/distribution/{image}/json"))
        .await
    {
        Ok(d) => pin_image(spec, &d),
        Err(_) => false,
    }
}

/// Creates or updates every service; returns their ids in order.
async fn services(
    client: &Client,
    a: &DeployArgs,
    specs: Vec<(String, ServiceSpec)>,
) -> anyhow::Result<Vec<String>> {
    let existing: HashMap<String, Value> = stack_objects(client, "/services", &a.stack)
        .await?
        .into_iter()
        .map(|s| (str_at(&s, &["Spec", "Name"]).to_string(), s))
        .collect();
    let mut ids = Vec::new();
    for (name, spec) in specs {
        if let Some(current) = existing.get(&name) {
            let id = str_at(current, &["ID"]).to_string();
            emit(&format!("Updating service {name} (id: {id})\n"));
            let (mut spec, query) = prepare_update(spec, current, a.resolve_image);
            let mut warnings = Vec::new();
            if query && !resolve_image(client, &mut spec).await {
                warnings.push(digest_warning(&image(&spec)));
            }
            tag_image(&mut spec);
            let path = Query::new()
                .push(
                    "version",
                    u64_at(current, &["Version", "Index"]).to_string(),
                )
                .to_path(&format!("/services/{}/update", segment(&id)));
            let resp: Value = client
                .post_json(&path, &spec)
                .await
                .map_err(|e| anyhow::anyhow!("failed to update service {name}: {e}"))?;
            warnings.extend(
                resp["Warnings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|w| w.as_str().map(str::to_string)),
            );
            for w in warnings {
                eprintln_safe(w.trim_end());
            }
            ids.push(id);
        } else {
            emit(&format!("Creating service {name}\n"));
            let mut spec = spec;
            if a.resolve_image != ResolveImage::Never {
                resolve_image(client, &mut spec).await;
            }
            tag_image(&mut spec);
            let resp: Value = client
                .post_json("/services/create", &spec)
                .await
                .map_err(|e| anyhow::anyhow!("failed to create service {name}: {e}"))?;
            ids.push(str_at(&resp, &["ID"]).to_string());
        }
    }
    Ok(ids)
}

fn image(spec: &ServiceSpec) -> String {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// docker's warning when the registry cannot be asked for the digest.
fn digest_warning(image: &str) -> String {
    format!(
        "image {image} could not be accessed on a registry to record\nits digest. Each node will access {image} independently,\npossibly leading to different nodes running different\nversions of the image.\n"
    )
}
