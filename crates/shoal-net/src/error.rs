//! Errors of the data plane. Each names the operation and the object, so a task's error
//! (`docker service ps`) says which network could not be set up and why.

/// A kernel operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// Opening the netlink socket failed.
    #[error("opening a netlink socket: {0}")]
    Connect(String),
    /// A netlink request failed: `what` says which (e.g. `adding VXLAN device shvx4097`).
    #[error("{what}: {reason}")]
    Netlink { what: String, reason: String },
    /// An operation named a link that does not exist.
    #[error("{what}: no link named {link}")]
    NoSuchLink { what: String, link: String },
}
