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
    pub const ALL: [DropReason; 7] = [
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

#[async_trait]
impl<S: Sink + ?Sized> Sink for std::sync::Arc<S> {
    fn capture(&self, event: Event) -> Result<(), SinkError> {
        (**self).capture(event)
    }
    fn capture_all(&self, events: Vec<Event>) -> Result<usize, SinkError> {
        (**self).capture_all(events)
    }
    async fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
        (**self).flush(timeout).await
    }
    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        (**self).shutdown(timeout).await
    }
}
