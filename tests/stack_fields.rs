//! Issue 7: every compose field the issue lists lands in the service specs (read back with
//! `GET /services/{id}`), and `docker stack deploy` of the same file gives the same specs.

mod stack_support;

use serde_json::json;
use shoal_testkit::Cli;
use stack_support::{Fixture, normalized};
use std::process::Command;

/// A file using the fields of the issue's list. `SUBNET`, `UDP_PORT` and `HOST_PORT` keep the
/// two deployments' fixed subnets and published ports apart (a port one service publishes is
/// refused to another). Service-level `tmpfs:` is left out: docker's CLI ignores it for stacks,
/// shoal turns it into tmpfs mounts (the issue asks for it; see shoal-stack's tests).
const RICH: &str = r#"
services:
  web:
    image: shoal-test/busybox:latest
    entrypoint: ["/bin/sh", "-c"]
    command: ["sleep 3600"]
    environment: [FOO=bar, EMPTY=]
    env_file: [web.env]
    labels: {team: web}
    hostname: webhost
    user: "0:0"
    working_dir: /tmp
    init: true
    stop_signal: SIGINT
    stop_grace_period: 3s
    healthcheck:
      test: ["CMD-SHELL", "true"]
      interval: 10s
      timeout: 3s
      retries: 2
      start_period: 5s
    secrets:
      - s
      - {source: s, target: other, uid: "1000", gid: "1000", mode: 0400}
    ports:
      - "${UDP_PORT}:80/udp"
      - {target: 81, published: "${HOST_PORT}", mode: host}
    networks:
      front: {aliases: [www]}
    volumes:
      - data:/data
      - /tmp:/host-tmp:ro
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1000000}}
    sysctls: {net.core.somaxconn: "1024"}
    ulimits:
      nofile: {soft: 1024, hard: 2048}
      nproc: 512
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    extra_hosts: ["db.local:10.0.0.9"]
    dns: [1.1.1.1]
    logging: {driver: json-file, options: {max-size: 1m}}
    deploy:
      mode: replicated
      replicas: 1
      endpoint_mode: vip
      labels: {tier: front}
      placement:
        constraints: [node.role == manager]
        preferences: [{spread: node.id}]
        max_replicas_per_node: 3
      resources:
        limits: {cpus: "0.5", memory: 64M}
        reservations: {cpus: "0.1", memory: 8M}
      restart_policy: {condition: on-failure, delay: 2s, max_attempts: 3, window: 10s}
      update_config: {parallelism: 2, delay: 1s, failure_action: rollback, monitor: 2s, max_failure_ratio: 0.1, order: start-first}
      rollback_config: {parallelism: 1, order: stop-first}
  job:
    image: shoal-test/busybox:latest
    command: ["true"]
    deploy: {mode: replicated-job, replicas: 2}
  agent:
    image: shoal-test/busybox:latest
    command: ["sleep", "3600"]
    deploy: {mode: global}
networks:
  front:
    driver_opts: {encrypted: ""}
    labels: {zone: edge}
    ipam:
      config: [{subnet: "${SUBNET}"}]
volumes:
  data: {}
secrets:
  s: {file: ./s.txt}
"#;

#[test]
fn every_listed_field_lands_in_the_spec_as_docker_sends_it() -> anyhow::Result<()> {
    let f = Fixture::new()?;
    std::fs::write(f.file("rich.yml"), RICH)?;
    std::fs::write(f.file("s.txt"), "x\n")?;
    std::fs::write(f.file("web.env"), "A=1\nB=two\n")?;
    let file = f.file("rich.yml");
    let file = file.to_string_lossy();
    f.shoal_env(
        &["stack", "deploy", "-c", &file, "fromshoal"],
        &[
            ("SUBNET", "10.99.0.0/24"),
            ("UDP_PORT", "8081"),
            ("HOST_PORT", "8082"),
        ],
    )
    .ok()?;
    let mut docker = Command::new("docker");
    docker
        .env("DOCKER_HOST", format!("unix://{}", f.d.socket.display()))
        .env("SUBNET", "10.98.0.0/24")
        .env("UDP_PORT", "8091")
        .env("HOST_PORT", "8092")
        .env_remove("DOCKER_CONTEXT")
        .args(["stack", "deploy", "-c", &file, "fromdocker"]);
    Cli::run(docker, "docker stack deploy".into()).ok()?;
    for svc in ["web", "job", "agent"] {
        let docker = normalized(&f, "fromdocker", svc)?
            .replace("8091", "8081")
            .replace("8092", "8082");
        assert_eq!(normalized(&f, "fromshoal", svc)?, docker, "{svc}");
    }

    let web = f.get("/v1.44/services/fromshoal_web")?["Spec"].clone();
    let tt = &web["TaskTemplate"];
    let cs = &tt["ContainerSpec"];
    assert_eq!(cs["Command"], json!(["/bin/sh", "-c"]));
    assert_eq!(cs["Args"], json!(["sleep 3600"]));
    assert_eq!(cs["Env"], json!(["A=1", "B=two", "EMPTY=", "FOO=bar"]));
    assert_eq!(cs["Labels"]["team"], "web");
    assert_eq!(cs["Hostname"], "webhost");
    assert_eq!(cs["User"], "0:0");
    assert_eq!(cs["Dir"], "/tmp");
    assert_eq!(cs["Init"], true);
    assert_eq!(cs["StopSignal"], "SIGINT");
    assert_eq!(cs["StopGracePeriod"], 3_000_000_000_i64);
    assert_eq!(
        cs["HealthCheck"],
        json!({"Test": ["CMD-SHELL", "true"], "Interval": 10_000_000_000_i64,
               "Timeout": 3_000_000_000_i64, "Retries": 2, "StartPeriod": 5_000_000_000_i64})
    );
    assert_eq!(
        cs["Secrets"][1]["File"],
        json!({"Name": "other", "UID": "1000", "GID": "1000", "Mode": 256})
    );
    let mounts: Vec<&str> = cs["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["Type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(mounts, ["volume", "bind", "tmpfs"]);
    assert_eq!(cs["Sysctls"]["net.core.somaxconn"], "1024");
    assert_eq!(
        cs["Ulimits"][0],
        json!({"Name": "nofile", "Soft": 1024, "Hard": 2048})
    );
    assert_eq!(cs["CapabilityAdd"], json!(["CAP_NET_ADMIN"]));
    assert_eq!(cs["CapabilityDrop"], json!(["CAP_MKNOD"]));
    assert_eq!(cs["Hosts"], json!(["10.0.0.9 db.local"]));
    assert_eq!(cs["DNSConfig"]["Nameservers"], json!(["1.1.1.1"]));
    assert_eq!(
        tt["LogDriver"],
        json!({"Name": "json-file", "Options": {"max-size": "1m"}})
    );
    assert_eq!(tt["Networks"][0]["Aliases"], json!(["www", "web"]));
    assert_eq!(
        tt["Placement"]["Constraints"],
        json!(["node.role == manager"])
    );
    assert_eq!(tt["Placement"]["MaxReplicas"], 3);
    assert_eq!(
        tt["Placement"]["Preferences"][0]["Spread"]["SpreadDescriptor"],
        "node.id"
    );
    assert_eq!(
        tt["Resources"]["Limits"],
        json!({"NanoCPUs": 500_000_000, "MemoryBytes": 67_108_864})
    );
    assert_eq!(tt["RestartPolicy"]["Condition"], "on-failure");
    assert_eq!(tt["RestartPolicy"]["MaxAttempts"], 3);
    assert_eq!(web["Labels"]["tier"], "front");
    assert_eq!(web["UpdateConfig"]["FailureAction"], "rollback");
    assert_eq!(web["UpdateConfig"]["Order"], "start-first");
    assert_eq!(web["RollbackConfig"]["Order"], "stop-first");
    assert_eq!(web["EndpointSpec"]["Ports"][0]["Protocol"], "udp");
    assert_eq!(web["EndpointSpec"]["Ports"][1]["PublishMode"], "host");
    let job = f.get("/v1.44/services/fromshoal_job")?["Spec"].clone();
    assert_eq!(job["Mode"]["ReplicatedJob"]["TotalCompletions"], 2);
    let agent = f.get("/v1.44/services/fromshoal_agent")?["Spec"].clone();
    assert!(agent["Mode"]["Global"].is_object());
    let front = f.get("/v1.44/networks/fromshoal_front")?;
    assert_eq!(front["Options"]["encrypted"], "");
    assert_eq!(front["Labels"]["zone"], "edge");
    assert_eq!(front["IPAM"]["Config"][0]["Subnet"], "10.99.0.0/24");
    Ok(())
}

/// Files of the compose corpus (`tests/compose`, shared with shoal-stack's golden test) that
/// deploy on one node without outside objects: no published ports or fixed subnets (the two
/// deployments would collide), no external objects, no service-level `tmpfs` (docker's CLI
/// ignores it, shoal mounts it).
const CORPUS_DEPLOYABLE: &[&str] = &[
    "04-yaml11-strings",
    "05-schema-booleans",
    "06-environment-forms",
    "07-interpolation",
    "18-deploy-full",
    "20-healthcheck",
    "23-command-forms",
    "26-unsupported-kept",
    "27-extension-fields",
    "29-restart-policy-from-restart",
    "30-memory-sizes",
    "32-merge-volumes-order",
    "35-env-file",
    "39-merge-healthcheck-placement",
    "40-extension-override",
];

/// `KEY=VALUE` lines of a corpus `.env` (plain values only), for docker, which reads none.
fn dotenv_vars(dir: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join(".env"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn corpus_files_give_the_same_specs_from_both_clis() -> anyhow::Result<()> {
    let f = Fixture::new()?;
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compose");
    for (i, name) in CORPUS_DEPLOYABLE.iter().enumerate() {
        let dir = corpus.join(name);
        let mut files = vec![
            "-c".to_string(),
            dir.join("stack.yml").display().to_string(),
        ];
        if dir.join("override.yml").exists() {
            files.push("-c".into());
            files.push(dir.join("override.yml").display().to_string());
        }
        let (shoal_stack, docker_stack) = (format!("s{i}"), format!("d{i}"));
        let mut args: Vec<&str> = vec!["stack", "deploy", "--resolve-image", "never"];
        args.extend(files.iter().map(String::as_str));
        args.push(&shoal_stack);
        f.shoal_env(&args, &[]).ok()?;
        let mut docker = Command::new("docker");
        docker
            .env("DOCKER_HOST", format!("unix://{}", f.d.socket.display()))
            .env_remove("DOCKER_CONTEXT")
            .envs(dotenv_vars(&dir))
            .args(["stack", "deploy", "--resolve-image", "never"])
            .args(&files)
            .arg(&docker_stack);
        Cli::run(docker, format!("docker stack deploy {name}")).ok()?;
        let services = f.stack_objects("services", &shoal_stack)?;
        anyhow::ensure!(!services.is_empty(), "{name}: no services deployed");
        for service in &services {
            let svc = stack_support::name_of(service)
                .trim_start_matches(&format!("{shoal_stack}_"))
                .to_string();
            assert_eq!(
                normalized(&f, &shoal_stack, &svc)?,
                normalized(&f, &docker_stack, &svc)?,
                "{name}: service {svc}"
            );
        }
        for stack in [&shoal_stack, &docker_stack] {
            f.shoal_env(&["stack", "rm", stack], &[]).ok()?;
        }
    }
    Ok(())
}
