//! A tiny busybox image for tests on machines with an engine but no registry.
//!
//! [`ensure_busybox_image`] imports `shoal-test/busybox:latest` from Debian's static busybox
//! (`apt-get install busybox-static` puts it at `/bin/busybox`), with the common applets as
//! symlinks and a minimal `/etc/passwd`. It is idempotent: an existing image is kept.

use crate::error::DockerError;
use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use bytes::Bytes;
use futures::TryStreamExt;

/// The image tests run.
pub const TEST_IMAGE: &str = "shoal-test/busybox:latest";
const TEST_REPO: &str = "shoal-test/busybox";
const TEST_TAG: &str = "latest";
/// Where Debian's `busybox-static` installs the binary.
pub const BUSYBOX_PATH: &str = "/bin/busybox";
/// Applets linked into `/bin`: what task commands in tests use.
const APPLETS: &[&str] = &[
    "sh", "ash", "sleep", "echo", "cat", "ls", "true", "false", "env", "hostname", "id", "ps",
    "kill", "date", "printf", "test", "[", "mkdir", "rm", "touch", "head", "tail", "grep", "sed",
    "wc", "nc", "wget", "httpd", "seq", "yes", "uname", "pwd", "which", "tee", "df", "du", "stat",
    "sort", "cut", "tr", "expr", "timeout", "nslookup", "ip", "ping", "top", "whoami", "mount",
    "sync",
];
const PASSWD: &[u8] =
    b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &[u8] = b"root:x:0:\nnogroup:x:65534:\n";

const BLOCK: usize = 512;

/// Writes `value` as zero-padded octal filling `field` but its last byte (a NUL).
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let digits = format!("{value:0width$o}");
    let digits = &digits.as_bytes()[digits.len().saturating_sub(width)..];
    field[..width].copy_from_slice(digits);
    field[width] = 0;
}

/// One ustar header block.
fn header(name: &str, mode: u64, size: u64, typeflag: u8, linkname: &str) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let name = name.as_bytes();
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], mode);
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0); // mtime
    h[148..156].fill(b' ');
    h[156] = typeflag;
    let link = linkname.as_bytes();
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    let digits = format!("{sum:06o}");
    h[148..154].copy_from_slice(&digits.as_bytes()[digits.len() - 6..]);
    h[154] = 0;
    h[155] = b' ';
    h
}

fn add_file(tar: &mut Vec<u8>, name: &str, mode: u64, data: &[u8]) {
    tar.extend_from_slice(&header(name, mode, data.len() as u64, b'0', ""));
    tar.extend_from_slice(data);
    let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
    tar.extend(std::iter::repeat_n(0u8, pad));
}

/// A root filesystem tarball with `busybox` at `bin/busybox`.
pub fn rootfs_tar(busybox: &[u8]) -> Vec<u8> {
    let mut tar = Vec::with_capacity(busybox.len() + 64 * BLOCK);
    for (dir, mode) in [
        ("bin/", 0o755),
        ("etc/", 0o755),
        ("tmp/", 0o1777),
        ("root/", 0o700),
    ] {
        tar.extend_from_slice(&header(dir, mode, 0, b'5', ""));
    }
    add_file(&mut tar, "bin/busybox", 0o755, busybox);
    for applet in APPLETS {
        tar.extend_from_slice(&header(&format!("bin/{applet}"), 0o777, 0, b'2', "busybox"));
    }
    add_file(&mut tar, "etc/passwd", 0o644, PASSWD);
    add_file(&mut tar, "etc/group", 0o644, GROUP);
    tar.extend_from_slice(&[0u8; 2 * BLOCK]);
    tar
}

/// Imports [`TEST_IMAGE`] unless it exists; returns its reference.
pub async fn ensure_busybox_image(docker: &Docker) -> Result<&'static str, DockerError> {
    // Tests run in parallel; one import at a time per process keeps a single image (a
    // concurrent import would leave the loser dangling). tokio's mutex works across the
    // tests' separate runtimes.
    static IMPORTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _importing = IMPORTING.lock().await;
    if docker.inspect_image(TEST_IMAGE).await.is_ok() {
        return Ok(TEST_IMAGE);
    }
    let error = |reason: String| DockerError::TestImage {
        image: TEST_IMAGE.into(),
        reason,
    };
    let busybox = tokio::fs::read(BUSYBOX_PATH).await.map_err(|e| {
        error(format!(
            "reading {BUSYBOX_PATH} (apt-get install busybox-static): {e}"
        ))
    })?;
    let tar = rootfs_tar(&busybox);
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(TEST_REPO)
        .tag(TEST_TAG)
        .build();
    docker
        .create_image(
            Some(options),
            Some(bollard::body_full(Bytes::from(tar))),
            None,
        )
        .try_for_each(|_| async { Ok(()) })
        .await
        .map_err(|e| error(format!("docker import: {e}")))?;
    Ok(TEST_IMAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_carry_a_valid_checksum_and_octal_fields() {
        let h = header("bin/sh", 0o777, 0, b'2', "busybox");
        let mut copy = h;
        copy[148..156].fill(b' ');
        let sum: u64 = copy.iter().map(|b| u64::from(*b)).sum();
        assert_eq!(&h[148..154], format!("{sum:06o}").as_bytes());
        assert_eq!(&h[100..108], b"0000777\0");
        assert_eq!(&h[157..164], b"busybox");
    }

    #[test]
    fn the_rootfs_is_block_aligned_and_ends_with_two_zero_blocks() {
        let tar = rootfs_tar(b"#!binary");
        assert_eq!(tar.len() % BLOCK, 0);
        assert!(tar[tar.len() - 2 * BLOCK..].iter().all(|b| *b == 0));
    }
}
