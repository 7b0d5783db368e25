//! The node description from `docker info`, as swarmkit's executor `Describe` builds it.

use bollard::models::{
    EngineDescription, EngineDescriptionPlugins, Platform, ResourceObject, SystemInfo,
};
use shoal_types::api::NodeDescription;
use std::collections::HashMap;

/// One CPU in the NanoCPUs unit.
const NANO_CPUS_PER_CPU: i64 = 1_000_000_000;

/// Engine labels come as `key=value` strings; a label without `=` has an empty value.
pub fn parse_labels(labels: &[String]) -> HashMap<String, String> {
    labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// Hostname, platform (architecture as the engine reports it, e.g. `x86_64`, which is what
/// Docker shows for swarm nodes), CPUs and memory, engine version, labels and plugins.
pub fn node_description(info: &SystemInfo) -> NodeDescription {
    let mut plugins = Vec::new();
    if let Some(p) = &info.plugins {
        for (kind, names) in [
            ("Log", &p.log),
            ("Network", &p.network),
            ("Volume", &p.volume),
        ] {
            for name in names.iter().flatten() {
                plugins.push(EngineDescriptionPlugins {
                    typ: Some(kind.into()),
                    name: Some(name.clone()),
                });
            }
        }
    }
    NodeDescription {
        hostname: info.name.clone(),
        platform: Some(Platform {
            architecture: info.architecture.clone(),
            os: info.os_type.clone(),
        }),
        resources: Some(ResourceObject {
            nano_cpus: info.ncpu.map(|n| n.saturating_mul(NANO_CPUS_PER_CPU)),
            memory_bytes: info.mem_total,
            generic_resources: None,
        }),
        engine: Some(EngineDescription {
            engine_version: info.server_version.clone(),
            labels: Some(parse_labels(info.labels.as_deref().unwrap_or_default())),
            plugins: Some(plugins),
        }),
        tls_info: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn info_becomes_a_node_description() {
        let info = SystemInfo {
            name: Some("host1".into()),
            ncpu: Some(4),
            mem_total: Some(8 << 30),
            os_type: Some("linux".into()),
            architecture: Some("x86_64".into()),
            server_version: Some("20.10.24".into()),
            labels: Some(vec!["zone=a".into(), "gpu".into()]),
            ..Default::default()
        };
        let d = node_description(&info);
        assert_eq!(d.hostname.as_deref(), Some("host1"));
        let p = d.platform.unwrap();
        assert_eq!(
            (p.os.as_deref(), p.architecture.as_deref()),
            (Some("linux"), Some("x86_64"))
        );
        let r = d.resources.unwrap();
        assert_eq!(
            (r.nano_cpus, r.memory_bytes),
            (Some(4_000_000_000), Some(8 << 30))
        );
        let e = d.engine.unwrap();
        assert_eq!(e.engine_version.as_deref(), Some("20.10.24"));
        let labels = e.labels.unwrap();
        assert_eq!((labels["zone"].as_str(), labels["gpu"].as_str()), ("a", ""));
    }
}
