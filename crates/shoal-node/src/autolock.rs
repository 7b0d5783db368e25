//! Autolock on this manager: keeps the node key file wrapped with the cluster's current
//! unlock key (SwarmKit's `manager.updateKEK`).
//!
//! The cluster object carries the unlock key (`SWMKEY-1-…`) while autolock is on. Each
//! manager watches its own store; when a committed change turns autolock on, rotates the key
//! or turns it off, the manager re-saves its key file wrapped with the new key (or in the
//! clear). So a rotation keeps the previous key valid until the new one is committed: the
//! file changes only after the cluster update has been applied here. At start the file is
//! brought in line with the cluster once, which also repairs a crash between a commit and the
//! re-save. Key material is never logged.

use shoal_ca::{NodeKeyFile, UnlockKey};
use shoal_store::{StoreHandle, WatchError};
use shoal_types::Object;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// The unlock key of the cluster in `store`, `None` when autolock is off (or no cluster yet).
fn current(store: &StoreHandle) -> Option<String> {
    store.view(|t| t.cluster().map(|c| c.unlock_key.clone()))
}

/// Re-wraps the key file when the cluster's unlock key differs from `wrapped`.
fn resave(path: &Path, keys: &NodeKeyFile, wrapped: &mut Option<String>, key: &str) {
    if wrapped.as_deref() == Some(key) {
        return;
    }
    let kek = if key.is_empty() {
        None
    } else {
        match UnlockKey::parse(key) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!(error = %e, "the cluster's unlock key is malformed; key file left as is");
                return;
            }
        }
    };
    // Already wrapped this way (a restart, or an unrelated cluster change): nothing to do.
    let matches = match (&kek, NodeKeyFile::is_locked(path)) {
        (None, Ok(false)) => true,
        (Some(k), Ok(true)) => NodeKeyFile::load(path, Some(k)).is_ok(),
        _ => false,
    };
    if matches {
        *wrapped = Some(key.to_string());
        return;
    }
    match keys.save(path, kek.as_ref(), &mut rand::rng()) {
        Ok(()) => {
            tracing::info!(
                locked = kek.is_some(),
                "node key file re-saved for the cluster's autolock setting"
            );
            *wrapped = Some(key.to_string());
        }
        Err(e) => tracing::error!(error = %e, "re-saving the node key file failed"),
    }
}

/// Runs until `cancel`: re-wraps the key file at `path` (holding `keys`) whenever the
/// cluster's unlock key changes.
pub async fn keep_key_file_wrapped(
    store: StoreHandle,
    path: PathBuf,
    keys: NodeKeyFile,
    cancel: CancellationToken,
) {
    let mut watcher = store.store.watch();
    // Unknown at start: the first cluster seen decides.
    let mut wrapped: Option<String> = None;
    if let Some(key) = current(&store) {
        resave(&path, &keys, &mut wrapped, &key);
    }
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            ev = watcher.recv() => match ev {
                Ok(ev) => {
                    if let Object::Cluster(c) = &ev.object {
                        resave(&path, &keys, &mut wrapped, &c.unlock_key);
                    }
                }
                Err(WatchError::Lagged) => {
                    watcher = store.store.watch();
                    if let Some(key) = current(&store) {
                        resave(&path, &keys, &mut wrapped, &key);
                    }
                }
                Err(WatchError::Closed) => return,
            },
        }
    }
}
