//! The Docker Engine API (v1.44, swarm subset) served on a Unix socket.
//!
//! Routes are thin: they parse the request (path, query, filters, JSON body), call the
//! [`Backend`] (node-level operations such as `swarm init`) or the manager's
//! [`Control`](shoal_manager::control::Control) (cluster state), and render JSON in the Engine
//! API shape. Every route is served unprefixed and under `/v1.24` … `/v1.44`; errors are
//! `{"message": …}` with `Content-Type: application/json` and Docker's status codes, mapped in
//! one place ([`ApiError`]).

pub mod backend;
pub mod body;
pub mod error;
pub mod filters;
pub mod routes;
pub mod server;
pub mod socket;

#[cfg(test)]
mod fuzz_tests;

pub use backend::{Backend, LocalState};
pub use error::ApiError;
pub use server::{API_VERSION, MIN_API_VERSION, router, serve_unix};
pub use socket::{ApiSocket, SocketError};
