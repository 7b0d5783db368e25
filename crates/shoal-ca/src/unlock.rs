//! Autolock unlock keys: 32 random bytes shown as `SWMKEY-1-<base64, no padding>`.
//!
//! Format from swarmkit `manager/encryption/encryption.go` (`humanReadablePrefix`,
//! `HumanReadableKey`); the key is the key-encryption key (KEK) for the node key file.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rand::RngCore;
use thiserror::Error;
use zeroize::Zeroize;

/// Human-readable prefix of an unlock key (swarmkit `humanReadablePrefix`).
pub const UNLOCK_KEY_PREFIX: &str = "SWMKEY-1-";
/// Key length: the NaCl secretbox key size SwarmKit uses.
pub const UNLOCK_KEY_LEN: usize = 32;

/// The string given to `swarm unlock` was not an unlock key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid unlock key: {reason}")]
pub struct UnlockKeyError {
    /// Which check failed.
    pub reason: &'static str,
}

/// A cluster unlock key (KEK). Zeroed on drop; `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct UnlockKey([u8; UNLOCK_KEY_LEN]);

impl UnlockKey {
    /// A fresh random key from `rng`.
    pub fn generate(rng: &mut impl RngCore) -> Self {
        let mut key = [0u8; UNLOCK_KEY_LEN];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    /// Wrap raw key bytes.
    pub fn from_bytes(bytes: [u8; UNLOCK_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; UNLOCK_KEY_LEN] {
        &self.0
    }

    /// Parse the `SWMKEY-1-…` form (surrounding whitespace is ignored).
    pub fn parse(s: &str) -> Result<Self, UnlockKeyError> {
        let body = s
            .trim()
            .strip_prefix(UNLOCK_KEY_PREFIX)
            .ok_or(UnlockKeyError {
                reason: "missing SWMKEY-1- prefix",
            })?;
        let mut bytes = STANDARD_NO_PAD.decode(body).map_err(|_| UnlockKeyError {
            reason: "not base64",
        })?;
        let key: Result<[u8; UNLOCK_KEY_LEN], _> = bytes.as_slice().try_into();
        bytes.zeroize();
        key.map(Self).map_err(|_| UnlockKeyError {
            reason: "wrong length",
        })
    }
}

impl fmt::Display for UnlockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{UNLOCK_KEY_PREFIX}{}", STANDARD_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for UnlockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnlockKey(<redacted>)")
    }
}

impl Drop for UnlockKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn display_and_parse_round_trip() {
        let key = UnlockKey::generate(&mut StdRng::seed_from_u64(1));
        let shown = key.to_string();
        assert!(shown.starts_with("SWMKEY-1-"));
        assert!(!shown.ends_with('='));
        assert_eq!(shown.len(), UNLOCK_KEY_PREFIX.len() + 43);
        assert_eq!(
            UnlockKey::parse(&format!(" {shown}\n")).expect("parse"),
            key
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let key = UnlockKey::from_bytes([7; 32]);
        assert_eq!(format!("{key:?}"), "UnlockKey(<redacted>)");
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let good = UnlockKey::from_bytes([1; 32]).to_string();
        let body = &good[UNLOCK_KEY_PREFIX.len()..];
        for bad in [
            String::new(),
            body.to_owned(),
            format!("SWMKEY-2-{body}"),
            format!("{UNLOCK_KEY_PREFIX}{}", &body[..40]),
            format!("{UNLOCK_KEY_PREFIX}{body}AAAA"),
            format!("{UNLOCK_KEY_PREFIX}{}!", &body[..42]),
        ] {
            let err = UnlockKey::parse(&bad).expect_err(&bad);
            assert!(err.to_string().starts_with("invalid unlock key"), "{err}");
        }
    }
}
