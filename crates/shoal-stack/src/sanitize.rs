//! Removes what typing must not see: `x-` extension keys (top level, services and top-level
//! definitions) and the service keys Swarm ignores, which Docker reports as
//! `Ignoring unsupported options: <keys sorted, comma separated>`. The removed entries are not
//! lost: they come back as [`Extras`], which `stack config` prints.

use std::collections::BTreeSet;

use crate::extras::Extras;
use crate::yaml::Node;

/// Service keys that `docker stack deploy` accepts but does not apply (docker/cli
/// `UnsupportedProperties`, plus `container_name`/`expose`, which it calls deprecated, plus
/// `depends_on` and compose-spec keys with no Swarm meaning). `build` is among them.
pub const UNSUPPORTED_SERVICE_KEYS: &[&str] = &[
    "build",
    "cgroup_parent",
    "cgroupns_mode",
    "container_name",
    "cpu_shares",
    "cpuset",
    "depends_on",
    "devices",
    "domainname",
    "expose",
    "external_links",
    "ipc",
    "links",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "network_mode",
    "pid",
    "platform",
    "privileged",
    "profiles",
    "pull_policy",
    "restart",
    "scale",
    "security_opt",
    "shm_size",
    "userns_mode",
    "volumes_from",
];

/// Unsupported keys that stay in the model: docker/cli warns about `restart` yet uses it
/// when `deploy.restart_policy` is absent.
const KEPT_UNSUPPORTED: &[&str] = &["restart"];

/// The top-level sections whose entries are definitions that may carry `x-` keys.
const DEFINITION_SECTIONS: &[&str] = &["services", "networks", "volumes", "secrets", "configs"];

/// Strips extension and unsupported keys from a parsed file; returns the unsupported keys
/// that were present and everything removed.
pub fn sanitize(root: &mut Node) -> (BTreeSet<String>, Extras) {
    let mut ignored = BTreeSet::new();
    let mut extras = Extras::default();
    let Some(top) = root.as_map_mut() else {
        return (ignored, extras);
    };
    let (extensions, rest): (Vec<_>, Vec<_>) = std::mem::take(top)
        .into_iter()
        .partition(|e| e.key.starts_with("x-"));
    *top = rest;
    extras.top = extensions;
    for section in top.iter_mut() {
        if !DEFINITION_SECTIONS.contains(&section.key.as_str()) {
            continue;
        }
        let is_services = section.key == "services";
        let Some(definitions) = section.value.as_map_mut() else {
            continue;
        };
        for definition in definitions.iter_mut() {
            let Some(keys) = definition.value.as_map_mut() else {
                continue;
            };
            let mut kept = Vec::with_capacity(keys.len());
            for e in std::mem::take(keys) {
                let unsupported = is_services && UNSUPPORTED_SERVICE_KEYS.contains(&e.key.as_str());
                if unsupported {
                    ignored.insert(e.key.clone());
                }
                if unsupported && KEPT_UNSUPPORTED.contains(&e.key.as_str()) {
                    kept.push(e);
                } else if unsupported || (is_services && e.key.starts_with("x-")) {
                    extras.keep(&section.key, &definition.key, e);
                } else if e.key.starts_with("x-") {
                    // docker prints a network's, volume's, secret's or config's own `x-*`
                    // fields nowhere; they are dropped.
                } else {
                    kept.push(e);
                }
            }
            *keys = kept;
        }
    }
    (ignored, extras)
}

/// Docker's warning for the unsupported keys found, or `None`.
pub fn unsupported_warning(keys: &BTreeSet<String>) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    let list: Vec<&str> = keys.iter().map(String::as_str).collect();
    Some(format!("Ignoring unsupported options: {}", list.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    #[test]
    fn unsupported_keys_are_dropped_and_reported_sorted() {
        let text = "x-top: 1\nservices:\n  web:\n    image: a\n    restart: always\n    links: [db]\n    build: .\n    x-note: hi\n  db:\n    depends_on: [web]\n    container_name: d\n";
        let mut root = parse(text, "f").unwrap();
        let (found, extras) = sanitize(&mut root);
        assert_eq!(
            unsupported_warning(&found).unwrap(),
            "Ignoring unsupported options: build, container_name, depends_on, links, restart"
        );
        let top = root.as_map().unwrap();
        assert_eq!(top.len(), 1);
        let web = top[0].value.as_map().unwrap()[0].value.as_map().unwrap();
        let keys: Vec<&str> = web.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, vec!["image", "restart"]);
        assert_eq!(extras.top.len(), 1);
        let kept = |name: &str| -> Vec<String> {
            extras.definitions[&("services".to_string(), name.to_string())]
                .iter()
                .map(|e| e.key.clone())
                .collect()
        };
        assert_eq!(kept("web"), vec!["links", "build", "x-note"]);
        assert_eq!(kept("db"), vec!["depends_on", "container_name"]);
        assert_eq!(unsupported_warning(&BTreeSet::new()), None);
    }
}
