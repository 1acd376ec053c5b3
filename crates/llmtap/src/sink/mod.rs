//! Where events go: the [`Sink`] trait and the sinks that need no network.
//!
//! A sink's `capture` is on the caller's hot path (a gateway's response
//! callback), so it must never wait on the network: it validates, enqueues or
//! writes locally, and returns. Delivery is the business of `flush`/`shutdown`.

mod jsonl;
mod memory;

use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

use crate::event::Event;

pub use jsonl::JsonlSink;
pub use memory::MemorySink;

/// A destination for events.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Accepts one event without waiting on the network.
    fn capture(&self, event: Event) -> Result<(), SinkError>;

    /// Accepts a whole request's events, all or none where the sink can
    /// refuse (a bounded queue without room for all of them refuses all, so
    /// the caller can answer "retry" without having accepted a part).
    ///
    /// The default captures them one by one and stops at the first error.
    fn capture_all(&self, events: Vec<Event>) -> Result<usize, SinkError> {
        let n = events.len();
        events.into_iter().try_for_each(|e| self.capture(e))?;
        Ok(n)
    }

    /// What became of the events accepted so far (for metrics and reports).
    fn delivery(&self) -> Delivery;

    /// Delivers everything accepted so far, or gives up after `timeout`.
    async fn flush(&self, _timeout: Duration) -> Result<(), SinkError> {
        Ok(())
    }

    /// Flushes, then refuses further events. Idempotent.
    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        self.flush(timeout).await
    }
}

/// Why a sink refused or could not deliver events.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SinkError {
    /// `count` events were refused or lost, all for `reason`; a sink that
    /// counts its drops has counted these.
    #[error("{count} event(s) dropped: {reason}")]
    Dropped {
        /// How many.
        count: u64,
        /// Why.
        reason: DropReason,
    },
    /// Flush or shutdown ran out of time with events still pending.
    #[error("timed out with {pending} events not yet delivered")]
    Timeout {
        /// Events accepted but not delivered.
        pending: u64,
    },
    /// Writing to a local file or stream failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}

impl SinkError {
    /// One event dropped for `reason`.
    pub fn dropped(reason: DropReason) -> Self {
        SinkError::Dropped { count: 1, reason }
    }

    /// The drop reason, when events were dropped.
    pub fn reason(&self) -> Option<DropReason> {
        match self {
            SinkError::Dropped { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

/// Why an event was not delivered: the one list every sink, exporter, metric
/// and report uses. [`DropReason::as_str`] is stable: use it as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// The queue was full (and the policy was to drop, or blocking ran out of time).
    QueueFull,
    /// Larger than the size limit even after its content was shrunk.
    Oversized,
    /// Failed the destination's validation (PostHog: empty `event` or
    /// `distinct_id`, bad timestamp), so it was never queued: one bad event
    /// must not fail a whole batch.
    Invalid,
    /// The destination refused it with an answer retrying cannot fix
    /// (PostHog: 400, 401, 403, 413 for one event, ...).
    Rejected,
    /// Retryable failures outlasted the per-batch retry deadline.
    RetriesExhausted,
    /// Still undelivered when `shutdown`'s timeout ran out. An event that was
    /// in flight at that moment may have reached the destination anyway.
    ShutdownTimeout,
    /// Captured after shutdown began.
    Closed,
}

impl DropReason {
    /// Every reason, in a stable order.
    pub const ALL: [DropReason; REASONS] = [
        DropReason::QueueFull,
        DropReason::Oversized,
        DropReason::Invalid,
        DropReason::Rejected,
        DropReason::RetriesExhausted,
        DropReason::ShutdownTimeout,
        DropReason::Closed,
    ];

    /// The stable snake_case name, e.g. `queue_full`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Oversized => "oversized",
            DropReason::Invalid => "invalid",
            DropReason::Rejected => "rejected",
            DropReason::RetriesExhausted => "retries_exhausted",
            DropReason::ShutdownTimeout => "shutdown_timeout",
            DropReason::Closed => "closed",
        }
    }

    /// The position in [`DropReason::ALL`], for counters kept in an array.
    pub fn index(self) -> usize {
        match self {
            DropReason::QueueFull => 0,
            DropReason::Oversized => 1,
            DropReason::Invalid => 2,
            DropReason::Rejected => 3,
            DropReason::RetriesExhausted => 4,
            DropReason::ShutdownTimeout => 5,
            DropReason::Closed => 6,
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many [`DropReason`]s there are.
const REASONS: usize = 7;

/// Dropped events, counted by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts([u64; REASONS]);

impl DropCounts {
    /// Events dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Events dropped for any reason.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Counts `n` more drops for `reason`.
    pub fn add(&mut self, reason: DropReason, n: u64) {
        self.0[reason.index()] += n;
    }

    /// Drops counted since `earlier`, a snapshot of the same counters.
    pub fn since(&self, earlier: &DropCounts) -> DropCounts {
        let mut diff = *self;
        for (d, e) in diff.0.iter_mut().zip(earlier.0) {
            *d = d.saturating_sub(e);
        }
        diff
    }

    /// The reasons with a non-zero count, in [`DropReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .into_iter()
            .map(|r| (r, self.get(r)))
            .filter(|&(_, n)| n > 0)
    }
}

/// `queue_full=3, invalid=1`, or `none`.
impl std::fmt::Display for DropCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (reason, n) in self.iter() {
            if !first {
                f.write_str(", ")?;
            }
            write!(f, "{reason}={n}")?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// What became of the events a sink accepted, at any moment:
/// `accepted = delivered + dropped after acceptance + pending`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Events the sink took.
    pub accepted: u64,
    /// Events the destination acknowledged (or, locally, written).
    pub delivered: u64,
    /// Events not delivered, by reason (refusals at `capture` included).
    pub dropped: DropCounts,
    /// Events accepted and not yet settled.
    pub pending: u64,
}

impl Delivery {
    /// Counts of a sink that delivers what it accepts at once (a file, memory).
    pub fn immediate(delivered: u64) -> Self {
        Delivery {
            accepted: delivered,
            delivered,
            ..Delivery::default()
        }
    }

    /// Nothing pending and nothing ever dropped.
    pub fn is_lossless(&self) -> bool {
        self.pending == 0 && self.dropped.total() == 0
    }
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for std::sync::Arc<S> {
    fn capture(&self, event: Event) -> Result<(), SinkError> {
        (**self).capture(event)
    }
    fn capture_all(&self, events: Vec<Event>) -> Result<usize, SinkError> {
        (**self).capture_all(events)
    }
    fn delivery(&self) -> Delivery {
        (**self).delivery()
    }
    async fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
        (**self).flush(timeout).await
    }
    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        (**self).shutdown(timeout).await
    }
}
