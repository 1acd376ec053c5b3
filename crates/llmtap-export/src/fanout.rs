//! One stream of events to several destinations (PostHog and PostgreSQL):
//! each gets its own copy and keeps its own queue, retries and counts.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use llmtap::{Delivery, Event, Sink, SinkError};

/// A [`Sink`] that hands every event to each of its sinks.
///
/// A refusal by one sink (its queue full) does not keep the event from
/// the others; `capture` reports the first refusal. [`Sink::delivery`]
/// describes the events as a whole: delivered only when every destination
/// delivered them (the smallest count), pending while any holds them, and
/// each destination's drops added up. Flush and shutdown run on all of them
/// at once, within the one timeout.
#[derive(Clone)]
pub struct FanOut {
    sinks: Vec<Arc<dyn Sink>>,
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl FanOut {
    /// Every event to each of `sinks`.
    pub fn new(sinks: Vec<Arc<dyn Sink>>) -> Self {
        FanOut { sinks }
    }

    /// Several destinations' counts as one, by the rule of
    /// [`Sink::delivery`] above: delivered is the smallest count, pending
    /// the largest, drops add up (an event lost at two counts twice). For a
    /// caller that holds each destination's counts already.
    pub fn combine(each: impl IntoIterator<Item = Delivery>) -> Delivery {
        let mut all = Delivery::default();
        let mut delivered = None::<u64>;
        for d in each {
            all.accepted = all.accepted.max(d.accepted);
            all.pending = all.pending.max(d.pending);
            delivered = Some(delivered.map_or(d.delivered, |n| n.min(d.delivered)));
            for (reason, n) in d.dropped.iter() {
                all.dropped.add(reason, n);
            }
        }
        all.delivered = delivered.unwrap_or(0);
        all
    }
}

#[async_trait]
impl Sink for FanOut {
    fn capture(&self, event: Event) -> Result<(), SinkError> {
        let (_, refused) = self.to_each(event, |sink, e| sink.capture(e));
        refused.map_or(Ok(()), Err)
    }

    /// Each sink's own `capture_all`, so a spooled destination takes the
    /// request whole (one fsync, all or none) as it does alone; an error when
    /// any refused (the caller's retry is idempotent: every event has its
    /// uuid), else the most events any sink accepted.
    fn capture_all(&self, events: Vec<Event>) -> Result<usize, SinkError> {
        let (accepted, refused) = self.to_each(events, |sink, e| sink.capture_all(e));
        match refused {
            Some(e) => Err(e),
            None => Ok(accepted.into_iter().max().unwrap_or(0)),
        }
    }

    fn delivery(&self) -> Delivery {
        FanOut::combine(self.sinks.iter().map(|s| s.delivery()))
    }

    async fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
        self.each(timeout, false).await
    }

    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        self.each(timeout, true).await
    }
}

impl FanOut {
    /// Hands `item` to every sink (a clone to each but the last, which gets
    /// the original): each sink's answer, and the first refusal.
    fn to_each<T: Clone, R>(
        &self,
        item: T,
        mut hand: impl FnMut(&dyn Sink, T) -> Result<R, SinkError>,
    ) -> (Vec<R>, Option<SinkError>) {
        let mut answers = Vec::with_capacity(self.sinks.len());
        let mut first = None;
        let mut item = Some(item);
        let last = self.sinks.len().saturating_sub(1);
        for (i, sink) in self.sinks.iter().enumerate() {
            let copy = match i == last {
                true => item.take(),
                false => item.clone(),
            };
            match copy.map(|copy| hand(sink.as_ref(), copy)) {
                Some(Ok(answer)) => answers.push(answer),
                Some(Err(e)) => {
                    first.get_or_insert(e);
                }
                None => {}
            }
        }
        (answers, first)
    }

    /// Flushes (or shuts down) every sink at once, each with the whole
    /// timeout, so a destination that is down does not eat the time another
    /// needs; the first error, after every sink is done.
    async fn each(&self, timeout: Duration, shutdown: bool) -> Result<(), SinkError> {
        let done = futures_util::future::join_all(self.sinks.iter().map(|sink| match shutdown {
            true => sink.shutdown(timeout),
            false => sink.flush(timeout),
        }))
        .await;
        done.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmtap::MemorySink;

    #[test]
    fn every_sink_gets_every_event() {
        let (a, b) = (Arc::new(MemorySink::new()), Arc::new(MemorySink::new()));
        let fan = FanOut::new(vec![a.clone(), b.clone()]);
        for n in 0..3u128 {
            let event = Event {
                uuid: uuid::Uuid::from_u128(n),
                ..Event::default()
            };
            fan.capture(event).unwrap();
        }
        assert_eq!(a.events(), b.events());
        assert_eq!(a.len(), 3);
        let d = fan.delivery();
        assert_eq!((d.accepted, d.delivered, d.pending), (3, 3, 0));
    }

    /// A sink that takes requests whole, and refuses every one.
    #[derive(Debug, Default)]
    struct Full(std::sync::atomic::AtomicUsize);

    #[async_trait]
    impl Sink for Full {
        fn capture(&self, _: Event) -> Result<(), SinkError> {
            panic!("a request must reach it whole, through capture_all");
        }
        fn capture_all(&self, events: Vec<Event>) -> Result<usize, SinkError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(SinkError::Dropped {
                count: events.len() as u64,
                reason: llmtap::DropReason::QueueFull,
            })
        }
        fn delivery(&self) -> Delivery {
            Delivery::default()
        }
    }

    #[test]
    fn a_request_reaches_each_sink_whole_and_one_refusal_fails_it() {
        let events: Vec<Event> = (0..4u128)
            .map(|n| Event {
                uuid: uuid::Uuid::from_u128(n),
                ..Event::default()
            })
            .collect();
        let (a, full) = (Arc::new(MemorySink::new()), Arc::new(Full::default()));
        let fan = FanOut::new(vec![full.clone(), a.clone()]);
        let refused = fan.capture_all(events.clone());
        assert!(matches!(refused, Err(SinkError::Dropped { count: 4, .. })));
        assert_eq!(a.len(), 4, "the other sink still got them");
        assert_eq!(
            full.0.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "one call"
        );
        let fan = FanOut::new(vec![a.clone(), Arc::new(MemorySink::new())]);
        assert_eq!(fan.capture_all(events).unwrap(), 4);
    }

    /// A sink whose flush takes `takes`, and says what time it was given.
    #[derive(Debug)]
    struct Slow {
        takes: Duration,
        given: std::sync::Mutex<Option<Duration>>,
    }

    #[async_trait]
    impl Sink for Slow {
        fn capture(&self, _: Event) -> Result<(), SinkError> {
            Ok(())
        }
        fn delivery(&self) -> Delivery {
            Delivery::default()
        }
        async fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
            *self.given.lock().unwrap() = Some(timeout);
            tokio::time::sleep(self.takes.min(timeout)).await;
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_destination_does_not_eat_the_others_flush_time() {
        let slow = |secs| {
            Arc::new(Slow {
                takes: Duration::from_secs(secs),
                given: std::sync::Mutex::new(None),
            })
        };
        let (down, up) = (slow(3600), slow(1));
        let fan = FanOut::new(vec![down.clone(), up.clone()]);
        let started = tokio::time::Instant::now();
        fan.flush(Duration::from_secs(10)).await.unwrap();
        assert_eq!(*up.given.lock().unwrap(), Some(Duration::from_secs(10)));
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(10),
            "at once, not in turn"
        );
    }
}
