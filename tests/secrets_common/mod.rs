//! Helpers of the secrets suites: a swarm of one, stdin-fed CLI runs, docker exec with the
//! bytes piped out, and a recursive byte search for at-rest checks.

#![allow(dead_code)]

use shoal_testkit::image::ensure_busybox;
use shoal_testkit::{TestDaemon, wait_for};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_shoal");
pub const CONVERGE: Duration = Duration::from_secs(45);

/// A swarm of one; removes the containers of its node when dropped.
pub struct Swarm {
    pub d: TestDaemon,
    pub node_id: String,
}

impl Swarm {
    pub fn new(init_args: &[&str], daemon_args: &[&str]) -> anyhow::Result<Swarm> {
        ensure_busybox()?;
        let mut d = TestDaemon::start(BIN)?;
        if !daemon_args.is_empty() {
            d.signal_and_wait(nix::sys::signal::Signal::SIGTERM)?;
            d.extra_args = daemon_args.iter().map(|s| s.to_string()).collect();
            d.restart()?;
        }
        let mut args = vec!["swarm", "init"];
        args.extend_from_slice(init_args);
        d.shoal(&args).ok()?;
        let node_id = d.api("GET", "/info", None)?.json()?["Swarm"]["NodeID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(Swarm { d, node_id })
    }

    /// `shoal ARGS` with `input` on stdin; (exit code, stdout, stderr).
    pub fn shoal_stdin(
        &self,
        args: &[&str],
        input: &[u8],
    ) -> anyhow::Result<(i32, String, String)> {
        let mut child = Command::new(BIN)
            .arg("-H")
            .arg(&self.d.socket)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin"))?
            .write_all(input)?;
        let out = child.wait_with_output()?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Running containers of `service` on this node.
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

    /// Waits for one running container of `service` and returns its id.
    pub fn running(&self, service: &str) -> anyhow::Result<String> {
        wait_for(
            &format!("a running container of {service}"),
            CONVERGE,
            || self.containers(service).into_iter().next(),
        )
    }
}

/// `docker exec CONTAINER ARGS`: (success, stdout bytes, stderr text).
pub fn exec(container: &str, args: &[&str]) -> anyhow::Result<(bool, Vec<u8>, String)> {
    let out = Command::new("docker")
        .arg("exec")
        .arg(container)
        .args(args)
        .output()?;
    Ok((
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Standard base64 (the test crate has no base64 dependency).
pub fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `dir` (not following symlinks) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if meta.is_file()
            && let Ok(bytes) = std::fs::read(&path)
            && contains(&bytes, needle)
        {
            hits.push(path.display().to_string());
        }
    }
    hits
}

pub fn text_contains(hay: &str, needle: &str) -> bool {
    hay.contains(needle)
}

/// Waits for a running container of `service` other than `old` (the task was replaced).
pub fn wait_for_other(s: &Swarm, service: &str, old: &str) -> anyhow::Result<String> {
    wait_for(
        &format!("a new running container of {service}"),
        CONVERGE,
        || s.containers(service).into_iter().find(|c| c != old),
    )
}
