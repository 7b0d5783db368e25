//! `stack ls`, `stack services` and `stack ps`: service and task lists filtered on the
//! namespace label, printed like `service ls` and `service ps`.

use super::plan::namespace_of;
use super::{LsArgs, PsArgs, ServicesArgs, stack_filter};
use crate::client::{Client, Query};
use crate::cmd::{emit, eprintln_safe, task};
use crate::format::natural_cmp;
use crate::output::{ListFormat, Row, StatusError, fields, render_list};
use crate::parse::filters;
use crate::timefmt::Timestamp;
use crate::values::str_at;
use serde_json::{Value, json};
use shoal_stack::LABEL_NAMESPACE;
use std::collections::BTreeMap;

const HEADERS: [(&str, &str); 2] = [("Name", "NAME"), ("Services", "SERVICES")];

fn usage(m: String) -> StatusError {
    StatusError {
        code: 125,
        message: m,
    }
}

pub(super) async fn ls(client: &Client, a: LsArgs) -> anyhow::Result<()> {
    let q = Query::new().push(
        "filters",
        json!({ "label": { LABEL_NAMESPACE: true } }).to_string(),
    );
    let services: Vec<Value> = client.get_json(&q.to_path("/services")).await?;
    let format = ListFormat::from_flags(a.format.as_deref(), false)?;
    emit(&render_ls(&services, &format)?);
    Ok(())
}

/// Counts services per namespace and renders docker's `stack ls` table.
pub fn render_ls(services: &[Value], format: &ListFormat) -> Result<String, StatusError> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for s in services {
        let Some(ns) = namespace_of(s) else {
            return Err(StatusError {
                code: 1,
                message: format!(
                    "cannot get label {LABEL_NAMESPACE} for service {}",
                    str_at(s, &["ID"])
                ),
            });
        };
        *counts.entry(ns.to_string()).or_default() += 1;
    }
    let mut stacks: Vec<(String, u64)> = counts.into_iter().collect();
    stacks.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    let rows: Vec<Row> = stacks
        .into_iter()
        .map(|(name, n)| Row {
            fields: fields([("Name", json!(name)), ("Services", json!(n.to_string()))]),
            cells: vec![name, n.to_string()],
        })
        .collect();
    render_list(format, &HEADERS, &rows)
}

pub(super) async fn services(client: &Client, a: ServicesArgs) -> anyhow::Result<()> {
    let f = filters(&a.filter).map_err(usage)?;
    let q = Query::new()
        .push("filters", stack_filter(&a.stack, &f))
        .push_if(!a.quiet, "status", "true");
    let services: Vec<Value> = client.get_json(&q.to_path("/services")).await?;
    if services.is_empty() {
        eprintln_safe(&format!("Nothing found in stack: {}", a.stack));
        return Ok(());
    }
    let format = ListFormat::from_flags(a.format.as_deref(), a.quiet)?;
    emit(&crate::cmd::service::render_ls(services, &format)?);
    Ok(())
}

pub(super) async fn ps(client: &Client, a: PsArgs) -> anyhow::Result<()> {
    let f = filters(&a.filter).map_err(usage)?;
    let tasks = task::list(client, Some(stack_filter(&a.stack, &f))).await?;
    if tasks.is_empty() {
        return Err(StatusError {
            code: 1,
            message: format!("nothing found in stack: {}", a.stack),
        }
        .into());
    }
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(id: &str, ns: Option<&str>) -> Value {
        let labels = match ns {
            Some(n) => json!({ LABEL_NAMESPACE: n }),
            None => json!({}),
        };
        json!({"ID": id, "Spec": {"Name": id, "Labels": labels}})
    }

    #[test]
    fn stack_ls_counts_services_per_namespace() {
        let services = [
            svc("a", Some("web10")),
            svc("b", Some("web2")),
            svc("c", Some("web2")),
        ];
        let out = render_ls(&services, &ListFormat::Table).expect("renders");
        assert_eq!(out, "NAME      SERVICES\nweb2      2\nweb10     1\n");
        let json = ListFormat::from_flags(Some("json"), false).expect("valid");
        assert_eq!(
            render_ls(&services[..1], &json).expect("renders"),
            "{\"Name\":\"web10\",\"Services\":\"1\"}\n"
        );
        let err = render_ls(&[svc("x", None)], &ListFormat::Table).unwrap_err();
        assert_eq!(
            err.message,
            "cannot get label com.docker.stack.namespace for service x"
        );
    }
}
