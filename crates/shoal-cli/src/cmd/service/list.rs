//! `service ls`: `GET /services?status=true`, sorted by name.

use super::LsArgs;
use crate::client::{Client, Query};
use crate::cmd::emit;
use crate::cmd::task::familiar_tagged;
use crate::format::{natural_cmp, truncate_id};
use crate::output::{ListFormat, Row, StatusError, fields, render_list};
use crate::parse::{filters, filters_json};
use crate::values::{get, str_at, u64_at};
use serde_json::{Value, json};

const HEADERS: [(&str, &str); 6] = [
    ("ID", "ID"),
    ("Name", "NAME"),
    ("Mode", "MODE"),
    ("Replicas", "REPLICAS"),
    ("Image", "IMAGE"),
    ("Ports", "PORTS"),
];

pub(super) async fn ls(client: &Client, a: LsArgs) -> anyhow::Result<()> {
    let f = filters(&a.filter).map_err(|m| StatusError {
        code: 125,
        message: m,
    })?;
    let fjson = filters_json(&f);
    let path = Query::new()
        .push_if(fjson.is_some(), "filters", fjson.unwrap_or_default())
        .push_if(!a.quiet, "status", "true")
        .to_path("/services");
    let services: Vec<Value> = client.get_json(&path).await?;
    let format = ListFormat::from_flags(a.format.as_deref(), a.quiet)?;
    emit(&render_ls(services, &format)?);
    Ok(())
}

/// Renders `service ls`.
pub fn render_ls(mut services: Vec<Value>, format: &ListFormat) -> Result<String, StatusError> {
    services
        .sort_by(|a, b| natural_cmp(str_at(a, &["Spec", "Name"]), str_at(b, &["Spec", "Name"])));
    let rows: Vec<Row> = services
        .iter()
        .map(|s| {
            let cells = vec![
                truncate_id(str_at(s, &["ID"])),
                str_at(s, &["Spec", "Name"]).to_string(),
                mode(s).to_string(),
                replicas(s),
                familiar_tagged(str_at(
                    s,
                    &["Spec", "TaskTemplate", "ContainerSpec", "Image"],
                )),
                ports(s),
            ];
            Row {
                fields: fields([
                    ("ID", json!(cells[0])),
                    ("Name", json!(cells[1])),
                    ("Mode", json!(cells[2])),
                    ("Replicas", json!(cells[3])),
                    ("Image", json!(cells[4])),
                    ("Ports", json!(cells[5])),
                ]),
                cells,
            }
        })
        .collect();
    render_list(format, &HEADERS, &rows)
}

fn has(s: &Value, path: &[&str]) -> bool {
    get(s, path).is_some_and(|v| !v.is_null())
}

fn mode(s: &Value) -> &'static str {
    if has(s, &["Spec", "Mode", "Global"]) {
        "global"
    } else if has(s, &["Spec", "Mode", "Replicated"]) {
        "replicated"
    } else if has(s, &["Spec", "Mode", "ReplicatedJob"]) {
        "replicated job"
    } else if has(s, &["Spec", "Mode", "GlobalJob"]) {
        "global job"
    } else {
        ""
    }
}

/// `running/desired`, jobs `… (completed/total completed)`, ` (max N per node)`.
fn replicas(s: &Value) -> String {
    let running = u64_at(s, &["ServiceStatus", "RunningTasks"]);
    let desired = u64_at(s, &["ServiceStatus", "DesiredTasks"]);
    let completed = u64_at(s, &["ServiceStatus", "CompletedTasks"]);
    if has(s, &["Spec", "Mode", "ReplicatedJob"]) {
        let total = u64_at(s, &["Spec", "Mode", "ReplicatedJob", "TotalCompletions"]);
        return format!("{running}/{desired} ({completed}/{total} completed)");
    }
    if has(s, &["Spec", "Mode", "GlobalJob"]) {
        return format!(
            "{running}/{desired} ({completed}/{} completed)",
            desired + completed
        );
    }
    let max = if mode(s) == "replicated" {
        u64_at(s, &["Spec", "TaskTemplate", "Placement", "MaxReplicas"])
    } else {
        0
    };
    if max > 0 {
        return format!("{running}/{desired} (max {max} per node)");
    }
    format!("{running}/{desired}")
}

/// docker's PORTS column: ingress ports from `Endpoint.Ports`, consecutive ones merged into
/// ranges (`*:8080-8081->80-81/tcp`).
fn ports(s: &Value) -> String {
    let Some(list) = get(s, &["Endpoint", "Ports"]).and_then(Value::as_array) else {
        return String::new();
    };
    let mut ps: Vec<(String, u32, u32, String)> = list
        .iter()
        .map(|p| {
            (
                str_at(p, &["Protocol"]).to_string(),
                u64_at(p, &["PublishedPort"]) as u32,
                u64_at(p, &["TargetPort"]) as u32,
                str_at(p, &["PublishMode"]).to_string(),
            )
        })
        .collect();
    ps.sort_by(|a, b| {
        if a.0 == b.0 {
            a.1.cmp(&b.1)
        } else {
            a.0.cmp(&b.0)
        }
    });
    #[derive(Default)]
    struct Range {
        p_start: u32,
        p_end: u32,
        t_start: u32,
        t_end: u32,
        proto: String,
    }
    let show = |r: &Range| {
        let publ = if r.p_end > r.p_start {
            format!("{}-{}", r.p_start, r.p_end)
        } else {
            r.p_start.to_string()
        };
        let tgt = if r.t_end > r.t_start {
            format!("{}-{}", r.t_start, r.t_end)
        } else {
            r.t_start.to_string()
        };
        format!("*:{publ}->{tgt}/{}", r.proto)
    };
    let mut out = Vec::new();
    let mut r = Range::default();
    for (proto, published, target, mode) in ps {
        if mode != "ingress" {
            continue;
        }
        let is_range = r.t_end != r.t_start;
        let overlaps = target <= r.t_end;
        // Go compares unsigned differences, so a smaller port wraps and counts as a gap.
        if proto != r.proto
            || published.wrapping_sub(r.p_end) > 1
            || target.wrapping_sub(r.t_end) > 1
            || (is_range && overlaps)
        {
            if r.p_start > 0 {
                out.push(show(&r));
            }
            r = Range {
                p_start: published,
                p_end: published,
                t_start: target,
                t_end: target,
                proto,
            };
            continue;
        }
        r.p_end = published;
        r.t_end = target;
    }
    if r.p_start > 0 {
        out.push(show(&r));
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(id: &str, name: &str, mode: Value, status: (u64, u64, u64), ports: Value) -> Value {
        json!({
            "ID": id,
            "Spec": {"Name": name, "Mode": mode,
                     "TaskTemplate": {"ContainerSpec": {"Image": "nginx:latest@sha256:0123456789abcdef"}}},
            "Endpoint": {"Ports": ports},
            "ServiceStatus": {"RunningTasks": status.0, "DesiredTasks": status.1, "CompletedTasks": status.2}
        })
    }

    #[test]
    fn service_ls_matches_docker() {
        let services = vec![
            service(
                "w3b1aaaaaaaaaaaaaaaaaaaaa",
                "web",
                json!({"Replicated": {"Replicas": 3}}),
                (3, 3, 0),
                json!([{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]),
            ),
            service(
                "m0n1aaaaaaaaaaaaaaaaaaaaa",
                "agent",
                json!({"Global": {}}),
                (2, 2, 0),
                json!(null),
            ),
            service(
                "j0b1aaaaaaaaaaaaaaaaaaaaa",
                "batch",
                json!({"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 4}}),
                (1, 2, 1),
                json!(null),
            ),
        ];
        let out = render_ls(services, &ListFormat::Table).expect("renders");
        let want = "\
ID             NAME      MODE             REPLICAS              IMAGE          PORTS
m0n1aaaaaaaa   agent     global           2/2                   nginx:latest   
j0b1aaaaaaaa   batch     replicated job   1/2 (1/4 completed)   nginx:latest   
w3b1aaaaaaaa   web       replicated       3/3                   nginx:latest   *:8080->80/tcp
";
        assert_eq!(out, want);
    }

    #[test]
    fn max_per_node_and_port_ranges() {
        let mut s = service(
            "x",
            "web",
            json!({"Replicated": {"Replicas": 2}}),
            (2, 2, 0),
            json!([
                {"Protocol": "tcp", "TargetPort": 81, "PublishedPort": 8081, "PublishMode": "ingress"},
                {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
                {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "ingress"},
                {"Protocol": "tcp", "TargetPort": 9000, "PublishedPort": 9000, "PublishMode": "host"}
            ]),
        );
        s["Spec"]["TaskTemplate"]["Placement"] = json!({"MaxReplicas": 1});
        assert_eq!(replicas(&s), "2/2 (max 1 per node)");
        assert_eq!(ports(&s), "*:8080-8081->80-81/tcp, *:53->53/udp");
    }
}
