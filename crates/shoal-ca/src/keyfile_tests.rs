//! Save/load scenarios for the node key file.

use std::os::unix::fs::PermissionsExt;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

/// A fresh empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "shoal-ca-keyfile-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        fs::create_dir_all(&dir).expect("mkdir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Cleanup only; a leftover temp dir is harmless.
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn sample(rng: &mut StdRng) -> NodeKeyFile {
    NodeKeyFile {
        node_key_pem: "-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n"
            .to_owned(),
        dek: DataKey::generate(rng),
    }
}

#[test]
fn unlocked_file_round_trips_with_mode_0600() {
    let dir = TempDir::new("plain");
    let path = dir.0.join("node.key");
    let mut rng = StdRng::seed_from_u64(1);
    let file = sample(&mut rng);
    file.save(&path, None, &mut rng).expect("save");
    assert!(!NodeKeyFile::is_locked(&path).expect("is_locked"));
    assert_eq!(NodeKeyFile::load(&path, None).expect("load"), file);
    let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&path).expect("read");
    assert!(text.starts_with(BEGIN) && text.contains("Locked: no"));
    // only the key file remains: the temp file was renamed away
    assert_eq!(fs::read_dir(&dir.0).expect("ls").count(), 1);
}

#[test]
fn locked_file_needs_the_right_unlock_key() {
    let dir = TempDir::new("locked");
    let path = dir.0.join("node.key");
    let mut rng = StdRng::seed_from_u64(2);
    let file = sample(&mut rng);
    let kek = UnlockKey::generate(&mut rng);
    file.save(&path, Some(&kek), &mut rng).expect("save");
    assert!(NodeKeyFile::is_locked(&path).expect("is_locked"));
    let text = fs::read_to_string(&path).expect("read");
    assert!(!text.contains("MIGHAgEA"), "node key stored in the clear");
    assert!(
        !text.contains(&STANDARD.encode(file.dek.as_bytes())),
        "DEK in the clear"
    );

    assert!(matches!(
        NodeKeyFile::load(&path, None),
        Err(KeyFileError::Locked { .. })
    ));
    let wrong = UnlockKey::generate(&mut rng);
    assert!(matches!(
        NodeKeyFile::load(&path, Some(&wrong)),
        Err(KeyFileError::InvalidUnlockKey { .. })
    ));
    assert_eq!(NodeKeyFile::load(&path, Some(&kek)).expect("load"), file);
}

#[test]
fn rotating_from_locked_to_unlocked_overwrites_in_place() {
    let dir = TempDir::new("rotate");
    let path = dir.0.join("node.key");
    let mut rng = StdRng::seed_from_u64(3);
    let file = sample(&mut rng);
    let kek = UnlockKey::generate(&mut rng);
    file.save(&path, Some(&kek), &mut rng).expect("save locked");
    file.save(&path, None, &mut rng).expect("save unlocked");
    assert!(!NodeKeyFile::is_locked(&path).expect("is_locked"));
    assert_eq!(NodeKeyFile::load(&path, Some(&kek)).expect("load"), file);
}

#[test]
fn corrupt_and_missing_files_are_reported() {
    let dir = TempDir::new("corrupt");
    let path = dir.0.join("node.key");
    assert!(matches!(
        NodeKeyFile::load(&path, None),
        Err(KeyFileError::Io { .. })
    ));

    let mut rng = StdRng::seed_from_u64(4);
    let kek = UnlockKey::generate(&mut rng);
    sample(&mut rng)
        .save(&path, Some(&kek), &mut rng)
        .expect("save");
    let good = fs::read_to_string(&path).expect("read");

    let truncated = &good[..good.len() / 2];
    let flipped_body = {
        let mut lines: Vec<String> = good.lines().map(str::to_owned).collect();
        let i = lines.iter().position(String::is_empty).expect("blank") + 1;
        let first = if lines[i].starts_with('A') { "B" } else { "A" };
        lines[i].replace_range(0..1, first);
        lines.join("\n")
    };
    for (bad, expect_corrupt) in [
        ("", true),
        ("hello", true),
        (truncated, true),
        (&good.replace("Version: 1", "Version: 9"), true),
        (&good.replace("Locked: yes", "Locked: maybe"), true),
        (flipped_body.as_str(), true),
    ] {
        fs::write(&path, bad).expect("write");
        let err = NodeKeyFile::load(&path, Some(&kek)).expect_err(bad);
        assert_eq!(
            matches!(err, KeyFileError::Corrupt { .. }),
            expect_corrupt,
            "{err}"
        );
    }
}

#[test]
fn debug_hides_the_keys() {
    let mut rng = StdRng::seed_from_u64(5);
    assert_eq!(format!("{:?}", sample(&mut rng)), "NodeKeyFile(<redacted>)");
}
