//! Polling for a condition that a real component reaches asynchronously
//! (health checks, EDS updates), with a deadline instead of fixed sleeps.

use std::thread;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Polls `ready` every 50 ms until it returns true; fails naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > timeout {
            return Err(Error(format!(
                "timed out after {timeout:?} waiting for {what}"
            )));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
