//! A disk spool in front of an exporter: what a receiver acknowledged
//! survives a crash.
//!
//! ```text
//! capture_all ─► serialize ─► one fsynced transaction (store) ─► Ok
//!                                      │
//!        forwarder thread: read in key order ─► ExportClient (queue, batches,
//!        retries forever) ─► settled in capture order ─► remove those keys
//! ```
//!
//! [`Spooled::capture_all`](llmtap::Sink::capture_all) returns only once the
//! events are on disk, so a receiver may acknowledge them; a forwarder thread
//! feeds them to an ordinary [`ExportClient`] and removes each key once the
//! client settled its event (delivered, or refused for good). The client is
//! built here so that it retries transient failures without a deadline:
//! with a spool, an outage is waited out, not counted as a loss.
//!
//! A crash at any moment loses nothing acknowledged: an event is removed
//! only after its destination answered, so at worst the events of the last
//! removal not yet committed are sent again after a restart, with their
//! stable `uuid`s. Events are stored as built, so a restart with other
//! options re-sends them unchanged.

mod forward;
mod store;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llmtap::{Delivery, DropCounts, DropReason, Event, Sink, SinkError};
use thiserror::Error;

use crate::client::ExportClient;
use crate::error::ConfigError;
use crate::exporter::Exporter;
use crate::settings::{FullPolicy, Settings};
use forward::{Forwarder, Signal};
use store::{Refusal, Store};

/// Default bound of a spool: bytes of event JSON held (the file itself is
/// larger, by redb's pages and free space).
pub const DEFAULT_SPOOL_BYTES: u64 = 1024 * 1024 * 1024;

/// How long shutdown waits for batches already in flight, so that what the
/// destination took is removed rather than sent again after a restart.
/// Everything else stays on disk: with a spool, stopping early loses nothing.
pub const SPOOL_SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// Where a spool lives and how much it may hold.
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    dir: PathBuf,
    max_bytes: u64,
}

impl SpoolSettings {
    /// A spool in `dir` (created when missing), bounded by
    /// [`DEFAULT_SPOOL_BYTES`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolSettings {
            dir: dir.into(),
            max_bytes: DEFAULT_SPOOL_BYTES,
        }
    }

    /// Bytes of event JSON the spool may hold; a request that would go over
    /// is refused whole ([`DropReason::QueueFull`], nothing written).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }
}

/// Why a spool could not start or write.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// The exporter's settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The spool file could not be opened (or another process holds it).
    #[error("cannot open the spool {}: {message}", path.display())]
    Open {
        /// The spool file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Reading or writing the spool failed.
    #[error("spool {} failed: {message}", path.display())]
    Io {
        /// The spool file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// An [`ExportClient`] behind a disk spool: a [`Sink`] whose `capture_all`
/// returns once the events are durable.
///
/// Built by [`Spooled::start`], or for PostHog by
/// [`CaptureBuilder::build_spooled`](crate::CaptureBuilder::build_spooled).
pub struct Spooled<E: Exporter> {
    store: Arc<Store>,
    client: Arc<ExportClient<E>>,
    signal: Arc<Signal>,
    forwarder: Mutex<Option<JoinHandle<()>>>,
    /// Events held when the spool was opened (left by an earlier run).
    recovered: u64,
    appended: AtomicU64,
    /// Records that no longer decode, removed and counted as `invalid`.
    unreadable: Arc<AtomicU64>,
}

impl<E: Exporter> Spooled<E> {
    /// Opens the spool and starts delivering what it holds at once, in the
    /// background. `settings` are the client's, except that transient
    /// failures are retried without a deadline and the forwarder waits for
    /// queue room instead of dropping.
    pub fn start(
        exporter: E,
        settings: Settings,
        spool: SpoolSettings,
    ) -> Result<Self, SpoolError> {
        let window = forward::Window {
            events: settings.queue_capacity,
            bytes: settings.queue_bytes,
        };
        let settings = settings
            .retry_deadline(Duration::MAX)
            .when_full(FullPolicy::Block(forward::QUEUE_WAIT));
        let store = Arc::new(Store::open(&spool.dir, spool.max_bytes)?);
        let client = Arc::new(ExportClient::start(exporter, settings)?);
        let signal = Arc::new(Signal::default());
        let unreadable = Arc::new(AtomicU64::new(0));
        let recovered = store.events();
        if recovered > 0 {
            tracing::info!(
                events = recovered,
                bytes = store.bytes(),
                "Spool holds events from an earlier run; delivering them."
            );
        }
        let forwarder = Forwarder::new(
            store.clone(),
            client.clone(),
            signal.clone(),
            window,
            unreadable.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("llmtap-spool".into())
            .spawn(move || forwarder.run())
            .map_err(ConfigError::Worker)?;
        Ok(Spooled {
            store,
            client,
            signal,
            forwarder: Mutex::new(Some(thread)),
            recovered,
            appended: AtomicU64::new(0),
            unreadable,
        })
    }

    /// Events on disk now, delivered or not.
    pub fn spooled(&self) -> u64 {
        self.store.events()
    }

    /// The client behind the spool, for its counters.
    pub fn client(&self) -> &ExportClient<E> {
        &self.client
    }

    /// Stops the forwarder (once): it removes what is settled, then exits.
    fn stop_forwarder(&self) {
        self.signal.stop();
        let thread = self
            .forwarder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// What the spool lost for good: the client's refusals, not its
    /// shutdown drops, whose events stay on disk.
    fn dropped(&self) -> DropCounts {
        let stats = self.client.stats();
        let mut kept = DropCounts::default();
        kept.add(
            DropReason::ShutdownTimeout,
            stats.dropped.get(DropReason::ShutdownTimeout),
        );
        let mut dropped = stats.dropped.since(&kept);
        dropped.add(DropReason::Invalid, self.unreadable.load(Ordering::Relaxed));
        dropped
    }
}

impl<E: Exporter + std::fmt::Debug> std::fmt::Debug for Spooled<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spooled")
            .field("spooled", &self.store.events())
            .field("bytes", &self.store.bytes())
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<E: Exporter> Sink for Spooled<E> {
    fn capture(&self, event: Event) -> Result<(), SinkError> {
        self.capture_all(vec![event]).map(|_| ())
    }

    /// On disk when this returns `Ok`, all or none; waits for the fsync.
    /// A spool over its bound refuses the whole request as `queue_full`
    /// without counting it (the caller answers "retry"); one stopping
    /// refuses as `closed`.
    fn capture_all(&self, events: Vec<Event>) -> Result<usize, SinkError> {
        let n = events.len();
        if self.signal.is_stopped() {
            return Err(SinkError::Dropped {
                count: n as u64,
                reason: DropReason::Closed,
            });
        }
        let records: Vec<Vec<u8>> = events
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<_, _>>()
            .map_err(|e| SinkError::Io(std::io::Error::other(e)))?;
        match self.store.append(&records) {
            Ok(()) => {
                self.appended.fetch_add(n as u64, Ordering::Relaxed);
                self.signal.appended();
                Ok(n)
            }
            Err(Refusal::Full { held, limit }) => {
                tracing::debug!(held, limit, events = n, "Spool full; request refused.");
                Err(SinkError::Dropped {
                    count: n as u64,
                    reason: DropReason::QueueFull,
                })
            }
            Err(Refusal::Failed(e)) => Err(SinkError::Io(std::io::Error::other(e))),
        }
    }

    /// `accepted`: held at start plus appended since; `pending`: on disk.
    fn delivery(&self) -> Delivery {
        let mut d = Delivery::immediate(self.client.stats().sent);
        d.accepted = self.recovered + self.appended.load(Ordering::Relaxed);
        d.dropped = self.dropped();
        d.pending = self.store.events();
        d
    }

    /// Waits until the spool is empty, or `timeout`.
    async fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
        let deadline = Instant::now() + timeout;
        while self.store.events() > 0 {
            if Instant::now() >= deadline {
                return Err(SinkError::Timeout {
                    pending: self.store.events(),
                });
            }
            self.signal.appended();
            tokio::time::sleep(forward::POLL).await;
        }
        Ok(())
    }

    /// Refuses new events, waits (at most [`SPOOL_SHUTDOWN_WAIT`] and
    /// `timeout`) for what is in flight, removes what was delivered and
    /// stops. Whatever is undelivered stays on disk for the next start, so
    /// this is `Ok` unless events were refused for good.
    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        self.signal.stop_feeding();
        let wait = timeout.min(SPOOL_SHUTDOWN_WAIT);
        let _ = self.client.flush(wait).await;
        self.stop_forwarder();
        // The forwarder is gone: nothing the client drops now is removed.
        let _ = self.client.shutdown(Duration::from_millis(100)).await;
        let dropped = self.dropped();
        tracing::info!(
            spooled = self.store.events(),
            delivered = self.client.stats().sent,
            "Spool closed; undelivered events stay on disk for the next start."
        );
        match dropped.iter().max_by_key(|&(_, n)| n) {
            Some((reason, _)) => Err(SinkError::Dropped {
                count: dropped.total(),
                reason,
            }),
            None => Ok(()),
        }
    }
}

impl<E: Exporter> Drop for Spooled<E> {
    fn drop(&mut self) {
        self.stop_forwarder();
    }
}
