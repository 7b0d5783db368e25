//! Network partitions between the nodes of a [`TestCluster`], for real: nftables rules on the
//! host drop every packet between the two groups' addresses.
//!
//! Each node listens on its own `127.X.Y.Z` and its daemon connects from that address too (a
//! node with a specific listen address binds its outgoing cluster connections to it), so a
//! rule `ip saddr A ip daddr B drop` cuts exactly the traffic between nodes A and B. The rules
//! sit on the `input` hook: a dropped packet is lost silently, as on a broken network (dropping
//! on `output` would fail the sender's syscall at once with EPERM, which is not a partition).
//!
//! One nftables table per cluster (`shoal_test_<pid>_<n>`, `inet` family); [`heal`] deletes it,
//! and so does dropping the cluster. Needs root and the `nft` tool (`.ci/run` installs
//! Debian's `nftables`).
//!
//! [`heal`]: TestCluster::heal

use crate::cluster::TestCluster;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_TABLE: AtomicU32 = AtomicU32::new(0);

/// A table name no other cluster (in this or another test process) uses.
pub(crate) fn next_table_name() -> String {
    format!(
        "shoal_test_{}_{}",
        std::process::id(),
        NEXT_TABLE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `nft -f -` with `script`.
fn nft(script: &str) -> anyhow::Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot run nft (install Debian's nftables): {e}"))?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("nft stdin"))?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        anyhow::bail!(
            "nft -f failed ({}): {}\nscript:\n{script}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The nftables script that creates `table` dropping every packet between `a` and `b`.
pub fn partition_script(table: &str, a: &[IpAddr], b: &[IpAddr]) -> String {
    let set = |ips: &[IpAddr]| {
        ips.iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (a, b) = (set(a), set(b));
    format!(
        "table inet {table} {{\n  chain input {{\n    type filter hook input priority -10; policy accept;\n    ip saddr {{ {a} }} ip daddr {{ {b} }} drop\n    ip saddr {{ {b} }} ip daddr {{ {a} }} drop\n  }}\n}}\n"
    )
}

impl TestCluster {
    /// The IP of node `i`'s cluster address.
    pub fn node_ip(&self, i: usize) -> anyhow::Result<IpAddr> {
        let addr = &self.nodes[i].listen_addr;
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
        host.parse()
            .map_err(|e| anyhow::anyhow!("node {i} address {addr}: {e}"))
    }

    /// Cuts every packet between the nodes of `group_a` and those of `group_b` (indexes into
    /// `nodes`), both ways, until [`heal`](Self::heal). A new partition replaces the previous one.
    pub fn partition(&self, group_a: &[usize], group_b: &[usize]) -> anyhow::Result<()> {
        anyhow::ensure!(
            !group_a.is_empty() && !group_b.is_empty(),
            "a partition needs two non-empty groups"
        );
        anyhow::ensure!(
            group_a.iter().all(|i| !group_b.contains(i)),
            "a node cannot be on both sides of a partition"
        );
        let ips = |g: &[usize]| {
            g.iter()
                .map(|i| self.node_ip(*i))
                .collect::<Result<Vec<_>, _>>()
        };
        let (a, b) = (ips(group_a)?, ips(group_b)?);
        self.heal()?;
        self.partitioned.store(true, Ordering::Relaxed);
        nft(&partition_script(&self.nft_table, &a, &b))
    }

    /// Removes the partition (deletes this cluster's nftables table, if any).
    pub fn heal(&self) -> anyhow::Result<()> {
        // `destroy` would ignore a missing table but needs nftables ≥ 1.0.8; adding the table
        // first makes `delete` always find it.
        nft(&format!(
            "table inet {0}\ndelete table inet {0}\n",
            self.nft_table
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_drops_both_directions_between_the_groups() {
        let a: Vec<IpAddr> = vec!["127.1.0.1".parse().unwrap()];
        let b: Vec<IpAddr> = vec!["127.1.0.2".parse().unwrap(), "127.1.0.3".parse().unwrap()];
        let s = partition_script("t", &a, &b);
        assert!(s.contains("ip saddr { 127.1.0.1 } ip daddr { 127.1.0.2, 127.1.0.3 } drop"));
        assert!(s.contains("ip saddr { 127.1.0.2, 127.1.0.3 } ip daddr { 127.1.0.1 } drop"));
        assert!(s.contains("hook input"));
    }
}
