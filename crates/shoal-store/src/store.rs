//! The tables of every kind, and the deterministic apply of proposals.

use crate::error::StoreError;
use crate::proposal::{Action, Proposal};
use crate::table::{Indexed, Table};
use crate::watch::{Event, EventKind, Watcher};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use shoal_types::{Cluster, Config, Kind, Network, Node, Object, Secret, Service, Task};
use tokio::sync::broadcast;

/// Events buffered per subscriber before it is considered lagging and must resync.
pub const WATCH_BUFFER: usize = 16 * 1024;

impl Indexed for Node {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn secondary(&self) -> Vec<(&'static str, String)> {
        match self.description.hostname.as_deref() {
            Some(h) if !h.is_empty() => vec![("hostname", h.to_string())],
            _ => Vec::new(),
        }
    }
}

impl Indexed for Service {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn unique_name(&self) -> Option<&str> {
        self.spec.name.as_deref()
    }
}

impl Indexed for Task {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn secondary(&self) -> Vec<(&'static str, String)> {
        let mut keys = vec![("service", self.service_id.to_string())];
        if !self.node_id.is_empty() {
            keys.push(("node", self.node_id.to_string()));
        }
        keys.push((
            "slot",
            format!(
                "{}/{}/{}",
                self.service_id,
                self.slot,
                if self.slot == 0 {
                    self.node_id.as_str()
                } else {
                    ""
                }
            ),
        ));
        // Tasks by network, for the dispatcher's per-network endpoint lists.
        for att in &self.networks {
            keys.push(("network", att.network_id.clone()));
        }
        keys
    }
}

impl Indexed for Cluster {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn unique_name(&self) -> Option<&str> {
        self.spec.name.as_deref()
    }
}

impl Indexed for Secret {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn unique_name(&self) -> Option<&str> {
        self.spec.name.as_deref()
    }
}

impl Indexed for Config {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn unique_name(&self) -> Option<&str> {
        self.spec.name.as_deref()
    }
}

impl Indexed for Network {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn unique_name(&self) -> Option<&str> {
        Some(self.spec.name.as_str())
    }
}

/// Every table, read together under one lock.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub nodes: Table<Node>,
    pub services: Table<Service>,
    pub tasks: Table<Task>,
    pub clusters: Table<Cluster>,
    pub secrets: Table<Secret>,
    pub configs: Table<Config>,
    pub networks: Table<Network>,
    /// Raft index of the last applied proposal.
    pub applied_index: u64,
}

impl Tables {
    /// The stored object of `kind` with `id`.
    pub fn get(&self, kind: Kind, id: &str) -> Option<Object> {
        match kind {
            Kind::Node => self.nodes.get(id).cloned().map(Object::Node),
            Kind::Service => self.services.get(id).cloned().map(Object::Service),
            Kind::Task => self.tasks.get(id).cloned().map(Object::Task),
            Kind::Cluster => self.clusters.get(id).cloned().map(Object::Cluster),
            Kind::Secret => self.secrets.get(id).cloned().map(Object::Secret),
            Kind::Config => self.configs.get(id).cloned().map(Object::Config),
            Kind::Network => self.networks.get(id).cloned().map(Object::Network),
        }
    }

    fn name_owner(&self, kind: Kind, name: &str) -> Option<&str> {
        match kind {
            Kind::Service => self.services.name_owner(name),
            Kind::Cluster => self.clusters.name_owner(name),
            Kind::Secret => self.secrets.name_owner(name),
            Kind::Config => self.configs.name_owner(name),
            Kind::Network => self.networks.name_owner(name),
            Kind::Node | Kind::Task => None,
        }
    }

    fn put(&mut self, obj: Object) {
        match obj {
            Object::Node(o) => {
                self.nodes.put(o);
            }
            Object::Service(o) => {
                self.services.put(o);
            }
            Object::Task(o) => {
                self.tasks.put(o);
            }
            Object::Cluster(o) => {
                self.clusters.put(o);
            }
            Object::Secret(o) => {
                self.secrets.put(o);
            }
            Object::Config(o) => {
                self.configs.put(o);
            }
            Object::Network(o) => {
                self.networks.put(o);
            }
        }
    }

    fn remove(&mut self, kind: Kind, id: &str) -> Option<Object> {
        match kind {
            Kind::Node => self.nodes.remove(id).map(Object::Node),
            Kind::Service => self.services.remove(id).map(Object::Service),
            Kind::Task => self.tasks.remove(id).map(Object::Task),
            Kind::Cluster => self.clusters.remove(id).map(Object::Cluster),
            Kind::Secret => self.secrets.remove(id).map(Object::Secret),
            Kind::Config => self.configs.remove(id).map(Object::Config),
            Kind::Network => self.networks.remove(id).map(Object::Network),
        }
    }

    /// The cluster object (there is at most one).
    pub fn cluster(&self) -> Option<&Cluster> {
        self.clusters.iter().next()
    }

    fn all_objects(&self) -> Vec<Object> {
        let mut out = Vec::new();
        out.extend(self.clusters.iter().cloned().map(Object::Cluster));
        out.extend(self.nodes.iter().cloned().map(Object::Node));
        out.extend(self.services.iter().cloned().map(Object::Service));
        out.extend(self.tasks.iter().cloned().map(Object::Task));
        out.extend(self.secrets.iter().cloned().map(Object::Secret));
        out.extend(self.configs.iter().cloned().map(Object::Config));
        out.extend(self.networks.iter().cloned().map(Object::Network));
        out
    }
}

/// A point-in-time copy of the store, for raft snapshots.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub applied_index: u64,
    pub objects: Vec<Object>,
}

/// The in-memory store. Shared by `Arc`; all methods take `&self`.
pub struct MemoryStore {
    tables: RwLock<Tables>,
    /// Events are shared behind `Arc` so the ring buffer holds pointers, not objects: tokio's
    /// broadcast channel allocates every slot up front.
    events: broadcast::Sender<std::sync::Arc<Event>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(WATCH_BUFFER);
        Self {
            tables: RwLock::new(Tables::default()),
            events,
        }
    }

    /// Runs `f` on a consistent view. Do not block or await inside `f`.
    pub fn view<R>(&self, f: impl FnOnce(&Tables) -> R) -> R {
        f(&self.tables.read())
    }

    /// Raft index of the last applied proposal.
    pub fn applied_index(&self) -> u64 {
        self.tables.read().applied_index
    }

    /// Subscribes to changes applied from now on. Take a [`view`](Self::view) after
    /// subscribing to build caches, so no change falls between the two.
    pub fn watch(&self) -> Watcher {
        Watcher::new(self.events.subscribe())
    }

    /// Checks every action of `proposal` against the current tables, then applies all of them
    /// stamped with `index`, or none. Called in log order by the raft state machine (or by
    /// [`LocalProposer`](crate::LocalProposer)); deterministic given the same tables.
    pub fn apply(&self, index: u64, proposal: &Proposal) -> Result<(), StoreError> {
        let mut events = Vec::with_capacity(proposal.actions.len());
        {
            let mut tables = self.tables.write();
            // Validate against a scratch copy of the touched objects so that the batch is
            // checked as a whole (an action may depend on an earlier one in the batch).
            let staged = stage(&tables, index, proposal)?;
            for (kind, id, new, old) in staged {
                match new {
                    Some(obj) => {
                        let ev_kind = if old.is_some() {
                            EventKind::Updated
                        } else {
                            EventKind::Created
                        };
                        tables.put(obj.clone());
                        events.push(Event {
                            index,
                            kind: ev_kind,
                            object: obj,
                            old,
                        });
                    }
                    None => {
                        if let Some(removed) = tables.remove(kind, &id) {
                            events.push(Event {
                                index,
                                kind: EventKind::Deleted,
                                object: removed,
                                old: None,
                            });
                        }
                    }
                }
            }
            tables.applied_index = tables.applied_index.max(index);
        }
        for ev in events {
            // A send error only means nobody is subscribed right now.
            let _ = self.events.send(std::sync::Arc::new(ev));
        }
        Ok(())
    }

    /// Records that `index` was applied without store changes (e.g. a raft membership entry).
    pub fn note_applied(&self, index: u64) {
        let mut t = self.tables.write();
        t.applied_index = t.applied_index.max(index);
    }

    pub fn snapshot(&self) -> Snapshot {
        let t = self.tables.read();
        Snapshot {
            applied_index: t.applied_index,
            objects: t.all_objects(),
        }
    }

    /// Replaces the whole content with `snap`. Watchers are not told about each object:
    /// they must resync (the next event they see is newer than their caches).
    pub fn restore(&self, snap: Snapshot) {
        let mut fresh = Tables::default();
        for obj in snap.objects {
            fresh.put(obj);
        }
        fresh.applied_index = snap.applied_index;
        *self.tables.write() = fresh;
    }
}

type Staged = Vec<(Kind, String, Option<Object>, Option<Object>)>;
/// (kind, id) → (value after the batch's earlier actions, value before the batch).
type Touched = std::collections::HashMap<(Kind, String), (Option<Object>, Option<Object>)>;

fn stage(tables: &Tables, index: u64, proposal: &Proposal) -> Result<Staged, StoreError> {
    use std::collections::HashMap;
    // (kind, id) -> (current value after earlier actions of the batch, value before the batch)
    let mut touched: Touched = HashMap::new();
    let mut order: Vec<(Kind, String)> = Vec::new();
    // names claimed/released within the batch
    let mut names: HashMap<(Kind, String), Option<String>> = HashMap::new();

    let current =
        |touched: &Touched, kind: Kind, id: &str| match touched.get(&(kind, id.to_string())) {
            Some((cur, _)) => cur.clone(),
            None => tables.get(kind, id),
        };
    let owner = |names: &HashMap<(Kind, String), Option<String>>,
                 kind: Kind,
                 name: &str|
     -> Option<String> {
        match names.get(&(kind, name.to_string())) {
            Some(o) => o.clone(),
            None => tables.name_owner(kind, name).map(str::to_string),
        }
    };

    for action in &proposal.actions {
        let (kind, id, new) = match action {
            Action::Create(obj) => {
                let (kind, id) = (obj.kind(), obj.id().to_string());
                if current(&touched, kind, &id).is_some() {
                    return Err(StoreError::IdConflict { kind, id });
                }
                if let Some(name) = obj.unique_name() {
                    if owner(&names, kind, name).is_some() {
                        return Err(StoreError::NameConflict {
                            kind,
                            name: name.to_string(),
                        });
                    }
                    names.insert((kind, name.to_string()), Some(id.clone()));
                }
                let mut obj = obj.clone();
                let meta = obj.meta_mut();
                meta.version.index = index;
                meta.created_at = proposal.timestamp.clone();
                meta.updated_at = proposal.timestamp.clone();
                (kind, id, Some(obj))
            }
            Action::Update(obj) => {
                let (kind, id) = (obj.kind(), obj.id().to_string());
                let Some(cur) = current(&touched, kind, &id) else {
                    return Err(StoreError::NotFound { kind, id });
                };
                if cur.meta().version != obj.meta().version {
                    return Err(StoreError::OutOfSequence { kind, id });
                }
                if cur.unique_name() != obj.unique_name() {
                    if let Some(name) = obj.unique_name() {
                        if owner(&names, kind, name).is_some_and(|o| o != id) {
                            return Err(StoreError::NameConflict {
                                kind,
                                name: name.to_string(),
                            });
                        }
                        names.insert((kind, name.to_string()), Some(id.clone()));
                    }
                    if let Some(old) = cur.unique_name() {
                        names.insert((kind, old.to_string()), None);
                    }
                }
                let mut obj = obj.clone();
                let meta = obj.meta_mut();
                meta.version.index = index;
                meta.created_at = cur.meta().created_at.clone();
                meta.updated_at = proposal.timestamp.clone();
                (kind, id, Some(obj))
            }
            Action::Delete { kind, id, version } => {
                let Some(cur) = current(&touched, *kind, id) else {
                    return Err(StoreError::NotFound {
                        kind: *kind,
                        id: id.clone(),
                    });
                };
                if version.is_some_and(|v| v != cur.meta().version.index) {
                    return Err(StoreError::OutOfSequence {
                        kind: *kind,
                        id: id.clone(),
                    });
                }
                if let Some(name) = cur.unique_name() {
                    names.insert((*kind, name.to_string()), None);
                }
                (*kind, id.clone(), None)
            }
        };
        let key = (kind, id.clone());
        match touched.get_mut(&key) {
            Some(entry) => entry.0 = new,
            None => {
                let before = tables.get(kind, &id);
                touched.insert(key.clone(), (new, before));
                order.push(key);
            }
        }
    }

    Ok(order
        .into_iter()
        .filter_map(|key| {
            let (new, old) = touched.remove(&key)?;
            Some((key.0, key.1, new, old))
        })
        .collect())
}
