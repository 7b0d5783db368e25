//! `node ps`.

use super::PsArgs;
use super::inspect::reference;
use crate::client::{Client, segment};
use crate::cmd::{emit, join_errors, task};
use crate::output::{ListFormat, StatusError};
use crate::parse::{filters, filters_json};
use crate::timefmt::Timestamp;
use crate::values::str_at;
use serde_json::Value;

pub(super) async fn ps(client: &Client, a: PsArgs) -> anyhow::Result<()> {
    let nodes = if a.nodes.is_empty() {
        vec!["self".to_string()]
    } else {
        a.nodes.clone()
    };
    let mut errs = Vec::new();
    let mut tasks = Vec::new();
    for r in &nodes {
        let fetched = async {
            let id = reference(client, r).await?;
            let node: Value = client.get_json(&format!("/nodes/{}", segment(&id))).await?;
            let mut f = filters(&a.filter).map_err(|m| StatusError {
                code: 125,
                message: m,
            })?;
            f.entry("node".into())
                .or_default()
                .insert(str_at(&node, &["ID"]).to_string(), true);
            task::list(client, filters_json(&f)).await
        }
        .await;
        match fetched {
            Ok(t) => tasks.extend(t),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() || !tasks.is_empty() {
        let format = ListFormat::from_flags(a.format.as_deref(), a.quiet)?;
        let mut resolver = task::Resolver::new(a.no_resolve);
        resolver.resolve_all(client, &tasks).await;
        emit(&task::render(
            &tasks,
            &resolver,
            &format,
            !a.no_trunc,
            &Timestamp::now(),
        )?);
    }
    join_errors(errs)
}
