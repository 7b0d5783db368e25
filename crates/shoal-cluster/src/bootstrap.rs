//! [`BootstrapClient`]: how a joining node, which has no certificate yet, talks to a manager.

use crate::client::ClusterClient;
use crate::error::ClientError;
use crate::wire::JoinRequest;
use crate::wire::JoinResponse;

/// A joining node's client: no certificate, server pinned by the join token's digest.
pub struct BootstrapClient {
    pub(crate) client: ClusterClient,
    pub(crate) addr: String,
    pub(crate) digest: [u8; 32],
}

impl BootstrapClient {
    /// `/join/ca`, checked against the token's digest (the TLS layer already pinned the
    /// chain; this checks the PEM the node will trust from now on).
    pub async fn root_ca(&self) -> Result<String, ClientError> {
        let pem = self.client.root_ca(&self.addr).await?;
        match shoal_ca::cert_digest(&pem) {
            Ok(d) if d == self.digest => Ok(pem),
            Ok(_) => Err(ClientError::Decode {
                op: "fetch root CA",
                addr: self.addr.clone(),
                reason: "the root CA does not match the join token's digest".into(),
            }),
            Err(e) => Err(ClientError::Decode {
                op: "fetch root CA",
                addr: self.addr.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// `/join/sign`.
    pub async fn join(&self, req: &JoinRequest) -> Result<JoinResponse, ClientError> {
        self.client.join(&self.addr, req).await
    }
}
