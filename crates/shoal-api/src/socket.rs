//! The API's Unix socket, claimed so that one daemon can never take over or delete another's.
//!
//! [`ApiSocket::claim`] binds the path only if nothing is there, or if what is there is a
//! socket nobody answers on (left by a daemon that was killed). A socket that answers belongs
//! to a live daemon, and anything that is not a socket belongs to someone else: both are
//! refused with an error naming the path. The claimed socket remembers its inode, and when
//! dropped removes the path only if it is still that same socket.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Mode of the socket: the owner and its group (as dockerd's `docker` group) may connect.
pub const SOCKET_MODE: u32 = 0o660;

/// Why the API socket could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "another daemon is answering on the API socket {0}; stop it or pass a different --host"
    )]
    Live(PathBuf),
    #[error(
        "the API socket path {0} exists and is not a socket; refusing to replace it (remove it or pass a different --host)"
    )]
    NotASocket(PathBuf),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SocketError {
    let path = path.to_path_buf();
    move |source| SocketError::Io { op, path, source }
}

/// A bound API socket that is ours (see the module docs).
#[derive(Debug)]
pub struct ApiSocket {
    path: PathBuf,
    listener: Option<UnixListener>,
    /// Device and inode of the socket we bound.
    id: (u64, u64),
}

impl ApiSocket {
    /// Binds `path` (creating its directory), refusing a live socket or a non-socket.
    pub fn claim(path: &Path) -> Result<Self, SocketError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err("create the directory of", path))?;
        }
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("inspect", path)(e)),
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(SocketError::NotASocket(path.to_path_buf()));
            }
            Ok(_) => match UnixStream::connect(path) {
                Ok(_) => return Err(SocketError::Live(path.to_path_buf())),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::info!(socket = %path.display(), "removing a stale API socket nobody answers on");
                    std::fs::remove_file(path).map_err(io_err("remove stale socket", path))?;
                }
                Err(e) => return Err(io_err("probe existing socket", path)(e)),
            },
        }
        let listener = UnixListener::bind(path).map_err(io_err("bind", path))?;
        let meta = std::fs::symlink_metadata(path).map_err(io_err("inspect", path))?;
        let socket = ApiSocket {
            path: path.to_path_buf(),
            listener: Some(listener),
            id: (meta.dev(), meta.ino()),
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
            .map_err(io_err("set permissions of", path))?;
        Ok(socket)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listener, for the server (once; later calls get `None`).
    pub fn take_listener(&mut self) -> Option<UnixListener> {
        self.listener.take()
    }

    /// Whether the path still holds the socket we bound.
    fn still_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.id)
    }
}

impl Drop for ApiSocket {
    fn drop(&mut self) {
        if !self.still_ours() {
            tracing::info!(socket = %self.path.display(), "API socket path no longer holds our socket; leaving it");
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(socket = %self.path.display(), error = %e, "could not remove the API socket");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_socket_is_refused_and_left_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("api.sock");
        let first = ApiSocket::claim(&path).expect("first claim");
        match ApiSocket::claim(&path) {
            Err(SocketError::Live(p)) => assert_eq!(p, path),
            other => panic!("expected a live-socket refusal, got {other:?}"),
        }
        assert!(
            UnixStream::connect(&path).is_ok(),
            "the first socket still answers"
        );
        drop(first);
        assert!(!path.exists(), "our own socket is removed when dropped");
    }

    #[test]
    fn a_regular_file_is_refused_and_never_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("not-a-socket");
        std::fs::write(&path, b"precious").expect("write");
        match ApiSocket::claim(&path) {
            Err(SocketError::NotASocket(p)) => assert_eq!(p, path),
            other => panic!("expected a not-a-socket refusal, got {other:?}"),
        }
        assert_eq!(std::fs::read(&path).expect("read"), b"precious");
    }

    #[test]
    fn a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("api.sock");
        drop(UnixListener::bind(&path).expect("bind a socket nobody serves"));
        assert!(path.exists());
        let claimed = ApiSocket::claim(&path).expect("stale socket replaced");
        assert!(claimed.still_ours());
    }

    #[test]
    fn a_socket_replaced_by_someone_else_is_not_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("api.sock");
        let ours = ApiSocket::claim(&path).expect("claim");
        std::fs::remove_file(&path).expect("remove");
        std::fs::write(&path, b"someone else's").expect("write");
        drop(ours);
        assert_eq!(std::fs::read(&path).expect("read"), b"someone else's");
    }
}
