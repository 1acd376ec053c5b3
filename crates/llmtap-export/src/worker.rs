//! The loop on the worker thread: drain the queue, encode each event once,
//! batch, and keep up to `max_in_flight` batches being delivered at once
//! (each by a [`Courier`] future with its own retries and deadline), then
//! settle every event exactly once, in queue order. Knows nothing of any
//! destination.
//!
//! Batches are spawned on the worker's own current-thread runtime, so they
//! share its one thread: concurrency hides the destination's latency (a
//! 100 ms API caps one-at-a-time delivery at ~1,000 events/s), not CPU.
//! Batches may finish in any order; the [`Ledger`] still settles in queue
//! order, so `flush` stays "everything up to sequence N is settled". With
//! `max_in_flight(1)` delivery is in capture order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tokio::time::sleep_until;

use crate::batcher::{Batcher, Limits, Push, Weighed};
use crate::delivery::Courier;
use crate::exporter::Exporter;
use crate::ledger::{Ledger, Ticket};
use crate::queue::Queue;
use crate::settings::Settings;
use crate::stats::{Counters, DropReason, Stats};
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
    /// Accepted events delivered or dropped. Events settle in queue order
    /// (whatever order their batches finish in), so "settled >= n" means
    /// "the first n accepted events are done".
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
    /// Events counted (delivered or dropped) but not yet settled: those of
    /// batches waiting behind an earlier one, drops made while their batch
    /// was open. A shutdown that cancels the batches in flight drops the
    /// rest as `shutdown_timeout` without counting these twice.
    counted: AtomicU64,
}

impl Shared {
    pub(crate) fn new(queue_capacity: usize, queue_bytes: usize) -> Self {
        Shared {
            queue: Queue::new(queue_capacity, queue_bytes),
            counters: Counters::default(),
            progress: watch::Sender::new(Progress::default()),
            flush_target: AtomicU64::new(0),
            deadline: watch::Sender::new(None),
            counted: AtomicU64::new(0),
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

    /// `n` more events have their fate counted; they settle later, in order.
    pub(crate) fn count(&self, n: u64) {
        self.counted.fetch_add(n, Ordering::SeqCst);
    }

    /// `n` counted events settle: every event before them has.
    fn settle(&self, n: u64) {
        if n == 0 {
            return;
        }
        self.counted.fetch_sub(n, Ordering::SeqCst);
        self.progress.send_modify(|p| p.settled += n);
    }
}

pub(crate) struct Worker<E: Exporter> {
    /// What every batch in flight shares: exporter, counters, retry policy.
    courier: Arc<Courier<E>>,
    batcher: Batcher<E::Item>,
    interval: Duration,
    max_event_bytes: usize,
    max_in_flight: usize,
    /// The batches being delivered, each answering with its ticket.
    in_flight: JoinSet<Ticket>,
    ledger: Ledger,
    /// Drops made while the open batch was open: they settle with it.
    deferred: u64,
    /// Events taken from the queue so far: the next one's sequence number.
    popped: u64,
    /// Sequence number of the open batch's first event.
    open_first: u64,
}

impl<E: Exporter> Worker<E> {
    pub(crate) fn new(exporter: Arc<E>, settings: &Settings, shared: Arc<Shared>) -> Self {
        let limits = Limits {
            max_events: settings.batch_size,
            max_bytes: settings.batch_bytes,
            overhead: exporter.batch_overhead(),
        };
        Worker {
            courier: Arc::new(Courier {
                exporter,
                shared,
                retry: settings.retry(),
                clock: settings.clock.clone(),
            }),
            batcher: Batcher::new(limits),
            interval: settings.flush_interval,
            max_event_bytes: settings.max_event_bytes,
            max_in_flight: settings.max_in_flight.max(1),
            in_flight: JoinSet::new(),
            ledger: Ledger::default(),
            deferred: 0,
            popped: 0,
            open_first: 0,
        }
    }

    fn shared(&self) -> &Shared {
        &self.courier.shared
    }

    pub(crate) async fn run(mut self) {
        let shared = self.courier.shared.clone();
        let deadline = shared.deadline.subscribe();
        if let Either::Right(()) = race(self.drive(), deadline_passed(deadline)).await {
            // Cancel every batch in flight; once they are joined none can
            // count anything more. Whatever is not settled now never will be.
            shared.queue.close();
            self.in_flight.abort_all();
            while self.in_flight.join_next().await.is_some() {}
            shared.queue.clear();
            let counted = shared.counted.load(Ordering::SeqCst);
            let unsettled = shared
                .queue
                .pushed()
                .saturating_sub(shared.progress().settled)
                .saturating_sub(counted);
            shared
                .counters
                .dropped(DropReason::ShutdownTimeout, unsettled);
            shared.count(unsettled);
            shared.settle(unsettled + counted);
        }
        let stats = shared.stats();
        let name = self.courier.exporter.name();
        if stats.dropped.total() > 0 {
            tracing::warn!(
                delivered = stats.sent,
                dropped = stats.dropped.total(),
                reasons = %stats.dropped,
                exporter = name,
                "Exporter shut down with dropped events."
            );
        } else {
            tracing::info!(
                delivered = stats.sent,
                batches = stats.batches,
                exporter = name,
                "Exporter shut down; every accepted event was delivered."
            );
        }
        shared.progress.send_modify(|p| p.finished = true);
    }

    async fn drive(&mut self) {
        let shared = self.courier.shared.clone();
        let mut taken = Vec::with_capacity(POP_AT_ONCE);
        let mut last_event: Option<Instant> = None;
        loop {
            // Take events only while another batch could go out: with every
            // slot busy, traffic faster than the destination waits in the
            // queue, where its bounds and `FullPolicy` apply.
            while self.in_flight.len() < self.max_in_flight {
                shared.queue.pop_many(POP_AT_ONCE, &mut taken);
                if taken.is_empty() {
                    break;
                }
                last_event = Some(Instant::now());
                for event in taken.drain(..) {
                    self.add(event).await;
                }
            }
            if self.in_flight.len() >= self.max_in_flight {
                let joined = next_landed(&mut self.in_flight).await;
                self.landed(joined);
                continue;
            }
            let closing = shared.queue.is_closed();
            if !self.batcher.is_empty() {
                let due = self
                    .batcher
                    .due(self.interval)
                    .is_some_and(|at| at <= Instant::now());
                if closing || due || self.flush_wanted() {
                    self.send_open_batch().await;
                    continue;
                }
            } else if closing && shared.queue.len() == 0 {
                while let Some(joined) = self.in_flight.join_next().await {
                    self.landed(joined);
                }
                return;
            }
            let flowing = last_event.is_some_and(|t| t.elapsed() < IDLE_AFTER);
            let poll = Instant::now() + POLL;
            let wake_at = match self.batcher.due(self.interval) {
                Some(at) => Some(at.min(poll)),
                None if flowing => Some(poll),
                None => None,
            };
            let queue = &shared.queue;
            let idle = async {
                match wake_at {
                    Some(at) => {
                        race(queue.ready(), sleep_until(at.into())).await;
                    }
                    None => {
                        if queue.park() {
                            queue.ready().await;
                        }
                    }
                }
            };
            // A batch landing may settle what a flush waits for.
            if let Either::Right(joined) = race(idle, next_landed(&mut self.in_flight)).await {
                self.landed(joined);
            }
        }
    }

    /// A flush waits for an event in the open batch: send it now.
    fn flush_wanted(&self) -> bool {
        self.shared().flush_target.load(Ordering::SeqCst) > self.open_first
    }

    async fn add(&mut self, event: Event) {
        let seq = self.popped;
        self.popped += 1;
        let item = match self.prepare(event) {
            Ok(item) => item,
            Err(reason) => return self.drop_one(reason),
        };
        let was_empty = self.batcher.is_empty();
        match self.batcher.push(item, Instant::now()) {
            Push::Added => {
                if was_empty {
                    self.open_first = seq;
                }
            }
            // The event opened the next batch; drops so far happened while
            // the closed one was open and settle with it.
            Push::Closed(batch) => {
                self.open_first = seq;
                self.launch(batch).await;
            }
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
        self.launch(batch).await;
    }

    /// Starts delivering `batch` once fewer than `max_in_flight` batches are
    /// in flight. Waiting here stops the worker draining the queue, so a
    /// destination slower than the traffic fills the queue ([`FullPolicy`]
    /// applies) rather than the worker's memory.
    ///
    /// [`FullPolicy`]: crate::FullPolicy
    async fn launch(&mut self, batch: Vec<E::Item>) {
        while self.in_flight.len() >= self.max_in_flight {
            let joined = next_landed(&mut self.in_flight).await;
            self.landed(joined);
        }
        let covers = batch.len() as u64 + std::mem::take(&mut self.deferred);
        let ticket = self.ledger.open(covers);
        let courier = self.courier.clone();
        self.in_flight.spawn(async move {
            courier.deliver(batch).await;
            ticket
        });
    }

    /// A batch finished: every event of it is counted.
    fn landed(&mut self, joined: Result<Ticket, JoinError>) {
        match joined {
            Ok(ticket) => {
                let n = self.ledger.finish(ticket);
                self.shared().settle(n);
            }
            // An exporter that panics takes the worker down with it, as it
            // did when batches ran on the worker's own task.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only by the shutdown deadline, which accounts for it.
            Err(_) => {}
        }
    }

    fn drop_one(&mut self, reason: DropReason) {
        let shared = self.shared();
        shared.counters.dropped(reason, 1);
        shared.count(1);
        if self.batcher.is_empty() {
            let n = self.ledger.done(1);
            self.shared().settle(n);
        } else {
            self.deferred += 1;
        }
    }

    /// Encodes once, shrinking content that is over the per-event limit.
    fn prepare(&self, mut event: Event) -> Result<E::Item, DropReason> {
        let exporter = &self.courier.exporter;
        let item = exporter.encode(&event)?;
        if item.bytes() <= self.max_event_bytes {
            return Ok(item);
        }
        let before = item.bytes();
        let shrunk = event
            .fit_within(self.max_event_bytes)
            .ok()
            .and_then(|()| exporter.encode(&event).ok());
        let Some(shrunk) = shrunk else {
            tracing::debug!(uuid = %event.uuid, bytes = before, "Event over the size limit even without content.");
            return Err(DropReason::Oversized);
        };
        Counters::add(&self.shared().counters.truncated, 1);
        Ok(shrunk)
    }
}

/// The next batch to finish; never, while none is in flight.
async fn next_landed(in_flight: &mut JoinSet<Ticket>) -> Result<Ticket, JoinError> {
    match in_flight.join_next().await {
        Some(joined) => joined,
        None => std::future::pending().await,
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
