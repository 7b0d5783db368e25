//! `node ls`.

use super::LsArgs;
use crate::client::{Client, Query};
use crate::cmd::emit;
use crate::format::{capitalize, natural_cmp};
use crate::output::{ListFormat, Row, StatusError, fields, render_list};
use crate::parse::{filters, filters_json};
use crate::values::{bool_at, get, str_at};
use serde_json::{Value, json};

const LS_HEADERS: [(&str, &str); 8] = [
    ("ID", "ID"),
    ("Self", ""),
    ("Hostname", "HOSTNAME"),
    ("Status", "STATUS"),
    ("Availability", "AVAILABILITY"),
    ("ManagerStatus", "MANAGER STATUS"),
    ("EngineVersion", "ENGINE VERSION"),
    ("TLSStatus", "TLS STATUS"),
];

/// The default table's header: docker's template is `{{.ID}} {{if .Self}}*{{else}} {{end}}`,
/// which renders the ID header as `ID` plus two spaces.
const LS_TABLE_HEADER: [(&str, &str); 6] = [
    ("ID", "ID  "),
    ("Hostname", "HOSTNAME"),
    ("Status", "STATUS"),
    ("Availability", "AVAILABILITY"),
    ("ManagerStatus", "MANAGER STATUS"),
    ("EngineVersion", "ENGINE VERSION"),
];

pub(super) async fn ls(client: &Client, a: LsArgs) -> anyhow::Result<()> {
    let f = filters(&a.filter).map_err(|m| StatusError {
        code: 125,
        message: m,
    })?;
    let fjson = filters_json(&f);
    let path = Query::new()
        .push_if(fjson.is_some(), "filters", fjson.unwrap_or_default())
        .to_path("/nodes");
    let nodes: Vec<Value> = client.get_json(&path).await?;
    let info: Value = if !nodes.is_empty() && !a.quiet {
        client.get_json("/info").await?
    } else {
        json!({})
    };
    let format = ListFormat::from_flags(a.format.as_deref(), a.quiet)?;
    emit(&render_ls(nodes, &info, &format)?);
    Ok(())
}

/// Renders `node ls` (sorted by hostname, `*` on the current node).
pub fn render_ls(
    mut nodes: Vec<Value>,
    info: &Value,
    format: &ListFormat,
) -> Result<String, StatusError> {
    nodes.sort_by(|a, b| {
        natural_cmp(
            str_at(a, &["Description", "Hostname"]),
            str_at(b, &["Description", "Hostname"]),
        )
    });
    let self_id = str_at(info, &["Swarm", "NodeID"]);
    let cluster_tls = get(info, &["Swarm", "Cluster", "TLSInfo"]);
    let rows: Vec<Row> = nodes
        .iter()
        .map(|n| {
            let id = str_at(n, &["ID"]).to_string();
            let is_self = !id.is_empty() && id == self_id;
            let manager = match get(n, &["ManagerStatus"]).filter(|m| m.is_object()) {
                Some(m) if bool_at(m, &["Leader"]) => "Leader".to_string(),
                Some(m) => capitalize(str_at(m, &["Reachability"])),
                None => String::new(),
            };
            let status = capitalize(str_at(n, &["Status", "State"]));
            let avail = capitalize(str_at(n, &["Spec", "Availability"]));
            let host = str_at(n, &["Description", "Hostname"]).to_string();
            let engine = str_at(n, &["Description", "Engine", "EngineVersion"]).to_string();
            let tls = tls_status(get(n, &["Description", "TLSInfo"]), cluster_tls);
            Row {
                cells: vec![
                    format!("{id} {}", if is_self { "*" } else { " " }),
                    host.clone(),
                    status.clone(),
                    avail.clone(),
                    manager.clone(),
                    engine.clone(),
                ],
                fields: fields([
                    ("ID", json!(id)),
                    ("Self", json!(is_self)),
                    ("Hostname", json!(host)),
                    ("Status", json!(status)),
                    ("Availability", json!(avail)),
                    ("ManagerStatus", json!(manager)),
                    ("EngineVersion", json!(engine)),
                    ("TLSStatus", json!(tls)),
                ]),
            }
        })
        .collect();
    match format {
        ListFormat::Table => {
            let mut all = vec![
                LS_TABLE_HEADER
                    .iter()
                    .map(|(_, h)| h.to_string())
                    .collect::<Vec<_>>(),
            ];
            all.extend(rows.into_iter().map(|r| r.cells));
            Ok(crate::format::table(&all))
        }
        other => render_list(other, &LS_HEADERS, &rows),
    }
}

fn tls_status(node: Option<&Value>, cluster: Option<&Value>) -> &'static str {
    let empty = |t: Option<&Value>| {
        t.is_none_or(|t| {
            str_at(t, &["TrustRoot"]).is_empty()
                && str_at(t, &["CertIssuerSubject"]).is_empty()
                && str_at(t, &["CertIssuerPublicKey"]).is_empty()
        })
    };
    if empty(node) || empty(cluster) {
        return "Unknown";
    }
    let same = |k: &str| node.map(|n| str_at(n, &[k])) == cluster.map(|c| str_at(c, &[k]));
    if same("TrustRoot") && same("CertIssuerSubject") && same("CertIssuerPublicKey") {
        "Ready"
    } else {
        "Needs Rotation"
    }
}

/// docker's `node.Reference`: `self` is this node's ID from `/info`.
#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, host: &str, leader: Option<bool>, reach: &str) -> Value {
        let mut n = json!({
            "ID": id,
            "Spec": {"Role": "worker", "Availability": "active", "Labels": {}},
            "Description": {"Hostname": host, "Engine": {"EngineVersion": "28.2.2"}},
            "Status": {"State": "ready", "Addr": "10.0.0.1"}
        });
        if let Some(l) = leader {
            n["ManagerStatus"] =
                json!({"Leader": l, "Reachability": reach, "Addr": "10.0.0.1:2377"});
        }
        n
    }

    #[test]
    fn node_ls_matches_docker() {
        let nodes = vec![
            node(
                "nodeid10aaaaaaaaaaaaaaaaa",
                "node-10",
                Some(false),
                "reachable",
            ),
            node(
                "nodeid2aaaaaaaaaaaaaaaaaa",
                "node-2",
                Some(true),
                "reachable",
            ),
            node("nodeid1aaaaaaaaaaaaaaaaaa", "node-1", None, ""),
        ];
        let info = json!({"Swarm": {"NodeID": "nodeid2aaaaaaaaaaaaaaaaaa"}});
        let out = render_ls(nodes, &info, &ListFormat::Table).expect("renders");
        let want = "\
ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION
nodeid1aaaaaaaaaaaaaaaaaa     node-1     Ready     Active                          28.2.2
nodeid2aaaaaaaaaaaaaaaaaa *   node-2     Ready     Active         Leader           28.2.2
nodeid10aaaaaaaaaaaaaaaaa     node-10    Ready     Active         Reachable        28.2.2
";
        assert_eq!(out, want);
    }

    #[test]
    fn node_ls_json_rows_are_docker_contexts() {
        let out = render_ls(
            vec![node("x", "h", None, "")],
            &json!({"Swarm": {"NodeID": "x"}}),
            &ListFormat::Json,
        )
        .expect("renders");
        assert_eq!(
            out,
            "{\"Availability\":\"Active\",\"EngineVersion\":\"28.2.2\",\"Hostname\":\"h\",\"ID\":\"x\",\"ManagerStatus\":\"\",\"Self\":true,\"Status\":\"Ready\",\"TLSStatus\":\"Unknown\"}\n"
        );
    }
}
