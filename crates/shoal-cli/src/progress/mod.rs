//! Waiting for a service to converge, with docker's progress display
//! (docker/cli `cli/command/service/progress`).
//!
//! Every ~200 ms: `GET /services/<id>`, `GET /tasks` (this service, up-to-date tasks only)
//! and `GET /nodes`; an [`updaters::Updater`] turns them into progress messages and says
//! whether the service has converged. Once converged, the loop waits for the update monitor
//! period (`Spec.UpdateConfig.Monitor`, default 5 s) and prints
//! `verify: Service <id> converged`. Ctrl-C stops only the waiting.

pub mod display;
pub mod updaters;

use crate::client::{Client, Query, segment};
use crate::values::{get, i64_at, str_at};
use display::{Display, Msg};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use updaters::Updater;

/// docker polls this often.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// `Spec.UpdateConfig.Monitor` when the service does not set one (swarmkit default).
const DEFAULT_MONITOR: Duration = Duration::from_secs(5);

/// Waits until the service converges, printing progress unless `quiet`.
///
/// Errors: API failures, `service update paused: …`, `service rollback paused: …`.
pub async fn wait_on_service(client: &Client, service_id: &str, quiet: bool) -> anyhow::Result<()> {
    let mut display = Display::for_stdout(quiet);
    let result = run_loop(client, service_id, &mut display).await;
    display.finish();
    result
}

async fn run_loop(client: &Client, service_id: &str, display: &mut Display) -> anyhow::Result<()> {
    let mut updater: Option<Updater> = None;
    let mut converged = false;
    let mut converged_at: Option<Instant> = None;
    let mut rollback = false;
    let mut final_message: Option<Msg> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let service: Value = client
            .get_json(&format!("/services/{}", segment(service_id)))
            .await?;
        let monitor = match i64_at(&service, &["Spec", "UpdateConfig", "Monitor"]) {
            m if m > 0 => Duration::from_nanos(m as u64),
            _ => DEFAULT_MONITOR,
        };
        if updater.is_none() {
            updater = Some(Updater::for_service(&service)?);
        }
        if get(&service, &["UpdateStatus"]).is_some_and(Value::is_object) {
            let message = str_at(&service, &["UpdateStatus", "Message"]);
            match str_at(&service, &["UpdateStatus", "State"]) {
                "updating" => rollback = false,
                "completed" if !converged => return Ok(()),
                "paused" => anyhow::bail!("service update paused: {message}"),
                "rollback_started" => {
                    if !rollback && !message.is_empty() {
                        display.show(&Msg::progress("rollback", message, 0, 0));
                    }
                    rollback = true;
                }
                "rollback_paused" => anyhow::bail!("service rollback paused: {message}"),
                "rollback_completed" => {
                    if !converged {
                        final_message = Some(Msg::status("rollback", message));
                    }
                    rollback = true;
                }
                _ => {}
            }
        }
        if converged && converged_at.is_some_and(|t| t.elapsed() >= monitor) {
            display.show(&Msg::progress(
                "verify",
                &format!("Service {service_id} converged"),
                0,
                0,
            ));
            if let Some(m) = &final_message {
                display.show(m);
            }
            return Ok(());
        }
        let service_id_full = str_at(&service, &["ID"]).to_string();
        let tasks = up_to_date_tasks(client, &service_id_full).await?;
        let active = active_nodes(client).await?;
        let mut msgs = Vec::new();
        let Some(u) = updater.as_mut() else { continue };
        converged = u.update(&service, &tasks, &active, rollback, &mut msgs)?;
        for m in &msgs {
            display.show(m);
        }
        if converged {
            if get(&service, &["JobStatus"]).is_some_and(Value::is_object) {
                display.show(&Msg::status("", "job complete"));
                return Ok(());
            }
            let since = *converged_at.get_or_insert_with(Instant::now);
            if let Some(wait) = monitor.checked_sub(since.elapsed()) {
                let secs = wait.as_secs() + 1;
                display.show(&Msg::progress(
                    "verify",
                    &format!("Waiting {secs} seconds to verify that tasks are stable..."),
                    0,
                    0,
                ));
            }
        } else {
            if converged_at.is_some() {
                display.show(&Msg::progress("verify", "Detected task failure", 0, 0));
            }
            converged_at = None;
        }
        tokio::select! {
            _ = &mut ctrl_c => {
                if !converged {
                    display.show(&Msg::status("", "Operation continuing in background."));
                    display.show(&Msg::status("", &format!("Use `docker service ps {service_id}` to check progress.")));
                }
                return Ok(());
            }
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

async fn up_to_date_tasks(client: &Client, service_id: &str) -> anyhow::Result<Vec<Value>> {
    let filters = json!({"_up-to-date": {"true": true}, "service": {service_id: true}});
    let path = Query::new()
        .push("filters", crate::jsonfmt::go_marshal(&filters))
        .to_path("/tasks");
    Ok(client.get_json(&path).await?)
}

/// Nodes that are not `down`; tasks on other nodes are ignored.
async fn active_nodes(client: &Client) -> anyhow::Result<HashSet<String>> {
    let nodes: Vec<Value> = client.get_json("/nodes").await?;
    Ok(nodes
        .iter()
        .filter(|n| str_at(n, &["Status", "State"]) != "down")
        .map(|n| str_at(n, &["ID"]).to_string())
        .collect())
}
