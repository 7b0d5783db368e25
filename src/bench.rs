//! `shoal bench …`: prints the figures the issues ask for, with Docker's where one exists.

use shoal_cli::{BenchArgs, BenchTarget};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Replicas of the end-to-end benchmark (issue 3).
const E2E_REPLICAS: usize = 30;
/// Image of the end-to-end benchmark; built from busybox-static by `scripts/demo`/tests.
const E2E_IMAGE: &str = "shoal-test/busybox:latest";
/// Give up on a run after this long.
const E2E_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn run(args: BenchArgs) -> ExitCode {
    let result = match args.what {
        BenchTarget::Raft => raft(&args).await,
        BenchTarget::Scheduler => scheduler(),
        BenchTarget::Services => tokio::task::spawn_blocking(services)
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
        BenchTarget::Idle => tokio::task::spawn_blocking(idle)
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
        BenchTarget::Agents => agents(&args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn raft(args: &BenchArgs) -> Result<(), String> {
    println!(
        "raft commit benchmark: one manager, fsync on, {} writes per run",
        args.writes
    );
    println!(
        "{:>8} {:>12} {:>10} {:>10} {:>10}",
        "writers", "writes/s", "p50", "p99", "max"
    );
    for &c in &args.concurrency {
        let tmp =
            tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let dir = match &args.data_dir {
            Some(d) => d.join(format!("bench-{c}")),
            None => tmp.path().to_path_buf(),
        };
        let r = shoal_raft::bench_writes(&dir, args.writes, c)
            .await
            .map_err(|e| format!("{c} writers: {e}"))?;
        println!(
            "{:>8} {:>12.0} {:>10.2?} {:>10.2?} {:>10.2?}{}",
            c,
            r.writes_per_sec,
            r.p50,
            r.p99,
            r.max,
            if r.failed > 0 {
                format!("  ({} failed)", r.failed)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// Issue 4's control-plane scale benchmark: see `shoal_bench::agents`.
async fn agents(args: &BenchArgs) -> Result<(), String> {
    shoal_bench::agents::run(shoal_bench::agents::Params {
        bin: shoal_bench::agents::current_bin()?,
        nodes: args.nodes,
        tasks: args.tasks,
        managers: args.managers,
        services: args.services,
        data_dir: args.data_dir.clone(),
    })
    .await
}

fn scheduler() -> Result<(), String> {
    let (nodes, tasks) = (1_000, 100_000);
    let runs: Vec<Duration> = (0..3)
        .map(|_| shoal_manager::scheduler::bench_plan(nodes, tasks))
        .collect();
    let best = runs.iter().min().copied().unwrap_or_default();
    println!(
        "scheduler: {tasks} tasks onto {nodes} nodes: best of 3 {best:.2?} (runs: {runs:.2?}); SwarmKit published 22.6 s"
    );
    Ok(())
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("docker {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn running(label: &str) -> usize {
    docker(&["ps", "-q", "--filter", label])
        .map(|s| s.lines().filter(|l| !l.is_empty()).count())
        .unwrap_or(0)
}

/// Runs `create`, then polls until `n` containers matching `label` run.
fn time_until_running(create: &mut Command, label: &str, n: usize) -> Result<Duration, String> {
    let start = Instant::now();
    let out = create.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "service create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    while running(label) < n {
        if start.elapsed() > E2E_TIMEOUT {
            return Err(format!("{n} containers did not run within {E2E_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(start.elapsed())
}

struct Daemon {
    child: std::process::Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Result<Daemon, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let socket = dir.path().join("shoal.sock");
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .args([
                "daemon",
                "--listen-addr",
                "127.0.0.1:23999",
                "--advertise-addr",
                "127.0.0.1:23999",
                "--log-level",
                "warn",
            ])
            .arg("-H")
            .arg(&socket)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            if Instant::now() > deadline {
                return Err("the shoal daemon did not start".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let d = Daemon {
            child,
            socket,
            _dir: dir,
        };
        d.shoal(&["swarm", "init"])?;
        Ok(d)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c =
            Command::new(std::env::current_exe().unwrap_or_else(|_| PathBuf::from("shoal")));
        c.arg("-H").arg(&self.socket).args(args);
        c
    }

    fn shoal(&self, args: &[&str]) -> Result<String, String> {
        let out = self.cmd(args).output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "shoal {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A `/proc/<pid>/status` field in KiB (`VmRSS`, `RssAnon`, `RssFile`, …).
    fn status_kib(&self, field: &str) -> Option<u64> {
        status_kib(
            Path::new(&format!("/proc/{}/status", self.child.id())),
            field,
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Teardown of a benchmark daemon; nothing to do if it is already gone.
        let _ = self.shoal(&["swarm", "leave", "--force"]);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_kib(status: &Path, field: &str) -> Option<u64> {
    std::fs::read_to_string(status)
        .ok()?
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn services() -> Result<(), String> {
    docker(&["image", "inspect", E2E_IMAGE])
        .map_err(|_| format!("{E2E_IMAGE} is missing: run the tests or scripts/demo first"))?;
    if docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])?.trim() != "inactive" {
        return Err("the engine is already in a swarm; `docker swarm leave --force` first".into());
    }
    let replicas = E2E_REPLICAS.to_string();

    let d = Daemon::start()?;
    let label = "label=com.docker.swarm.service.name=bench-shoal";
    let shoal_time = time_until_running(
        &mut d.cmd(&[
            "service",
            "create",
            "-d",
            "--name",
            "bench-shoal",
            "--replicas",
            &replicas,
            E2E_IMAGE,
            "sleep",
            "3600",
        ]),
        label,
        E2E_REPLICAS,
    )?;
    d.shoal(&["service", "rm", "bench-shoal"])?;
    drop(d);

    docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"])?;
    let docker_time = time_until_running(
        Command::new("docker").args([
            "service",
            "create",
            "-d",
            "--no-resolve-image",
            "--name",
            "bench-docker",
            "--replicas",
            &replicas,
            E2E_IMAGE,
            "sleep",
            "3600",
        ]),
        "label=com.docker.swarm.service.name=bench-docker",
        E2E_REPLICAS,
    );
    // Always leave Docker's swarm, even when its run failed.
    let _ = docker(&["service", "rm", "bench-docker"]);
    let left = docker(&["swarm", "leave", "--force"]);
    let docker_time = docker_time?;
    left?;
    println!(
        "service create --replicas {E2E_REPLICAS} until {E2E_REPLICAS} containers run: shoal {shoal_time:.2?}, docker swarm {docker_time:.2?} (ratio {:.2})",
        shoal_time.as_secs_f64() / docker_time.as_secs_f64()
    );
    Ok(())
}

fn idle() -> Result<(), String> {
    let d = Daemon::start()?;
    std::thread::sleep(Duration::from_secs(5));
    let shoal = d
        .status_kib("VmRSS")
        .ok_or("cannot read the daemon's RSS")?;
    let part = |f: &str| {
        d.status_kib(f)
            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|| "?".into())
    };
    let dockerd = Command::new("pidof")
        .arg("dockerd")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .and_then(|pid| status_kib(Path::new(&format!("/proc/{pid}/status")), "VmRSS"))
        });
    println!(
        "idle one-node manager RSS: shoal {:.1} MiB (anonymous {}, file-backed {}); dockerd (this host's, not in swarm mode) {}",
        shoal as f64 / 1024.0,
        part("RssAnon"),
        part("RssFile"),
        dockerd
            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}
