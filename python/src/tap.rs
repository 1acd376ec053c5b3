//! The per-process core of a client: a bounded channel from the caller to a
//! pipeline thread, which feeds the exporter.
//!
//! ```text
//! caller (GIL held)        llmtap-pipeline thread            llmtap-export workers
//! walk dict ─► bytes ─►    parse ─► normalize ─► observe ─►  one per destination:
//! try_send, return         event ─► drop repeats ─► capture  batch, send, retry
//! ```
//!
//! The caller pays for turning the payload into bytes and one channel send;
//! everything else runs on threads that never take the GIL. Each event, its
//! repeats dropped once here, goes to every destination ([`Destinations`]). The channel is
//! bounded by count and bytes: when full, the payload is dropped and counted
//! (`queue_full`), and the caller never waits.
//!
//! A `Tap` belongs to the process that started it. After a `fork` its
//! threads do not exist in the child, so the client notices the new pid,
//! forgets the inherited tap without touching it (its locks may be held by
//! threads that are gone) and starts a fresh one on the next capture.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use llmtap::{DropCounts, DropReason, Event, HeaderProperties, Pipeline, DEFAULT_PREFIX_CAPACITY};
use llmtap_export::RecentUuids;

use crate::destinations::Destinations;
use crate::settings::{Recipe, Settings};

/// What the caller hands the pipeline thread.
enum Job {
    /// A standard logging payload as JSON, with the caller's headers.
    Payload {
        json: Vec<u8>,
        headers: Option<HeaderProperties>,
    },
    /// An event built elsewhere (`Client.capture`).
    Event(Box<Event>),
    /// Answered once every job sent before it is processed.
    Barrier(mpsc::Sender<()>),
}

impl Job {
    fn bytes(&self) -> usize {
        match self {
            Job::Payload { json, .. } => json.len(),
            Job::Event(e) => e.approx_json_len(),
            Job::Barrier(_) => 0,
        }
    }
}

/// Counts kept before the exporter: what the caller handed over and what
/// never reached the exporter.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Payloads and events taken by `log` / `capture`.
    pub(crate) accepted: AtomicU64,
    /// Taken, not yet handed to the exporter.
    pub(crate) queued: AtomicU64,
    queued_bytes: AtomicUsize,
    /// Refused: the channel was full.
    pub(crate) queue_full: AtomicU64,
    /// Refused: the client was shut down.
    pub(crate) closed: AtomicU64,
    /// Not a standard logging payload (or not turned into JSON).
    pub(crate) malformed: AtomicU64,
    /// A second copy of an event already passed on (same uuid).
    pub(crate) duplicates: AtomicU64,
    /// Cache alert events raised (each also goes to the exporter).
    pub(crate) alerts: AtomicU64,
    /// Why the last malformed payload was skipped.
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn malformed(&self, why: String) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(why);
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// One process's channel, pipeline thread and destinations.
pub(crate) struct Tap {
    pid: u32,
    jobs: Mutex<Option<SyncSender<Job>>>,
    queue_bytes: usize,
    /// How long the interpreter-exit shutdown may take.
    pub(crate) shutdown_timeout: Duration,
    pub(crate) counters: Arc<Counters>,
    pub(crate) destinations: Arc<Destinations>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Tap {
    /// Starts the destinations' exporters and the pipeline thread.
    pub(crate) fn start(
        settings: &Settings,
        recipe: &Recipe,
        counters: Arc<Counters>,
    ) -> Result<Tap, String> {
        let prefixes = NonZeroUsize::new(DEFAULT_PREFIX_CAPACITY).unwrap_or(NonZeroUsize::MIN);
        let pipeline = recipe.pipeline(prefixes);
        let destinations = Arc::new(Destinations::start(settings)?);
        let (jobs, rx) = mpsc::sync_channel(settings.queue_capacity.max(1));
        let thread = {
            let (destinations, counters) = (destinations.clone(), counters.clone());
            let recent = RecentUuids::new(settings.dedup_window);
            std::thread::Builder::new()
                .name("llmtap-pipeline".into())
                .spawn(move || run(rx, pipeline, &destinations, &counters, recent))
                .map_err(|e| format!("cannot start the pipeline thread: {e}"))?
        };
        Ok(Tap {
            pid: std::process::id(),
            jobs: Mutex::new(Some(jobs)),
            queue_bytes: settings.queue_bytes,
            shutdown_timeout: Duration::from_secs(settings.shutdown_timeout_secs),
            counters,
            destinations,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Whether this process started it (false in a forked child).
    pub(crate) fn is_ours(&self) -> bool {
        self.pid == std::process::id()
    }

    /// Hands a payload or event over without waiting; false when it was
    /// dropped (and counted).
    fn send(&self, job: Job) -> bool {
        let c = &self.counters;
        c.accepted.fetch_add(1, Ordering::Relaxed);
        let bytes = job.bytes();
        if c.queued_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes > self.queue_bytes {
            c.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            c.queue_full.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        c.queued.fetch_add(1, Ordering::Relaxed);
        let sent = match &*self.jobs.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(jobs) => jobs.try_send(job).map_err(|e| match e {
                TrySendError::Full(_) => &c.queue_full,
                TrySendError::Disconnected(_) => &c.closed,
            }),
            None => Err(&c.closed),
        };
        match sent {
            Ok(()) => true,
            Err(counter) => {
                counter.fetch_add(1, Ordering::Relaxed);
                c.queued.fetch_sub(1, Ordering::Relaxed);
                c.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                false
            }
        }
    }

    pub(crate) fn log(&self, json: Vec<u8>, headers: Option<HeaderProperties>) -> bool {
        self.send(Job::Payload { json, headers })
    }

    pub(crate) fn capture(&self, event: Event) -> bool {
        self.send(Job::Event(Box::new(event)))
    }

    /// Waits until everything handed over so far reached the exporters,
    /// then until every destination delivered it (or dropped it), at most
    /// `timeout`. False when time ran out.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if !self.barrier(deadline) {
            return false;
        }
        self.destinations.flush(deadline)
    }

    /// Refuses new payloads, processes those queued, and shuts the
    /// destinations down, at most `timeout` in all. Idempotent. False when time ran out.
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // Dropping the sender ends the thread's loop once the queue is empty.
        drop(
            self.jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut drained = true;
        if let Some(thread) = thread {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            drained = thread.is_finished();
            if drained {
                let _ = thread.join();
            }
        }
        let delivered = self.destinations.shutdown(deadline);
        drained && delivered
    }

    /// Sends a barrier through the channel and waits for it.
    fn barrier(&self, deadline: Instant) -> bool {
        let (done, wait) = mpsc::channel();
        let mut job = Job::Barrier(done);
        loop {
            let jobs = self
                .jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let Some(jobs) = jobs else {
                return true; // shut down: nothing more will arrive
            };
            match jobs.try_send(job) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return true,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    job = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Full(_)) => return false,
            }
        }
        wait.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

/// The pipeline thread: one payload at a time, in arrival order, so the
/// per-prefix cache state judges each call against the calls before it.
fn run(
    jobs: Receiver<Job>,
    pipeline: Pipeline,
    destinations: &Destinations,
    counters: &Counters,
    mut recent: RecentUuids,
) {
    let none = HeaderProperties::default();
    for job in jobs {
        let bytes = job.bytes();
        match job {
            Job::Payload { json, headers } => {
                match pipeline.process_slice(&json, headers.as_ref().unwrap_or(&none)) {
                    Ok(processed) => {
                        if forward(destinations, counters, &mut recent, processed.event) {
                            for alert in &processed.alerts {
                                counters.alerts.fetch_add(1, Ordering::Relaxed);
                                destinations.capture(alert.to_event());
                            }
                        }
                    }
                    Err(e) => counters.malformed(e.to_string()),
                }
            }
            Job::Event(event) => {
                forward(destinations, counters, &mut recent, *event);
            }
            Job::Barrier(done) => {
                let _ = done.send(());
                continue;
            }
        }
        // Only now: until the exporter has it, the event is pending here.
        counters.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
        counters.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Hands a first copy to the destinations (whose drops they count
/// themselves); a repeat is counted and dropped. True for a first copy.
fn forward(
    destinations: &Destinations,
    counters: &Counters,
    recent: &mut RecentUuids,
    event: Event,
) -> bool {
    if !recent.insert(event.uuid) {
        counters.duplicates.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    destinations.capture(event);
    true
}

/// Drop counts by reason: the channel's and the exporter's.
pub(crate) fn dropped(exporter: &DropCounts, counters: &Counters) -> Vec<(&'static str, u64)> {
    let mut out: Vec<(&'static str, u64)> = DropReason::ALL
        .iter()
        .map(|&reason| {
            let own = match reason {
                DropReason::QueueFull => counters.queue_full.load(Ordering::Relaxed),
                DropReason::Closed => counters.closed.load(Ordering::Relaxed),
                _ => 0,
            };
            (reason.as_str(), own + exporter.get(reason))
        })
        .collect();
    out.push(("malformed", counters.malformed.load(Ordering::Relaxed)));
    out
}
