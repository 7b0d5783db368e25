//! `volumes:` entries of a service: the short syntax `[source:]target[:options]` and the long
//! syntax `{type, source, target, read_only, bind, volume, tmpfs}`.
//!
//! The short syntax follows docker/cli `loader.ParseVolume`: a source starting with `/`, `.`
//! or `~` is a bind mount, any other source a named volume, no source an anonymous volume;
//! options are `ro`/`rw`, `nocopy`, a bind propagation or a consistency.

use serde::{Deserialize, Serialize};

use super::syntax::{ByteSize, ShortSyntax, bytes_as_integer, is_false};

/// One mount of a service, in the long syntax.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolume {
    /// `volume`, `bind` or `tmpfs` (`npipe`, `cluster` are refused by convert).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeOptions {
    #[serde(default, skip_serializing_if = "is_false")]
    pub nocopy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfsOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "bytes_as_integer")]
    pub size: Option<ByteSize>,
    /// File mode of the tmpfs root (decimal in JSON, `0o1777` written `01777` in YAML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

const PROPAGATIONS: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];
const CONSISTENCIES: &[&str] = &["consistent", "cached", "delegated"];

fn is_path(source: &str) -> bool {
    source.starts_with('/') || source.starts_with('.') || source.starts_with('~')
}

impl ShortSyntax for ServiceVolume {
    fn from_short(spec: &str) -> Result<Vec<Self>, String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, target, options) = match parts.as_slice() {
            [target] => ("", *target, ""),
            [source, target] => (*source, *target, ""),
            [source, target, options] => (*source, *target, *options),
            _ => return Err(format!("invalid volume specification {spec:?}")),
        };
        if target.is_empty() {
            return Err(format!(
                "invalid volume specification {spec:?}: empty target"
            ));
        }
        let mut volume = ServiceVolume {
            kind: if is_path(source) { "bind" } else { "volume" }.to_string(),
            source: (!source.is_empty()).then(|| source.to_string()),
            target: target.to_string(),
            read_only: false,
            consistency: None,
            bind: None,
            volume: None,
            tmpfs: None,
        };
        for option in options.split(',').filter(|o| !o.is_empty()) {
            match option {
                "ro" => volume.read_only = true,
                "rw" => volume.read_only = false,
                // SELinux relabelling only applies to `docker run`.
                "z" | "Z" => {}
                "nocopy" => {
                    volume.volume = Some(VolumeOptions {
                        nocopy: true,
                        subpath: None,
                    })
                }
                p if PROPAGATIONS.contains(&p) => {
                    volume.bind = Some(BindOptions {
                        propagation: Some(p.to_string()),
                    })
                }
                c if CONSISTENCIES.contains(&c) => volume.consistency = Some(c.to_string()),
                other => {
                    return Err(format!(
                        "invalid volume specification {spec:?}: unknown option {other:?}"
                    ));
                }
            }
        }
        Ok(vec![volume])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(spec: &str) -> ServiceVolume {
        ServiceVolume::from_short(spec).unwrap().remove(0)
    }

    #[test]
    fn short_syntax_kinds() {
        let named = short("data:/var/lib/data:ro");
        assert_eq!(named.kind, "volume");
        assert_eq!(named.source.as_deref(), Some("data"));
        assert!(named.read_only);

        let bind = short("./conf:/etc/conf:rshared");
        assert_eq!(bind.kind, "bind");
        assert_eq!(bind.bind.unwrap().propagation.as_deref(), Some("rshared"));

        let anonymous = short("/cache");
        assert_eq!(
            (anonymous.kind.as_str(), anonymous.source),
            ("volume", None)
        );

        assert!(short("data:/d:nocopy").volume.unwrap().nocopy);
        assert!(ServiceVolume::from_short("a:/b:bogus").is_err());
    }
}
