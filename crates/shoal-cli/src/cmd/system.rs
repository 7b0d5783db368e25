//! `shoal info` (docker/cli `cli/command/system/info.go`).

use super::emit;
use crate::client::Client;
use crate::format::{bytes_size, human_duration};
use crate::output::{StatusError, render_inspect};
use crate::values::{bool_at, get, i64_at, str_at, u64_at};
use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template ('json' or a Go-style template)
    #[arg(short, long)]
    pub format: Option<String>,
}

pub(crate) const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Prints docker's `info` text. Like docker, the client half is printed even when the
/// daemon cannot be reached; the failure then shows as `ERROR: …` under `Server:`.
pub async fn info(client: &mut Client, a: InfoArgs) -> anyhow::Result<()> {
    let fetched = match client.ping().await {
        Ok(()) => client.get_raw("/info").await,
        Err(e) => Err(e),
    };
    if let Some(f) = a.format.as_deref() {
        let raw = fetched?;
        let out = render_inspect(Some(f), std::slice::from_ref(&raw))?;
        // `--format json` on info prints the object, not an array.
        let out = if f.trim() == "json" {
            format!("{}\n", crate::jsonfmt::compact(&raw))
        } else {
            out
        };
        emit(&out);
        return Ok(());
    }
    let mut out = client_block();
    out.push_str("\nServer:\n");
    let raw = match fetched {
        Ok(raw) => raw,
        Err(e) => {
            emit(&out);
            super::eprintln_safe(&format!("ERROR: {e}"));
            return Err(StatusError {
                code: 1,
                message: "errors pretty printing info".into(),
            }
            .into());
        }
    };
    let info: Value = crate::client::decode(&raw)?;
    out.push_str(&server_info(&info));
    out.push('\n');
    emit(&out);
    if let Some(w) = get(&info, &["Warnings"]).and_then(Value::as_array) {
        for line in w.iter().filter_map(Value::as_str) {
            super::eprintln_safe(line);
        }
    }
    Ok(())
}

fn client_block() -> String {
    format!("Client:\n Version:    {CLIENT_VERSION}\n Context:    default\n Debug Mode: false\n")
}

/// docker's `prettyPrintServerInfo` (the lines that apply to shoal).
pub fn server_info(i: &Value) -> String {
    let mut o = String::new();
    let mut line = |s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    line(format!(" Containers: {}", i64_at(i, &["Containers"])));
    line(format!("  Running: {}", i64_at(i, &["ContainersRunning"])));
    line(format!("  Paused: {}", i64_at(i, &["ContainersPaused"])));
    line(format!("  Stopped: {}", i64_at(i, &["ContainersStopped"])));
    line(format!(" Images: {}", i64_at(i, &["Images"])));
    non_empty(&mut line, " Server Version:", str_at(i, &["ServerVersion"]));
    non_empty(&mut line, " Storage Driver:", str_at(i, &["Driver"]));
    for pair in pairs(i, "DriverStatus") {
        line(format!("  {}: {}", pair.0, pair.1));
    }
    for pair in pairs(i, "SystemStatus") {
        line(format!(" {}: {}", pair.0, pair.1));
    }
    non_empty(&mut line, " Logging Driver:", str_at(i, &["LoggingDriver"]));
    non_empty(&mut line, " Cgroup Driver:", str_at(i, &["CgroupDriver"]));
    non_empty(&mut line, " Cgroup Version:", str_at(i, &["CgroupVersion"]));
    line(" Plugins:".into());
    line(format!(
        "  Volume: {}",
        strings(i, &["Plugins", "Volume"]).join(" ")
    ));
    line(format!(
        "  Network: {}",
        strings(i, &["Plugins", "Network"]).join(" ")
    ));
    let auth = strings(i, &["Plugins", "Authorization"]);
    if !auth.is_empty() {
        line(format!("  Authorization: {}", auth.join(" ")));
    }
    line(format!(
        "  Log: {}",
        strings(i, &["Plugins", "Log"]).join(" ")
    ));
    line(format!(
        " Swarm: {}",
        str_at(i, &["Swarm", "LocalNodeState"])
    ));
    swarm_info(&mut line, i);
    if let Some(rt) = get(i, &["Runtimes"])
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    {
        let mut names: Vec<&String> = rt.keys().collect();
        names.sort();
        line(format!(
            " Runtimes: {}",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
        line(format!(
            " Default Runtime: {}",
            str_at(i, &["DefaultRuntime"])
        ));
    }
    if str_at(i, &["OSType"]) == "linux" {
        line(format!(" Init Binary: {}", str_at(i, &["InitBinary"])));
        line(format!(
            " containerd version: {}",
            str_at(i, &["ContainerdCommit", "ID"])
        ));
        line(format!(
            " runc version: {}",
            str_at(i, &["RuncCommit", "ID"])
        ));
        line(format!(
            " init version: {}",
            str_at(i, &["InitCommit", "ID"])
        ));
        let opts = strings(i, &["SecurityOptions"]);
        if !opts.is_empty() {
            line(" Security Options:".into());
            for so in opts {
                let mut name = String::new();
                let mut profile = None;
                for kv in so.split(',') {
                    match kv.split_once('=') {
                        Some(("name", v)) => name = v.to_string(),
                        Some(("profile", v)) => profile = Some(v.to_string()),
                        _ => {}
                    }
                }
                line(format!("  {name}"));
                if let Some(p) = profile {
                    line(format!("   Profile: {p}"));
                }
            }
        }
    }
    non_empty(&mut line, " Kernel Version:", str_at(i, &["KernelVersion"]));
    non_empty(
        &mut line,
        " Operating System:",
        str_at(i, &["OperatingSystem"]),
    );
    non_empty(&mut line, " OSType:", str_at(i, &["OSType"]));
    non_empty(&mut line, " Architecture:", str_at(i, &["Architecture"]));
    line(format!(" CPUs: {}", i64_at(i, &["NCPU"])));
    line(format!(
        " Total Memory: {}",
        bytes_size(i64_at(i, &["MemTotal"]) as f64)
    ));
    non_empty(&mut line, " Name:", str_at(i, &["Name"]));
    non_empty(&mut line, " ID:", str_at(i, &["ID"]));
    line(format!(
        " Docker Root Dir: {}",
        str_at(i, &["DockerRootDir"])
    ));
    line(format!(" Debug Mode: {}", bool_at(i, &["Debug"])));
    non_empty(&mut line, " HTTP Proxy:", str_at(i, &["HttpProxy"]));
    non_empty(&mut line, " HTTPS Proxy:", str_at(i, &["HttpsProxy"]));
    non_empty(&mut line, " No Proxy:", str_at(i, &["NoProxy"]));
    let labels = strings(i, &["Labels"]);
    if !labels.is_empty() {
        line(" Labels:".into());
        for l in labels {
            line(format!("  {l}"));
        }
    }
    line(format!(
        " Experimental: {}",
        bool_at(i, &["ExperimentalBuild"])
    ));
    line(format!(
        " Live Restore Enabled: {}",
        bool_at(i, &["LiveRestoreEnabled"])
    ));
    if let Some(pools) = get(i, &["DefaultAddressPools"])
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
    {
        line(" Default Address Pools:".into());
        for p in pools {
            line(format!(
                "   Base: {}, Size: {}",
                str_at(p, &["Base"]),
                i64_at(p, &["Size"])
            ));
        }
    }
    o
}

/// docker's `printSwarmInfo`.
fn swarm_info(line: &mut impl FnMut(String), i: &Value) {
    let Some(s) = get(i, &["Swarm"]) else { return };
    let state = str_at(s, &["LocalNodeState"]);
    if state == "inactive" || state == "locked" || state.is_empty() {
        return;
    }
    line(format!("  NodeID: {}", str_at(s, &["NodeID"])));
    let err = str_at(s, &["Error"]);
    if !err.is_empty() {
        line(format!("  Error: {err}"));
    }
    let manager = bool_at(s, &["ControlAvailable"]);
    line(format!("  Is Manager: {manager}"));
    if let Some(c) = get(s, &["Cluster"])
        .filter(|c| c.is_object() && manager && err.is_empty() && state != "error")
    {
        line(format!("  ClusterID: {}", str_at(c, &["ID"])));
        line(format!("  Managers: {}", i64_at(s, &["Managers"])));
        line(format!("  Nodes: {}", i64_at(s, &["Nodes"])));
        if let Some(pools) = get(c, &["DefaultAddrPool"]).and_then(Value::as_array) {
            let joined: String = pools
                .iter()
                .filter_map(Value::as_str)
                .map(|p| format!("{p}  "))
                .collect();
            line(format!("  Default Address Pool: {joined}"));
            line(format!("  SubnetSize: {}", u64_at(c, &["SubnetSize"])));
        }
        let dpp = u64_at(c, &["DataPathPort"]);
        if dpp > 0 {
            line(format!("  Data Path Port: {dpp}"));
        }
        let spec = get(c, &["Spec"]).cloned().unwrap_or(Value::Null);
        line("  Orchestration:".into());
        line(format!(
            "   Task History Retention Limit: {}",
            i64_at(&spec, &["Orchestration", "TaskHistoryRetentionLimit"])
        ));
        line("  Raft:".into());
        line(format!(
            "   Snapshot Interval: {}",
            u64_at(&spec, &["Raft", "SnapshotInterval"])
        ));
        if let Some(k) = get(&spec, &["Raft", "KeepOldSnapshots"]).and_then(Value::as_u64) {
            line(format!("   Number of Old Snapshots to Retain: {k}"));
        }
        line(format!(
            "   Heartbeat Tick: {}",
            i64_at(&spec, &["Raft", "HeartbeatTick"])
        ));
        line(format!(
            "   Election Tick: {}",
            i64_at(&spec, &["Raft", "ElectionTick"])
        ));
        line("  Dispatcher:".into());
        line(format!(
            "   Heartbeat Period: {}",
            human_duration(i64_at(&spec, &["Dispatcher", "HeartbeatPeriod"]))
        ));
        line("  CA Configuration:".into());
        line(format!(
            "   Expiry Duration: {}",
            human_duration(i64_at(&spec, &["CAConfig", "NodeCertExpiry"]))
        ));
        line(format!(
            "   Force Rotate: {}",
            u64_at(&spec, &["CAConfig", "ForceRotate"])
        ));
        if let Some(cas) = get(&spec, &["CAConfig", "ExternalCAs"])
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            line("   External CAs:".into());
            for ca in cas {
                line(format!(
                    "     {}: {}",
                    str_at(ca, &["Protocol"]),
                    str_at(ca, &["URL"])
                ));
            }
        }
        line(format!(
            "  Autolock Managers: {}",
            bool_at(&spec, &["EncryptionConfig", "AutoLockManagers"])
        ));
        line(format!(
            "  Root Rotation In Progress: {}",
            bool_at(c, &["RootRotationInProgress"])
        ));
    }
    line(format!("  Node Address: {}", str_at(s, &["NodeAddr"])));
    let mut managers: Vec<String> = get(s, &["RemoteManagers"])
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|m| str_at(m, &["Addr"]).to_string()).collect())
        .unwrap_or_default();
    if !managers.is_empty() {
        managers.sort();
        line("  Manager Addresses:".into());
        for m in managers {
            line(format!("   {m}"));
        }
    }
}

fn non_empty(line: &mut impl FnMut(String), label: &str, value: &str) {
    if !value.is_empty() {
        line(format!("{label} {value}"));
    }
}

fn strings(v: &Value, path: &[&str]) -> Vec<String> {
    get(v, path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn pairs(v: &Value, key: &str) -> Vec<(String, String)> {
    get(v, &[key])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let p = p.as_array()?;
                    Some((
                        p.first()?.as_str()?.to_string(),
                        p.get(1)?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn swarm_section_matches_docker() {
        let info = json!({
            "OSType": "linux",
            "Swarm": {
                "LocalNodeState": "active", "NodeID": "n1", "NodeAddr": "10.0.0.1", "ControlAvailable": true,
                "Managers": 1, "Nodes": 2,
                "RemoteManagers": [{"NodeID": "n1", "Addr": "10.0.0.1:2377"}],
                "Cluster": {
                    "ID": "c1", "DefaultAddrPool": ["10.0.0.0/8"], "SubnetSize": 24, "DataPathPort": 4789,
                    "RootRotationInProgress": false,
                    "Spec": {"Orchestration": {"TaskHistoryRetentionLimit": 5},
                             "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "HeartbeatTick": 1, "ElectionTick": 10},
                             "Dispatcher": {"HeartbeatPeriod": 5_000_000_000i64},
                             "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000i64},
                             "EncryptionConfig": {"AutoLockManagers": false}}
                }
            }
        });
        let out = server_info(&info);
        let want = " Swarm: active
  NodeID: n1
  Is Manager: true
  ClusterID: c1
  Managers: 1
  Nodes: 2
  Default Address Pool: 10.0.0.0/8  
  SubnetSize: 24
  Data Path Port: 4789
  Orchestration:
   Task History Retention Limit: 5
  Raft:
   Snapshot Interval: 10000
   Number of Old Snapshots to Retain: 0
   Heartbeat Tick: 1
   Election Tick: 10
  Dispatcher:
   Heartbeat Period: 5 seconds
  CA Configuration:
   Expiry Duration: 3 months
   Force Rotate: 0
  Autolock Managers: false
  Root Rotation In Progress: false
  Node Address: 10.0.0.1
  Manager Addresses:
   10.0.0.1:2377
";
        assert!(out.contains(want), "got:\n{out}");
    }
}
