//! The built-in web view of the swarm (`shoal daemon --web-addr`, shoal issue 19).
//!
//! A manager serves server-rendered HTML ([`render`], pure functions of a store snapshot): the
//! nodes × tasks grid, the services with their update progress, each service's task history,
//! and the last events. Pages stay live over server-sent events: one store watcher per server
//! ([`hub`]) re-renders the fragments at most every 100 ms after a change and every open page
//! receives them. Actions (scale, roll back, drain/activate a node) go through the manager's
//! control API behind an in-page confirmation. Everything needs a login with the token in
//! `<data-root>/web-token` ([`auth`]); actions also need the session's CSRF token
//! ([`server`]). The script and stylesheet are embedded: no external assets.

pub mod auth;
pub mod hub;
pub mod render;
pub mod server;

pub use auth::WebAuth;
pub use server::{router, serve, token_routes};
