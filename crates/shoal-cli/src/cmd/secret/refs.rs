//! `service update --secret-add/--secret-rm/--config-add/--config-rm` (docker/cli
//! `getUpdatedSecrets`/`getUpdatedConfigs`): references named in `-rm` go (by source name),
//! then those in `-add` are resolved to IDs and appended.

use crate::client::{Client, Query};
use crate::cmd::service::fields::{FileRef, file_ref};
use crate::output::StatusError;
use crate::values::{self, get, str_at};
use clap::Args;
use serde_json::{Value, json};

#[derive(Debug, Args, Default)]
pub struct RefFlags {
    /// Add or update a secret on a service
    #[arg(long = "secret-add")]
    pub secret_add: Vec<String>,
    /// Remove a secret
    #[arg(long = "secret-rm")]
    pub secret_rm: Vec<String>,
    /// Add or update a config file on a service
    #[arg(long = "config-add")]
    pub config_add: Vec<String>,
    /// Remove a configuration file
    #[arg(long = "config-rm")]
    pub config_rm: Vec<String>,
}

impl RefFlags {
    pub fn any(&self) -> bool {
        !(self.secret_add.is_empty()
            && self.secret_rm.is_empty()
            && self.config_add.is_empty()
            && self.config_rm.is_empty())
    }
}

/// Edits `ContainerSpec.Secrets` and `.Configs` of `spec` (a service spec as JSON).
pub async fn apply(client: &Client, f: &RefFlags, spec: &mut Value) -> anyhow::Result<()> {
    let kinds = [
        ("Secrets", "/secrets", "secret", &f.secret_add, &f.secret_rm),
        ("Configs", "/configs", "config", &f.config_add, &f.config_rm),
    ];
    for (key, path, noun, add, rm) in kinds {
        if add.is_empty() && rm.is_empty() {
            continue;
        }
        let name_key = if noun == "secret" {
            "SecretName"
        } else {
            "ConfigName"
        };
        let id_key = if noun == "secret" {
            "SecretID"
        } else {
            "ConfigID"
        };
        let at = ["TaskTemplate", "ContainerSpec", key];
        let mut refs: Vec<Value> = get(spec, &at)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        refs.retain(|r| !rm.iter().any(|n| n == str_at(r, &[name_key])));
        let parsed = add
            .iter()
            .map(|v| file_ref(v))
            .collect::<Result<Vec<FileRef>, String>>()
            .map_err(|m| StatusError {
                code: 125,
                message: m,
            })?;
        let ids = lookup(client, path, noun, &parsed).await?;
        for (r, id) in parsed.into_iter().zip(ids) {
            refs.push(json!({
                "File": { "Name": r.target, "UID": r.uid, "GID": r.gid, "Mode": r.mode },
                id_key: id,
                name_key: r.source,
            }));
        }
        values::set(spec, &at, Value::Array(refs));
    }
    Ok(())
}

/// One list call filtered by name, exact matches only (docker's `ParseSecrets`).
async fn lookup(
    client: &Client,
    path: &str,
    noun: &str,
    refs: &[FileRef],
) -> anyhow::Result<Vec<String>> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
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
                        message: format!("{noun} not found: {}", r.source),
                    }
                    .into()
                })
        })
        .collect()
}
