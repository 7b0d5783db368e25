//! One entry of `services:`. Field names are the compose keys; every alternative spelling is
//! normalised while typing (see [`super::syntax`]), so merge and convert see one shape.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::deploy::Deploy;
use super::port::ServicePort;
use super::syntax::{
    self, GoDuration, ShortSyntax, env_map, extra_hosts, health_test, label_map, opt_command,
    short_or_long_list, string_or_list,
};
use super::volume::ServiceVolume;

/// The keys of a service Swarm supports, plus `restart` (warned about as unsupported, yet
/// used by docker/cli when `deploy.restart_policy` is absent, and so by us).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, deserialize_with = "opt_command")]
    #[serde(skip_serializing_if = "syntax::is_unset_or_empty")]
    pub command: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_command")]
    #[serde(skip_serializing_if = "syntax::is_unset_or_empty")]
    pub entrypoint: Option<Vec<String>>,
    /// `None` values are bare `KEY` entries that no environment variable resolved.
    #[serde(default, deserialize_with = "env_map")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Option<String>>,
    #[serde(default, deserialize_with = "string_or_list")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<String>,
    #[serde(default, deserialize_with = "label_map")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, deserialize_with = "short_or_long_list")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileRef>,
    #[serde(default, deserialize_with = "short_or_long_list")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileRef>,
    #[serde(default, deserialize_with = "short_or_long_list")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    #[serde(default, deserialize_with = "service_networks")]
    #[serde(
        serialize_with = "networks_out",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(default, deserialize_with = "short_or_long_list")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolume>,
    #[serde(default, deserialize_with = "string_or_list")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(default, deserialize_with = "label_map")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, deserialize_with = "extra_hosts")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(default, skip_serializing_if = "syntax::is_unset_or_false")]
    pub tty: Option<bool>,
    #[serde(default, skip_serializing_if = "syntax::is_unset_or_false")]
    pub stdin_open: Option<bool>,
    #[serde(default, skip_serializing_if = "syntax::is_unset_or_false")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
}

/// `healthcheck:`; `test` is already `["CMD-SHELL", s]` when written as a string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    #[serde(default, deserialize_with = "health_test")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "syntax::is_unset_or_false")]
    pub disable: Option<bool>,
}

/// A service's use of a secret or config: short `- name`, or the long syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// File mode; YAML `0440` is octal (288), as go-yaml reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

impl FileRef {
    /// The file name inside the container: `target`, or the source name.
    pub fn effective_target(&self) -> &str {
        self.target.as_deref().unwrap_or(&self.source)
    }
}

impl ShortSyntax for FileRef {
    fn from_short(text: &str) -> Result<Vec<Self>, String> {
        Ok(vec![FileRef {
            source: text.to_string(),
            ..FileRef::default()
        }])
    }
}

/// A service's attachment to one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, deserialize_with = "label_map")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
}

/// Prints an attachment without options as `null` (`networks: {front: null}`), as docker does.
fn networks_out<S: serde::Serializer>(
    networks: &BTreeMap<String, ServiceNetwork>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(networks.len()))?;
    for (name, network) in networks {
        if *network == ServiceNetwork::default() {
            map.serialize_entry(name, &None::<ServiceNetwork>)?;
        } else {
            map.serialize_entry(name, network)?;
        }
    }
    map.end()
}

/// `networks: [a, b]` or `networks: {a: {aliases: [...]}, b: }`.
fn service_networks<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, ServiceNetwork>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = BTreeMap<String, ServiceNetwork>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of network names or a mapping")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(name) = seq.next_element::<String>()? {
                out.insert(name, ServiceNetwork::default());
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((name, net)) = map.next_entry::<String, ServiceNetwork>()? {
                out.insert(name, net);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// `ulimits: {nofile: 1024}` or `{nofile: {soft: 1024, hard: 2048}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Ulimit {
    Single(i64),
    Pair { soft: i64, hard: i64 },
}

impl Ulimit {
    /// `(soft, hard)`; a single value is both.
    pub fn limits(self) -> (i64, i64) {
        match self {
            Ulimit::Single(v) => (v, v),
            Ulimit::Pair { soft, hard } => (soft, hard),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UlimitPair {
    soft: i64,
    hard: i64,
}

impl<'de> Deserialize<'de> for Ulimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ulimit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or {soft, hard}")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ulimit, E> {
                Ok(Ulimit::Single(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ulimit, E> {
                i64::try_from(v).map(Ulimit::Single).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ulimit, E> {
                v.trim().parse().map(Ulimit::Single).map_err(|_| {
                    E::custom(format!(
                        "expected an integer or {{soft, hard}}, found {v:?}"
                    ))
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ulimit, A::Error> {
                let p = UlimitPair::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Ulimit::Pair {
                    soft: p.soft,
                    hard: p.hard,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `logging: {driver, options}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, deserialize_with = "syntax::label_map")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}
