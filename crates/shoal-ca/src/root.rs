//! The cluster root CA: an ECDSA P-256 self-signed certificate and its key.
//!
//! Defaults from swarmkit `ca/certificates.go` (`RootKeyAlgo`, `RootCAExpiration`,
//! `CertBackdate`) and `ca/config.go` (`DefaultRootCN`).

use std::fmt;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::CertError;
use crate::timeconv;

/// Common name of the root CA (swarmkit `DefaultRootCN`).
pub const ROOT_CN: &str = "swarm-ca";
/// Root CA validity: 20 years (swarmkit `RootCAExpiration = "630720000s"`).
pub const ROOT_CA_VALIDITY: Duration = Duration::from_secs(630_720_000);
/// Every certificate is backdated by this much to tolerate clock skew (swarmkit `CertBackdate`).
pub const CERT_BACKDATE: Duration = Duration::from_secs(3600);

/// Root CA certificate and private key. `Debug` never shows the key.
///
/// Invariant: the certificate parses and the key is its private key (checked by
/// [`RootCa::generate`] and [`RootCa::from_pem`]).
#[derive(Clone)]
pub struct RootCa {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    cert_der: Vec<u8>,
}

impl RootCa {
    /// A new self-signed root valid from `now - 1h` to `now + 20y`.
    pub fn generate(now: SystemTime) -> Result<Self, CertError> {
        const OP: &str = "generate root CA";
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(CertError::rcgen(OP))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, ROOT_CN);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = timeconv::to_offset(OP, timeconv::sub(OP, now, CERT_BACKDATE)?)?;
        params.not_after = timeconv::to_offset(OP, timeconv::add(OP, now, ROOT_CA_VALIDITY)?)?;
        let cert = params.self_signed(&key).map_err(CertError::rcgen(OP))?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        })
    }

    /// Load a root from PEM; fails unless `key_pem` is the private key of a CA
    /// certificate in `cert_pem`.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        const OP: &str = "load root CA";
        let cert_der = first_cert_der(OP, cert_pem)?;
        let key = KeyPair::from_pem(key_pem).map_err(CertError::rcgen(OP))?;
        let (_, cert) =
            X509Certificate::from_der(&cert_der).map_err(|e| CertError::invalid(OP, e))?;
        if !cert.is_ca() {
            return Err(CertError::invalid(OP, "certificate is not a CA"));
        }
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(CertError::invalid(OP, "key does not match certificate"));
        }
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            cert_der,
        })
    }

    /// The root certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The root private key, PKCS#8 PEM. Secret: store only on managers.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The root certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// SHA-256 of the certificate DER: what join tokens pin.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(&self.cert_der).into()
    }

    /// An rcgen issuer for signing. Fails only if the stored PEM was corrupted,
    /// which the constructors rule out.
    pub(crate) fn issuer(&self, op: &'static str) -> Result<Issuer<'static, KeyPair>, CertError> {
        let key = KeyPair::from_pem(&self.key_pem).map_err(CertError::rcgen(op))?;
        Issuer::from_ca_cert_der(&CertificateDer::from(self.cert_der.as_slice()), key)
            .map_err(CertError::rcgen(op))
    }
}

impl fmt::Debug for RootCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCa")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// SHA-256 of the first certificate in `cert_pem`; a joining node compares this
/// with the digest in its join token.
pub fn cert_digest(cert_pem: &str) -> Result<[u8; 32], CertError> {
    let der = first_cert_der("digest certificate", cert_pem)?;
    Ok(Sha256::digest(&der).into())
}

/// DER of the first `CERTIFICATE` block in `pem`.
pub(crate) fn first_cert_der(op: &'static str, pem: &str) -> Result<Vec<u8>, CertError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| CertError::invalid(op, format!("no PEM certificate: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_750_000_000)
    }

    #[test]
    fn generated_root_has_swarm_defaults() {
        let root = RootCa::generate(now()).expect("generate");
        let (_, cert) = X509Certificate::from_der(root.cert_der()).expect("parse");
        assert!(cert.is_ca());
        let cn = cert.subject().iter_common_name().next().expect("cn");
        assert_eq!(cn.as_str().expect("utf8"), ROOT_CN);
        assert_eq!(cert.subject(), cert.issuer());
        let v = cert.validity();
        assert_eq!(v.not_before.timestamp(), 1_750_000_000 - 3600);
        assert_eq!(v.not_after.timestamp(), 1_750_000_000 + 630_720_000);
        let ku = cert.key_usage().expect("ku ext").expect("ku").value;
        assert!(ku.key_cert_sign());
        assert!(root.key_pem().contains("BEGIN PRIVATE KEY"));
    }

    #[test]
    fn from_pem_round_trips_and_checks_the_key() {
        let root = RootCa::generate(now()).expect("generate");
        let again = RootCa::from_pem(root.cert_pem(), root.key_pem()).expect("load");
        assert_eq!(again.digest(), root.digest());
        assert_eq!(cert_digest(root.cert_pem()).expect("digest"), root.digest());
        let other = RootCa::generate(now()).expect("generate");
        assert_ne!(other.digest(), root.digest());
        assert!(RootCa::from_pem(root.cert_pem(), other.key_pem()).is_err());
        assert!(RootCa::from_pem("nope", root.key_pem()).is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let root = RootCa::generate(now()).expect("generate");
        assert!(!format!("{root:?}").contains("PRIVATE KEY"));
    }
}
