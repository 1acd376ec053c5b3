//! The knobs every destination shares (queue, batches, retries), their
//! defaults, and the checks that run before a worker starts.
//!
//! Checked in [`ExportClient::start`](crate::ExportClient::start), so a bad
//! setting fails at startup with a typed error, not at the first flush. A
//! destination's own settings (PostHog's host and key) live in its builder.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::ConfigError;
use crate::retry::RetryPolicy;
use llmtap::DEFAULT_MAX_EVENT_BYTES;

/// Events the queue holds before [`FullPolicy`] applies.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Default bound of the queue in bytes of event JSON (estimated): with prompts
/// in the events, 10 000 of them can otherwise take hundreds of MiB, and
/// events of up to `max_event_bytes` each far more.
pub const DEFAULT_QUEUE_BYTES: usize = 32 * 1024 * 1024;
/// Events per batch. Chosen by measurement (BENCHMARKS.md, `serve` under
/// load): against a capture API answering in 100 ms, 4 batches in flight of
/// 100 events cap delivery at ~4,000 events/s, and a sidecar fed 10,000/s
/// answered most POSTs 503; 500 sustained 10,982/s with none. A batch of 500
/// is ~2.3 MB of JSON with prompts, under [`DEFAULT_BATCH_BYTES`], which
/// still closes a batch of larger events early. Into PostgreSQL (fsync on)
/// 500 rows a transaction is within 6 % of the best size swept, 100 is 0.77×
/// (`benches/postgres_rows.rs`).
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// Encoded bytes per batch before compression. PostHog's SDKs stay under
/// ~5 MiB; its server takes 20 MiB.
pub const DEFAULT_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// How long a partial batch may wait for more events.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Backoff ceiling of the first retry.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// Backoff ceiling cap.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Total time one batch may spend retrying before it is dropped.
pub const DEFAULT_RETRY_DEADLINE: Duration = Duration::from_secs(60);

/// Batches exported at once. Throughput is about `batch_size * max_in_flight
/// / latency`: 500-event batches against a 100 ms API make ~5,000 events/s
/// one at a time, ~20,000 with 4 (past ~10,000/s a 2-core sidecar is bound
/// by its CPU, not by this).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;

/// What `capture` does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPolicy {
    /// Wait up to this long for room, then drop with reason `queue_full`.
    /// Blocks the calling thread: only for callers that prefer backpressure
    /// to loss.
    Block(Duration),
    /// Drop the new event at once (reason `queue_full`). The default: the hot
    /// path never waits.
    DropNewest,
}

impl FullPolicy {
    pub(crate) fn wait(self) -> Duration {
        match self {
            FullPolicy::Block(d) => d,
            FullPolicy::DropNewest => Duration::ZERO,
        }
    }
}

/// How an [`ExportClient`](crate::ExportClient) queues, batches and retries,
/// whatever the destination; every setting has a default.
///
/// ```
/// use std::time::Duration;
/// use llmtap_export::{FullPolicy, Settings};
///
/// let settings = Settings::default()
///     .batch_size(500)
///     .when_full(FullPolicy::Block(Duration::from_millis(5)));
/// # let _ = settings;
/// ```
#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) queue_capacity: usize,
    pub(crate) queue_bytes: usize,
    pub(crate) when_full: FullPolicy,
    pub(crate) batch_size: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) max_event_bytes: usize,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) retry_deadline: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            when_full: FullPolicy::DropNewest,
            batch_size: DEFAULT_BATCH_SIZE,
            batch_bytes: DEFAULT_BATCH_BYTES,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            retry_deadline: DEFAULT_RETRY_DEADLINE,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            clock: Arc::new(SystemClock),
        }
    }
}

impl Settings {
    /// Events the queue holds. Default [`DEFAULT_QUEUE_CAPACITY`].
    pub fn queue_capacity(mut self, events: usize) -> Self {
        self.queue_capacity = events;
        self
    }

    /// Bytes of event JSON the queue holds, estimated as events are queued;
    /// the queue is full at whichever of this and `queue_capacity` comes
    /// first. Default [`DEFAULT_QUEUE_BYTES`]; at least `max_event_bytes`.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    /// What `capture` does when the queue is full. Default [`FullPolicy::DropNewest`].
    pub fn when_full(mut self, policy: FullPolicy) -> Self {
        self.when_full = policy;
        self
    }

    /// Events per batch. Default [`DEFAULT_BATCH_SIZE`].
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch_size = events;
        self
    }

    /// Encoded bytes per batch, the exporter's envelope included, before
    /// compression. Default [`DEFAULT_BATCH_BYTES`].
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes;
        self
    }

    /// Longest wait before a partial batch is sent. Default [`DEFAULT_FLUSH_INTERVAL`].
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Larger encoded events are shrunk with
    /// [`Event::fit_within`](llmtap::Event::fit_within), or dropped
    /// (`oversized`). Default [`DEFAULT_MAX_EVENT_BYTES`].
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    /// Backoff ceiling of the first retry. Default [`DEFAULT_INITIAL_BACKOFF`].
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Backoff ceiling cap. Default [`DEFAULT_MAX_BACKOFF`].
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Total retry time per batch before it is dropped (`retries_exhausted`).
    /// Default [`DEFAULT_RETRY_DEADLINE`].
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.retry_deadline = deadline;
        self
    }

    /// Batches exported at once, each retrying on its own; they may land in
    /// any order. 1 sends one batch at a time, in capture order. Default
    /// [`DEFAULT_MAX_IN_FLIGHT`]; at least 1.
    pub fn max_in_flight(mut self, batches: usize) -> Self {
        self.max_in_flight = batches;
        self
    }

    /// Replaces the time source for retry backoff and deadlines; see [`Clock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Every rule, given the exporter's per-batch `overhead` (its envelope).
    pub(crate) fn check(&self, overhead: usize) -> Result<(), ConfigError> {
        at_least_one("queue_capacity", self.queue_capacity)?;
        at_least_one("batch_size", self.batch_size)?;
        at_least_one("max_in_flight", self.max_in_flight)?;
        at_least_one("max_event_bytes", self.max_event_bytes)?;
        if self.queue_bytes < self.max_event_bytes {
            return Err(invalid(
                "queue_bytes",
                "must hold at least one event of max_event_bytes",
            ));
        }
        non_zero("flush_interval", self.flush_interval)?;
        non_zero("initial_backoff", self.initial_backoff)?;
        non_zero("retry_deadline", self.retry_deadline)?;
        if self.max_backoff < self.initial_backoff {
            return Err(invalid("max_backoff", "must not be below initial_backoff"));
        }
        if self.batch_bytes < overhead.saturating_add(self.max_event_bytes) {
            return Err(invalid(
                "batch_bytes",
                format!(
                    "{} cannot hold one event of max_event_bytes ({}) plus the {overhead}-byte envelope",
                    self.batch_bytes, self.max_event_bytes
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            initial: self.initial_backoff,
            max: self.max_backoff,
            deadline: self.retry_deadline,
        }
    }
}

pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidSetting {
        setting,
        reason: reason.into(),
    }
}

fn at_least_one(setting: &'static str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(invalid(setting, "must be at least 1"));
    }
    Ok(())
}

pub(crate) fn non_zero(setting: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(invalid(setting, "must be longer than zero"));
    }
    Ok(())
}
