//! Secrets: create, list, inspect, update (labels only), remove (refused while in use), and the
//! checks a service spec's secret references must pass — swarmkit's `controlapi/secret.go`
//! and `validateSecretRefsSpec`/`checkSecretExistence`, with their wording.
//!
//! The data is kept in the store (so in the encrypted raft log) and never leaves the manager
//! through the API: readers get [`Secret`]s with `Spec.Data` stripped by [`redacted`].

use super::lookup::resolve;
use super::{Control, ControlError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use shoal_store::StoreError;
use shoal_types::api::{SecretSpec, ServiceSpec};
use shoal_types::secret::MAX_SECRET_SIZE;
use shoal_types::{Kind, Object, Secret, Service};
use std::collections::HashMap;

/// Longest secret or config name (swarmkit `validateConfigOrSecretAnnotations`).
pub const MAX_OBJECT_NAME_LEN: usize = 64;

fn invalid(desc: impl std::fmt::Display) -> ControlError {
    ControlError::Invalid(format!("rpc error: code = InvalidArgument desc = {desc}"))
}

/// `^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`, at most 64 characters.
pub fn validate_object_name(name: &str) -> Result<(), ControlError> {
    if name.is_empty() {
        return Err(invalid("name must be provided"));
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let ok = name.len() <= MAX_OBJECT_NAME_LEN
        && name
            .chars()
            .all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
        && name.chars().next().is_some_and(alnum)
        && name.chars().last().is_some_and(alnum);
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]",
        ))
    }
}

/// Decodes `Spec.Data` (standard base64) and checks 0 < len < `max`. `noun` is `secret` or
/// `config`.
pub fn decode_data(data: Option<&str>, max: usize, noun: &str) -> Result<Vec<u8>, ControlError> {
    let bytes = STANDARD
        .decode(data.unwrap_or_default())
        .map_err(|e| invalid(format!("{noun} data is not valid base64: {e}")))?;
    if bytes.is_empty() || bytes.len() >= max {
        return Err(invalid(format!(
            "{noun} data must be larger than 0 and less than {max} bytes"
        )));
    }
    Ok(bytes)
}

/// Whether a re-sent `Data` differs from the stored one. Compared in constant time over the
/// decoded bytes, as swarmkit does, so the comparison leaks nothing about the stored value.
pub fn data_changed(stored: Option<&str>, sent: Option<&str>) -> bool {
    let Some(sent) = sent else {
        return false;
    };
    let a = STANDARD
        .decode(stored.unwrap_or_default())
        .unwrap_or_default();
    let Ok(b) = STANDARD.decode(sent) else {
        return true;
    };
    if a.len() != b.len() {
        return true;
    }
    a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) != 0
}

/// The secret as the API shows it: everything but `Spec.Data`.
pub fn redacted(mut s: Secret) -> Secret {
    s.spec.data = None;
    s
}

/// `secret 'db' is in use by the following service: web` (swarmkit's wording).
pub(crate) fn in_use_message(noun: &str, name: &str, services: &[&Service]) -> String {
    let names: Vec<&str> = services.iter().map(|s| s.name()).collect();
    let what = if names.len() == 1 {
        "service"
    } else {
        "services"
    };
    format!(
        "rpc error: code = InvalidArgument desc = {noun} '{name}' is in use by the following {what}: {}",
        names.join(", ")
    )
}

/// Ids of the secrets a service spec references.
pub fn secret_ids(spec: &ServiceSpec) -> impl Iterator<Item = &str> {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.secrets.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|r| r.secret_id.as_deref())
}

impl Control {
    pub fn secrets(&self) -> Vec<Secret> {
        self.store
            .view(|t| t.secrets.iter().cloned().map(redacted).collect())
    }

    /// The secret named by `input` (id, exact name, unique id prefix), without its data.
    pub fn resolve_secret(&self, input: &str) -> Result<Secret, ControlError> {
        self.store.view(|t| {
            resolve(
                t.secrets.iter(),
                input,
                "secret",
                |s| s.id.as_str(),
                |s| s.spec.name.as_deref(),
            )
            .cloned()
            .map(redacted)
        })
    }

    /// `POST /secrets/create`. Returns the new id.
    pub async fn create_secret(&self, mut spec: SecretSpec) -> Result<String, ControlError> {
        let name = spec.name.clone().unwrap_or_default();
        validate_object_name(&name)?;
        if spec.driver.as_ref().is_some_and(|d| !d.name.is_empty()) {
            return Err(invalid("secret drivers are not supported"));
        }
        decode_data(spec.data.as_deref(), MAX_SECRET_SIZE, "secret")?;
        spec.labels.get_or_insert_with(HashMap::new);
        let id = shoal_types::new_id(&mut rand::rng());
        let secret = Secret {
            id: id.clone(),
            spec,
            ..Default::default()
        };
        match self
            .store
            .update(|tx| tx.create(Object::Secret(secret)))
            .await
        {
            Ok(_) => {
                tracing::info!(secret.id = %id, secret.name = %name, "secret created");
                Ok(id)
            }
            Err(StoreError::NameConflict { .. }) => Err(ControlError::Conflict(format!(
                "rpc error: code = AlreadyExists desc = secret {name} already exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /secrets/{id}/update?version=N`: only the labels may change; `Data` may be sent
    /// again unchanged (stack redeploys do).
    pub async fn update_secret(
        &self,
        input: &str,
        version: u64,
        spec: SecretSpec,
    ) -> Result<(), ControlError> {
        let id = self.resolve_secret(input)?.id;
        self.store
            .update(move |tx| {
                let Some(Object::Secret(mut cur)) = tx.get(Kind::Secret, &id) else {
                    return Err(StoreError::NotFound {
                        kind: Kind::Secret,
                        id,
                    });
                };
                if cur.meta.version.index != version {
                    return Err(StoreError::OutOfSequence {
                        kind: Kind::Secret,
                        id,
                    });
                }
                let renamed = spec.name.as_deref().is_some_and(|n| n != cur.name());
                if renamed || data_changed(cur.spec.data.as_deref(), spec.data.as_deref()) {
                    return Ok(Err(invalid("only updates to Labels are allowed")));
                }
                cur.spec.labels = Some(spec.labels.unwrap_or_default());
                tx.update(Object::Secret(cur)).map(Ok)
            })
            .await?
            .0
    }

    /// `DELETE /secrets/{id}`: refused while a service references the secret.
    pub async fn remove_secret(&self, input: &str) -> Result<(), ControlError> {
        let secret = self.resolve_secret(input)?;
        let id = secret.id.clone();
        self.store
            .update(move |tx| {
                let users: Vec<&Service> = tx
                    .tables()
                    .services
                    .iter()
                    .filter(|s| secret_ids(&s.spec).any(|r| r == id))
                    .collect();
                if !users.is_empty() {
                    return Ok(Err(ControlError::Invalid(in_use_message(
                        "secret",
                        secret.name(),
                        &users,
                    ))));
                }
                tx.delete(Kind::Secret, &id).map(Ok)
            })
            .await?
            .0
    }

    /// Checks a service spec's secret and config references: each names an existing object
    /// (by id, with the matching name) and no two secrets, or two configs, share a target.
    pub fn check_references(&self, spec: &ServiceSpec) -> Result<(), ControlError> {
        let Some(cs) = spec
            .task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
        else {
            return Ok(());
        };
        let secrets: Vec<(&str, &str, Option<&str>)> = cs
            .secrets
            .iter()
            .flatten()
            .map(|r| {
                (
                    r.secret_id.as_deref().unwrap_or_default(),
                    r.secret_name.as_deref().unwrap_or_default(),
                    r.file
                        .as_ref()
                        .map(|f| f.name.as_deref().unwrap_or_default()),
                )
            })
            .collect();
        let configs: Vec<(&str, &str, Option<&str>)> = cs
            .configs
            .iter()
            .flatten()
            .map(|r| {
                (
                    r.config_id.as_deref().unwrap_or_default(),
                    r.config_name.as_deref().unwrap_or_default(),
                    r.file
                        .as_ref()
                        .map(|f| f.name.as_deref().unwrap_or_default()),
                )
            })
            .collect();
        check_targets("secret", &secrets, true)?;
        check_targets("config", &configs, false)?;
        self.store.view(|t| {
            let missing_secrets: Vec<&str> = secrets
                .iter()
                .filter(|(id, name, _)| t.secrets.get(id).is_none_or(|s| s.name() != *name))
                .map(|(id, name, _)| if name.is_empty() { *id } else { *name })
                .collect();
            not_found("secret", &missing_secrets)?;
            let missing_configs: Vec<&str> = configs
                .iter()
                .filter(|(id, name, _)| t.configs.get(id).is_none_or(|c| c.name() != *name))
                .map(|(id, name, _)| if name.is_empty() { *id } else { *name })
                .collect();
            not_found("config", &missing_configs)
        })
    }
}

fn not_found(noun: &str, missing: &[&str]) -> Result<(), ControlError> {
    if missing.is_empty() {
        return Ok(());
    }
    let plural = if missing.len() == 1 { "" } else { "s" };
    Err(invalid(format!(
        "{noun}{plural} not found: {}",
        missing.join(", ")
    )))
}

/// swarmkit's `validateSecretRefsSpec`/`validateConfigRefsSpec`: ids and names present, a
/// file target for secrets, no two references with the same file target.
fn check_targets(
    noun: &str,
    refs: &[(&str, &str, Option<&str>)],
    file_required: bool,
) -> Result<(), ControlError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (id, name, file) in refs {
        if id.is_empty() || name.is_empty() {
            return Err(invalid(format!("malformed {noun} reference")));
        }
        let Some(target) = file else {
            if file_required {
                return Err(invalid(format!(
                    "malformed {noun} reference, no target provided"
                )));
            }
            continue;
        };
        if target.is_empty() {
            return Err(invalid(format!(
                "malformed file {noun} reference, invalid target file name provided"
            )));
        }
        if let Some(prev) = seen.insert(target, name) {
            return Err(invalid(format!(
                "{noun} references '{prev}' and '{name}' have a conflicting target: '{target}'"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_swarmkit() {
        assert!(validate_object_name("db_pass.v1").is_ok());
        assert!(validate_object_name("a").is_ok());
        assert!(validate_object_name("-db").is_err());
        assert!(validate_object_name("db.").is_err());
        assert!(validate_object_name("db pass").is_err());
        assert!(validate_object_name(&"a".repeat(65)).is_err());
        assert_eq!(
            validate_object_name("").unwrap_err().to_string(),
            "rpc error: code = InvalidArgument desc = name must be provided"
        );
    }

    #[test]
    fn data_must_be_between_one_byte_and_the_limit() {
        assert!(decode_data(Some(""), MAX_SECRET_SIZE, "secret").is_err());
        assert!(decode_data(Some(&STANDARD.encode([0u8])), MAX_SECRET_SIZE, "secret").is_ok());
        let big = STANDARD.encode(vec![1u8; MAX_SECRET_SIZE]);
        assert_eq!(
            decode_data(Some(&big), MAX_SECRET_SIZE, "secret")
                .unwrap_err()
                .to_string(),
            "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes"
        );
    }

    #[test]
    fn resending_the_same_data_is_not_a_change() {
        let a = STANDARD.encode(b"x\0y");
        assert!(!data_changed(Some(&a), Some(&a)));
        assert!(!data_changed(Some(&a), None));
        assert!(data_changed(Some(&a), Some(&STANDARD.encode(b"x\0z"))));
    }

    #[test]
    fn conflicting_targets_are_refused() {
        let refs = [("1", "a", Some("t")), ("2", "b", Some("t"))];
        assert_eq!(
            check_targets("secret", &refs, true)
                .unwrap_err()
                .to_string(),
            "rpc error: code = InvalidArgument desc = secret references 'a' and 'b' have a conflicting target: 't'"
        );
        let ok = [("1", "a", Some("t")), ("1", "a", Some("u"))];
        assert!(check_targets("secret", &ok, true).is_ok());
    }
}
