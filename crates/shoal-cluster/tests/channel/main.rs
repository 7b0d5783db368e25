//! The cluster channel end to end: real mutual TLS on 127.0.0.1 with certificates minted by
//! shoal-ca, a fake handler behind the server.

mod auth;
mod common;
mod limits;
mod raft;
mod session;
