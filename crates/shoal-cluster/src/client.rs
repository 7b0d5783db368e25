//! [`ClusterClient`]: typed calls to every cluster-channel endpoint, with one reused HTTP/2
//! connection per address and a deadline on every call (connecting included). Cloning is
//! cheap and shares the connections.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shoal_ca::MANAGER_SERVER_NAME;
use shoal_raft::TypeConfig;
use shoal_types::dispatch::{HeartbeatResponse, SessionRequest, StatusBatch};

use crate::bootstrap::BootstrapClient;
use crate::conn::Pool;
use crate::error::{ClientError, ClusterError};
use crate::ndjson::LineDecoder;
use crate::session_stream::SessionStream;
use crate::tls::{ClientTlsSource, TlsCell};
use crate::wire::{
    Ack, ErrorBody, ForwardRequest, ForwardResponse, HeartbeatRequest, JoinRequest, JoinResponse,
    MAX_BODY_BYTES, NodeStateRequest, NodeStateResponse, ProposeRequest, ProposeResponse,
    RenewRequest, RenewResponse, RootCaResponse, SnapshotRequest, path,
};

/// Extra time an attachment call gets over the client's timeout: the manager waits for its
/// allocator before answering (up to 15 s).
const ATTACH_SLACK: Duration = Duration::from_secs(20);

/// Deadline of a call when the caller gives none: SwarmKit's dispatcher RPCs use seconds,
/// and a slow manager should be skipped for another rather than waited on.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Client of the cluster channel. See the module docs.
#[derive(Clone)]
pub struct ClusterClient {
    inner: Arc<Inner>,
}

struct Inner {
    tls: Arc<dyn ClientTlsSource>,
    pool: Pool,
    timeout: Duration,
}

impl ClusterClient {
    /// A client authenticating with `tls`'s current config, [`DEFAULT_TIMEOUT`] per call.
    pub fn new(tls: Arc<dyn ClientTlsSource>) -> Self {
        Self::with_timeout(tls, DEFAULT_TIMEOUT)
    }

    /// A client whose calls (other than raft's, which carry their own) time out after `timeout`.
    pub fn with_timeout(tls: Arc<dyn ClientTlsSource>, timeout: Duration) -> Self {
        Self::with_source(tls, timeout, None)
    }

    /// Like [`with_timeout`](Self::with_timeout), connecting from `source_ip` when given (a
    /// node whose listen address is a specific IP talks from that IP too).
    pub fn with_source(
        tls: Arc<dyn ClientTlsSource>,
        timeout: Duration,
        source_ip: Option<IpAddr>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                tls,
                pool: Pool::new(source_ip),
                timeout,
            }),
        }
    }

    /// The IP to connect from for a node listening on `listen_addr` (`ip:port`): that IP,
    /// unless it is unspecified (`0.0.0.0`, `::`) or not an IP.
    pub fn source_ip_for(listen_addr: &str) -> Option<IpAddr> {
        let ip = listen_addr
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| listen_addr.parse::<IpAddr>())
            .ok()?;
        (!ip.is_unspecified()).then_some(ip)
    }

    /// The per-call deadline.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The client a joining node uses against the manager at `addr`: it presents no
    /// certificate and accepts the server only if its chain holds the root whose SHA-256 is
    /// `token_digest` (from the join token).
    pub fn join_bootstrap(
        addr: &str,
        token_digest: [u8; 32],
    ) -> Result<BootstrapClient, ClientError> {
        let config =
            shoal_ca::pinned_client_config(token_digest).map_err(|e| ClientError::Connect {
                op: "join",
                addr: addr.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(BootstrapClient {
            client: ClusterClient::new(Arc::new(TlsCell::new(config))),
            addr: addr.to_owned(),
            digest: token_digest,
        })
    }

    /// `/join/ca`: the root certificate PEM.
    pub async fn root_ca(&self, addr: &str) -> Result<String, ClientError> {
        let r: RootCaResponse = self
            .call("fetch root CA", addr, path::JOIN_CA, &Ack {}, None)
            .await?;
        Ok(r.root_pem)
    }

    /// `/join/sign`.
    pub async fn join(&self, addr: &str, req: &JoinRequest) -> Result<JoinResponse, ClientError> {
        self.call("join", addr, path::JOIN_SIGN, req, None).await
    }

    /// `/cert/renew`.
    pub async fn renew_cert(
        &self,
        addr: &str,
        req: &RenewRequest,
    ) -> Result<RenewResponse, ClientError> {
        self.call("renew certificate", addr, path::CERT_RENEW, req, None)
            .await
    }

    /// `/raft/append`, bounded by `timeout`.
    pub async fn raft_append(
        &self,
        addr: &str,
        rpc: &AppendEntriesRequest<TypeConfig>,
        timeout: Duration,
    ) -> Result<AppendEntriesResponse<TypeConfig>, ClientError> {
        self.call("raft append", addr, path::RAFT_APPEND, rpc, Some(timeout))
            .await
    }

    /// `/raft/vote`, bounded by `timeout`.
    pub async fn raft_vote(
        &self,
        addr: &str,
        rpc: &VoteRequest<TypeConfig>,
        timeout: Duration,
    ) -> Result<VoteResponse<TypeConfig>, ClientError> {
        self.call("raft vote", addr, path::RAFT_VOTE, rpc, Some(timeout))
            .await
    }

    /// `/raft/pre_vote`, bounded by `timeout`.
    pub async fn raft_pre_vote(
        &self,
        addr: &str,
        rpc: &VoteRequest<TypeConfig>,
        timeout: Duration,
    ) -> Result<VoteResponse<TypeConfig>, ClientError> {
        self.call(
            "raft pre-vote",
            addr,
            path::RAFT_PRE_VOTE,
            rpc,
            Some(timeout),
        )
        .await
    }

    /// `/raft/snapshot`, bounded by `timeout`.
    pub async fn raft_snapshot(
        &self,
        addr: &str,
        req: &SnapshotRequest,
        timeout: Duration,
    ) -> Result<SnapshotResponse<TypeConfig>, ClientError> {
        self.call(
            "raft snapshot",
            addr,
            path::RAFT_SNAPSHOT,
            req,
            Some(timeout),
        )
        .await
    }

    /// `/dispatcher/session`: the deadline covers only the answer's headers; the stream then
    /// stays open as long as the session (HTTP/2 keepalive notices a dead peer).
    pub async fn open_session(
        &self,
        addr: &str,
        req: &SessionRequest,
    ) -> Result<SessionStream, ClientError> {
        const OP: &str = "open dispatcher session";
        let fut = async {
            let resp = self.send(OP, addr, path::DISPATCHER_SESSION, req).await?;
            if !resp.status().is_success() {
                return Err(refusal(OP, addr, resp).await);
            }
            Ok(SessionStream {
                addr: addr.to_owned(),
                body: resp.into_body(),
                decoder: LineDecoder::new(MAX_BODY_BYTES),
            })
        };
        self.deadline(OP, addr, self.inner.timeout, fut).await
    }

    /// `/dispatcher/status`.
    pub async fn update_status(&self, addr: &str, batch: &StatusBatch) -> Result<(), ClientError> {
        let _: Ack = self
            .call(
                "report task status",
                addr,
                path::DISPATCHER_STATUS,
                batch,
                None,
            )
            .await?;
        Ok(())
    }

    /// `/dispatcher/heartbeat`.
    pub async fn heartbeat(
        &self,
        addr: &str,
        req: &HeartbeatRequest,
    ) -> Result<HeartbeatResponse, ClientError> {
        self.call("heartbeat", addr, path::DISPATCHER_HEARTBEAT, req, None)
            .await
    }

    /// `/dispatcher/attachments`.
    pub async fn attachments(
        &self,
        addr: &str,
        req: &crate::wire::AttachmentRequest,
    ) -> Result<crate::wire::AttachmentResponse, ClientError> {
        self.call(
            "network attachments",
            addr,
            path::DISPATCHER_ATTACHMENTS,
            req,
            // An attach waits for the leader's allocator.
            Some(self.inner.timeout + ATTACH_SLACK),
        )
        .await
    }

    /// `/api/forward`.
    pub async fn forward(
        &self,
        addr: &str,
        req: &ForwardRequest,
    ) -> Result<ForwardResponse, ClientError> {
        self.call("forward API request", addr, path::API_FORWARD, req, None)
            .await
    }

    /// `/raft/propose`: commit `req` on the leader at `addr`.
    pub async fn propose(
        &self,
        addr: &str,
        req: &ProposeRequest,
    ) -> Result<ProposeResponse, ClientError> {
        let r = self
            .call("forward proposal", addr, path::RAFT_PROPOSE, req, None)
            .await;
        if matches!(r, Err(ClientError::Timeout { .. })) {
            // Unanswered in time: the request must not arrive later (a partition that heals
            // would deliver it) and commit after the caller was told it failed.
            self.inner.pool.abort(addr);
        }
        r
    }

    /// `/node/state`, bounded by `timeout`.
    pub async fn node_state(
        &self,
        addr: &str,
        req: &NodeStateRequest,
        timeout: Duration,
    ) -> Result<NodeStateResponse, ClientError> {
        self.call(
            "read node state",
            addr,
            path::NODE_STATE,
            req,
            Some(timeout),
        )
        .await
    }

    /// POST `req` as JSON and decode the JSON answer, all within the deadline.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        op: &'static str,
        addr: &str,
        path: &'static str,
        req: &Req,
        timeout: Option<Duration>,
    ) -> Result<Resp, ClientError> {
        let fut = async {
            let resp = self.send(op, addr, path, req).await?;
            if !resp.status().is_success() {
                return Err(refusal(op, addr, resp).await);
            }
            let body = read_body(op, addr, resp).await?;
            serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
                op,
                addr: addr.to_owned(),
                reason: e.to_string(),
            })
        };
        self.deadline(op, addr, timeout.unwrap_or(self.inner.timeout), fut)
            .await
    }

    async fn deadline<T>(
        &self,
        op: &'static str,
        addr: &str,
        timeout: Duration,
        fut: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        tokio::time::timeout(timeout, fut).await.map_err(|_| {
            // A peer that stopped answering may have a wedged connection: start afresh.
            self.inner.pool.forget(addr);
            ClientError::Timeout {
                op,
                addr: addr.to_owned(),
                timeout_ms: timeout.as_millis(),
            }
        })?
    }

    /// Send one request, retrying once on a fresh connection if a pooled one turned out dead
    /// before the request left.
    async fn send<Req: Serialize>(
        &self,
        op: &'static str,
        addr: &str,
        path: &'static str,
        req: &Req,
    ) -> Result<Response<Incoming>, ClientError> {
        let body = Bytes::from(serde_json::to_vec(req).map_err(|e| ClientError::Decode {
            op,
            addr: addr.to_owned(),
            reason: format!("encode request: {e}"),
        })?);
        let in_flight = |e: hyper::Error| ClientError::Request {
            op,
            addr: addr.to_owned(),
            reason: e.to_string(),
        };
        let mut retried = false;
        loop {
            let config = self.inner.tls.client_config();
            let (mut sender, reused) = self.inner.pool.get(op, addr, config).await?;
            if let Err(e) = sender.ready().await {
                self.inner.pool.forget(addr);
                if reused && !retried {
                    retried = true;
                    continue;
                }
                return Err(in_flight(e));
            }
            let request = Request::post(format!("https://{MANAGER_SERVER_NAME}{path}"))
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| ClientError::Decode {
                    op,
                    addr: addr.to_owned(),
                    reason: format!("build request: {e}"),
                })?;
            return sender.send_request(request).await.map_err(|e| {
                self.inner.pool.forget(addr);
                in_flight(e)
            });
        }
    }
}

async fn read_body(
    op: &'static str,
    addr: &str,
    resp: Response<Incoming>,
) -> Result<Bytes, ClientError> {
    Limited::new(resp.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ClientError::Request {
            op,
            addr: addr.to_owned(),
            reason: format!("read answer: {e}"),
        })
}

/// The server's error answer as a [`ClientError::Refused`].
async fn refusal(op: &'static str, addr: &str, resp: Response<Incoming>) -> ClientError {
    let status: StatusCode = resp.status();
    let body = read_body(op, addr, resp)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<ErrorBody>(&b).ok());
    ClientError::Refused {
        op,
        addr: addr.to_owned(),
        error: ClusterError::from_response(status, body),
    }
}
