//! The handle callers hold, whatever the destination: capture on the hot
//! path, flush and shut down with a bound, read the counters.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::ConfigError;
use crate::exporter::Exporter;
use crate::queue::Refused;
use crate::settings::{FullPolicy, Settings};
use crate::stats::{DropCounts, DropReason, Stats};
use crate::wait::{block_on, race, Either};
use crate::worker::{Progress, Shared, Worker};
use llmtap::Event;
use llmtap::{Delivery, Sink, SinkError};
/// How long a client dropped without `shutdown` lets its worker keep sending.
const DROP_GRACE: Duration = Duration::from_secs(5);
/// Slack after a shutdown deadline for the worker's final bookkeeping.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(250);

/// Ships events to one [`Exporter`] in batches, from a worker thread with its
/// own runtime: the queue, batching, retries, counters and flush/shutdown
/// every destination shares.
///
/// [`CaptureClient`](crate::CaptureClient) is this client for PostHog. See
/// the [crate docs](crate) for what is guaranteed. Not `Clone`: wrap it in an
/// `Arc` to share it (`Arc<ExportClient<E>>` is a [`Sink`] too).
///
/// One client feeds one destination. A later fan-out to several (or a
/// durable spool in front of one) is an `Exporter` wrapping others, so this
/// client, its queue and its accounting stay as they are.
pub struct ExportClient<E: Exporter> {
    /// Shared with the worker; the client only calls `validate` on it.
    exporter: Arc<E>,
    shared: Arc<Shared>,
    /// The worker's runtime: flush/shutdown timers run there, so they are
    /// real even when the caller's runtime is paused or absent.
    runtime: tokio::runtime::Handle,
    when_full: FullPolicy,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What a `flush` or `shutdown` call saw when it returned.
///
/// `delivered` and `dropped` count over the client's lifetime; `pending`
/// counts the events this call waited for that were still undelivered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Events the destination acknowledged, since the client was built.
    pub delivered: u64,
    /// Events dropped, by reason, since the client was built.
    pub dropped: DropCounts,
    /// Events the call waited for that were neither delivered nor dropped
    /// when it returned (still queued or retrying).
    pub pending: u64,
    /// The timeout ran out before everything waited for was delivered (for
    /// `shutdown`, that includes events dropped as `shutdown_timeout`).
    pub timed_out: bool,
}

impl DeliveryReport {
    /// Nothing the call waited for is still pending.
    pub fn is_complete(&self) -> bool {
        self.pending == 0
    }

    /// Complete, and nothing was ever dropped.
    pub fn is_lossless(&self) -> bool {
        self.is_complete() && self.dropped.total() == 0
    }

    fn into_result(self, dropped_before: &DropCounts) -> Result<(), SinkError> {
        if self.pending > 0 {
            return Err(SinkError::Timeout {
                pending: self.pending,
            });
        }
        let new = self.dropped.since(dropped_before);
        // The reason that lost the most; the report has them all.
        match new.iter().max_by_key(|&(_, n)| n) {
            Some((reason, _)) => Err(SinkError::Dropped {
                count: new.total(),
                reason,
            }),
            None => Ok(()),
        }
    }
}

impl<E: Exporter> ExportClient<E> {
    /// Checks `settings` against the exporter (its batch envelope must fit
    /// with one event of `max_event_bytes`) and starts the worker thread,
    /// named `llmtap-{name}`.
    pub fn start(exporter: E, settings: Settings) -> Result<Self, ConfigError> {
        settings.check(exporter.batch_overhead())?;
        let exporter = Arc::new(exporter);
        let thread_name = format!("llmtap-{}", exporter.name());
        let shared = Arc::new(Shared::new(settings.queue_capacity, settings.queue_bytes));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(thread_name.clone())
            .build()
            .map_err(ConfigError::Worker)?;
        let handle = runtime.handle().clone();
        let worker = Worker::new(exporter.clone(), &settings, shared.clone());
        let thread = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || runtime.block_on(worker.run()))
            .map_err(ConfigError::Worker)?;
        Ok(ExportClient {
            exporter,
            shared,
            runtime: handle,
            when_full: settings.when_full,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Validates and queues one event; never waits on the network.
    ///
    /// Waits for room only under [`FullPolicy::Block`]. Every refusal is
    /// counted and returned as [`SinkError::Dropped`] with its reason:
    /// `invalid`, `queue_full` or `closed`.
    pub fn capture(&self, event: Event) -> Result<(), SinkError> {
        if let Err(why) = self.exporter.validate(&event) {
            self.shared.counters.dropped(DropReason::Invalid, 1);
            tracing::debug!(uuid = %event.uuid, "event refused: {why}");
            return Err(SinkError::dropped(DropReason::Invalid));
        }
        match self.shared.queue.push(event, self.when_full.wait()) {
            Ok(()) => Ok(()),
            Err(Refused::Full) => {
                self.shared.counters.dropped(DropReason::QueueFull, 1);
                Err(SinkError::dropped(DropReason::QueueFull))
            }
            Err(Refused::Closed) => {
                self.shared.counters.dropped(DropReason::Closed, 1);
                Err(SinkError::dropped(DropReason::Closed))
            }
        }
    }

    /// Queues every event of a request, or none: for receivers (like
    /// `llmtap serve`) whose sender does not retry, so refusing a whole
    /// request loudly beats accepting it and dropping part of it later.
    ///
    /// Never waits. Invalid events are dropped and counted as in
    /// [`ExportClient::capture`]; `Ok` says how many were queued. When the
    /// queue lacks room for all the valid ones, or is shut down, they are
    /// handed back untouched and nothing is counted: the caller owns the refusal.
    pub fn capture_all(&self, events: Vec<Event>) -> Result<usize, Vec<Event>> {
        let total = events.len();
        let valid: Vec<Event> = events
            .into_iter()
            .filter(|e| self.exporter.validate(e).is_ok())
            .collect();
        let invalid = total - valid.len();
        if invalid > 0 {
            self.shared
                .counters
                .dropped(DropReason::Invalid, invalid as u64);
        }
        let queued = valid.len();
        match self.shared.queue.push_all(valid) {
            Ok(()) => Ok(queued),
            Err((_, events)) => Err(events),
        }
    }

    /// The counters, now.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// How many accepted events have their fate settled (delivered or
    /// dropped), counted in capture order: the first `settled()` events that
    /// `capture` accepted will not change any more, whatever order their
    /// batches finished in. What a durable store in front of the client
    /// deletes by (see `Spooled`).
    pub fn settled(&self) -> u64 {
        self.shared.progress().settled
    }

    /// Sends every event accepted before this call, waiting at most `timeout`.
    ///
    /// The request is registered when `flush` is called, not when the future
    /// is first polled. Events captured meanwhile are not waited for but are
    /// never lost: they go in this or a later batch. Idempotent; after
    /// shutdown it returns the final counts at once.
    pub fn flush(&self, timeout: Duration) -> impl Future<Output = DeliveryReport> + Send + '_ {
        let deadline = after(timeout);
        let target = self.shared.request_flush();
        async move {
            self.wait_until(deadline, |p| p.finished || p.settled >= target)
                .await;
            let pending = target.saturating_sub(self.shared.progress().settled);
            let stats = self.stats();
            DeliveryReport {
                delivered: stats.sent,
                dropped: stats.dropped,
                pending,
                timed_out: pending > 0,
            }
        }
    }

    /// Refuses new events, sends everything queued (the last partial batch
    /// included), and stops the worker, all within `timeout`. What is still
    /// undelivered then is dropped as `shutdown_timeout`.
    ///
    /// Idempotent: later calls wait for the same shutdown (a shorter timeout
    /// brings its deadline forward).
    pub fn shutdown(&self, timeout: Duration) -> impl Future<Output = DeliveryReport> + Send + '_ {
        let deadline = after(timeout);
        self.shared.begin_shutdown(deadline);
        async move {
            let grace = deadline.checked_add(SHUTDOWN_GRACE).unwrap_or(deadline);
            self.wait_until(grace, |p| p.finished).await;
            let stats = self.stats();
            DeliveryReport {
                delivered: stats.sent,
                dropped: stats.dropped,
                pending: stats.pending,
                timed_out: stats.pending > 0 || stats.dropped.get(DropReason::ShutdownTimeout) > 0,
            }
        }
    }

    /// [`ExportClient::flush`] for sync code. Blocks the calling thread; in
    /// async code prefer the async version.
    pub fn flush_blocking(&self, timeout: Duration) -> DeliveryReport {
        block_on(self.flush(timeout))
    }

    /// [`ExportClient::shutdown`] for sync code; also joins the worker
    /// thread once it has finished.
    pub fn shutdown_blocking(&self, timeout: Duration) -> DeliveryReport {
        let report = block_on(self.shutdown(timeout));
        if self.shared.progress().finished {
            let thread = self
                .thread
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(thread) = thread {
                // The worker has nothing left to do but tear down its runtime.
                let _ = thread.join();
            }
        }
        report
    }

    /// Waits until `done` holds or `deadline` passes; true if `done` held.
    async fn wait_until(&self, deadline: Instant, done: impl Fn(&Progress) -> bool) -> bool {
        let mut progress = self.shared.subscribe();
        if done(&progress.borrow()) {
            return true;
        }
        // Spawned on the worker's runtime, and the sleep created there: the
        // caller may have no runtime, or a paused test clock that would fire
        // the timeout at once.
        let timer = AbortOnDrop(
            self.runtime
                .spawn(async move { tokio::time::sleep_until(deadline.into()).await }),
        );
        let met = matches!(
            race(progress.wait_for(|p| done(p)), timer).await,
            Either::Left(Ok(_))
        );
        // If the worker thread died, its runtime cancelled the timer at once:
        // report what is known rather than wait.
        met || done(&self.shared.progress())
    }
}

impl<E: Exporter + fmt::Debug> fmt::Debug for ExportClient<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportClient")
            .field("exporter", &self.exporter)
            .field("when_full", &self.when_full)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<E: Exporter> Drop for ExportClient<E> {
    /// Starts a shutdown with a short grace period but does not wait for it:
    /// dropping must not block (it may happen inside a runtime). Call
    /// `shutdown` to know what was delivered.
    fn drop(&mut self) {
        self.shared.begin_shutdown(after(DROP_GRACE));
    }
}

#[async_trait]
impl<E: Exporter> Sink for ExportClient<E> {
    fn capture(&self, event: Event) -> Result<(), SinkError> {
        ExportClient::capture(self, event)
    }

    fn delivery(&self) -> Delivery {
        self.stats().delivery()
    }

    /// All or none: when the queue lacks room for every valid event, none is
    /// queued (and none counted) and the error says how many were refused.
    fn capture_all(&self, events: Vec<Event>) -> Result<usize, SinkError> {
        ExportClient::capture_all(self, events).map_err(|refused| SinkError::Dropped {
            count: refused.len() as u64,
            reason: if self.shared.queue.is_closed() {
                DropReason::Closed
            } else {
                DropReason::QueueFull
            },
        })
    }

    /// Errs with `Timeout` if events are still pending, or `Dropped` if
    /// events were dropped while it waited.
    async fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
        let before = self.shared.counters.drop_counts();
        ExportClient::flush(self, timeout)
            .await
            .into_result(&before)
    }

    /// Errs with `Timeout` if events are still pending, or `Dropped` if any
    /// event was ever dropped.
    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        ExportClient::shutdown(self, timeout)
            .await
            .into_result(&DropCounts::default())
    }
}

/// `now + timeout`, saturating far in the future instead of overflowing.
fn after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// A spawned task that is cancelled when no longer awaited.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Future for AbortOnDrop {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
