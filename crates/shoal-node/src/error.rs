//! Node errors: start-up and state-directory failures, named with their paths.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(
        "another shoal daemon is using the data root {root} (lock file {lock} is held); stop it or pass a different --data-root"
    )]
    Locked { root: PathBuf, lock: PathBuf },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("node state file {path} is corrupt: {reason}")]
    CorruptState { path: PathBuf, reason: String },
    #[error(transparent)]
    Raft(#[from] shoal_raft::RaftError),
    #[error("node key file: {0}")]
    KeyFile(#[from] shoal_ca::KeyFileError),
    #[error("certificates: {0}")]
    Cert(#[from] shoal_ca::CertError),
    #[error("store: {0}")]
    Store(#[from] shoal_store::StoreError),
    #[error(transparent)]
    Socket(#[from] shoal_api::SocketError),
    #[error("{0}")]
    Other(String),
}

impl NodeError {
    pub fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> NodeError {
        let path = path.into();
        move |source| NodeError::Io { op, path, source }
    }
}
