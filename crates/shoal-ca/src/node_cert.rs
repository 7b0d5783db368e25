//! Node keys, CSRs, CA signing of node certificates, and reading them back.
//!
//! A node certificate carries the node's identity in its subject, as SwarmKit's do
//! (`ca/certificates.go`): CN = node id, OU = `swarm-manager` / `swarm-worker`,
//! O = cluster id. The CA ignores everything the CSR asks for except its public key.

use std::fmt;
use std::time::{Duration, SystemTime};

use rand::RngCore;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber, SubjectPublicKeyInfo,
};
use rustls::pki_types::CertificateSigningRequestDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{CertError, CertExpiryError};
use crate::root::{CERT_BACKDATE, RootCa, first_cert_der};
use crate::timeconv;

/// Default node certificate validity: 90 days (swarmkit `DefaultNodeCertExpiration`).
pub const DEFAULT_NODE_CERT_VALIDITY: Duration = Duration::from_secs(2160 * 3600);
/// Shortest allowed node certificate validity (swarmkit `MinNodeCertExpiration`).
pub const MIN_NODE_CERT_VALIDITY: Duration = Duration::from_secs(3600);
/// Renewal window, as fractions of validity (swarmkit `CertLowerRotationRange`,
/// `CertUpperRotationRange`), in per-mille.
const RENEW_LOWER_PERMILLE: u128 = 500;
const RENEW_UPPER_PERMILLE: u128 = 800;
/// RFC 5280 caps serial numbers at 20 octets.
const SERIAL_LEN: usize = 20;

/// A node's role as encoded in its certificate's OU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A manager: raft member, may serve the cluster API.
    Manager,
    /// A worker: runs tasks only.
    Worker,
}

impl Role {
    /// The certificate OU, and also the DNS SAN clients verify against.
    pub fn ou(self) -> &'static str {
        match self {
            Role::Manager => "swarm-manager",
            Role::Worker => "swarm-worker",
        }
    }

    /// Inverse of [`Role::ou`].
    pub fn from_ou(ou: &str) -> Option<Self> {
        match ou {
            "swarm-manager" => Some(Role::Manager),
            "swarm-worker" => Some(Role::Worker),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Manager => "manager",
            Role::Worker => "worker",
        })
    }
}

/// Reject a `--cert-expiry` shorter than [`MIN_NODE_CERT_VALIDITY`].
pub fn validate_cert_expiry(validity: Duration) -> Result<(), CertExpiryError> {
    if validity < MIN_NODE_CERT_VALIDITY {
        return Err(CertExpiryError);
    }
    Ok(())
}

/// When to renew a certificate: a random point between 50% and 80% of its
/// validity (swarmkit `calculateRandomExpiry`), so nodes do not renew in a herd.
/// Returns `not_before` if the interval is empty.
pub fn renewal_at(
    not_before: SystemTime,
    not_after: SystemTime,
    rng: &mut impl RngCore,
) -> SystemTime {
    let Ok(validity) = not_after.duration_since(not_before) else {
        return not_before;
    };
    let span = RENEW_UPPER_PERMILLE - RENEW_LOWER_PERMILLE;
    let permille = RENEW_LOWER_PERMILLE + u128::from(rng.next_u64()) % span;
    let offset_ns = validity.as_nanos() * permille / 1000;
    let offset = Duration::from_nanos(u64::try_from(offset_ns).unwrap_or(u64::MAX));
    not_before.checked_add(offset).unwrap_or(not_after)
}

/// A node's ECDSA P-256 private key. `Debug` never shows the key.
#[derive(Clone)]
pub struct NodeKey {
    /// PKCS#8 PEM of the private key.
    pub key_pem: String,
}

impl NodeKey {
    /// A fresh P-256 key (randomness from the system via ring).
    pub fn generate() -> Result<Self, CertError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(CertError::rcgen("generate node key"))?;
        Ok(Self {
            key_pem: key.serialize_pem(),
        })
    }

    /// Load a key from PKCS#8 PEM.
    pub fn from_pem(key_pem: &str) -> Result<Self, CertError> {
        KeyPair::from_pem(key_pem).map_err(CertError::rcgen("load node key"))?;
        Ok(Self {
            key_pem: key_pem.to_owned(),
        })
    }

    /// A CSR for this key with an empty subject (the CA sets the subject).
    pub fn csr_pem(&self) -> Result<String, CertError> {
        const OP: &str = "build node CSR";
        let key = KeyPair::from_pem(&self.key_pem).map_err(CertError::rcgen(OP))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let csr = params
            .serialize_request(&key)
            .map_err(CertError::rcgen(OP))?;
        csr.pem().map_err(CertError::rcgen(OP))
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeKey(<redacted>)")
    }
}

impl RootCa {
    /// Issue a node certificate for the public key in `csr_pem`.
    ///
    /// The CSR's signature is verified; its subject and extensions are ignored.
    /// The certificate is valid from `now - 1h` to `now + validity`, has EKU
    /// serverAuth + clientAuth and DNS SANs `<role OU>` and `node_id`.
    /// Errors if `validity` is below the minimum or `node_id` is not a DNS name.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        node_id: &str,
        role: Role,
        cluster_id: &str,
        validity: Duration,
        now: SystemTime,
    ) -> Result<String, CertError> {
        const OP: &str = "sign node CSR";
        validate_cert_expiry(validity)?;
        let csr_der = CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
            .map_err(|e| CertError::invalid(OP, format!("no PEM CSR: {e}")))?;
        let (_, csr) = X509CertificationRequest::from_der(&csr_der)
            .map_err(|e| CertError::invalid(OP, format!("malformed CSR: {e}")))?;
        csr.verify_signature()
            .map_err(|e| CertError::invalid(OP, format!("bad CSR signature: {e}")))?;
        let spki_der = csr.certification_request_info.subject_pki.raw;
        let public_key = SubjectPublicKeyInfo::from_der(spki_der).map_err(CertError::rcgen(OP))?;

        let not_before = timeconv::sub(OP, now, CERT_BACKDATE)?;
        let not_after = timeconv::add(OP, now, validity)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, cluster_id);
        dn.push(DnType::OrganizationalUnitName, role.ou());
        dn.push(DnType::CommonName, node_id);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.subject_alt_names = [role.ou(), node_id]
            .into_iter()
            .map(|n| n.to_owned().try_into().map(SanType::DnsName))
            .collect::<Result<_, _>>()
            .map_err(CertError::rcgen(OP))?;
        params.not_before = timeconv::to_offset(OP, not_before)?;
        params.not_after = timeconv::to_offset(OP, not_after)?;
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(serial(spki_der, node_id, now));
        let issuer = self.issuer(OP)?;
        let cert = params
            .signed_by(&public_key, &issuer)
            .map_err(CertError::rcgen(OP))?;
        Ok(cert.pem())
    }
}

/// A serial unique per (key, node, issue time), derived so signing needs no RNG.
fn serial(spki: &[u8], node_id: &str, now: SystemTime) -> SerialNumber {
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(spki);
    h.update(node_id.as_bytes());
    h.update(nanos.to_be_bytes());
    let mut bytes = h.finalize()[..SERIAL_LEN].to_vec();
    // Keep the DER INTEGER positive and within 20 octets.
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// The identity a node certificate asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject CN.
    pub node_id: String,
    /// From the subject OU.
    pub role: Role,
    /// Subject O.
    pub cluster_id: String,
    /// Start of validity (includes the 1 h backdate).
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

impl CertInfo {
    /// Read the identity of the first certificate in `cert_pem`.
    pub fn parse(cert_pem: &str) -> Result<Self, CertError> {
        Self::from_der(&first_cert_der("read node certificate", cert_pem)?)
    }

    /// Read the identity of a DER certificate. Does not verify the signature.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        const OP: &str = "read node certificate";
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| CertError::invalid(OP, e))?;
        let subject = cert.subject();
        let attr = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>,
                    what: &str| {
            it.next()
                .and_then(|a| a.as_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| CertError::invalid(OP, format!("certificate has no {what}")))
        };
        let node_id = attr(&mut subject.iter_common_name(), "CN (node id)")?;
        let ou = attr(&mut subject.iter_organizational_unit(), "OU (role)")?;
        let cluster_id = attr(&mut subject.iter_organization(), "O (cluster id)")?;
        let role = Role::from_ou(&ou)
            .ok_or_else(|| CertError::invalid(OP, format!("unknown role OU {ou:?}")))?;
        let validity = cert.validity();
        Ok(Self {
            node_id,
            role,
            cluster_id,
            not_before: timeconv::from_unix(validity.not_before.timestamp()),
            not_after: timeconv::from_unix(validity.not_after.timestamp()),
        })
    }
}

#[cfg(test)]
#[path = "node_cert_tests.rs"]
mod tests;
