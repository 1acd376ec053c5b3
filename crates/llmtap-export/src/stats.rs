//! Counters readable at any time, and the reasons an event can be dropped.
//!
//! Every event that is not delivered is counted under exactly one
//! [`DropReason`], so `accepted == sent + dropped-after-acceptance + pending`
//! holds at any moment and an operator can tell loss from backlog.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

pub use llmtap::DropReason;

pub use llmtap::DropCounts;

/// The last batch the destination refused, kept so an operator can see why
/// without trawling logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The destination's status (PostHog: the HTTP status), or `None` when
    /// there was none (the request could not even be sent).
    pub status: Option<u16>,
    /// Events in the refused batch.
    pub events: usize,
    /// The destination's message (PostHog: the start of the response body,
    /// API key redacted).
    pub message: String,
}

/// A snapshot of the exporter's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events taken into the queue.
    pub accepted: u64,
    /// Events the destination acknowledged (PostHog: with a 2xx).
    pub sent: u64,
    /// Events dropped, by reason (including ones refused before queueing).
    pub dropped: DropCounts,
    /// Accepted events neither delivered nor dropped yet.
    pub pending: u64,
    /// Events waiting in the queue (part of `pending`).
    pub queue_len: usize,
    /// Events whose content was shrunk to fit `max_event_bytes`.
    pub truncated: u64,
    /// Export attempts that delivered events.
    pub batches: u64,
    /// Export attempts (PostHog: HTTP requests), retries included.
    pub requests: u64,
    /// Attempts that were retries of an earlier failed one.
    pub retries: u64,
    /// Encoded batches (PostHog: request bodies as JSON) before
    /// compression, summed over attempts, as the exporter reports them.
    pub bytes_json: u64,
    /// Batches as sent (after gzip when on), summed over attempts.
    pub bytes_sent: u64,
    /// The most recent batch (or part of one) the destination refused.
    pub last_rejection: Option<Rejection>,
}

impl Stats {
    /// The counts as a [`Sink`](llmtap::Sink) reports them.
    pub fn delivery(&self) -> llmtap::Delivery {
        let mut delivery = llmtap::Delivery::immediate(self.sent);
        delivery.accepted = self.accepted;
        delivery.dropped = self.dropped;
        delivery.pending = self.pending;
        delivery
    }
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub sent: AtomicU64,
    pub truncated: AtomicU64,
    pub batches: AtomicU64,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub bytes_json: AtomicU64,
    pub bytes_sent: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    warned: AtomicBool,
    last_rejection: Mutex<Option<Rejection>>,
}

impl Counters {
    /// Counts `n` dropped events, warning once per client so a flood of
    /// drops cannot flood the logs too.
    pub(crate) fn dropped(&self, reason: DropReason, n: u64) {
        if n == 0 {
            return;
        }
        self.dropped[reason.index()].fetch_add(n, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason = reason.as_str(),
                count = n,
                "Dropped events; later drops are only counted (see ExportClient::stats)."
            );
        }
    }

    /// Remembers a refused batch; returns true for the first one.
    pub(crate) fn rejected(&self, rejection: Rejection) -> bool {
        let mut last = self
            .last_rejection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = last.is_none();
        *last = Some(rejection);
        first
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn drop_counts(&self) -> DropCounts {
        let mut counts = DropCounts::default();
        for (reason, counter) in DropReason::ALL.into_iter().zip(&self.dropped) {
            counts.add(reason, counter.load(Ordering::Relaxed));
        }
        counts
    }

    pub(crate) fn snapshot(&self, accepted: u64, settled: u64, queue_len: usize) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            accepted,
            sent: load(&self.sent),
            dropped: self.drop_counts(),
            pending: accepted.saturating_sub(settled),
            queue_len,
            truncated: load(&self.truncated),
            batches: load(&self.batches),
            requests: load(&self.requests),
            retries: load(&self.retries),
            bytes_json: load(&self.bytes_json),
            bytes_sent: load(&self.bytes_sent),
            last_rejection: self
                .last_rejection
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_are_stable_and_unique() {
        let names: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "queue_full",
                "oversized",
                "invalid",
                "rejected",
                "retries_exhausted",
                "shutdown_timeout",
                "closed"
            ]
        );
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    #[test]
    fn counts_display_and_total() {
        let c = Counters::default();
        assert_eq!(c.drop_counts().to_string(), "none");
        c.dropped(DropReason::QueueFull, 3);
        c.dropped(DropReason::Invalid, 1);
        c.dropped(DropReason::Rejected, 0);
        let counts = c.drop_counts();
        assert_eq!(counts.total(), 4);
        assert_eq!(counts.get(DropReason::QueueFull), 3);
        assert_eq!(counts.to_string(), "queue_full=3, invalid=1");
    }
}
