//! Daemon configuration, parsed once by the CLI.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Engine API Unix socket.
    pub socket: PathBuf,
    /// State directory (`/var/lib/shoal`).
    pub data_root: PathBuf,
    /// Container engine API socket.
    pub engine: PathBuf,
    /// Cluster listen address (`0.0.0.0:2377`).
    pub listen_addr: String,
    /// Address advertised to other nodes, if given.
    pub advertise_addr: Option<String>,
    /// Build the overlay data plane (`--overlay`); off when daemons share one engine.
    pub overlay: bool,
    /// Where the web view listens (`--web-addr`), if anywhere.
    pub web_addr: Option<String>,
}
