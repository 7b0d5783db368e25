//! The node key file: the node's TLS private key plus the raft data-encryption
//! key (DEK), optionally wrapped by the autolock unlock key (KEK).
//!
//! SwarmKit keeps the DEK in a PEM header of the TLS key file; this is the same
//! idea in a format of our own:
//!
//! ```text
//! -----BEGIN SHOAL NODE KEY-----
//! Version: 1
//! Locked: no                      (or "yes")
//! Dek: <base64: the 32-byte DEK, or wrap_key(KEK, DEK) when locked>
//!
//! <base64 of the node key's PKCS#8 PEM text, or, when locked, of
//!  DataKey::derive(KEK, "shoal tls-key-wrap").seal(aad = that info, PEM)>
//! -----END SHOAL NODE KEY-----
//! ```
//!
//! Body lines are wrapped at 64 columns. Writes are atomic (temp file in the same
//! directory, fsync, rename, fsync of the directory) and the file is mode 0600.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use thiserror::Error;
use zeroize::Zeroize;

use crate::crypto::{DataKey, KEY_LEN, TLS_KEY_WRAP_INFO, unwrap_key, wrap_key};
use crate::unlock::UnlockKey;

const BEGIN: &str = "-----BEGIN SHOAL NODE KEY-----";
const END: &str = "-----END SHOAL NODE KEY-----";
const FORMAT_VERSION: &str = "1";
/// PEM line width (RFC 7468).
const LINE_WIDTH: usize = 64;
/// Permissions of the key file: owner read/write only.
const KEY_FILE_MODE: u32 = 0o600;

/// Reading or writing the node key file failed.
#[derive(Debug, Error)]
pub enum KeyFileError {
    /// The file is encrypted under the unlock key and none was given.
    #[error("node key file {path} is locked: an unlock key is required")]
    Locked {
        /// The key file.
        path: PathBuf,
    },
    /// The given unlock key does not decrypt the file.
    #[error("invalid unlock key for node key file {path}")]
    InvalidUnlockKey {
        /// The key file.
        path: PathBuf,
    },
    /// The file is not a well-formed node key file.
    #[error("node key file {path} is corrupt: {reason}")]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// An I/O error.
    #[error("node key file {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// The decrypted contents of the node key file. `Debug` never shows the keys.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeKeyFile {
    /// The node's TLS private key, PKCS#8 PEM.
    pub node_key_pem: String,
    /// The raft data-encryption key.
    pub dek: DataKey,
}

impl fmt::Debug for NodeKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeKeyFile(<redacted>)")
    }
}

/// The parsed, still-encoded file.
struct Raw {
    locked: bool,
    dek: Vec<u8>,
    body: Vec<u8>,
}

impl NodeKeyFile {
    /// Atomically write the file at `path`. With `kek`, the DEK and the node key
    /// are wrapped by it (autolock); without, both are stored in the clear.
    /// `rng` supplies nonces and the temp-file name.
    pub fn save(
        &self,
        path: &Path,
        kek: Option<&UnlockKey>,
        rng: &mut impl RngCore,
    ) -> Result<(), KeyFileError> {
        let (locked, dek, body) = match kek {
            None => (
                false,
                self.dek.as_bytes().to_vec(),
                self.node_key_pem.as_bytes().to_vec(),
            ),
            Some(kek) => (
                true,
                wrap_key(kek.as_bytes(), self.dek.as_bytes(), rng),
                DataKey::derive(kek.as_bytes(), TLS_KEY_WRAP_INFO).seal(
                    TLS_KEY_WRAP_INFO,
                    self.node_key_pem.as_bytes(),
                    rng,
                ),
            ),
        };
        let mut text = encode(&Raw { locked, dek, body });
        let result = write_atomic(path, text.as_bytes(), rng);
        text.zeroize();
        result
    }

    /// Read and decrypt the file. A locked file needs `kek`; an unlocked file
    /// ignores it.
    pub fn load(path: &Path, kek: Option<&UnlockKey>) -> Result<Self, KeyFileError> {
        let raw = read_raw(path)?;
        let corrupt = |reason: &str| KeyFileError::Corrupt {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let (mut dek, mut pem) = if raw.locked {
            let kek = kek.ok_or_else(|| KeyFileError::Locked {
                path: path.to_owned(),
            })?;
            let dek = unwrap_key(kek.as_bytes(), &raw.dek).map_err(|_| {
                KeyFileError::InvalidUnlockKey {
                    path: path.to_owned(),
                }
            })?;
            let pem = DataKey::derive(kek.as_bytes(), TLS_KEY_WRAP_INFO)
                .open(TLS_KEY_WRAP_INFO, &raw.body)
                .map_err(|_| corrupt("node key does not decrypt with the unlock key"))?;
            (dek, pem)
        } else {
            let dek: [u8; KEY_LEN] = raw
                .dek
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("DEK has the wrong length"))?;
            (dek, raw.body)
        };
        let result = String::from_utf8(pem.clone())
            .map_err(|_| corrupt("node key is not UTF-8"))
            .map(|node_key_pem| Self {
                node_key_pem,
                dek: DataKey::from_bytes(dek),
            });
        pem.zeroize();
        dek.zeroize();
        result
    }

    /// Whether the file at `path` is wrapped by an unlock key.
    pub fn is_locked(path: &Path) -> Result<bool, KeyFileError> {
        Ok(read_raw(path)?.locked)
    }
}

fn encode(raw: &Raw) -> String {
    let body = STANDARD.encode(&raw.body);
    let mut out = format!(
        "{BEGIN}\nVersion: {FORMAT_VERSION}\nLocked: {}\nDek: {}\n\n",
        if raw.locked { "yes" } else { "no" },
        STANDARD.encode(&raw.dek)
    );
    for chunk in body.as_bytes().chunks(LINE_WIDTH) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

fn read_raw(path: &Path) -> Result<Raw, KeyFileError> {
    let text = fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode(&text).map_err(|reason| KeyFileError::Corrupt {
        path: path.to_owned(),
        reason: reason.to_owned(),
    })
}

fn decode(text: &str) -> Result<Raw, &'static str> {
    let mut lines = text.lines().map(str::trim_end);
    if lines.next() != Some(BEGIN) {
        return Err("missing BEGIN line");
    }
    let (mut version, mut locked, mut dek) = (None, None, None);
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(": ").ok_or("malformed header")?;
        match name {
            "Version" => version = Some(value),
            "Locked" => locked = Some(value),
            "Dek" => dek = Some(value),
            _ => return Err("unknown header"),
        }
    }
    if version != Some(FORMAT_VERSION) {
        return Err("missing or unsupported Version header");
    }
    let locked = match locked {
        Some("yes") => true,
        Some("no") => false,
        _ => return Err("missing or malformed Locked header"),
    };
    let dek = STANDARD
        .decode(dek.ok_or("missing Dek header")?)
        .map_err(|_| "Dek header is not base64")?;
    let mut body = String::new();
    let mut ended = false;
    for line in lines {
        if line == END {
            ended = true;
            break;
        }
        body.push_str(line);
    }
    if !ended {
        return Err("missing END line");
    }
    let body = STANDARD.decode(body).map_err(|_| "body is not base64")?;
    Ok(Raw { locked, dek, body })
}

/// Write `data` to `path` via a 0600 temp file in the same directory, fsync,
/// rename over `path`, then fsync the directory so the rename is durable.
fn write_atomic(path: &Path, data: &[u8], rng: &mut impl RngCore) -> Result<(), KeyFileError> {
    let io_err = |p: &Path| {
        let p = p.to_owned();
        move |source| KeyFileError::Io { path: p, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| KeyFileError::Io {
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
        })?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.tmp-{:08x}", rng.next_u32()));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(KEY_FILE_MODE)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    if let Err(source) = written {
        // Best effort: the temp file may not exist, and the write error matters more.
        let _ = fs::remove_file(&tmp);
        return Err(KeyFileError::Io { path: tmp, source });
    }
    if let Err(source) = fs::rename(&tmp, path) {
        // Best effort, as above.
        let _ = fs::remove_file(&tmp);
        return Err(KeyFileError::Io {
            path: path.to_owned(),
            source,
        });
    }
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(&dir))
}

#[cfg(test)]
#[path = "keyfile_tests.rs"]
mod tests;
