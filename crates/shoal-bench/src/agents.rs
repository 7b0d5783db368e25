//! `shoal bench agents`: the control-plane scale benchmark of issue 4.
//!
//! Three real manager daemons, a thousand simulated agents ([`crate::sim_agent`]) in this
//! process, services totalling fifty thousand replicas created through the Engine API; the
//! figure is the time from the first `service create` until every task is reported running
//! (as acknowledged by the dispatcher, then as the store's service status says), with each
//! manager's peak resident memory. Docker's Swarm2K ran ~95,000 tasks on 2,384 nodes with 3
//! managers; the target is under 60 s and under 1 GiB per manager.

use crate::managers::{Manager, start_cluster, wait_for};
use crate::sim_agent::{self, Counters, SimAgent};
use futures::StreamExt;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Joins in flight at once: each is a CSR signature and a raft write on the managers, so a
/// modest number keeps them busy without queueing past the client's deadline.
pub const JOIN_CONCURRENCY: usize = 32;
/// Attempts per join before the benchmark gives up.
const JOIN_ATTEMPTS: usize = 5;
/// Give up waiting for the tasks after this long.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// Waits for sessions, the store's view and the teardown.
const PHASE_TIMEOUT: Duration = Duration::from_secs(180);
/// Image of the simulated services; never pulled, nothing starts containers.
const IMAGE: &str = "shoal-bench/sim:latest";
/// Target of issue 4.
const TARGET: Duration = Duration::from_secs(60);
const TARGET_RSS_KIB: u64 = 1024 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct Params {
    /// The `shoal` binary to start the managers from.
    pub bin: PathBuf,
    pub nodes: usize,
    pub tasks: usize,
    pub managers: usize,
    pub services: usize,
    /// Where the managers keep their data (a temporary directory if `None`).
    pub data_dir: Option<PathBuf>,
}

/// Peak memory per manager, sampled in the background.
struct Sampler {
    peaks: Arc<peaks::Peaks>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Peak memory per manager, updated with atomics from the sampler task.
mod peaks {
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Debug, Default)]
    pub struct Peaks(pub Vec<AtomicU64>);

    impl Peaks {
        pub fn new(n: usize) -> Self {
            Self((0..n).map(|_| AtomicU64::new(0)).collect())
        }
        pub fn note(&self, i: usize, kib: u64) {
            self.0[i].fetch_max(kib, Ordering::Relaxed);
        }
        pub fn get(&self, i: usize) -> u64 {
            self.0[i].load(Ordering::Relaxed)
        }
    }
}

impl Sampler {
    fn start(pids: Vec<u32>) -> Self {
        let peaks = Arc::new(peaks::Peaks::new(pids.len()));
        let cancel = CancellationToken::new();
        let (p, c) = (peaks.clone(), cancel.clone());
        let task = tokio::spawn(async move {
            loop {
                for (i, pid) in pids.iter().enumerate() {
                    if let Some(kib) = rss_kib(*pid) {
                        p.note(i, kib);
                    }
                }
                tokio::select! {
                    biased;
                    _ = c.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        });
        Self {
            peaks,
            cancel,
            task,
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        // The sampler only reads /proc; a panic there changes no figure already noted.
        let _ = self.task.await;
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// Runs the benchmark and prints its table.
pub async fn run(p: Params) -> Result<(), String> {
    if p.nodes == 0 || p.managers == 0 || p.services == 0 {
        return Err("--nodes, --managers and --services must be at least 1".into());
    }
    let tmp = tempfile::Builder::new()
        .prefix("shoal-bench-agents-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let root = p
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    eprintln!(
        "control-plane scale: {} managers, {} simulated agents, {} services, {} tasks (data in {})",
        p.managers,
        p.nodes,
        p.services,
        p.tasks,
        root.display()
    );
    let started = Instant::now();
    let (managers, token) = start_cluster(&p.bin, &root, p.managers).await?;
    let formed = started.elapsed();
    eprintln!("cluster formed in {formed:.2?}");
    let result = measure(&p, &managers, &token).await;
    for m in managers {
        m.stop().await;
    }
    match result {
        Ok(r) => {
            print_table(&p, formed, &r);
            Ok(())
        }
        Err(e) => {
            // Keep the managers' logs for a failed run.
            let kept = tmp.keep();
            Err(format!("{e} (manager logs under {})", kept.display()))
        }
    }
}

struct Figures {
    joined: Duration,
    sessions: Duration,
    created: Duration,
    all_running: Duration,
    store_running: Duration,
    stopped: Option<Duration>,
    rss_before: Vec<u64>,
    rss_peak: Vec<u64>,
    hwm: Vec<u64>,
    batches: usize,
    errors: usize,
}

async fn measure(p: &Params, managers: &[Manager], token: &str) -> Result<Figures, String> {
    let addrs: Vec<String> = managers.iter().map(|m| m.addr.clone()).collect();
    let counters = Arc::new(Counters::default());
    let cancel = CancellationToken::new();
    let sampler = Sampler::start(managers.iter().map(|m| m.pid).collect());

    // Joins: the real protocol, a few in flight, spread over the managers.
    let t = Instant::now();
    let joins = futures::stream::iter(0..p.nodes)
        .map(|i| {
            let addr = addrs[i % addrs.len()].clone();
            let token = token.to_string();
            async move {
                let mut last = String::new();
                for _ in 0..JOIN_ATTEMPTS {
                    match sim_agent::join(&addr, &token, i).await {
                        Ok(j) => return Ok(j),
                        Err(e) => last = e,
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(format!("agent {i}: {last}"))
            }
        })
        .buffer_unordered(JOIN_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let joined_in = t.elapsed();
    let joined: Vec<_> = joins.into_iter().collect::<Result<_, _>>()?;
    eprintln!("{} agents joined in {joined_in:.2?}", joined.len());

    let mut agents = JoinSet::new();
    let t = Instant::now();
    for j in joined {
        let agent = SimAgent::new(j, counters.clone(), cancel.child_token());
        agents.spawn(agent.run(cancel.child_token()));
    }
    let want_ready = p.nodes + p.managers;
    wait_for(
        "every agent's session and Ready node",
        PHASE_TIMEOUT,
        || {
            let c = counters.clone();
            async move {
                if c.sessions.load(Ordering::Relaxed) < p.nodes {
                    return Ok(false);
                }
                let nodes = managers[0].get("/nodes").await?;
                let ready = nodes
                    .as_array()
                    .map(|a| a.iter().filter(|n| n["Status"]["State"] == "ready").count())
                    .unwrap_or(0);
                Ok(ready >= want_ready)
            }
        },
    )
    .await?;
    let sessions_in = t.elapsed();
    eprintln!(
        "{} sessions open, nodes ready, in {sessions_in:.2?}",
        p.nodes
    );
    let rss_before: Vec<u64> = managers
        .iter()
        .map(|m| rss_kib(m.pid).unwrap_or(0))
        .collect();

    // The measured part: create the services, wait for every task to run.
    let t = Instant::now();
    let mut service_ids = Vec::new();
    let per = p.tasks / p.services;
    for k in 0..p.services {
        let replicas = per + usize::from(k < p.tasks % p.services);
        let body = json!({
            "Name": format!("sim-{k}"),
            "TaskTemplate": {"ContainerSpec": {"Image": IMAGE}},
            "Mode": {"Replicated": {"Replicas": replicas}},
        });
        let via = &managers[k % managers.len()];
        let created: Value = via
            .client()
            .post_json("/services/create", &body)
            .await
            .map_err(|e| format!("create sim-{k}: {e}"))?;
        service_ids.push(created["ID"].as_str().unwrap_or_default().to_string());
    }
    let created_in = t.elapsed();
    eprintln!("{} services created in {created_in:.2?}", p.services);
    let mut next_report = Instant::now();
    loop {
        let running = counters.running.load(Ordering::Relaxed);
        if running >= p.tasks {
            break;
        }
        if t.elapsed() > RUN_TIMEOUT {
            sampler.stop().await;
            cancel.cancel();
            return Err(format!(
                "only {running} of {} tasks running after {RUN_TIMEOUT:?}",
                p.tasks
            ));
        }
        if Instant::now() >= next_report {
            let rss: Vec<String> = managers
                .iter()
                .map(|m| mib(rss_kib(m.pid).unwrap_or(0)))
                .collect();
            eprintln!(
                "  {:>6.1}s running {running:>6} batches {:>6} errors {:>4} sessions {:>5} rss [{}]",
                t.elapsed().as_secs_f64(),
                counters.batches.load(Ordering::Relaxed),
                counters.errors.load(Ordering::Relaxed),
                counters.sessions.load(Ordering::Relaxed),
                rss.join(", ")
            );
            next_report = Instant::now() + Duration::from_secs(2);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_running = t.elapsed();
    eprintln!(
        "all {} tasks reported running at {all_running:.2?}",
        p.tasks
    );
    wait_for(
        "the store's service status to count every task running",
        PHASE_TIMEOUT,
        || store_running(&managers[0], p.tasks),
    )
    .await?;
    let store_running = t.elapsed();

    // Teardown: the agents report the tasks shut down as the dispatcher tells them.
    let t = Instant::now();
    for id in &service_ids {
        managers[0]
            .client()
            .delete(&format!("/services/{id}"))
            .await
            .map_err(|e| format!("remove service {id}: {e}"))?;
    }
    let stopped = wait_for("every task to leave the agents", PHASE_TIMEOUT, || {
        let c = counters.clone();
        async move { Ok(c.running.load(Ordering::Relaxed) == 0) }
    })
    .await
    .ok()
    .map(|()| t.elapsed());

    let hwm = managers
        .iter()
        .map(|m| m.memory_kib().map(|(_, h)| h).unwrap_or(0))
        .collect();
    let peaks = sampler.peaks.clone();
    sampler.stop().await;
    cancel.cancel();
    while agents.join_next().await.is_some() {}
    Ok(Figures {
        joined: joined_in,
        sessions: sessions_in,
        created: created_in,
        all_running,
        store_running,
        stopped,
        rss_before,
        rss_peak: (0..managers.len()).map(|i| peaks.get(i)).collect(),
        hwm,
        batches: counters.batches.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
    })
}

/// Whether the service status on `m` counts `want` running tasks in all.
async fn store_running(m: &Manager, want: usize) -> Result<bool, String> {
    let services = m.get("/services?status=true").await?;
    let running: u64 = services
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["ServiceStatus"]["RunningTasks"].as_u64())
                .sum()
        })
        .unwrap_or(0);
    Ok(running as usize >= want)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn print_table(p: &Params, formed: Duration, r: &Figures) {
    println!(
        "control-plane scale: {} managers, {} simulated agents, {} services, {} tasks",
        p.managers, p.nodes, p.services, p.tasks
    );
    println!("{:<48} {:>12}", "phase", "time");
    let row = |what: &str, d: Duration| println!("{what:<48} {:>12.2?}", d);
    row("cluster formed (init + manager joins)", formed);
    row(
        &format!(
            "{} agents joined (CSR, {JOIN_CONCURRENCY} at a time)",
            p.nodes
        ),
        r.joined,
    );
    row("sessions open, every node Ready", r.sessions);
    row("services created (API calls)", r.created);
    row(
        "all tasks reported running (from first create)",
        r.all_running,
    );
    row("store's service status agrees", r.store_running);
    match r.stopped {
        Some(d) => row("services removed, agents hold no task", d),
        None => println!(
            "{:<48} {:>12}",
            "services removed, agents hold no task", "timed out"
        ),
    }
    println!(
        "target: all running under {TARGET:?}: {} ({} status batches, {} retried calls)",
        verdict(r.all_running < TARGET),
        r.batches,
        r.errors
    );
    println!(
        "{:<8} {:>14} {:>14} {:>14}",
        "manager", "RSS idle", "RSS peak", "VmHWM"
    );
    for i in 0..r.rss_peak.len() {
        println!(
            "{:<8} {:>14} {:>14} {:>14}",
            i,
            mib(r.rss_before[i]),
            mib(r.rss_peak[i]),
            mib(r.hwm[i]),
        );
    }
    let worst = r.hwm.iter().chain(&r.rss_peak).copied().max().unwrap_or(0);
    println!(
        "target: each manager under 1 GiB: {} (largest {})",
        verdict(worst < TARGET_RSS_KIB),
        mib(worst)
    );
    println!("Docker's Swarm2K: ~95,000 tasks on 2,384 nodes with 3 managers");
}

/// The default binary: this process's own executable (`shoal bench agents`).
pub fn current_bin() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot find the shoal binary: {e}"))
}
