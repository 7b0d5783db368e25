//! How each kind of record is sealed: its AAD (kind + position) and its plaintext encoding.
//!
//! The AAD binds a ciphertext to where it belongs, so swapping two log entries, or putting an
//! old vote where the snapshot was, fails authentication instead of being read back.

use crate::sealer::{SealError, Sealer};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Version tag in every AAD, so a future format change cannot be confused with this one.
const AAD_PREFIX: &[u8] = b"shoal.raft.v1/";

/// The kinds of record in `raft.redb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// A log entry at an index (the whole openraft entry, log id included).
    Log(u64),
    /// The persisted vote.
    Vote,
    /// The last committed log id.
    Committed,
    /// The last purged log id.
    Purged,
    /// The snapshot whose last included index is this.
    Snapshot(u64),
}

impl Record {
    /// `prefix || kind [|| index big-endian]`.
    pub(crate) fn aad(self) -> Vec<u8> {
        let (kind, index): (&[u8], Option<u64>) = match self {
            Record::Log(i) => (b"log", Some(i)),
            Record::Vote => (b"vote", None),
            Record::Committed => (b"committed", None),
            Record::Purged => (b"purged", None),
            Record::Snapshot(i) => (b"snapshot", Some(i)),
        };
        let mut aad = Vec::with_capacity(AAD_PREFIX.len() + kind.len() + 9);
        aad.extend_from_slice(AAD_PREFIX);
        aad.extend_from_slice(kind);
        if let Some(i) = index {
            aad.push(b'/');
            aad.extend_from_slice(&i.to_be_bytes());
        }
        aad
    }

    /// Key of this record in the `meta` table (vote, committed, purged).
    pub(crate) fn meta_key(self) -> &'static str {
        match self {
            Record::Vote => "vote",
            Record::Committed => "committed",
            Record::Purged => "purged",
            Record::Log(_) | Record::Snapshot(_) => "",
        }
    }
}

/// Why a stored record could not be read back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("{record:?}: {source}")]
    Seal { record: Record, source: SealError },
    #[error("{record:?}: undecodable after decryption: {source}")]
    Decode {
        record: Record,
        source: serde_json::Error,
    },
}

/// JSON-encodes and seals `value` as `record`.
pub(crate) fn seal_json<T: Serialize>(sealer: &dyn Sealer, record: Record, value: &T) -> Vec<u8> {
    // Serialising our own plain data types (derived Serialize, string map keys) cannot fail.
    let plain = serde_json::to_vec(value).unwrap_or_default();
    sealer.seal(&record.aad(), &plain)
}

/// Opens and JSON-decodes a record sealed by [`seal_json`].
pub(crate) fn open_json<T: DeserializeOwned>(
    sealer: &dyn Sealer,
    record: Record,
    bytes: &[u8],
) -> Result<T, OpenError> {
    let plain = sealer
        .open(&record.aad(), bytes)
        .map_err(|source| OpenError::Seal { record, source })?;
    serde_json::from_slice(&plain).map_err(|source| OpenError::Decode { record, source })
}

/// Seals raw bytes as `record`.
pub(crate) fn seal_raw(sealer: &dyn Sealer, record: Record, plain: &[u8]) -> Vec<u8> {
    sealer.seal(&record.aad(), plain)
}

/// Opens raw bytes sealed by [`seal_raw`].
pub(crate) fn open_raw(
    sealer: &dyn Sealer,
    record: Record,
    bytes: &[u8],
) -> Result<Vec<u8>, OpenError> {
    sealer
        .open(&record.aad(), bytes)
        .map_err(|source| OpenError::Seal { record, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aads_differ_by_kind_and_index() {
        let all = [
            Record::Log(1),
            Record::Log(2),
            Record::Vote,
            Record::Committed,
            Record::Purged,
            Record::Snapshot(1),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.aad(), b.aad(), "{a:?} vs {b:?}");
            }
        }
    }
}
