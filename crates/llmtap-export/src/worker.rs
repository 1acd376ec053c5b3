//! The loop on the worker thread: drain the queue, encode each event once,
//! batch, hand each batch to the [`Exporter`], apply its per-event answer
//! (retry with backoff under the deadline, halve on `Split`, count drops),
//! and settle every event exactly once. Knows nothing of any destination.
//!
//! One batch is in flight at a time. That keeps delivery in capture order,
//! makes `flush` a simple "everything up to sequence N is settled", and is
//! plenty for a sidecar's volume (hundreds of events per request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::time::sleep_until;

use crate::batcher::{Batcher, Limits, Push, Weighed};
use crate::clock::Clock;
use crate::exporter::{Answer, Exporter, Outcome, Outcomes};
use crate::queue::Queue;
use crate::retry::{Decision, RetryPolicy, Step};
use crate::settings::Settings;
use crate::stats::{Counters, DropCounts, DropReason, Rejection, Stats};
use crate::wait::{race, Either};
use llmtap::Event;

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
    pub(crate) fn new(queue_capacity: usize, queue_bytes: usize) -> Self {
        Shared {
            queue: Queue::new(queue_capacity, queue_bytes),
            counters: Counters::default(),
            progress: watch::Sender::new(Progress::default()),
            flush_target: AtomicU64::new(0),
            deadline: watch::Sender::new(None),
        }
    }

    pub(crate) fn progress(&self) -> Progress {
        *self.progress.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Asks the worker to send everything accepted so far; returns the
    /// sequence number to wait for.
    pub(crate) fn request_flush(&self) -> u64 {
        let target = self.queue.pushed();
        self.flush_target.fetch_max(target, Ordering::SeqCst);
        self.queue.wake();
        target
    }

    /// Closes the queue and sets (or brings forward) the worker's deadline.
    pub(crate) fn begin_shutdown(&self, deadline: Instant) {
        self.deadline.send_if_modified(|current| match current {
            Some(at) if *at <= deadline => false,
            _ => {
                *current = Some(deadline);
                true
            }
        });
        self.queue.close();
    }

    pub(crate) fn stats(&self) -> Stats {
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

pub(crate) struct Worker<E: Exporter> {
    exporter: Arc<E>,
    shared: Arc<Shared>,
    batcher: Batcher<E::Item>,
    interval: std::time::Duration,
    max_event_bytes: usize,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    /// Events counted (delivered or dropped) but not yet settled: drops made
    /// while earlier events were still in the open batch, and the events of
    /// the batch being delivered. They settle with that batch, so that
    /// "settled >= n" keeps meaning "the first n events are done", and a
    /// shutdown that cancels the send does not count them twice.
    deferred: u64,
}

impl<E: Exporter> Worker<E> {
    pub(crate) fn new(exporter: Arc<E>, settings: &Settings, shared: Arc<Shared>) -> Self {
        let limits = Limits {
            max_events: settings.batch_size,
            max_bytes: settings.batch_bytes,
            overhead: exporter.batch_overhead(),
        };
        Worker {
            exporter,
            shared,
            batcher: Batcher::new(limits),
            interval: settings.flush_interval,
            max_event_bytes: settings.max_event_bytes,
            retry: settings.retry(),
            clock: settings.clock.clone(),
            deferred: 0,
        }
    }

    pub(crate) async fn run(mut self) {
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
                exporter = self.exporter.name(),
                "Exporter shut down with dropped events."
            );
        } else {
            tracing::info!(
                delivered = stats.sent,
                batches = stats.batches,
                exporter = self.exporter.name(),
                "Exporter shut down; every accepted event was delivered."
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
        let item = match self.prepare(event) {
            Ok(item) => item,
            Err(reason) => return self.drop_one(reason),
        };
        match self.batcher.push(item, Instant::now()) {
            Push::Added => {}
            // Drops so far happened while this batch was open: `deliver`
            // settles them with it.
            Push::Closed(batch) => self.deliver(batch).await,
            // Unreachable with checked settings (batch_bytes holds one
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

    /// Encodes once, shrinking content that is over the per-event limit.
    fn prepare(&self, mut event: Event) -> Result<E::Item, DropReason> {
        let item = self.exporter.encode(&event)?;
        if item.bytes() <= self.max_event_bytes {
            return Ok(item);
        }
        let before = item.bytes();
        let shrunk = event
            .fit_within(self.max_event_bytes)
            .ok()
            .and_then(|()| self.exporter.encode(&event).ok());
        let Some(shrunk) = shrunk else {
            tracing::debug!(uuid = %event.uuid, bytes = before, "Event over the size limit even without content.");
            return Err(DropReason::Oversized);
        };
        Counters::add(&self.shared.counters.truncated, 1);
        Ok(shrunk)
    }

    /// Sends a batch until each of its events is delivered or dropped, then
    /// settles them together with the `deferred` drops that sat between
    /// them. Events the destination finds too large together (`Split`) are
    /// halved and each half sent in turn, so one oversized request does not
    /// cost the events that would fit.
    async fn deliver(&mut self, batch: Vec<E::Item>) {
        let mut stack = vec![batch];
        while let Some(batch) = stack.pop() {
            let mut first = self.send(batch).await;
            if !first.is_empty() {
                let second = first.split_off(first.len() / 2);
                stack.push(second);
                stack.push(first);
            }
        }
        self.shared.settle(std::mem::take(&mut self.deferred));
    }

    /// One batch, retried until none of its events asks for a retry. Counts
    /// every event it settles the fate of (into `deferred`); returns the
    /// events answered `Split`, to be halved, when there are two or more.
    async fn send(&mut self, mut batch: Vec<E::Item>) -> Vec<E::Item> {
        let mut too_large = Vec::new();
        // Status and message of the answer that last said `Split`.
        let mut split_by: (Option<u16>, String) = (None, String::new());
        let started = self.clock.now();
        let mut attempt: u32 = 0;
        loop {
            let counters = &self.shared.counters;
            Counters::add(&counters.requests, 1);
            if attempt > 0 {
                Counters::add(&counters.retries, 1);
            }
            let answer = self.exporter.export(&batch).await;
            let counters = &self.shared.counters;
            Counters::add(&counters.bytes_json, answer.bytes_encoded);
            Counters::add(&counters.bytes_sent, answer.bytes_sent);
            let splits = too_large.len();
            let (again, floor) = self.apply(batch, &answer, &mut too_large);
            if too_large.len() > splits {
                split_by = (answer.status, answer.detail.clone());
            }
            batch = again;
            if batch.is_empty() {
                break;
            }
            let decision = match floor {
                Some(wait) => Decision::Throttled(wait),
                None => Decision::Retry,
            };
            let elapsed = self.clock.now().saturating_duration_since(started);
            match self
                .retry
                .next(decision, attempt, elapsed, rand::random::<f64>())
            {
                Step::Wait(wait) => {
                    tracing::debug!(
                        exporter = self.exporter.name(),
                        attempt,
                        events = batch.len(),
                        wait_ms = wait.as_millis() as u64,
                        status = answer.status,
                        error = answer.detail.as_str(),
                        "Batch failed; retrying."
                    );
                    self.clock.sleep(wait).await;
                    attempt = attempt.saturating_add(1);
                }
                // Not produced for a transient decision; if it ever were,
                // dropping beats retrying without a bound.
                Step::Refused => {
                    let n = batch.len();
                    self.refused(n, answer.status, &answer.detail, DropReason::Rejected);
                    break;
                }
                Step::OutOfTime => {
                    tracing::debug!(
                        exporter = self.exporter.name(),
                        attempts = attempt + 1,
                        events = batch.len(),
                        status = answer.status,
                        error = answer.detail.as_str(),
                        "Batch still failing at its retry deadline; dropping it."
                    );
                    self.count_dropped(DropReason::RetriesExhausted, batch.len());
                    break;
                }
            }
        }
        if too_large.len() == 1 {
            // Too large even alone: splitting cannot help.
            let (status, message) = split_by;
            self.refused(1, status, &message, DropReason::Rejected);
            too_large.clear();
        }
        too_large
    }

    /// Counts what `answer` settled and moves `Split` events to `too_large`;
    /// returns the events to send again and the longest wait any of them
    /// asked for.
    fn apply(
        &mut self,
        batch: Vec<E::Item>,
        answer: &Answer,
        too_large: &mut Vec<E::Item>,
    ) -> (Vec<E::Item>, Option<Duration>) {
        let n = batch.len();
        // The usual answer, one outcome for all: no partitioning.
        if let Outcomes::All(outcome) = answer.outcomes {
            match outcome {
                Outcome::Delivered => self.delivered(n),
                Outcome::Split => too_large.extend(batch),
                Outcome::Dropped(reason) => {
                    self.refused(n, answer.status, &answer.detail, reason);
                }
                Outcome::RetryAfter(floor) => return (batch, floor),
            }
            return (Vec::new(), None);
        }
        let mut again = Vec::new();
        let mut floor: Option<Duration> = None;
        let mut delivered = 0;
        let mut dropped = DropCounts::default();
        for (i, item) in batch.into_iter().enumerate() {
            match answer.outcome(i) {
                Outcome::Delivered => delivered += 1,
                Outcome::Split => too_large.push(item),
                Outcome::Dropped(reason) => dropped.add(reason, 1),
                Outcome::RetryAfter(wait) => {
                    floor = floor.max(wait);
                    again.push(item);
                }
            }
        }
        self.delivered(delivered);
        for (reason, count) in dropped.iter() {
            self.refused(count as usize, answer.status, &answer.detail, reason);
        }
        (again, floor)
    }

    fn delivered(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let counters = &self.shared.counters;
        Counters::add(&counters.sent, n as u64);
        Counters::add(&counters.batches, 1);
        self.deferred += n as u64;
    }

    fn count_dropped(&mut self, reason: DropReason, n: usize) {
        self.shared.counters.dropped(reason, n as u64);
        self.deferred += n as u64;
    }

    /// Drops `events` the destination refused, keeping its reason where an
    /// operator will find it: a warning the first time, `stats().last_rejection`
    /// always.
    fn refused(&mut self, events: usize, status: Option<u16>, message: &str, reason: DropReason) {
        let rejection = Rejection {
            status,
            events,
            message: message.to_owned(),
        };
        if self.shared.counters.rejected(rejection) {
            tracing::warn!(
                exporter = self.exporter.name(),
                status,
                events,
                reason = reason.as_str(),
                message,
                "Destination refused a batch; it will not be retried."
            );
        } else {
            tracing::debug!(
                exporter = self.exporter.name(),
                status,
                events,
                reason = reason.as_str(),
                message,
                "Batch refused."
            );
        }
        self.count_dropped(reason, events);
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
