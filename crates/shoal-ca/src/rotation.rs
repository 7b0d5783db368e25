//! Root CA rotation, as SwarmKit does it (`ca/certificates.go` `CrossSignCACertificate`,
//! `ca/reconciler.go`): the old root key signs the new root's public key and subject, giving
//! an intermediate that chains the new root to the old one. Leaves issued by the new key carry
//! that intermediate, so a peer that still trusts only the old root verifies them, and a peer
//! that trusts the new root verifies them directly.
//!
//! Also here: what a node reports about its certificate (the issuer's raw subject and public
//! key, as the Engine API's `TLSInfo`) and the PEM normalisation that makes `TrustRoot`
//! strings comparable.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, KeyUsagePurpose,
    SerialNumber, SubjectPublicKeyInfo,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use crate::error::CertError;
use crate::root::{RootCa, first_cert_der};
use crate::timeconv;

/// Every `CERTIFICATE` block of `pem`, DER.
pub fn cert_ders(op: &'static str, pem: &str) -> Result<Vec<Vec<u8>>, CertError> {
    let ders = CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::invalid(op, format!("bad certificate PEM: {e}")))?;
    if ders.is_empty() {
        return Err(CertError::invalid(op, "no certificate in PEM"));
    }
    Ok(ders)
}

/// One certificate as PEM with 64-column base64 and `\n` line ends: the one spelling shoal
/// uses wherever PEM strings are compared (the API's `TrustRoot`s).
pub fn der_to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        // invariant: base64 output is ASCII.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// `pem` re-encoded certificate by certificate with [`der_to_pem`].
pub fn normalize_pem(pem: &str) -> Result<String, CertError> {
    Ok(cert_ders("normalize PEM", pem)?
        .iter()
        .map(|d| der_to_pem(d))
        .collect())
}

/// Who issued a certificate: the raw DER subject and SubjectPublicKeyInfo of the issuing
/// certificate (what the Engine API's `TLSInfo.CertIssuerSubject`/`CertIssuerPublicKey`
/// carry, base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerInfo {
    pub subject: Vec<u8>,
    pub public_key: Vec<u8>,
}

impl IssuerInfo {
    /// The issuer a CA certificate (first in `ca_pem`) stands for: its own subject and key.
    pub fn of_ca(ca_pem: &str) -> Result<Self, CertError> {
        const OP: &str = "read CA issuer";
        let der = first_cert_der(OP, ca_pem)?;
        let (_, cert) = X509Certificate::from_der(&der).map_err(|e| CertError::invalid(OP, e))?;
        Ok(Self {
            subject: cert.subject().as_raw().to_vec(),
            public_key: cert.public_key().raw.to_vec(),
        })
    }

    /// The issuer of the leaf (first certificate of `chain_pem`): the certificate among the
    /// rest of the chain and `trust_pem` whose key verifies the leaf's signature. `None` if
    /// none does.
    pub fn of_leaf(chain_pem: &str, trust_pem: &str) -> Result<Option<Self>, CertError> {
        const OP: &str = "find certificate issuer";
        let chain = cert_ders(OP, chain_pem)?;
        let trust = cert_ders(OP, trust_pem).unwrap_or_default();
        let (_, leaf) =
            X509Certificate::from_der(&chain[0]).map_err(|e| CertError::invalid(OP, e))?;
        for der in chain[1..].iter().chain(trust.iter()) {
            let Ok((_, cand)) = X509Certificate::from_der(der) else {
                continue;
            };
            if cand.subject().as_raw() == leaf.issuer().as_raw()
                && leaf.verify_signature(Some(cand.public_key())).is_ok()
            {
                return Ok(Some(Self {
                    subject: cand.subject().as_raw().to_vec(),
                    public_key: cand.public_key().raw.to_vec(),
                }));
            }
        }
        Ok(None)
    }

    /// Standard base64 of the subject, as the Engine API encodes `[]byte`.
    pub fn subject_b64(&self) -> String {
        STANDARD.encode(&self.subject)
    }

    /// Standard base64 of the public key.
    pub fn public_key_b64(&self) -> String {
        STANDARD.encode(&self.public_key)
    }
}

/// Whether the leaf of `chain_pem` was signed by the key of the CA certificate `ca_pem`.
pub fn issued_by(chain_pem: &str, ca_pem: &str) -> Result<bool, CertError> {
    let want = IssuerInfo::of_ca(ca_pem)?;
    Ok(IssuerInfo::of_leaf(chain_pem, ca_pem)?.is_some_and(|i| i == want))
}

/// Rebuilds `name` as an rcgen DN with the same attribute types and string tags, so the
/// cross-signed certificate's subject is byte-identical to the new root's.
fn dn_from_x509(op: &'static str, name: &X509Name<'_>) -> Result<DistinguishedName, CertError> {
    let mut dn = DistinguishedName::new();
    for rdn in name.iter() {
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err(CertError::invalid(
                op,
                "multi-valued or empty RDNs in the CA subject are not supported",
            ));
        };
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or_else(|| CertError::invalid(op, "CA subject attribute OID is too large"))?
            .collect();
        let data = attr.attr_value().data;
        let text = std::str::from_utf8(data)
            .map_err(|_| CertError::invalid(op, "CA subject attribute is not text"))?;
        let value = match attr.attr_value().header.tag() {
            Tag::PrintableString => {
                DnValue::PrintableString(text.try_into().map_err(CertError::rcgen(op))?)
            }
            Tag::Ia5String => DnValue::Ia5String(text.try_into().map_err(CertError::rcgen(op))?),
            Tag::Utf8String => DnValue::Utf8String(text.to_owned()),
            _ => {
                return Err(CertError::invalid(
                    op,
                    "CA subject uses a string type shoal does not support",
                ));
            }
        };
        dn.push(DnType::from_oid(&oid), value);
    }
    Ok(dn)
}

impl RootCa {
    /// The intermediate that lets peers trusting `self` verify certificates issued by
    /// `new_root_pem`'s key: the new root's subject, public key and validity, signed by this
    /// root's key. PEM.
    pub fn cross_sign(&self, new_root_pem: &str) -> Result<String, CertError> {
        const OP: &str = "cross-sign the new root CA";
        let der = first_cert_der(OP, new_root_pem)?;
        let (_, new) = X509Certificate::from_der(&der).map_err(|e| CertError::invalid(OP, e))?;
        if !new.is_ca() {
            return Err(CertError::invalid(OP, "the new certificate is not a CA"));
        }
        let public_key =
            SubjectPublicKeyInfo::from_der(new.public_key().raw).map_err(CertError::rcgen(OP))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn_from_x509(OP, new.subject())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let validity = new.validity();
        params.not_before =
            timeconv::to_offset(OP, timeconv::from_unix(validity.not_before.timestamp()))?;
        params.not_after =
            timeconv::to_offset(OP, timeconv::from_unix(validity.not_after.timestamp()))?;
        params.use_authority_key_identifier_extension = true;
        let mut serial = Sha256::new();
        serial.update(b"shoal cross-sign");
        serial.update(&der);
        let mut bytes = serial.finalize()[..20].to_vec();
        bytes[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&bytes));
        let cert = params
            .signed_by(&public_key, &self.issuer(OP)?)
            .map_err(CertError::rcgen(OP))?;
        let (_, made) =
            X509Certificate::from_der(cert.der()).map_err(|e| CertError::invalid(OP, e))?;
        if made.subject().as_raw() != new.subject().as_raw() {
            return Err(CertError::invalid(
                OP,
                "could not reproduce the new root's subject exactly",
            ));
        }
        Ok(cert.pem())
    }
}

/// End of validity of the first certificate in `pem`.
pub fn not_after(pem: &str) -> Result<std::time::SystemTime, CertError> {
    const OP: &str = "read certificate validity";
    let der = first_cert_der(OP, pem)?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| CertError::invalid(OP, e))?;
    Ok(timeconv::from_unix(cert.validity().not_after.timestamp()))
}

/// A leaf certificate followed by the intermediate that issued it (if any): the chain a node
/// presents during a root rotation.
pub fn with_intermediate(leaf_pem: &str, intermediate_pem: Option<&str>) -> String {
    let mut out = leaf_pem.to_string();
    if let Some(i) = intermediate_pem.filter(|i| !i.trim().is_empty()) {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(i);
    }
    out
}

#[cfg(test)]
#[path = "rotation_tests.rs"]
mod tests;
