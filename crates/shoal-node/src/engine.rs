//! The few engine reads the node makes itself (task work goes through the executor): image
//! inspect for `GET /distribution/{name}/json`, where there is no registry to ask.

use std::path::Path;
use std::time::Duration;

/// Bound on one engine read.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET path` on the engine socket; `(status, body)`.
pub async fn engine_get(engine: &Path, path: &str) -> Option<(u16, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let call = async {
        let mut s = tokio::net::UnixStream::connect(engine).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, buf[split + 4..].to_vec()))
    };
    tokio::time::timeout(ENGINE_TIMEOUT, call)
        .await
        .ok()
        .flatten()
}

/// The `DistributionInspect` of a local image: the image id as digest (the engine resolves
/// `name@<image id>` locally) and its platform. `None` when the image is not present.
pub async fn distribution(engine: &Path, name: &str) -> Option<serde_json::Value> {
    let reference = if name.contains('@')
        || name
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        name.to_string()
    } else {
        format!("{name}:latest")
    };
    let escaped: String = reference
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let (status, body) = engine_get(engine, &format!("/images/{escaped}/json")).await?;
    if status != 200 {
        return None;
    }
    let img: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let digest = img["RepoDigests"]
        .as_array()
        .and_then(|d| d.first())
        .and_then(|d| d.as_str())
        .and_then(|d| d.split_once('@').map(|(_, dg)| dg.to_string()))
        // Imported and locally built images have no registry digest; their id stands in, and the
        // executor resolves `name:tag@<id>` to the local image.
        .or_else(|| img["Id"].as_str().map(str::to_string));
    Some(serde_json::json!({
        "Descriptor": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": digest,
            "size": img["Size"],
        },
        "Platforms": [{ "architecture": img["Architecture"], "os": img["Os"] }],
    }))
}
