//! Conversion of realistic stacks, asserting the JSON docker/cli would send
//! (reference/engine-api-swarm.md §3.2 and §7).

use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::loader::{ComposeFile, load};

fn project(text: &str) -> Compose {
    let files = [ComposeFile {
        name: "app.yml".into(),
        content: text.into(),
    }];
    let lookup = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
    load(&files, Path::new("/srv/app"), &lookup, &|_| {
        Ok(String::new())
    })
    .unwrap()
}

fn plan(text: &str) -> StackPlan {
    convert("app", &project(text)).unwrap()
}

fn service_json(plan: &StackPlan, name: &str) -> Value {
    let spec = &plan.services.iter().find(|(n, _)| n == name).unwrap().1;
    serde_json::to_value(spec).unwrap()
}

const STACK: &str = r#"
version: "3.8"
services:
  web:
    image: nginx:alpine
    labels: [com.example.web=1]
    environment:
      B: "2"
      A: 1
    ports:
      - "8080:80"
      - target: 443
        published: 8443
        protocol: tcp
        mode: host
    configs:
      - source: nginx_conf
        target: /etc/nginx/conf.d/default.conf
    networks:
      front:
        aliases: [www]
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://localhost/"]
      interval: 30s
    deploy:
      replicas: 2
      labels: {tier: front}
      placement:
        constraints: ["node.role == manager"]
        preferences: [{spread: node.labels.zone}]
      restart_policy: {condition: on-failure}
      update_config: {parallelism: 1, delay: 10s, order: start-first}
  db:
    image: postgres:16
    secrets: [db_pass]
    environment: [POSTGRES_PASSWORD_FILE=/run/secrets/db_pass]
    volumes:
      - db_data:/var/lib/postgresql/data
      - ./init:/docker-entrypoint-initdb.d:ro
      - type: tmpfs
        target: /tmp
        tmpfs: {size: 64M}
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 256M}
        reservations: {cpus: 0.25, memory: 128M}
networks:
  front:
    attachable: true
    driver_opts: {encrypted: "true"}
    ipam: {config: [{subnet: 10.20.0.0/24}]}
  unused: {}
volumes:
  db_data:
secrets:
  db_pass:
    file: ./db_pass.txt
configs:
  nginx_conf:
    file: ./nginx.conf
"#;

#[test]
fn realistic_stack_converts_to_the_specs_docker_sends() {
    let plan = plan(STACK);
    let names: Vec<&str> = plan.services.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["app_db", "app_web"]);

    assert_eq!(
        service_json(&plan, "app_web"),
        json!({
            "Name": "app_web",
            "Labels": {
                "com.docker.stack.image": "nginx:alpine",
                "com.docker.stack.namespace": "app",
                "tier": "front"
            },
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "nginx:alpine",
                    "Labels": {"com.docker.stack.namespace": "app", "com.example.web": "1"},
                    "Env": ["A=1", "B=2"],
                    "Privileges": {"NoNewPrivileges": false},
                    "HealthCheck": {
                        "Test": ["CMD", "wget", "-qO-", "http://localhost/"],
                        "Interval": 30_000_000_000i64
                    },
                    "Configs": [{
                        "File": {"Name": "/etc/nginx/conf.d/default.conf", "UID": "0", "GID": "0", "Mode": 292},
                        "ConfigID": "",
                        "ConfigName": "app_nginx_conf"
                    }]
                },
                "Resources": {},
                "RestartPolicy": {"Condition": "on-failure"},
                "Placement": {
                    "Constraints": ["node.role == manager"],
                    "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]
                },
                "ForceUpdate": 0,
                "Networks": [{"Target": "app_front", "Aliases": ["www", "web"]}]
            },
            "Mode": {"Replicated": {"Replicas": 2}},
            "UpdateConfig": {
                "Parallelism": 1,
                "Delay": 10_000_000_000i64,
                "MaxFailureRatio": 0.0,
                "Order": "start-first"
            },
            "EndpointSpec": {"Ports": [
                {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
                {"Protocol": "tcp", "TargetPort": 443, "PublishedPort": 8443, "PublishMode": "host"}
            ]}
        })
    );

    assert_eq!(
        service_json(&plan, "app_db"),
        json!({
            "Name": "app_db",
            "Labels": {"com.docker.stack.image": "postgres:16", "com.docker.stack.namespace": "app"},
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "postgres:16",
                    "Labels": {"com.docker.stack.namespace": "app"},
                    "Env": ["POSTGRES_PASSWORD_FILE=/run/secrets/db_pass"],
                    "Privileges": {"NoNewPrivileges": false},
                    "Mounts": [
                        {
                            "Type": "volume",
                            "Source": "app_db_data",
                            "Target": "/var/lib/postgresql/data",
                            "VolumeOptions": {"Labels": {"com.docker.stack.namespace": "app"}}
                        },
                        {
                            "Type": "bind",
                            "Source": "/srv/app/init",
                            "Target": "/docker-entrypoint-initdb.d",
                            "ReadOnly": true
                        },
                        {"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 67_108_864}}
                    ],
                    "Secrets": [{
                        "File": {"Name": "db_pass", "UID": "0", "GID": "0", "Mode": 292},
                        "SecretID": "",
                        "SecretName": "app_db_pass"
                    }]
                },
                "Resources": {
                    "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 268_435_456},
                    "Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 134_217_728}
                },
                "Placement": {},
                "ForceUpdate": 0,
                "Networks": [{"Target": "app_default", "Aliases": ["db"]}]
            },
            "Mode": {"Replicated": {}},
            "EndpointSpec": {}
        })
    );
}

#[test]
fn only_used_networks_are_planned_with_labels_and_overlay_default() {
    let plan = plan(STACK);
    let names: Vec<&str> = plan.networks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["app_default", "app_front"]);
    let default = serde_json::to_value(plan.networks[0].1.create_request("app_default")).unwrap();
    assert_eq!(
        default,
        json!({
            "Name": "app_default",
            "Driver": "overlay",
            "Internal": false,
            "Attachable": false,
            "Labels": {"com.docker.stack.namespace": "app"}
        })
    );
    let front = serde_json::to_value(plan.networks[1].1.create_request("app_front")).unwrap();
    assert_eq!(front["Attachable"], json!(true));
    assert_eq!(front["Options"], json!({"encrypted": "true"}));
    assert_eq!(
        front["IPAM"],
        json!({"Config": [{"Subnet": "10.20.0.0/24"}]})
    );
}

#[test]
fn secrets_and_configs_are_named_labelled_and_read_from_the_project_dir() {
    let plan = plan(STACK);
    let (name, secret) = &plan.secrets[0];
    assert_eq!(name, "app_db_pass");
    assert_eq!(
        secret.source,
        ObjectSource::File("/srv/app/db_pass.txt".into())
    );
    assert_eq!(secret.labels[LABEL_NAMESPACE], "app");
    assert_eq!(plan.configs[0].0, "app_nginx_conf");
}

#[test]
fn long_syntax_secrets_external_objects_and_name_overrides() {
    let plan = plan(
        r#"
services:
  api:
    image: api:1
    secrets:
      - source: key
        target: api.key
        uid: "1000"
        mode: 0400
      - shared
    networks: [outside]
secrets:
  key: {file: /etc/key, name: custom_key}
  shared: {external: true}
networks:
  outside: {external: true, name: corp-net}
"#,
    );
    let spec = service_json(&plan, "app_api");
    let container = &spec["TaskTemplate"]["ContainerSpec"];
    assert_eq!(
        container["Secrets"],
        json!([
            {"File": {"Name": "api.key", "UID": "1000", "GID": "0", "Mode": 256}, "SecretID": "", "SecretName": "custom_key"},
            {"File": {"Name": "shared", "UID": "0", "GID": "0", "Mode": 292}, "SecretID": "", "SecretName": "shared"}
        ])
    );
    assert_eq!(
        spec["TaskTemplate"]["Networks"],
        json!([{"Target": "corp-net", "Aliases": ["api"]}])
    );
    let shared = plan.secrets.iter().find(|(n, _)| n == "shared").unwrap();
    assert_eq!(shared.1.source, ObjectSource::External);
    assert_eq!(plan.networks.len(), 1);
    assert!(plan.networks[0].1.external);
}

#[test]
fn healthcheck_string_disable_modes_and_restart_fallback() {
    let plan = plan(
        r#"
services:
  a:
    image: x
    healthcheck: {test: "curl -f http://localhost", retries: 3, timeout: 2s}
    restart: on-failure:4
    stop_grace_period: 1m
    init: true
    deploy: {mode: global}
  b:
    image: x
    healthcheck: {disable: true}
    deploy: {mode: replicated-job, replicas: 3, endpoint_mode: DNSRR}
  c:
    image: x
    tmpfs: ["/run:size=1m,mode=1777"]
    cap_add: [net_admin, CAP_SYS_TIME]
    cap_drop: [NET_ADMIN, mknod]
    extra_hosts: {db.local: 10.0.0.9}
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 64}
    deploy: {mode: global-job}
"#,
    );
    let a = service_json(&plan, "app_a");
    let ca = &a["TaskTemplate"]["ContainerSpec"];
    assert_eq!(
        ca["HealthCheck"],
        json!({"Test": ["CMD-SHELL", "curl -f http://localhost"], "Timeout": 2_000_000_000i64, "Retries": 3})
    );
    assert_eq!(ca["StopGracePeriod"], json!(60_000_000_000i64));
    assert_eq!(ca["Init"], json!(true));
    assert_eq!(a["Mode"], json!({"Global": {}}));
    assert_eq!(
        a["TaskTemplate"]["RestartPolicy"],
        json!({"Condition": "on-failure", "MaxAttempts": 4})
    );
    let b = service_json(&plan, "app_b");
    assert_eq!(
        b["TaskTemplate"]["ContainerSpec"]["HealthCheck"],
        json!({"Test": ["NONE"]})
    );
    assert_eq!(
        b["Mode"],
        json!({"ReplicatedJob": {"MaxConcurrent": 3, "TotalCompletions": 3}})
    );
    assert_eq!(b["EndpointSpec"], json!({"Mode": "dnsrr"}));
    let c = service_json(&plan, "app_c");
    let cc = &c["TaskTemplate"]["ContainerSpec"];
    assert_eq!(
        cc["Mounts"],
        json!([{"Type": "tmpfs", "Target": "/run", "TmpfsOptions": {"SizeBytes": 1_048_576, "Mode": 1023}}])
    );
    assert_eq!(
        cc["CapabilityAdd"],
        json!(["CAP_NET_ADMIN", "CAP_SYS_TIME"])
    );
    assert_eq!(cc["CapabilityDrop"], json!(["CAP_MKNOD"]));
    assert_eq!(cc["Hosts"], json!(["10.0.0.9 db.local"]));
    assert_eq!(
        cc["Ulimits"],
        json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}, {"Name": "nproc", "Soft": 64, "Hard": 64}])
    );
    assert_eq!(c["Mode"], json!({"GlobalJob": {}}));
}

#[test]
fn conversion_errors_name_the_service_and_the_problem() {
    let err = |text: &str| convert("app", &project(text)).unwrap_err().to_string();
    assert_eq!(
        err("services:\n  a:\n    image: x\n    deploy: {mode: global, replicas: 2}\n"),
        "service a: replicas can only be used with replicated or replicated-job mode"
    );
    assert_eq!(
        err("services:\n  a:\n    image: x\n    networks: [nope]\n"),
        "service a: undefined network \"nope\""
    );
    assert_eq!(
        err("services:\n  a:\n    image: x\n    secrets: [s]\n"),
        "service a: undefined secret \"s\""
    );
    assert_eq!(
        err("services:\n  a:\n    image: x\n    deploy: {restart_policy: {condition: always}}\n"),
        "service a: deploy.restart_policy.condition: invalid value \"always\" (one of none, on-failure, any)"
    );
    assert_eq!(err("services:\n  a: {}\n"), "service a: no image given");
}

#[test]
fn warnings_of_loading_reach_the_plan() {
    let plan = plan("services:\n  a:\n    image: x\n    build: .\n    links: [b]\n");
    assert_eq!(
        plan.warnings,
        vec!["Ignoring unsupported options: build, links"]
    );
}
