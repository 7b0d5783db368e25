//! Encryption at rest: the [`Sealer`] seam and the XChaCha20-Poly1305 implementation.
//!
//! Every byte this crate writes to disk (log entries, vote, committed and purged pointers,
//! snapshots) goes through [`Sealer::seal`] with an AAD naming the record and its position
//! (see `record.rs`), so a ciphertext moved to another slot fails to open. This follows
//! SwarmKit's `design/raft_encryption.md` (per-manager data key, random 24-byte nonces),
//! with XChaCha20-Poly1305 instead of NaCl secretbox.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

/// Why a ciphertext could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Shorter than a nonce plus a tag: truncated or not a sealed record.
    #[error("sealed record is too short ({len} bytes)")]
    TooShort { len: usize },
    /// The tag did not verify: wrong key, wrong position (AAD), or altered bytes.
    #[error("sealed record failed authentication (wrong key, moved, or altered)")]
    Auth,
}

/// Seals and opens records with a data key. The node injects one backed by its data
/// encryption key (DEK); tests use [`XChaChaSealer::generate`].
///
/// Contract: `open(aad, &seal(aad, p)) == Ok(p)`, and `open` fails for any other `aad`, key,
/// or altered ciphertext. `seal` cannot fail (a sealer holds a valid key by construction).
pub trait Sealer: Send + Sync + 'static {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8>;
    fn open(&self, aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError>;
}

/// XChaCha20-Poly1305 nonce length; random nonces are safe at this size.
const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
const TAG_LEN: usize = 16;

/// XChaCha20-Poly1305 with a random nonce per record. Layout: `nonce (24) || ciphertext+tag`.
pub struct XChaChaSealer {
    cipher: XChaCha20Poly1305,
}

impl XChaChaSealer {
    /// A sealer over a 32-byte data key.
    pub fn new(key: &[u8; 32]) -> Self {
        // The copy in `Key` lives only for this call; the cipher keeps its own key schedule.
        let mut key = Key::from(*key);
        let cipher = XChaCha20Poly1305::new(&key);
        key.iter_mut().for_each(|b| *b = 0);
        Self { cipher }
    }

    /// A sealer over a fresh random key (tests, benchmarks).
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        Self::new(&key)
    }
}

impl Sealer for XChaChaSealer {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let nonce_arr = XNonce::from(nonce);
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        match self.cipher.encrypt(
            &nonce_arr,
            Payload {
                msg: plaintext,
                aad,
            },
        ) {
            Ok(ct) => out.extend_from_slice(&ct),
            // Only possible for messages beyond 256 GiB; raft entries are capped at 1.5 MiB.
            Err(_) => out.clear(),
        }
        out
    }

    fn open(&self, aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
        if ciphertext.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::TooShort {
                len: ciphertext.len(),
            });
        }
        let (nonce, ct) = ciphertext.split_at(NONCE_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        self.cipher
            .decrypt(&XNonce::from(n), Payload { msg: ct, aad })
            .map_err(|_| SealError::Auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_opens_only_at_its_own_position() {
        let s = XChaChaSealer::generate();
        let ct = s.seal(b"log/1", b"secret");
        assert_eq!(s.open(b"log/1", &ct), Ok(b"secret".to_vec()));
        assert_eq!(s.open(b"log/2", &ct), Err(SealError::Auth));
        assert!(!ct.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn a_flipped_byte_or_other_key_fails_to_open() {
        let s = XChaChaSealer::generate();
        let mut ct = s.seal(b"vote", b"v");
        assert_eq!(
            XChaChaSealer::generate().open(b"vote", &ct),
            Err(SealError::Auth)
        );
        let last = ct.len() - 1;
        ct[last] ^= 1;
        assert_eq!(s.open(b"vote", &ct), Err(SealError::Auth));
        assert_eq!(
            s.open(b"vote", &ct[..10]),
            Err(SealError::TooShort { len: 10 })
        );
    }
}
