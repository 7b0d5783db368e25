//! The node's WireGuard key pair: made on the node at first use, kept in one file under the
//! node's data root (mode 0600, base64 of the 32-byte private key), never sent anywhere; only
//! the public key is published.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use boringtun::x25519::{PublicKey, StaticSecret};
use rand::TryRngCore;

use super::TunnelError;

/// The file, in the directory given to [`NodeKey::load_or_create`], that holds the key.
pub const KEY_FILE: &str = "wireguard.key";

/// A node's WireGuard key pair.
#[derive(Clone)]
pub struct NodeKey {
    secret: StaticSecret,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("public", &self.public_base64())
            .finish_non_exhaustive()
    }
}

impl NodeKey {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Result<NodeKey, TunnelError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| TunnelError::KeyFile {
                path: "(random source)".into(),
                source: std::io::Error::other(e.to_string()),
            })?;
        Ok(NodeKey {
            secret: StaticSecret::from(bytes),
        })
    }

    /// The key kept in `dir`, made (and written with mode 0600) when there is none. A key
    /// file that exists but does not hold a key is an error, never silently replaced: the
    /// node's peers know it by its public key.
    pub fn load_or_create(dir: &Path) -> Result<NodeKey, TunnelError> {
        let path = dir.join(KEY_FILE);
        let shown = path.display().to_string();
        let io = |source| TunnelError::KeyFile {
            path: shown.clone(),
            source,
        };
        match fs::read_to_string(&path) {
            Ok(text) => {
                let key = decode_key(text.trim()).ok_or_else(|| TunnelError::BadKeyFile {
                    path: shown.clone(),
                })?;
                let mode = fs::metadata(&path).map_err(io)?.permissions().mode();
                if mode & 0o077 != 0 {
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io)?;
                }
                Ok(NodeKey {
                    secret: StaticSecret::from(key),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(io)?;
                let key = NodeKey::generate()?;
                write_private(&path, &STANDARD.encode(key.secret.to_bytes())).map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Replaces the key kept in `dir` with a fresh one and returns it (key rotation). The
    /// old key is gone once this returns.
    pub fn rotate(dir: &Path) -> Result<NodeKey, TunnelError> {
        let path = dir.join(KEY_FILE);
        let io = |source| TunnelError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let key = NodeKey::generate()?;
        write_private(&path, &STANDARD.encode(key.secret.to_bytes())).map_err(io)?;
        Ok(key)
    }

    /// The public key, as published through the store.
    pub fn public_base64(&self) -> String {
        STANDARD.encode(PublicKey::from(&self.secret).as_bytes())
    }

    pub(crate) fn secret(&self) -> StaticSecret {
        self.secret.clone()
    }

    pub(crate) fn public(&self) -> PublicKey {
        PublicKey::from(&self.secret)
    }
}

/// A base64 32-byte key, or `None`.
pub fn decode_key(text: &str) -> Option<[u8; 32]> {
    STANDARD.decode(text).ok()?.try_into().ok()
}

/// Writes `text` to `path` through a temporary file made with mode 0600, then renames it, so
/// the key is never readable by others nor half-written.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp: PathBuf = path.with_extension("key.tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}
