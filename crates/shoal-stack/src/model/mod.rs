//! The typed compose project: format 3.x and the compose specification, restricted to what
//! `docker stack deploy` supports. Maps are `BTreeMap`s so that iteration, merging and the
//! printed config are in a stable (sorted) order.

pub mod deploy;
pub mod port;
pub mod service;
pub mod syntax;
pub mod volume;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use deploy::{
    Deploy, Placement, Preference, ResourceLimits, ResourceReservations, Resources, RestartPolicy,
    UpdateConfig,
};
pub use port::ServicePort;
pub use service::{FileRef, Healthcheck, Logging, Service, ServiceNetwork, Ulimit};
pub use syntax::{ByteSize, GoDuration};
pub use volume::{BindOptions, ServiceVolume, TmpfsOptions, VolumeOptions};

use syntax::{external_flag, is_false, label_map};

/// A whole project after interpolation, typing and path resolution (and merging, when it
/// came from several files).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compose {
    /// `version: "3.8"`; informative only, the newest schema is always accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The compose-spec project name; a stack takes its name from the command line.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkDef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, VolumeDef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, FileObjectDef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, FileObjectDef>,
    /// Warnings of loading (ignored keys), in order, without duplicates. Not printed by
    /// `stack config`; [`crate::convert`] passes them on in the plan.
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// `x-*` fields and the keys Swarm ignores, kept for `stack config` only.
    #[serde(skip)]
    pub extras: crate::extras::Extras,
}

/// A top-level network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDef {
    /// Defaults to `overlay` at convert time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, deserialize_with = "label_map")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "external_flag",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    /// The real network name; set to the key for external networks without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(default, deserialize_with = "label_map")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
}

/// A top-level named volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, deserialize_with = "label_map")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "external_flag",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "label_map")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A top-level secret or config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileObjectDef {
    /// The file holding the data; made absolute against the project directory when loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(
        default,
        deserialize_with = "external_flag",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "label_map")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `template_driver: golang`: kept and printed, but shoal does not render templates; the
    /// loader warns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
}
