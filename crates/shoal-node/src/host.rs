//! What this host is: hostname, platform, resources, and the container engine's version.
//! Used for the node object's `Description` and for `/info` and `/version`.

use shoal_types::api::{EngineDescription, NodeDescription, Platform, ResourceObject};
use std::path::Path;
use std::time::Duration;

/// How long to wait for the engine's `/version` before reporting it unknown.
const ENGINE_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Facts about the host and its engine.
#[derive(Debug, Clone, Default)]
pub struct HostInfo {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub ncpu: i64,
    pub mem_total: i64,
    pub kernel_version: String,
    pub operating_system: String,
    pub engine_version: String,
    pub engine_api_version: String,
}

impl HostInfo {
    pub fn description(&self) -> NodeDescription {
        NodeDescription {
            hostname: Some(self.hostname.clone()),
            platform: Some(Platform {
                architecture: Some(self.arch.clone()),
                os: Some(self.os.clone()),
            }),
            resources: Some(ResourceObject {
                nano_cpus: Some(self.ncpu * 1_000_000_000),
                memory_bytes: Some(self.mem_total),
                generic_resources: None,
            }),
            engine: Some(EngineDescription {
                engine_version: Some(self.engine_version.clone()),
                labels: None,
                plugins: None,
            }),
            tls_info: None,
        }
    }
}

fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<i64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn os_release() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

/// Asks the engine for its version over its Unix socket (a bare HTTP/1.0 request; this is the
/// only engine call the node makes itself — task work goes through the executor).
async fn engine_version(engine: &Path) -> Option<(String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut s = tokio::net::UnixStream::connect(engine).await.ok()?;
        s.write_all(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n")
            .await
            .ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf);
        let body = text.split_once("\r\n\r\n")?.1;
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        Some((
            v["Version"].as_str()?.to_string(),
            v["ApiVersion"].as_str().unwrap_or_default().to_string(),
        ))
    };
    tokio::time::timeout(ENGINE_PROBE_TIMEOUT, probe)
        .await
        .ok()
        .flatten()
}

/// Probes the host and the engine at `engine`.
pub async fn probe(engine: &Path) -> HostInfo {
    let uname = nix::sys::utsname::uname().ok();
    let (engine_version, engine_api_version) = engine_version(engine).await.unwrap_or_default();
    HostInfo {
        hostname: nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default(),
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        ncpu: std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1),
        mem_total: mem_total(),
        kernel_version: uname
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        operating_system: os_release(),
        engine_version,
        engine_api_version,
    }
}
