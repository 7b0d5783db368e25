//! `node update`, `promote`, `demote` and `rm`.

use super::{RmArgs, UpdateArgs};
use crate::client::{Client, Query, segment};
use crate::cmd::{emit, join_errors};
use crate::output::StatusError;
use crate::parse::key_value;
use crate::values::{self, get, str_at};
use serde_json::{Value, json};

pub(super) async fn update(client: &Client, a: UpdateArgs) -> anyhow::Result<()> {
    let node = a.node.clone();
    update_nodes(client, std::slice::from_ref(&node), |_, spec| {
        if let Some(r) = &a.role {
            values::set(spec, &["Role"], json!(r));
        }
        if let Some(av) = &a.availability {
            values::set(spec, &["Availability"], json!(av));
        }
        let labels = values::object_mut(spec, &["Labels"]);
        for l in &a.label_add {
            let (k, v) = key_value(l);
            labels.insert(k, json!(v));
        }
        for k in &a.label_rm {
            if labels.remove(k).is_none() {
                return Err(StatusError {
                    code: 1,
                    message: format!("key {k} doesn't exist in node's labels"),
                }
                .into());
            }
        }
        Ok(Change::Apply)
    })
    .await?;
    emit(&format!("{node}\n"));
    Ok(())
}

enum Change {
    Apply,
    /// The node already has what was asked; nothing is sent.
    Skip,
}

/// docker's `updateNodes`: GET each node, edit its spec, POST it back with its version.
async fn update_nodes(
    client: &Client,
    nodes: &[String],
    mut edit: impl FnMut(&Value, &mut Value) -> anyhow::Result<Change>,
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for r in nodes {
        let node: Value = client.get_json(&format!("/nodes/{}", segment(r))).await?;
        let mut spec = get(&node, &["Spec"]).cloned().unwrap_or_else(|| json!({}));
        if let Change::Skip = edit(&node, &mut spec)? {
            continue;
        }
        let path = Query::new()
            .push(
                "version",
                values::u64_at(&node, &["Version", "Index"]).to_string(),
            )
            .to_path(&format!(
                "/nodes/{}/update",
                segment(str_at(&node, &["ID"]))
            ));
        client.post(&path, Some(&spec)).await?;
        done.push(r.clone());
    }
    Ok(done)
}

pub(super) async fn set_role(
    client: &Client,
    nodes: Vec<String>,
    role: &str,
) -> anyhow::Result<()> {
    for r in &nodes {
        let changed = update_nodes(client, std::slice::from_ref(r), |node, spec| {
            if str_at(spec, &["Role"]) == role {
                let what = if role == "manager" {
                    "a manager"
                } else {
                    "a worker"
                };
                emit(&format!(
                    "Node {} is already {what}.\n",
                    str_at(node, &["ID"])
                ));
                return Ok(Change::Skip);
            }
            values::set(spec, &["Role"], json!(role));
            Ok(Change::Apply)
        })
        .await?;
        if !changed.is_empty() {
            if role == "manager" {
                emit(&format!("Node {r} promoted to a manager in the swarm.\n"));
            } else {
                emit(&format!("Manager {r} demoted in the swarm.\n"));
            }
        }
    }
    Ok(())
}

pub(super) async fn rm(client: &Client, a: RmArgs) -> anyhow::Result<()> {
    let mut errs = Vec::new();
    for id in &a.nodes {
        let path = Query::new()
            .push_if(a.force, "force", "1")
            .to_path(&format!("/nodes/{}", segment(id)));
        match client.delete(&path).await {
            Ok(()) => emit(&format!("{id}\n")),
            Err(e) => errs.push(e.into()),
        }
    }
    join_errors(errs)
}
