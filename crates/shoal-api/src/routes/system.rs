//! `/_ping`, `/version`, `/info`, `/distribution/{name}/json`.

use super::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping_head))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/distribution/{*name}", get(distribution))
}

fn ping_headers(resp: &mut Response, backend: &AppState) {
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Builder-Version", HeaderValue::from_static("2"));
    h.insert(
        "Swarm",
        HeaderValue::from_static(backend.local_state().header()),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
}

async fn ping(State(backend): State<AppState>) -> Response {
    let mut resp = "OK".into_response();
    ping_headers(&mut resp, &backend);
    resp
}

async fn ping_head(State(backend): State<AppState>) -> Response {
    let mut resp = ().into_response();
    ping_headers(&mut resp, &backend);
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

/// shoal's `/version` merged into the engine's ([`crate::merge::version`]); shoal's alone when
/// the engine does not answer.
async fn version(State(backend): State<AppState>) -> Response {
    let own = backend.version().await;
    match engine_json(&backend, "/version").await {
        Some(engine) => json(crate::merge::version(engine, &own)),
        None => json(own),
    }
}

/// The engine's `/info` with shoal's `Swarm` section; shoal's alone when the engine does not
/// answer.
async fn info(State(backend): State<AppState>) -> Response {
    let own = backend.info().await;
    match engine_json(&backend, "/info").await {
        Some(engine) => json(crate::merge::info(engine, &own)),
        None => json(own),
    }
}

/// `GET path` on the engine, if this node has one that answers (a failure is logged: the
/// merged routes still answer with shoal's part).
async fn engine_json(backend: &AppState, path: &str) -> Option<serde_json::Value> {
    let engine = backend.engine()?;
    match engine.get_json(path).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, path, "engine did not answer; serving shoal's part alone");
            None
        }
    }
}

async fn distribution(
    State(backend): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let Some(image) = name.strip_suffix("/json") else {
        return Err(ApiError::not_found("page not found"));
    };
    Ok(json(backend.distribution(image.to_string()).await?))
}

/// A JSON response with the exact content type the docker CLI expects.
pub fn json(value: impl serde::Serialize) -> Response {
    json_status(axum::http::StatusCode::OK, value)
}

pub fn json_status(status: axum::http::StatusCode, value: impl serde::Serialize) -> Response {
    match serde_json::to_vec(&value) {
        Ok(body) => {
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => ApiError::internal(format!("failed to encode response: {e}")).into_response(),
    }
}
