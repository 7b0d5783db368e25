//! Root CA, node certificates, join tokens, unlock keys and rustls configs.
//!
//! This crate holds every piece of cluster PKI and key material, and nothing that
//! does I/O beyond the node key file:
//!
//! - [`root`]: the cluster root CA ([`RootCa`]), ECDSA P-256, CN `swarm-ca`, 20 years.
//! - [`node_cert`]: node keys and CSRs, CA signing with identity in the subject
//!   (CN node id, OU role, O cluster id), [`CertInfo`] parsing, renewal timing.
//! - [`rotation`]: root CA rotation: cross-signing, issuer info, PEM normalisation.
//! - [`token`]: `SWMTKN-1-…` join tokens that pin the root CA digest.
//! - [`unlock`]: `SWMKEY-1-…` autolock unlock keys (the KEK).
//! - [`crypto`]: XChaCha20-Poly1305 sealing with a [`DataKey`] and KEK key wrapping.
//! - [`keyfile`]: the node key file holding the TLS key and the raft DEK, optionally
//!   wrapped by the unlock key.
//! - [`tls`]: mutual-TLS rustls configs for the cluster channel and the pinned
//!   bootstrap client a joining node uses to fetch the root CA.
//!
//! Randomness and time are arguments so callers and tests control them; the only
//! exception is EC key generation, which ring draws from the OS.

pub mod crypto;
pub mod error;
pub mod keyfile;
pub mod node_cert;
pub mod root;
pub mod rotation;
mod timeconv;
pub mod tls;
pub mod token;
#[cfg(test)]
mod token_fuzz;
pub mod unlock;

pub use crypto::{CryptoError, DataKey, unwrap_key, wrap_key};
pub use error::{CertError, CertExpiryError};
pub use keyfile::{KeyFileError, NodeKeyFile};
pub use node_cert::{CertInfo, NodeKey, Role, renewal_at, validate_cert_expiry};
pub use root::{RootCa, cert_digest};
pub use rotation::{IssuerInfo, issued_by, normalize_pem, with_intermediate};
pub use tls::{
    MANAGER_SERVER_NAME, client_config, peer_identity, pinned_client_config, server_config,
    server_config_allow_anonymous,
};
pub use token::{JoinToken, ParsedToken, TokenError, tokens_equal};
pub use unlock::{UnlockKey, UnlockKeyError};
