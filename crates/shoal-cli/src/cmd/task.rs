//! Task tables, shared by `node ps` and `service ps` (docker/cli `cli/command/task`).
//!
//! Tasks are named `<service>.<slot>` (or `<service>.<node id>` for global services),
//! sorted by name (natural order) and then newest first; in tables, older tasks of the same
//! slot are shown as ` \_ <name>`.

use crate::client::{Client, segment};
use crate::format::{capitalize, ellipsis, natural_cmp, truncate_id};
use crate::output::{ListFormat, Row, fields, render_list};
use crate::timefmt::{Timestamp, ago};
use crate::values::{str_at, u64_at};
use serde_json::{Value, json};
use std::collections::HashMap;

/// docker truncates task errors to this many characters unless `--no-trunc`.
const MAX_ERR_LENGTH: usize = 30;

pub const HEADERS: [(&str, &str); 8] = [
    ("ID", "ID"),
    ("Name", "NAME"),
    ("Image", "IMAGE"),
    ("Node", "NODE"),
    ("DesiredState", "DESIRED STATE"),
    ("CurrentState", "CURRENT STATE"),
    ("Error", "ERROR"),
    ("Ports", "PORTS"),
];

/// Resolves service and node IDs to names, caching answers; best effort like docker's
/// `idresolver` (an ID that cannot be resolved is shown as is).
#[derive(Debug, Default)]
pub struct Resolver {
    no_resolve: bool,
    services: HashMap<String, String>,
    nodes: HashMap<String, String>,
}

impl Resolver {
    pub fn new(no_resolve: bool) -> Self {
        Resolver {
            no_resolve,
            ..Default::default()
        }
    }

    /// Pre-seeds names (tests, or callers that already hold the objects).
    pub fn with_names(services: HashMap<String, String>, nodes: HashMap<String, String>) -> Self {
        Resolver {
            no_resolve: false,
            services,
            nodes,
        }
    }

    pub async fn service(&mut self, client: &Client, id: &str) -> String {
        if self.no_resolve {
            return id.to_string();
        }
        if let Some(n) = self.services.get(id) {
            return n.clone();
        }
        let name = match client
            .get_json::<Value>(&format!("/services/{}", segment(id)))
            .await
        {
            Ok(s) => str_at(&s, &["Spec", "Name"]).to_string(),
            Err(_) => id.to_string(),
        };
        self.services.insert(id.to_string(), name.clone());
        name
    }

    pub async fn node(&mut self, client: &Client, id: &str) -> String {
        if self.no_resolve || id.is_empty() {
            return id.to_string();
        }
        if let Some(n) = self.nodes.get(id) {
            return n.clone();
        }
        let name = match client
            .get_json::<Value>(&format!("/nodes/{}", segment(id)))
            .await
        {
            Ok(n) => node_display_name(&n, id),
            Err(_) => id.to_string(),
        };
        self.nodes.insert(id.to_string(), name.clone());
        name
    }

    /// Resolves every service and node the tasks mention.
    pub async fn resolve_all(&mut self, client: &Client, tasks: &[Value]) {
        for t in tasks {
            self.service(client, str_at(t, &["ServiceID"])).await;
            self.node(client, str_at(t, &["NodeID"])).await;
        }
    }

    fn cached_service(&self, id: &str) -> String {
        if self.no_resolve {
            id.to_string()
        } else {
            self.services
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_string())
        }
    }

    fn cached_node(&self, id: &str) -> String {
        if self.no_resolve {
            id.to_string()
        } else {
            self.nodes
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_string())
        }
    }
}

/// `Spec.Name`, else the hostname, else the ID.
pub fn node_display_name(node: &Value, id: &str) -> String {
    let name = str_at(node, &["Spec", "Name"]);
    if !name.is_empty() {
        return name.to_string();
    }
    let host = str_at(node, &["Description", "Hostname"]);
    if !host.is_empty() {
        return host.to_string();
    }
    id.to_string()
}

/// Renders tasks as docker's `task.Print` does, with names already resolved.
pub fn render(
    tasks: &[Value],
    resolver: &Resolver,
    format: &ListFormat,
    trunc: bool,
    now: &Timestamp,
) -> Result<String, crate::output::StatusError> {
    let mut named: Vec<(String, &Value)> = tasks
        .iter()
        .map(|t| {
            let service = resolver.cached_service(str_at(t, &["ServiceID"]));
            let slot = u64_at(t, &["Slot"]);
            let name = if slot != 0 {
                format!("{service}.{slot}")
            } else {
                format!("{service}.{}", str_at(t, &["NodeID"]))
            };
            (name, t)
        })
        .collect();
    named.sort_by(|(an, a), (bn, b)| {
        natural_cmp(an, bn).then_with(|| {
            let ta = Timestamp::parse(str_at(a, &["CreatedAt"]));
            let tb = Timestamp::parse(str_at(b, &["CreatedAt"]));
            tb.cmp(&ta)
        })
    });
    let indent = matches!(
        format,
        ListFormat::Table | ListFormat::Custom { table: true, .. }
    );
    let mut rows = Vec::with_capacity(named.len());
    let mut prev = String::new();
    for (name, t) in &named {
        let shown = if indent && *name == prev {
            format!(" \\_ {name}")
        } else {
            name.clone()
        };
        prev = name.clone();
        rows.push(row(
            t,
            shown,
            resolver.cached_node(str_at(t, &["NodeID"])),
            trunc,
            now,
        ));
    }
    render_list(format, &HEADERS, &rows)
}

fn row(t: &Value, name: String, node: String, trunc: bool, now: &Timestamp) -> Row {
    let id = str_at(t, &["ID"]);
    let id = if trunc {
        truncate_id(id)
    } else {
        id.to_string()
    };
    let image = str_at(t, &["Spec", "ContainerSpec", "Image"]);
    let image = if trunc {
        familiar_tagged(image)
    } else {
        image.to_string()
    };
    let desired = capitalize(str_at(t, &["DesiredState"]));
    let current = format!(
        "{} {}",
        capitalize(str_at(t, &["Status", "State"])),
        current_age(str_at(t, &["Status", "Timestamp"]), now).to_lowercase()
    );
    let mut err = str_at(t, &["Status", "Err"]).to_string();
    if trunc {
        err = ellipsis(&err, MAX_ERR_LENGTH);
    }
    if !err.is_empty() {
        err = format!("\"{err}\"");
    }
    let ports = task_ports(t);
    Row {
        cells: vec![
            id.clone(),
            name.clone(),
            image.clone(),
            node.clone(),
            desired.clone(),
            current.clone(),
            err.clone(),
            ports.clone(),
        ],
        fields: fields([
            ("ID", json!(id)),
            ("Name", json!(name)),
            ("Image", json!(image)),
            ("Node", json!(node)),
            ("DesiredState", json!(desired)),
            ("CurrentState", json!(current)),
            ("Error", json!(err)),
            ("Ports", json!(ports)),
        ]),
    }
}

/// "5 minutes ago"; a missing timestamp counts from the epoch like Go's zero time would
/// not, so it prints as an empty age instead.
fn current_age(ts: &str, now: &Timestamp) -> String {
    let a = ago(ts, now);
    if a.is_empty() {
        "less than a second ago".to_string()
    } else {
        a
    }
}

/// Host-mode published ports of a task, `*:8080->80/tcp`.
fn task_ports(t: &Value) -> String {
    let Some(ports) =
        crate::values::get(t, &["Status", "PortStatus", "Ports"]).and_then(Value::as_array)
    else {
        return String::new();
    };
    ports
        .iter()
        .map(|p| {
            format!(
                "*:{}->{}/{}",
                u64_at(p, &["PublishedPort"]),
                u64_at(p, &["TargetPort"]),
                str_at(p, &["Protocol"])
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// docker shows images as familiar `name:tag`, dropping a pinned digest when a tag is
/// present and the `docker.io/library/` prefix.
pub fn familiar_tagged(image: &str) -> String {
    let (named, has_digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = named.rsplit('/').next().unwrap_or(named);
    let has_tag = last.contains(':');
    if has_digest && !has_tag {
        return image.to_string();
    }
    let familiar = named.strip_prefix("docker.io/").unwrap_or(named);
    let familiar = familiar
        .strip_prefix("library/")
        .filter(|r| !r.contains('/'))
        .unwrap_or(familiar);
    familiar.to_string()
}

/// Lists tasks matching `filters` (already JSON).
pub async fn list(client: &Client, filters: Option<String>) -> anyhow::Result<Vec<Value>> {
    let path = crate::client::Query::new()
        .push_if(filters.is_some(), "filters", filters.unwrap_or_default())
        .to_path("/tasks");
    Ok(client.get_json(&path).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, slot: u64, created: &str, state: &str, desired: &str, err: &str) -> Value {
        json!({
            "ID": id, "ServiceID": "svc1", "NodeID": "node1", "Slot": slot, "CreatedAt": created,
            "Spec": {"ContainerSpec": {"Image": "nginx:latest@sha256:abcdef"}},
            "DesiredState": desired,
            "Status": {"Timestamp": "2024-01-01T00:00:00Z", "State": state, "Err": err}
        })
    }

    #[test]
    fn service_ps_table_matches_docker() {
        let tasks = vec![
            task(
                "aaaaaaaaaaaaaaaaaaaaaaaaa",
                1,
                "2024-01-01T00:00:00Z",
                "shutdown",
                "shutdown",
                "task: non-zero exit (1): something went very wrong",
            ),
            task(
                "bbbbbbbbbbbbbbbbbbbbbbbbb",
                1,
                "2024-01-01T00:01:00Z",
                "running",
                "running",
                "",
            ),
            task(
                "ccccccccccccccccccccccccc",
                2,
                "2024-01-01T00:00:30Z",
                "running",
                "running",
                "",
            ),
        ];
        let resolver = Resolver::with_names(
            HashMap::from([("svc1".to_string(), "web".to_string())]),
            HashMap::from([("node1".to_string(), "node-1".to_string())]),
        );
        let now = Timestamp::parse("2024-01-01T00:05:00Z").expect("valid");
        let out = render(&tasks, &resolver, &ListFormat::Table, true, &now).expect("renders");
        let want = "\
ID             NAME        IMAGE          NODE      DESIRED STATE   CURRENT STATE            ERROR                              PORTS
bbbbbbbbbbbb   web.1       nginx:latest   node-1    Running         Running 5 minutes ago                                       
aaaaaaaaaaaa    \\_ web.1   nginx:latest   node-1    Shutdown        Shutdown 5 minutes ago   \"task: non-zero exit (1): some…\"   
cccccccccccc   web.2       nginx:latest   node-1    Running         Running 5 minutes ago                                       
";
        assert_eq!(out, want);
    }

    #[test]
    fn json_rows_have_no_history_marker() {
        let tasks = vec![
            task("a", 1, "2024-01-01T00:00:00Z", "shutdown", "shutdown", ""),
            task("b", 1, "2024-01-01T00:01:00Z", "running", "running", ""),
        ];
        let resolver = Resolver::with_names(
            HashMap::from([("svc1".into(), "web".into())]),
            HashMap::new(),
        );
        let now = Timestamp::parse("2024-01-01T00:05:00Z").expect("valid");
        let out = render(&tasks, &resolver, &ListFormat::Json, false, &now).expect("renders");
        assert!(out.lines().all(|l| l.contains("\"Name\":\"web.1\"")));
        assert!(out.contains("\"Node\":\"node1\""));
    }

    #[test]
    fn images_are_shown_familiar() {
        assert_eq!(familiar_tagged("nginx:latest@sha256:abc"), "nginx:latest");
        assert_eq!(familiar_tagged("nginx@sha256:abc"), "nginx@sha256:abc");
        assert_eq!(familiar_tagged("docker.io/library/redis:7"), "redis:7");
        assert_eq!(
            familiar_tagged("localhost:5000/app:1"),
            "localhost:5000/app:1"
        );
    }
}
