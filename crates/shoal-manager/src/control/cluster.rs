//! The cluster object: `GET /swarm`, `POST /swarm/update` (spec, token rotation).

use super::{Control, ControlError};
use shoal_types::api::SwarmSpec;
use shoal_types::cluster::MIN_CERT_EXPIRY_NS;
use shoal_types::{Cluster, Object};

/// Which secrets `swarm update` should rotate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    pub worker_token: bool,
    pub manager_token: bool,
    pub unlock_key: bool,
}

/// Decodes the hex `CACertHash` of the cluster.
fn root_digest(cluster: &Cluster) -> Result<[u8; 32], ControlError> {
    let mut out = [0u8; 32];
    let hex = cluster.root_ca.ca_cert_hash.as_bytes();
    if hex.len() != 64 {
        return Err(ControlError::Internal(
            "cluster root CA digest is malformed".into(),
        ));
    }
    for (i, chunk) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).map_err(|e| ControlError::Internal(e.to_string()))?;
        out[i] = u8::from_str_radix(s, 16).map_err(|e| ControlError::Internal(e.to_string()))?;
    }
    Ok(out)
}

/// Checks a swarm spec the way swarmkit's `validateClusterSpec` does.
pub fn validate_swarm_spec(spec: &SwarmSpec) -> Result<(), ControlError> {
    if let Some(expiry) = spec.ca_config.as_ref().and_then(|c| c.node_cert_expiry)
        && expiry != 0
        && expiry < MIN_CERT_EXPIRY_NS
    {
        return Err(ControlError::Invalid(
            "minimum certificate expiry time is 1h0m0s".to_string(),
        ));
    }
    if let Some(hb) = spec.dispatcher.as_ref().and_then(|d| d.heartbeat_period)
        && hb < 0
    {
        return Err(ControlError::Invalid(
            "heartbeat period must be positive".into(),
        ));
    }
    if let Some(limit) = spec
        .orchestration
        .as_ref()
        .and_then(|o| o.task_history_retention_limit)
        && limit < 0
    {
        return Err(ControlError::Invalid(
            "task history retention limit must be non-negative".into(),
        ));
    }
    Ok(())
}

/// Fills zero values of an incoming spec from the current one: the docker CLI sends the whole
/// spec back, and unset fields keep their meaning ("keep as is").
fn merge_spec(current: &SwarmSpec, mut new: SwarmSpec) -> SwarmSpec {
    if new.name.as_deref().unwrap_or_default().is_empty() {
        new.name = current.name.clone();
    }
    let mut orch = new.orchestration.take().unwrap_or_default();
    if orch.task_history_retention_limit.is_none() {
        orch.task_history_retention_limit = current
            .orchestration
            .as_ref()
            .and_then(|o| o.task_history_retention_limit);
    }
    new.orchestration = Some(orch);
    let mut raft = new.raft.take().unwrap_or_default();
    let cur_raft = current.raft.clone().unwrap_or_default();
    raft.snapshot_interval = raft
        .snapshot_interval
        .filter(|v| *v > 0)
        .or(cur_raft.snapshot_interval);
    raft.log_entries_for_slow_followers = raft
        .log_entries_for_slow_followers
        .filter(|v| *v > 0)
        .or(cur_raft.log_entries_for_slow_followers);
    raft.keep_old_snapshots = raft.keep_old_snapshots.or(cur_raft.keep_old_snapshots);
    raft.election_tick = raft
        .election_tick
        .filter(|v| *v > 0)
        .or(cur_raft.election_tick);
    raft.heartbeat_tick = raft
        .heartbeat_tick
        .filter(|v| *v > 0)
        .or(cur_raft.heartbeat_tick);
    new.raft = Some(raft);
    let mut disp = new.dispatcher.take().unwrap_or_default();
    disp.heartbeat_period = disp
        .heartbeat_period
        .filter(|v| *v > 0)
        .or(current.dispatcher.as_ref().and_then(|d| d.heartbeat_period));
    new.dispatcher = Some(disp);
    let mut ca = new.ca_config.take().unwrap_or_default();
    ca.node_cert_expiry = ca
        .node_cert_expiry
        .filter(|v| *v > 0)
        .or(current.ca_config.as_ref().and_then(|c| c.node_cert_expiry));
    ca.force_rotate = ca
        .force_rotate
        .or(current.ca_config.as_ref().and_then(|c| c.force_rotate));
    // The signing CA (`swarm ca --rotate --ca-cert --ca-key`) goes into the root CA object,
    // never into the spec the API shows.
    ca.signing_ca_cert = None;
    ca.signing_ca_key = None;
    new.ca_config = Some(ca);
    if new.encryption_config.is_none() {
        new.encryption_config = current.encryption_config.clone();
    }
    if new.task_defaults.is_none() {
        new.task_defaults = current.task_defaults.clone();
    }
    new
}

/// The cluster's `TLSInfo` as the Engine API shows it (moby `SwarmFromGRPC`): the trusted
/// root, and the subject and key of the CA that issues certificates now (the new root during
/// a rotation, SwarmKit `IssuerFromAPIRootCA`), base64.
pub fn swarm_tls_info(cluster: &Cluster) -> shoal_types::api::TlsInfo {
    let issuer = shoal_ca::IssuerInfo::of_ca(cluster.root_ca.issuer_cert()).ok();
    shoal_types::api::TlsInfo {
        trust_root: Some(
            shoal_ca::normalize_pem(&cluster.root_ca.ca_cert)
                .unwrap_or_else(|_| cluster.root_ca.ca_cert.clone()),
        ),
        cert_issuer_subject: issuer.as_ref().map(|i| i.subject_b64()),
        cert_issuer_public_key: issuer.as_ref().map(|i| i.public_key_b64()),
    }
}

impl Control {
    /// The cluster object.
    pub fn cluster(&self) -> Result<Cluster, ControlError> {
        self.store
            .view(|t| t.cluster().cloned())
            .ok_or_else(|| ControlError::Unavailable("This node is not a swarm manager. Manager is being prepared or has trouble connecting to the cluster.".into()))
    }

    /// `POST /swarm/update?version=N`: replaces the spec (zero fields keep their values) and
    /// rotates what was asked. A stale `version` is `update out of sequence`.
    pub async fn update_cluster(
        &self,
        version: u64,
        spec: SwarmSpec,
        rotate: Rotation,
    ) -> Result<(), ControlError> {
        validate_swarm_spec(&spec)?;
        let current = self.cluster()?;
        let digest = root_digest(&current)?;
        // The CA part is decided (and a new root made) before the transaction; the version
        // check below makes sure it was decided on the root CA the transaction changes.
        let mut ca = spec.ca_config.clone().unwrap_or_default();
        ca.force_rotate =
            ca.force_rotate
                .or(current.spec.ca_config.as_ref().and_then(|c| c.force_rotate));
        let new_root_ca =
            super::root_ca::plan(&current.root_ca, &ca, std::time::SystemTime::now())?;
        // ThreadRng is not Send: draw everything before the first await.
        let (new_worker, new_manager, new_unlock, fresh_unlock) = {
            let mut rng = rand::rng();
            (
                rotate
                    .worker_token
                    .then(|| shoal_ca::JoinToken::generate(&digest, &mut rng)),
                rotate
                    .manager_token
                    .then(|| shoal_ca::JoinToken::generate(&digest, &mut rng)),
                rotate
                    .unlock_key
                    .then(|| shoal_ca::UnlockKey::generate(&mut rng).to_string()),
                shoal_ca::UnlockKey::generate(&mut rng).to_string(),
            )
        };
        self.store
            .update(move |tx| {
                let mut cluster = tx.cluster().ok_or(shoal_store::StoreError::NotFound {
                    kind: shoal_types::Kind::Cluster,
                    id: "default".into(),
                })?;
                if cluster.meta.version.index != version {
                    return Err(shoal_store::StoreError::OutOfSequence {
                        kind: shoal_types::Kind::Cluster,
                        id: cluster.id.to_string(),
                    });
                }
                let was_locked = cluster.autolock();
                cluster.spec = merge_spec(&cluster.spec, spec);
                if let Some(root_ca) = new_root_ca {
                    if root_ca.root_rotation.is_some() {
                        tracing::info!("root CA rotation started");
                    }
                    cluster.root_ca = root_ca;
                }
                if let Some(t) = new_worker {
                    cluster.join_tokens.worker = t;
                }
                if let Some(t) = new_manager {
                    cluster.join_tokens.manager = t;
                }
                let locked = cluster.autolock();
                if locked && (!was_locked || cluster.unlock_key.is_empty()) {
                    cluster.unlock_key = fresh_unlock;
                } else if locked {
                    if let Some(k) = new_unlock {
                        cluster.unlock_key = k;
                    }
                } else {
                    cluster.unlock_key.clear();
                }
                tx.update(Object::Cluster(cluster))
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::{SwarmSpecCaConfig, SwarmSpecOrchestration};

    #[test]
    fn zero_fields_keep_current_values() {
        let current = SwarmSpec {
            name: Some("default".into()),
            orchestration: Some(SwarmSpecOrchestration {
                task_history_retention_limit: Some(5),
            }),
            ca_config: Some(SwarmSpecCaConfig {
                node_cert_expiry: Some(7_776_000_000_000_000),
                ..Default::default()
            }),
            ..Default::default()
        };
        let merged = merge_spec(&current, SwarmSpec::default());
        assert_eq!(merged.name.as_deref(), Some("default"));
        assert_eq!(
            merged
                .orchestration
                .and_then(|o| o.task_history_retention_limit),
            Some(5)
        );
        assert_eq!(
            merged.ca_config.and_then(|c| c.node_cert_expiry),
            Some(7_776_000_000_000_000)
        );
    }

    #[test]
    fn cert_expiry_below_an_hour_is_refused() {
        let spec = SwarmSpec {
            ca_config: Some(SwarmSpecCaConfig {
                node_cert_expiry: Some(60_000_000_000),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(validate_swarm_spec(&spec).is_err());
    }
}
