//! `/configs…`: create, list, inspect, update (labels only), remove. Unlike secrets, a
//! config's `Spec.Data` is returned.

use super::system::{json, json_status};
use super::{AppState, Query};
use crate::body::{JsonBody, query_version};
use crate::error::ApiError;
use crate::filters::Filters;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use shoal_types::api::ConfigSpec;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/configs", get(list))
        .route("/configs/create", post(create))
        .route("/configs/{id}", get(inspect).delete(remove))
        .route("/configs/{id}/update", post(update))
}

async fn create(
    State(backend): State<AppState>,
    JsonBody(spec): JsonBody<ConfigSpec>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let id = control.create_config(spec).await?;
    Ok(json_status(
        StatusCode::CREATED,
        serde_json::json!({ "ID": id }),
    ))
}

async fn list(State(backend): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let filters = Filters::parse(q.get("filters"), &["id", "label", "name"])?;
    let out: Vec<_> = control
        .configs()
        .into_iter()
        .filter(|s| {
            filters.any("id", |v| s.id.starts_with(v))
                && filters.any("name", |v| s.name().starts_with(v))
                && filters.labels_match("label", s.spec.labels.as_ref())
        })
        .collect();
    Ok(json(out))
}

async fn inspect(
    State(backend): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    Ok(json(control.resolve_config(&id)?))
}

async fn update(
    State(backend): State<AppState>,
    Path(id): Path<String>,
    q: Query,
    JsonBody(spec): JsonBody<ConfigSpec>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let version = query_version(q.get("version"))?;
    control.update_config(&id, version, spec).await?;
    Ok(().into_response())
}

async fn remove(
    State(backend): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    control.remove_config(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
