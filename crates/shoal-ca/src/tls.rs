//! rustls configurations for the cluster channel (port 2377).
//!
//! Every connection is mutual TLS, TLS 1.2 or 1.3 only, with the ring provider
//! (whose suites are all ECDHE + AEAD, matching swarmkit `ca/config.go`
//! `strongTLSCiphers`). Clients verify managers against the DNS SAN
//! [`MANAGER_SERVER_NAME`], never an IP. A joining node, which has no certificate
//! yet, uses [`pinned_client_config`] to reach a manager and fetch the root CA.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};
use sha2::{Digest, Sha256};

use crate::error::CertError;
use crate::node_cert::CertInfo;

/// The server name clients verify managers against: the DNS SAN every manager
/// certificate carries (SwarmKit uses the role name the same way).
pub const MANAGER_SERVER_NAME: &str = "swarm-manager";

/// TLS 1.2 minimum (swarmkit `ca/config.go`, docs `pki.md`).
static PROTOCOLS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(op: &'static str, pem: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::invalid(op, format!("bad certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(CertError::invalid(op, "no certificate in PEM"));
    }
    Ok(certs)
}

fn key(op: &'static str, pem: &str) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| CertError::invalid(op, format!("bad private key PEM: {e}")))
}

fn roots(op: &'static str, root_pem: &str) -> Result<Arc<RootCertStore>, CertError> {
    let mut store = RootCertStore::empty();
    for cert in certs(op, root_pem)? {
        store.add(cert).map_err(CertError::tls(op))?;
    }
    Ok(Arc::new(store))
}

/// Node certificate chain followed by the root, so that a pinning client (which
/// has no trust anchor yet) can find the root in the presented chain.
fn chain_with_root(
    op: &'static str,
    root_pem: &str,
    cert_pem: &str,
) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let mut chain = certs(op, cert_pem)?;
    for root in certs(op, root_pem)? {
        if !chain.contains(&root) {
            chain.push(root);
        }
    }
    Ok(chain)
}

/// Server side of the cluster channel: presents `cert_pem` (plus the root) and
/// requires a client certificate issued by `root_pem`. Authorisation by role and
/// cluster is the caller's job, via [`peer_identity`].
pub fn server_config(
    root_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, CertError> {
    build_server_config(root_pem, cert_pem, key_pem, false)
}

/// Like [`server_config`], but a client may also connect with no certificate
/// (a certificate it does present must still be issued by `root_pem`). This is
/// what port 2377 needs so joining nodes can fetch the root CA and submit their
/// CSR with a join token, as SwarmKit's `VerifyClientCertIfGiven`. Handlers must
/// refuse every other request whose peer has no certificate.
pub fn server_config_allow_anonymous(
    root_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, CertError> {
    build_server_config(root_pem, cert_pem, key_pem, true)
}

fn build_server_config(
    root_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    allow_anonymous: bool,
) -> Result<Arc<ServerConfig>, CertError> {
    const OP: &str = "build TLS server config";
    let mut builder = WebPkiClientVerifier::builder_with_provider(roots(OP, root_pem)?, provider());
    if allow_anonymous {
        builder = builder.allow_unauthenticated();
    }
    let verifier = builder.build().map_err(|e| CertError::invalid(OP, e))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOLS)
        .map_err(CertError::tls(OP))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain_with_root(OP, root_pem, cert_pem)?, key(OP, key_pem)?)
        .map_err(CertError::tls(OP))?;
    Ok(Arc::new(config))
}

/// Client side of the cluster channel: trusts only `root_pem` and authenticates
/// with `cert_pem`. Connect with server name [`MANAGER_SERVER_NAME`].
pub fn client_config(
    root_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ClientConfig>, CertError> {
    const OP: &str = "build TLS client config";
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOLS)
        .map_err(CertError::tls(OP))?
        .with_root_certificates(roots(OP, root_pem)?)
        .with_client_auth_cert(certs(OP, cert_pem)?, key(OP, key_pem)?)
        .map_err(CertError::tls(OP))?;
    Ok(Arc::new(config))
}

/// Bootstrap client for a node that has only a join token: accepts a server only
/// if some certificate in its presented chain hashes to `expected_root_digest`
/// AND the server's certificate chains to that root (so replaying the public root
/// certificate is not enough). Presents no client certificate. Connect with
/// server name [`MANAGER_SERVER_NAME`].
pub fn pinned_client_config(
    expected_root_digest: [u8; 32],
) -> Result<Arc<ClientConfig>, CertError> {
    const OP: &str = "build pinned TLS client config";
    let verifier = Arc::new(PinnedRootVerifier {
        digest: expected_root_digest,
        provider: provider(),
    });
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOLS)
        .map_err(CertError::tls(OP))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The identity asserted by a verified peer chain (`certs[0]` is the leaf).
/// Call only on chains rustls has already verified.
pub fn peer_identity(certs: &[CertificateDer<'_>]) -> Result<CertInfo, CertError> {
    let leaf = certs
        .first()
        .ok_or_else(|| CertError::invalid("read peer identity", "peer sent no certificate"))?;
    CertInfo::from_der(leaf)
}

/// See [`pinned_client_config`].
#[derive(Debug)]
struct PinnedRootVerifier {
    digest: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedRootVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = std::iter::once(end_entity)
            .chain(intermediates)
            .find(|c| <[u8; 32]>::from(Sha256::digest(c.as_ref())) == self.digest)
            .ok_or(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))?;
        let mut store = RootCertStore::empty();
        store.add(pinned.clone().into_owned())?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(format!("pinned root verifier: {e}")))?;
        inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
