//! This node's identity on the cluster channel: root CA, node certificate and key, and the
//! rustls configs built from them.
//!
//! The configs live in [`TlsCell`]s so a new certificate (renewal, promotion, demotion) takes
//! effect for new connections without restarting the server or the clients. The files under
//! `<data-root>/swarm/certificates/` are the durable copy; [`NodeTls::replace_cert`] writes the
//! file first, then swaps the configs.

use crate::error::NodeError;
use crate::paths::{Paths, write_atomic};
use parking_lot::RwLock;
use rustls::{ClientConfig, ServerConfig};
use shoal_ca::{CertInfo, Role};
use shoal_cluster::{ClusterClient, TlsCell};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Set once at daemon start by the hidden `--cert-renew-after` flag (tests only): renew this
/// long after a certificate is installed instead of at SwarmKit's random point.
static RENEW_AFTER: OnceLock<Duration> = OnceLock::new();

/// Makes every node certificate of this process due `after` it was installed. For tests,
/// which cannot wait the half hour a 1 h certificate (the minimum) lasts before renewal.
pub fn set_renew_after(after: Duration) {
    // A second call keeps the first value: it is a process-wide start-up setting.
    let _ = RENEW_AFTER.set(after);
}

/// A random point between 50 % and 80 % of the certificate's validity (SwarmKit's
/// `calculateRandomExpiry`), so nodes do not all renew at once.
fn renewal_time(cert_pem: &str) -> Result<SystemTime, NodeError> {
    let info = CertInfo::parse(cert_pem)?;
    if let Some(after) = RENEW_AFTER.get() {
        return Ok(SystemTime::now() + *after);
    }
    Ok(shoal_ca::renewal_at(
        info.not_before,
        info.not_after,
        &mut rand::rng(),
    ))
}

/// See the module docs.
pub struct NodeTls {
    /// What this node trusts: the root, plus the new root during a rotation (PEM bundle).
    root_pem: RwLock<String>,
    key_pem: String,
    cert_pem: RwLock<String>,
    /// When the current certificate is due for renewal (random 50–80 % of its validity).
    renew_at: RwLock<SystemTime>,
    server: Arc<TlsCell<ServerConfig>>,
    client_tls: Arc<TlsCell<ClientConfig>>,
    client: ClusterClient,
    /// The IP this node's cluster connections leave from (see [`Self::with_listen_addr`]).
    source_ip: Option<std::net::IpAddr>,
}

impl NodeTls {
    /// Builds the configs from PEMs (`key_pem` comes from the node key file).
    pub fn new(root_pem: String, cert_pem: String, key_pem: String) -> Result<Self, NodeError> {
        let server = shoal_ca::server_config_allow_anonymous(&root_pem, &cert_pem, &key_pem)?;
        let client_cfg = shoal_ca::client_config(&root_pem, &cert_pem, &key_pem)?;
        let client_tls = Arc::new(TlsCell::new(client_cfg));
        let client = ClusterClient::new(client_tls.clone());
        let renew_at = renewal_time(&cert_pem)?;
        Ok(Self {
            root_pem: RwLock::new(root_pem),
            key_pem,
            cert_pem: RwLock::new(cert_pem),
            renew_at: RwLock::new(renew_at),
            server: Arc::new(TlsCell::new(server)),
            client_tls,
            client,
            source_ip: None,
        })
    }

    /// Makes this node's cluster connections leave from the IP of `listen_addr` when it is a
    /// specific address, so traffic between two nodes is identified by their addresses at
    /// both ends (the testkit's partitions filter on them). Call before sharing.
    pub fn with_listen_addr(mut self, listen_addr: &str) -> Self {
        self.source_ip = ClusterClient::source_ip_for(listen_addr);
        self.client = ClusterClient::with_source(
            self.client_tls.clone(),
            shoal_cluster::DEFAULT_TIMEOUT,
            self.source_ip,
        );
        self
    }

    /// Loads the root and node certificates from the data root.
    pub fn load(paths: &Paths, key_pem: &str) -> Result<Self, NodeError> {
        let read =
            |p: std::path::PathBuf| std::fs::read_to_string(&p).map_err(NodeError::io("read", p));
        Self::new(
            read(paths.root_ca())?,
            read(paths.node_cert())?,
            key_pem.to_string(),
        )
    }

    /// The server config source for [`shoal_cluster::ClusterServer::serve`].
    pub fn server(&self) -> Arc<TlsCell<ServerConfig>> {
        self.server.clone()
    }

    /// The node key (PKCS#8 PEM), for re-saving the key file under a new unlock key.
    pub(crate) fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The cluster client authenticating as this node (shared connections).
    pub fn client(&self) -> ClusterClient {
        self.client.clone()
    }

    /// A client with its own connections and a shorter deadline (probes).
    pub fn client_with_timeout(&self, timeout: std::time::Duration) -> ClusterClient {
        ClusterClient::with_source(self.client_tls.clone(), timeout, self.source_ip)
    }

    /// The trust bundle (PEM).
    pub fn root_pem(&self) -> String {
        self.root_pem.read().clone()
    }

    /// The node certificate chain (PEM; the leaf, then any intermediate).
    pub fn cert_pem(&self) -> String {
        self.cert_pem.read().clone()
    }

    /// Whether the current certificate was signed by the key of `ca_pem`.
    pub fn issued_by(&self, ca_pem: &str) -> bool {
        shoal_ca::issued_by(&self.cert_pem.read(), ca_pem).unwrap_or(false)
    }

    /// What this node reports as its `Description.TLSInfo`: its first trusted root (the
    /// cluster's root, normalised like the API's) and its certificate's issuer.
    pub fn tls_info(&self) -> shoal_types::api::TlsInfo {
        let trust = self.root_pem.read().clone();
        let issuer = shoal_ca::IssuerInfo::of_leaf(&self.cert_pem.read(), &trust)
            .ok()
            .flatten();
        let first = shoal_ca::rotation::cert_ders("read trust root", &trust)
            .ok()
            .and_then(|d| d.first().map(|d| shoal_ca::rotation::der_to_pem(d)));
        shoal_types::api::TlsInfo {
            trust_root: first,
            cert_issuer_subject: issuer.as_ref().map(|i| i.subject_b64()),
            cert_issuer_public_key: issuer.as_ref().map(|i| i.public_key_b64()),
        }
    }

    /// Trusts `bundle` from now on: writes the root file, then swaps the configs.
    pub fn replace_trust(&self, paths: &Paths, bundle: String) -> Result<(), NodeError> {
        let cert_pem = self.cert_pem.read().clone();
        let server = shoal_ca::server_config_allow_anonymous(&bundle, &cert_pem, &self.key_pem)?;
        let client = shoal_ca::client_config(&bundle, &cert_pem, &self.key_pem)?;
        write_atomic(
            &paths.root_ca(),
            bundle.as_bytes(),
            crate::paths::PRIVATE_FILE,
        )
        .map_err(NodeError::io("write", paths.root_ca()))?;
        self.server.set(server);
        self.client_tls.set(client);
        *self.root_pem.write() = bundle;
        Ok(())
    }

    /// Whether the current certificate has reached its renewal time.
    pub fn renewal_due(&self, now: SystemTime) -> bool {
        now >= *self.renew_at.read()
    }

    /// The role the current certificate asserts.
    pub fn role(&self) -> Result<Role, NodeError> {
        Ok(CertInfo::parse(&self.cert_pem.read())?.role)
    }

    /// Writes `cert_pem` to disk and makes new connections use it.
    pub fn replace_cert(&self, paths: &Paths, cert_pem: String) -> Result<(), NodeError> {
        let root_pem = self.root_pem.read().clone();
        let server = shoal_ca::server_config_allow_anonymous(&root_pem, &cert_pem, &self.key_pem)?;
        let client = shoal_ca::client_config(&root_pem, &cert_pem, &self.key_pem)?;
        write_atomic(
            &paths.node_cert(),
            cert_pem.as_bytes(),
            crate::paths::PRIVATE_FILE,
        )
        .map_err(NodeError::io("write", paths.node_cert()))?;
        self.server.set(server);
        self.client_tls.set(client);
        *self.renew_at.write() = renewal_time(&cert_pem)?;
        *self.cert_pem.write() = cert_pem;
        Ok(())
    }
}
