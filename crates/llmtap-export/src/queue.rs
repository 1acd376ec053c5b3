//! The bounded queue between the caller's hot path and the worker.
//!
//! A plain mutex and condvar rather than a tokio channel: producers may be
//! sync code, async code or a current-thread runtime, and `Block(timeout)`
//! needs a timed wait that works in all of them. The worker is woken through a
//! `Notify`, whose stored permit means a wake-up sent between the worker's
//! last check and its wait is never lost.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use llmtap::Event;

/// Why an event was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Full,
    Closed,
}

#[derive(Debug, Default)]
struct State {
    /// Each event with its estimated JSON size.
    items: VecDeque<(Event, usize)>,
    /// Sum of the sizes in `items`.
    bytes: usize,
    closed: bool,
    /// Producers blocked in `push` waiting for room (`FullPolicy::Block`).
    waiting: usize,
}

/// While events pile up, the worker is woken once per this many. Otherwise it
/// polls the queue on a short timer while traffic flows and is woken by the
/// first push only once it has parked: a wake-up per event cost each
/// `capture()` a cross-CPU context switch (BENCHMARKS.md).
const WAKE_EVERY: usize = 32;

#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    space: Condvar,
    ready: Notify,
    capacity: usize,
    max_bytes: usize,
    /// Events ever queued. Bumped under the lock, so the worker can never
    /// have settled more events than this says were accepted.
    pushed: AtomicU64,
    /// The worker sleeps without a timer: the next push must wake it.
    parked: AtomicBool,
}

impl Queue {
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Queue {
            state: Mutex::new(State::default()),
            space: Condvar::new(),
            ready: Notify::new(),
            capacity,
            max_bytes,
            pushed: AtomicU64::new(0),
            parked: AtomicBool::new(false),
        }
    }

    /// Whether `incoming` more events of `size` bytes fit. The byte bound
    /// never refuses an empty queue, so one large event is not refused forever.
    fn has_room(&self, s: &State, incoming: usize, size: usize) -> bool {
        s.items.len() + incoming <= self.capacity
            && (s.items.is_empty() || s.bytes + size <= self.max_bytes)
    }

    /// Queues `event`, waiting up to `wait` for room when full.
    pub(crate) fn push(&self, event: Event, wait: Duration) -> Result<(), Refused> {
        let size = event.approx_json_len();
        let mut state = self.lock();
        if !self.has_room(&state, 1, size) && !state.closed && !wait.is_zero() {
            state.waiting += 1;
            state = self
                .space
                .wait_timeout_while(state, wait, |s| !self.has_room(s, 1, size) && !s.closed)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.waiting -= 1;
        }
        if state.closed {
            return Err(Refused::Closed);
        }
        if !self.has_room(&state, 1, size) {
            return Err(Refused::Full);
        }
        state.items.push_back((event, size));
        state.bytes += size;
        self.pushed.fetch_add(1, Ordering::SeqCst);
        let len = state.items.len();
        drop(state);
        if len.is_multiple_of(WAKE_EVERY) || self.take_parked() {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Queues all of `events` or none of them, never waiting: a receiver
    /// that cannot hold a whole request refuses it upstream instead.
    pub(crate) fn push_all(&self, events: Vec<Event>) -> Result<(), (Refused, Vec<Event>)> {
        let sized: Vec<(Event, usize)> = events
            .into_iter()
            .map(|e| {
                let size = e.approx_json_len();
                (e, size)
            })
            .collect();
        let total: usize = sized.iter().map(|(_, size)| size).sum();
        let mut state = self.lock();
        let refused = if state.closed {
            Some(Refused::Closed)
        } else if !self.has_room(&state, sized.len(), total) {
            Some(Refused::Full)
        } else {
            None
        };
        if let Some(why) = refused {
            return Err((why, sized.into_iter().map(|(e, _)| e).collect()));
        }
        let n = sized.len() as u64;
        state.items.extend(sized);
        state.bytes += total;
        self.pushed.fetch_add(n, Ordering::SeqCst);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Takes up to `max` events in one lock, waking blocked producers only
    /// when there are any.
    pub(crate) fn pop_many(&self, max: usize, into: &mut Vec<Event>) {
        let mut state = self.lock();
        let n = max.min(state.items.len());
        let State { items, bytes, .. } = &mut *state;
        into.extend(items.drain(..n).map(|(event, size)| {
            *bytes -= size;
            event
        }));
        if n > 0 && state.waiting > 0 {
            self.space.notify_all();
        }
    }

    /// Refuses further events and wakes everyone: blocked producers get
    /// `Closed`, the worker drains what is left.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.space.notify_all();
        self.ready.notify_one();
    }

    /// Empties the queue, returning how many events were discarded.
    pub(crate) fn clear(&self) -> usize {
        let mut state = self.lock();
        state.bytes = 0;
        let n = std::mem::take(&mut state.items).len();
        drop(state);
        self.space.notify_all();
        n
    }

    /// The worker is about to sleep until woken; `false` (and no parking)
    /// when events are already waiting.
    ///
    /// The flag is set before the queue is checked, and pushes read it after
    /// queueing, both around the same lock: a push either is seen here or
    /// sees the flag and wakes the worker.
    pub(crate) fn park(&self) -> bool {
        self.parked.store(true, Ordering::SeqCst);
        if self.lock().items.is_empty() {
            return true;
        }
        self.parked.store(false, Ordering::SeqCst);
        false
    }

    fn take_parked(&self) -> bool {
        self.parked.load(Ordering::SeqCst) && self.parked.swap(false, Ordering::SeqCst)
    }

    /// Wakes the worker (a flush or shutdown wants attention).
    pub(crate) fn wake(&self) {
        self.ready.notify_one();
    }

    /// Resolves when something was queued or [`Queue::wake`] was called.
    pub(crate) async fn ready(&self) {
        self.ready.notified().await;
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if it ever did, the deque is
        // still a valid deque.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_all_is_all_or_nothing() {
        let q = Queue::new_for_test(3);
        q.push(event(0), Duration::ZERO).unwrap();
        let (why, back) = q.push_all(vec![event(1), event(2), event(3)]).unwrap_err();
        assert_eq!((why, back.len(), q.len()), (Refused::Full, 3, 1));
        q.push_all(vec![event(1), event(2)]).unwrap();
        assert_eq!((q.len(), q.pushed()), (3, 3));
        q.close();
        assert_eq!(q.push_all(vec![]).unwrap_err().0, Refused::Closed);
    }
    use std::sync::Arc;
    use uuid::Uuid;

    fn event(i: u128) -> Event {
        // Through serde: the wire shape is the stable part of `Event`.
        serde_json::from_value(serde_json::json!({
            "event": "e",
            "distinct_id": "d",
            "properties": {},
            "timestamp": "2026-01-01T00:00:00Z",
            "uuid": Uuid::from_u128(i),
        }))
        .unwrap()
    }

    impl Queue {
        fn new_for_test(capacity: usize) -> Self {
            Queue::new(capacity, usize::MAX)
        }
    }

    #[test]
    fn the_byte_bound_fills_the_queue_too_but_never_refuses_an_empty_one() {
        let size = event(0).approx_json_len();
        let q = Queue::new(100, 2 * size + size / 2);
        q.push(event(1), Duration::ZERO).unwrap();
        q.push(event(2), Duration::ZERO).unwrap();
        assert_eq!(q.push(event(3), Duration::ZERO), Err(Refused::Full));
        assert_eq!(q.push_all(vec![event(3)]).unwrap_err().0, Refused::Full);
        pop(&q);
        q.push(event(3), Duration::ZERO).unwrap();
        let tiny = Queue::new(100, 1);
        tiny.push(event(4), Duration::ZERO).unwrap();
        assert_eq!(tiny.push(event(5), Duration::ZERO), Err(Refused::Full));
        assert_eq!(tiny.clear(), 1);
        tiny.push(event(5), Duration::ZERO).unwrap();
    }

    fn pop(q: &Queue) -> Option<Event> {
        let mut one = Vec::new();
        q.pop_many(1, &mut one);
        one.pop()
    }

    #[test]
    fn full_and_closed_are_refused() {
        let q = Queue::new_for_test(2);
        assert_eq!(q.push(event(1), Duration::ZERO), Ok(()));
        assert_eq!(q.push(event(2), Duration::ZERO), Ok(()));
        assert_eq!(q.push(event(3), Duration::ZERO), Err(Refused::Full));
        assert_eq!(q.pushed(), 2);
        assert_eq!(pop(&q).map(|e| e.uuid), Some(Uuid::from_u128(1)));
        q.close();
        assert_eq!(q.push(event(4), Duration::ZERO), Err(Refused::Closed));
        assert_eq!(q.clear(), 1);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_blocked_producer_gets_room_when_the_worker_pops() {
        let q = Arc::new(Queue::new_for_test(1));
        q.push(event(1), Duration::ZERO).unwrap();
        let producer = {
            let q = q.clone();
            std::thread::spawn(move || q.push(event(2), Duration::from_secs(30)))
        };
        // Pop until the producer's event shows up; no sleeping needed.
        let mut seen = Vec::new();
        while seen.len() < 2 {
            if let Some(e) = pop(&q) {
                seen.push(e.uuid.as_u128());
            } else {
                std::thread::yield_now();
            }
        }
        assert_eq!(producer.join().unwrap(), Ok(()));
        assert_eq!(seen, [1, 2]);
    }

    #[test]
    fn close_releases_a_blocked_producer() {
        let q = Arc::new(Queue::new_for_test(1));
        q.push(event(1), Duration::ZERO).unwrap();
        let producer = {
            let q = q.clone();
            std::thread::spawn(move || q.push(event(2), Duration::from_secs(30)))
        };
        q.close();
        assert_eq!(producer.join().unwrap(), Err(Refused::Closed));
    }
}
