//! One node: composes ca, raft, store, manager and api; state dir layout.
