//! The node agent: runs the tasks the leader's dispatcher assigns to this node.
//!
//! ```text
//!  DispatcherClient ──assignments──▶ Agent ─▶ Worker ─▶ task runners ─▶ Executor (engine)
//!        ▲                                                  │
//!        └──────── batched StatusUpdate ◀── reporter ◀──────┘
//! ```
//!
//! - [`Agent`] opens a session (retrying with backoff), heartbeats at the dispatcher's
//!   period, and hands each complete assignment set to the worker.
//! - The worker keeps one runner per assigned task, stops and removes the containers of tasks
//!   that leave the set, and at start-up adopts the containers an earlier agent left behind
//!   (found by the node-id label), so no task ever gets a second container.
//! - A runner drives its container through the task state machine; the decisions are the pure
//!   function [`step`], tested without I/O. Observed states only move forward.
//! - The reporter batches status updates for a few milliseconds and resends failed batches.
//!
//! - Before a set's tasks reach their runners, its networks are applied to the node's
//!   [`DataPlane`]; a task on a network that could not be set up fails with the reason.
//!
//! The engine is behind [`Executor`] (implemented by `shoal-docker`), the data plane behind
//! [`DataPlane`] and the dispatcher behind [`DispatcherClient`] (both implemented by
//! `shoal-node`), so this crate does no I/O of its own.

mod agent;
pub mod backoff;
pub mod clock;
mod config;
pub mod dataplane;
mod dispatcher;
mod error;
mod executor;
pub mod reporter;
mod runner;
pub mod secrets;
pub mod spec;
pub mod step;
mod worker;

pub use agent::Agent;
pub use clock::{Clock, SystemClock};
pub use config::AgentConfig;
pub use dataplane::{DataPlane, NetworkFailures, NoDataPlane};
pub use dispatcher::DispatcherClient;
pub use error::{ExecError, SessionError};
pub use executor::{
    Executor, ExistingContainer, ExitStatus, Health, LogLine, LogOptions, LogStream, Started,
};
pub use secrets::SecretStore;
pub use step::{Action, ContainerState, Observed, Report, step};
