//! `service inspect`: the daemon's JSON (`insertDefaults=true`), a template, or docker's
//! `--pretty` text.

use super::InspectArgs;
use crate::client::{Client, Query, segment};
use crate::cmd::{emit, error_text};
use crate::format::bytes_size;
use crate::output::{StatusError, render_inspect};
use crate::parse::go_duration;
use crate::timefmt::{Timestamp, ago};
use crate::values::{bool_at, get, i64_at, str_at, u64_at};
use serde_json::Value;
use std::collections::HashMap;

pub(super) async fn inspect(client: &Client, a: InspectArgs) -> anyhow::Result<()> {
    let format = if a.pretty {
        Some("pretty".to_string())
    } else {
        a.format.clone()
    };
    if let Some(f) = &format
        && f.starts_with("pretty")
        && f != "pretty"
    {
        return Err(StatusError {
            code: 1,
            message: "cannot supply extra formatting options to the pretty template".into(),
        }
        .into());
    }
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for s in &a.services {
        let path = Query::new()
            .push("insertDefaults", "true")
            .to_path(&format!("/services/{}", segment(s)));
        match client.get_raw(&path).await {
            Ok(raw) => raws.push(raw),
            Err(e) if e.is_not_found() => errs.push(format!("no such service: {s}")),
            Err(e) => errs.push(error_text(&e.into())),
        }
    }
    let pretty_mode = format.as_deref() == Some("pretty");
    if pretty_mode && !errs.is_empty() {
        return Err(StatusError {
            code: 1,
            message: errs.join("\n"),
        }
        .into());
    }
    if pretty_mode {
        let now = Timestamp::now();
        let mut out = String::new();
        for raw in &raws {
            let v: Value = crate::client::decode(raw)?;
            let mut names = HashMap::new();
            for n in get(&v, &["Spec", "TaskTemplate", "Networks"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let target = str_at(n, &["Target"]);
                let path = Query::new()
                    .push("scope", "swarm")
                    .to_path(&format!("/networks/{}", segment(target)));
                if let Ok(net) = client.get_json::<Value>(&path).await {
                    names.insert(target.to_string(), str_at(&net, &["Name"]).to_string());
                }
            }
            out.push_str(&pretty(&v, &names, &now));
            out.push('\n');
        }
        emit(&out);
        return Ok(());
    }
    emit(&render_inspect(format.as_deref(), &raws)?);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StatusError {
            code: 1,
            message: errs.join("\n"),
        }
        .into())
    }
}

fn strs(v: &Value, path: &[&str]) -> Vec<String> {
    get(v, path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn sorted_map(v: &Value, path: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = get(v, path)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Go's `%v` of a float64 (`100`, `0.5`).
fn go_float(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// docker's `service inspect --pretty` template. `networks` maps network IDs to names.
pub fn pretty(s: &Value, networks: &HashMap<String, String>, now: &Timestamp) -> String {
    let spec = get(s, &["Spec"]).cloned().unwrap_or(Value::Null);
    let cs = get(&spec, &["TaskTemplate", "ContainerSpec"])
        .cloned()
        .unwrap_or(Value::Null);
    let mut o = String::from("\n");
    o.push_str(&format!(
        "ID:\t\t{}\nName:\t\t{}",
        str_at(s, &["ID"]),
        str_at(&spec, &["Name"])
    ));
    let labels = sorted_map(&spec, &["Labels"]);
    if !labels.is_empty() {
        o.push_str("\nLabels:");
        for (k, v) in labels {
            o.push_str(&if v.is_empty() {
                format!("\n {k}")
            } else {
                format!("\n {k}={v}")
            });
        }
    }
    o.push_str("\nService Mode:");
    if get(&spec, &["Mode", "Global"]).is_some_and(|g| !g.is_null()) {
        o.push_str("\tGlobal");
    } else if get(&spec, &["Mode", "Replicated"]).is_some_and(|r| !r.is_null()) {
        o.push_str("\tReplicated");
        if let Some(r) = get(&spec, &["Mode", "Replicated", "Replicas"]).and_then(Value::as_u64) {
            o.push_str(&format!("\n Replicas:\t{r}"));
        }
    }
    let state = str_at(s, &["UpdateStatus", "State"]);
    if !state.is_empty() {
        o.push_str(&format!("\nUpdateStatus:\n State:\t\t{state}"));
        let started = str_at(s, &["UpdateStatus", "StartedAt"]);
        if !started.is_empty() {
            o.push_str(&format!("\n Started:\t{}", ago(started, now)));
        }
        let completed = str_at(s, &["UpdateStatus", "CompletedAt"]);
        if state == "completed" && !completed.is_empty() {
            o.push_str(&format!("\n Completed:\t{}", ago(completed, now)));
        }
        o.push_str(&format!(
            "\n Message:\t{}",
            str_at(s, &["UpdateStatus", "Message"])
        ));
    }
    o.push_str("\nPlacement:");
    let placement = get(&spec, &["TaskTemplate", "Placement"])
        .cloned()
        .unwrap_or(Value::Null);
    let constraints = strs(&placement, &["Constraints"]);
    if !constraints.is_empty() {
        o.push_str(&format!("\n Constraints:\t[{}]", constraints.join(" ")));
    }
    let prefs: Vec<String> = get(&placement, &["Preferences"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| format!("spread={}", str_at(p, &["Spread", "SpreadDescriptor"])))
                .collect()
        })
        .unwrap_or_default();
    if !prefs.is_empty() {
        o.push_str(&format!("\n Preferences:   [{}]", prefs.join(" ")));
    }
    let max = u64_at(&placement, &["MaxReplicas"]);
    if max > 0 {
        o.push_str(&format!("\n Max Replicas Per Node:   {max}"));
    }
    for (key, title, order_label) in [
        ("UpdateConfig", "UpdateConfig", "Update order:      "),
        ("RollbackConfig", "RollbackConfig", "Rollback order:    "),
    ] {
        let Some(u) = get(&spec, &[key]).filter(|u| u.is_object()) else {
            continue;
        };
        o.push_str(&format!(
            "\n{title}:\n Parallelism:\t{}",
            u64_at(u, &["Parallelism"])
        ));
        let delay = i64_at(u, &["Delay"]);
        if delay > 0 {
            o.push_str(&format!("\n Delay:\t\t{}", go_duration(delay)));
        }
        o.push_str(&format!(
            "\n On failure:\t{}",
            str_at(u, &["FailureAction"])
        ));
        let monitor = i64_at(u, &["Monitor"]);
        if monitor > 0 {
            o.push_str(&format!("\n Monitoring Period: {}", go_duration(monitor)));
        }
        let ratio = get(u, &["MaxFailureRatio"])
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        o.push_str(&format!("\n Max failure ratio: {}", go_float(ratio)));
        o.push_str(&format!("\n {order_label}{}", str_at(u, &["Order"])));
    }
    o.push_str(&format!(
        "\nContainerSpec:\n Image:\t\t{}",
        str_at(&cs, &["Image"])
    ));
    let args = strs(&cs, &["Args"]);
    if !args.is_empty() {
        o.push_str("\n Args:\t\t");
        args.iter().for_each(|a| o.push_str(&format!("{a} ")));
    }
    let env = strs(&cs, &["Env"]);
    if !env.is_empty() {
        o.push_str("\n Env:\t\t");
        env.iter().for_each(|e| o.push_str(&format!("{e} ")));
    }
    let dir = str_at(&cs, &["Dir"]);
    if !dir.is_empty() {
        o.push_str(&format!("\n Dir:\t\t{dir}"));
    }
    if get(&cs, &["Init"]).is_some_and(|i| !i.is_null()) {
        o.push_str(&format!("\n Init:\t\t{}", bool_at(&cs, &["Init"])));
    }
    let user = str_at(&cs, &["User"]);
    if !user.is_empty() {
        o.push_str(&format!("\n User: {user}"));
    }
    let mounts = get(&cs, &["Mounts"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !mounts.is_empty() {
        o.push_str("\nMounts:");
    }
    for m in &mounts {
        o.push_str(&format!(
            "\n Target:\t{}\n  Source:\t{}\n  ReadOnly:\t{}\n  Type:\t\t{}",
            str_at(m, &["Target"]),
            str_at(m, &["Source"]),
            bool_at(m, &["ReadOnly"]),
            str_at(m, &["Type"])
        ));
    }
    for (key, title, name_key) in [
        ("Configs", "Configs", "ConfigName"),
        ("Secrets", "Secrets", "SecretName"),
    ] {
        let refs = get(&cs, &[key])
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if refs.is_empty() {
            continue;
        }
        o.push_str(&format!("\n{title}:"));
        for r in &refs {
            o.push_str(&format!(
                "\n Target:\t{}\n  Source:\t{}",
                str_at(r, &["File", "Name"]),
                str_at(r, &[name_key])
            ));
        }
    }
    if let Some(ld) = get(&spec, &["TaskTemplate", "LogDriver"]).filter(|l| l.is_object()) {
        o.push_str("\nLog Driver:");
        let name = str_at(ld, &["Name"]);
        if !name.is_empty() {
            o.push_str(&format!("\n Name:\t\t{name}"));
        }
        let opts = sorted_map(ld, &["Options"]);
        if !opts.is_empty() {
            o.push_str("\n LogOpts:");
            for (k, v) in opts {
                o.push_str(&if v.is_empty() {
                    format!("\n  {k}")
                } else {
                    format!("\n  {k}:       {v}")
                });
            }
        }
        o.push('\n');
    }
    let res = get(&spec, &["TaskTemplate", "Resources"]).filter(|r| r.is_object());
    if let Some(r) = res {
        o.push_str("\nResources:");
        let (rc, rm) = (
            i64_at(r, &["Reservations", "NanoCPUs"]),
            i64_at(r, &["Reservations", "MemoryBytes"]),
        );
        if rc > 0 || rm > 0 {
            o.push_str("\n Reservations:");
            if rc > 0 {
                o.push_str(&format!("\n  CPU:\t\t{}", go_float(rc as f64 / 1e9)));
            }
            if rm > 0 {
                o.push_str(&format!("\n  Memory:\t{}", bytes_size(rm as f64)));
            }
        }
        let (lc, lm, lp) = (
            i64_at(r, &["Limits", "NanoCPUs"]),
            i64_at(r, &["Limits", "MemoryBytes"]),
            i64_at(r, &["Limits", "Pids"]),
        );
        if lc > 0 || lm > 0 || lp > 0 {
            o.push_str("\n Limits:");
            if lc > 0 {
                o.push_str(&format!("\n  CPU:\t\t{}", go_float(lc as f64 / 1e9)));
            }
            if lm > 0 {
                o.push_str(&format!("\n  Memory:\t{}", bytes_size(lm as f64)));
            }
        }
    }
    let pids = res.map(|r| i64_at(r, &["Limits", "Pids"])).unwrap_or(0);
    if pids > 0 {
        o.push_str(&format!("\n  PIDs:\t\t{pids}"));
    }
    let nets: Vec<String> = get(&spec, &["TaskTemplate", "Networks"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|n| {
                    let t = str_at(n, &["Target"]);
                    networks.get(t).cloned().unwrap_or_else(|| t.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    if !nets.is_empty() {
        o.push_str("\nNetworks:");
        nets.iter().for_each(|n| o.push_str(&format!(" {n}")));
        o.push(' ');
    }
    o.push_str(&format!(
        "\nEndpoint Mode:\t{}",
        str_at(&spec, &["EndpointSpec", "Mode"])
    ));
    let ports = get(s, &["Endpoint", "Ports"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !ports.is_empty() {
        o.push_str("\nPorts:");
        for p in &ports {
            o.push_str(&format!(
                "\n PublishedPort = {}\n  Protocol = {}\n  TargetPort = {}\n  PublishMode = {}",
                u64_at(p, &["PublishedPort"]),
                str_at(p, &["Protocol"]),
                u64_at(p, &["TargetPort"]),
                str_at(p, &["PublishMode"])
            ));
        }
        o.push(' ');
    }
    let hc = get(&cs, &["Healthcheck"])
        .or_else(|| get(&cs, &["HealthCheck"]))
        .filter(|h| h.is_object());
    if let Some(h) = hc {
        o.push_str(&format!(
            "\n Healthcheck:\n  Interval = {}\n  Retries = {}\n  StartPeriod =\t{}\n  Timeout =\t{}",
            go_duration(i64_at(h, &["Interval"])),
            i64_at(h, &["Retries"]),
            go_duration(i64_at(h, &["StartPeriod"])),
            go_duration(i64_at(h, &["Timeout"]))
        ));
        let tests = strs(h, &["Test"]);
        if !tests.is_empty() {
            o.push_str("\n  Tests:");
            tests
                .iter()
                .for_each(|t| o.push_str(&format!("\n\t Test = {t}")));
            o.push(' ');
        }
    }
    o.push('\n');
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_matches_docker_golden() {
        // docker/cli cli/command/service/testdata/service-inspect-pretty.golden
        let s = json!({
            "ID": "de179gar9d0o7ltdybungplod",
            "Spec": {
                "Name": "my_service", "Labels": {"com.label": "foo"},
                "TaskTemplate": {
                    "LogDriver": {"Name": "driver", "Options": {"max-file": "5"}},
                    "ContainerSpec": {
                        "Image": "foo/bar@sha256:this_is_a_test",
                        "Configs": [{"ConfigID": "mtc3i44r1awdoziy2iceg73z8", "ConfigName": "configtest.conf", "File": {"Name": "/configtest.conf"}}],
                        "Secrets": [{"SecretID": "3hv39ehbbb4hdozo7spod9ftn", "SecretName": "secrettest.conf", "File": {"Name": "/secrettest.conf"}}],
                        "Healthcheck": {"Test": ["CMD-SHELL", "curl"], "Interval": 4, "Retries": 3, "StartPeriod": 2, "Timeout": 1}
                    },
                    "Resources": {"Limits": {"NanoCPUs": 100_000_000_000i64, "MemoryBytes": 10_485_760, "Pids": 20}},
                    "Networks": [{"Target": "5vpyomhb6ievnk0i0o60gcnei", "Aliases": ["web"]}]
                },
                "Mode": {"Replicated": {"Replicas": 2}},
                "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 5000}]}
            },
            "Endpoint": {"Ports": [{"Protocol": "tcp", "TargetPort": 5000, "PublishedPort": 30000}]}
        });
        let names = HashMap::from([(
            "5vpyomhb6ievnk0i0o60gcnei".to_string(),
            "mynetwork".to_string(),
        )]);
        let out = format!("{}\n", pretty(&s, &names, &Timestamp::now()));
        let want = "\nID:\t\tde179gar9d0o7ltdybungplod\nName:\t\tmy_service\nLabels:\n com.label=foo\nService Mode:\tReplicated\n Replicas:\t2\nPlacement:\nContainerSpec:\n Image:\t\tfoo/bar@sha256:this_is_a_test\nConfigs:\n Target:\t/configtest.conf\n  Source:\tconfigtest.conf\nSecrets:\n Target:\t/secrettest.conf\n  Source:\tsecrettest.conf\nLog Driver:\n Name:\t\tdriver\n LogOpts:\n  max-file:       5\n\nResources:\n Limits:\n  CPU:\t\t100\n  Memory:\t10MiB\n  PIDs:\t\t20\nNetworks: mynetwork \nEndpoint Mode:\tvip\nPorts:\n PublishedPort = 30000\n  Protocol = tcp\n  TargetPort = 5000\n  PublishMode =  \n Healthcheck:\n  Interval = 4ns\n  Retries = 3\n  StartPeriod =\t2ns\n  Timeout =\t1ns\n  Tests:\n\t Test = CMD-SHELL\n\t Test = curl \n\n";
        assert_eq!(out, want);
    }
}
