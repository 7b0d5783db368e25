//! Issue 6, at rest: a secret used by a service, through a daemon restart and removal, is
//! found in clear nowhere — not under the data root (raft log, snapshots, key file, task
//! files), not in the daemon's debug log, not in the engine's container metadata or layers.

mod secrets_common;

use secrets_common::{CONVERGE, Swarm, b64, exec, files_containing};
use shoal_testkit::wait_until;
use std::path::Path;
use std::process::Command;

const PAYLOAD: &str = "AtRest-PAYLOAD-91d3e5";

fn inspect(container: &str) -> anyhow::Result<serde_json::Value> {
    let out = Command::new("docker")
        .args(["inspect", container])
        .output()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(v[0].clone())
}

/// The places the engine keeps a container: its metadata dir and its writable layer.
fn engine_dirs(container: &serde_json::Value) -> Vec<String> {
    let mut dirs = Vec::new();
    if let Some(id) = container["Id"].as_str() {
        dirs.push(format!("/var/lib/docker/containers/{id}"));
    }
    if let Some(upper) = container["GraphDriver"]["Data"]["UpperDir"].as_str() {
        dirs.push(upper.to_string());
    }
    dirs
}

#[test]
fn a_used_secret_is_nowhere_in_clear_after_restart_and_removal() -> anyhow::Result<()> {
    let mut s = Swarm::new(&[], &["--log-level", "debug"])?;
    let needles = [PAYLOAD.to_string(), b64(PAYLOAD.as_bytes())];
    let (code, _, err) = s.shoal_stdin(&["secret", "create", "atrest", "-"], PAYLOAD.as_bytes())?;
    anyhow::ensure!(code == 0, "secret create: {err}");
    s.d.shoal(&[
        "service",
        "create",
        "--detach",
        "--name",
        "vault",
        "--secret",
        "atrest",
        shoal_testkit::image::BUSYBOX,
        "sleep",
        "3600",
    ])
    .ok()?;
    let first = s.running("vault")?;
    let (ok, bytes, err) = exec(&first, &["cat", "/run/secrets/atrest"])?;
    anyhow::ensure!(
        ok && bytes == PAYLOAD.as_bytes(),
        "the task sees the secret: {err}"
    );

    let mut engine_checked = Vec::new();
    let mut check_container = |id: &str| -> anyhow::Result<()> {
        let meta = inspect(id)?;
        for n in &needles {
            assert!(
                !meta.to_string().contains(n.as_str()),
                "docker inspect of {id} holds the secret"
            );
        }
        for dir in engine_dirs(&meta) {
            for n in &needles {
                let hits = files_containing(Path::new(&dir), n.as_bytes());
                assert!(
                    hits.is_empty(),
                    "the engine keeps the secret on disk: {hits:?}"
                );
            }
            engine_checked.push(dir);
        }
        Ok(())
    };
    check_container(&first)?;

    s.d.signal_and_wait(nix::sys::signal::Signal::SIGTERM)?;
    s.d.restart()?;
    wait_until("the restarted manager to answer", CONVERGE, || {
        s.d.api("GET", "/secrets/atrest", None)
            .is_ok_and(|r| r.status == 200)
    })?;
    let after = s.running("vault")?;
    check_container(&after)?;
    assert!(
        !engine_checked.is_empty(),
        "the engine directories were searched"
    );

    s.d.shoal(&["service", "rm", "vault"]).ok()?;
    wait_until("vault's containers to go", CONVERGE, || {
        s.containers("vault").is_empty()
    })?;
    s.d.shoal(&["secret", "rm", "atrest"]).ok()?;

    for n in &needles {
        let hits = files_containing(&s.d.data_root, n.as_bytes());
        assert!(
            hits.is_empty(),
            "data root holds the secret in clear: {hits:?}"
        );
        assert!(
            !s.d.log().contains(n.as_str()),
            "the debug log holds the secret"
        );
    }
    assert!(
        s.d.log().contains("DEBUG"),
        "the log was written at debug level"
    );
    let task_files = s.d.data_root.join("task-files");
    let left: Vec<_> = std::fs::read_dir(&task_files)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no task tmpfs is left behind: {left:?}");
    Ok(())
}
