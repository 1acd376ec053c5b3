//! The time source for retry backoff and the per-batch retry deadline.
//!
//! Injectable so tests can check that a 30-second `Retry-After` was honoured
//! without waiting 30 seconds, and can act between attempts (bring a server
//! back up after the third failure). Batch intervals and flush/shutdown
//! timeouts stay on the worker's own tokio clock: they bound the caller's
//! wait and must be real.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A boxed sleep, as returned by [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Measures and waits out retry backoff.
///
/// Called on the worker thread, inside its tokio runtime.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now, on a monotonic clock.
    fn now(&self) -> Instant;
    /// Resolves after `duration` as this clock sees it.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// Real time: `Instant::now` and `tokio::time::sleep`. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}
