//! The manager: the control logic behind the Engine API (`control`) and the leader-only
//! controllers that drive tasks through their lifecycle.
//!
//! Controllers never call each other: each reads the store, reacts to its events and writes
//! back. Their decisions are pure functions, unit-tested without I/O; the loops
//! around them do the reading and writing.

pub mod allocator;
pub mod batch;
pub mod ca_rotation;
pub mod control;
pub mod controller;
pub mod dispatcher;
pub mod error;
pub mod orchestrator;
pub mod reaper;
pub mod restart;
pub mod scheduler;
pub mod supervisor;
pub mod update;

pub use dispatcher::Dispatcher;
pub use error::{ControllerError, DispatcherError};
pub use supervisor::Controllers;
