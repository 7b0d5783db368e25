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
use std::time::SystemTime;

/// A random point between 50 % and 80 % of the certificate's validity (SwarmKit's
/// `calculateRandomExpiry`), so nodes do not all renew at once.
fn renewal_time(cert_pem: &str) -> Result<SystemTime, NodeError> {
    let info = CertInfo::parse(cert_pem)?;
    Ok(shoal_ca::renewal_at(
        info.not_before,
        info.not_after,
        &mut rand::rng(),
    ))
}

/// See the module docs.
pub struct NodeTls {
    root_pem: String,
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
            root_pem,
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

    pub fn root_pem(&self) -> &str {
        &self.root_pem
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
        let server =
            shoal_ca::server_config_allow_anonymous(&self.root_pem, &cert_pem, &self.key_pem)?;
        let client = shoal_ca::client_config(&self.root_pem, &cert_pem, &self.key_pem)?;
        write_atomic(&paths.node_cert(), cert_pem.as_bytes(), 0o644)
            .map_err(NodeError::io("write", paths.node_cert()))?;
        self.server.set(server);
        self.client_tls.set(client);
        *self.renew_at.write() = renewal_time(&cert_pem)?;
        *self.cert_pem.write() = cert_pem;
        Ok(())
    }
}
