//! Write transactions: read the store, stage actions, propose them as one batch.

use crate::error::StoreError;
use crate::proposal::{Action, MAX_PROPOSAL_BYTES, Proposal};
use crate::proposer::Proposer;
use crate::store::{MemoryStore, Tables};
use shoal_types::{Cluster, Kind, Node, Object, Service, Task};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

/// The clock used to stamp proposals; injectable for tests.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The store plus the way to write to it. Cheap to clone.
#[derive(Clone)]
pub struct StoreHandle {
    pub store: Arc<MemoryStore>,
    proposer: Arc<dyn Proposer>,
    clock: Clock,
}

impl StoreHandle {
    pub fn new(store: Arc<MemoryStore>, proposer: Arc<dyn Proposer>) -> Self {
        Self {
            store,
            proposer,
            clock: Arc::new(SystemTime::now),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// Read-only view; see [`MemoryStore::view`].
    pub fn view<R>(&self, f: impl FnOnce(&Tables) -> R) -> R {
        self.store.view(f)
    }

    /// Runs `f` against the current state, then proposes what it staged as one atomic batch.
    /// Returns `f`'s value and the index the batch was applied at (0 if it staged nothing).
    /// `f` must not block: it runs under the store's read lock.
    pub async fn update<R>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R, StoreError>,
    ) -> Result<(R, u64), StoreError> {
        let (value, actions) = self.store.view(|tables| {
            let mut tx = Tx {
                tables,
                staged: HashMap::new(),
                actions: Vec::new(),
            };
            let value = f(&mut tx)?;
            Ok::<_, StoreError>((value, tx.actions))
        })?;
        if actions.is_empty() {
            return Ok((value, 0));
        }
        let proposal = Proposal {
            actions,
            timestamp: shoal_types::time::rfc3339(self.now()),
        };
        let size = serde_json::to_vec(&proposal).map(|v| v.len()).unwrap_or(0);
        if size > MAX_PROPOSAL_BYTES {
            return Err(StoreError::TooLarge {
                size,
                limit: MAX_PROPOSAL_BYTES,
            });
        }
        let index = self.proposer.propose(proposal).await?;
        Ok((value, index))
    }

    /// Proposes ready-made actions.
    pub async fn propose(&self, actions: Vec<Action>) -> Result<u64, StoreError> {
        if actions.is_empty() {
            return Ok(0);
        }
        let proposal = Proposal {
            actions,
            timestamp: shoal_types::time::rfc3339(self.now()),
        };
        self.proposer.propose(proposal).await
    }
}

/// A transaction in progress: reads see the store plus what this transaction staged.
pub struct Tx<'a> {
    tables: &'a Tables,
    staged: HashMap<(Kind, String), Option<Object>>,
    actions: Vec<Action>,
}

impl Tx<'_> {
    /// The committed tables, without this transaction's staged changes.
    pub fn tables(&self) -> &Tables {
        self.tables
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<Object> {
        match self.staged.get(&(kind, id.to_string())) {
            Some(v) => v.clone(),
            None => self.tables.get(kind, id),
        }
    }

    pub fn node(&self, id: &str) -> Option<Node> {
        match self.get(Kind::Node, id) {
            Some(Object::Node(n)) => Some(n),
            _ => None,
        }
    }

    pub fn service(&self, id: &str) -> Option<Service> {
        match self.get(Kind::Service, id) {
            Some(Object::Service(s)) => Some(s),
            _ => None,
        }
    }

    pub fn task(&self, id: &str) -> Option<Task> {
        match self.get(Kind::Task, id) {
            Some(Object::Task(t)) => Some(t),
            _ => None,
        }
    }

    pub fn cluster(&self) -> Option<Cluster> {
        let id = self.tables.cluster()?.id.to_string();
        match self.get(Kind::Cluster, &id) {
            Some(Object::Cluster(c)) => Some(c),
            _ => None,
        }
    }

    /// Stages a new object. Conflicts are detected at apply time as well as here.
    pub fn create(&mut self, obj: Object) -> Result<(), StoreError> {
        let (kind, id) = (obj.kind(), obj.id().to_string());
        if self.get(kind, &id).is_some() {
            return Err(StoreError::IdConflict { kind, id });
        }
        if let Some(name) = obj.unique_name() {
            let taken = match kind {
                Kind::Service => self.tables.services.name_owner(name).is_some(),
                Kind::Cluster => self.tables.clusters.name_owner(name).is_some(),
                Kind::Secret => self.tables.secrets.name_owner(name).is_some(),
                Kind::Config => self.tables.configs.name_owner(name).is_some(),
                Kind::Network => self.tables.networks.name_owner(name).is_some(),
                Kind::Node | Kind::Task => false,
            };
            if taken {
                return Err(StoreError::NameConflict {
                    kind,
                    name: name.to_string(),
                });
            }
        }
        self.staged.insert((kind, id), Some(obj.clone()));
        self.actions.push(Action::Create(obj));
        Ok(())
    }

    /// Stages a replacement. `obj.meta.version` must be the version it was read at.
    pub fn update(&mut self, obj: Object) -> Result<(), StoreError> {
        let (kind, id) = (obj.kind(), obj.id().to_string());
        let Some(cur) = self.get(kind, &id) else {
            return Err(StoreError::NotFound { kind, id });
        };
        if cur.meta().version != obj.meta().version {
            return Err(StoreError::OutOfSequence { kind, id });
        }
        self.staged.insert((kind, id.clone()), Some(obj.clone()));
        // A second write to the same object in one transaction replaces the first, so the
        // batch carries one action per object and versions stay those read from the store.
        for action in self.actions.iter_mut() {
            match action {
                Action::Create(o) | Action::Update(o) if o.kind() == kind && o.id() == id => {
                    *o = obj;
                    return Ok(());
                }
                _ => {}
            }
        }
        self.actions.push(Action::Update(obj));
        Ok(())
    }

    /// Stages a removal.
    pub fn delete(&mut self, kind: Kind, id: &str) -> Result<(), StoreError> {
        let Some(cur) = self.get(kind, id) else {
            return Err(StoreError::NotFound {
                kind,
                id: id.to_string(),
            });
        };
        self.staged.insert((kind, id.to_string()), None);
        let created_here = self
            .actions
            .iter()
            .any(|a| matches!(a, Action::Create(o) if o.kind() == kind && o.id() == id));
        self.actions.retain(|a| !matches!(a, Action::Create(o) | Action::Update(o) if o.kind() == kind && o.id() == id));
        if !created_here {
            self.actions.push(Action::Delete {
                kind,
                id: id.to_string(),
                version: Some(cur.meta().version.index),
            });
        }
        Ok(())
    }
}
