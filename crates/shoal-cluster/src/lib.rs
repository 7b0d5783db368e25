//! The cluster channel on port 2377: HTTP/2 over mutual TLS between the nodes of a swarm.
//!
//! - [`ClusterServer::serve`] accepts connections with the node's current TLS config
//!   ([`TlsSource`]), reads each peer's identity from its certificate
//!   ([`PeerIdentity`]) and serves the endpoints in [`wire::path`], delegating to a
//!   [`ClusterHandler`]. All authorisation is in [`auth`]: anonymous peers may only join,
//!   removed nodes and other clusters are refused, raft is for members of the raft group,
//!   proposals and API forwarding for current managers in it. What a peer may cost the server
//!   (body sizes, connection counts, timeouts) is bounded in [`limits`].
//! - [`ClusterClient`] calls those endpoints with one reused HTTP/2 connection per address
//!   and a deadline on every call; [`BootstrapClient`] is the joining node's pinned,
//!   certificate-less client.
//! - [`ClusterClient`] is also the [`shoal_raft::RaftTransport`] between managers.
//! - [`RemoteDispatcher`] is the agent's [`shoal_agent::DispatcherClient`] over the channel:
//!   it finds the leader among the managers and turns the session stream into a channel.
//!
//! Bodies are JSON ([`wire`]); the session stream is newline-delimited JSON ([`ndjson`]).
//! Errors map to HTTP statuses in one place ([`ClusterError::status`]).

pub mod auth;
mod bootstrap;
pub mod client;
mod conn;
pub mod error;
pub mod handler;
pub mod limits;
pub mod ndjson;
mod raft_transport;
pub mod remote_dispatcher;
mod routes;
pub mod server;
mod session_stream;
pub mod tls;
pub mod wire;
#[cfg(test)]
mod wire_fuzz;

pub use auth::{Access, NodePeer, PeerIdentity, Standing};
pub use bootstrap::BootstrapClient;
pub use client::{ClusterClient, DEFAULT_TIMEOUT};
pub use error::{ClientError, ClusterError, ServerError};
pub use handler::{ClusterHandler, HandlerResult};
pub use limits::ConnLimits;
pub use remote_dispatcher::RemoteDispatcher;
pub use server::ClusterServer;
pub use session_stream::SessionStream;
pub use tls::{ClientTlsSource, TlsCell, TlsSource};
pub use wire::{
    AttachmentRequest, AttachmentResponse, ForwardRequest, ForwardResponse, HeartbeatRequest,
    JoinRequest, JoinResponse, ManagerInfo, NodeStateRequest, NodeStateResponse, ProposeRequest,
    ProposeResponse, Refusal, RenewRequest, RenewResponse, SnapshotRequest,
};
