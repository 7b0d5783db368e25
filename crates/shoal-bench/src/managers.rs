//! Real `shoal daemon` manager processes for a benchmark, each with its own data root, API
//! socket and loopback address (the approach of `shoal-testkit`, which is dev-only), and the
//! sampling of their memory.

use serde_json::Value;
use shoal_cli::client::Client;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How long a daemon may take to answer `/_ping`, and a cluster to form.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// One manager daemon; killed on drop.
pub struct Manager {
    pub addr: String,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub pid: u32,
    bin: PathBuf,
    child: Child,
}

impl Manager {
    /// Starts `bin daemon` under `dir` on `addr` (`host:port`, listen and advertise), with the
    /// daemon's log at warn level in `dir/daemon.log`.
    pub async fn start(bin: &Path, dir: &Path, addr: &str) -> Result<Manager, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let socket = dir.join("shoal.sock");
        let log = dir.join("daemon.log");
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let child = Command::new(bin)
            .arg("daemon")
            .arg("-H")
            .arg(&socket)
            .arg("--data-root")
            .arg(dir.join("data"))
            .args(["--listen-addr", addr, "--advertise-addr", addr])
            .args(["--log-level", "warn"])
            // several managers on one host: no overlay data plane
            .arg("--overlay=false")
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| "the daemon exited at once".to_string())?;
        let m = Manager {
            addr: addr.to_string(),
            socket,
            log,
            pid,
            bin: bin.to_path_buf(),
            child,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let mut c = m.client();
            if c.ping().await.is_ok() {
                return Ok(m);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "daemon on {addr} did not answer /_ping; see {}",
                    m.log.display()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }

    /// Runs the `shoal` CLI against this daemon; its stdout on success.
    pub async fn shoal(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.bin)
            .arg("-H")
            .arg(&self.socket)
            .args(args)
            .output()
            .await
            .map_err(|e| format!("shoal {}: {e}", args.join(" ")))?;
        if !out.status.success() {
            return Err(format!(
                "shoal {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `GET path` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.client()
            .get_json(path)
            .await
            .map_err(|e| format!("GET {path} on {}: {e}", self.addr))
    }

    /// This node's id.
    pub async fn node_id(&self) -> Result<String, String> {
        let info = self.get("/info").await?;
        info["Swarm"]["NodeID"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("{} is not in a swarm", self.addr))
    }

    /// Current and peak resident memory of the process, KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find(|l| l.starts_with(name))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Stops the daemon (SIGKILL: its state is thrown away with the benchmark's directory).
    pub async fn stop(mut self) {
        // Teardown; the process may already have exited.
        let _ = self.child.kill().await;
    }
}

/// Polls `cond` every 100 ms until it returns `Ok(true)` or `timeout` passes; the error names
/// `what` and the last failure.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut cond: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, String>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        match cond().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            return Err(format!(
                "timed out after {timeout:?} waiting for {what} {last}"
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Starts `count` managers under `root` on `127.<a>.<b>.{1..}:2377`, inits the first, joins
/// the others one at a time (raft membership changes are serial), drains all of them so tasks
/// go only to the simulated workers, and returns them with the worker join token.
pub async fn start_cluster(
    bin: &Path,
    root: &Path,
    count: usize,
) -> Result<(Vec<Manager>, String), String> {
    let a = 200 + std::process::id() % 50;
    let b = std::process::id() / 50 % 250;
    let mut managers = Vec::new();
    for i in 0..count {
        let addr = format!("127.{a}.{b}.{}:2377", i + 1);
        managers.push(Manager::start(bin, &root.join(format!("m{i}")), &addr).await?);
    }
    managers[0].shoal(&["swarm", "init"]).await?;
    let manager_token = managers[0]
        .shoal(&["swarm", "join-token", "-q", "manager"])
        .await?;
    let worker_token = managers[0]
        .shoal(&["swarm", "join-token", "-q", "worker"])
        .await?;
    let first = managers[0].addr.clone();
    for (i, m) in managers.iter().enumerate().skip(1) {
        m.shoal(&[
            "swarm",
            "join",
            "--token",
            &manager_token,
            "--listen-addr",
            &m.addr,
            "--advertise-addr",
            &m.addr,
            &first,
        ])
        .await?;
        let want = i + 1;
        wait_for("the managers to be reachable", START_TIMEOUT, || {
            reachable_managers(&managers[0], want)
        })
        .await?;
    }
    for m in &managers {
        let id = m.node_id().await?;
        managers[0]
            .shoal(&["node", "update", "--availability", "drain", &id])
            .await?;
    }
    Ok((managers, worker_token))
}

async fn reachable_managers(m: &Manager, want: usize) -> Result<bool, String> {
    let nodes = m.get("/nodes").await?;
    let n = nodes
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|n| n["ManagerStatus"]["Reachability"] == "reachable")
                .count()
        })
        .unwrap_or(0);
    Ok(n >= want)
}
