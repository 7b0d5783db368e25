//! Engine API HTTP server on a Unix socket.
