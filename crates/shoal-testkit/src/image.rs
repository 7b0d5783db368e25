//! A busybox image for tests, made from Debian's `busybox-static` with `docker import` (there
//! is no registry to pull from).

use std::process::Command;

/// The test image's reference.
pub const BUSYBOX: &str = "shoal-test/busybox:latest";

/// Where Debian's busybox-static installs the binary.
const BUSYBOX_BIN: &str = "/bin/busybox";

/// Makes sure [`BUSYBOX`] exists in the local engine; idempotent.
pub fn ensure_busybox() -> anyhow::Result<&'static str> {
    let present = Command::new("docker")
        .args(["image", "inspect", BUSYBOX])
        .output()?
        .status
        .success();
    if present {
        return Ok(BUSYBOX);
    }
    if !std::path::Path::new(BUSYBOX_BIN).exists() {
        anyhow::bail!(
            "{BUSYBOX_BIN} is missing: install Debian's busybox-static (apt-get install busybox-static)"
        );
    }
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin"))?;
    std::fs::create_dir_all(root.join("tmp"))?;
    std::fs::copy(BUSYBOX_BIN, root.join("bin/busybox"))?;
    for applet in [
        "sh", "sleep", "echo", "cat", "ls", "true", "false", "env", "wget", "nc", "httpd", "id",
        "stat", "mount", "hostname", "printf", "test", "grep", "head",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))?;
    }
    let tar = dir.path().join("rootfs.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()?;
    anyhow::ensure!(status.success(), "tar of the busybox rootfs failed");
    let status = Command::new("docker")
        .args([
            "import",
            "--change",
            "CMD [\"sh\"]",
            "--change",
            "ENV PATH=/bin",
        ])
        .arg(&tar)
        .arg(BUSYBOX)
        .status()?;
    anyhow::ensure!(status.success(), "docker import of {BUSYBOX} failed");
    Ok(BUSYBOX)
}

/// Ids of every container (running or not) labelled with `node_id`; empty if docker fails.
pub fn node_containers(node_id: &str) -> Vec<String> {
    Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.swarm.node.id={node_id}"),
        ])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Removes every container labelled with `node_id` (test teardown; failures only leave
/// containers for the next cleanup).
pub fn remove_node_containers(node_id: &str) {
    let ids = node_containers(node_id);
    if !ids.is_empty() {
        // Teardown: see the doc comment.
        let _ = Command::new("docker")
            .arg("rm")
            .arg("-f")
            .args(&ids)
            .output();
    }
}

/// [`remove_node_containers`] `passes` times, 500 ms apart: after its daemon was killed,
/// container creations it had in flight at the engine may still land.
pub fn sweep_node_containers(node_id: &str, passes: usize) {
    for _ in 0..passes {
        remove_node_containers(node_id);
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
