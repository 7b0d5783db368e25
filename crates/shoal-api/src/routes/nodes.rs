//! `/nodes…`: list with filters, inspect, update, remove.

use super::system::json;
use super::{AppState, Query};
use crate::body::{JsonBody, query_bool, query_version};
use crate::error::ApiError;
use crate::filters::Filters;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use shoal_types::Node;
use shoal_types::api::NodeSpec;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/nodes", get(list))
        .route("/nodes/{id}", get(inspect).delete(remove))
        .route("/nodes/{id}/update", post(update))
}

fn node_matches(n: &Node, f: &Filters) -> Result<bool, ApiError> {
    for role in f.get("role") {
        if role != "manager" && role != "worker" {
            return Err(ApiError::internal(format!("Invalid role filter: '{role}'")));
        }
    }
    for m in f.get("membership") {
        if m != "accepted" && m != "pending" {
            return Err(ApiError::internal(format!(
                "Invalid membership filter: '{m}'"
            )));
        }
    }
    let role = if n.is_manager() { "manager" } else { "worker" };
    Ok(f.any("id", |v| n.id.as_str().starts_with(v))
        && f.any("name", |v| {
            n.display_name().starts_with(v)
                || n.spec.name.as_deref().is_some_and(|s| s.starts_with(v))
        })
        && f.any("role", |v| v == role)
        && f.any("membership", |v| v == "accepted")
        && f.labels_match(
            "label",
            n.description
                .engine
                .as_ref()
                .and_then(|e| e.labels.as_ref()),
        )
        && f.labels_match("node.label", n.spec.labels.as_ref()))
}

async fn list(State(backend): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let filters = Filters::parse(
        q.get("filters"),
        &["id", "label", "membership", "name", "node.label", "role"],
    )?;
    let mut out = Vec::new();
    for n in control.nodes() {
        if node_matches(&n, &filters)? {
            out.push(n);
        }
    }
    Ok(json(out))
}

async fn inspect(
    State(backend): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    Ok(json(control.resolve_node(&id)?))
}

async fn update(
    State(backend): State<AppState>,
    Path(id): Path<String>,
    q: Query,
    JsonBody(spec): JsonBody<NodeSpec>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let version = query_version(q.get("version"))?;
    control.update_node(&id, version, spec).await?;
    Ok(().into_response())
}

async fn remove(
    State(backend): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    control.remove_node(&id, query_bool(q.get("force"))).await?;
    Ok(().into_response())
}
