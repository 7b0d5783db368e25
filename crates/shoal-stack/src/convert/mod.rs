//! Compose project → Engine API objects, as docker/cli `cli/compose/convert` builds them for
//! `docker stack deploy`.
//!
//! Naming: every object is `<stack>_<key>` unless its definition has `name:`; external
//! networks, secrets and configs keep their own name and are not created (the deployer only
//! checks they exist). Every created object is labelled `com.docker.stack.namespace=<stack>`;
//! services also carry `com.docker.stack.image=<image as written>`. A service without
//! networks joins `<stack>_default`, an overlay network created on demand; only networks some
//! service uses are in the plan, as in docker/cli.
//!
//! The plan holds names, never ids: the deployer resolves `SecretName`/`ConfigName` to ids
//! after creating them, and network attachments target network names, which the daemon
//! resolves. Secret and config data stay on disk ([`ObjectSource::File`]) for the deployer to
//! read, so conversion does no I/O.

mod mounts;
mod scheduling;
mod service;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use shoal_types::api::{Ipam, IpamConfig, NetworkCreateRequest, ServiceSpec};

use crate::error::ConvertError;
use crate::model::Compose;

/// The label every stack object carries, valued with the stack name.
pub const LABEL_NAMESPACE: &str = "com.docker.stack.namespace";
/// The label of a service holding its image as written in the compose file.
pub const LABEL_IMAGE: &str = "com.docker.stack.image";
/// The network of services that declare none.
pub const DEFAULT_NETWORK: &str = "default";
/// docker/cli creates stack networks with this driver unless `driver:` says otherwise.
pub const DEFAULT_NETWORK_DRIVER: &str = "overlay";

/// Everything `stack deploy` creates or checks, in a stable order (sorted by name).
#[derive(Debug, Clone, PartialEq)]
pub struct StackPlan {
    /// `(full service name, spec)`.
    pub services: Vec<(String, ServiceSpec)>,
    /// `(full network name, network)`; external ones are only to be checked.
    pub networks: Vec<(String, NetworkPlan)>,
    /// `(full secret name, secret)`.
    pub secrets: Vec<(String, FileObjectPlan)>,
    /// `(full config name, config)`.
    pub configs: Vec<(String, FileObjectPlan)>,
    /// Warnings of loading and converting, for the user.
    pub warnings: Vec<String>,
}

/// A network to create (or, when `external`, to find).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkPlan {
    pub driver: String,
    pub driver_opts: HashMap<String, String>,
    pub attachable: bool,
    pub internal: bool,
    pub ipam_driver: Option<String>,
    pub ipam_subnets: Vec<String>,
    pub labels: HashMap<String, String>,
    pub external: bool,
}

impl NetworkPlan {
    /// The body of `POST /networks/create` for this network, as docker/cli sends it.
    pub fn create_request(&self, name: &str) -> NetworkCreateRequest {
        let ipam = (self.ipam_driver.is_some() || !self.ipam_subnets.is_empty()).then(|| Ipam {
            driver: self.ipam_driver.clone(),
            config: Some(
                self.ipam_subnets
                    .iter()
                    .map(|s| IpamConfig {
                        subnet: Some(s.clone()),
                        ..IpamConfig::default()
                    })
                    .collect(),
            ),
            options: None,
        });
        NetworkCreateRequest {
            name: name.to_string(),
            driver: Some(self.driver.clone()),
            internal: Some(self.internal),
            attachable: Some(self.attachable),
            ipam,
            options: (!self.driver_opts.is_empty()).then(|| self.driver_opts.clone()),
            labels: Some(self.labels.clone()),
            ..NetworkCreateRequest::default()
        }
    }
}

/// A secret or config of the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct FileObjectPlan {
    pub labels: HashMap<String, String>,
    pub source: ObjectSource,
}

/// Where a secret's or config's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectSource {
    /// Read this file (absolute) and create the object with its contents.
    File(PathBuf),
    /// The object exists already under its name; create nothing.
    External,
}

/// `<stack>_<name>`.
pub fn scoped(stack: &str, name: &str) -> String {
    format!("{stack}_{name}")
}

/// `labels` plus the namespace label.
pub fn with_stack_label(stack: &str, labels: &BTreeMap<String, String>) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = labels.clone().into_iter().collect();
    out.insert(LABEL_NAMESPACE.to_string(), stack.to_string());
    out
}

/// Converts a loaded project into the objects of stack `stack`.
pub fn convert(stack: &str, project: &Compose) -> Result<StackPlan, ConvertError> {
    let mut services = Vec::new();
    for (name, svc) in &project.services {
        services.push((
            scoped(stack, name),
            service::convert_service(stack, name, svc, project)?,
        ));
    }
    Ok(StackPlan {
        services,
        networks: networks(stack, project),
        secrets: file_objects(stack, "secret", &project.secrets)?,
        configs: file_objects(stack, "config", &project.configs)?,
        warnings: project.warnings.clone(),
    })
}

fn networks(stack: &str, project: &Compose) -> Vec<(String, NetworkPlan)> {
    let mut used = BTreeSet::new();
    for svc in project.services.values() {
        if svc.networks.is_empty() {
            used.insert(DEFAULT_NETWORK.to_string());
        }
        used.extend(svc.networks.keys().cloned());
    }
    let mut out = Vec::new();
    for key in used {
        // An undefined network is reported by the service that uses it.
        let Some(def) = project
            .networks
            .get(&key)
            .cloned()
            .or_else(|| (key == DEFAULT_NETWORK).then(Default::default))
        else {
            continue;
        };
        let name = def.name.clone().unwrap_or_else(|| scoped(stack, &key));
        let plan = if def.external {
            NetworkPlan {
                external: true,
                ..NetworkPlan::default()
            }
        } else {
            let ipam = def.ipam.clone().unwrap_or_default();
            NetworkPlan {
                driver: def
                    .driver
                    .clone()
                    .unwrap_or_else(|| DEFAULT_NETWORK_DRIVER.to_string()),
                driver_opts: def.driver_opts.clone().into_iter().collect(),
                attachable: def.attachable,
                internal: def.internal,
                ipam_driver: ipam.driver,
                ipam_subnets: ipam.config.into_iter().filter_map(|c| c.subnet).collect(),
                labels: with_stack_label(stack, &def.labels),
                external: false,
            }
        };
        out.push((name, plan));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn file_objects(
    stack: &str,
    kind: &str,
    defs: &BTreeMap<String, crate::model::FileObjectDef>,
) -> Result<Vec<(String, FileObjectPlan)>, ConvertError> {
    let mut out = Vec::new();
    for (key, def) in defs {
        let name = def.name.clone().unwrap_or_else(|| scoped(stack, key));
        let source = match (&def.file, def.external) {
            (_, true) => ObjectSource::External,
            (Some(file), false) => ObjectSource::File(PathBuf::from(file)),
            (None, false) => {
                return Err(ConvertError::NoObjectSource {
                    kind: kind.to_string(),
                    name: key.clone(),
                });
            }
        };
        let labels = match source {
            ObjectSource::External => HashMap::new(),
            ObjectSource::File(_) => with_stack_label(stack, &def.labels),
        };
        out.push((name, FileObjectPlan { labels, source }));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
