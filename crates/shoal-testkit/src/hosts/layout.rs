//! Names and paths of one set of test hosts, derived from its prefix alone, so that a set
//! left behind by a killed test run can be found and removed knowing nothing but the prefix.

use std::path::PathBuf;

/// Parent of every set's runtime dir (sockets, pid files, mount-namespace files, logs).
pub const RUN_ROOT: &str = "/run/shoal-hosts";
/// Parent of every set's persistent data (engine data roots, shoal data roots, images).
pub const DATA_ROOT: &str = "/var/lib/shoal-hosts";
/// Namespace names start with this, then the prefix.
pub const NS_PREFIX: &str = "shoal-";
/// The LAN bridge inside the fabric namespace.
pub const LAN_BRIDGE: &str = "br0";
/// The cluster port every host's daemon listens on.
pub const CLUSTER_PORT: u16 = 2377;
/// Host `i` has LAN address `.HOST_BASE + i`; the client has `.CLIENT_HOST`.
const HOST_BASE: u8 = 11;
const CLIENT_HOST: u8 = 100;
/// Longest prefix accepted: names stay readable and socket paths short (Unix sockets are
/// limited to 108 bytes).
const MAX_PREFIX: usize = 20;

/// Where everything of the set named `prefix` lives.
#[derive(Debug, Clone)]
pub struct Layout {
    pub prefix: String,
    /// Third octet of the LAN `10.99.<lan>.0/24`.
    pub lan: u8,
}

impl Layout {
    /// Checks `prefix` (lower-case letters, digits and `-`, 1 to 20 characters).
    pub fn new(prefix: &str, lan: u8) -> anyhow::Result<Layout> {
        let ok = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        anyhow::ensure!(
            ok,
            "test hosts prefix {prefix:?}: use 1 to {MAX_PREFIX} lower-case letters, digits or '-'"
        );
        Ok(Layout {
            prefix: prefix.to_string(),
            lan,
        })
    }

    pub fn run_dir(&self) -> PathBuf {
        PathBuf::from(RUN_ROOT).join(&self.prefix)
    }

    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(DATA_ROOT).join(&self.prefix)
    }

    /// The file holding the pid of the process that owns the set.
    pub fn owner_file(&self) -> PathBuf {
        self.run_dir().join("owner.pid")
    }

    pub fn fabric_ns(&self) -> String {
        format!("{NS_PREFIX}{}-fabric", self.prefix)
    }

    pub fn client_ns(&self) -> String {
        format!("{NS_PREFIX}{}-client", self.prefix)
    }

    /// Host `i`'s name: its hostname, and (with [`NS_PREFIX`]) its network namespace.
    pub fn host_name(&self, i: usize) -> String {
        format!("{}-h{i}", self.prefix)
    }

    pub fn host_ns(&self, i: usize) -> String {
        format!("{NS_PREFIX}{}", self.host_name(i))
    }

    /// The fabric side of host `i`'s veth (the fabric namespace is the set's own, so short
    /// names cannot collide).
    pub fn host_port(&self, i: usize) -> String {
        format!("h{i}")
    }

    pub fn client_port(&self) -> &'static str {
        "client"
    }

    pub fn host_ip(&self, i: usize) -> String {
        format!("10.99.{}.{}", self.lan, usize::from(HOST_BASE) + i)
    }

    pub fn client_ip(&self) -> String {
        format!("10.99.{}.{CLIENT_HOST}", self.lan)
    }

    /// Runtime dir of host `i` (engine socket, pid files, namespace files, logs).
    pub fn host_run(&self, i: usize) -> PathBuf {
        self.run_dir().join(format!("h{i}"))
    }

    /// Data dir of host `i` (engine data root, private `/etc/docker`, shoal's temp dir).
    pub fn host_data(&self, i: usize) -> PathBuf {
        self.data_dir().join(format!("h{i}"))
    }

    pub fn mount_ns_file(&self, i: usize) -> PathBuf {
        self.host_run(i).join("mnt")
    }

    pub fn uts_ns_file(&self, i: usize) -> PathBuf {
        self.host_run(i).join("uts")
    }

    pub fn engine_socket(&self, i: usize) -> PathBuf {
        self.host_run(i).join("docker.sock")
    }

    /// The pid of host `i`'s dockerd, as this kit recorded it (nsenter execs dockerd).
    pub fn engine_pid_file(&self, i: usize) -> PathBuf {
        self.host_run(i).join("dockerd.launcher.pid")
    }

    /// The cgroup parent of host `i`'s containers (under every cgroup v1 hierarchy).
    pub fn cgroup_parent(&self, i: usize) -> String {
        format!("/{NS_PREFIX}{}", self.host_name(i))
    }

    /// The `nsenter` prefix that runs a command inside host `i` (network, mount and UTS
    /// namespaces; not `ip netns exec`, which remounts `/sys` and hides the cgroups).
    pub fn enter_host(&self, i: usize) -> Vec<String> {
        vec![
            "nsenter".into(),
            format!("--net=/run/netns/{}", self.host_ns(i)),
            format!("--mount={}", self.mount_ns_file(i).display()),
            format!("--uts={}", self.uts_ns_file(i).display()),
            "--".into(),
        ]
    }
}

/// The LAN octet for the `n`th set of process `pid`: distinct for the sets of one process
/// (up to 250), and spread across processes.
pub fn lan_octet(pid: u32, n: u32) -> u8 {
    let k = (pid.wrapping_mul(7).wrapping_add(n)) % 250;
    // k < 250, so the cast is exact.
    1 + k as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_derive_from_the_prefix() {
        let l = Layout::new("net-a", 7).unwrap();
        assert_eq!(l.fabric_ns(), "shoal-net-a-fabric");
        assert_eq!(l.host_ns(2), "shoal-net-a-h2");
        assert_eq!(l.host_ip(0), "10.99.7.11");
        assert_eq!(l.client_ip(), "10.99.7.100");
        assert_eq!(l.cgroup_parent(1), "/shoal-net-a-h1");
        assert_eq!(
            l.engine_socket(1),
            PathBuf::from("/run/shoal-hosts/net-a/h1/docker.sock")
        );
        assert_eq!(l.enter_host(0)[1], "--net=/run/netns/shoal-net-a-h0");
    }

    #[test]
    fn a_bad_prefix_is_refused_with_the_rule() {
        for p in ["", "UPPER", "a/b", "a b", "x".repeat(21).as_str()] {
            let e = Layout::new(p, 1).unwrap_err().to_string();
            assert!(e.contains("lower-case letters"), "{p}: {e}");
        }
    }

    #[test]
    fn sets_of_one_process_get_distinct_lans() {
        let lans: std::collections::BTreeSet<u8> = (0..250).map(|n| lan_octet(4242, n)).collect();
        assert_eq!(lans.len(), 250);
        assert!(lans.iter().all(|k| *k >= 1 && *k <= 250));
    }
}
