//! Test hosts: several "machines" on one Linux box, each with its own network namespace on a
//! shared LAN, its own mount and UTS namespaces, its own `dockerd` and a `shoal daemon`
//! inside, so tests can exercise networking between hosts (overlays, partitions, captures).
//!
//! One set ([`TestHosts`]) is: a fabric namespace holding the LAN bridge `br0`; `n` host
//! namespaces, host `i` with `eth0` = `10.99.<lan>.(11+i)/24` and no default route (nothing
//! leaves the LAN); a client namespace at `10.99.<lan>.100` playing an outside client. Every
//! name and path derives from the set's prefix ([`layout`]), so a set left by a killed run is
//! found and removed by prefix. Needs root, `ip` (iproute2), `nsenter`/`unshare`
//! (util-linux), `dockerd`, and `tcpdump` for captures. See `docs/testing.md`.

mod capture;
mod host;
pub mod layout;
mod sys;

pub use capture::{Capture, contains_bytes};
pub use host::{HostOptions, TestHost};

use crate::cluster::{FORM_TIMEOUT, get_json};
use crate::daemon::TestDaemon;
use crate::wait::wait_until;
use layout::{CLUSTER_PORT, LAN_BRIDGE, Layout, lan_octet};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use sys::ip;

/// Set to `1` to keep every set (namespaces, engines, daemons) after the test for debugging.
pub const KEEP_ENV: &str = "SHOAL_KEEP_HOSTS";

static NEXT_SET: AtomicU32 = AtomicU32::new(0);

/// A set of test hosts on one LAN; everything is removed on drop, even after a panic.
pub struct TestHosts {
    layout: Layout,
    hosts: Vec<TestHost>,
    worker_token: String,
    manager_token: String,
}

impl TestHosts {
    /// Starts `n` hosts named `<prefix>-h<i>`, finding the `shoal` binary next to the running
    /// test's directory (`target/<profile>/shoal`, as cargo lays out integration tests).
    pub fn start(prefix: &str, n: usize) -> anyhow::Result<TestHosts> {
        let exe = std::env::current_exe()?;
        let bin = exe
            .parent()
            .and_then(|deps| deps.parent())
            .map(|profile| profile.join("shoal"))
            .filter(|b| b.exists())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no shoal binary beside {} (run from `cargo test`, or use TestHosts::start_with)",
                    exe.display()
                )
            })?;
        Self::start_with(&bin.to_string_lossy(), prefix, n)
    }

    /// Starts `n` hosts running `bin daemon` (pass `env!("CARGO_BIN_EXE_shoal")`). Fails if a
    /// live process owns a set with this prefix; removes a dead one's leftovers first.
    pub fn start_with(bin: &str, prefix: &str, n: usize) -> anyhow::Result<TestHosts> {
        Self::start_opts(bin, prefix, n, &HostOptions::default())
    }

    /// Like [`start_with`](Self::start_with), with more flags for every host's dockerd and
    /// `shoal daemon` (`opts`); they stay in force across restarts.
    pub fn start_opts(
        bin: &str,
        prefix: &str,
        n: usize,
        opts: &HostOptions,
    ) -> anyhow::Result<TestHosts> {
        anyhow::ensure!(n >= 1, "a set of test hosts needs at least one host");
        let layout = Layout::new(
            prefix,
            lan_octet(std::process::id(), NEXT_SET.fetch_add(1, Ordering::Relaxed)),
        )?;
        claim(&layout)?;
        let mut set = TestHosts {
            layout,
            hosts: Vec::new(),
            worker_token: String::new(),
            manager_token: String::new(),
        };
        set.make_lan()?;
        let image = set.layout.data_dir().join("busybox.tar");
        crate::image::ensure_busybox()?;
        sys::run(
            "docker",
            &[
                "save",
                "-o",
                &image.to_string_lossy(),
                crate::image::BUSYBOX,
            ],
        )?;
        let layout = &set.layout;
        let started: Vec<anyhow::Result<TestHost>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let image = &image;
                    s.spawn(move || TestHost::start(layout, i, bin, image, opts))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a host's start-up panicked")))
                })
                .collect()
        });
        let mut first_err = None;
        for (i, r) in started.into_iter().enumerate() {
            match r {
                Ok(h) => set.hosts.push(h),
                Err(e) => {
                    first_err.get_or_insert(anyhow::anyhow!("host {i}: {e}"));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(set),
        }
    }

    /// The fabric namespace with the LAN bridge, and the client namespace on it.
    fn make_lan(&self) -> anyhow::Result<()> {
        let l = &self.layout;
        let (fab, client, port) = (l.fabric_ns(), l.client_ns(), l.client_port());
        ip(&["netns", "add", &fab])?;
        ip(&["-n", &fab, "link", "set", "lo", "up"])?;
        ip(&["-n", &fab, "link", "add", LAN_BRIDGE, "type", "bridge"])?;
        ip(&["-n", &fab, "link", "set", LAN_BRIDGE, "up"])?;
        ip(&["netns", "add", &client])?;
        ip(&["-n", &client, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", &fab, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
            &client,
        ])?;
        ip(&["-n", &fab, "link", "set", port, "master", LAN_BRIDGE, "up"])?;
        let addr = format!("{}/24", l.client_ip());
        ip(&["-n", &client, "addr", "add", &addr, "dev", "eth0"])?;
        ip(&["-n", &client, "link", "set", "eth0", "up"])
    }

    /// The set's prefix.
    pub fn prefix(&self) -> &str {
        &self.layout.prefix
    }

    pub fn host(&self, i: usize) -> &TestHost {
        &self.hosts[i]
    }

    /// Host `i`, mutable (for restarts).
    pub fn host_mut(&mut self, i: usize) -> &mut TestHost {
        &mut self.hosts[i]
    }

    pub fn hosts(&self) -> &[TestHost] {
        &self.hosts
    }

    /// The client's LAN address.
    pub fn client_addr(&self) -> String {
        self.layout.client_ip()
    }

    /// Runs `cmd` in the outside client's network namespace.
    pub fn client_exec(&self, cmd: &[&str]) -> Output {
        let ns = format!("--net=/run/netns/{}", self.layout.client_ns());
        host::exec_output(Command::new("nsenter").arg(ns).arg("--").args(cmd))
    }

    /// Starts capturing the LAN's traffic matching the pcap `filter` (empty: everything).
    pub fn capture_lan(&self, filter: &str) -> anyhow::Result<Capture> {
        Capture::start(
            &self.layout.fabric_ns(),
            LAN_BRIDGE,
            filter,
            self.layout.run_dir().join("captures"),
        )
    }

    /// The worker and manager join tokens (after [`init_swarm`](Self::init_swarm)).
    pub fn join_tokens(&self) -> (&str, &str) {
        (&self.worker_token, &self.manager_token)
    }

    /// Host 0 runs `swarm init --advertise-addr <its LAN ip>`; hosts `1..managers` join as
    /// managers one at a time (each waits until host 0 sees it reachable), the rest as
    /// workers; then waits until every manager lists every node Ready.
    pub fn init_swarm(&mut self, managers: usize) -> anyhow::Result<()> {
        self.init_swarm_with(managers, &[])
    }

    /// [`init_swarm`](Self::init_swarm) with more `swarm init` flags on host 0 (for example
    /// `--data-path-port 7789`).
    pub fn init_swarm_with(&mut self, managers: usize, init_args: &[&str]) -> anyhow::Result<()> {
        let n = self.hosts.len();
        anyhow::ensure!(
            (1..=n).contains(&managers),
            "init_swarm: {managers} managers for {n} hosts"
        );
        let first = self.hosts[0].daemon();
        let first_addr = format!("{}:{CLUSTER_PORT}", self.hosts[0].addr());
        let advertise = self.hosts[0].addr();
        let mut init = vec!["swarm", "init", "--advertise-addr", advertise.as_str()];
        init.extend_from_slice(init_args);
        first.shoal(&init).ok()?;
        let swarm = get_json(first, "/v1.44/swarm")?;
        let token = |k: &str| {
            swarm["JoinTokens"][k]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        self.worker_token = token("Worker");
        self.manager_token = token("Manager");
        for i in 1..n {
            let h = &self.hosts[i];
            let tok = if i < managers {
                &self.manager_token
            } else {
                &self.worker_token
            };
            let addr = format!("{}:{CLUSTER_PORT}", h.addr());
            h.daemon()
                .shoal(&[
                    "swarm",
                    "join",
                    "--token",
                    tok,
                    "--listen-addr",
                    &addr,
                    "--advertise-addr",
                    &addr,
                    &first_addr,
                ])
                .ok()
                .map_err(|e| anyhow::anyhow!("{e}\n{}", self.logs()))?;
            if i < managers {
                self.wait_nodes(&[0], i + 1, i + 1, "reachable managers")?;
            }
        }
        let all: Vec<usize> = (0..managers).collect();
        self.wait_nodes(&all, n, managers, "Ready nodes")
    }

    /// Waits until each of `via` lists `total` nodes, all Ready, with `managers` managers
    /// all reachable.
    fn wait_nodes(
        &self,
        via: &[usize],
        total: usize,
        managers: usize,
        what: &str,
    ) -> anyhow::Result<()> {
        let mut last = String::new();
        let what = format!(
            "hosts {via:?} to list {total} nodes Ready, {managers} managers reachable ({what})"
        );
        wait_until(&what, FORM_TIMEOUT, || {
            via.iter().all(|&i| {
                let nodes = get_json(self.hosts[i].daemon(), "/v1.44/nodes")
                    .ok()
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default();
                let ready = nodes
                    .iter()
                    .filter(|n| n["Status"]["State"] == "ready")
                    .count();
                let reachable = nodes
                    .iter()
                    .filter(|n| n["ManagerStatus"]["Reachability"] == "reachable")
                    .count();
                last = format!(
                    "host {i}: {} nodes, {ready} ready, {reachable} managers reachable",
                    nodes.len()
                );
                nodes.len() == total && ready == total && reachable == managers
            })
        })
        .map_err(|e| anyhow::anyhow!("{e}; last seen {last}\n{}", self.logs()))
    }

    /// The tail of every host's shoal log, for failure messages.
    pub fn logs(&self) -> String {
        self.hosts
            .iter()
            .map(|h| {
                let log = h.daemon().log();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                format!("--- {} ({}) ---\n{tail}\n", h.name(), h.addr())
            })
            .collect()
    }

    /// Removes the sets whose prefix starts with `prefix` (all with `""`) that no live
    /// process owns: what killed test runs left behind. Returns the prefixes removed.
    pub fn remove_leftovers(prefix: &str) -> Vec<String> {
        let mut removed = Vec::new();
        for p in sys::existing_prefixes() {
            if !p.starts_with(prefix) {
                continue;
            }
            let Ok(layout) = Layout::new(&p, 0) else {
                continue;
            };
            match sys::read_pid(&layout.owner_file()) {
                Some(pid) if sys::alive(pid) => {
                    eprintln!("test hosts {p}: kept, process {pid} owns them");
                }
                _ => {
                    sys::teardown_set(&layout);
                    removed.push(p);
                }
            }
        }
        removed
    }

    /// The daemon of host `i` (shorthand).
    pub fn daemon(&self, i: usize) -> &TestDaemon {
        self.hosts[i].daemon()
    }
}

/// Takes the set's prefix for this process: refuses one a live process owns, removes a dead
/// owner's leftovers, then makes the dirs and the private runtime mount (it holds the
/// persistent namespace files, which must not propagate into the hosts' mount namespaces).
fn claim(layout: &Layout) -> anyhow::Result<()> {
    let run = layout.run_dir();
    if run.exists() || layout.data_dir().exists() || sys::netns_exists(&layout.fabric_ns()) {
        match sys::read_pid(&layout.owner_file()) {
            Some(pid) if sys::alive(pid) => anyhow::bail!(
                "test hosts with prefix {:?} are in use by process {pid}: give each test its own prefix",
                layout.prefix
            ),
            _ => sys::teardown_set(layout),
        }
    }
    std::fs::create_dir_all(&run)?;
    std::fs::create_dir_all(layout.data_dir())?;
    std::fs::write(layout.owner_file(), std::process::id().to_string())?;
    let r = run.to_string_lossy();
    if !sys::is_mount_point(&run) {
        sys::run("mount", &["--bind", &r, &r])?;
        sys::run("mount", &["--make-private", &r])?;
    }
    Ok(())
}

impl Drop for TestHosts {
    /// Tears everything down (hosts in parallel), unless `SHOAL_KEEP_HOSTS=1`.
    fn drop(&mut self) {
        if std::env::var(KEEP_ENV).is_ok_and(|v| v == "1") {
            for h in &mut self.hosts {
                h.teardown = false;
            }
            eprintln!(
                "{KEEP_ENV}=1: keeping test hosts {:?}; enter host i with `{} sh`; remove with \
                 `cargo test --test hosts -- --ignored remove_leftover_test_hosts`",
                self.layout.prefix,
                self.layout.enter_host(0).join(" ")
            );
            // The owner file names this (ending) process: leftover cleanup may remove it.
            return;
        }
        std::thread::scope(|s| {
            for h in self.hosts.drain(..) {
                s.spawn(move || drop(h));
            }
        });
        sys::teardown_set(&self.layout);
    }
}
