//! `/networks…`: create, list (with moby's filters), inspect, remove. Every network is a
//! swarm-scoped overlay; the JSON is the Engine API `Network` shape (note `Id`, not `ID`).

use super::system::{json, json_status};
use super::{AppState, Query};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::filters::Filters;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use shoal_manager::control::{Control, VXLANID_OPTION};
use shoal_types::Network;
use shoal_types::api::NetworkCreateRequest;

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

async fn list(State(backend): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let filters = Filters::parse(
        q.get("filters"),
        &["dangling", "driver", "id", "label", "name", "scope", "type"],
    )?;
    let mut nets = control.networks();
    nets.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    let mut out = Vec::new();
    for n in &nets {
        if keep(&control, &filters, n)? {
            out.push(network_json(n));
        }
    }
    Ok(json(out))
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

async fn inspect(
    State(backend): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    if let Some(scope) = q.get("scope")
        && !matches!(scope.as_str(), "" | SCOPE)
    {
        // moby looks only in the asked scope; there is nothing local here.
        return Err(ApiError::not_found(format!("network {id} not found")));
    }
    Ok(json(network_json(&control.resolve_network(&id)?)))
}

async fn remove(
    State(backend): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    control.remove_network(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::{Ipam, IpamConfig};

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
