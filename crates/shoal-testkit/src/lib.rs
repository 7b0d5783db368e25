//! Dev-only: start real shoal daemons, run CLIs, wait with deadlines.
