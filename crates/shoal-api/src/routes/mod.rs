//! Route groups, one module each.

pub mod configs;
pub mod containers;
pub mod networks;
pub mod nodes;
pub mod secrets;
pub mod services;
pub mod swarm;
pub mod system;
pub mod tasks;

use crate::backend::Backend;
use std::sync::Arc;

/// Shared router state.
pub type AppState = Arc<dyn Backend>;

/// Query parameters as strings.
pub type Query = axum::extract::Query<std::collections::HashMap<String, String>>;
