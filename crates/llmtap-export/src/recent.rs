//! The uuids delivered recently, to drop a second copy of an event before
//! it is sent.
//!
//! Identical payloads build identical event uuids, and PostHog does not
//! promise to deduplicate by uuid, so whoever can receive one call twice
//! (the sidecar behind LiteLLM 1.106's re-sending logger, a callback that
//! LiteLLM calls through both its sync and its async method) remembers
//! the last uuids it passed on and drops repeats.

use std::collections::{HashSet, VecDeque};

use uuid::Uuid;

/// The last `capacity` uuids inserted, oldest forgotten first.
///
/// ```
/// use llmtap_export::RecentUuids;
/// use uuid::Uuid;
///
/// let mut recent = RecentUuids::new(2);
/// assert!(recent.insert(Uuid::from_u128(1)));
/// assert!(!recent.insert(Uuid::from_u128(1)), "a repeat");
/// recent.insert(Uuid::from_u128(2));
/// recent.insert(Uuid::from_u128(3));
/// assert!(!recent.contains(&Uuid::from_u128(1)), "forgotten");
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecentUuids {
    seen: HashSet<Uuid>,
    order: VecDeque<Uuid>,
    capacity: usize,
}

impl RecentUuids {
    /// Remembers up to `capacity` uuids; 0 remembers none (deduplication off).
    pub fn new(capacity: usize) -> Self {
        RecentUuids {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Whether `uuid` is among the remembered ones.
    pub fn contains(&self, uuid: &Uuid) -> bool {
        self.seen.contains(uuid)
    }

    /// Remembers `uuid`; false when it was remembered already (a repeat).
    pub fn insert(&mut self, uuid: Uuid) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if !self.seen.insert(uuid) {
            return false;
        }
        self.order.push_back(uuid);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// How many it remembers.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_forgets_the_oldest_and_zero_disables_it() {
        let mut recent = RecentUuids::new(2);
        for n in 1..=3 {
            assert!(recent.insert(Uuid::from_u128(n)));
        }
        assert!(!recent.contains(&Uuid::from_u128(1)));
        assert!(!recent.insert(Uuid::from_u128(3)));
        assert!(recent.insert(Uuid::from_u128(1)), "forgotten, so new again");

        let mut off = RecentUuids::new(0);
        assert!(off.insert(Uuid::from_u128(1)));
        assert!(off.insert(Uuid::from_u128(1)));
        assert!(!off.contains(&Uuid::from_u128(1)));
    }
}
