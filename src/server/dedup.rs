//! Dropping events the sidecar already accepted.
//!
//! LiteLLM 1.106's generic logger re-sends its whole queue for every payload
//! logged while a POST is in flight, so a slow moment turns one call into
//! several identical payloads. Identical payloads build identical event
//! uuids, and PostHog does not promise to deduplicate by uuid, so the sidecar
//! remembers the uuids it accepted recently and drops repeats.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use llmtap_export::RecentUuids;
use uuid::Uuid;

/// The last `capacity` accepted uuids, oldest forgotten first.
#[derive(Debug)]
pub struct RecentEvents {
    inner: Mutex<Window>,
}

/// The window, held while one request is checked and accepted.
#[derive(Debug)]
pub struct Window(RecentUuids);

impl RecentEvents {
    /// Remembers up to `capacity` uuids; 0 turns deduplication off.
    pub fn new(capacity: usize) -> Self {
        RecentEvents {
            inner: Mutex::new(Window(RecentUuids::new(capacity))),
        }
    }

    /// Holds the window while a request is checked and accepted, so two
    /// concurrent copies of one payload cannot both get through.
    pub fn lock(&self) -> MutexGuard<'_, Window> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Window {
    /// Keeps the items whose uuid was neither accepted recently nor seen
    /// earlier in `items`; returns them and how many were dropped.
    pub fn fresh<T>(&self, items: Vec<T>, uuid: impl Fn(&T) -> Uuid) -> (Vec<T>, usize) {
        if self.0.capacity() == 0 {
            return (items, 0);
        }
        let total = items.len();
        let mut in_batch = HashSet::with_capacity(total);
        let fresh: Vec<T> = items
            .into_iter()
            .filter(|item| {
                let id = uuid(item);
                !self.0.contains(&id) && in_batch.insert(id)
            })
            .collect();
        let dropped = total - fresh.len();
        (fresh, dropped)
    }

    /// Records uuids that were accepted.
    pub fn remember(&mut self, uuids: impl IntoIterator<Item = Uuid>) {
        for id in uuids {
            self.0.insert(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn repeats_within_a_request_and_across_requests_are_dropped() {
        let recent = RecentEvents::new(10);
        let mut w = recent.lock();
        let (fresh, dropped) = w.fresh(vec![1, 2, 1, 3, 1], |n| id(*n));
        assert_eq!((fresh.clone(), dropped), (vec![1, 2, 3], 2));
        w.remember(fresh.into_iter().map(id));
        let (fresh, dropped) = w.fresh(vec![3, 4], |n| id(*n));
        assert_eq!((fresh, dropped), (vec![4], 1));
    }

    #[test]
    fn the_window_forgets_the_oldest_and_zero_disables_it() {
        let recent = RecentEvents::new(2);
        let mut w = recent.lock();
        w.remember([id(1), id(2), id(3)]);
        assert_eq!(w.fresh(vec![1, 2, 3], |n| id(*n)).0, vec![1]);
        drop(w);
        let off = RecentEvents::new(0);
        let mut w = off.lock();
        w.remember([id(1)]);
        assert_eq!(w.fresh(vec![1, 1], |n| id(*n)).0, vec![1, 1]);
    }
}
