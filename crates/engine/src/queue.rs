//! The event queue: a binary heap ordered by (time, insertion sequence). Entries are small and
//! `Copy`; what they refer to lives in slabs, so cancelling is making a key stale, never a heap
//! search, and the heap reuses its allocation in steady state.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use netsim_core::SimTime;

use crate::slab::Key;

/// What happens when an entry comes due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    /// A host timer (key into the timer slab).
    Timer(Key),
    /// A packet reaches the end of its link, or its lifetime ends on the way.
    Arrival(Key),
    /// A packet held by a fault is let go.
    Release(Key),
    /// The scheduled network change with this index.
    Net(u32),
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    at: SimTime,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest entry first; ties go to the
    /// entry pushed first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Events ordered by (time, insertion sequence).
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Entry>,
    next_seq: u64,
}

impl EventQueue {
    pub(crate) fn push(&mut self, at: SimTime, ev: Ev) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { at, seq, ev });
    }

    pub(crate) fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.at)
    }

    pub(crate) fn pop(&mut self) -> Option<(SimTime, Ev)> {
        self.heap.pop().map(|e| (e.at, e.ev))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_times_pop_in_insertion_order() {
        let mut q = EventQueue::default();
        let t = SimTime::from_nanos;
        q.push(t(5), Ev::Net(0));
        q.push(t(1), Ev::Net(1));
        q.push(t(5), Ev::Net(2));
        q.push(t(1), Ev::Net(3));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![
                (t(1), Ev::Net(1)),
                (t(1), Ev::Net(3)),
                (t(5), Ev::Net(0)),
                (t(5), Ev::Net(2))
            ]
        );
    }
}
