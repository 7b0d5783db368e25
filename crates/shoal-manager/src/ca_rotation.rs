//! The root rotation finisher (SwarmKit `ca/reconciler.go`), leader-only.
//!
//! While the cluster's root CA has a rotation in progress, nodes renew at once (they see the
//! new issuer in `/node/state`) and report the issuer of their certificate in
//! `Node.Description.TLSInfo`. When every node's certificate is issued by the new root's key,
//! this controller makes the new root the only root: the cluster object's root CA becomes the
//! new certificate and key, the rotation is dropped, and both join tokens are regenerated
//! with the new root's digest (so every old token is refused from then on). Nodes then drop
//! the old root from their trust at their next poll.

use crate::controller::{self, Controller};
use shoal_store::{Event, StoreError, StoreHandle, Tables};
use shoal_types::{Cluster, Kind, Node, Object, RootCa};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Whether `node` reports a certificate issued by the CA whose base64 subject and key are
/// `want`.
fn node_converged(node: &Node, want: &(String, String)) -> bool {
    node.description.tls_info.as_ref().is_some_and(|t| {
        t.cert_issuer_subject.as_deref() == Some(want.0.as_str())
            && t.cert_issuer_public_key.as_deref() == Some(want.1.as_str())
    })
}

/// The root CA the cluster should switch to now: `Some` when a rotation is in progress and
/// every node holds a certificate of the new key. Pure.
pub fn finished_root(cluster: &Cluster, nodes: &[Node]) -> Option<RootCa> {
    let rotation = cluster.root_ca.root_rotation.as_ref()?;
    let issuer = shoal_ca::IssuerInfo::of_ca(&rotation.ca_cert).ok()?;
    let want = (issuer.subject_b64(), issuer.public_key_b64());
    if !nodes.iter().all(|n| node_converged(n, &want)) {
        return None;
    }
    let digest = shoal_ca::cert_digest(&rotation.ca_cert).ok()?;
    Some(RootCa {
        ca_cert: rotation.ca_cert.clone(),
        ca_key: rotation.ca_key.clone(),
        ca_cert_hash: digest.iter().map(|b| format!("{b:02x}")).collect(),
        root_rotation: None,
        last_forced_rotation: cluster.root_ca.last_forced_rotation,
    })
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct RootRotationFinisher {
    dirty: bool,
}

/// Runs the finisher until `cancel` fires.
pub async fn run(
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), crate::ControllerError> {
    controller::run_controller(RootRotationFinisher::default(), store, cancel).await
}

fn plan(t: &Tables) -> Option<RootCa> {
    let cluster = t.cluster()?;
    cluster.root_ca.root_rotation.as_ref()?;
    let nodes: Vec<Node> = t.nodes.iter().cloned().collect();
    finished_root(cluster, &nodes)
}

impl Controller for RootRotationFinisher {
    const NAME: &'static str = "root-rotation";

    fn observe(&mut self, event: &Event) {
        if matches!(event.object.kind(), Kind::Node | Kind::Cluster) {
            self.dirty = true;
        }
    }

    fn mark_all(&mut self) {
        self.dirty = true;
    }

    async fn reconcile(&mut self, store: &StoreHandle, _now: Instant) -> Result<(), StoreError> {
        if !std::mem::take(&mut self.dirty) {
            return Ok(());
        }
        let Some(root) = store.view(plan) else {
            return Ok(());
        };
        let digest = shoal_ca::cert_digest(&root.ca_cert)
            .map_err(|e| StoreError::Internal(format!("digest of the new root CA: {e}")))?;
        // ThreadRng is not Send: draw the tokens before the first await.
        let (worker, manager) = {
            let mut rng = rand::rng();
            (
                shoal_ca::JoinToken::generate(&digest, &mut rng),
                shoal_ca::JoinToken::generate(&digest, &mut rng),
            )
        };
        let (done, _) = controller::update_retrying(store, |tx| {
            let Some(mut cluster) = tx.cluster() else {
                return Ok(false);
            };
            // Decide again on the transaction's view: the rotation may have been replaced.
            let nodes: Vec<Node> = tx.tables().nodes.iter().cloned().collect();
            match finished_root(&cluster, &nodes) {
                Some(now) if now.ca_cert == root.ca_cert => {
                    cluster.root_ca = now;
                    cluster.join_tokens.worker = worker.clone();
                    cluster.join_tokens.manager = manager.clone();
                    tx.update(Object::Cluster(cluster))?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await?;
        if done {
            tracing::info!("completed root rotation: the new root CA is the only root");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::RootRotation;
    use shoal_types::api::{NodeDescription, TlsInfo};
    use std::time::SystemTime;

    fn node(issuer: Option<&shoal_ca::IssuerInfo>) -> Node {
        Node {
            description: NodeDescription {
                tls_info: issuer.map(|i| TlsInfo {
                    trust_root: None,
                    cert_issuer_subject: Some(i.subject_b64()),
                    cert_issuer_public_key: Some(i.public_key_b64()),
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn the_rotation_finishes_only_when_every_node_has_a_new_key_certificate() {
        let old = shoal_ca::RootCa::generate(SystemTime::now()).expect("old");
        let new = shoal_ca::RootCa::generate(SystemTime::now()).expect("new");
        let mut cluster = Cluster::default();
        cluster.root_ca.ca_cert = old.cert_pem().into();
        assert!(finished_root(&cluster, &[]).is_none(), "no rotation");
        cluster.root_ca.root_rotation = Some(RootRotation {
            ca_cert: new.cert_pem().into(),
            ca_key: new.key_pem().into(),
            cross_signed_ca_cert: old.cross_sign(new.cert_pem()).expect("cross"),
        });
        cluster.root_ca.last_forced_rotation = 3;
        let old_i = shoal_ca::IssuerInfo::of_ca(old.cert_pem()).expect("i");
        let new_i = shoal_ca::IssuerInfo::of_ca(new.cert_pem()).expect("i");
        let mut nodes = vec![node(Some(&new_i)), node(Some(&old_i)), node(None)];
        assert!(finished_root(&cluster, &nodes).is_none());
        nodes[1] = node(Some(&new_i));
        assert!(
            finished_root(&cluster, &nodes).is_none(),
            "one never reported"
        );
        nodes[2] = node(Some(&new_i));
        let done = finished_root(&cluster, &nodes).expect("finished");
        assert_eq!(done.ca_cert, new.cert_pem());
        assert_eq!(done.ca_key, new.key_pem());
        assert_eq!(done.root_rotation, None);
        assert_eq!(done.last_forced_rotation, 3);
        assert_eq!(done.ca_cert_hash.len(), 64);
    }
}
