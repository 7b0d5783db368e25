//! The docker-shaped command line and its Engine API client.
