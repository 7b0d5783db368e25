//! What travels on the cluster channel: endpoint paths, request and response bodies, and the
//! error body. Everything is JSON; byte payloads (raft snapshots, forwarded API bodies) are
//! base64 strings so a snapshot costs 4/3 of its size rather than an array of numbers.

use serde::{Deserialize, Serialize};
use shoal_ca::Role;
use shoal_raft::types::{SnapshotMeta, Vote};
use shoal_types::api::{NodeDescription, NodeSpecAvailabilityEnum, TlsInfo};
use shoal_types::{ClusterId, NodeId};

/// Largest request or response body either side accepts: raft snapshots travel whole.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The endpoints of the cluster channel. All are `POST` with a JSON body.
pub mod path {
    pub const JOIN_CA: &str = "/join/ca";
    pub const JOIN_SIGN: &str = "/join/sign";
    pub const CERT_RENEW: &str = "/cert/renew";
    pub const RAFT_APPEND: &str = "/raft/append";
    pub const RAFT_VOTE: &str = "/raft/vote";
    pub const RAFT_PRE_VOTE: &str = "/raft/pre_vote";
    pub const RAFT_SNAPSHOT: &str = "/raft/snapshot";
    pub const DISPATCHER_SESSION: &str = "/dispatcher/session";
    pub const DISPATCHER_STATUS: &str = "/dispatcher/status";
    pub const DISPATCHER_HEARTBEAT: &str = "/dispatcher/heartbeat";
    pub const API_FORWARD: &str = "/api/forward";
    pub const RAFT_PROPOSE: &str = "/raft/propose";
    pub const NODE_STATE: &str = "/node/state";
    pub const DISPATCHER_ATTACHMENTS: &str = "/dispatcher/attachments";
}

/// `/dispatcher/attachments`: one operation on the attachments of `node_id` (the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRequest {
    pub node_id: NodeId,
    pub op: shoal_types::dispatch::AttachmentOp,
}

/// Answer of `/dispatcher/attachments`: the attachment made (`Attach`), the node's
/// attachments (`List`), nothing otherwise; or why the control API refused, with the Engine
/// API status and Docker's message, for the node to pass on to its user unchanged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttachmentResponse {
    #[serde(default)]
    pub tasks: Vec<shoal_types::Task>,
    #[serde(default)]
    pub refusal: Option<Refusal>,
}

/// A refusal of the control API as the Engine API states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

/// Answer of `/join/ca`: the cluster's root certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCaResponse {
    pub root_pem: String,
}

/// `/join/sign`: a node with a join token asks for its first certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// `SWMTKN-1-…`; its secret decides the role.
    pub token: String,
    /// CSR for the node's key; the CA ignores its subject.
    pub csr_pem: String,
    /// Address other nodes reach this one at (`host:port`).
    pub advertise_addr: String,
    pub listen_addr: String,
    pub availability: NodeSpecAvailabilityEnum,
    pub description: NodeDescription,
}

/// A manager as a joining node needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerInfo {
    pub node_id: NodeId,
    /// Cluster-channel address (`host:2377`).
    pub addr: String,
    pub raft_id: u64,
}

/// Answer of `/join/sign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    pub node_id: NodeId,
    pub cluster_id: ClusterId,
    pub role: Role,
    pub cert_pem: String,
    pub root_pem: String,
    /// The raft id chosen for a joining manager; `None` for workers.
    pub raft_id: Option<u64>,
    pub managers: Vec<ManagerInfo>,
}

/// `/cert/renew`: a node asks for a fresh certificate for its (possibly new) key; identity
/// and role come from the certificate it connects with and the store, never the CSR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewRequest {
    pub csr_pem: String,
}

/// Answer of `/cert/renew`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewResponse {
    pub cert_pem: String,
}

/// `/raft/snapshot`: a whole snapshot, as `RaftNode::handle_snapshot` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRequest {
    pub vote: Vote,
    pub meta: SnapshotMeta,
    #[serde(with = "b64")]
    pub data: Vec<u8>,
}

/// `/dispatcher/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub node_id: NodeId,
    pub session_id: String,
}

/// `/api/forward`: an Engine API write a follower manager hands to the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardRequest {
    pub method: String,
    pub path_and_query: String,
    #[serde(with = "b64")]
    pub body: Vec<u8>,
}

/// The leader's answer to a forwarded request, replayed verbatim to the API client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    #[serde(with = "b64")]
    pub body: Vec<u8>,
}

/// `/raft/propose` (managers only): a follower hands a store proposal to the leader, which
/// commits it and answers with the index it was applied at (or the store's refusal, which is
/// committed too and changed nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposeRequest {
    pub proposal: shoal_store::Proposal,
}

/// Answer of `/raft/propose`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposeResponse {
    pub result: Result<u64, shoal_store::StoreError>,
}

/// `/node/state`: a node asks what the cluster wants of it (its desired role, its raft id)
/// and where the managers are. A node whose desired role became manager and that has no raft
/// id yet gets one, with `advertise_addr` recorded as its manager address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStateRequest {
    /// The caller's cluster address (`host:port`).
    pub advertise_addr: String,
    /// What the caller trusts and who issued its certificate; recorded in its node object's
    /// `Description.TLSInfo` (what the root rotation waits on and `docker swarm ca` shows).
    #[serde(default)]
    pub tls_info: Option<TlsInfo>,
}

/// Answer of `/node/state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStateResponse {
    /// The role the cluster wants this node to have (its spec).
    pub role: Role,
    /// The raft id reserved for this node; 0 while it is not to be a manager.
    pub raft_id: u64,
    pub managers: Vec<ManagerInfo>,
    /// The cluster's root CA certificate (PEM).
    #[serde(default)]
    pub root_ca: String,
    /// During a root rotation, the new root (PEM): trust it too, and renew at once unless the
    /// certificate is already issued by its key.
    #[serde(default)]
    pub rotation_ca: Option<String>,
}

/// Body of every error answer. `kind` names the [`ClusterError`](crate::ClusterError)
/// variant so the client can rebuild it (two variants share 503).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_addr: Option<String>,
}

/// Empty JSON object, for endpoints that answer only "done" (`/dispatcher/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ack {}

/// serde helper: `Vec<u8>` as a standard base64 string.
mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_payloads_travel_as_base64() {
        let req = ForwardRequest {
            method: "POST".into(),
            path_and_query: "/services/create".into(),
            body: b"{}".to_vec(),
        };
        let json = serde_json::to_string(&req).expect("encode");
        assert!(json.contains("\"body\":\"e30=\""), "{json}");
        let back: ForwardRequest = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, req);
    }
}
