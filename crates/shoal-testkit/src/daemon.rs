//! Real `shoal daemon` processes.

use crate::api::{ApiResponse, api_call};
use crate::wait::wait_until;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

/// How long a daemon may take to answer `/_ping` after start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A cluster port unlikely to collide across parallel tests and runs.
fn next_port() -> u16 {
    let base = 20000 + (std::process::id() % 2000) as u16 * 10;
    base + NEXT_PORT.fetch_add(1, Ordering::Relaxed) % 10
}

/// The running process.
pub struct DaemonProc {
    child: Child,
}

/// One daemon with its own temp dir; killed (SIGKILL) on drop.
pub struct TestDaemon {
    pub bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub data_root: PathBuf,
    pub listen_addr: String,
    pub extra_args: Vec<String>,
    /// A command the daemon is started through, e.g. `nsenter --net=… --mount=… --` to run
    /// it inside a test host (empty: started directly).
    pub wrapper: Vec<String>,
    proc: Option<DaemonProc>,
}

/// How to start a daemon beyond the defaults of [`TestDaemon::start_at`].
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Cluster listen and advertise address.
    pub listen_addr: String,
    /// Command prefix the daemon is started through (see [`TestDaemon::wrapper`]).
    pub wrapper: Vec<String>,
    /// More `shoal daemon` flags (e.g. `--engine unix://…`).
    pub extra_args: Vec<String>,
    /// Where the daemon's temp dir is made (default: the system temp dir).
    pub parent_dir: Option<PathBuf>,
}

impl TestDaemon {
    /// Starts `bin daemon` (pass `env!("CARGO_BIN_EXE_shoal")`) and waits for its API.
    pub fn start(bin: &str) -> anyhow::Result<TestDaemon> {
        Self::start_at(bin, &format!("127.0.0.1:{}", next_port()))
    }

    /// Like [`start`](Self::start), with `listen_addr` as cluster listen and advertise
    /// address (cluster tests give each node its own 127.x.y.z).
    pub fn start_at(bin: &str, listen_addr: &str) -> anyhow::Result<TestDaemon> {
        Self::launch(
            bin,
            Launch {
                listen_addr: listen_addr.to_string(),
                ..Launch::default()
            },
        )
    }

    /// Starts `bin daemon` as `launch` says and waits for its API.
    pub fn launch(bin: &str, launch: Launch) -> anyhow::Result<TestDaemon> {
        let builder = {
            let mut b = tempfile::Builder::new();
            b.prefix("shoal-test-");
            b
        };
        let dir = match &launch.parent_dir {
            Some(parent) => builder.tempdir_in(parent)?,
            None => builder.tempdir()?,
        };
        let socket = dir.path().join("shoal.sock");
        let data_root = dir.path().join("data");
        let mut d = TestDaemon {
            bin: bin.into(),
            dir,
            socket,
            data_root,
            listen_addr: launch.listen_addr,
            extra_args: launch.extra_args,
            wrapper: launch.wrapper,
            proc: None,
        };
        d.spawn()?;
        d.wait_ready()?;
        Ok(d)
    }

    fn command(&self) -> Command {
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("daemon")
            .arg("-H")
            .arg(&self.socket)
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--listen-addr")
            .arg(&self.listen_addr)
            .arg("--advertise-addr")
            .arg(&self.listen_addr);
        // Daemons run directly share the machine's engine and network namespace: no overlay
        // data plane, unless the test asks for one. Daemons inside test hosts (a wrapper
        // enters the host) build theirs.
        if self.wrapper.is_empty() && !self.extra_args.iter().any(|a| a.starts_with("--overlay")) {
            cmd.arg("--overlay=false");
        }
        cmd.args(&self.extra_args);
        cmd
    }

    /// The daemon's log file (stderr of every run, appended).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = self.command().stdout(Stdio::null()).stderr(log).spawn()?;
        self.proc = Some(DaemonProc { child });
        Ok(())
    }

    /// Runs a second `shoal daemon` with the same settings and returns its output (for
    /// testing refusals such as the data-root lock).
    pub fn run_second(&self, socket: &Path) -> anyhow::Result<Output> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("daemon")
            .arg("-H")
            .arg(socket)
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--listen-addr")
            .arg(&self.listen_addr)
            .arg("--overlay=false");
        Ok(cmd.output()?)
    }

    pub fn wait_ready(&mut self) -> anyhow::Result<()> {
        let socket = self.socket.clone();
        let res = wait_until("the daemon to answer /_ping", START_TIMEOUT, || {
            if let Some(p) = self.proc.as_mut()
                && let Ok(Some(_)) = p.child.try_wait()
            {
                return true; // exited: reported below
            }
            api_call(&socket, "GET", "/_ping", None).is_ok_and(|r| r.status == 200)
        });
        if let Some(p) = self.proc.as_mut()
            && let Ok(Some(status)) = p.child.try_wait()
        {
            anyhow::bail!(
                "daemon exited with {status} during start-up; log:\n{}",
                self.log()
            );
        }
        res.map_err(|e| anyhow::anyhow!("{e}; log:\n{}", self.log()))
    }

    /// Sends `sig` and waits for the process to exit.
    pub fn signal_and_wait(&mut self, sig: Signal) -> anyhow::Result<std::process::ExitStatus> {
        let mut p = self
            .proc
            .take()
            .ok_or_else(|| anyhow::anyhow!("daemon not running"))?;
        kill(Pid::from_raw(p.child.id() as i32), sig)?;
        Ok(p.child.wait()?)
    }

    /// SIGKILL, then start again on the same data root and wait for the API.
    pub fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        self.signal_and_wait(Signal::SIGKILL)?;
        self.restart()
    }

    /// Starts the daemon again (after it was stopped).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.spawn()?;
        self.wait_ready()
    }

    /// Starts the daemon and returns its exit output without waiting for readiness (for
    /// start-up refusals).
    pub fn start_expecting_failure(&mut self) -> anyhow::Result<Output> {
        let out = self.command().output()?;
        Ok(out)
    }

    /// Sends `sig` without waiting (SIGSTOP/SIGCONT to pause and resume a node).
    pub fn signal(&self, sig: Signal) -> anyhow::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| anyhow::anyhow!("daemon not running"))?;
        kill(Pid::from_raw(pid as i32), sig)?;
        Ok(())
    }

    /// Whether the process is running (not killed by a test).
    pub fn is_running(&self) -> bool {
        self.proc.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.child.id())
    }

    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<ApiResponse> {
        api_call(&self.socket, method, path, body.map(str::as_bytes))
    }

    /// The `shoal` CLI against this daemon.
    pub fn shoal(&self, args: &[&str]) -> Cli {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-H").arg(&self.socket).args(args);
        Cli::run(cmd, format!("shoal {}", args.join(" ")))
    }

    /// `shoal service create -d --name <name> --replicas 0` of the test image: a cheap write
    /// that only the store sees (no container starts).
    pub fn create_empty_service(&self, name: &str) -> Cli {
        self.shoal(&[
            "service",
            "create",
            "-d",
            "--name",
            name,
            "--replicas",
            "0",
            "shoal-test/busybox:latest",
        ])
    }

    /// The real `docker` CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Cli {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env_remove("DOCKER_CONTEXT")
            .args(args);
        Cli::run(cmd, format!("docker {}", args.join(" ")))
    }
}

impl Drop for TestDaemon {
    /// Kills the daemon, then removes what it leaves on the host: the task containers its
    /// agent made (by the node id in its `state.json`; read from disk, since a paused daemon
    /// would not answer) and the secret tmpfs mounts under its directory.
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            // Best effort in teardown: the process may already be gone.
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        let node_id = std::fs::read_to_string(self.data_root.join("swarm/state.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["node_id"].as_str().map(str::to_string));
        if let Some(id) = node_id.filter(|id| !id.is_empty()) {
            crate::image::remove_node_containers(&id);
        }
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        for point in mounts.lines().filter_map(|l| l.split(' ').nth(1)) {
            if point.starts_with(&dir) {
                // Teardown: a mount left behind only keeps the temp dir from being removed.
                let _ = Command::new("umount").arg("-l").arg(point).output();
            }
        }
    }
}

/// The outcome of one CLI run.
#[derive(Debug)]
pub struct Cli {
    pub what: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Cli {
    /// Runs `cmd` to completion and captures its outcome; `what` names it in errors.
    pub fn run(mut cmd: Command, what: String) -> Cli {
        match cmd.output() {
            Ok(o) => Cli {
                what,
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => Cli {
                what,
                code: -1,
                stdout: String::new(),
                stderr: format!("failed to run: {e}"),
            },
        }
    }

    /// Fails with the command and its output unless it exited 0.
    pub fn ok(self) -> anyhow::Result<Cli> {
        if self.code != 0 {
            anyhow::bail!(
                "`{}` exited {}\nstdout:\n{}\nstderr:\n{}",
                self.what,
                self.code,
                self.stdout,
                self.stderr
            );
        }
        Ok(self)
    }

    /// Fails unless it exited non-zero.
    pub fn failed(self) -> anyhow::Result<Cli> {
        if self.code == 0 {
            anyhow::bail!(
                "`{}` unexpectedly succeeded\nstdout:\n{}",
                self.what,
                self.stdout
            );
        }
        Ok(self)
    }
}
