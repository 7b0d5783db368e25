//! `stack rm`: remove the stack's services (by name), secrets, configs and networks, in
//! docker's order; with `--detach=false`, wait until the stack's tasks have stopped.

use super::{RmArgs, stack_objects, validate_name};
use crate::client::{Client, segment};
use crate::cmd::{emit, eprintln_safe, error_text, join_errors, task};
use crate::values::str_at;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// How often `--detach=false` looks at the tasks again.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Task states after which a task's container is gone or going.
const TERMINAL: [&str; 6] = [
    "complete", "shutdown", "failed", "rejected", "remove", "orphaned",
];

pub(super) async fn rm(client: &Client, a: RmArgs) -> anyhow::Result<()> {
    let mut errs = Vec::new();
    for stack in &a.stacks {
        validate_name(stack)?;
        match remove_stack(client, stack, a.detach).await {
            Ok(()) => {}
            Err(e) => errs.push(e),
        }
    }
    join_errors(errs)
}

/// Which of `ids` still name a task that has not reached a terminal state.
pub fn still_running(tasks: &[Value], ids: &BTreeSet<String>) -> usize {
    tasks
        .iter()
        .filter(|t| ids.contains(str_at(t, &["ID"])))
        .filter(|t| !TERMINAL.contains(&str_at(t, &["Status", "State"])))
        .count()
}

async fn remove_all(client: &Client, kind: &str, path: &str, objects: &[(String, String)]) -> bool {
    let mut failed = false;
    for (id, name) in objects {
        emit(&format!("Removing {kind} {name}\n"));
        if let Err(e) = client.delete(&format!("{path}/{}", segment(id))).await {
            failed = true;
            eprintln_safe(&format!("Failed to remove {kind} {id}: {e}"));
        }
    }
    failed
}

fn pairs(objects: &[Value], name: &[&str]) -> Vec<(String, String)> {
    objects
        .iter()
        .map(|o| {
            let id = str_at(o, &["ID"]);
            let id = if id.is_empty() {
                str_at(o, &["Id"])
            } else {
                id
            };
            (id.to_string(), str_at(o, name).to_string())
        })
        .collect()
}

async fn remove_stack(client: &Client, stack: &str, detach: bool) -> anyhow::Result<()> {
    let services = stack_objects(client, "/services", stack).await?;
    let networks = stack_objects(client, "/networks", stack).await?;
    let secrets = stack_objects(client, "/secrets", stack).await?;
    let configs = stack_objects(client, "/configs", stack).await?;
    if services.len() + networks.len() + secrets.len() + configs.len() == 0 {
        eprintln_safe(&format!("Nothing found in stack: {stack}"));
        return Ok(());
    }
    let tasks: BTreeSet<String> = if detach {
        BTreeSet::new()
    } else {
        let filter = super::stack_filter(stack, &Default::default());
        task::list(client, Some(filter))
            .await?
            .iter()
            .map(|t| str_at(t, &["ID"]).to_string())
            .collect()
    };
    let mut services = pairs(&services, &["Spec", "Name"]);
    services.sort_by(|a, b| a.1.cmp(&b.1));
    let mut failed = remove_all(client, "service", "/services", &services).await;
    failed |= remove_all(
        client,
        "secret",
        "/secrets",
        &pairs(&secrets, &["Spec", "Name"]),
    )
    .await;
    failed |= remove_all(
        client,
        "config",
        "/configs",
        &pairs(&configs, &["Spec", "Name"]),
    )
    .await;
    failed |= remove_all(client, "network", "/networks", &pairs(&networks, &["Name"])).await;
    if failed {
        anyhow::bail!("failed to remove some resources from stack: {stack}");
    }
    if detach || tasks.is_empty() {
        return Ok(());
    }
    loop {
        let all = task::list(client, None).await.map_err(|e| {
            anyhow::anyhow!(
                "failed to wait on tasks of stack: {stack}: failed to get tasks: {}",
                error_text(&e)
            )
        })?;
        if still_running(&all, &tasks) == 0 {
            return Ok(());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_listed_tasks_in_live_states_count() {
        let tasks = [
            json!({"ID": "a", "Status": {"State": "running"}}),
            json!({"ID": "b", "Status": {"State": "shutdown"}}),
            json!({"ID": "c", "Status": {"State": "running"}}),
        ];
        let ids: BTreeSet<String> = ["a".to_string(), "b".to_string(), "gone".to_string()].into();
        assert_eq!(still_running(&tasks, &ids), 1);
        assert_eq!(still_running(&tasks[1..2], &ids), 0);
        let pairs = pairs(&[json!({"Id": "n1", "Name": "app_default"})], &["Name"]);
        assert_eq!(pairs, [("n1".to_string(), "app_default".to_string())]);
    }
}
