//! The agent's [`shoal_agent::Executor`] on the Docker Engine API, through bollard over the
//! engine's Unix socket. This is the only crate of shoal that talks to the container engine.
//!
//! - [`DockerExecutor::connect`] negotiates the API version (always: bollard defaults to a
//!   newer API than most engines speak).
//! - `prepare` pulls an image only when it is missing and creates the task's container with
//!   Docker's name (`<service>.<slot>.<task id>`) and swarm labels; a missing image that cannot
//!   be pulled rejects the task with the engine's message. A name conflict means the container
//!   exists already and it is adopted.
//! - The translation of a task's spec into the engine's create body
//!   ([`container_config::container_config`]) and the service templates
//!   ([`template::TemplateContext`]) are pure functions with unit tests.
//! - With [`EngineNetworks`] (overlay data plane on), a task's container is created on its
//!   first shoal network's engine network with its cluster address and connected to the
//!   others ([`attach`]); host-mode published ports are bound from the task's endpoint.
//! - [`testing`] builds a tiny busybox image locally, for tests on machines without a
//!   registry.

pub mod attach;
mod call;
pub mod container_config;
pub mod describe;
mod error;
mod executor;
mod list;
pub mod logs;
pub mod networks;
pub mod reference;
pub mod secrets;
pub use shoal_types::template;
pub mod testing;

pub use error::DockerError;
pub use executor::DockerExecutor;
pub use networks::{EngineNetworkSpec, EngineNetworks};
