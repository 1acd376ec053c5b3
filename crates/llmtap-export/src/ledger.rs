//! Settling in queue order while batches finish in any order.
//!
//! `flush` waits for "the first n accepted events are settled", so the
//! worker may only report an event settled once every event accepted before
//! it is. Each batch in flight holds a ticket for the events it covers (its
//! own, and those dropped while it was the open batch); a ticket that
//! finishes early waits behind the ones before it. Pure: unit-tested here.

use std::collections::VecDeque;

/// A batch's place in line; handed back to [`Ledger::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Oldest first: how many events each entry covers, and whether it is done.
    line: VecDeque<(u64, bool)>,
    /// The ticket number of `line[0]`.
    front: u64,
}

impl Ledger {
    /// A batch covering `events` starts; it settles once it and every
    /// earlier ticket finished.
    pub(crate) fn open(&mut self, events: u64) -> Ticket {
        let ticket = Ticket(self.front + self.line.len() as u64);
        self.line.push_back((events, false));
        ticket
    }

    /// `events` already done (dropped outside any batch): returns how many
    /// settle now, which is all of them unless a batch is ahead in line.
    pub(crate) fn done(&mut self, events: u64) -> u64 {
        match self.line.back_mut() {
            None => events,
            Some((n, true)) => {
                *n += events;
                0
            }
            Some(_) => {
                self.line.push_back((events, true));
                0
            }
        }
    }

    /// `ticket`'s batch finished; returns how many events settle now.
    pub(crate) fn finish(&mut self, ticket: Ticket) -> u64 {
        let index = ticket.0.checked_sub(self.front).map(|i| i as usize);
        if let Some((_, done)) = index.and_then(|i| self.line.get_mut(i)) {
            *done = true;
        }
        let mut settled = 0;
        while let Some(&(n, true)) = self.line.front() {
            settled += n;
            self.line.pop_front();
            self.front += 1;
        }
        settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_in_order_whatever_order_batches_finish_in() {
        let mut l = Ledger::default();
        let a = l.open(3);
        let b = l.open(5);
        assert_eq!(l.done(1), 0, "a drop after b waits for both");
        let c = l.open(2);
        assert_eq!(l.finish(c), 0);
        assert_eq!(l.finish(b), 0);
        assert_eq!(l.finish(a), 3 + 5 + 1 + 2);
        assert_eq!(l.done(4), 4, "nothing ahead: settles at once");
    }

    #[test]
    fn drops_behind_a_finished_batch_merge_and_settle_with_the_line() {
        let mut l = Ledger::default();
        let a = l.open(1);
        let b = l.open(1);
        assert_eq!(l.finish(b), 0);
        assert_eq!(l.done(2), 0);
        assert_eq!(l.done(3), 0);
        assert_eq!(l.finish(a), 1 + 1 + 2 + 3);
        let c = l.open(7);
        assert_eq!(l.finish(c), 7);
        // Finishing twice (or a stale ticket) settles nothing more.
        assert_eq!(l.finish(c), 0);
        assert_eq!(l.finish(a), 0);
    }
}
