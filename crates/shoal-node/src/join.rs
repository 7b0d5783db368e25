//! `swarm join`, the joining node's side: pin the root CA with the token's digest, send a CSR
//! with the token, and write what comes back (root, certificate, key file, `state.json`).
//!
//! Nothing is written until the manager has accepted the token, so a refused join leaves the
//! node inactive. `state.json` is written last: its presence means "this node is in a swarm".

use crate::error::NodeError;
use crate::host::HostInfo;
use crate::paths::{Paths, write_atomic};
use crate::state::NodeState;
use shoal_api::ApiError;
use shoal_ca::{DataKey, JoinToken, NodeKeyFile, Role};
use shoal_cluster::{ClientError, ClusterClient, ClusterError, JoinResponse};
use shoal_types::api::NodeSpecAvailabilityEnum;
use shoal_types::requests::JoinRequest;

/// What a successful join produced.
pub struct Joined {
    pub state: NodeState,
    pub key_pem: String,
    pub dek: [u8; 32],
    pub response: JoinResponse,
}

fn client_error(e: ClientError) -> ApiError {
    match e.refusal() {
        Some(ClusterError::Invalid(m)) => ApiError::bad_request(m.clone()),
        Some(other) => ApiError::unavailable(other.to_string()),
        None => match e {
            ClientError::Connect { reason, addr, .. } if reason.contains("certificate") => {
                ApiError::bad_request(format!(
                    "error while validating Root CA Certificate: remote CA at {addr} does not match the fingerprint in the join token"
                ))
            }
            other => ApiError::unavailable(format!(
                "Timeout was reached before node joined. The attempt to join the swarm will continue in the background. Use the \"docker info\" command to see the current swarm status of your node. ({other})"
            )),
        },
    }
}

/// Joins the swarm at `req.RemoteAddrs[0]` with `listen`/`advertise` as this node's addresses.
pub async fn join(
    paths: &Paths,
    host: &HostInfo,
    req: &JoinRequest,
    listen: String,
    advertise: String,
) -> Result<Joined, ApiError> {
    let token = JoinToken::parse(req.join_token.trim())
        // The error already reads "invalid join token: …".
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let remote = req
        .remote_addrs
        .first()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::bad_request("at least 1 RemoteAddr is required to join"))?;
    let remote = if remote.contains(':') {
        remote.clone()
    } else {
        format!("{remote}:2377")
    };
    let boot = ClusterClient::join_bootstrap(&remote, token.digest).map_err(client_error)?;
    let root_pem = boot.root_ca().await.map_err(client_error)?;
    let (key, csr_pem) =
        crate::join_handler::new_key().map_err(|e| ApiError::internal(e.to_string()))?;
    let availability = match req.availability {
        Some(a) if a != NodeSpecAvailabilityEnum::EMPTY => a,
        _ => NodeSpecAvailabilityEnum::ACTIVE,
    };
    let response = boot
        .join(&shoal_cluster::JoinRequest {
            token: req.join_token.trim().to_string(),
            csr_pem,
            advertise_addr: advertise.clone(),
            listen_addr: listen.clone(),
            availability,
            description: host.description(),
        })
        .await
        .map_err(client_error)?;
    tracing::info!(node.id = %response.node_id, role = %response.role, "joined the swarm");

    let dek = DataKey::generate(&mut rand::rng());
    let dek_bytes = *dek.as_bytes();
    let state = NodeState {
        node_id: response.node_id.to_string(),
        cluster_id: response.cluster_id.to_string(),
        role: match response.role {
            Role::Manager => "manager".into(),
            Role::Worker => "worker".into(),
        },
        raft_id: response.raft_id.unwrap_or(0),
        listen_addr: listen,
        advertise_addr: advertise,
        managers: response.managers.iter().map(|m| m.addr.clone()).collect(),
    };
    let write = || -> Result<(), NodeError> {
        // A manager starts raft from nothing; leftovers of an earlier membership would clash.
        if paths.raft().exists() {
            std::fs::remove_dir_all(paths.raft()).map_err(NodeError::io("remove", paths.raft()))?;
        }
        crate::paths::create_private_dir(&paths.certs())
            .map_err(NodeError::io("create", paths.certs()))?;
        write_atomic(
            &paths.root_ca(),
            root_pem.as_bytes(),
            crate::paths::PRIVATE_FILE,
        )
        .map_err(NodeError::io("write", paths.root_ca()))?;
        write_atomic(
            &paths.node_cert(),
            response.cert_pem.as_bytes(),
            crate::paths::PRIVATE_FILE,
        )
        .map_err(NodeError::io("write", paths.node_cert()))?;
        NodeKeyFile {
            node_key_pem: key.key_pem.clone(),
            dek,
        }
        .save(&paths.node_key(), None, &mut rand::rng())?;
        state.save(paths)
    };
    if let Err(e) = write() {
        // Best effort: leave no half-written membership behind.
        let _ = std::fs::remove_dir_all(paths.swarm());
        return Err(ApiError::internal(e.to_string()));
    }
    Ok(Joined {
        state,
        key_pem: key.key_pem,
        dek: dek_bytes,
        response,
    })
}
