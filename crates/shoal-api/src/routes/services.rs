//! `/services…`: create, list (with status), inspect, update/rollback, remove, logs.

use super::system::{json, json_status};
use super::{AppState, Query};
use crate::body::{JsonBody, query_bool, query_version};
use crate::error::ApiError;
use crate::filters::Filters;
use crate::routes::tasks::logs_response;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use shoal_manager::control::Rollback;
use shoal_types::Service;
use shoal_types::api::ServiceSpec;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/services", get(list))
        .route("/services/create", post(create))
        .route("/services/{id}", get(inspect).delete(remove))
        .route("/services/{id}/update", post(update))
        .route("/services/{id}/logs", get(logs))
}

/// Decodes a ServiceSpec body. Go decodes JSON case-insensitively and the docker CLI writes
/// `Healthcheck` where the swagger-generated model says `HealthCheck`; accept both.
fn service_spec(mut v: serde_json::Value) -> Result<ServiceSpec, ApiError> {
    if let Some(cs) = v
        .pointer_mut("/TaskTemplate/ContainerSpec")
        .and_then(|c| c.as_object_mut())
        && let Some(hc) = cs.remove("Healthcheck")
    {
        cs.entry("HealthCheck").or_insert(hc);
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

async fn create(
    State(backend): State<AppState>,
    JsonBody(spec): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    let spec = service_spec(spec)?;
    let control = backend.control()?;
    let id = control.create_service(spec).await?;
    Ok(json_status(
        StatusCode::CREATED,
        serde_json::json!({ "ID": id, "Warnings": null }),
    ))
}

fn service_json(
    s: &Service,
    status: Option<shoal_manager::control::ServiceStatusCounts>,
) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        // Internal bookkeeping stays internal.
        obj.remove("SpecVersion");
        obj.remove("PreviousSpecVersion");
        if let Some(st) = status {
            obj.insert(
                "ServiceStatus".into(),
                serde_json::json!({ "RunningTasks": st.running, "DesiredTasks": st.desired, "CompletedTasks": st.completed }),
            );
        }
    }
    v
}

async fn list(State(backend): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let filters = Filters::parse(
        q.get("filters"),
        &["id", "label", "mode", "name", "runtime"],
    )?;
    let with_status = query_bool(q.get("status"));
    let mut out = Vec::new();
    for s in control.services() {
        let keep = filters.any("id", |v| s.id.as_str().starts_with(v))
            && filters.any("name", |v| s.name().starts_with(v))
            && filters.any("mode", |v| v == s.mode().name())
            && filters.any("runtime", |v| v == "container")
            && filters.labels_match("label", s.spec.labels.as_ref());
        if keep {
            let status = with_status.then(|| control.service_status(&s));
            out.push(service_json(&s, status));
        }
    }
    Ok(json(out))
}

async fn inspect(
    State(backend): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let mut svc = control.resolve_service(&id)?;
    if query_bool(q.get("insertDefaults")) {
        shoal_manager::control::defaults::insert_defaults(&mut svc.spec);
        if let Some(prev) = svc.previous_spec.as_mut() {
            shoal_manager::control::defaults::insert_defaults(prev);
        }
    }
    Ok(json(service_json(&svc, None)))
}

async fn update(
    State(backend): State<AppState>,
    Path(id): Path<String>,
    q: Query,
    JsonBody(spec): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    let spec = service_spec(spec)?;
    let control = backend.control()?;
    let version = query_version(q.get("version"))?;
    let rollback = match q.get("rollback").map(String::as_str) {
        None | Some("") | Some("none") => Rollback::None,
        Some("previous") => Rollback::Previous,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unrecognized rollback option {other}"
            )));
        }
    };
    if let Some(from) = q.get("registryAuthFrom")
        && !matches!(from.as_str(), "" | "spec" | "previous-spec")
    {
        return Err(ApiError::bad_request(format!(
            "unsupported registryAuthFrom '{from}'"
        )));
    }
    control.update_service(&id, version, spec, rollback).await?;
    Ok(json(serde_json::json!({ "Warnings": null })))
}

async fn remove(
    State(backend): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    control.remove_service(&id).await?;
    Ok(().into_response())
}

async fn logs(
    State(backend): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let svc = control.resolve_service(&id)?;
    let mut tasks: Vec<_> = control
        .tasks()
        .into_iter()
        .filter(|t| t.service_id == svc.id && !t.node_id.is_empty())
        .collect();
    tasks.sort_by_key(|t| (t.slot, t.meta.created_at.clone()));
    logs_response(backend, tasks, &q).await
}
