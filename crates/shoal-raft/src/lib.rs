//! openraft wiring: encrypted redb log and snapshots, the store as state machine.
