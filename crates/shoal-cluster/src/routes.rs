//! The axum router of the cluster channel: one route per endpoint, authorisation by a single
//! middleware (rules in [`crate::auth`]), and each handler a thin call into the
//! [`ClusterHandler`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use futures::Stream;
use http::header::CONTENT_TYPE;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use serde::de::DeserializeOwned;
use shoal_raft::TypeConfig;
use shoal_types::dispatch::{Assignments, SessionRequest, StatusBatch};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, NodePeer, PeerIdentity};
use crate::error::ClusterError;
use crate::handler::ClusterHandler;
use crate::limits;
use crate::ndjson::encode_line;
use crate::wire::{
    Ack, AttachmentRequest, AttachmentResponse, ForwardRequest, HeartbeatRequest, JoinRequest,
    NodeStateRequest, NodeStateResponse, ProposeRequest, ProposeResponse, RenewRequest,
    RootCaResponse, SnapshotRequest, path,
};

/// Content type of the session stream.
pub const NDJSON: &str = "application/x-ndjson";

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) handler: Arc<dyn ClusterHandler>,
    /// Server shutdown: ends open session streams.
    pub(crate) cancel: CancellationToken,
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(path::JOIN_CA, post(join_ca))
        .route(path::JOIN_SIGN, post(join_sign))
        .route(path::CERT_RENEW, post(cert_renew))
        .route(path::RAFT_APPEND, post(raft_append))
        .route(path::RAFT_VOTE, post(raft_vote))
        .route(path::RAFT_PRE_VOTE, post(raft_pre_vote))
        .route(path::RAFT_SNAPSHOT, post(raft_snapshot))
        .route(path::DISPATCHER_SESSION, post(session))
        .route(path::DISPATCHER_STATUS, post(status))
        .route(path::DISPATCHER_HEARTBEAT, post(heartbeat))
        .route(path::API_FORWARD, post(forward))
        .route(path::RAFT_PROPOSE, post(propose))
        .route(path::NODE_STATE, post(node_state))
        .route(path::DISPATCHER_ATTACHMENTS, post(attachments))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        // Bodies are read by `JsonBody` with each endpoint's own limit.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// The one authorisation check every routed request passes.
async fn authorize(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let endpoint = req.uri().path().to_owned();
    let peer = req
        .extensions()
        .get::<PeerIdentity>()
        .cloned()
        .unwrap_or(PeerIdentity::Anonymous);
    let Some(access) = auth::access_for(&endpoint) else {
        return ClusterError::Forbidden(format!("no access rule for {endpoint}")).into_response();
    };
    if let Err(e) = auth::authorize(access, &peer, s.handler.as_ref(), &endpoint) {
        tracing::info!(%endpoint, ?peer, error = %e, "cluster request refused");
        return e.into_response();
    }
    next.run(req).await
}

/// A JSON body read with its endpoint's limit ([`limits::body_limit`]): a declared length
/// over the limit is refused before reading, and a body that grows past it is refused as
/// soon as it does, so the server never holds more than the limit. Rejections are
/// [`ClusterError`]s in our error body.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ClusterError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let endpoint = req.uri().path().to_owned();
        let limit = limits::body_limit(&endpoint);
        let too_large = || {
            ClusterError::TooLarge(format!(
                "request body for {endpoint} exceeds its limit of {limit} bytes"
            ))
        };
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let bytes = Limited::new(req.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    too_large()
                } else {
                    ClusterError::Invalid(format!("failed to read request body: {e}"))
                }
            })?
            .to_bytes();
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ClusterError::Invalid(format!("invalid JSON body for {endpoint}: {e}")))
    }
}

type Answer<T> = Result<Json<T>, ClusterError>;

/// The authenticated peer; the middleware has already refused anonymous ones.
fn node(peer: &PeerIdentity) -> Result<NodePeer, ClusterError> {
    match peer {
        PeerIdentity::Node(n) => Ok(n.clone()),
        PeerIdentity::Anonymous => Err(ClusterError::Unauthorized(
            "this endpoint requires a node certificate".into(),
        )),
    }
}

async fn join_ca(State(s): State<AppState>) -> Answer<RootCaResponse> {
    let root_pem = s.handler.root_ca().await?;
    Ok(Json(RootCaResponse { root_pem }))
}

async fn join_sign(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<JoinRequest>,
) -> Answer<crate::wire::JoinResponse> {
    Ok(Json(s.handler.join(req).await?))
}

async fn cert_renew(
    State(s): State<AppState>,
    Extension(peer): Extension<PeerIdentity>,
    JsonBody(req): JsonBody<RenewRequest>,
) -> Answer<crate::wire::RenewResponse> {
    Ok(Json(s.handler.renew_cert(node(&peer)?, req).await?))
}

async fn raft_append(
    State(s): State<AppState>,
    JsonBody(rpc): JsonBody<AppendEntriesRequest<TypeConfig>>,
) -> Answer<openraft::raft::AppendEntriesResponse<TypeConfig>> {
    Ok(Json(s.handler.raft_append(rpc).await?))
}

async fn raft_vote(
    State(s): State<AppState>,
    JsonBody(rpc): JsonBody<VoteRequest<TypeConfig>>,
) -> Answer<openraft::raft::VoteResponse<TypeConfig>> {
    Ok(Json(s.handler.raft_vote(rpc).await?))
}

async fn raft_pre_vote(
    State(s): State<AppState>,
    JsonBody(rpc): JsonBody<VoteRequest<TypeConfig>>,
) -> Answer<openraft::raft::VoteResponse<TypeConfig>> {
    Ok(Json(s.handler.raft_pre_vote(rpc).await?))
}

async fn raft_snapshot(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<SnapshotRequest>,
) -> Answer<openraft::raft::SnapshotResponse<TypeConfig>> {
    Ok(Json(s.handler.raft_snapshot(req).await?))
}

/// Streams the session's assignment sets as NDJSON until the dispatcher closes the channel,
/// the client goes away (hyper drops the body, and with it the receiver) or the server stops.
async fn session(
    State(s): State<AppState>,
    Extension(peer): Extension<PeerIdentity>,
    JsonBody(req): JsonBody<SessionRequest>,
) -> Result<Response, ClusterError> {
    let peer = node(&peer)?;
    auth::require_self(&peer, &req.node_id, path::DISPATCHER_SESSION)?;
    let node_id = peer.node_id.clone();
    let rx = s.handler.session(peer, req).await?;
    tracing::debug!(node.id = %node_id, "dispatcher session opened");
    Response::builder()
        .header(CONTENT_TYPE, NDJSON)
        .body(Body::from_stream(assignment_lines(rx, s.cancel.clone())))
        .map_err(|e| ClusterError::Internal(format!("build session response: {e}")))
}

fn assignment_lines(
    rx: mpsc::Receiver<Assignments>,
    cancel: CancellationToken,
) -> impl Stream<Item = Result<bytes::Bytes, serde_json::Error>> + Send + 'static {
    futures::stream::unfold((rx, cancel), |(mut rx, cancel)| async move {
        let next = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            next = rx.recv() => next,
        };
        next.map(|a| (encode_line(&a), (rx, cancel)))
    })
}

async fn status(
    State(s): State<AppState>,
    Extension(peer): Extension<PeerIdentity>,
    JsonBody(batch): JsonBody<StatusBatch>,
) -> Answer<Ack> {
    let peer = node(&peer)?;
    auth::require_self(&peer, &batch.node_id, path::DISPATCHER_STATUS)?;
    s.handler.update_status(peer, batch).await?;
    Ok(Json(Ack {}))
}

async fn heartbeat(
    State(s): State<AppState>,
    Extension(peer): Extension<PeerIdentity>,
    JsonBody(req): JsonBody<HeartbeatRequest>,
) -> Answer<shoal_types::dispatch::HeartbeatResponse> {
    let peer = node(&peer)?;
    auth::require_self(&peer, &req.node_id, path::DISPATCHER_HEARTBEAT)?;
    Ok(Json(s.handler.heartbeat(peer, req).await?))
}

async fn attachments(
    State(s): State<AppState>,
    Extension(peer): Extension<PeerIdentity>,
    JsonBody(req): JsonBody<AttachmentRequest>,
) -> Answer<AttachmentResponse> {
    let peer = node(&peer)?;
    auth::require_self(&peer, &req.node_id, path::DISPATCHER_ATTACHMENTS)?;
    Ok(Json(s.handler.attachments(peer, req).await?))
}

async fn forward(
    State(s): State<AppState>,
    Extension(peer): Extension<PeerIdentity>,
    JsonBody(req): JsonBody<ForwardRequest>,
) -> Answer<crate::wire::ForwardResponse> {
    Ok(Json(s.handler.forward(node(&peer)?, req).await?))
}

async fn propose(
    State(s): State<AppState>,
    Extension(peer): Extension<PeerIdentity>,
    JsonBody(req): JsonBody<ProposeRequest>,
) -> Answer<ProposeResponse> {
    Ok(Json(s.handler.propose(node(&peer)?, req).await?))
}

async fn node_state(
    State(s): State<AppState>,
    Extension(peer): Extension<PeerIdentity>,
    JsonBody(req): JsonBody<NodeStateRequest>,
) -> Answer<NodeStateResponse> {
    Ok(Json(s.handler.node_state(node(&peer)?, req).await?))
}
