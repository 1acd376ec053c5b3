//! Where one batch ends and the next begins.
//!
//! Pure: the caller passes the time in, so the rules (count, bytes, age) are
//! tested without a clock or a server. Sizes are exact: each event is
//! serialized once up front, and a batch's size is the size of the request
//! body it will become, envelope included.

use std::time::{Duration, Instant};

/// An event as a destination encoded it, with its size in that encoding.
///
/// Batches close by bytes as well as by count, so the worker must know what
/// each item adds to the request; an [`Exporter`](crate::Exporter)'s items
/// say so here. Called more than once per item: keep it O(1) (a stored
/// length, not a re-serialization).
pub trait Weighed {
    /// Bytes this item adds to a batch. The batcher adds one byte between
    /// items (a JSON array's comma) and the exporter's
    /// [`batch_overhead`](crate::Exporter::batch_overhead) once per batch.
    fn bytes(&self) -> usize;
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Events per batch.
    pub max_events: usize,
    /// Bytes per request body, envelope included, before compression.
    pub max_bytes: usize,
    /// Bytes of the body that are not events (PostHog: `{"api_key":...,"batch":[`...).
    pub overhead: usize,
}

impl Limits {
    /// The largest single event a batch can carry.
    pub(crate) fn max_event(&self) -> usize {
        self.max_bytes.saturating_sub(self.overhead)
    }
}

/// What [`Batcher::push`] did with an item.
#[derive(Debug)]
pub(crate) enum Push<T> {
    /// Added to the open batch.
    Added,
    /// The open batch could not take the item, so it was closed and is
    /// returned; the item opens the next batch.
    Closed(Vec<T>),
    /// Too large for any batch; handed back untouched.
    TooLarge(T),
}

#[derive(Debug)]
pub(crate) struct Batcher<T> {
    limits: Limits,
    items: Vec<T>,
    /// Events plus the commas between them.
    payload: usize,
    opened: Option<Instant>,
}

impl<T: Weighed> Batcher<T> {
    pub(crate) fn new(limits: Limits) -> Self {
        Batcher {
            limits,
            items: Vec::new(),
            payload: 0,
            opened: None,
        }
    }

    pub(crate) fn push(&mut self, item: T, now: Instant) -> Push<T> {
        let size = item.bytes();
        if size > self.limits.max_event() {
            return Push::TooLarge(item);
        }
        let closed = if self.items.len() >= self.limits.max_events
            || (!self.items.is_empty()
                && self.limits.overhead + self.payload + 1 + size > self.limits.max_bytes)
        {
            Some(self.take())
        } else {
            None
        };
        self.payload += size + usize::from(!self.items.is_empty());
        self.items.push(item);
        self.opened.get_or_insert(now);
        match closed {
            Some(batch) => Push::Closed(batch),
            None => Push::Added,
        }
    }

    /// True when no further item can join: send now rather than wait.
    pub(crate) fn is_full(&self) -> bool {
        self.items.len() >= self.limits.max_events
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// When the open batch must be sent even if it is not full.
    pub(crate) fn due(&self, interval: Duration) -> Option<Instant> {
        // An interval too long to represent means "never by age".
        self.opened.and_then(|t| t.checked_add(interval))
    }

    /// The request body size the open batch would make.
    #[cfg(test)]
    pub(crate) fn body_bytes(&self) -> usize {
        self.limits.overhead + self.payload
    }

    pub(crate) fn take(&mut self) -> Vec<T> {
        self.payload = 0;
        self.opened = None;
        std::mem::take(&mut self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Item {
        id: usize,
        size: usize,
    }

    impl Weighed for Item {
        fn bytes(&self) -> usize {
            self.size
        }
    }

    fn body(batch: &[Item], overhead: usize) -> usize {
        overhead + batch.iter().map(|i| i.size).sum::<usize>() + batch.len().saturating_sub(1)
    }

    #[test]
    fn closes_at_count() {
        let limits = Limits {
            max_events: 2,
            max_bytes: 1000,
            overhead: 10,
        };
        let now = Instant::now();
        let mut b = Batcher::new(limits);
        let item = |id| Item { id, size: 5 };
        assert!(matches!(b.push(item(0), now), Push::Added));
        assert!(!b.is_full());
        assert!(matches!(b.push(item(1), now), Push::Added));
        assert!(b.is_full());
        match b.push(item(2), now) {
            Push::Closed(batch) => assert_eq!(batch, [item(0), item(1)]),
            other => panic!("{other:?}"),
        }
        assert_eq!(b.take(), [item(2)]);
    }

    #[test]
    fn closes_at_bytes_exactly_at_the_limit() {
        // overhead 10 + 40 + ',' + 49 = 100: fits exactly; one more byte does not.
        let limits = Limits {
            max_events: 100,
            max_bytes: 100,
            overhead: 10,
        };
        let now = Instant::now();
        let mut b = Batcher::new(limits);
        assert!(matches!(b.push(Item { id: 0, size: 40 }, now), Push::Added));
        assert!(matches!(b.push(Item { id: 1, size: 49 }, now), Push::Added));
        assert_eq!(b.body_bytes(), 100);
        assert!(matches!(
            b.push(Item { id: 2, size: 1 }, now),
            Push::Closed(batch) if batch.len() == 2
        ));
        assert!(matches!(
            b.push(Item { id: 3, size: 91 }, now),
            Push::TooLarge(Item { id: 3, .. })
        ));
    }

    #[test]
    fn due_after_the_interval_from_the_first_item() {
        let limits = Limits {
            max_events: 10,
            max_bytes: 1000,
            overhead: 0,
        };
        let t0 = Instant::now();
        let interval = Duration::from_secs(1);
        let mut b = Batcher::new(limits);
        assert_eq!(b.due(interval), None);
        b.push(Item { id: 0, size: 1 }, t0);
        b.push(Item { id: 1, size: 1 }, t0 + Duration::from_millis(900));
        assert_eq!(b.due(interval), Some(t0 + interval));
        b.take();
        assert_eq!(b.due(interval), None);
        b.push(Item { id: 2, size: 1 }, t0);
        assert_eq!(b.due(Duration::MAX), None);
    }

    proptest! {
        #[test]
        fn batches_respect_limits_and_keep_order(
            sizes in proptest::collection::vec(1usize..400, 0..200),
            max_events in 1usize..20,
            max_bytes in 50usize..2000,
            overhead in 0usize..50,
        ) {
            let limits = Limits { max_events, max_bytes, overhead };
            let now = Instant::now();
            let items: Vec<Item> = sizes.iter().enumerate().map(|(id, &size)| Item { id, size }).collect();
            let mut b = Batcher::new(limits);
            let mut batches = Vec::new();
            let mut too_large = Vec::new();
            for &item in &items {
                match b.push(item, now) {
                    Push::Added => {}
                    Push::Closed(batch) => batches.push(batch),
                    Push::TooLarge(i) => too_large.push(i),
                }
                if b.is_full() {
                    batches.push(b.take());
                }
            }
            if !b.is_empty() {
                batches.push(b.take());
            }

            // Only what cannot fit any batch is refused.
            let expected_too_large: Vec<Item> =
                items.iter().copied().filter(|i| overhead + i.size > max_bytes).collect();
            prop_assert_eq!(&too_large, &expected_too_large);

            for batch in &batches {
                prop_assert!(!batch.is_empty());
                prop_assert!(batch.len() <= max_events);
                prop_assert!(body(batch, overhead) <= max_bytes);
            }
            // Greedy: a batch closed by size could not have taken the next item.
            for pair in batches.windows(2) {
                let (a, next) = (&pair[0], pair[1][0]);
                prop_assert!(
                    a.len() == max_events || body(a, overhead) + 1 + next.size > max_bytes
                );
            }
            // Nothing lost, nothing duplicated, order kept.
            let sent: Vec<Item> = batches.into_iter().flatten().collect();
            let expected: Vec<Item> =
                items.iter().copied().filter(|i| overhead + i.size <= max_bytes).collect();
            prop_assert_eq!(sent, expected);
        }
    }
}
