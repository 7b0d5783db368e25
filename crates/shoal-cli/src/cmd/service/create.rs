//! `service create`: build the spec, resolve names the daemon needs as IDs (networks,
//! secrets, configs), pin the image digest when the daemon can, post, then wait.

use super::fields::{self, FileRef};
use super::opts::CreateArgs;
use super::spec::{self, tagged_image};
use crate::client::{Client, Query, segment};
use crate::cmd::{emit, eprintln_safe};
use crate::output::StatusError;
use crate::values::str_at;
use serde_json::{Value, json};
use shoal_types::api::{
    NetworkAttachmentConfig, Platform, ServiceSpec, TaskSpecContainerSpecConfigs,
    TaskSpecContainerSpecFile, TaskSpecContainerSpecFile1, TaskSpecContainerSpecSecrets,
    TaskSpecPlacement,
};
use std::collections::HashSet;

pub(super) async fn create(client: &Client, a: CreateArgs) -> anyhow::Result<()> {
    let mut env_files = Vec::new();
    for path in &a.env_file {
        env_files.push(std::fs::read_to_string(path).map_err(|e| StatusError {
            code: 1,
            message: format!("open {path}: {e}"),
        })?);
    }
    let lookup = |k: &str| std::env::var(k).ok();
    let mut spec = spec::build(&a, &env_files, &lookup).map_err(|m| StatusError {
        code: 1,
        message: m,
    })?;
    resolve_references(client, &mut spec, &a).await?;
    let mut warnings = Vec::new();
    if let Some(ts) = spec.task_template.as_mut()
        && let Some(cs) = ts.container_spec.as_mut()
    {
        let image = tagged_image(cs.image.as_deref().unwrap_or_default());
        cs.image = Some(image.clone());
        if !a.no_resolve_image {
            match resolve_image(client, &image).await {
                Some((pinned, platforms)) => {
                    cs.image = Some(pinned);
                    if !platforms.is_empty() {
                        ts.placement
                            .get_or_insert_with(TaskSpecPlacement::default)
                            .platforms = Some(platforms);
                    }
                }
                None => warnings.push(digest_warning(&image)),
            }
        }
    }
    let body = spec::to_docker_json(&spec);
    let resp: Value = client.post_json("/services/create", &body).await?;
    if let Some(ws) = resp.get("Warnings").and_then(Value::as_array) {
        warnings.extend(ws.iter().filter_map(Value::as_str).map(str::to_string));
    }
    for w in warnings {
        eprintln_safe(&w);
    }
    let id = str_at(&resp, &["ID"]).to_string();
    emit(&format!("{id}\n"));
    if a.detach {
        return Ok(());
    }
    crate::progress::wait_on_service(client, &id, a.quiet).await
}

/// Networks, secrets and configs are given by name; the spec carries IDs.
async fn resolve_references(
    client: &Client,
    spec: &mut ServiceSpec,
    a: &CreateArgs,
) -> anyhow::Result<()> {
    let Some(ts) = spec.task_template.as_mut() else {
        return Ok(());
    };
    let mut networks = Vec::new();
    for n in &a.network {
        let parsed = fields::network(n).map_err(|m| StatusError {
            code: 125,
            message: m,
        })?;
        let net: Value = client
            .get_json(
                &Query::new()
                    .push("scope", "swarm")
                    .to_path(&format!("/networks/{}", segment(&parsed.target))),
            )
            .await?;
        networks.push(NetworkAttachmentConfig {
            target: Some(str_at(&net, &["Id"]).to_string()),
            aliases: (!parsed.aliases.is_empty()).then_some(parsed.aliases),
            driver_opts: (!parsed.driver_opts.is_empty()).then_some(parsed.driver_opts),
        });
    }
    networks.sort_by(|x, y| x.target.cmp(&y.target));
    if !networks.is_empty() {
        ts.networks = Some(networks);
    }
    let Some(cs) = ts.container_spec.as_mut() else {
        return Ok(());
    };
    if !a.secret.is_empty() {
        let refs = parse_refs(&a.secret, "secret")?;
        let ids = lookup_ids(client, "/secrets", &refs, "secret").await?;
        cs.secrets = Some(
            refs.into_iter()
                .zip(ids)
                .map(|(r, id)| TaskSpecContainerSpecSecrets {
                    file: Some(TaskSpecContainerSpecFile {
                        name: Some(r.target),
                        uid: Some(r.uid),
                        gid: Some(r.gid),
                        mode: Some(r.mode),
                    }),
                    secret_id: Some(id),
                    secret_name: Some(r.source),
                })
                .collect(),
        );
    }
    if !a.config.is_empty() {
        let refs = parse_refs(&a.config, "config")?;
        let ids = lookup_ids(client, "/configs", &refs, "config").await?;
        cs.configs = Some(
            refs.into_iter()
                .zip(ids)
                .map(|(r, id)| TaskSpecContainerSpecConfigs {
                    file: Some(TaskSpecContainerSpecFile1 {
                        name: Some(r.target),
                        uid: Some(r.uid),
                        gid: Some(r.gid),
                        mode: Some(r.mode),
                    }),
                    runtime: None,
                    config_id: Some(id),
                    config_name: Some(r.source),
                })
                .collect(),
        );
    }
    Ok(())
}

fn parse_refs(values: &[String], kind: &str) -> anyhow::Result<Vec<FileRef>> {
    let mut refs = Vec::new();
    let mut targets = HashSet::new();
    for v in values {
        let r = fields::file_ref(v).map_err(|m| StatusError {
            code: 125,
            message: m,
        })?;
        if !targets.insert(r.target.clone()) {
            return Err(StatusError {
                code: 1,
                message: format!("duplicate {kind} target for {} not allowed", r.source),
            }
            .into());
        }
        refs.push(r);
    }
    Ok(refs)
}

/// docker's `ParseSecrets`/`ParseConfigs`: one list call filtered by name, exact matches.
async fn lookup_ids(
    client: &Client,
    path: &str,
    refs: &[FileRef],
    kind: &str,
) -> anyhow::Result<Vec<String>> {
    let names: serde_json::Map<String, Value> = refs
        .iter()
        .map(|r| (r.source.clone(), json!(true)))
        .collect();
    let filters = crate::jsonfmt::go_marshal(&json!({ "name": names }));
    let found: Vec<Value> = client
        .get_json(&Query::new().push("filters", filters).to_path(path))
        .await?;
    refs.iter()
        .map(|r| {
            found
                .iter()
                .find(|o| str_at(o, &["Spec", "Name"]) == r.source)
                .map(|o| str_at(o, &["ID"]).to_string())
                .ok_or_else(|| {
                    StatusError {
                        code: 1,
                        message: format!("{kind} not found: {}", r.source),
                    }
                    .into()
                })
        })
        .collect()
}

/// `GET /distribution/<image>/json`: the digest-pinned reference and its platforms, or
/// `None` when the daemon cannot tell (docker then warns and sends the tag).
async fn resolve_image(client: &Client, image: &str) -> Option<(String, Vec<Platform>)> {
    let d: Value = client
        .get_json(&format!("/distribution/{image}/json"))
        .await
        .ok()?;
    let digest = str_at(&d, &["Descriptor", "digest"]);
    if digest.is_empty() {
        return None;
    }
    let pinned = if image.contains('@') {
        image.to_string()
    } else {
        format!("{image}@{digest}")
    };
    let mut platforms: Vec<Platform> = Vec::new();
    for p in d
        .get("Platforms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (os, mut arch) = (str_at(p, &["os"]), str_at(p, &["architecture"]));
        if os == "unknown" || arch == "unknown" {
            continue;
        }
        if arch.eq_ignore_ascii_case("arm") {
            arch = "";
        }
        let platform = Platform {
            architecture: (!arch.is_empty()).then(|| arch.to_string()),
            os: (!os.is_empty()).then(|| os.to_string()),
        };
        if !platforms.contains(&platform) {
            platforms.push(platform);
        }
    }
    Some((pinned, platforms))
}

/// docker's warning when the registry cannot be asked for the digest.
pub fn digest_warning(image: &str) -> String {
    format!(
        "image {image} could not be accessed on a registry to record\nits digest. Each node will access {image} independently,\npossibly leading to different nodes running different\nversions of the image.\n"
    )
}
