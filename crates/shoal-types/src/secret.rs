//! Secrets and configs: named blobs kept only in the (encrypted) raft store.

use crate::api::{ConfigSpec, SecretSpec};
use crate::meta::Meta;
use serde::{Deserialize, Serialize};

/// Largest secret: < 500 KiB (swarmkit `MaxSecretSize`).
pub const MAX_SECRET_SIZE: usize = 500 * 1024;
/// Largest config: < 1000 KiB (swarmkit `MaxConfigSize`).
pub const MAX_CONFIG_SIZE: usize = 1000 * 1024;

/// A secret. `Spec.Data` (base64) is stored but never returned by the API.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Secret {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(rename = "Spec", default)]
    pub spec: SecretSpec,
}

/// A config. Unlike secrets, its data is shown by inspect.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Config {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(rename = "Spec", default)]
    pub spec: ConfigSpec,
}

impl Secret {
    pub fn name(&self) -> &str {
        self.spec.name.as_deref().unwrap_or_default()
    }
}

impl Config {
    pub fn name(&self) -> &str {
        self.spec.name.as_deref().unwrap_or_default()
    }
}
