//! The error type shared by the certificate modules (root, node certs, TLS).

use thiserror::Error;

/// A certificate, key or TLS-configuration operation failed. `op` names the
/// operation (e.g. `"sign node CSR"`).
#[derive(Debug, Error)]
pub enum CertError {
    /// rcgen refused to build, parse or sign.
    #[error("{op}: {source}")]
    Rcgen {
        /// The operation that failed.
        op: &'static str,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
    /// Input PEM/DER was malformed or did not have the expected contents.
    #[error("{op}: {reason}")]
    Invalid {
        /// The operation that failed.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("{op}: {source}")]
    Tls {
        /// The operation that failed.
        op: &'static str,
        /// rustls' error.
        #[source]
        source: rustls::Error,
    },
    /// The requested certificate validity is too short.
    #[error(transparent)]
    Expiry(#[from] CertExpiryError),
}

impl CertError {
    pub(crate) fn rcgen(op: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |source| Self::Rcgen { op, source }
    }

    pub(crate) fn invalid(op: &'static str, reason: impl ToString) -> Self {
        Self::Invalid {
            op,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn tls(op: &'static str) -> impl FnOnce(rustls::Error) -> Self {
        move |source| Self::Tls { op, source }
    }
}

/// A `--cert-expiry` below the minimum, worded like SwarmKit's controlapi
/// (`minimum certificate expiry time is: 1h0m0s`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("minimum certificate expiry time is: 1h0m0s")]
pub struct CertExpiryError;
