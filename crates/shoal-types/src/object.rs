//! A sum of every stored object kind, used by the store's tables, actions and events.

use crate::{Cluster, Config, Network, Node, Secret, Service, Task};
use serde::{Deserialize, Serialize};

/// The kinds of object in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Node,
    Service,
    Task,
    Cluster,
    Secret,
    Config,
    Network,
}

impl Kind {
    /// The lowercase noun Docker uses in messages (`service web not found`).
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Service => "service",
            Kind::Task => "task",
            Kind::Cluster => "cluster",
            Kind::Secret => "secret",
            Kind::Config => "config",
            Kind::Network => "network",
        }
    }
}

/// Any stored object.
// Objects are moved whole through proposals and events; boxing would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Object {
    Node(Node),
    Service(Service),
    Task(Task),
    Cluster(Cluster),
    Secret(Secret),
    Config(Config),
    Network(Network),
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Node(_) => Kind::Node,
            Object::Service(_) => Kind::Service,
            Object::Task(_) => Kind::Task,
            Object::Cluster(_) => Kind::Cluster,
            Object::Secret(_) => Kind::Secret,
            Object::Config(_) => Kind::Config,
            Object::Network(_) => Kind::Network,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Object::Node(o) => o.id.as_str(),
            Object::Service(o) => o.id.as_str(),
            Object::Task(o) => o.id.as_str(),
            Object::Cluster(o) => o.id.as_str(),
            Object::Secret(o) => o.id.as_str(),
            Object::Config(o) => o.id.as_str(),
            Object::Network(o) => o.id.as_str(),
        }
    }

    /// The unique name, for kinds whose names must be unique (services, the cluster).
    pub fn unique_name(&self) -> Option<&str> {
        match self {
            Object::Service(s) => s.spec.name.as_deref(),
            Object::Cluster(c) => c.spec.name.as_deref(),
            Object::Secret(o) => o.spec.name.as_deref(),
            Object::Config(o) => o.spec.name.as_deref(),
            Object::Network(o) => Some(o.spec.name.as_str()),
            Object::Node(_) | Object::Task(_) => None,
        }
    }

    pub fn meta(&self) -> &crate::Meta {
        match self {
            Object::Node(o) => &o.meta,
            Object::Service(o) => &o.meta,
            Object::Task(o) => &o.meta,
            Object::Cluster(o) => &o.meta,
            Object::Secret(o) => &o.meta,
            Object::Config(o) => &o.meta,
            Object::Network(o) => &o.meta,
        }
    }

    pub fn meta_mut(&mut self) -> &mut crate::Meta {
        match self {
            Object::Node(o) => &mut o.meta,
            Object::Service(o) => &mut o.meta,
            Object::Task(o) => &mut o.meta,
            Object::Cluster(o) => &mut o.meta,
            Object::Secret(o) => &mut o.meta,
            Object::Config(o) => &mut o.meta,
            Object::Network(o) => &mut o.meta,
        }
    }
}
