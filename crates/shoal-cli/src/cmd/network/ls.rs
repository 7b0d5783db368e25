//! `network ls`: `GET /networks[?filters=…]`, sorted by name (natural order).

use super::LsArgs;
use crate::client::{Client, Query};
use crate::cmd::emit;
use crate::format::{natural_cmp, truncate_id};
use crate::output::{ListFormat, Row, StatusError, fields, render_list};
use crate::parse::{filters, filters_json};
use crate::values::{bool_at, get, str_at};
use serde_json::{Value, json};

const HEADERS: [(&str, &str); 4] = [
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
];

pub(super) async fn ls(client: &Client, a: LsArgs) -> anyhow::Result<()> {
    let f = filters(&a.filter).map_err(|m| StatusError {
        code: 125,
        message: m,
    })?;
    let fjson = filters_json(&f);
    let path = Query::new()
        .push_if(fjson.is_some(), "filters", fjson.unwrap_or_default())
        .to_path("/networks");
    let networks: Vec<Value> = client.get_json(&path).await?;
    let format = ListFormat::from_flags(a.format.as_deref(), a.quiet)?;
    emit(&render_ls(networks, &format, !a.no_trunc)?);
    Ok(())
}

/// `k=v,k2=v2`, sorted, as docker's formatter joins labels.
fn labels(n: &Value) -> String {
    let mut pairs: Vec<String> = get(n, &["Labels"])
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// Renders `network ls`.
pub fn render_ls(
    mut networks: Vec<Value>,
    format: &ListFormat,
    trunc: bool,
) -> Result<String, StatusError> {
    networks.sort_by(|a, b| natural_cmp(str_at(a, &["Name"]), str_at(b, &["Name"])));
    let rows: Vec<Row> = networks
        .iter()
        .map(|n| {
            let id = str_at(n, &["Id"]);
            let id = if trunc {
                truncate_id(id)
            } else {
                id.to_string()
            };
            let cells = vec![
                id,
                str_at(n, &["Name"]).to_string(),
                str_at(n, &["Driver"]).to_string(),
                str_at(n, &["Scope"]).to_string(),
            ];
            Row {
                fields: fields([
                    ("ID", json!(cells[0])),
                    ("Name", json!(cells[1])),
                    ("Driver", json!(cells[2])),
                    ("Scope", json!(cells[3])),
                    ("IPv6", json!(bool_at(n, &["EnableIPv6"]).to_string())),
                    ("Internal", json!(bool_at(n, &["Internal"]).to_string())),
                    ("Labels", json!(labels(n))),
                    ("CreatedAt", json!(str_at(n, &["Created"]))),
                ]),
                cells,
            }
        })
        .collect();
    render_list(format, &HEADERS, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_ls_matches_docker() {
        let nets = vec![
            json!({"Id": "zz9aaaaaaaaaaaaaaaaaaaaaa", "Name": "app_front", "Driver": "overlay", "Scope": "swarm",
                   "Labels": {"com.docker.stack.namespace": "app"}}),
            json!({"Id": "ab1aaaaaaaaaaaaaaaaaaaaaa", "Name": "app_default", "Driver": "overlay", "Scope": "swarm"}),
        ];
        let out = render_ls(nets.clone(), &ListFormat::Table, true).expect("renders");
        let want = "\
NETWORK ID     NAME          DRIVER    SCOPE
ab1aaaaaaaaa   app_default   overlay   swarm
zz9aaaaaaaaa   app_front     overlay   swarm
";
        assert_eq!(out, want);
        let q = render_ls(nets.clone(), &ListFormat::Quiet, false).expect("renders");
        assert_eq!(q, "ab1aaaaaaaaaaaaaaaaaaaaaa\nzz9aaaaaaaaaaaaaaaaaaaaaa\n");
        let custom = ListFormat::from_flags(Some("{{.Name}} {{.Labels}}"), false).expect("valid");
        assert_eq!(
            render_ls(nets, &custom, true).expect("renders"),
            "app_default \napp_front com.docker.stack.namespace=app\n"
        );
    }
}
