//! `swarm join-token`, `update`, `unlock` and `unlock-key`.

use super::{JoinTokenArgs, UnlockKeyArgs, UpdateArgs};
use crate::client::{Client, Query};
use crate::cmd::emit;
use crate::output::StatusError;
use crate::values;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal, Write};

/// The program name in printed join commands.
const PROG: &str = "shoal";

pub(super) async fn join_token(client: &Client, a: JoinTokenArgs) -> anyhow::Result<()> {
    let worker = a.role == "worker";
    let manager = a.role == "manager";
    if !worker && !manager {
        bail!(StatusError {
            code: 1,
            message: format!("unknown role {}", a.role)
        });
    }
    if a.rotate {
        let sw: Value = client.get_json("/swarm").await?;
        post_swarm_update(client, &sw, worker, manager, false).await?;
        if !a.quiet {
            emit(&format!("Successfully rotated {} join token.\n\n", a.role));
        }
    }
    let sw: Value = client.get_json("/swarm").await?;
    if a.quiet {
        let key = if worker { "Worker" } else { "Manager" };
        emit(&format!("{}\n", values::str_at(&sw, &["JoinTokens", key])));
        return Ok(());
    }
    let info: Value = client.get_json("/info").await?;
    print_join_command(
        client,
        values::str_at(&info, &["Swarm", "NodeID"]),
        worker,
        manager,
    )
    .await
}

/// `POST /swarm/update` with the current spec, as `join-token --rotate` and `unlock-key
/// --rotate` do. Query keys are in the order Go's `url.Values.Encode` sorts them.
async fn post_swarm_update(
    client: &Client,
    sw: &Value,
    worker: bool,
    manager: bool,
    unlock: bool,
) -> anyhow::Result<()> {
    let spec = values::get(sw, &["Spec"]).cloned().unwrap_or(Value::Null);
    post_spec(client, sw, &spec, worker, manager, unlock).await
}

pub(super) async fn post_spec(
    client: &Client,
    sw: &Value,
    spec: &Value,
    worker: bool,
    manager: bool,
    unlock: bool,
) -> anyhow::Result<()> {
    let path = Query::new()
        .push("rotateManagerToken", manager.to_string())
        .push("rotateManagerUnlockKey", unlock.to_string())
        .push("rotateWorkerToken", worker.to_string())
        .push(
            "version",
            values::u64_at(sw, &["Version", "Index"]).to_string(),
        )
        .to_path("/swarm/update");
    client.post(&path, Some(spec)).await?;
    Ok(())
}

/// Prints `To add a worker/manager …` with the token and this manager's address. Prints
/// nothing when the node has no ManagerStatus (docker does the same).
pub(super) async fn print_join_command(
    client: &Client,
    node_id: &str,
    worker: bool,
    manager: bool,
) -> anyhow::Result<()> {
    let node: Value = client
        .get_json(&format!("/nodes/{}", crate::client::segment(node_id)))
        .await?;
    let sw: Value = client.get_json("/swarm").await?;
    emit(&join_command_text(&node, &sw, worker, manager));
    Ok(())
}

/// The join instructions for a node and swarm object.
pub fn join_command_text(node: &Value, sw: &Value, worker: bool, manager: bool) -> String {
    let Some(ms) = values::get(node, &["ManagerStatus"]).filter(|v| v.is_object()) else {
        return String::new();
    };
    let addr = values::str_at(ms, &["Addr"]);
    let mut out = String::new();
    if worker {
        out.push_str(&format!(
            "To add a worker to this swarm, run the following command:\n\n    {PROG} swarm join --token {} {addr}\n\n",
            values::str_at(sw, &["JoinTokens", "Worker"])
        ));
    }
    if manager {
        out.push_str(&format!(
            "To add a manager to this swarm, run the following command:\n\n    {PROG} swarm join --token {} {addr}\n\n",
            values::str_at(sw, &["JoinTokens", "Manager"])
        ));
    }
    out
}

pub(super) async fn update(client: &Client, a: UpdateArgs) -> anyhow::Result<()> {
    if a.spec.is_empty() {
        crate::args::print_help(&["swarm", "update"]);
        return Ok(());
    }
    let sw: Value = client.get_json("/swarm").await?;
    let mut spec = values::get(&sw, &["Spec"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    let before = values::bool_at(&spec, &["EncryptionConfig", "AutoLockManagers"]);
    a.spec.merge_into(&mut spec);
    let after = values::bool_at(&spec, &["EncryptionConfig", "AutoLockManagers"]);
    post_spec(client, &sw, &spec, false, false, false).await?;
    emit("Swarm updated.\n");
    if after && !before {
        let key = unlock_key_value(client).await?;
        emit(&unlock_text(&key));
    }
    Ok(())
}

pub(super) async fn unlock_key_value(client: &Client) -> anyhow::Result<String> {
    let resp: Value = client
        .get_json("/swarm/unlockkey")
        .await
        .context("could not fetch unlock key")?;
    Ok(values::str_at(&resp, &["UnlockKey"]).to_string())
}

/// docker's `printUnlockCommand` (empty for an empty key).
pub fn unlock_text(key: &str) -> String {
    if key.is_empty() {
        return String::new();
    }
    format!(
        "To unlock a swarm manager after it restarts, run the `docker swarm unlock`\ncommand and provide the following key:\n\n    {key}\n\nRemember to store this key in a password manager, since without it you\nwill not be able to restart the manager.\n"
    )
}

pub(super) async fn unlock_key(client: &Client, a: UnlockKeyArgs) -> anyhow::Result<()> {
    if a.rotate {
        let sw: Value = client.get_json("/swarm").await?;
        if !values::bool_at(&sw, &["Spec", "EncryptionConfig", "AutoLockManagers"]) {
            bail!(StatusError {
                code: 1,
                message: "cannot rotate because autolock is not turned on".into()
            });
        }
        post_swarm_update(client, &sw, false, false, true).await?;
        if !a.quiet {
            emit("Successfully rotated manager unlock key.\n");
        }
    }
    let key = unlock_key_value(client).await?;
    if key.is_empty() {
        bail!(StatusError {
            code: 1,
            message: "no unlock key is set".into()
        });
    }
    if a.quiet {
        emit(&format!("{key}\n"));
    } else {
        emit(&unlock_text(&key));
    }
    Ok(())
}

pub(super) async fn unlock(client: &Client) -> anyhow::Result<()> {
    let info: Value = client.get_json("/info").await?;
    match values::str_at(&info, &["Swarm", "LocalNodeState"]) {
        "inactive" => bail!(StatusError {
            code: 1,
            message: "error: this node is not part of a swarm".into()
        }),
        "locked" => {}
        "pending" | "active" | "error" => bail!(StatusError {
            code: 1,
            message: "error: swarm is not locked".into()
        }),
        _ => {}
    }
    let key = tokio::task::spawn_blocking(|| read_key("Enter unlock key: ")).await??;
    client
        .post("/swarm/unlock", Some(&json!({ "UnlockKey": key })))
        .await?;
    Ok(())
}

/// Reads the unlock key: prompted without echo on a terminal, else the first stdin line.
fn read_key(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        super::emit(prompt);
        let echo_off = set_echo(false);
        let mut line = String::new();
        let res = stdin.lock().read_line(&mut line);
        if echo_off {
            set_echo(true);
        }
        let mut out = std::io::stdout();
        // The newline only tidies the terminal; nothing to do if it fails.
        let _ = writeln!(out);
        res?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// Turns terminal echo on or off with `stty` (no terminal crate in the tree); returns
/// whether it worked, so echo is only restored when it was turned off.
fn set_echo(on: bool) -> bool {
    std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_command_text_matches_docker_with_our_name() {
        let node = json!({"ManagerStatus": {"Addr": "127.0.0.1:2377", "Leader": true}});
        let sw = json!({"JoinTokens": {"Worker": "SWMTKN-1-w", "Manager": "SWMTKN-1-m"}});
        assert_eq!(
            join_command_text(&node, &sw, true, false),
            "To add a worker to this swarm, run the following command:\n\n    shoal swarm join --token SWMTKN-1-w 127.0.0.1:2377\n\n"
        );
        assert_eq!(
            join_command_text(&node, &sw, false, true),
            "To add a manager to this swarm, run the following command:\n\n    shoal swarm join --token SWMTKN-1-m 127.0.0.1:2377\n\n"
        );
        assert_eq!(join_command_text(&json!({}), &sw, true, true), "");
    }

    #[test]
    fn unlock_text_matches_docker() {
        assert_eq!(
            unlock_text("SWMKEY-1-x"),
            "To unlock a swarm manager after it restarts, run the `docker swarm unlock`\ncommand and provide the following key:\n\n    SWMKEY-1-x\n\nRemember to store this key in a password manager, since without it you\nwill not be able to restart the manager.\n"
        );
    }
}
