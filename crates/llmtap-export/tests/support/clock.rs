//! A [`Clock`] for the capture client whose sleeps return at once.
//!
//! Each sleep is recorded and moves this clock's `now` forward, so backoff,
//! `Retry-After` and the retry deadline are exercised in full without any
//! waiting. A hook runs on every sleep, which lets a test change the world
//! between two attempts (e.g. bring a server back up after the third failure).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use llmtap_export::{Clock, Sleep};

type Hook = Box<dyn FnMut(usize) + Send>;

#[derive(Default)]
struct Inner {
    slept: Mutex<Vec<Duration>>,
    hook: Mutex<Option<Hook>>,
}

/// Cloning shares the record, so a test keeps one handle and gives the
/// client another.
#[derive(Clone, Default)]
pub struct TestClock(Arc<Inner>);

impl fmt::Debug for TestClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClock")
            .field("slept", &self.sleeps())
            .finish()
    }
}

impl TestClock {
    /// A clock that has not slept yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `hook(n)` on the n-th sleep (1-based), on the worker thread.
    pub fn on_sleep(&self, hook: impl FnMut(usize) + Send + 'static) {
        *self.0.hook.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(hook));
    }

    /// Every sleep requested so far.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.0
            .slept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn skipped(&self) -> Duration {
        self.sleeps().iter().sum()
    }
}

impl Clock for TestClock {
    /// Real time plus every sleep skipped, so request time still counts.
    fn now(&self) -> Instant {
        Instant::now() + self.skipped()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let n = {
            let mut slept = self.0.slept.lock().unwrap_or_else(PoisonError::into_inner);
            slept.push(duration);
            slept.len()
        };
        if let Some(hook) = self
            .0
            .hook
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            hook(n);
        }
        Box::pin(std::future::ready(()))
    }
}
