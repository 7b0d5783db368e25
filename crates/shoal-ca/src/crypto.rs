//! Data-at-rest encryption: XChaCha20-Poly1305 with random 24-byte nonces, and
//! key wrapping under a KEK via an HKDF-SHA256 purpose-separated subkey.
//!
//! Sealed format: `nonce (24) || ciphertext || tag (16)`. The 192-bit nonce makes
//! random nonces safe for any realistic number of messages per key (the same
//! property SwarmKit relies on with NaCl secretbox).

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroize;

/// Key length of XChaCha20-Poly1305 and of every key this crate wraps.
pub const KEY_LEN: usize = 32;
/// XChaCha20 nonce length.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// HKDF info for the subkey that wraps data keys under a KEK.
pub const DEK_WRAP_INFO: &[u8] = b"shoal dek-wrap";
/// HKDF info for the subkey that wraps the node's TLS private key under a KEK.
pub const TLS_KEY_WRAP_INFO: &[u8] = b"shoal tls-key-wrap";

/// Decryption failed. Deliberately uninformative: tampering, a wrong key and a
/// wrong AAD look the same.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// Input shorter than nonce + tag.
    #[error("decrypt: ciphertext truncated ({len} bytes)")]
    Truncated {
        /// Length of the input.
        len: usize,
    },
    /// Authentication failed.
    #[error("decrypt: authentication failed (wrong key, wrong context or tampered data)")]
    Auth,
    /// Unwrapped key has the wrong length.
    #[error("unwrap key: wrapped key has the wrong length")]
    WrongKeyLength,
}

/// A 32-byte symmetric key (the raft DEK, or a derived subkey). Zeroed on drop;
/// `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey([u8; KEY_LEN]);

impl DataKey {
    /// A fresh random key from `rng`.
    pub fn generate(rng: &mut impl RngCore) -> Self {
        let mut key = [0u8; KEY_LEN];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    /// Wrap raw key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Derive a purpose-bound subkey of `ikm` with HKDF-SHA256 (no salt; `ikm`
    /// is already uniformly random).
    pub fn derive(ikm: &[u8; KEY_LEN], info: &[u8]) -> Self {
        let mut okm = [0u8; KEY_LEN];
        // invariant: 32 bytes is far below HKDF-SHA256's 255*32 byte limit.
        Hkdf::<Sha256>::new(None, ikm)
            .expand(info, &mut okm)
            .expect("invariant: 32-byte HKDF output is always valid");
        Self(okm)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// Encrypt `plaintext` bound to `aad`; a random nonce from `rng` is prepended.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8], rng: &mut impl RngCore) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let nonce = XNonce::from(nonce);
        // invariant: XChaCha20-Poly1305 encryption only fails past 2^38 bytes of
        // plaintext, far beyond anything held in memory here.
        let body = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("invariant: in-memory plaintext is below the AEAD length limit");
        let mut out = Vec::with_capacity(NONCE_LEN + body.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out
    }

    /// Decrypt output of [`DataKey::seal`] made with the same key and `aad`.
    /// Never panics on arbitrary input.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Truncated { len: sealed.len() });
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce =
            XNonce::try_from(nonce).map_err(|_| CryptoError::Truncated { len: sealed.len() })?;
        self.cipher()
            .decrypt(&nonce, Payload { msg: body, aad })
            .map_err(|_| CryptoError::Auth)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Wrap `key` under `kek` (via the [`DEK_WRAP_INFO`] subkey). Output is
/// `NONCE_LEN + KEY_LEN + TAG_LEN` bytes.
pub fn wrap_key(kek: &[u8; KEY_LEN], key: &[u8; KEY_LEN], rng: &mut impl RngCore) -> Vec<u8> {
    DataKey::derive(kek, DEK_WRAP_INFO).seal(DEK_WRAP_INFO, key, rng)
}

/// Reverse of [`wrap_key`]. A wrong KEK or altered input is [`CryptoError::Auth`].
pub fn unwrap_key(kek: &[u8; KEY_LEN], wrapped: &[u8]) -> Result<[u8; KEY_LEN], CryptoError> {
    let mut plain = DataKey::derive(kek, DEK_WRAP_INFO).open(DEK_WRAP_INFO, wrapped)?;
    let key = plain
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::WrongKeyLength);
    plain.zeroize();
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(42)
    }

    #[test]
    fn seal_open_round_trip() {
        let mut rng = rng();
        let key = DataKey::generate(&mut rng);
        let sealed = key.seal(b"entry 7", b"hello raft", &mut rng);
        assert_eq!(sealed.len(), NONCE_LEN + 10 + TAG_LEN);
        assert_eq!(key.open(b"entry 7", &sealed).expect("open"), b"hello raft");
        let empty = key.seal(b"", b"", &mut rng);
        assert_eq!(key.open(b"", &empty).expect("open empty"), b"");
    }

    #[test]
    fn nonces_are_fresh() {
        let mut rng = rng();
        let key = DataKey::generate(&mut rng);
        let a = key.seal(b"", b"same", &mut rng);
        let b = key.seal(b"", b"same", &mut rng);
        assert_ne!(a, b);
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let mut rng = rng();
        let key = DataKey::generate(&mut rng);
        let sealed = key.seal(b"aad", b"some secret bytes", &mut rng);
        // nonce, ciphertext and tag positions
        for pos in [0, NONCE_LEN - 1, NONCE_LEN, NONCE_LEN + 5, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[pos] ^= 0x01;
            assert_eq!(key.open(b"aad", &bad), Err(CryptoError::Auth), "pos {pos}");
        }
    }

    #[test]
    fn wrong_aad_or_key_is_detected() {
        let mut rng = rng();
        let key = DataKey::generate(&mut rng);
        let other = DataKey::generate(&mut rng);
        let sealed = key.seal(b"aad", b"data", &mut rng);
        assert_eq!(key.open(b"aaa", &sealed), Err(CryptoError::Auth));
        assert_eq!(other.open(b"aad", &sealed), Err(CryptoError::Auth));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut rng = rng();
        let key = DataKey::generate(&mut rng);
        let sealed = key.seal(b"", b"data", &mut rng);
        for len in 0..sealed.len() {
            assert!(key.open(b"", &sealed[..len]).is_err(), "len {len}");
        }
        assert!(matches!(
            key.open(b"", &sealed[..10]),
            Err(CryptoError::Truncated { len: 10 })
        ));
    }

    #[test]
    fn wrap_unwrap_round_trip_and_wrong_kek() {
        let mut rng = rng();
        let kek = DataKey::generate(&mut rng);
        let dek = DataKey::generate(&mut rng);
        let wrapped = wrap_key(kek.as_bytes(), dek.as_bytes(), &mut rng);
        assert_eq!(wrapped.len(), NONCE_LEN + KEY_LEN + TAG_LEN);
        assert_eq!(
            &unwrap_key(kek.as_bytes(), &wrapped).expect("unwrap"),
            dek.as_bytes()
        );
        assert_eq!(unwrap_key(&[0; 32], &wrapped), Err(CryptoError::Auth));
        assert!(unwrap_key(kek.as_bytes(), &wrapped[..20]).is_err());
    }

    #[test]
    fn wrapping_uses_a_subkey_not_the_kek() {
        let mut rng = rng();
        let kek = DataKey::generate(&mut rng);
        let wrapped = wrap_key(kek.as_bytes(), &[5; 32], &mut rng);
        assert!(kek.open(DEK_WRAP_INFO, &wrapped).is_err());
        assert_ne!(
            DataKey::derive(kek.as_bytes(), DEK_WRAP_INFO),
            DataKey::derive(kek.as_bytes(), TLS_KEY_WRAP_INFO)
        );
    }
}
