//! How a node follows the cluster's PKI: it trusts the roots the cluster trusts (both during a
//! root rotation, then the new one alone), renews at once when a rotation wants certificates
//! of the new key, and — as a sole manager, with no other manager to ask — acts as its own CA.
//! Called by the membership watch ([`crate::membership`]); every step holds the daemon's
//! `ops` lock, like the other membership changes.

use crate::daemon::Daemon;
use crate::tls::NodeTls;
use shoal_ca::{NodeKey, Role};
use std::sync::Arc;

impl Daemon {
    /// The node's TLS identity, while in a swarm.
    fn node_tls(&self) -> Option<Arc<NodeTls>> {
        self.services.lock().as_ref().map(|s| s.tls.clone())
    }

    /// Makes this node trust what the cluster trusts (`root`, plus `rotation` during a root
    /// rotation). Returns whether its certificate is issued by another key than the one the
    /// cluster issues with now (then it must renew at once).
    fn apply_trust(&self, tls: &NodeTls, root: &str, rotation: Option<&str>) -> bool {
        if root.trim().is_empty() {
            return false;
        }
        let mut bundle = root.to_string();
        if let Some(r) = rotation {
            if !bundle.ends_with('\n') {
                bundle.push('\n');
            }
            bundle.push_str(r);
        }
        let same =
            shoal_ca::normalize_pem(&bundle).ok() == shoal_ca::normalize_pem(&tls.root_pem()).ok();
        if !same {
            match tls.replace_trust(&self.paths, bundle) {
                Ok(()) => tracing::info!(
                    rotating = rotation.is_some(),
                    "trusted root CA certificates updated"
                ),
                Err(e) => tracing::warn!(error = %e, "could not update the trusted root CAs"),
            }
        }
        !tls.issued_by(rotation.unwrap_or(root))
    }

    /// Applies the roots a manager sent in `/node/state`; see [`Self::apply_trust`].
    pub(crate) async fn sync_trust(&self, resp: &shoal_cluster::NodeStateResponse) -> bool {
        let _op = self.ops.lock().await;
        let Some(tls) = self.node_tls() else {
            return false;
        };
        self.apply_trust(&tls, &resp.root_ca, resp.rotation_ca.as_deref())
    }

    /// A manager with no other manager to ask acts as its own CA: it follows the cluster's
    /// roots, renews its certificate when due (or at once during a root rotation) by signing
    /// it with the root key in its own store, and records its TLS info in its node object.
    pub(crate) async fn local_ca_step(&self) {
        let _op = self.ops.lock().await;
        let Some(tls) = self.node_tls() else { return };
        let Some((state, runtime)) = self.manager_runtime() else {
            return;
        };
        let Some(cluster) = runtime.store.view(|t| t.cluster().cloned()) else {
            return;
        };
        let rotation = cluster
            .root_ca
            .root_rotation
            .as_ref()
            .map(|r| r.ca_cert.as_str());
        let wrong_issuer = self.apply_trust(&tls, &cluster.root_ca.ca_cert, rotation);
        if wrong_issuer || tls.renewal_due(std::time::SystemTime::now()) {
            let renewed = NodeKey::from_pem(tls.key_pem())
                .and_then(|k| k.csr_pem())
                .map_err(|e| e.to_string())
                .and_then(|csr| {
                    crate::join_handler::sign(&cluster, &csr, &state.node_id, Role::Manager)
                        .map_err(|e| e.to_string())
                })
                .and_then(|cert| {
                    tls.replace_cert(&self.paths, cert)
                        .map_err(|e| e.to_string())
                });
            match renewed {
                Ok(()) => tracing::info!(
                    rotation = wrong_issuer,
                    "node certificate renewed (signed locally)"
                ),
                Err(e) => tracing::warn!(error = %e, "node certificate renewal failed; will retry"),
            }
        }
        if let Err(e) =
            crate::join_handler::record_tls_info(&runtime.store, &state.node_id, tls.tls_info())
                .await
        {
            tracing::debug!(error = %e, "could not record this node's TLS info yet");
        }
    }
}
