//! Where a tap's events go: PostHog, PostgreSQL, or both, each an
//! [`ExportClient`] with its own queue, batches, retries and counts, fed
//! from the one pipeline thread.
//!
//! ```text
//! pipeline thread ─► capture ─► FanOut ─┬─► CaptureClient  (llmtap-posthog thread)
//!                                       └─► PostgresClient (llmtap-postgres thread)
//! ```
//!
//! With one destination the pipeline feeds its client directly; with two,
//! [`FanOut`] gives each its own copy, so a queue full at one does not keep
//! the event from the other. Flush and shutdown ask every destination first
//! and then wait for each under the one deadline, so a destination that is
//! down does not eat the time the other needs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use llmtap::{Delivery, Event, Sink};
use llmtap_export::{DeliveryReport, ExportClient, Exporter, FanOut, Stats};

use crate::settings::{Settings, POSTGRES, POSTHOG};

/// One destination's client, whatever its exporter: a flush or a shutdown
/// is asked first and waited for after, so several run at once (as
/// [`FanOut`]'s do) with the blocking calls this thread has.
trait Destination: Send + Sync {
    fn stats(&self) -> Stats;
    /// Starts a flush, or a shutdown that refuses new events, without
    /// waiting for it (both begin when called, not when polled).
    fn ask(&self, timeout: Duration, shutdown: bool);
    /// Waits for what [`Destination::ask`] started.
    fn wait(&self, timeout: Duration, shutdown: bool) -> DeliveryReport;
}

impl<E: Exporter> Destination for ExportClient<E> {
    fn stats(&self) -> Stats {
        ExportClient::stats(self)
    }
    fn ask(&self, timeout: Duration, shutdown: bool) {
        match shutdown {
            true => drop(ExportClient::shutdown(self, timeout)),
            false => drop(ExportClient::flush(self, timeout)),
        }
    }
    fn wait(&self, timeout: Duration, shutdown: bool) -> DeliveryReport {
        match shutdown {
            true => self.shutdown_blocking(timeout),
            false => self.flush_blocking(timeout),
        }
    }
}

/// The running destinations of one tap.
pub(crate) struct Destinations {
    /// What the pipeline captures into: the one client, or a [`FanOut`].
    sink: Arc<dyn Sink>,
    each: Vec<(&'static str, Arc<dyn Destination>)>,
}

impl Destinations {
    /// Starts the client of every destination the settings name.
    pub(crate) fn start(settings: &Settings) -> Result<Destinations, String> {
        let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
        let mut each: Vec<(&'static str, Arc<dyn Destination>)> = Vec::new();
        if let Some(posthog) = settings.posthog() {
            let client = Arc::new(posthog.build().map_err(|e| e.to_string())?);
            sinks.push(client.clone());
            each.push((POSTHOG, client));
        }
        if let Some(postgres) = settings.postgres() {
            let client = Arc::new(postgres.build().map_err(|e| e.to_string())?);
            sinks.push(client.clone());
            each.push((POSTGRES, client));
        }
        let sink = match sinks.len() {
            0 => return Err("no destination".into()), // `Client.__new__` checked
            1 => sinks.remove(0),
            _ => Arc::new(FanOut::new(sinks)),
        };
        Ok(Destinations { sink, each })
    }

    /// Hands the event to every destination; their refusals (a full queue,
    /// an invalid event) are counted in their stats.
    pub(crate) fn capture(&self, event: Event) {
        let _ = self.sink.capture(event);
    }

    /// Each destination's counts, by name.
    pub(crate) fn stats(&self) -> Vec<(&'static str, Stats)> {
        self.each.iter().map(|(n, d)| (*n, d.stats())).collect()
    }

    /// Waits until every destination delivered (or dropped) what it holds,
    /// until `deadline`; false when time ran out.
    pub(crate) fn flush(&self, deadline: Instant) -> bool {
        self.finish(deadline, false)
    }

    /// Shuts every destination down, all within `deadline`; false when time
    /// ran out (what was left is dropped as `shutdown_timeout`).
    pub(crate) fn shutdown(&self, deadline: Instant) -> bool {
        self.finish(deadline, true)
    }

    fn finish(&self, deadline: Instant, shutdown: bool) -> bool {
        let left = || deadline.saturating_duration_since(Instant::now());
        for (_, d) in &self.each {
            d.ask(left(), shutdown);
        }
        let mut complete = true;
        for (_, d) in &self.each {
            complete &= !d.wait(left(), shutdown).timed_out;
        }
        complete
    }
}

/// The destinations' counts as one, by [`FanOut`]'s rule (an event is
/// delivered once every destination delivered it).
pub(crate) fn combined(each: &[(&'static str, Stats)]) -> Delivery {
    FanOut::combine(each.iter().map(|(_, s)| s.delivery()))
}
