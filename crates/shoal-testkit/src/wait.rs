//! Polling waits with deadlines that name what they waited for.

use std::time::{Duration, Instant};

/// Polls `f` every 100 ms until it returns `Some`, or fails after `timeout` saying `what`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls the condition until true; see [`wait_for`].
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    wait_for(what, timeout, || f().then_some(()))
}
