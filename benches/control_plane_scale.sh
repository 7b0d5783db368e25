#!/usr/bin/env bash
# Issue 4 benchmark: control-plane scale. Three real manager daemons, 1,000 simulated agents
# (real join with CSR and certificate, real dispatcher sessions over mutual TLS, tasks
# reported PREPARING -> STARTING -> RUNNING without containers), services totalling 50,000
# replicas. Prints the time from the first `service create` until every task is reported
# running, and each manager's peak RSS. Target (issue 4): under 60 s, under 1 GiB each.
#
# Usage: benches/control_plane_scale.sh [path/to/shoal] [extra `shoal bench agents` flags]
# Build with `cargo build --release` first; the default binary is target/release/shoal.
# Needs: nothing but the binary (the managers' own agents find no task: they are drained).
# CI does not run this (it takes about two minutes and both cores).
set -euo pipefail

SHOAL=${1:-${CARGO_TARGET_DIR:-target}/release/shoal}
shift || true
exec "$SHOAL" bench agents --nodes 1000 --tasks 50000 --managers 3 --services 10 "$@"
