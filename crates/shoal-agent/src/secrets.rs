//! [`SecretStore`]: the secrets and configs this node's tasks need, in memory only.
//!
//! Each assignment set carries the complete set of secrets and configs its tasks reference
//! (the dispatcher sends nothing else); the agent replaces the store's contents with it
//! before reconciling the tasks, so an object no task needs any more is dropped at once. The
//! executor reads the bytes when it prepares a task's container and puts them on a tmpfs; they
//! are never written to the node's disk by the agent, and never logged (`Debug` shows counts).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use shoal_types::{Config, Secret};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

#[derive(Default)]
struct Inner {
    secrets: BTreeMap<String, Bytes>,
    configs: BTreeMap<String, Bytes>,
}

/// A shared handle; clones see the same contents. The agent writes it, the executor reads it.
#[derive(Clone, Default)]
pub struct SecretStore {
    inner: Arc<RwLock<Inner>>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, c) = self.read(|i| (i.secrets.len(), i.configs.len()));
        f.debug_struct("SecretStore")
            .field("secrets", &s)
            .field("configs", &c)
            .finish()
    }
}

fn decode(data: Option<&str>) -> Option<Bytes> {
    STANDARD
        .decode(data.unwrap_or_default())
        .ok()
        .map(Bytes::from)
}

impl SecretStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read<R>(&self, f: impl FnOnce(&Inner) -> R) -> R {
        // A poisoned lock only means a reader panicked; the maps are still whole.
        let guard = self.inner.read().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }

    /// Replaces everything with the objects of one assignment set. Objects whose data does
    /// not decode are skipped (the manager validated it; a task using one fails to prepare).
    /// Returns whether the set of ids held changed.
    pub fn replace(&self, secrets: &[Secret], configs: &[Config]) -> bool {
        let secrets = secrets
            .iter()
            .filter_map(|s| Some((s.id.clone(), decode(s.spec.data.as_deref())?)))
            .collect();
        let configs = configs
            .iter()
            .filter_map(|c| Some((c.id.clone(), decode(c.spec.data.as_deref())?)))
            .collect();
        let next = Inner { secrets, configs };
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let changed = !guard.secrets.keys().eq(next.secrets.keys())
            || !guard.configs.keys().eq(next.configs.keys());
        *guard = next;
        changed
    }

    /// The bytes of secret `id`, if a task of this node needs it.
    pub fn secret(&self, id: &str) -> Option<Bytes> {
        self.read(|i| i.secrets.get(id).cloned())
    }

    /// The bytes of config `id`, if a task of this node needs it.
    pub fn config(&self, id: &str) -> Option<Bytes> {
        self.read(|i| i.configs.get(id).cloned())
    }

    /// Ids of the secrets held (what the node was sent), in order.
    pub fn secret_ids(&self) -> Vec<String> {
        self.read(|i| i.secrets.keys().cloned().collect())
    }

    /// Ids of the configs held, in order.
    pub fn config_ids(&self) -> Vec<String> {
        self.read(|i| i.configs.keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(id: &str, data: &[u8]) -> Secret {
        let mut s = Secret {
            id: id.into(),
            ..Default::default()
        };
        s.spec.data = Some(STANDARD.encode(data));
        s
    }

    #[test]
    fn each_set_replaces_the_last_and_debug_shows_no_data() {
        let store = SecretStore::new();
        assert!(store.replace(&[secret("a", b"one\0two"), secret("b", b"x")], &[]));
        assert_eq!(store.secret("a").as_deref(), Some(&b"one\0two"[..]));
        assert!(!store.replace(&[secret("a", b"one\0two"), secret("b", b"x")], &[]));
        assert!(store.replace(&[secret("b", b"x")], &[]));
        assert_eq!(store.secret_ids(), ["b"]);
        assert!(store.secret("a").is_none(), "dropped with its last task");
        let shown = format!("{store:?}");
        assert!(!shown.contains('x') || shown == "SecretStore { secrets: 1, configs: 0 }");
    }
}
