//! Configs: secrets' twin (swarmkit `controlapi/config.go`), up to 1000 KiB, whose data the
//! API does return.

use super::lookup::resolve;
use super::secrets::{data_changed, decode_data, in_use_message, validate_object_name};
use super::{Control, ControlError};
use shoal_store::StoreError;
use shoal_types::api::{ConfigSpec, ServiceSpec};
use shoal_types::secret::MAX_CONFIG_SIZE;
use shoal_types::{Config, Kind, Object, Service};
use std::collections::HashMap;

/// Ids of the configs a service spec references.
pub fn config_ids(spec: &ServiceSpec) -> impl Iterator<Item = &str> {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.configs.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|r| r.config_id.as_deref())
}

impl Control {
    pub fn configs(&self) -> Vec<Config> {
        self.store.view(|t| t.configs.iter().cloned().collect())
    }

    /// The config named by `input` (id, exact name, unique id prefix).
    pub fn resolve_config(&self, input: &str) -> Result<Config, ControlError> {
        self.store.view(|t| {
            resolve(
                t.configs.iter(),
                input,
                "config",
                |c| c.id.as_str(),
                |c| c.spec.name.as_deref(),
            )
            .cloned()
        })
    }

    /// `POST /configs/create`. Returns the new id.
    pub async fn create_config(&self, mut spec: ConfigSpec) -> Result<String, ControlError> {
        let name = spec.name.clone().unwrap_or_default();
        validate_object_name(&name)?;
        decode_data(spec.data.as_deref(), MAX_CONFIG_SIZE, "config")?;
        spec.labels.get_or_insert_with(HashMap::new);
        let id = shoal_types::new_id(&mut rand::rng());
        let config = Config {
            id: id.clone(),
            spec,
            ..Default::default()
        };
        match self
            .store
            .update(|tx| tx.create(Object::Config(config)))
            .await
        {
            Ok(_) => {
                tracing::info!(config.id = %id, config.name = %name, "config created");
                Ok(id)
            }
            Err(StoreError::NameConflict { .. }) => Err(ControlError::Conflict(format!(
                "rpc error: code = AlreadyExists desc = config {name} already exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /configs/{id}/update?version=N`: labels only, as for secrets.
    pub async fn update_config(
        &self,
        input: &str,
        version: u64,
        spec: ConfigSpec,
    ) -> Result<(), ControlError> {
        let id = self.resolve_config(input)?.id;
        self.store
            .update(move |tx| {
                let Some(Object::Config(mut cur)) = tx.get(Kind::Config, &id) else {
                    return Err(StoreError::NotFound {
                        kind: Kind::Config,
                        id,
                    });
                };
                if cur.meta.version.index != version {
                    return Err(StoreError::OutOfSequence {
                        kind: Kind::Config,
                        id,
                    });
                }
                let renamed = spec.name.as_deref().is_some_and(|n| n != cur.name());
                if renamed || data_changed(cur.spec.data.as_deref(), spec.data.as_deref()) {
                    return Ok(Err(ControlError::Invalid(
                        "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"
                            .into(),
                    )));
                }
                cur.spec.labels = Some(spec.labels.unwrap_or_default());
                tx.update(Object::Config(cur)).map(Ok)
            })
            .await?
            .0
    }

    /// `DELETE /configs/{id}`: refused while a service references the config.
    pub async fn remove_config(&self, input: &str) -> Result<(), ControlError> {
        let config = self.resolve_config(input)?;
        let id = config.id.clone();
        self.store
            .update(move |tx| {
                let users: Vec<&Service> = tx
                    .tables()
                    .services
                    .iter()
                    .filter(|s| config_ids(&s.spec).any(|r| r == id))
                    .collect();
                if !users.is_empty() {
                    return Ok(Err(ControlError::Invalid(in_use_message(
                        "config",
                        config.name(),
                        &users,
                    ))));
                }
                tx.delete(Kind::Config, &id).map(Ok)
            })
            .await?
            .0
    }
}
