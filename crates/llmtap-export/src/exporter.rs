//! The contract between the generic machinery and one destination.
//!
//! The machinery (queue, batcher, worker, retry, stats, flush/shutdown) is
//! written once in [`ExportClient`](crate::ExportClient); a destination only
//! says how to encode an event and what became of each event of a batch it
//! was given. The split is OpenTelemetry's processor/exporter split: the
//! exporter never sees the queue, never sleeps for a retry and never counts.

use std::time::Duration;

use async_trait::async_trait;

use crate::batcher::Weighed;
use llmtap::{DropReason, Event};

/// A destination for batches of events: PostHog's capture API
/// ([`PostHog`](crate::PostHog)) today; an OTLP endpoint, a Postgres table or
/// a disk spool later, each in its own folder.
///
/// Every method is called on the worker thread, inside its current-thread
/// tokio runtime, except [`Exporter::validate`], which runs on the caller's
/// hot path. Up to `max_in_flight` `export` calls are in flight at once
/// (on that one thread), each for a different batch.
#[async_trait]
pub trait Exporter: Send + Sync + 'static {
    /// One event encoded for this destination. Encoded once, as the worker
    /// takes the event from the queue, so that batches close at exact sizes
    /// and a retry resends without encoding again.
    type Item: Weighed + Send + Sync + 'static;

    /// A short stable name for logs and the worker thread, e.g. `posthog`.
    fn name(&self) -> &'static str;

    /// The destination's per-event rules, checked in `capture` before the
    /// event is queued: an event it would refuse is counted `invalid` there
    /// and never fails the batch it would have joined. Runs on the caller's
    /// thread for every event, so it must not allocate, lock or block.
    /// The default accepts everything.
    fn validate(&self, _event: &Event) -> Result<(), &'static str> {
        Ok(())
    }

    /// Encodes one event; an `Err` drops it, counted under that reason.
    ///
    /// An item larger than `max_event_bytes` makes the worker shrink the
    /// event's content ([`Event::fit_within`]) and encode it once more.
    fn encode(&self, event: &Event) -> Result<Self::Item, DropReason>;

    /// Bytes of a batch that are not events (an envelope, a header), so the
    /// `batch_bytes` limit bounds what is actually sent. Default 0.
    fn batch_overhead(&self) -> usize {
        0
    }

    /// Sends one batch (never empty) and says what became of each event.
    ///
    /// Must not retry or sleep itself: answer [`Outcome::RetryAfter`] and the
    /// worker retries with backoff under the retry deadline, sending again
    /// only the events that asked for it. A shutdown whose time runs out
    /// drops this future, so it must be cancel-safe.
    async fn export(&self, batch: &[Self::Item]) -> Answer;
}

/// What became of one event of a batch.
///
/// `Delivered` is the only outcome that counts as sent. This is where a later
/// disk spool or fan-out plugs in: a spool exporter answers `Delivered` once
/// its record is durable (and replays it to the real destination itself), a
/// fan-out exporter once every destination it wraps answered `Delivered`;
/// should callers need to tell "durable" from "delivered", it becomes a new
/// variant here (the enum is `#[non_exhaustive]`), not a second worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The destination took it: counted as sent.
    Delivered,
    /// A transient failure: send it again after the backoff, and not before
    /// the given duration (a `Retry-After`). Events still failing at the
    /// retry deadline are dropped as `retries_exhausted`.
    RetryAfter(Option<Duration>),
    /// The batch is too large for the destination as a whole: the worker
    /// halves it and sends each half. An event still refused alone is
    /// dropped as `rejected`.
    Split,
    /// Not worth sending again; counted under the reason (usually
    /// [`DropReason::Rejected`]) and recorded in `Stats::last_rejection`.
    Dropped(DropReason),
}

/// An exporter's answer for one batch: an outcome per event, and what an
/// operator should see when it is not `Delivered`.
///
/// ```
/// use std::time::Duration;
/// use llmtap_export::{Answer, Outcome};
///
/// // The usual case: the whole batch went the same way.
/// let ok = Answer::all(Outcome::Delivered);
/// // A destination that answers per event (a bulk insert, a partial success).
/// let mixed = Answer::each(vec![Outcome::Delivered, Outcome::RetryAfter(None)])
///     .with_status(207)
///     .with_detail("second row hit a lock timeout");
/// # let _ = (ok, mixed);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub(crate) outcomes: Outcomes,
    pub(crate) status: Option<u16>,
    pub(crate) detail: String,
    pub(crate) bytes_encoded: u64,
    pub(crate) bytes_sent: u64,
}

/// One outcome for the whole batch (no allocation), or one per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcomes {
    All(Outcome),
    Each(Vec<Outcome>),
}

impl Answer {
    /// The same outcome for every event of the batch.
    pub fn all(outcome: Outcome) -> Self {
        Self::new(Outcomes::All(outcome))
    }

    /// One outcome per event, in batch order. Events the list does not reach
    /// are treated as `RetryAfter(None)`: an answer that forgot an event must
    /// not lose it.
    pub fn each(outcomes: Vec<Outcome>) -> Self {
        Self::new(Outcomes::Each(outcomes))
    }

    fn new(outcomes: Outcomes) -> Self {
        Answer {
            outcomes,
            status: None,
            detail: String::new(),
            bytes_encoded: 0,
            bytes_sent: 0,
        }
    }

    /// The destination's status code (PostHog: the HTTP status), kept in
    /// `Stats::last_rejection` and logged with retries and refusals.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The destination's own words (a server message, an error chain), kept
    /// with refusals. Secrets must already be redacted.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// What this attempt put on the wire: `encoded` bytes before compression
    /// and `sent` after, added to `Stats::bytes_json` and `Stats::bytes_sent`.
    pub fn with_bytes(mut self, encoded: usize, sent: usize) -> Self {
        self.bytes_encoded = encoded as u64;
        self.bytes_sent = sent as u64;
        self
    }

    /// The outcome of event `i` of the batch.
    pub(crate) fn outcome(&self, i: usize) -> Outcome {
        match &self.outcomes {
            Outcomes::All(outcome) => *outcome,
            Outcomes::Each(each) => each.get(i).copied().unwrap_or(Outcome::RetryAfter(None)),
        }
    }
}
