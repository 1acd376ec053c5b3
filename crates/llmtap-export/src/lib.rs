//! Delivery of llmtap events over the network: the machinery written once,
//! behind a transport-neutral [`Exporter`] trait, and one folder per
//! destination (PostHog's capture API today).
//!
//! ```text
//! capture() ─► validate ─► bounded queue ─► worker thread, own tokio runtime:
//!  (caller)   (exporter's)   (FullPolicy)     encode once ─► batcher ─► up to max_in_flight
//!                                             batches at once, each: Exporter::export
//!                                             ◄─ an Outcome per event: delivered, retry
//!                                                after backoff, split in halves, dropped
//! ```
//!
//! [`ExportClient::capture`] only validates and enqueues: it never waits on
//! the network. A named worker thread with its own small tokio runtime does
//! the rest, so the client works the same from sync code, from any runtime,
//! and from a current-thread runtime that `flush` can therefore not deadlock.
//!
//! # Rooms
//!
//! The machinery, which names no destination:
//! - `exporter`: the contract. [`Exporter`] encodes one event and sends one
//!   batch; it answers an [`Outcome`] per event inside an [`Answer`].
//! - `client`: [`ExportClient`], what callers hold: `capture`/`capture_all`,
//!   `flush`/`shutdown` with timeouts and a [`DeliveryReport`], `stats`, the
//!   [`Sink`](llmtap::Sink) impl.
//! - `settings`: [`Settings`] and the `DEFAULT_*` for queue, batches and
//!   retries; [`FullPolicy`].
//! - `queue`: the bounded queue (events and bytes) between caller and worker.
//! - `batcher`: where a batch ends, by count, bytes and age (pure; proptest);
//!   [`Weighed`] is how an encoded event states its size.
//! - `worker`: the thread's loop: drain, encode once, batch, keep up to
//!   `max_in_flight` batches in flight, settle in queue order.
//! - `delivery`: one batch to the end: export, apply each outcome (retry
//!   under its own deadline, halve on `Split`, count drops).
//! - `ledger`: settling in queue order while batches finish in any order (pure).
//! - `retry`: backoff with full jitter under a per-batch deadline (pure).
//! - `stats`: live counters; [`Stats`], [`DropCounts`], [`Rejection`].
//! - `clock`: the injectable time of retries ([`Clock`]); `wait`: `race` and
//!   a `block_on` that is safe inside any runtime; `error`: [`ConfigError`].
//! - `fanout`: [`FanOut`], one stream of events to several sinks, each with
//!   its own client; `recent`: [`RecentUuids`], the window that drops a
//!   second copy of an event.
//!
//! One folder per destination. `postgres/` (feature `postgres`) writes rows
//! and an hourly cache rollup; `posthog/` has [`CaptureBuilder`],
//! [`CaptureClient`] (= `ExportClient<PostHog>`), the `/batch/` envelope and
//! gzip, HTTP status rules, 413 and a 400 for a batch of several → `Split`
//! (so one bad event is dropped alone), per-event validation, [`ApiKey`].
//!
//! # Adding a destination
//!
//! Implement [`Exporter`] in a new folder (an `otlp/`, as `postgres/` did) and
//! start it with [`ExportClient::start`]`(exporter, Settings::default())`:
//! queueing, batching, retries, accounting and shutdown come with it.
//! A durable spool or a fan-out to several destinations is an `Exporter`
//! too (one that answers `Delivered` once a record is on disk, or once
//! every destination it wraps did; see [`Outcome`]), so callers keep one
//! client and one [`DeliveryReport`].
//!
//! # PostHog
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
//!   under one [`DropReason`]; [`ExportClient::stats`] shows both at any time.
//!   This and what follows holds for every exporter; only the examples
//!   (statuses, validation rules) are PostHog's.
//! - **Dropped only for a reason**, and counted under it:
//!   - `queue_full`: the queue was full (see [`FullPolicy`]);
//!   - `invalid`: empty `event` or `distinct_id`, or a bad timestamp, which
//!     would make the server 400 the whole batch;
//!   - `oversized`: over `max_event_bytes` even after
//!     [`Event::fit_within`](llmtap::Event::fit_within) shrank its content;
//!   - `rejected`: the server refused with a status retrying cannot fix (400,
//!     401, 403, ...); a 413 or a 400 (`Split`) first splits the batch in
//!     halves, so only the event too large or invalid on its own is dropped
//!     (at most `2n - 1` requests for a batch of `n`, even from a server
//!     that refuses everything);
//!   - `retries_exhausted`: transient failures outlasted `retry_deadline`;
//!   - `shutdown_timeout`: still undelivered when `shutdown` ran out of time;
//!   - `closed`: captured after shutdown began.
//!
//!   The first drop logs a warning; shutdown logs the totals.
//! - **At least once, rarely twice.** A batch is resent only after a network
//!   error, a timeout or 408/429/5xx, with its events' stable `uuid`s. A
//!   request that timed out after the server processed it can therefore
//!   arrive twice; PostHog does not promise to deduplicate by `uuid`.
//! - **Order is not promised across batches.** Up to `max_in_flight`
//!   batches are in flight at once (each with its own retries and deadline),
//!   so a later batch can land first; PostHog orders by `timestamp`, not by
//!   arrival. Events inside a batch keep capture order, and
//!   `max_in_flight(1)` sends one batch at a time in capture order. (An
//!   exporter answering per event gets the events it asked to retry again
//!   after their neighbours were delivered.) Accounting is in order either
//!   way: `flush` waits for every batch holding an event it covers.
//! - **Flush is safe to call anytime.** Events captured while a flush is in
//!   flight are not waited for, but they are never lost either.
//! - **Shut down to lose nothing.** Call [`ExportClient::shutdown`] (or
//!   `shutdown_blocking`) with a timeout before exit: it sends the last
//!   partial batch and reports what was delivered and dropped. Dropping the
//!   client instead gives the worker 5 seconds in the background and waits
//!   for nothing.
//!
//! # Settings
//!
//! [`CaptureBuilder`]'s methods; all but `api_key`, `host`, `gzip`,
//! `request_timeout`, `http_client` and `header` are [`Settings`]' too.
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
//! | `max_event_bytes` | [`DEFAULT_MAX_EVENT_BYTES`](llmtap::DEFAULT_MAX_EVENT_BYTES) |
//! | `gzip` | on |
//! | `request_timeout` | [`DEFAULT_REQUEST_TIMEOUT`] |
//! | `initial_backoff`, `max_backoff` | [`DEFAULT_INITIAL_BACKOFF`], [`DEFAULT_MAX_BACKOFF`] (full jitter) |
//! | `retry_deadline` | [`DEFAULT_RETRY_DEADLINE`] per batch |
//! | `max_in_flight` | [`DEFAULT_MAX_IN_FLIGHT`] batches exported at once |
//! | `http_client` | reqwest with rustls |
//! | `header` | none |
//! | `clock` | [`SystemClock`] |

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod batcher;
mod client;
mod clock;
mod delivery;
mod error;
mod exporter;
mod fanout;
mod ledger;
#[cfg(feature = "postgres")]
mod postgres;
mod posthog;
mod queue;
mod recent;
mod retry;
mod settings;
#[cfg(feature = "spool")]
mod spool;
mod stats;
mod wait;
mod worker;

// The generic machinery: one client for any destination.
pub use batcher::Weighed;
pub use client::{DeliveryReport, ExportClient};
pub use clock::{Clock, Sleep, SystemClock};
pub use error::ConfigError;
pub use exporter::{Answer, Exporter, Outcome};
pub use fanout::FanOut;
pub use recent::RecentUuids;
pub use settings::{
    FullPolicy, Settings, DEFAULT_BATCH_BYTES, DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL,
    DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_IN_FLIGHT, DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_RETRY_DEADLINE,
};
pub use stats::{DropCounts, DropReason, Rejection, Stats};

// A disk spool in front of any exporter (feature `spool`).
#[cfg(feature = "spool")]
pub use spool::{SpoolError, SpoolSettings, Spooled, DEFAULT_SPOOL_BYTES, SPOOL_SHUTDOWN_WAIT};

// A PostgreSQL database (feature `postgres`).
#[cfg(feature = "postgres")]
pub use postgres::{
    connect as connect_postgres, migrate as migrate_postgres, AlertRow, CallRow, DatabaseUrl,
    Postgres, PostgresBuilder, PostgresClient, Row, DEFAULT_POOL_SIZE, SCHEMA_VERSION,
};

// PostHog's capture API.
pub use posthog::{
    ApiKey, CaptureBuilder, CaptureClient, PostHog, DEFAULT_HOST, DEFAULT_REQUEST_TIMEOUT,
    ENV_API_KEY, ENV_HOST, MAX_BATCH_BYTES,
};
