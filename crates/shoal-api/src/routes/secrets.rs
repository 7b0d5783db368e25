//! `/secrets…`: create, list, inspect, update (labels only), remove. `Spec.Data` is never in
//! a response.

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
use shoal_types::api::SecretSpec;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/secrets", get(list))
        .route("/secrets/create", post(create))
        .route("/secrets/{id}", get(inspect).delete(remove))
        .route("/secrets/{id}/update", post(update))
}

async fn create(
    State(backend): State<AppState>,
    JsonBody(spec): JsonBody<SecretSpec>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let id = control.create_secret(spec).await?;
    Ok(json_status(
        StatusCode::CREATED,
        serde_json::json!({ "ID": id }),
    ))
}

async fn list(State(backend): State<AppState>, q: Query) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let filters = Filters::parse(q.get("filters"), &["id", "label", "name", "names"])?;
    let out: Vec<_> = control
        .secrets()
        .into_iter()
        .filter(|s| {
            filters.any("id", |v| s.id.starts_with(v))
                && filters.any("name", |v| s.name().starts_with(v))
                && filters.any("names", |v| s.name() == v)
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
    Ok(json(control.resolve_secret(&id)?))
}

async fn update(
    State(backend): State<AppState>,
    Path(id): Path<String>,
    q: Query,
    JsonBody(spec): JsonBody<SecretSpec>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let version = query_version(q.get("version"))?;
    control.update_secret(&id, version, spec).await?;
    Ok(().into_response())
}

async fn remove(
    State(backend): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    control.remove_secret(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
