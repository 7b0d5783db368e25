//! `node inspect` (JSON, templates and docker's `--pretty` text).

use super::InspectArgs;
use crate::client::{Client, segment};
use crate::cmd::{emit, error_text, join_errors};
use crate::format::{bytes_size, capitalize};
use crate::output::{StatusError, render_inspect};
use crate::timefmt::Timestamp;
use crate::values::{bool_at, get, i64_at, str_at};
use anyhow::bail;
use serde_json::Value;

/// docker's `node.Reference`: `self` is this node's ID from `/info`.
pub(super) async fn reference(client: &Client, r: &str) -> anyhow::Result<String> {
    if r != "self" {
        return Ok(r.to_string());
    }
    let info: Value = client.get_json("/info").await?;
    let id = str_at(&info, &["Swarm", "NodeID"]);
    if id.is_empty() {
        // Ask a swarm endpoint so the daemon explains why (not in a swarm, worker…).
        client.get_raw("/nodes").await?;
        bail!("node ID not found in /info");
    }
    Ok(id.to_string())
}

pub(super) async fn inspect(client: &Client, a: InspectArgs) -> anyhow::Result<()> {
    let format = if a.pretty {
        Some("pretty".to_string())
    } else {
        a.format
    };
    if let Some(f) = &format
        && f.starts_with("pretty")
        && f != "pretty"
    {
        bail!(StatusError {
            code: 1,
            message: "cannot supply extra formatting options to the pretty template".into()
        });
    }
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for r in &a.nodes {
        let fetched = async {
            let id = reference(client, r).await?;
            Ok::<_, anyhow::Error>(client.get_raw(&format!("/nodes/{}", segment(&id))).await?)
        }
        .await;
        match fetched {
            Ok(raw) => raws.push(raw),
            Err(e) if format.as_deref() == Some("pretty") => {
                return Err(StatusError {
                    code: 1,
                    message: error_text(&e),
                }
                .into());
            }
            Err(e) => errs.push(e),
        }
    }
    if format.as_deref() == Some("pretty") {
        let mut out = String::new();
        for raw in &raws {
            let v: Value = crate::client::decode(raw)?;
            out.push_str(&pretty(&v));
            out.push('\n');
        }
        emit(&out);
        return Ok(());
    }
    emit(&render_inspect(format.as_deref(), &raws)?);
    join_errors(errs)
}

/// docker's `node inspect --pretty` template.
pub fn pretty(n: &Value) -> String {
    let mut o = String::new();
    o.push_str(&format!("ID:\t\t\t{}\n", str_at(n, &["ID"])));
    let name = str_at(n, &["Spec", "Name"]);
    if !name.is_empty() {
        o.push_str(&format!("Name:\t\t\t{name}\n"));
    }
    push_labels(&mut o, "Labels:", get(n, &["Spec", "Labels"]));
    o.push_str(&format!(
        "Hostname:              \t{}\n",
        str_at(n, &["Description", "Hostname"])
    ));
    let joined = Timestamp::parse(str_at(n, &["CreatedAt"]))
        .map(|t| t.go_string_utc())
        .unwrap_or_default();
    o.push_str(&format!("Joined at:             \t{joined}\n"));
    o.push_str("Status:\n");
    o.push_str(&format!(
        " State:\t\t\t{}\n",
        capitalize(str_at(n, &["Status", "State"]))
    ));
    let msg = str_at(n, &["Status", "Message"]);
    if !msg.is_empty() {
        o.push_str(&format!(" Message:              \t{}\n", capitalize(msg)));
    }
    o.push_str(&format!(
        " Availability:         \t{}\n",
        capitalize(str_at(n, &["Spec", "Availability"]))
    ));
    let addr = str_at(n, &["Status", "Addr"]);
    if !addr.is_empty() {
        o.push_str(&format!(" Address:\t\t{addr}\n"));
    }
    if let Some(ms) = get(n, &["ManagerStatus"]).filter(|m| m.is_object()) {
        o.push_str("Manager Status:\n");
        o.push_str(&format!(" Address:\t\t{}\n", str_at(ms, &["Addr"])));
        o.push_str(&format!(
            " Raft Status:\t\t{}\n",
            capitalize(str_at(ms, &["Reachability"]))
        ));
        o.push_str(if bool_at(ms, &["Leader"]) {
            " Leader:\t\tYes\n"
        } else {
            " Leader:\t\tNo\n"
        });
    }
    o.push_str("Platform:\n");
    o.push_str(&format!(
        " Operating System:\t{}\n",
        str_at(n, &["Description", "Platform", "OS"])
    ));
    o.push_str(&format!(
        " Architecture:\t\t{}\n",
        str_at(n, &["Description", "Platform", "Architecture"])
    ));
    o.push_str("Resources:\n");
    o.push_str(&format!(
        " CPUs:\t\t\t{}\n",
        i64_at(n, &["Description", "Resources", "NanoCPUs"]) / 1_000_000_000
    ));
    let mem = i64_at(n, &["Description", "Resources", "MemoryBytes"]);
    o.push_str(&format!(
        " Memory:\t\t{}\n",
        if mem == 0 {
            String::new()
        } else {
            bytes_size(mem as f64)
        }
    ));
    if let Some(plugins) = get(n, &["Description", "Engine", "Plugins"])
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
    {
        let mut by_type: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for p in plugins {
            by_type
                .entry(str_at(p, &["Type"]).to_string())
                .or_default()
                .push(str_at(p, &["Name"]).to_string());
        }
        o.push_str("Plugins:\n");
        for (t, names) in by_type {
            let joined = names.join(", ");
            if joined.is_empty() {
                o.push_str(&format!(" {t}:\n"));
            } else {
                o.push_str(&format!(" {t}:\t\t{joined}\n"));
            }
        }
    }
    o.push_str(&format!(
        "Engine Version:\t\t{}",
        str_at(n, &["Description", "Engine", "EngineVersion"])
    ));
    let mut tail = String::new();
    push_labels(
        &mut tail,
        "Engine Labels:",
        get(n, &["Description", "Engine", "Labels"]),
    );
    if let Some(tls) = get(n, &["Description", "TLSInfo"]) {
        let root = str_at(tls, &["TrustRoot"]);
        let subject = str_at(tls, &["CertIssuerSubject"]);
        let key = str_at(tls, &["CertIssuerPublicKey"]);
        if !(root.is_empty() && subject.is_empty() && key.is_empty()) {
            tail.push_str(&format!(
                "TLS Info:\n TrustRoot:\n{root}\n Issuer Subject:\t{subject}\n Issuer Public Key:\t{key}\n"
            ));
        }
    }
    if !tail.is_empty() {
        o.push('\n');
        o.push_str(tail.trim_end_matches('\n'));
    }
    o
}

/// ` - k=v` lines under `title` (sorted keys, `=v` only when v is non-empty).
fn push_labels(o: &mut String, title: &str, labels: Option<&Value>) {
    let Some(map) = labels.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return;
    };
    o.push_str(title);
    o.push('\n');
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        let v = map.get(k).and_then(Value::as_str).unwrap_or_default();
        if v.is_empty() {
            o.push_str(&format!(" - {k}\n"));
        } else {
            o.push_str(&format!(" - {k}={v}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_matches_docker_golden() {
        // docker/cli cli/command/node/testdata/node-inspect-pretty.manager-leader.golden
        let n = json!({
            "ID": "nodeID",
            "CreatedAt": "2009-11-10T23:00:00Z",
            "Spec": {"Name": "defaultNodeName", "Role": "manager", "Availability": "active", "Labels": {}},
            "Description": {
                "Hostname": "defaultNodeHostname",
                "Platform": {"Architecture": "x86_64", "OS": "linux"},
                "Resources": {"NanoCPUs": 4, "MemoryBytes": 20971520},
                "Engine": {"EngineVersion": "1.13.0", "Labels": {"engine": "label"},
                           "Plugins": [{"Type": "Volume", "Name": "local"}, {"Type": "Network", "Name": "bridge"}, {"Type": "Network", "Name": "overlay"}]}
            },
            "Status": {"State": "ready", "Addr": "127.0.0.1"},
            "ManagerStatus": {"Leader": true, "Reachability": "reachable", "Addr": "127.0.0.1"}
        });
        let want = "ID:\t\t\tnodeID\nName:\t\t\tdefaultNodeName\nHostname:              \tdefaultNodeHostname\nJoined at:             \t2009-11-10 23:00:00 +0000 utc\nStatus:\n State:\t\t\tReady\n Availability:         \tActive\n Address:\t\t127.0.0.1\nManager Status:\n Address:\t\t127.0.0.1\n Raft Status:\t\tReachable\n Leader:\t\tYes\nPlatform:\n Operating System:\tlinux\n Architecture:\t\tx86_64\nResources:\n CPUs:\t\t\t0\n Memory:\t\t20MiB\nPlugins:\n Network:\t\tbridge, overlay\n Volume:\t\tlocal\nEngine Version:\t\t1.13.0\nEngine Labels:\n - engine=label";
        assert_eq!(pretty(&n), want);
    }
}
