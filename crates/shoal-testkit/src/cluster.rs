//! Multi-node clusters of real daemons on one machine.
//!
//! Each node gets its own loopback address (`127.X.Y.1`, all of 127.0.0.0/8 routes to `lo`),
//! data root and API socket; they share the host's container engine, and each agent only
//! touches containers labelled with its own node id. [`TestCluster::start`] inits the first
//! node, joins managers one at a time (raft membership changes are serial), then workers,
//! and waits until every manager lists every node Ready.

use crate::daemon::TestDaemon;
use crate::wait::{wait_for, wait_until};
use nix::sys::signal::Signal;
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Deadline for a cluster to form (joins, catch-up, sessions).
pub const FORM_TIMEOUT: Duration = Duration::from_secs(45);

static NEXT_HOST: AtomicU32 = AtomicU32::new(0);

/// A cluster address no other test (in this or another process) uses.
pub fn next_addr() -> String {
    let n = NEXT_HOST.fetch_add(1, Ordering::Relaxed);
    let a = 1 + std::process::id() % 250;
    format!("127.{a}.{}.{}:2377", n / 250, 1 + n % 250)
}

/// The nodes of one cluster; `nodes[..managers]` joined as managers (node 0 ran `init`).
pub struct TestCluster {
    pub nodes: Vec<TestDaemon>,
    pub managers: usize,
    pub worker_token: String,
    pub manager_token: String,
    /// Node ids of `nodes` (same order), for container cleanup.
    pub node_ids: Vec<String>,
    /// This cluster's nftables table for [`partition`](Self::partition) (see `partition.rs`).
    pub(crate) nft_table: String,
    /// Whether a partition was made (then drop removes the table).
    pub(crate) partitioned: std::sync::atomic::AtomicBool,
}

impl Drop for TestCluster {
    /// Heals any partition, kills the daemons and removes the containers their agents made.
    fn drop(&mut self) {
        if self.partitioned.load(Ordering::Relaxed)
            && let Err(e) = self.heal()
        {
            eprintln!("could not remove nftables table {}: {e}", self.nft_table);
        }
        for d in &mut self.nodes {
            if d.is_running() {
                // Teardown: the process may already be gone.
                let _ = d.signal_and_wait(Signal::SIGKILL);
            }
        }
        for id in &self.node_ids {
            crate::image::remove_node_containers(id);
        }
    }
}

/// `GET path` as JSON.
pub fn get_json(d: &TestDaemon, path: &str) -> anyhow::Result<Value> {
    let r = d.api("GET", path, None)?;
    if r.status != 200 {
        anyhow::bail!("GET {path}: {} {}", r.status, r.text());
    }
    r.json()
}

impl TestCluster {
    /// Starts `managers` managers and `workers` workers; `init_args` go to `swarm init`.
    pub fn start(
        bin: &str,
        managers: usize,
        workers: usize,
        init_args: &[&str],
    ) -> anyhow::Result<TestCluster> {
        Self::start_with(bin, managers, workers, init_args, |_| Vec::new())
    }

    /// Like [`start`](Self::start), with more `shoal daemon` flags for node `i` from
    /// `daemon_args(i)` (e.g. `--web-addr` on the managers).
    pub fn start_with(
        bin: &str,
        managers: usize,
        workers: usize,
        init_args: &[&str],
        daemon_args: impl Fn(usize) -> Vec<String>,
    ) -> anyhow::Result<TestCluster> {
        anyhow::ensure!(managers >= 1, "a cluster needs a manager");
        let launch = |i: usize| {
            TestDaemon::launch(
                bin,
                crate::daemon::Launch {
                    listen_addr: next_addr(),
                    extra_args: daemon_args(i),
                    ..Default::default()
                },
            )
        };
        let first = launch(0)?;
        let mut args = vec!["swarm", "init"];
        args.extend_from_slice(init_args);
        first.shoal(&args).ok()?;
        let swarm = get_json(&first, "/v1.44/swarm")?;
        let token = |k: &str| {
            swarm["JoinTokens"][k]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let mut c = TestCluster {
            nodes: vec![first],
            managers,
            worker_token: token("Worker"),
            manager_token: token("Manager"),
            node_ids: Vec::new(),
            nft_table: crate::partition::next_table_name(),
            partitioned: Default::default(),
        };
        c.node_ids.push(c.node_id(0)?);
        for i in 1..managers + workers {
            let d = launch(i)?;
            let tok = if i < managers {
                c.manager_token.clone()
            } else {
                c.worker_token.clone()
            };
            if let Err(e) = c.join(&d, &tok) {
                anyhow::bail!("{e}\njoining node log:\n{}\n{}", d.log(), c.logs());
            }
            c.nodes.push(d);
            c.node_ids.push(c.node_id(i)?);
            if i < managers {
                c.wait_managers_reachable(i + 1)?;
            }
        }
        c.wait_all_ready()?;
        Ok(c)
    }

    /// `swarm join` of `d` through the first node that is running.
    pub fn join(&self, d: &TestDaemon, token: &str) -> anyhow::Result<()> {
        let via = self.running_manager()?.listen_addr.clone();
        d.shoal(&[
            "swarm",
            "join",
            "--token",
            token,
            "--listen-addr",
            &d.listen_addr,
            "--advertise-addr",
            &d.listen_addr,
            &via,
        ])
        .ok()?;
        Ok(())
    }

    /// A manager whose process is running.
    pub fn running_manager(&self) -> anyhow::Result<&TestDaemon> {
        self.nodes[..self.managers.min(self.nodes.len())]
            .iter()
            .find(|d| d.is_running())
            .ok_or_else(|| anyhow::anyhow!("no manager is running"))
    }

    pub fn manager(&self, i: usize) -> &TestDaemon {
        &self.nodes[i]
    }

    /// This node's id (`/info`).
    pub fn node_id(&self, i: usize) -> anyhow::Result<String> {
        let info = get_json(&self.nodes[i], "/v1.44/info")?;
        Ok(info["Swarm"]["NodeID"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// `GET /nodes` on node `i`.
    pub fn nodes_on(&self, i: usize) -> anyhow::Result<Vec<Value>> {
        Ok(get_json(&self.nodes[i], "/v1.44/nodes")?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The index of the manager that leads, as manager `via` sees it.
    pub fn leader_via(&self, via: usize) -> Option<usize> {
        let nodes = self.nodes_on(via).ok()?;
        let leader = nodes
            .iter()
            .find(|n| n["ManagerStatus"]["Leader"].as_bool() == Some(true))?;
        let id = leader["ID"].as_str()?;
        (0..self.nodes.len())
            .find(|i| self.nodes[*i].is_running() && self.node_id(*i).ok().as_deref() == Some(id))
    }

    /// Waits until some running manager names a running leader; returns its index.
    pub fn wait_leader(&self, timeout: Duration) -> anyhow::Result<usize> {
        wait_for("a running manager to be named leader", timeout, || {
            (0..self.managers)
                .filter(|i| self.nodes[*i].is_running())
                .find_map(|i| self.leader_via(i))
        })
    }

    /// Waits until the first `n` managers all show `n` managers, one Leader and the rest
    /// Reachable.
    pub fn wait_managers_reachable(&self, n: usize) -> anyhow::Result<()> {
        let mut last = String::new();
        wait_until(
            &format!("{n} managers to show 1 Leader and {} Reachable", n - 1),
            FORM_TIMEOUT,
            || {
                (0..n).all(|i| match self.manager_statuses(i) {
                    Ok(s) => {
                        let ok = s.len() == n
                            && s.iter().filter(|m| m.as_str() == "Leader").count() == 1
                            && s.iter().filter(|m| m.as_str() == "Reachable").count() == n - 1;
                        last = format!("node {i}: {s:?}");
                        ok
                    }
                    Err(e) => {
                        last = format!("node {i}: {e}");
                        false
                    }
                })
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}; last seen {last}"))
    }

    /// The MANAGER STATUS column of `node ls` on node `i` (managers only).
    pub fn manager_statuses(&self, i: usize) -> anyhow::Result<Vec<String>> {
        Ok(self
            .nodes_on(i)?
            .iter()
            .filter(|n| n["ManagerStatus"].is_object())
            .map(|n| {
                if n["ManagerStatus"]["Leader"].as_bool() == Some(true) {
                    "Leader".to_string()
                } else if n["ManagerStatus"]["Reachability"] == "reachable" {
                    "Reachable".to_string()
                } else {
                    "Unreachable".to_string()
                }
            })
            .collect())
    }

    /// Waits until every manager lists every node, all Ready.
    pub fn wait_all_ready(&self) -> anyhow::Result<()> {
        let total = self.nodes.len();
        let mut last = String::new();
        wait_until(
            &format!("every manager to list {total} Ready nodes"),
            FORM_TIMEOUT,
            || {
                (0..self.managers).all(|i| match self.nodes_on(i) {
                    Ok(nodes) => {
                        let ready = nodes
                            .iter()
                            .filter(|n| n["Status"]["State"] == "ready")
                            .count();
                        last = format!("node {i}: {ready} ready of {}", nodes.len());
                        nodes.len() == total && ready == total
                    }
                    Err(e) => {
                        last = format!("node {i}: {e}");
                        false
                    }
                })
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}; last seen {last}"))
    }

    /// SIGKILL node `i` (it stays down until [`restart`](Self::restart)).
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].signal_and_wait(Signal::SIGKILL)?;
        Ok(())
    }

    /// Starts node `i` again on its data root.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].restart()
    }

    /// SIGSTOP / SIGCONT node `i`.
    pub fn pause(&self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].signal(Signal::SIGSTOP)
    }

    pub fn resume(&self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].signal(Signal::SIGCONT)
    }

    /// The node id each running task of `service` runs on, as node `via` sees it.
    pub fn running_task_nodes(&self, via: usize, service: &str) -> anyhow::Result<Vec<String>> {
        let tasks = get_json(
            &self.nodes[via],
            &format!("/v1.44/tasks?filters=%7B%22service%22%3A%7B%22{service}%22%3Atrue%7D%7D"),
        )?;
        Ok(tasks
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|t| t["Status"]["State"] == "running" && t["DesiredState"] == "running")
            .filter_map(|t| t["NodeID"].as_str().map(str::to_string))
            .collect())
    }

    /// Logs of every node, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let log = d.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!(
                    "--- node {i} ({}) ---\n{}\n",
                    d.listen_addr,
                    tail.join("\n")
                )
            })
            .collect()
    }
}
