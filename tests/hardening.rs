//! Hardening against a careless user and an attacker on the network, with real daemons: the
//! API socket cannot be taken over, the data root is private, the open-file limit is raised,
//! a flood of connections on the cluster port leaves the Unix API answering, and join-token
//! errors say their prefix once.

use shoal_testkit::{TestDaemon, api_call, next_addr, wait_until};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_shoal");

/// Runs `shoal daemon` with `socket` and a fresh data root, expecting it to exit; returns
/// (success, stderr).
fn second_daemon(socket: &Path, dir: &Path) -> anyhow::Result<(bool, String)> {
    let out = Command::new(BIN)
        .arg("daemon")
        .arg("-H")
        .arg(socket)
        .arg("--data-root")
        .arg(dir.join("other-data"))
        .arg("--listen-addr")
        .arg(next_addr())
        .output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn a_second_daemon_on_a_live_socket_is_refused_and_the_first_keeps_serving() -> anyhow::Result<()> {
    let d = TestDaemon::start(BIN)?;
    let (ok, stderr) = second_daemon(&d.socket, d.dir.path())?;
    assert!(!ok, "the second daemon started; stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "another daemon is answering on the API socket {}",
            d.socket.display()
        )),
        "{stderr}"
    );
    let ping = d.api("GET", "/_ping", None)?;
    assert_eq!(ping.status, 200, "the first daemon lost its socket");
    Ok(())
}

#[test]
fn a_host_pointing_at_a_regular_file_is_refused_and_the_file_kept() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("precious.txt");
    std::fs::write(&file, b"keep me")?;
    let (ok, stderr) = second_daemon(&file, dir.path())?;
    assert!(
        !ok,
        "the daemon started on a regular file; stderr:\n{stderr}"
    );
    assert!(stderr.contains("exists and is not a socket"), "{stderr}");
    assert_eq!(std::fs::read(&file)?, b"keep me");
    Ok(())
}

#[test]
fn the_data_root_is_private_after_swarm_init() -> anyhow::Result<()> {
    let d = TestDaemon::start(BIN)?;
    d.shoal(&["swarm", "init"]).ok()?;
    let mut wrong = Vec::new();
    let mut pending = vec![d.data_root.clone()];
    let mut files = 0;
    while let Some(dir) = pending.pop() {
        let mode = std::fs::metadata(&dir)?.permissions().mode() & 0o7777;
        if mode != 0o700 {
            wrong.push(format!(
                "{} is a directory with mode {mode:o}",
                dir.display()
            ));
        }
        if dir.ends_with("task-files") {
            continue; // per-task tmpfs mounts: modes from the task's spec
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files += 1;
                let mode = entry.metadata()?.permissions().mode() & 0o7777;
                if mode != 0o600 {
                    wrong.push(format!("{} has mode {mode:o}", entry.path().display()));
                }
            } else if !kind.is_socket() {
                wrong.push(format!(
                    "{} is neither file nor directory",
                    entry.path().display()
                ));
            }
        }
    }
    assert!(files >= 5, "expected the swarm's files, found {files}");
    assert!(wrong.is_empty(), "not private:\n{}", wrong.join("\n"));
    Ok(())
}

#[test]
fn a_malformed_join_token_says_invalid_join_token_once() -> anyhow::Result<()> {
    let d = TestDaemon::start(BIN)?;
    let out = d
        .shoal(&[
            "swarm",
            "join",
            "--token",
            "SWMTKN-1-nope",
            "127.0.0.1:2377",
        ])
        .failed()?;
    assert_eq!(
        out.stderr.matches("invalid join token").count(),
        1,
        "{}",
        out.stderr
    );
    Ok(())
}

/// A daemon started by hand with a low open-file soft limit; killed and cleaned up on drop.
struct LowLimitDaemon {
    child: Child,
    dir: tempfile::TempDir,
    socket: std::path::PathBuf,
    listen: String,
}

impl LowLimitDaemon {
    const SOFT_LIMIT: u64 = 256;

    fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("shoal-test-").tempdir()?;
        let socket = dir.path().join("shoal.sock");
        let listen = next_addr();
        let log = std::fs::File::create(dir.path().join("daemon.log"))?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -Sn {} && exec \"$@\"", Self::SOFT_LIMIT))
            .arg("sh")
            .arg(BIN)
            .arg("daemon")
            .arg("-H")
            .arg(&socket)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--listen-addr")
            .arg(&listen)
            .arg("--advertise-addr")
            .arg(&listen)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let d = Self {
            child,
            dir,
            socket,
            listen,
        };
        wait_until(
            "the daemon to answer /_ping",
            Duration::from_secs(60),
            || api_call(&d.socket, "GET", "/_ping", None).is_ok_and(|r| r.status == 200),
        )
        .map_err(|e| anyhow::anyhow!("{e}; log:\n{}", d.log()))?;
        Ok(d)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// (soft, hard) `Max open files` of the daemon process.
    fn fd_limits(&self) -> anyhow::Result<(String, String)> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.child.id()))?;
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .ok_or_else(|| anyhow::anyhow!("no open-file limit in {limits}"))?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        Ok((fields[3].to_string(), fields[4].to_string()))
    }

    fn open_fds(&self) -> anyhow::Result<usize> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))?.count())
    }
}

impl Drop for LowLimitDaemon {
    fn drop(&mut self) {
        // Teardown: the process may already have exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raises this test process's own open-file soft limit so it can hold the flood.
fn raise_own_fd_limit() -> anyhow::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok(hard)
}

#[test]
fn the_unix_api_keeps_answering_while_the_cluster_port_is_flooded() -> anyhow::Result<()> {
    let hard = raise_own_fd_limit()?;
    anyhow::ensure!(
        hard > 2048,
        "this test needs an open-file hard limit above 2048 (have {hard})"
    );
    let d = LowLimitDaemon::start()?;
    let (soft, hard_of_daemon) = d.fd_limits()?;
    assert_eq!(
        soft, hard_of_daemon,
        "the daemon did not raise its soft open-file limit ({soft} of {hard_of_daemon})"
    );
    assert_ne!(soft, LowLimitDaemon::SOFT_LIMIT.to_string());
    let init = api_call(
        &d.socket,
        "POST",
        "/v1.44/swarm/init",
        Some(format!(r#"{{"ListenAddr":"{0}","AdvertiseAddr":"{0}"}}"#, d.listen).as_bytes()),
    )?;
    assert_eq!(init.status, 200, "swarm init: {}", init.text());

    // 1,200 silent connections from 40 addresses: past the per-source and total caps.
    let target: SocketAddr = d.listen.parse()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut flood = Vec::new();
    for src in 0..40u8 {
        for _ in 0..30 {
            flood.push(rt.block_on(connect_from(&format!("127.77.{src}.9"), target))?);
        }
    }
    let ping = api_call(&d.socket, "GET", "/_ping", None)?;
    assert_eq!(ping.status, 200, "the Unix API stopped answering");
    let info = api_call(&d.socket, "GET", "/v1.44/info", None)?;
    assert_eq!(info.status, 200, "info: {}", info.text());
    let fds = d.open_fds()?;
    assert!(
        fds < 600,
        "the daemon holds {fds} descriptors while flooded: connections are not capped"
    );
    Ok(())
}

/// A TCP connection to `to` from the local address `from` (port chosen by the kernel).
async fn connect_from(from: &str, to: SocketAddr) -> anyhow::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse()?)?;
    let stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(to)).await??;
    Ok(stream.into_std()?)
}
