//! `/swarm…`: init, join, leave, inspect, update, unlock key, unlock.

use super::system::json;
use super::{AppState, Query};
use crate::body::{JsonBody, OptionalJson, query_bool, query_version};
use crate::error::ApiError;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use shoal_manager::control::Rotation;
use shoal_types::Cluster;
use shoal_types::api::{SwarmSpec, SwarmUnlockRequest};
use shoal_types::requests::{InitRequest, JoinRequest};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/swarm", get(inspect))
        .route("/swarm/init", post(init))
        .route("/swarm/join", post(join))
        .route("/swarm/leave", post(leave))
        .route("/swarm/update", post(update))
        .route("/swarm/unlockkey", get(unlock_key))
        .route("/swarm/unlock", post(unlock))
}

/// The `GET /swarm` body: ClusterInfo flattened plus JoinTokens. The root key never leaves.
pub fn swarm_json(c: &Cluster) -> serde_json::Value {
    serde_json::json!({
        "ID": c.id,
        "Version": c.meta.version,
        "CreatedAt": c.meta.created_at,
        "UpdatedAt": c.meta.updated_at,
        "Spec": c.spec,
        "TLSInfo": shoal_manager::control::swarm_tls_info(c),
        "RootRotationInProgress": c.root_ca.root_rotation.is_some(),
        "DefaultAddrPool": c.default_addr_pool,
        "SubnetSize": c.subnet_size,
        "DataPathPort": c.data_path_port,
        "JoinTokens": { "Worker": c.join_tokens.worker, "Manager": c.join_tokens.manager },
    })
}

async fn inspect(State(backend): State<AppState>) -> Result<Response, ApiError> {
    let control = backend.control()?;
    Ok(json(swarm_json(&control.cluster()?)))
}

async fn init(
    State(backend): State<AppState>,
    OptionalJson(req): OptionalJson<InitRequest>,
) -> Result<Response, ApiError> {
    let id = backend.init(req).await?;
    Ok(json(id))
}

async fn join(
    State(backend): State<AppState>,
    JsonBody(req): JsonBody<JoinRequest>,
) -> Result<Response, ApiError> {
    backend.join(req).await?;
    Ok(().into_response())
}

async fn leave(State(backend): State<AppState>, q: Query) -> Result<Response, ApiError> {
    backend.leave(query_bool(q.get("force"))).await?;
    Ok(().into_response())
}

async fn update(
    State(backend): State<AppState>,
    q: Query,
    JsonBody(spec): JsonBody<SwarmSpec>,
) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let version = query_version(q.get("version"))?;
    let rotate = Rotation {
        worker_token: query_bool(q.get("rotateWorkerToken")),
        manager_token: query_bool(q.get("rotateManagerToken")),
        unlock_key: query_bool(q.get("rotateManagerUnlockKey")),
    };
    control.update_cluster(version, spec, rotate).await?;
    Ok(().into_response())
}

async fn unlock_key(State(backend): State<AppState>) -> Result<Response, ApiError> {
    let control = backend.control()?;
    let cluster = control.cluster()?;
    Ok(json(serde_json::json!({ "UnlockKey": cluster.unlock_key })))
}

async fn unlock(
    State(backend): State<AppState>,
    JsonBody(req): JsonBody<SwarmUnlockRequest>,
) -> Result<Response, ApiError> {
    backend.unlock(req.unlock_key.unwrap_or_default()).await?;
    Ok(().into_response())
}
