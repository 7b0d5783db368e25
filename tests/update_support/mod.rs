//! Shared by the issue 5 suites (`updates.rs`, `health.rs`): a swarm of one on the local
//! engine, two image variants, and readers of tasks, containers and the update status.
#![allow(dead_code)]

use shoal_testkit::image::ensure_busybox;
use shoal_testkit::{TestDaemon, wait_for};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_shoal");
pub const CONVERGE: Duration = Duration::from_secs(45);
pub const V1: &str = "shoal-test/upd:v1";
pub const V2: &str = "shoal-test/upd:v2";

/// Tags the test image as [`V1`] and [`V2`]: two references, so a change of image is a new
/// spec, without a registry.
pub fn ensure_variants() -> anyhow::Result<()> {
    let base = ensure_busybox()?;
    for tag in [V1, V2] {
        let ok = Command::new("docker")
            .args(["tag", base, tag])
            .status()?
            .success();
        anyhow::ensure!(ok, "docker tag {base} {tag} failed");
    }
    Ok(())
}

/// A swarm of one; removes its containers when dropped.
pub struct Swarm {
    pub d: TestDaemon,
    pub node_id: String,
}

impl Swarm {
    pub fn new() -> anyhow::Result<Swarm> {
        ensure_variants()?;
        let d = TestDaemon::start(BIN)?;
        d.shoal(&["swarm", "init"]).ok()?;
        let node_id = d.api("GET", "/info", None)?.json()?["Swarm"]["NodeID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(Swarm { d, node_id })
    }

    /// Running containers of `service` on this node, as `(id, image)`.
    pub fn containers(&self, service: &str) -> Vec<(String, String)> {
        containers(&self.node_id, service)
    }

    pub fn service(&self, service: &str) -> anyhow::Result<serde_json::Value> {
        self.d
            .api("GET", &format!("/v1.44/services/{service}"), None)?
            .json()
    }

    /// `(UpdateStatus.State, UpdateStatus.Message)`, empty when unset.
    pub fn update_status(&self, service: &str) -> (String, String) {
        let v = self.service(service).unwrap_or_default();
        let s = &v["UpdateStatus"];
        (
            s["State"].as_str().unwrap_or_default().to_string(),
            s["Message"].as_str().unwrap_or_default().to_string(),
        )
    }

    pub fn wait_status(&self, service: &str, state: &str) -> anyhow::Result<(String, String)> {
        wait_for(
            &format!("update status {state} of {service}"),
            CONVERGE,
            || {
                let st = self.update_status(service);
                (st.0 == state).then_some(st)
            },
        )
    }

    pub fn tasks(&self, service: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let filters = format!("%7B%22service%22%3A%7B%22{service}%22%3Atrue%7D%7D");
        let v = self
            .d
            .api("GET", &format!("/v1.44/tasks?filters={filters}"), None)?
            .json()?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Waits until exactly `n` containers of `service` run, all of `image`.
    pub fn wait_all_on(&self, service: &str, n: usize, image: &str) -> anyhow::Result<()> {
        wait_for(
            &format!("{n} running containers of {service} on {image}"),
            CONVERGE,
            || {
                let c = self.containers(service);
                (c.len() == n && c.iter().all(|(_, i)| i == image)).then_some(())
            },
        )
    }

    /// Samples the number of running containers of `service` until the sampler is stopped.
    pub fn sample_running(&self, service: &str) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let min = Arc::new(AtomicUsize::new(usize::MAX));
        let (node, svc) = (self.node_id.clone(), service.to_string());
        let (s, m) = (stop.clone(), min.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let n = containers(&node, &svc).len();
                m.fetch_min(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Sampler {
            stop,
            min,
            handle: Some(handle),
        }
    }
}

/// Watches a count in the background; [`Sampler::finish`] returns the minimum seen.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    min: Arc<AtomicUsize>,
    handle: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            // The sampler only reads; a panic in it just loses samples.
            let _ = h.join();
        }
        self.min.load(Ordering::SeqCst)
    }
}

fn containers(node_id: &str, service: &str) -> Vec<(String, String)> {
    let out = Command::new("docker")
        .args(["ps", "--no-trunc", "--format", "{{.ID}} {{.Image}}"])
        .args([
            "--filter",
            &format!("label=com.docker.swarm.node.id={node_id}"),
        ])
        .args([
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, image)| (id.to_string(), image.to_string()))
        .collect()
}
