//! One batch from its first attempt to the fate of each of its events:
//! retries with backoff under the batch's own deadline, halving on `Split`,
//! counting what was delivered or dropped. Several of these run at once on
//! the worker's runtime (up to `max_in_flight`), so a `Courier` holds only
//! what they share and owns no per-batch state.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::exporter::{Answer, Exporter, Outcome, Outcomes};
use crate::retry::{Decision, RetryPolicy, Step};
use crate::stats::{Counters, DropCounts, DropReason, Rejection};
use crate::worker::Shared;

pub(crate) struct Courier<E: Exporter> {
    pub(crate) exporter: Arc<E>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) retry: RetryPolicy,
    pub(crate) clock: Arc<dyn Clock>,
}

impl<E: Exporter> Courier<E> {
    /// Sends a batch until each of its events is delivered or dropped, and
    /// counts each (into `Shared::count`; the worker settles them in queue
    /// order). Events the destination finds too large, or refuses as a batch
    /// (`Split`), are halved and each half sent in turn, so one oversized or
    /// invalid event does not cost the others. A half is strictly smaller,
    /// so this ends, after at most `2n - 1` requests (plus retries) for `n`
    /// events.
    pub(crate) async fn deliver(&self, batch: Vec<E::Item>) {
        let mut stack = vec![batch];
        while let Some(batch) = stack.pop() {
            let mut first = self.send(batch).await;
            if !first.is_empty() {
                let second = first.split_off(first.len() / 2);
                stack.push(second);
                stack.push(first);
            }
        }
    }

    /// One batch, retried until none of its events asks for a retry. Counts
    /// every event it settles the fate of; returns the events answered
    /// `Split`, to be halved, when there are two or more.
    async fn send(&self, mut batch: Vec<E::Item>) -> Vec<E::Item> {
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
            Counters::add(&counters.bytes_json, answer.bytes_encoded);
            Counters::add(&counters.bytes_sent, answer.bytes_sent);
            let splits = too_large.len();
            let (again, floor) = self.apply(batch, &answer, &mut too_large);
            if too_large.len() > splits {
                tracing::debug!(
                    exporter = self.exporter.name(),
                    events = too_large.len() - splits,
                    status = answer.status,
                    error = answer.detail.as_str(),
                    "Batch refused as a whole; splitting it."
                );
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
            // Refused even alone: splitting cannot help.
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
        &self,
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

    fn delivered(&self, n: usize) {
        if n == 0 {
            return;
        }
        let counters = &self.shared.counters;
        Counters::add(&counters.sent, n as u64);
        Counters::add(&counters.batches, 1);
        self.shared.count(n as u64);
    }

    fn count_dropped(&self, reason: DropReason, n: usize) {
        self.shared.counters.dropped(reason, n as u64);
        self.shared.count(n as u64);
    }

    /// Drops `events` the destination refused, keeping its reason where an
    /// operator will find it: a warning the first time, `stats().last_rejection`
    /// always.
    fn refused(&self, events: usize, status: Option<u16>, message: &str, reason: DropReason) {
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
