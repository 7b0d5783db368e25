//! `/networks…`: create, list (with moby's filters), inspect, remove. Every network shoal makes
//! is a swarm-scoped overlay; the JSON is the Engine API `Network` shape (note `Id`, not `ID`).
//! The engine's local networks are listed beside them and answer inspect and remove when the
//! swarm has no network of that name, as on a manager's dockerd.

use super::system::{json, json_status};
use super::{AppState, Query};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::filters::Filters;
use crate::merge::NETWORK_ID_LABEL;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use shoal_manager::control::{Control, VXLANID_OPTION};
use shoal_types::api::NetworkCreateRequest;
use shoal_types::dispatch::NodeNetwork;
use shoal_types::{Network, NodeId};
use std::collections::BTreeMap;

/// Every shoal network is managed by the swarm.
const SCOPE: &str = "swarm";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/{id}", get(inspect).delete(remove))
}

/// The Engine API JSON of `n`. Driver options include the VNI as Docker shows it.
pub fn network_json(n: &Network) -> Value {
    let mut options = n.spec.options.clone();
    if n.vni != 0 {
        options.insert(VXLANID_OPTION.to_string(), n.vni.to_string());
    }
    let mut ipam = serde_json::to_value(&n.ipam).unwrap_or_else(|_| json!({}));
    if let Some(obj) = ipam.as_object_mut() {
        obj.entry("Driver").or_insert(json!("default"));
        obj.entry("Options").or_insert(Value::Null);
        obj.entry("Config").or_insert(json!([]));
    }
    json!({
        "Name": n.spec.name,
        "Id": n.id,
        "Created": n.meta.created_at,
        "Scope": SCOPE,
        "Driver": n.spec.driver,
        "EnableIPv6": n.spec.enable_ipv6,
        "IPAM": ipam,
        "Internal": n.spec.internal,
        "Attachable": n.spec.attachable,
        "Ingress": n.spec.ingress,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": {},
        "Options": options,
        "Labels": n.spec.labels,
    })
}

/// moby's `Args.Match`: an exact value or a pattern found in `source`. Patterns are
/// regular expressions in moby; a substring is the common case and what is supported.
fn matches(values: &[String], source: &str) -> bool {
    values.is_empty() || values.iter().any(|v| source.contains(v.as_str()))
}

fn keep(control: &Control, f: &Filters, n: &Network) -> Result<bool, ApiError> {
    let mut keep = f.any("driver", |v| v == n.spec.driver)
        && matches(f.get("name"), &n.spec.name)
        && matches(f.get("id"), &n.id)
        && f.labels_match("label", Some(&n.spec.labels))
        && f.any("scope", |v| v == SCOPE);
    for t in f.get("type") {
        match t.as_str() {
            // No shoal network is predefined.
            "custom" => {}
            "builtin" => keep = false,
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter: 'type'='{other}'"
                )));
            }
        }
    }
    if let Some(d) = f.get("dangling").first() {
        let want = match d.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter: 'dangling'='{d}'"
                )));
            }
        };
        keep = keep && control.network_users(n).is_empty() == want;
    }
    Ok(keep)
}

/// The engine's local networks (filtered by the engine) and the swarm's, as a manager's
/// dockerd lists them; off a manager, the engine's alone.
async fn list(State(backend): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let filters = Filters::parse(
        q.get("filters"),
        &["dangling", "driver", "id", "label", "name", "scope", "type"],
    )?;
    let engine = match backend.engine() {
        Some(engine) => {
            let path = match q.get("filters") {
                Some(f) => format!(
                    "/networks?{}",
                    serde_urlencoded::to_string([("filters", f)]).unwrap_or_default()
                ),
                None => "/networks".to_string(),
            };
            Some(engine.get_json(&path).await?)
        }
        None => None,
    };
    let control = match (backend.control(), &engine) {
        (Ok(c), _) => Some(c),
        (Err(_), Some(_)) => None,
        (Err(e), None) => return Err(e),
    };
    let mut out = Vec::new();
    if let Some(control) = control {
        let mut nets = control.networks();
        nets.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        for n in &nets {
            if keep(&control, &filters, n)? {
                out.push(network_json(n));
            }
        }
    }
    Ok(json(crate::merge::networks(
        engine.unwrap_or(Value::Null),
        out,
    )))
}

/// Adds what Docker's `network inspect` shows of a swarm network's members: `Peers` (the
/// nodes that have it up: name and data-path address) and, with `verbose`, `Services` (each
/// service's VIP, published ports and tasks with their addresses and hosts).
fn add_members(
    out: &mut Value,
    view: &NodeNetwork,
    names: &BTreeMap<NodeId, String>,
    verbose: bool,
) {
    let host_ip: BTreeMap<&NodeId, &str> = view
        .nodes
        .iter()
        .map(|n| (&n.node_id, n.addr.as_str()))
        .collect();
    let peers: Vec<Value> = view
        .nodes
        .iter()
        .map(|n| {
            let name = names
                .get(&n.node_id)
                .map(String::as_str)
                .unwrap_or(n.node_id.as_str());
            json!({"Name": name, "IP": n.addr})
        })
        .collect();
    out["Peers"] = json!(peers);
    if !verbose {
        return;
    }
    let services: serde_json::Map<String, Value> = view
        .services
        .iter()
        .map(|s| {
            let tasks: Vec<Value> = view
                .endpoints
                .iter()
                .filter(|e| e.service_id == s.service_id)
                .map(|e| {
                    json!({
                        "Name": e.names.first().cloned().unwrap_or_default(),
                        "EndpointID": e.task_id,
                        "EndpointIP": e.addr,
                        "Info": {"Host IP": host_ip.get(&e.node_id).copied().unwrap_or_default()},
                    })
                })
                .collect();
            let ports: Vec<String> = s
                .ports
                .iter()
                .map(|p| format!("Target: {}, Publish: {}", p.target, p.published))
                .collect();
            let service = json!({
                "VIP": s.vip.clone().unwrap_or_default(),
                "Ports": ports,
                "LocalLBIndex": 0,
                "Tasks": tasks,
            });
            (s.name.clone(), service)
        })
        .collect();
    out["Services"] = Value::Object(services);
}

/// The containers on this node attached to `n`: the `Containers` of the engine network shoal
/// made for it here (labelled with its id), if this node has it.
async fn local_containers(backend: &AppState, n: &Network) -> Option<Value> {
    let engine = backend.engine()?;
    let local = engine
        .call_json(http::Method::GET, &format!("/networks/{}", n.spec.name))
        .await
        .ok()?;
    (local["Labels"][NETWORK_ID_LABEL] == n.id.as_str()).then(|| local["Containers"].clone())
}

/// The engine's answer for a network the swarm does not have: a local one.
async fn engine_network(
    backend: &AppState,
    method: http::Method,
    id: &str,
    query: Option<String>,
    swarm_err: ApiError,
) -> Result<Value, ApiError> {
    let Some(engine) = backend.engine() else {
        return Err(swarm_err);
    };
    let id: String = serde_urlencoded::to_string([("", id)])
        .unwrap_or_default()
        .trim_start_matches('=')
        .to_string();
    let path = match query {
        Some(q) => format!("/networks/{id}?{q}"),
        None => format!("/networks/{id}"),
    };
    engine.call_json(method, &path).await
}

async fn create(
    State(backend): State<AppState>,
    JsonBody(req): JsonBody<NetworkCreateRequest>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let id = control.create_network(req).await?;
    Ok(json_status(
        StatusCode::CREATED,
        json!({ "Id": id, "Warning": "" }),
    ))
}

/// A swarm network, else the engine's local network of that name or id.
async fn inspect(
    State(backend): State<AppState>,
    Path(id): Path<String>,
    q: Query,
    uri: http::Uri,
) -> Result<Response, ApiError> {
    let scope = q.get("scope").map(String::as_str).unwrap_or("");
    let swarm = if matches!(scope, "" | SCOPE) {
        backend
            .control()
            .and_then(|c| c.resolve_network(&id).map_err(ApiError::from))
    } else {
        // moby looks only in the asked scope.
        Err(ApiError::not_found(format!("network {id} not found")))
    };
    match swarm {
        Ok(n) => {
            let mut out = network_json(&n);
            let verbose = q.get("verbose").is_some_and(|v| v == "true" || v == "1");
            if let Ok(control) = backend.control() {
                let (view, names) = control.network_members(&n);
                add_members(&mut out, &view, &names, verbose);
            }
            if let Some(containers) = local_containers(&backend, &n).await {
                out["Containers"] = containers;
            }
            Ok(json(out))
        }
        Err(e) if scope == SCOPE => Err(e),
        Err(e) => {
            let query = uri.query().map(str::to_string);
            Ok(json(
                engine_network(&backend, http::Method::GET, &id, query, e).await?,
            ))
        }
    }
}

/// A swarm network, else the engine's local network of that name or id.
async fn remove(
    State(backend): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let swarm = match backend.control() {
        Ok(control) => control.remove_network(&id).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match swarm {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) if e.status == StatusCode::NOT_FOUND || backend.control().is_err() => {
            engine_network(&backend, http::Method::DELETE, &id, None, e).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::{Ipam, IpamConfig};
    use shoal_types::dispatch::{NetEndpoint, NetNode, NetPort, NetService};

    #[test]
    fn members_show_peers_and_verbose_services_as_docker_does() {
        let view = NodeNetwork {
            nodes: vec![NetNode {
                node_id: "n1".into(),
                addr: "10.99.0.11".into(),
                ..NetNode::default()
            }],
            endpoints: vec![NetEndpoint {
                task_id: "t1".into(),
                service_id: "s1".into(),
                node_id: "n1".into(),
                addr: "10.0.1.3".into(),
                ready: true,
                names: vec!["web.1.t1".into()],
                aliases: vec![],
                dns: vec![],
            }],
            services: vec![NetService {
                service_id: "s1".into(),
                name: "web".into(),
                vip: Some("10.0.1.2".into()),
                ports: vec![NetPort {
                    protocol: "tcp".into(),
                    target: 80,
                    published: 8080,
                    ingress: true,
                    proxy_protocol: false,
                }],
                ..NetService::default()
            }],
            ..NodeNetwork::default()
        };
        let names = BTreeMap::from([(NodeId::from("n1"), "host1".to_string())]);
        let mut out = json!({});
        add_members(&mut out, &view, &names, false);
        assert_eq!(
            out,
            json!({"Peers": [{"Name": "host1", "IP": "10.99.0.11"}]})
        );
        add_members(&mut out, &view, &names, true);
        assert_eq!(
            out["Services"],
            json!({"web": {
                "VIP": "10.0.1.2",
                "Ports": ["Target: 80, Publish: 8080"],
                "LocalLBIndex": 0,
                "Tasks": [{
                    "Name": "web.1.t1",
                    "EndpointID": "t1",
                    "EndpointIP": "10.0.1.3",
                    "Info": {"Host IP": "10.99.0.11"},
                }],
            }})
        );
    }

    #[test]
    fn network_json_has_the_engine_api_shape() {
        let mut n = Network {
            id: "abc".into(),
            vni: 4097,
            ipam: Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some("10.0.1.0/24".into()),
                    gateway: Some("10.0.1.1".into()),
                    ..IpamConfig::default()
                }]),
                options: None,
            },
            ..Network::default()
        };
        n.spec.name = "app_default".into();
        n.spec.driver = "overlay".into();
        n.spec
            .labels
            .insert("com.docker.stack.namespace".into(), "app".into());
        let v = network_json(&n);
        assert_eq!(v["Id"], "abc");
        assert!(v.get("ID").is_none());
        assert_eq!(v["Scope"], "swarm");
        assert_eq!(v["Driver"], "overlay");
        assert_eq!(v["IPAM"]["Driver"], "default");
        assert_eq!(v["IPAM"]["Options"], Value::Null);
        assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "10.0.1.0/24");
        assert_eq!(v["IPAM"]["Config"][0]["Gateway"], "10.0.1.1");
        assert_eq!(v["Options"][VXLANID_OPTION], "4097");
        assert_eq!(v["Labels"]["com.docker.stack.namespace"], "app");
        assert_eq!(v["Containers"], json!({}));
        assert_eq!(v["Attachable"], false);
    }

    #[test]
    fn name_and_id_filters_match_substrings() {
        assert!(matches(&[], "x"));
        assert!(matches(&["front".into()], "app_front"));
        assert!(!matches(&["back".into()], "app_front"));
    }
}
