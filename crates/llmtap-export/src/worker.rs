//! The loop on the worker thread: drain the queue into batches, deliver each
//! with retries, settle every event exactly once.
//!
//! One batch is in flight at a time. That keeps delivery in capture order,
//! makes `flush` a simple "everything up to sequence N is settled", and is
//! plenty for a sidecar's volume (hundreds of events per request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio::time::sleep_until;

use super::batcher::{Batcher, Prepared, Push};
use super::clock::Clock;
use super::config::Config;
use super::queue::Queue;
use super::retry::{classify, Outcome, RetryPolicy, Step};
use super::stats::{Counters, DropReason, Rejection, Stats};
use super::transport::{Answer, Transport};
use super::wait::{race, Either};
use llmtap::event::Event;

/// Events taken from the queue per lock.
const POP_AT_ONCE: usize = 64;
/// While traffic flows the worker looks at the queue this often instead of
/// being woken per event.
const POLL: Duration = Duration::from_millis(5);
/// After this long without events the worker parks until the next push.
const IDLE_AFTER: Duration = Duration::from_secs(1);

/// How far the worker has got, watched by `flush` and `shutdown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Accepted events delivered or dropped. Events settle in queue order,
    /// so "settled >= n" means "the first n accepted events are done".
    pub settled: u64,
    /// The worker has exited; nothing will change any more.
    pub finished: bool,
}

/// State shared by the client handle and the worker.
#[derive(Debug)]
pub(crate) struct Shared {
    pub queue: Queue,
    pub counters: Counters,
    progress: watch::Sender<Progress>,
    /// Flush requests: the worker sends partial batches until this many
    /// accepted events are settled.
    flush_target: AtomicU64,
    /// When set, the worker must have finished by then.
    deadline: watch::Sender<Option<Instant>>,
}

impl Shared {
    pub fn new(queue_capacity: usize, queue_bytes: usize) -> Self {
        Shared {
            queue: Queue::new(queue_capacity, queue_bytes),
            counters: Counters::default(),
            progress: watch::Sender::new(Progress::default()),
            flush_target: AtomicU64::new(0),
            deadline: watch::Sender::new(None),
        }
    }

    pub fn progress(&self) -> Progress {
        *self.progress.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Asks the worker to send everything accepted so far; returns the
    /// sequence number to wait for.
    pub fn request_flush(&self) -> u64 {
        let target = self.queue.pushed();
        self.flush_target.fetch_max(target, Ordering::SeqCst);
        self.queue.wake();
        target
    }

    /// Closes the queue and sets (or brings forward) the worker's deadline.
    pub fn begin_shutdown(&self, deadline: Instant) {
        self.deadline.send_if_modified(|current| match current {
            Some(at) if *at <= deadline => false,
            _ => {
                *current = Some(deadline);
                true
            }
        });
        self.queue.close();
    }

    pub fn stats(&self) -> Stats {
        // Read settled before pushed: then pending can only be overstated.
        let settled = self.progress().settled;
        self.counters
            .snapshot(self.queue.pushed(), settled, self.queue.len())
    }

    fn flush_wanted(&self) -> bool {
        self.flush_target.load(Ordering::SeqCst) > self.progress().settled
    }

    fn settle(&self, n: u64) {
        self.progress.send_modify(|p| p.settled += n);
    }

    fn drop_settled(&self, reason: DropReason, n: u64) {
        self.counters.dropped(reason, n);
        self.settle(n);
    }
}

pub(crate) struct Worker {
    shared: Arc<Shared>,
    transport: Transport,
    batcher: Batcher<Prepared>,
    interval: std::time::Duration,
    max_event_bytes: usize,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    /// Events dropped here while earlier ones were still in the open batch.
    /// Counted as dropped at once, but settled with that batch, so that
    /// "settled >= n" keeps meaning "the first n events are done".
    deferred: u64,
}

impl Worker {
    pub fn new(config: &Config, shared: Arc<Shared>) -> Self {
        Worker {
            shared,
            transport: Transport::new(config),
            batcher: Batcher::new(config.limits),
            interval: config.flush_interval,
            max_event_bytes: config.max_event_bytes,
            retry: config.retry,
            clock: config.clock.clone(),
            deferred: 0,
        }
    }

    pub async fn run(mut self) {
        let shared = self.shared.clone();
        let deadline = shared.deadline.subscribe();
        if let Either::Right(()) = race(self.drive(), deadline_passed(deadline)).await {
            // The in-flight request (if any) was cancelled with `drive`.
            // Whatever is not settled now never will be.
            shared.queue.close();
            shared.queue.clear();
            let unsettled = shared
                .queue
                .pushed()
                .saturating_sub(shared.progress().settled)
                .saturating_sub(self.deferred);
            shared.drop_settled(DropReason::ShutdownTimeout, unsettled);
            shared.settle(std::mem::take(&mut self.deferred));
        }
        let stats = shared.stats();
        if stats.dropped.total() > 0 {
            tracing::warn!(
                delivered = stats.sent,
                dropped = stats.dropped.total(),
                reasons = %stats.dropped,
                "Capture shut down with dropped events."
            );
        } else {
            tracing::info!(
                delivered = stats.sent,
                batches = stats.batches,
                "Capture shut down; every accepted event was delivered."
            );
        }
        shared.progress.send_modify(|p| p.finished = true);
    }

    async fn drive(&mut self) {
        let mut taken = Vec::with_capacity(POP_AT_ONCE);
        let mut last_event: Option<Instant> = None;
        loop {
            loop {
                self.shared.queue.pop_many(POP_AT_ONCE, &mut taken);
                if taken.is_empty() {
                    break;
                }
                last_event = Some(Instant::now());
                for event in taken.drain(..) {
                    self.add(event).await;
                }
            }
            let closing = self.shared.queue.is_closed();
            if !self.batcher.is_empty() {
                let due = self
                    .batcher
                    .due(self.interval)
                    .is_some_and(|at| at <= Instant::now());
                if closing || due || self.shared.flush_wanted() {
                    self.send_open_batch().await;
                    continue;
                }
            } else if closing && self.shared.queue.len() == 0 {
                return;
            }
            let flowing = last_event.is_some_and(|t| t.elapsed() < IDLE_AFTER);
            let poll = Instant::now() + POLL;
            match self.batcher.due(self.interval) {
                Some(at) => {
                    race(self.shared.queue.ready(), sleep_until(at.min(poll).into())).await;
                }
                None if flowing => {
                    race(self.shared.queue.ready(), sleep_until(poll.into())).await;
                }
                None => {
                    if self.shared.queue.park() {
                        self.shared.queue.ready().await;
                    }
                }
            }
        }
    }

    async fn add(&mut self, event: Event) {
        let prepared = match self.prepare(event) {
            Ok(prepared) => prepared,
            Err(reason) => return self.drop_one(reason),
        };
        match self.batcher.push(prepared, Instant::now()) {
            Push::Added => {}
            // Drops so far happened while this batch was open: `deliver`
            // settles them with it.
            Push::Closed(batch) => self.deliver(batch).await,
            // Unreachable with a validated config (batch_bytes holds one
            // max_event_bytes event), but never send what cannot fit.
            Push::TooLarge(_) => self.drop_one(DropReason::Oversized),
        }
        if self.batcher.is_full() {
            self.send_open_batch().await;
        }
    }

    async fn send_open_batch(&mut self) {
        let batch = self.batcher.take();
        self.deliver(batch).await;
    }

    fn drop_one(&mut self, reason: DropReason) {
        self.shared.counters.dropped(reason, 1);
        if self.batcher.is_empty() {
            self.shared.settle(1);
        } else {
            self.deferred += 1;
        }
    }

    /// Serializes once, shrinking content that is over the per-event limit.
    fn prepare(&self, mut event: Event) -> Result<Prepared, DropReason> {
        let Ok(mut json) = serde_json::to_vec(&event) else {
            return Err(DropReason::Invalid);
        };
        if json.len() > self.max_event_bytes {
            let before = json.len();
            let shrunk = event
                .fit_within(self.max_event_bytes)
                .ok()
                .and_then(|()| serde_json::to_vec(&event).ok());
            let Some(shrunk) = shrunk else {
                tracing::debug!(uuid = %event.uuid, bytes = before, "Event over the size limit even without content.");
                return Err(DropReason::Oversized);
            };
            Counters::add(&self.shared.counters.truncated, 1);
            json = shrunk;
        }
        Ok(Prepared {
            uuid: event.uuid,
            json,
        })
    }

    /// Sends a batch, then settles the `deferred` drops that sat between
    /// its events (kept in `self` until then, so a shutdown that cancels the
    /// send does not count them twice). A batch the server finds too large
    /// (413) is split in halves and each half sent in turn, so one oversized
    /// request does not cost the events that would fit.
    async fn deliver(&mut self, batch: Vec<Prepared>) {
        let mut stack = vec![batch];
        while let Some(batch) = stack.pop() {
            if let Some(mut first) = self.send(batch).await {
                let second = first.split_off(first.len() / 2);
                stack.push(second);
                stack.push(first);
            }
        }
        self.shared.settle(std::mem::take(&mut self.deferred));
    }

    /// One batch until it is delivered or dropped, settling its events.
    /// Returns it instead when it drew a 413 and can be split.
    async fn send(&self, batch: Vec<Prepared>) -> Option<Vec<Prepared>> {
        let n = batch.len() as u64;
        let counters = &self.shared.counters;
        let started = self.clock.now();
        let mut attempt: u32 = 0;
        loop {
            let body = self.transport.body(&batch, SystemTime::now());
            Counters::add(&counters.requests, 1);
            Counters::add(&counters.bytes_json, body.json_len as u64);
            Counters::add(&counters.bytes_sent, body.bytes.len() as u64);
            if attempt > 0 {
                Counters::add(&counters.retries, 1);
            }
            let answer = self.transport.post(body).await;
            let (outcome, detail) = match &answer {
                Answer::Status { code, .. } if (200..300).contains(code) => {
                    Counters::add(&counters.sent, n);
                    Counters::add(&counters.batches, 1);
                    self.shared.settle(n);
                    return None;
                }
                Answer::Status { code: 413, .. } if batch.len() > 1 => {
                    tracing::debug!(
                        events = batch.len(),
                        "Batch too large for the server; splitting it."
                    );
                    return Some(batch);
                }
                Answer::Status {
                    code,
                    retry_after,
                    message,
                } => (
                    Outcome::Status {
                        code: *code,
                        retry_after: retry_after.as_deref(),
                    },
                    message.as_str(),
                ),
                Answer::Timeout(e) => (Outcome::Timeout, e.as_str()),
                Answer::Network(e) => (Outcome::Network, e.as_str()),
                Answer::Unsendable(e) => (Outcome::Unsendable, e.as_str()),
            };
            let status = match outcome {
                Outcome::Status { code, .. } => Some(code),
                _ => None,
            };
            let decision = classify(outcome, SystemTime::now());
            let elapsed = self.clock.now().saturating_duration_since(started);
            match self
                .retry
                .next(decision, attempt, elapsed, rand::random::<f64>())
            {
                Step::Wait(wait) => {
                    tracing::debug!(
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        status,
                        error = detail,
                        "Batch failed; retrying."
                    );
                    self.clock.sleep(wait).await;
                    attempt = attempt.saturating_add(1);
                }
                Step::Refused => {
                    self.refused(&batch, status, detail);
                    return None;
                }
                Step::OutOfTime => {
                    tracing::debug!(
                        attempts = attempt + 1,
                        events = batch.len(),
                        first_uuid = ?batch.first().map(|e| e.uuid),
                        status,
                        error = detail,
                        "Batch still failing at its retry deadline; dropping it."
                    );
                    self.shared.drop_settled(DropReason::RetriesExhausted, n);
                    return None;
                }
            }
        }
    }

    /// Drops a refused batch, keeping the server's reason where an operator
    /// will find it: a warning the first time, `stats().last_rejection` always.
    fn refused(&self, batch: &[Prepared], status: Option<u16>, message: &str) {
        let rejection = Rejection {
            status,
            events: batch.len(),
            message: message.to_owned(),
        };
        if self.shared.counters.rejected(rejection) {
            tracing::warn!(
                status,
                events = batch.len(),
                message,
                "Capture API refused a batch; it will not be retried."
            );
        } else {
            tracing::debug!(
                status,
                events = batch.len(),
                first_uuid = ?batch.first().map(|e| e.uuid),
                message,
                "Batch refused."
            );
        }
        self.shared
            .drop_settled(DropReason::Rejected, batch.len() as u64);
    }
}

/// Resolves once the shutdown deadline (which may move earlier) has passed.
async fn deadline_passed(mut rx: watch::Receiver<Option<Instant>>) {
    loop {
        let current = *rx.borrow_and_update();
        match current {
            Some(at) => match race(sleep_until(at.into()), rx.changed()).await {
                Either::Left(()) => return,
                Either::Right(Ok(())) => continue,
                Either::Right(Err(_)) => return sleep_until(at.into()).await,
            },
            None => {
                if rx.changed().await.is_err() {
                    // The sender lives as long as the worker; unreachable.
                    return std::future::pending().await;
                }
            }
        }
    }
}
