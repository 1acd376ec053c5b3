//! The forwarder: from the spool to the client in key order, and back to
//! the spool to remove what the client settled.
//!
//! It is the client's only producer, so the n-th event it captures is the
//! client's n-th accepted event, and [`ExportClient::settled`] (a count in
//! capture order) says exactly which keys are done. Its window of captured,
//! unsettled events never exceeds the client's queue bounds, so the queue
//! always has room and nothing is dropped as `queue_full`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use llmtap::{DropReason, Event, SinkError};

use super::store::Store;
use crate::client::ExportClient;
use crate::exporter::Exporter;

/// While events are in flight the forwarder looks for settled ones this
/// often (the worker's own poll), rather than being woken per batch.
pub(crate) const POLL: Duration = Duration::from_millis(5);
/// After a spool error, the wait before trying again.
const BACKOFF: Duration = Duration::from_millis(500);
/// A safety net: the window keeps the queue from filling, so a capture
/// should never wait at all.
pub(crate) const QUEUE_WAIT: Duration = Duration::from_secs(1);
/// Records read from the spool per transaction.
const READ_AT_ONCE: usize = 512;

/// The most the forwarder has captured and not yet seen settled: the
/// client's queue bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) events: usize,
    pub(crate) bytes: usize,
}

/// How the sink talks to its forwarder: new records, stop.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    state: Mutex<SignalState>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct SignalState {
    /// Records were appended since the forwarder last looked.
    appended: bool,
    /// Take nothing more from the spool; keep removing what settles.
    no_feed: bool,
    /// Remove what settled, then exit.
    stop: bool,
}

impl Signal {
    pub(crate) fn appended(&self) {
        self.update(|s| s.appended = true);
    }

    pub(crate) fn stop_feeding(&self) {
        self.update(|s| s.no_feed = true);
    }

    pub(crate) fn stop(&self) {
        self.update(|s| {
            s.no_feed = true;
            s.stop = true;
        });
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.lock().no_feed
    }

    fn update(&self, f: impl FnOnce(&mut SignalState)) {
        f(&mut self.lock());
        self.wake.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SignalState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for an append or a stop, at most `timeout` (forever with
    /// `None`); returns the state seen, clearing `appended`.
    fn wait(&self, timeout: Option<Duration>) -> (bool, bool) {
        let mut state = self.lock();
        if !state.appended && !state.stop {
            state = match timeout {
                Some(t) => {
                    self.wake
                        .wait_timeout(state, t)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
        let seen = (state.no_feed, state.stop);
        state.appended = false;
        seen
    }
}

pub(crate) struct Forwarder<E: Exporter> {
    store: Arc<Store>,
    client: Arc<ExportClient<E>>,
    signal: Arc<Signal>,
    limit: Window,
    /// Captured, not yet settled: (key, approximate bytes), in capture order.
    window: VecDeque<(u64, usize)>,
    window_bytes: usize,
    /// Captured events the window no longer holds (removed from the spool).
    released: u64,
    /// The last key read from the spool.
    cursor: Option<u64>,
    unreadable: Arc<AtomicU64>,
}

impl<E: Exporter> Forwarder<E> {
    pub(crate) fn new(
        store: Arc<Store>,
        client: Arc<ExportClient<E>>,
        signal: Arc<Signal>,
        limit: Window,
        unreadable: Arc<AtomicU64>,
    ) -> Self {
        Forwarder {
            store,
            client,
            signal,
            limit,
            window: VecDeque::new(),
            window_bytes: 0,
            released: 0,
            cursor: None,
            unreadable,
        }
    }

    pub(crate) fn run(mut self) {
        let mut feeding = true;
        loop {
            let mut trouble = self.release().is_err();
            let mut more = false;
            if feeding {
                match self.feed() {
                    Ok(m) => more = m,
                    Err(()) => trouble = true,
                }
            }
            // Poll while anything is in flight (settling is not signalled);
            // sleep until the next append otherwise.
            let timeout = match (trouble, more || !self.window.is_empty()) {
                (true, _) => Some(BACKOFF),
                (false, true) => Some(POLL),
                (false, false) => None,
            };
            let (no_feed, stop) = self.signal.wait(timeout);
            feeding = !no_feed;
            if stop {
                let _ = self.release();
                return;
            }
        }
    }

    /// Removes from the spool every key whose event the client settled.
    fn release(&mut self) -> Result<(), ()> {
        let settled = self.client.settled();
        let done = settled.saturating_sub(self.released) as usize;
        if done == 0 {
            return Ok(());
        }
        let done = done.min(self.window.len());
        let keys: Vec<u64> = self.window.iter().take(done).map(|&(k, _)| k).collect();
        if let Err(e) = self.store.remove(&keys) {
            tracing::warn!(error = %e, "Cannot remove delivered events from the spool; retrying.");
            return Err(());
        }
        for (_, bytes) in self.window.drain(..done) {
            self.window_bytes -= bytes;
        }
        self.released += done as u64;
        Ok(())
    }

    /// Captures records after the cursor while the window has room; returns
    /// whether more may be waiting.
    fn feed(&mut self) -> Result<bool, ()> {
        loop {
            let room = self.limit.events.saturating_sub(self.window.len());
            let room_bytes = self.limit.bytes.saturating_sub(self.window_bytes);
            if room == 0 || room_bytes == 0 {
                return Ok(true);
            }
            let records =
                match self
                    .store
                    .read_after(self.cursor, room.min(READ_AT_ONCE), room_bytes)
                {
                    Ok(records) => records,
                    Err(e) => {
                        tracing::warn!(error = %e, "Cannot read the spool; retrying.");
                        return Err(());
                    }
                };
            if records.is_empty() {
                return Ok(false);
            }
            let mut poison = Vec::new();
            let mut window_full = false;
            for (key, bytes) in records {
                let event: Event = match serde_json::from_slice(&bytes) {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::warn!(key, error = %e, "Spooled record does not decode; removing it.");
                        self.unreadable.fetch_add(1, Ordering::Relaxed);
                        poison.push(key);
                        self.cursor = Some(key);
                        continue;
                    }
                };
                let size = event.approx_json_len();
                if !self.window.is_empty() && self.window_bytes + size > self.limit.bytes {
                    // Read again once the window drains.
                    window_full = true;
                    break;
                }
                match self.client.capture(event) {
                    Ok(()) => {
                        self.window.push_back((key, size));
                        self.window_bytes += size;
                    }
                    // Refused for good before queueing (the client counted
                    // it): nothing will settle it, so remove it now.
                    Err(SinkError::Dropped {
                        reason: DropReason::Invalid,
                        ..
                    }) => poison.push(key),
                    // Unreachable while the window bounds the queue; the
                    // record stays on disk and is read again.
                    Err(e) => {
                        tracing::debug!(key, error = %e, "Client refused a spooled event; will retry.");
                        self.flush_poison(&poison)?;
                        return Ok(true);
                    }
                }
                self.cursor = Some(key);
            }
            self.flush_poison(&poison)?;
            if window_full {
                return Ok(true);
            }
        }
    }

    fn flush_poison(&self, keys: &[u64]) -> Result<(), ()> {
        self.store.remove(keys).map_err(|e| {
            tracing::warn!(error = %e, "Cannot remove refused events from the spool.");
        })
    }
}
