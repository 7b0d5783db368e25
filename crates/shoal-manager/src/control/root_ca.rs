//! What a `swarm update` asks of the root CA (`swarm ca --rotate`), decided as SwarmKit's
//! `controlapi/ca_rotation.go` `validateCAConfig` does, without external CAs:
//!
//! - no signing cert: a `ForceRotate` different from the last one starts a rotation to a fresh
//!   root; otherwise nothing changes;
//! - signing cert and key (`--ca-cert/--ca-key`): the current root → abort any rotation; the
//!   root being rotated to → keep it; anything else → a rotation to that root;
//! - a cert without a key needs an external CA, which shoal does not have: refused.
//!
//! A rotation cross-signs the new root with the **original** root key (also when replacing a
//! rotation in progress), so old-root-only peers verify what the new key issues. It finishes
//! in the `ca_rotation` controller once every node holds a certificate of the new key.

use super::ControlError;
use shoal_ca::RootCa as CaRoot;
use shoal_types::api::SwarmSpecCaConfig;
use shoal_types::{RootCa, RootRotation};
use std::time::{Duration, SystemTime};

/// A root supplied with `--ca-cert` must stay valid this long (SwarmKit `minRootExpiration`).
pub const MIN_ROOT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

fn invalid(m: impl Into<String>) -> ControlError {
    ControlError::Invalid(m.into())
}

fn start_rotation(
    current: &RootCa,
    new: &CaRoot,
    force_rotate: u64,
) -> Result<RootCa, ControlError> {
    let old = CaRoot::from_pem(&current.ca_cert, &current.ca_key)
        .map_err(|e| ControlError::Internal(format!("load the current root CA: {e}")))?;
    let cross = old.cross_sign(new.cert_pem()).map_err(|e| {
        ControlError::Internal(format!(
            "unable to generate a cross-signed certificate for root rotation: {e}"
        ))
    })?;
    Ok(RootCa {
        root_rotation: Some(RootRotation {
            ca_cert: new.cert_pem().to_string(),
            ca_key: new.key_pem().to_string(),
            cross_signed_ca_cert: cross,
        }),
        last_forced_rotation: force_rotate,
        ..current.clone()
    })
}

/// The root CA object after an update with CA config `ca` (`force_rotate` already merged:
/// `None` in the request keeps the current value). `Ok(None)`: nothing to change.
pub fn plan(
    current: &RootCa,
    ca: &SwarmSpecCaConfig,
    now: SystemTime,
) -> Result<Option<RootCa>, ControlError> {
    let force_rotate = ca.force_rotate.unwrap_or(current.last_forced_rotation);
    let cert = ca
        .signing_ca_cert
        .as_deref()
        .filter(|c| !c.trim().is_empty());
    let key = ca
        .signing_ca_key
        .as_deref()
        .filter(|k| !k.trim().is_empty());
    match (cert, key) {
        (None, Some(_)) => Err(invalid(
            "if a signing CA key is provided, the signing CA cert must also be provided",
        )),
        (Some(_), None) => Err(invalid(
            "there must be at least one valid, reachable external CA corresponding to the desired CA certificate (shoal has no external CA support: give the CA key too)",
        )),
        (None, None) => {
            if force_rotate == current.last_forced_rotation {
                return Ok(None);
            }
            let new = CaRoot::generate(now)
                .map_err(|e| ControlError::Internal(format!("generate a root CA: {e}")))?;
            start_rotation(current, &new, force_rotate).map(Some)
        }
        (Some(cert), Some(key)) => {
            let ders = shoal_ca::rotation::cert_ders("read the desired CA certificate", cert)
                .map_err(|e| invalid(e.to_string()))?;
            if ders.len() != 1 {
                return Err(invalid(
                    "the desired CA certificate cannot contain multiple certificates",
                ));
            }
            let new = CaRoot::from_pem(cert, key).map_err(|e| invalid(e.to_string()))?;
            let not_after = shoal_ca::rotation::not_after(cert)
                .map_err(|_| invalid("could not parse the desired CA certificate"))?;
            if not_after < now + MIN_ROOT_VALIDITY {
                return Err(invalid("CA certificate expires too soon"));
            }
            let same = |a: &str, b: &str| {
                shoal_ca::normalize_pem(a)
                    .ok()
                    .is_some_and(|a| shoal_ca::normalize_pem(b).ok().is_some_and(|b| a == b))
            };
            if same(cert, &current.ca_cert) {
                // Back to the current root: abort any rotation.
                return Ok(Some(RootCa {
                    ca_key: key.to_string(),
                    root_rotation: None,
                    last_forced_rotation: force_rotate,
                    ..current.clone()
                }));
            }
            if key.trim() == current.ca_key.trim() {
                return Err(invalid("Cannot update to a cert with an identical key"));
            }
            if let Some(r) = current
                .root_rotation
                .as_ref()
                .filter(|r| same(cert, &r.ca_cert))
            {
                let mut next = current.clone();
                next.root_rotation = Some(RootRotation {
                    ca_key: key.to_string(),
                    ..r.clone()
                });
                next.last_forced_rotation = force_rotate;
                return Ok(Some(next));
            }
            start_rotation(current, &new, force_rotate).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> (RootCa, CaRoot) {
        let root = CaRoot::generate(SystemTime::now()).expect("root");
        (
            RootCa {
                ca_cert: root.cert_pem().to_string(),
                ca_key: root.key_pem().to_string(),
                ca_cert_hash: "00".repeat(32),
                ..Default::default()
            },
            root,
        )
    }

    fn force(n: u64) -> SwarmSpecCaConfig {
        SwarmSpecCaConfig {
            force_rotate: Some(n),
            ..Default::default()
        }
    }

    #[test]
    fn an_unchanged_force_rotate_changes_nothing_and_a_new_one_starts_a_rotation() {
        let (cur, root) = current();
        let now = SystemTime::now();
        assert_eq!(plan(&cur, &force(0), now).expect("plan"), None);
        assert_eq!(
            plan(&cur, &SwarmSpecCaConfig::default(), now).expect("plan"),
            None
        );
        let next = plan(&cur, &force(1), now).expect("plan").expect("rotation");
        assert_eq!(next.ca_cert, cur.ca_cert, "the root stays until the end");
        assert_eq!(next.last_forced_rotation, 1);
        let r = next.root_rotation.expect("rotation");
        assert_ne!(r.ca_cert, cur.ca_cert);
        // The intermediate is signed by the current root.
        let leafless = shoal_ca::IssuerInfo::of_leaf(&r.cross_signed_ca_cert, root.cert_pem())
            .expect("issuer")
            .expect("signed by the old root");
        assert_eq!(
            leafless,
            shoal_ca::IssuerInfo::of_ca(root.cert_pem()).expect("old")
        );
    }

    #[test]
    fn a_supplied_root_is_checked_and_rotated_to() {
        let (cur, _) = current();
        let now = SystemTime::now();
        let new = CaRoot::generate(now).expect("new");
        let with = |cert: Option<&str>, key: Option<&str>| SwarmSpecCaConfig {
            signing_ca_cert: cert.map(str::to_string),
            signing_ca_key: key.map(str::to_string),
            ..Default::default()
        };
        assert!(plan(&cur, &with(None, Some(new.key_pem())), now).is_err());
        assert!(plan(&cur, &with(Some(new.cert_pem()), None), now).is_err());
        let other = CaRoot::generate(now).expect("other");
        assert!(
            plan(
                &cur,
                &with(Some(new.cert_pem()), Some(other.key_pem())),
                now
            )
            .is_err(),
            "key of another certificate"
        );
        let next = plan(&cur, &with(Some(new.cert_pem()), Some(new.key_pem())), now)
            .expect("plan")
            .expect("rotation");
        assert_eq!(
            next.root_rotation.as_ref().map(|r| r.ca_cert.as_str()),
            Some(new.cert_pem())
        );
        // Asking for the current root again aborts the rotation.
        let back = plan(&next, &with(Some(&cur.ca_cert), Some(&cur.ca_key)), now)
            .expect("plan")
            .expect("abort");
        assert_eq!(back.root_rotation, None);
        // A root that expires within a year is refused.
        let later = now + Duration::from_secs(20 * 365 * 24 * 3600);
        assert!(
            plan(
                &cur,
                &with(Some(new.cert_pem()), Some(new.key_pem())),
                later
            )
            .is_err()
        );
    }
}
