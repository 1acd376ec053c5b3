//! A batching exporter to a PostHog-style capture API (`POST {host}/batch/`).
//!
//! ```text
//! capture() ─► validate ─► bounded queue ─► worker thread: batcher ─► gzip ─► POST ─► retry
//!  (caller)                  (FullPolicy)     (own tokio runtime)                   (classify)
//! ```
//!
//! [`CaptureClient::capture`] only validates and enqueues: it never waits on
//! the network. A named worker thread with its own small tokio runtime does
//! the rest, so the client works the same from sync code, from any runtime,
//! and from a current-thread runtime that `flush` can therefore not deadlock.
//!
//! ```no_run
//! use std::time::Duration;
//! use llmtap_export::{CaptureClient, FullPolicy};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // POSTHOG_API_KEY / POSTHOG_HOST are the defaults; code overrides them.
//! let client = CaptureClient::builder()
//!     .api_key("phc_...")
//!     .when_full(FullPolicy::Block(Duration::from_millis(50)))
//!     .build()?;
//! # let event: llmtap::Event = unimplemented!();
//! client.capture(event)?; // never waits on the network
//! let report = client.shutdown_blocking(Duration::from_secs(10));
//! assert!(report.is_lossless(), "dropped: {}", report.dropped);
//! # Ok(()) }
//! ```
//!
//! # Delivery semantics
//!
//! - **Accepted means tracked.** Every event `capture` accepts is either
//!   acknowledged by the server (a 2xx for its batch) or dropped and counted
//!   under one [`DropReason`]; [`CaptureClient::stats`] shows both at any time.
//! - **Dropped only for a reason**, and counted under it:
//!   - `queue_full`: the queue was full (see [`FullPolicy`]);
//!   - `invalid`: empty `event` or `distinct_id`, or a bad timestamp, which
//!     would make the server 400 the whole batch;
//!   - `oversized`: over `max_event_bytes` even after
//!     [`Event::fit_within`](llmtap::Event::fit_within) shrank its content;
//!   - `rejected`: the server refused with a status retrying cannot fix (400,
//!     401, 403, ...); a 413 first splits the batch in halves, so only an
//!     event too large on its own is dropped;
//!   - `retries_exhausted`: transient failures outlasted `retry_deadline`;
//!   - `shutdown_timeout`: still undelivered when `shutdown` ran out of time;
//!   - `closed`: captured after shutdown began.
//!
//!   The first drop logs a warning; shutdown logs the totals.
//! - **At least once, rarely twice.** A batch is resent only after a network
//!   error, a timeout or 408/429/5xx, with its events' stable `uuid`s. A
//!   request that timed out after the server processed it can therefore
//!   arrive twice; PostHog does not promise to deduplicate by `uuid`.
//! - **Order.** One batch is in flight at a time, in capture order.
//! - **Flush is safe to call anytime.** Events captured while a flush is in
//!   flight are not waited for, but they are never lost either.
//! - **Shut down to lose nothing.** Call [`CaptureClient::shutdown`] (or
//!   `shutdown_blocking`) with a timeout before exit: it sends the last
//!   partial batch and reports what was delivered and dropped. Dropping the
//!   client instead gives the worker 5 seconds in the background and waits
//!   for nothing.
//!
//! # Settings
//!
//! | builder method | default |
//! |---|---|
//! | `api_key` | `POSTHOG_API_KEY` (required) |
//! | `host` | `POSTHOG_HOST`, else [`DEFAULT_HOST`] |
//! | `queue_capacity` | [`DEFAULT_QUEUE_CAPACITY`] events |
//! | `queue_bytes` | [`DEFAULT_QUEUE_BYTES`] of event JSON (estimated) |
//! | `when_full` | [`FullPolicy::DropNewest`] |
//! | `batch_size` | [`DEFAULT_BATCH_SIZE`] events |
//! | `batch_bytes` | [`DEFAULT_BATCH_BYTES`] (JSON before gzip, at most [`MAX_BATCH_BYTES`]) |
//! | `flush_interval` | [`DEFAULT_FLUSH_INTERVAL`] |
//! | `max_event_bytes` | [`DEFAULT_MAX_EVENT_BYTES`](llmtap::event::DEFAULT_MAX_EVENT_BYTES) |
//! | `gzip` | on |
//! | `request_timeout` | [`DEFAULT_REQUEST_TIMEOUT`] |
//! | `initial_backoff`, `max_backoff` | [`DEFAULT_INITIAL_BACKOFF`], [`DEFAULT_MAX_BACKOFF`] (full jitter) |
//! | `retry_deadline` | [`DEFAULT_RETRY_DEADLINE`] per batch |
//! | `http_client` | reqwest with rustls |
//! | `header` | none |
//! | `clock` | [`SystemClock`] |

mod batcher;
mod client;
mod clock;
mod config;
mod error;
mod queue;
mod retry;
mod secret;
mod stats;
mod transport;
mod validate;
mod wait;
mod worker;

pub use client::{CaptureClient, DeliveryReport};
pub use clock::{Clock, Sleep, SystemClock};
pub use config::{
    CaptureBuilder, FullPolicy, DEFAULT_BATCH_BYTES, DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL,
    DEFAULT_HOST, DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_DEADLINE, ENV_API_KEY, ENV_HOST,
    MAX_BATCH_BYTES,
};
pub use error::ConfigError;
pub use retry::{classify, parse_retry_after, Decision, Outcome};
pub use secret::ApiKey;
pub use stats::{DropCounts, DropReason, Rejection, Stats};
