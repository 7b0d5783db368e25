//! What `service create` sends, checked against the bodies docker sends (reference §3.1).

use super::*;
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
struct T {
    #[command(flatten)]
    a: CreateArgs,
}

fn body(args: &[&str]) -> Result<Value, String> {
    let mut all = vec!["t"];
    all.extend_from_slice(args);
    let a = T::try_parse_from(all).map_err(|e| e.to_string())?.a;
    let lookup = |k: &str| (k == "FROM_ENV").then(|| "yes".to_string());
    build(&a, &[], &lookup).map(|s| to_docker_json(&s))
}

#[test]
fn a_plain_create_matches_docker() {
    let b = body(&[
        "--name",
        "web",
        "--replicas",
        "3",
        "-p",
        "8080:80",
        "nginx:latest",
    ])
    .expect("valid");
    assert_eq!(
        b,
        json!({
            "Name": "web", "Labels": {},
            "TaskTemplate": {"ContainerSpec": {"Image": "nginx:latest", "Init": false, "DNSConfig": {}},
                             "Resources": {"Limits": {}, "Reservations": {}},
                             "Placement": {},
                             "ForceUpdate": 0},
            "Mode": {"Replicated": {"Replicas": 3}},
            "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]}
        })
    );
}

#[test]
fn replicas_are_omitted_when_not_given() {
    let b = body(&["alpine"]).expect("valid");
    assert_eq!(b["Mode"], json!({"Replicated": {}}));
    assert!(b.get("Name").is_none());
}

#[test]
fn command_env_labels_and_container_options() {
    let b = body(&[
        "--name",
        "app",
        "-e",
        "A=1",
        "-e",
        "FROM_ENV",
        "-e",
        "A=2",
        "--label",
        "team=x",
        "--container-label",
        "c=1",
        "--workdir",
        "/srv",
        "--user",
        "1000",
        "--hostname",
        "h",
        "--init",
        "--stop-signal",
        "SIGINT",
        "--stop-grace-period",
        "30s",
        "--entrypoint",
        "sh -c",
        "--mount",
        "type=bind,source=/data,target=/data,readonly",
        "alpine",
        "echo",
        "--not-a-flag",
    ])
    .expect("valid");
    let cs = &b["TaskTemplate"]["ContainerSpec"];
    assert_eq!(cs["Env"], json!(["FROM_ENV=yes", "A=2"]));
    assert_eq!(cs["Command"], json!(["sh", "-c"]));
    assert_eq!(cs["Args"], json!(["echo", "--not-a-flag"]));
    assert_eq!(cs["Labels"], json!({"c": "1"}));
    assert_eq!(cs["Dir"], "/srv");
    assert_eq!(cs["User"], "1000");
    assert_eq!(cs["Hostname"], "h");
    assert_eq!(cs["Init"], true);
    assert_eq!(cs["StopSignal"], "SIGINT");
    assert_eq!(cs["StopGracePeriod"], 30_000_000_000i64);
    assert_eq!(
        cs["Mounts"],
        json!([{"Type": "bind", "Source": "/data", "Target": "/data", "ReadOnly": true}])
    );
    assert_eq!(b["Labels"], json!({"team": "x"}));
}

#[test]
fn resources_restart_placement_and_update_config() {
    let b = body(&[
        "--limit-cpu",
        "0.5",
        "--limit-memory",
        "512M",
        "--reserve-cpu",
        "0.25",
        "--reserve-memory",
        "1g",
        "--restart-condition",
        "on-failure",
        "--restart-max-attempts",
        "3",
        "--constraint",
        "node.role==manager",
        "--placement-pref",
        "spread=node.labels.zone",
        "--replicas-max-per-node",
        "2",
        "--update-parallelism",
        "2",
        "--update-delay",
        "10s",
        "--update-order",
        "start-first",
        "--rollback-monitor",
        "1m",
        "nginx",
    ])
    .expect("valid");
    let t = &b["TaskTemplate"];
    assert_eq!(
        t["Resources"],
        json!({"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 536_870_912i64},
                                       "Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 1_073_741_824i64}})
    );
    assert_eq!(
        t["RestartPolicy"],
        json!({"Condition": "on-failure", "Delay": 5_000_000_000i64, "MaxAttempts": 3})
    );
    assert_eq!(
        t["Placement"],
        json!({"Constraints": ["node.role==manager"],
                                       "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
                                       "MaxReplicas": 2})
    );
    assert_eq!(
        b["UpdateConfig"],
        json!({"Parallelism": 2, "Delay": 10_000_000_000i64, "FailureAction": "pause",
                                          "Monitor": 5_000_000_000i64, "MaxFailureRatio": 0.0, "Order": "start-first"})
    );
    assert_eq!(
        b["RollbackConfig"],
        json!({"Parallelism": 1, "FailureAction": "pause", "Monitor": 60_000_000_000i64,
                                            "MaxFailureRatio": 0.0, "Order": "stop-first"})
    );
}

#[test]
fn healthcheck_uses_docker_field_name() {
    let b = body(&[
        "--health-cmd",
        "curl -f localhost",
        "--health-interval",
        "5s",
        "--health-retries",
        "3",
        "nginx",
    ])
    .expect("valid");
    let cs = &b["TaskTemplate"]["ContainerSpec"];
    assert!(cs.get("HealthCheck").is_none());
    assert_eq!(
        cs["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5_000_000_000i64, "Retries": 3})
    );
    let b = body(&["--no-healthcheck", "nginx"]).expect("valid");
    assert_eq!(
        b["TaskTemplate"]["ContainerSpec"]["Healthcheck"],
        json!({"Test": ["NONE"]})
    );
    assert!(body(&["--no-healthcheck", "--health-cmd", "x", "nginx"]).is_err());
}

#[test]
fn modes_follow_docker_rules() {
    assert_eq!(
        body(&["--mode", "global", "nginx"]).expect("valid")["Mode"],
        json!({"Global": {}})
    );
    assert_eq!(
        body(&[
            "--mode",
            "replicated-job",
            "--replicas",
            "4",
            "--max-concurrent",
            "2",
            "busybox"
        ])
        .expect("valid")["Mode"],
        json!({"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 4}})
    );
    assert_eq!(
        body(&["--mode", "global-job", "busybox"]).expect("valid")["Mode"],
        json!({"GlobalJob": {}})
    );
    assert!(body(&["--mode", "global", "--replicas", "2", "nginx"]).is_err());
    assert!(body(&["--mode", "replicated", "--max-concurrent", "2", "nginx"]).is_err());
    assert!(body(&["--mode", "replicated-job", "--update-delay", "1s", "nginx"]).is_err());
    assert!(body(&["--mode", "sideways", "nginx"]).is_err());
}

#[test]
fn images_get_the_latest_tag() {
    assert_eq!(tagged_image("nginx"), "nginx:latest");
    assert_eq!(tagged_image("nginx:1.27"), "nginx:1.27");
    assert_eq!(
        tagged_image("localhost:5000/app"),
        "localhost:5000/app:latest"
    );
    assert_eq!(tagged_image("nginx@sha256:abc"), "nginx@sha256:abc");
}
