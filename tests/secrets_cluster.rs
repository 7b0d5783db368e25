//! Issue 6 across nodes: a worker receives a secret only while one of its tasks uses it,
//! and no node's data root holds it in clear.

mod secrets_common;

use secrets_common::{BIN, CONVERGE, b64, exec, files_containing};
use shoal_testkit::TestCluster;
use shoal_testkit::image::{BUSYBOX, ensure_busybox};
use shoal_testkit::wait_until;
use std::io::Write;
use std::process::{Command, Stdio};

const PAYLOAD: &str = "Cluster-PAYLOAD-0b7d";

/// The agent's "secrets and configs held" lines in a node's log.
fn held_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("secrets and configs held"))
        .map(str::to_string)
        .collect()
}

fn running_container(node_id: &str, service: &str) -> Option<String> {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter"])
        .arg(format!("label=com.docker.swarm.node.id={node_id}"))
        .args(["--filter"])
        .arg(format!("label=com.docker.swarm.service.name={service}"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_string)
}

#[test]
fn only_the_worker_running_the_task_holds_the_secret_and_drops_it_after() -> anyhow::Result<()> {
    ensure_busybox()?;
    let c = TestCluster::start(BIN, 1, 2, &[])?;
    let m = c.manager(0);
    let (w1, w2) = (c.node_ids[1].clone(), c.node_ids[2].clone());
    let mut child = Command::new(BIN)
        .arg("-H")
        .arg(&m.socket)
        .args(["secret", "create", "shared", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("stdin"))?
        .write_all(PAYLOAD.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "secret create failed");
    let secret_id = String::from_utf8_lossy(&out.stdout).trim().to_string();

    m.shoal(&[
        "service",
        "create",
        "-d",
        "--name",
        "pinned",
        "--secret",
        "shared",
        "--constraint",
        &format!("node.id=={w1}"),
        BUSYBOX,
        "sleep",
        "3600",
    ])
    .ok()?;
    let container = shoal_testkit::wait_for("pinned to run on worker 1", CONVERGE, || {
        running_container(&w1, "pinned")
    })?;
    let (ok, bytes, err) = exec(&container, &["cat", "/run/secrets/shared"])?;
    anyhow::ensure!(ok, "{err}");
    assert_eq!(bytes, PAYLOAD.as_bytes());

    let w1_held = held_lines(&c.nodes[1].log());
    assert!(
        w1_held.iter().any(|l| l.contains(&secret_id)),
        "worker 1 holds the secret: {w1_held:?}"
    );
    assert!(
        held_lines(&c.nodes[2].log())
            .iter()
            .all(|l| !l.contains(&secret_id)),
        "worker 2 ({w2}) runs no task using it and never receives it"
    );

    m.shoal(&["service", "rm", "pinned"]).ok()?;
    wait_until("worker 1 to drop the secret", CONVERGE, || {
        held_lines(&c.nodes[1].log())
            .last()
            .is_some_and(|l| !l.contains(&secret_id))
    })?;
    wait_until("pinned's container to go", CONVERGE, || {
        running_container(&w1, "pinned").is_none()
    })?;
    m.shoal(&["secret", "rm", "shared"]).ok()?;

    for (i, d) in c.nodes.iter().enumerate() {
        for needle in [PAYLOAD.to_string(), b64(PAYLOAD.as_bytes())] {
            let hits = files_containing(&d.data_root, needle.as_bytes());
            assert!(
                hits.is_empty(),
                "node {i}'s data root holds the secret: {hits:?}"
            );
            assert!(
                !d.log().contains(&needle),
                "node {i}'s log holds the secret"
            );
        }
    }
    Ok(())
}
