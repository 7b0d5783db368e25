//! The objects shoal keeps in its replicated store, and the values they are made of.
//!
//! Every object serialises in the Docker Engine API JSON shape (PascalCase, Go names), so the
//! API layer can return it as stored; the few internal fields (such as `SpecVersion`) are
//! ignored by Docker clients. Specs reuse the Engine API models of `bollard-stubs` (re-exported
//! as [`api`]) so that a spec posted by the docker CLI round-trips unchanged.
//!
//! Nothing here does I/O. Randomness and time are passed in by callers.

pub mod cluster;
pub mod dispatch;
pub mod error;
pub mod id;
pub mod meta;
pub mod network;
pub mod node;
pub mod object;
pub mod requests;
pub mod secret;
pub mod service;
pub mod task;
pub mod task_state;
pub mod template;
pub mod time;

pub use bollard_stubs::models as api;
pub use cluster::{Cluster, JoinTokens, RootCa, RootRotation};
pub use error::ValidationError;
pub use id::{ClusterId, NodeId, ServiceId, TaskId, new_id};
pub use meta::{Meta, Version};
pub use network::{Network, NetworkAttachment, NetworkSpec};
pub use node::Node;
pub use object::{Kind, Object};
pub use secret::{Config, Secret};
pub use service::Service;
pub use task::{Task, TaskStatus};
pub use task_state::TaskState;
