//! Service spec validation, with swarmkit's and moby's wording.

use shoal_types::ValidationError;
use shoal_types::api::{ServiceSpec, TaskSpecRestartPolicyConditionEnum};
use shoal_types::service::{PROXY_PROTOCOL_LABEL, proxy_protocol_ports};

/// Longest service name (a DNS label).
pub const MAX_NAME_LEN: usize = 63;
/// Smallest CPU reservation or limit swarmkit accepts: 0.001 CPU.
pub const MIN_NANO_CPUS: i64 = 1_000_000;
/// Smallest memory reservation or limit swarmkit accepts: 4 MiB.
pub const MIN_MEMORY_BYTES: i64 = 4 * 1024 * 1024;
/// Largest service spec, encoded as JSON. A service stores its previous spec beside the
/// current one and each task carries a copy of the task template, and every one of those
/// objects must fit in one raft transaction: half of it, less 64 KiB for the rest of the
/// service (status, endpoint, metadata).
pub const MAX_SERVICE_SPEC_BYTES: usize = shoal_store::MAX_PROPOSAL_BYTES / 2 - 64 * 1024;

fn err(msg: impl Into<String>) -> ValidationError {
    ValidationError::new(msg)
}

/// `^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`, at most 63 characters.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(err(
            "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component"
                .to_string(),
        ))
    }
}

/// A docker image reference: `[registry[:port]/]path[:tag][@digest]`, lowercase path.
pub fn validate_image(image: &str) -> Result<(), ValidationError> {
    let invalid = || {
        err(format!(
            "rpc error: code = InvalidArgument desc = ContainerSpec: \"{image}\" is not a valid repository/tag"
        ))
    };
    if image.is_empty() {
        return Err(err(
            "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided",
        ));
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let Some((algo, hex)) = d.split_once(':') else {
            return Err(invalid());
        };
        if algo.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid());
        }
    }
    // Split a tag off the last path component only (a registry port also has a colon).
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (path, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(tag) = tag {
        let valid_tag = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid_tag {
            return Err(invalid());
        }
    }
    if path.is_empty() || path.starts_with('/') || path.ends_with('/') || path.contains("//") {
        return Err(invalid());
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    // A first component with '.' or ':' (or "localhost") is a registry host.
    if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        parts.remove(0);
    }
    for p in parts {
        let ok = !p.is_empty()
            && p.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
            && p.chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars()
                .last()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !ok {
            return Err(invalid());
        }
    }
    Ok(())
}

/// Placement constraint syntax: `<key> == <value>` or `<key> != <value>` with a known key.
pub fn validate_constraint(c: &str) -> Result<(), ValidationError> {
    let bad = || {
        err(format!(
            "rpc error: code = InvalidArgument desc = invalid constraint: {c}"
        ))
    };
    let (key, value) = if let Some((k, v)) = c.split_once("==") {
        (k, v)
    } else if let Some((k, v)) = c.split_once("!=") {
        (k, v)
    } else {
        return Err(bad());
    };
    let key = key.trim();
    let value = value.trim();
    if key.is_empty() || value.is_empty() || value.contains("==") || value.contains("!=") {
        return Err(bad());
    }
    let k = key.to_ascii_lowercase();
    let known = matches!(
        k.as_str(),
        "node.id" | "node.hostname" | "node.role" | "node.platform.os" | "node.platform.arch"
    ) || (k.starts_with("node.labels.") && k.len() > "node.labels.".len())
        || (k.starts_with("engine.labels.") && k.len() > "engine.labels.".len());
    if !known {
        return Err(bad());
    }
    Ok(())
}

/// Refuses a spec too large to be stored (see [`MAX_SERVICE_SPEC_BYTES`]), naming the limit.
pub fn validate_spec_size(spec: &ServiceSpec) -> Result<(), ValidationError> {
    let size = serde_json::to_vec(spec).map(|v| v.len()).unwrap_or(0);
    if size > MAX_SERVICE_SPEC_BYTES {
        return Err(err(format!(
            "rpc error: code = InvalidArgument desc = service spec is too large: {size} bytes, the limit is {MAX_SERVICE_SPEC_BYTES} bytes (the current and the previous spec must fit together in one raft transaction of {} bytes)",
            shoal_store::MAX_PROPOSAL_BYTES
        )));
    }
    Ok(())
}

/// Everything checked before a service is created or updated.
/// swarmkit's `validateEndpointSpec`: ports in range, no port published twice, and no
/// ingress-mode port with endpoint mode `dnsrr`.
fn validate_endpoint(spec: &ServiceSpec) -> Result<(), ValidationError> {
    use crate::allocator::state::{is_dnsrr, is_ingress_port, protocol_of, spec_ports};
    let ports = spec_ports(spec);
    if is_dnsrr(spec) && ports.iter().any(is_ingress_port) {
        return Err(err(
            "rpc error: code = InvalidArgument desc = EndpointSpec: port published with ingress mode can't be used with dnsrr mode",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in ports {
        let target = p.target_port.unwrap_or(0);
        let published = p.published_port.unwrap_or(0);
        if !(0..=65535).contains(&target) || !(0..=65535).contains(&published) {
            return Err(err(format!(
                "rpc error: code = InvalidArgument desc = EndpointSpec: port {published}:{target} is out of range"
            )));
        }
        if published > 0 && !seen.insert((protocol_of(p), published, is_ingress_port(p))) {
            return Err(err(format!(
                "rpc error: code = InvalidArgument desc = EndpointSpec: duplicate published ports provided: {published}"
            )));
        }
    }
    Ok(())
}

/// The PROXY protocol label (shoal's own, see [`PROXY_PROTOCOL_LABEL`]) names only published
/// ingress TCP ports of the service: the proxy serves a published port through the mesh,
/// and a port published later would not take the header by surprise.
fn validate_proxy_protocol(spec: &ServiceSpec) -> Result<(), ValidationError> {
    use crate::allocator::state::{is_ingress_port, protocol_of, spec_ports};
    let wanted = proxy_protocol_ports(spec)
        .map_err(|e| err(format!("rpc error: code = InvalidArgument desc = {e}")))?;
    let published: std::collections::BTreeSet<u16> = spec_ports(spec)
        .iter()
        .filter(|p| is_ingress_port(p) && protocol_of(p) == "tcp")
        .filter_map(|p| p.published_port.and_then(|n| u16::try_from(n).ok()))
        .filter(|n| *n > 0)
        .collect();
    match wanted.difference(&published).next() {
        None => Ok(()),
        Some(port) => {
            let list: Vec<String> = published.iter().map(u16::to_string).collect();
            Err(err(format!(
                "rpc error: code = InvalidArgument desc = label {PROXY_PROTOCOL_LABEL}: port {port} is not a published ingress TCP port of this service (its published ingress TCP ports: {}); publish it first, e.g. --publish {port}:<target port>",
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            )))
        }
    }
}

pub fn validate_service_spec(spec: &ServiceSpec) -> Result<(), ValidationError> {
    validate_spec_size(spec)?;
    validate_name(spec.name.as_deref().unwrap_or_default())?;
    let task = spec
        .task_template
        .as_ref()
        .ok_or_else(|| err("rpc error: code = InvalidArgument desc = TaskSpec: missing runtime"))?;
    let container = task.container_spec.as_ref().ok_or_else(|| {
        err("rpc error: code = InvalidArgument desc = ContainerSpec: missing in service spec")
    })?;
    validate_image(container.image.as_deref().unwrap_or_default())?;
    validate_endpoint(spec)?;
    validate_proxy_protocol(spec)?;
    if let Some(mode) = &spec.mode {
        let set = [
            mode.replicated.is_some(),
            mode.global.is_some(),
            mode.replicated_job.is_some(),
            mode.global_job.is_some(),
        ]
        .into_iter()
        .filter(|b| *b)
        .count();
        if set > 1 {
            return Err(err(
                "rpc error: code = InvalidArgument desc = service mode must be exactly one of replicated, global, replicated-job, global-job",
            ));
        }
        if let Some(r) = mode.replicated.as_ref().and_then(|r| r.replicas)
            && r < 0
        {
            return Err(err(
                "rpc error: code = InvalidArgument desc = Replicas must be non-negative",
            ));
        }
        if let Some(job) = &mode.replicated_job
            && (job.max_concurrent.is_some_and(|m| m < 0)
                || job.total_completions.is_some_and(|t| t < 0))
        {
            return Err(err(
                "rpc error: code = InvalidArgument desc = MaxConcurrent and TotalCompletions must be non-negative",
            ));
        }
    }
    if let Some(placement) = &task.placement {
        for c in placement.constraints.iter().flatten() {
            validate_constraint(c)?;
        }
        for p in placement.preferences.iter().flatten() {
            if let Some(spread) = p
                .spread
                .as_ref()
                .and_then(|s| s.spread_descriptor.as_deref())
                && spread.is_empty()
            {
                return Err(err(
                    "rpc error: code = InvalidArgument desc = spread preference needs a descriptor",
                ));
            }
        }
    }
    if let Some(res) = &task.resources {
        for (what, r) in [
            (
                "reservation",
                res.reservations
                    .as_ref()
                    .map(|r| (r.nano_cpus, r.memory_bytes)),
            ),
            (
                "limit",
                res.limits.as_ref().map(|l| (l.nano_cpus, l.memory_bytes)),
            ),
        ] {
            if let Some((cpu, mem)) = r {
                if cpu.is_some_and(|c| c != 0 && c < MIN_NANO_CPUS) {
                    return Err(err(format!(
                        "rpc error: code = InvalidArgument desc = invalid cpu value {}: Must be at least 0.001",
                        cpu.unwrap_or(0) as f64 / 1e9
                    )));
                }
                if mem.is_some_and(|m| m != 0 && m < MIN_MEMORY_BYTES) {
                    return Err(err(format!(
                        "rpc error: code = InvalidArgument desc = invalid memory {what} {}: Must be at least 4MiB",
                        mem.unwrap_or(0)
                    )));
                }
            }
        }
    }
    if let Some(rp) = &task.restart_policy {
        if rp.delay.is_some_and(|d| d < 0) || rp.window.is_some_and(|w| w < 0) {
            return Err(err(
                "rpc error: code = InvalidArgument desc = TaskSpec: restart-delay and restart-window cannot be negative",
            ));
        }
        if rp.max_attempts.is_some_and(|m| m < 0) {
            return Err(err(
                "rpc error: code = InvalidArgument desc = TaskSpec: restart-max-attempts cannot be negative",
            ));
        }
        let _ = rp
            .condition
            .unwrap_or(TaskSpecRestartPolicyConditionEnum::EMPTY); // any enum value is valid
    }
    if let Some(sgp) = container.stop_grace_period
        && sgp < 0
    {
        return Err(err(
            "rpc error: code = InvalidArgument desc = ContainerSpec: stop-grace-period cannot be negative",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_too_large_to_store_is_refused_naming_the_limit() {
        let spec = |bytes: usize| ServiceSpec {
            name: Some("big".into()),
            labels: Some([("blob".to_string(), "x".repeat(bytes))].into()),
            ..Default::default()
        };
        assert_eq!(validate_spec_size(&spec(16 * 1024)), Ok(()));
        let e = validate_spec_size(&spec(MAX_SERVICE_SPEC_BYTES)).expect_err("too large");
        assert!(
            e.0.contains("service spec is too large")
                && e.0
                    .contains(&format!("the limit is {MAX_SERVICE_SPEC_BYTES} bytes")),
            "{}",
            e.0
        );
    }

    #[test]
    fn the_proxy_protocol_label_names_only_published_ingress_tcp_ports() {
        use shoal_types::api::{
            EndpointPortConfig, EndpointPortConfigProtocolEnum as Proto,
            EndpointPortConfigPublishModeEnum as Mode, EndpointSpec,
        };
        let port = |published: i64, proto: Proto, mode: Option<Mode>| EndpointPortConfig {
            target_port: Some(80),
            published_port: Some(published),
            protocol: Some(proto),
            publish_mode: mode,
            ..Default::default()
        };
        let spec = |label: &str| ServiceSpec {
            labels: Some([(PROXY_PROTOCOL_LABEL.to_string(), label.to_string())].into()),
            endpoint_spec: Some(EndpointSpec {
                ports: Some(vec![
                    port(8080, Proto::TCP, None),
                    port(8443, Proto::TCP, Some(Mode::INGRESS)),
                    port(9000, Proto::UDP, None),
                    port(8090, Proto::TCP, Some(Mode::HOST)),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(validate_proxy_protocol(&spec("8080")), Ok(()));
        assert_eq!(validate_proxy_protocol(&spec("8443,8080")), Ok(()));
        assert_eq!(validate_proxy_protocol(&ServiceSpec::default()), Ok(()));
        for (label, bad) in [("9000", "9000"), ("8090", "8090"), ("8080,7000", "7000")] {
            let e = validate_proxy_protocol(&spec(label)).expect_err(label);
            assert!(
                e.0.contains(&format!(
                    "port {bad} is not a published ingress TCP port of this service (its published ingress TCP ports: 8080, 8443)"
                )),
                "{}",
                e.0
            );
        }
        let e = validate_proxy_protocol(&spec("web")).expect_err("not a port");
        assert!(e.0.contains("'web' is not a port"), "{}", e.0);
    }

    #[test]
    fn names_follow_dns_rules() {
        assert!(validate_name("web").is_ok());
        assert!(validate_name("my_web-1").is_ok());
        assert!(validate_name("-web").is_err());
        assert!(validate_name("web.1").is_err());
        assert!(validate_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn image_references() {
        for ok in [
            "busybox",
            "busybox:1.36",
            "shoal-test/busybox:latest",
            "localhost:5000/a/b:c",
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(validate_image(ok).is_ok(), "{ok}");
        }
        for bad in ["", "UPPER", "a::b", "busybox:", "foo//bar", "bad image"] {
            assert!(validate_image(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn constraints() {
        for ok in [
            "node.role==manager",
            "node.labels.zone != east",
            "engine.labels.x==1",
            "node.hostname==h",
        ] {
            assert!(validate_constraint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "node.role=manager",
            "foo==bar",
            "node.role==",
            "==x",
            "node.labels.==x",
        ] {
            assert!(validate_constraint(bad).is_err(), "{bad}");
        }
    }
}
