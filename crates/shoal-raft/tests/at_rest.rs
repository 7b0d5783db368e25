//! What is on disk: nothing in clear, and a damaged file is refused by name.

mod common;

use common::*;
use shoal_raft::{FILE_NAME, RaftConfig, RaftError, XChaChaSealer};
use std::path::Path;
use std::sync::Arc;

/// A label value that must never appear on disk in clear.
const SECRET: &str = "purple-elephant-7f3a91";

/// Every file under `dir`, recursively.
fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out
}

/// A node with a few writes (and, with a low interval, a snapshot), shut down.
async fn populated(dir: &Path, snapshot_interval: u64) -> anyhow::Result<Vec<shoal_types::Object>> {
    let cfg = RaftConfig {
        snapshot_interval,
        keep_entries_after_snapshot: 2,
        ..config(dir)
    };
    let (node, handle) = open(cfg, sealer()).await?;
    node.initialize_single().await?;
    wait_leader(&node).await?;
    for i in 0..12 {
        let obj = task(&format!("secret-task-{i}"), SECRET);
        handle.update(|tx| tx.create(obj)).await?;
    }
    if snapshot_interval < 12 {
        wait_for("a snapshot", std::time::Duration::from_secs(10), || {
            node.metrics().snapshot.is_some()
        })
        .await?;
    }
    let objects = handle.store.snapshot().objects;
    node.shutdown().await;
    Ok(objects)
}

#[tokio::test]
async fn no_label_value_is_stored_in_clear() -> anyhow::Result<()> {
    // Once with only log entries, once with a snapshot as well.
    for interval in [10_000, 5] {
        let dir = tempfile::tempdir()?;
        populated(dir.path(), interval).await?;
        let files = all_files(dir.path());
        assert!(
            files.iter().any(|f| f.ends_with(FILE_NAME)),
            "no {FILE_NAME} in {files:?}"
        );
        for f in files {
            let bytes = std::fs::read(&f)?;
            for needle in [SECRET.as_bytes(), b"secret-task-"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} holds {:?} in clear (snapshot interval {interval})",
                    f.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }
    Ok(())
}

fn assert_corrupt_error(res: Result<impl Sized, anyhow::Error>, path: &Path) {
    let err = match res {
        Ok(_) => panic!("opening a damaged {} succeeded", path.display()),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name the file: {msg}"
    );
    assert!(
        matches!(
            err.downcast_ref::<RaftError>(),
            Some(RaftError::Corrupt { .. })
        ),
        "not a corruption error: {msg}"
    );
}

#[tokio::test]
async fn a_truncated_file_is_refused_with_its_name() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    populated(dir.path(), 5).await?;
    let path = dir.path().join(FILE_NAME);
    let len = std::fs::metadata(&path)?.len();
    for keep in [len / 2, 1024, 0] {
        let f = std::fs::OpenOptions::new().write(true).open(&path)?;
        f.set_len(keep)?;
        drop(f);
        assert_corrupt_error(open(config(dir.path()), sealer()).await, &path);
    }
    Ok(())
}

#[tokio::test]
async fn flipped_bytes_are_refused_with_the_file_name() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    populated(dir.path(), 5).await?;
    let path = dir.path().join(FILE_NAME);
    let original = std::fs::read(&path)?;
    // Flip one byte in every 4 KiB page in turn: wherever the damage lands (header, B-tree
    // page, sealed record), opening must either still read every record or refuse loudly.
    let mut refused = 0;
    for offset in (0..original.len()).step_by(4096).map(|o| o + 2048) {
        if offset >= original.len() {
            break;
        }
        let mut bytes = original.clone();
        bytes[offset] ^= 0x5a;
        std::fs::write(&path, &bytes)?;
        match open(config(dir.path()), sealer()).await {
            Ok((node, handle)) => {
                // Unused space: the content must be what was written.
                wait_leader(&node).await?;
                assert_eq!(
                    handle.store.snapshot().objects.len(),
                    12,
                    "flip at {offset} changed the content silently"
                );
                node.shutdown().await;
            }
            Err(e) => {
                assert_corrupt_error(Err::<(), _>(e), &path);
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "no flipped byte was noticed");
    Ok(())
}

#[tokio::test]
async fn the_wrong_key_is_refused_with_the_file_name() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    populated(dir.path(), 10_000).await?;
    let path = dir.path().join(FILE_NAME);
    let res = open(config(dir.path()), Arc::new(XChaChaSealer::new(&[9; 32]))).await;
    assert_corrupt_error(res, &path);
    Ok(())
}
