//! The fixture of `tests/stacks.rs`: a swarm of one with the test image, a project directory
//! holding a two-service stack, API and container helpers, and clean-up on drop.

// Each test file that includes this module uses a different part of it.
#![allow(dead_code)]

use serde_json::Value;
use shoal_testkit::image::{BUSYBOX, ensure_busybox};
use shoal_testkit::{Cli, TestDaemon, wait_for, wait_until};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
pub const CONVERGE: Duration = Duration::from_secs(40);
/// A second tag of the test image, for "the image changed".
pub const TAG_V2: &str = "shoal-test/busybox:stk-v2";

/// Two services: `web` (2 replicas, a config as its page, network `front`) and `worker`
/// (a secret, an interpolated tag and variable, no network: joins `<stack>_default`).
pub const STACK: &str = r#"
services:
  web:
    image: shoal-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_grace_period: 1s
    deploy:
      replicas: 2
    configs:
      - source: page
        target: /www/index.html
    networks: [front]
  worker:
    image: shoal-test/busybox:${WORKER_TAG:-latest}
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    environment:
      GREETING: ${GREETING}
    secrets: [pass]
    depends_on: [web]
networks:
  front:
    attachable: true
configs:
  page:
    file: ./index.html
secrets:
  pass:
    file: ./pass.txt
"#;

/// A swarm of one, a project directory with the stack, and container clean-up on drop.
pub struct Fixture {
    pub d: TestDaemon,
    pub node_id: String,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> anyhow::Result<Fixture> {
        ensure_busybox()?;
        let tagged = Command::new("docker")
            .args(["tag", BUSYBOX, TAG_V2])
            .status()?;
        anyhow::ensure!(tagged.success(), "docker tag {BUSYBOX} {TAG_V2} failed");
        let d = TestDaemon::start(BIN)?;
        d.shoal(&["swarm", "init"]).ok()?;
        let node_id = d.api("GET", "/info", None)?.json()?["Swarm"]["NodeID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("stack.yml"), STACK)?;
        std::fs::write(
            dir.path().join("index.html"),
            "<h1>hello from a config</h1>\n",
        )?;
        std::fs::write(dir.path().join("pass.txt"), "hunter2\n")?;
        std::fs::write(dir.path().join(".env"), "GREETING=from-dotenv\n")?;
        Ok(Fixture { d, node_id, dir })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `shoal <args>` with extra environment variables.
    pub fn shoal_env(&self, args: &[&str], env: &[(&str, &str)]) -> Cli {
        let mut cmd = Command::new(BIN);
        cmd.arg("-H").arg(&self.d.socket).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Cli::run(cmd, format!("shoal {}", args.join(" ")))
    }

    pub fn deploy(&self, stack: &str, env: &[(&str, &str)]) -> anyhow::Result<Cli> {
        let file = self.file("stack.yml");
        let file = file.to_string_lossy();
        self.shoal_env(&["stack", "deploy", "-c", &file, stack], env)
            .ok()
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self.d.api("GET", path, None)?;
        anyhow::ensure!(r.status == 200, "GET {path}: {} {}", r.status, r.text());
        r.json()
    }

    /// Objects of `kind` (services, networks, secrets, configs) labelled with `stack`.
    pub fn stack_objects(&self, kind: &str, stack: &str) -> anyhow::Result<Vec<Value>> {
        let filter =
            format!("%7B%22label%22%3A%7B%22com.docker.stack.namespace%3D{stack}%22%3Atrue%7D%7D");
        Ok(self
            .get(&format!("/v1.44/{kind}?filters={filter}"))?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Ids of the running tasks of `service`.
    pub fn running_tasks(&self, service: &str) -> anyhow::Result<BTreeSet<String>> {
        let filter = format!("%7B%22service%22%3A%7B%22{service}%22%3Atrue%7D%7D");
        let tasks = self.get(&format!("/v1.44/tasks?filters={filter}"))?;
        Ok(tasks
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["DesiredState"] == "running")
            .map(|t| t["ID"].as_str().unwrap_or_default().to_string())
            .collect())
    }

    /// This node's running containers of `service`.
    pub fn containers(&self, service: &str) -> Vec<String> {
        let out = Command::new("docker")
            .args(["ps", "-q", "--no-trunc"])
            .args([
                "--filter",
                &format!("label=com.docker.swarm.node.id={}", self.node_id),
            ])
            .args([
                "--filter",
                &format!("label=com.docker.swarm.service.name={service}"),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn wait_running(&self, service: &str, n: usize) -> anyhow::Result<()> {
        wait_until(
            &format!("{n} running containers of {service}"),
            CONVERGE,
            || self.containers(service).len() == n,
        )
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Stop the daemon first, or its agent may start containers after the sweep below.
        // Teardown: a daemon that is already gone is fine.
        let _ = self.d.signal_and_wait(nix::sys::signal::Signal::SIGKILL);
        shoal_testkit::image::sweep_node_containers(&self.node_id, 3);
    }
}

/// `GET /` from port 8080 of a container, through its bridge address.
pub fn fetch_page(container: &str) -> anyhow::Result<String> {
    fetch(container, "/")
}

/// `GET path` from port 8080 of a container, through its bridge address.
pub fn fetch(container: &str, path: &str) -> anyhow::Result<String> {
    let ip = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        ])
        .arg(container)
        .output()?;
    let ip = String::from_utf8_lossy(&ip.stdout).trim().to_string();
    wait_for(&format!("httpd on {ip}:8080"), CONVERGE, || {
        let mut s = std::net::TcpStream::connect((ip.as_str(), 8080)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.contains("200 OK").then_some(body)
    })
}

pub fn name_of(v: &Value) -> &str {
    v["Spec"]["Name"]
        .as_str()
        .or_else(|| v["Name"].as_str())
        .unwrap_or_default()
}

pub fn id_of_named(objects: &[Value], name: &str) -> String {
    objects
        .iter()
        .find(|o| name_of(o) == name)
        .and_then(|o| o["ID"].as_str().or_else(|| o["Id"].as_str()))
        .unwrap_or_default()
        .to_string()
}

/// A service spec with the stack's name and object ids replaced by placeholders.
pub fn normalized(f: &Fixture, stack: &str, service: &str) -> anyhow::Result<String> {
    let mut spec = f.get(&format!("/v1.44/services/{stack}_{service}"))?["Spec"].clone();
    // docker sorts secret and config references by source name only, with an unstable sort,
    // so references to one source in several files come in any order: compare them sorted.
    for list in ["Secrets", "Configs"] {
        if let Some(refs) = spec
            .pointer_mut(&format!("/TaskTemplate/ContainerSpec/{list}"))
            .and_then(|v| v.as_array_mut())
        {
            refs.sort_by_key(|r| r.to_string());
        }
    }
    let mut text = spec.to_string();
    for kind in ["networks", "secrets", "configs"] {
        for o in f.stack_objects(kind, stack)? {
            let id = o["ID"]
                .as_str()
                .or_else(|| o["Id"].as_str())
                .unwrap_or_default();
            text = text.replace(id, &format!("<{}>", name_of(&o)));
        }
    }
    Ok(text
        .replace(&format!("{stack}_"), "STACK_")
        .replace(&format!("\"{stack}\""), "\"STACK\""))
}
