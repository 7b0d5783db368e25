//! `service ps`: resolve the services (exact ID, exact name, then unique ID prefix), list
//! their tasks and print docker's task table.

use super::PsArgs;
use crate::client::{Client, Query};
use crate::cmd::{emit, task};
use crate::output::{ListFormat, StatusError};
use crate::parse::{filters, filters_json};
use crate::timefmt::Timestamp;
use crate::values::str_at;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) async fn ps(client: &Client, a: PsArgs) -> anyhow::Result<()> {
    let mut f = filters(&a.filter).map_err(|m| StatusError {
        code: 125,
        message: m,
    })?;
    let list = |key: &str| {
        let m: BTreeMap<&str, bool> = a.services.iter().map(|s| (s.as_str(), true)).collect();
        Query::new()
            .push("filters", crate::jsonfmt::go_marshal(&json!({ key: m })))
            .to_path("/services")
    };
    let by_id: Vec<Value> = client.get_json(&list("id")).await?;
    let by_name: Vec<Value> = client.get_json(&list("name")).await?;
    let (ids, notfound) = match_services(&a.services, &by_id, &by_name)?;
    if ids.is_empty() {
        return Err(StatusError {
            code: 1,
            message: notfound.join("\n"),
        }
        .into());
    }
    for id in ids {
        f.entry("service".into()).or_default().insert(id, true);
    }
    if let Some(nodes) = f.remove("node") {
        let mut resolved = BTreeMap::new();
        for n in nodes.into_keys() {
            resolved.insert(node_reference(client, &n).await?, true);
        }
        f.insert("node".into(), resolved);
    }
    let tasks = task::list(client, filters_json(&f)).await?;
    let format = ListFormat::from_flags(a.format.as_deref(), a.quiet)?;
    let trunc = !(a.no_trunc || a.quiet);
    let mut resolver = task::Resolver::new(a.no_resolve);
    resolver.resolve_all(client, &tasks).await;
    emit(&task::render(
        &tasks,
        &resolver,
        &format,
        trunc,
        &Timestamp::now(),
    )?);
    if notfound.is_empty() {
        Ok(())
    } else {
        Err(StatusError {
            code: 1,
            message: notfound.join("\n"),
        }
        .into())
    }
}

/// docker's `createFilter`: per argument, an exact ID, an exact name, or a unique ID
/// prefix. Returns the service IDs and the `no such service` messages.
pub fn match_services(
    args: &[String],
    by_id: &[Value],
    by_name: &[Value],
) -> Result<(Vec<String>, Vec<String>), StatusError> {
    let mut ids = Vec::new();
    let mut notfound = Vec::new();
    'outer: for arg in args {
        for s in by_id {
            if str_at(s, &["ID"]) == arg {
                ids.push(arg.clone());
                continue 'outer;
            }
        }
        for s in by_name {
            if str_at(s, &["Spec", "Name"]) == arg {
                ids.push(str_at(s, &["ID"]).to_string());
                continue 'outer;
            }
        }
        let prefixed: Vec<&Value> = by_id
            .iter()
            .filter(|s| str_at(s, &["ID"]).starts_with(arg.as_str()))
            .collect();
        match prefixed.as_slice() {
            [] => notfound.push(format!("no such service: {arg}")),
            [one] => ids.push(str_at(one, &["ID"]).to_string()),
            _ => {
                return Err(StatusError {
                    code: 1,
                    message: format!("multiple services found with provided prefix: {arg}"),
                });
            }
        }
    }
    Ok((ids, notfound))
}

async fn node_reference(client: &Client, r: &str) -> anyhow::Result<String> {
    if r != "self" {
        return Ok(r.to_string());
    }
    let info: Value = client.get_json("/info").await?;
    let id = str_at(&info, &["Swarm", "NodeID"]);
    if id.is_empty() {
        client.get_raw("/nodes").await?;
        anyhow::bail!("node ID not found in /info");
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_match_by_id_name_then_prefix() {
        let web = json!({"ID": "abc123", "Spec": {"Name": "web"}});
        let db = json!({"ID": "abd456", "Spec": {"Name": "db"}});
        let (ids, nf) = match_services(
            &["web".into(), "abd".into(), "nope".into()],
            &[web.clone(), db.clone()],
            std::slice::from_ref(&web),
        )
        .expect("no ambiguity");
        assert_eq!(ids, vec!["abc123", "abd456"]);
        assert_eq!(nf, vec!["no such service: nope"]);
        assert!(match_services(&["ab".into()], &[web, db], &[]).is_err());
    }
}
