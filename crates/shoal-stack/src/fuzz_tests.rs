//! Property-based fuzzing of compose files, the largest parser that takes a user's text:
//! generated documents made of compose keys and YAML syntax (anchors, merge keys, flow and
//! block collections, interpolation, odd scalars) and raw text go through loading,
//! interpolation, validation, conversion and `stack config` rendering. The property: every
//! input is loaded or refused with an error, never a panic.

use crate::loader::{ComposeFile, load};
use proptest::prelude::*;
use std::path::Path;

const KEYS: &[&str] = &[
    "version",
    "services",
    "networks",
    "volumes",
    "secrets",
    "configs",
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "deploy",
    "replicas",
    "mode",
    "resources",
    "limits",
    "reservations",
    "memory",
    "cpus",
    "restart_policy",
    "condition",
    "update_config",
    "rollback_config",
    "parallelism",
    "delay",
    "order",
    "placement",
    "constraints",
    "preferences",
    "labels",
    "healthcheck",
    "test",
    "interval",
    "retries",
    "target",
    "published",
    "protocol",
    "external",
    "driver",
    "driver_opts",
    "attachable",
    "aliases",
    "file",
    "name",
    "source",
    "uid",
    "gid",
    "x-common",
    "<<",
    "extends",
    "depends_on",
    "hostname",
    "dns",
    "tmpfs",
    "ulimits",
    "nofile",
    "soft",
    "hard",
    "endpoint_mode",
    "max_replicas_per_node",
    "stop_grace_period",
    "read_only",
    "init",
];

const SCALARS: &[&str] = &[
    "busybox",
    "\"3.8\"",
    "3.10",
    "yes",
    "no",
    "on",
    "off",
    "~",
    "null",
    "1",
    "-1",
    "0o17",
    "0x1F",
    "1e400",
    "18446744073709551616",
    "8080:80",
    "\"8080:80/udp\"",
    "1.5G",
    "512m",
    "10s",
    "1h2m",
    "\"${HOME}\"",
    "${UNSET:-default}",
    "${REQUIRED:?missing}",
    "$$",
    "${",
    "*anchor",
    "&anchor x",
    "!!binary aGk=",
    "[]",
    "{}",
    "'quoted'",
    "\"\\u0000\"",
    "|",
    ">-",
    ".inf",
    "-.nan",
    "2001-01-01",
    "a=b",
    "[a, b]",
    "{a: b}",
];

/// A YAML-ish document built from compose keys, scalars and indentation.
fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            0usize..4,
            prop::sample::select(KEYS),
            prop::option::of(prop::sample::select(SCALARS)),
            any::<bool>(),
        ),
        0..30,
    )
    .prop_map(|lines| {
        let mut out = String::new();
        for (indent, key, value, dash) in lines {
            out.push_str(&"  ".repeat(indent));
            if dash {
                out.push_str("- ");
            }
            out.push_str(key);
            out.push(':');
            if let Some(v) = value {
                out.push(' ');
                out.push_str(v);
            }
            out.push('\n');
        }
        out
    })
}

fn load_and_convert(text: &str) {
    let files = [ComposeFile {
        name: "docker-compose.yml".into(),
        content: text.to_string(),
    }];
    let lookup = |name: &str| (name == "HOME").then(|| "/root".to_string());
    let read = |_: &Path| -> std::io::Result<String> { Ok("A=1\nB=two\n".into()) };
    if let Ok(project) = load(&files, Path::new("/project"), &lookup, &read) {
        let _ = crate::render_config(&project);
        let _ = crate::convert("fuzz", &project);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_compose_documents_load_or_are_refused(doc in document()) {
        load_and_convert(&doc);
        load_and_convert(&format!("version: \"3.8\"\nservices:\n  web:\n{}", doc.lines().map(|l| format!("    {l}\n")).collect::<String>()));
    }

    #[test]
    fn raw_text_loads_or_is_refused(text in "\\PC{0,200}") {
        load_and_convert(&text);
    }
}
