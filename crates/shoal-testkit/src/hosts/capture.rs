//! Packet captures on a set's LAN: `tcpdump` on the LAN bridge (promiscuous, so it sees every
//! frame the bridge forwards between hosts, not only those addressed to it), written to a
//! pcap file that [`Capture::stop`] returns.

use super::sys::stop_child;
use crate::wait::wait_until;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long tcpdump may take to open the interface.
const CAPTURE_START: Duration = Duration::from_secs(10);
/// How long tcpdump may take to flush and exit after SIGINT.
const CAPTURE_STOP: Duration = Duration::from_secs(5);
/// Bytes kept of each packet: whole frames, so payloads can be searched.
const SNAPLEN: &str = "0";
/// How long a stop waits before ending tcpdump: frames sent just before may still sit in the
/// kernel's per-CPU backlog between the veth and the bridge.
const CAPTURE_SETTLE: Duration = Duration::from_millis(200);

/// A running capture; [`stop`](Self::stop) ends it and returns the pcap bytes.
pub struct Capture {
    child: Option<Child>,
    pcap: PathBuf,
    log: PathBuf,
}

impl Capture {
    /// Starts `tcpdump` in network namespace `ns` on `iface` with the pcap `filter` (empty:
    /// everything), writing under `dir`; returns once tcpdump listens.
    pub(super) fn start(
        ns: &str,
        iface: &str,
        filter: &str,
        dir: PathBuf,
    ) -> anyhow::Result<Capture> {
        std::fs::create_dir_all(&dir)?;
        let pcap = tempfile::Builder::new()
            .prefix("capture-")
            .suffix(".pcap")
            .tempfile_in(&dir)?
            .into_temp_path()
            .keep()?;
        let log = pcap.with_extension("log");
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{ns}"))
            // -Z root: tcpdump would otherwise drop to its own user before opening the file.
            // --immediate-mode: without it libpcap hands over packets in blocks that fill or
            // time out (1 s), and the frames of a block still open at SIGINT are lost.
            .args(["--", "tcpdump", "-i", iface, "-n", "-U", "--immediate-mode"])
            .args(["-Z", "root", "-s", SNAPLEN, "-w"])
            .arg(&pcap);
        if !filter.trim().is_empty() {
            cmd.arg(filter);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot run tcpdump (apt-get install tcpdump): {e}"))?;
        let mut c = Capture {
            child: Some(child),
            pcap,
            log,
        };
        let mut exited = false;
        let res = wait_until(
            &format!("tcpdump to listen on {iface}"),
            CAPTURE_START,
            || {
                if let Some(Ok(Some(_))) = c.child.as_mut().map(Child::try_wait) {
                    exited = true;
                    return true;
                }
                c.log_text().contains("listening on")
            },
        );
        anyhow::ensure!(!exited, "tcpdump exited: {}", c.log_text());
        res.map_err(|e| anyhow::anyhow!("{e}: {}", c.log_text()))?;
        Ok(c)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the capture (SIGINT, so tcpdump flushes) and returns the pcap file's bytes.
    pub fn stop(mut self) -> anyhow::Result<Vec<u8>> {
        if let Some(mut child) = self.child.take() {
            std::thread::sleep(CAPTURE_SETTLE);
            // SIGINT: tcpdump's clean stop (it flushes the file).
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            )?;
            let deadline = std::time::Instant::now() + CAPTURE_STOP;
            while std::time::Instant::now() < deadline && child.try_wait()?.is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            stop_child(&mut child, CAPTURE_STOP);
        }
        std::fs::read(&self.pcap)
            .map_err(|e| anyhow::anyhow!("reading capture {}: {e}", self.pcap.display()))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, CAPTURE_STOP);
        }
        for f in [&self.pcap, &self.log] {
            // Teardown: the set's runtime dir is removed with the set anyway.
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Whether `needle` occurs in `haystack` (e.g. a canary string in a capture).
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::contains_bytes;

    #[test]
    fn finds_a_canary_anywhere_and_never_an_empty_one() {
        assert!(contains_bytes(b"xx-CANARY-yy", b"CANARY"));
        assert!(contains_bytes(b"CANARY", b"CANARY"));
        assert!(!contains_bytes(b"CANAR", b"CANARY"));
        assert!(!contains_bytes(b"anything", b""));
    }
}
