//! Where the cluster channel gets its TLS configuration from, at each new connection, so a
//! node can rotate its certificate (renewal, role change, root rotation) without restarting
//! the server or dropping its client connections' future reconnects.

use std::sync::Arc;

use parking_lot::RwLock;
use rustls::{ClientConfig, ServerConfig};

/// The server's current TLS config; build it with
/// [`shoal_ca::server_config_allow_anonymous`] so joining nodes can connect.
pub trait TlsSource: Send + Sync + 'static {
    fn server_config(&self) -> Arc<ServerConfig>;
}

/// The client's current TLS config ([`shoal_ca::client_config`]); servers are verified
/// against [`shoal_ca::MANAGER_SERVER_NAME`].
pub trait ClientTlsSource: Send + Sync + 'static {
    fn client_config(&self) -> Arc<ClientConfig>;
}

/// A swappable config: readers take the current `Arc`, [`TlsCell::set`] replaces it. New
/// connections use the new config; established ones keep theirs.
#[derive(Debug)]
pub struct TlsCell<T> {
    current: RwLock<Arc<T>>,
}

impl<T> TlsCell<T> {
    pub fn new(config: Arc<T>) -> Self {
        Self {
            current: RwLock::new(config),
        }
    }

    /// Replace the config (after a certificate renewal, say).
    pub fn set(&self, config: Arc<T>) {
        *self.current.write() = config;
    }

    pub fn get(&self) -> Arc<T> {
        Arc::clone(&self.current.read())
    }
}

impl TlsSource for TlsCell<ServerConfig> {
    fn server_config(&self) -> Arc<ServerConfig> {
        self.get()
    }
}

impl ClientTlsSource for TlsCell<ClientConfig> {
    fn client_config(&self) -> Arc<ClientConfig> {
        self.get()
    }
}
