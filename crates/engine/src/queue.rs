//! The event queue: a binary min-heap ordered by (time, insertion sequence). Entries are 24
//! bytes and `Copy`; what they refer to lives in slabs. A cancelled timer leaves the heap at
//! once (the queue knows where each timer's entry sits); a dropped packet's entry goes stale
//! and is skipped when it comes due.
//!
//! Why timers leave at once: a host that re-arms one timer at its stack's next deadline
//! cancels an entry each time that deadline moves, and those entries used to stay until due.
//! In a run of sequential short connections, each one moved the client's timer off a
//! TIME_WAIT expiry 60 s away, so the heap held about 13 000 stale entries to 5 live ones and
//! every push and pop walked 14 levels (issue 13). The order in which live entries pop is the
//! same either way.
//!
//! A hand-written 4-ary heap was tried and measured slower than a binary heap whose pop walks
//! the hole to the bottom first (as `std`'s does, and this one does) at 1 000 pending events.

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

/// A queue entry packed into 24 bytes (the heap moves entries on every push and pop, so their
/// size is the queue's speed): the time, the insertion sequence shifted left by two with the
/// event kind in the low bits (so comparing it compares sequences), and the slab key or index.
#[derive(Clone, Copy, Debug)]
struct Entry {
    at: SimTime,
    seq_kind: u64,
    payload: u64,
}

const KIND_TIMER: u64 = 0;
const KIND_ARRIVAL: u64 = 1;
const KIND_RELEASE: u64 = 2;
const KIND_NET: u64 = 3;

/// `EventQueue::timer_pos` of a timer slot with no entry in the heap.
const NOT_QUEUED: u32 = u32::MAX;

impl Entry {
    fn new(at: SimTime, seq: u64, ev: Ev) -> Entry {
        let (kind, payload) = match ev {
            Ev::Timer(key) => (KIND_TIMER, key.to_bits()),
            Ev::Arrival(key) => (KIND_ARRIVAL, key.to_bits()),
            Ev::Release(key) => (KIND_RELEASE, key.to_bits()),
            Ev::Net(index) => (KIND_NET, u64::from(index)),
        };
        debug_assert!(seq < 1 << 62, "insertion sequence overflow");
        Entry {
            at,
            seq_kind: seq << 2 | kind,
            payload,
        }
    }

    fn ev(&self) -> Ev {
        match self.seq_kind & 3 {
            KIND_TIMER => Ev::Timer(Key::from_bits(self.payload)),
            KIND_ARRIVAL => Ev::Arrival(Key::from_bits(self.payload)),
            KIND_RELEASE => Ev::Release(Key::from_bits(self.payload)),
            _ => Ev::Net(self.payload as u32),
        }
    }

    /// The ordering key: earlier time first, then earlier insertion. Keys are unique (the
    /// sequence is).
    #[inline]
    fn key(&self) -> u128 {
        u128::from(self.at.as_nanos()) << 64 | u128::from(self.seq_kind)
    }

    /// The timer slot this entry belongs to, if it is a timer's.
    #[inline]
    fn timer_slot(&self) -> Option<usize> {
        (self.seq_kind & 3 == KIND_TIMER).then(|| Key::from_bits(self.payload).index() as usize)
    }
}

/// Events ordered by (time, insertion sequence).
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    /// A min-heap by [`Entry::key`]: each entry's key is below its children's.
    heap: Vec<Entry>,
    /// Where each timer slot's entry sits in `heap` (by slab index; `NOT_QUEUED` if none).
    timer_pos: Vec<u32>,
    next_seq: u64,
}

impl EventQueue {
    pub(crate) fn push(&mut self, at: SimTime, ev: Ev) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry::new(at, seq, ev);
        if let Some(slot) = entry.timer_slot() {
            if slot >= self.timer_pos.len() {
                self.timer_pos.resize(slot + 1, NOT_QUEUED);
            }
            debug_assert_eq!(self.timer_pos[slot], NOT_QUEUED, "one entry per timer slot");
        }
        self.heap.push(entry);
        self.sift_up(self.heap.len() - 1);
    }

    pub(crate) fn peek_time(&self) -> Option<SimTime> {
        self.heap.first().map(|e| e.at)
    }

    pub(crate) fn peek(&self) -> Option<(SimTime, Ev)> {
        self.heap.first().map(|e| (e.at, e.ev()))
    }

    pub(crate) fn pop(&mut self) -> Option<(SimTime, Ev)> {
        let top = self.remove_at(0)?;
        Some((top.at, top.ev()))
    }

    /// Takes timer `key`'s entry out of the heap; false if it has none (it fired, or was
    /// never queued).
    pub(crate) fn cancel_timer(&mut self, key: Key) -> bool {
        let Some(pos) = self.timer_entry(key) else {
            return false;
        };
        self.remove_at(pos);
        true
    }

    /// Where timer `key`'s entry sits in the heap, if it has one (its slot's entry may belong
    /// to a newer timer of the same slot).
    fn timer_entry(&self, key: Key) -> Option<usize> {
        let pos = *self.timer_pos.get(key.index() as usize)?;
        (pos != NOT_QUEUED && self.heap[pos as usize].payload == key.to_bits())
            .then_some(pos as usize)
    }

    /// Moves timer `key`'s entry to `at`, with a new insertion sequence: the queue is then as
    /// if it had been cancelled and pushed again. False if it has no entry.
    pub(crate) fn reschedule_timer(&mut self, key: Key, at: SimTime) -> bool {
        let Some(pos) = self.timer_entry(key) else {
            return false;
        };
        let old = self.heap[pos].key();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap[pos] = Entry::new(at, seq, Ev::Timer(key));
        if self.heap[pos].key() < old {
            self.sift_up(pos);
        } else {
            self.sift_down(pos);
        }
        true
    }

    /// How many entries the heap holds (live and stale).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }

    /// Removes and returns the entry at `pos`, restoring the heap around the entry moved in.
    fn remove_at(&mut self, pos: usize) -> Option<Entry> {
        let last = self.heap.pop()?;
        let removed = if pos == self.heap.len() {
            last
        } else {
            let removed = std::mem::replace(&mut self.heap[pos], last);
            self.placed(pos);
            // The moved entry may belong above or below its new place.
            if pos > 0 && last.key() < self.heap[(pos - 1) / 2].key() {
                self.sift_up(pos);
            } else {
                self.sift_down(pos);
            }
            removed
        };
        if let Some(slot) = removed.timer_slot() {
            self.timer_pos[slot] = NOT_QUEUED;
        }
        Some(removed)
    }

    /// Records where the entry at `pos` now sits, if it is a timer's.
    #[inline]
    fn placed(&mut self, pos: usize) {
        if let Some(slot) = self.heap[pos].timer_slot() {
            self.timer_pos[slot] = pos as u32;
        }
    }

    fn sift_up(&mut self, pos: usize) {
        self.rise(self.heap[pos], pos, 0);
    }

    /// Puts `entry` in the hole at `hole`, moving parents down while they come after it, but
    /// not above `top`. Inlined into both callers: it runs on every push and pop.
    #[inline(always)]
    fn rise(&mut self, entry: Entry, mut hole: usize, top: usize) {
        let key = entry.key();
        while hole > top {
            let parent = (hole - 1) / 2;
            if self.heap[parent].key() < key {
                break;
            }
            self.heap[hole] = self.heap[parent];
            self.placed(hole);
            hole = parent;
        }
        self.heap[hole] = entry;
        self.placed(hole);
    }

    /// Walks the hole at `pos` down to the bottom along the smaller children, then lets the
    /// entry rise from there (not above `pos`: everything above it is in order): fewer
    /// comparisons than stopping on the way down, as an entry taken from the end usually
    /// belongs near the bottom.
    fn sift_down(&mut self, pos: usize) {
        let entry = self.heap[pos];
        let len = self.heap.len();
        let mut hole = pos;
        let mut child = 2 * hole + 1;
        while child + 1 < len {
            if self.heap[child + 1].key() < self.heap[child].key() {
                child += 1;
            }
            self.heap[hole] = self.heap[child];
            self.placed(hole);
            hole = child;
            child = 2 * hole + 1;
        }
        if child < len {
            self.heap[hole] = self.heap[child];
            self.placed(hole);
            hole = child;
        }
        self.rise(entry, hole, pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order_for_any_push_order() {
        // A deterministic shuffle of 10 000 entries with many equal times.
        let mut q = EventQueue::default();
        let mut x = 12345u64;
        let mut pushed = Vec::new();
        for i in 0..10_000u32 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = SimTime::from_nanos((x >> 33) % 500);
            q.push(at, Ev::Net(i));
            pushed.push((at, i));
        }
        pushed.sort(); // by time, then by i, which is the insertion order
        let popped: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        let expected: Vec<_> = pushed.into_iter().map(|(t, i)| (t, Ev::Net(i))).collect();
        assert_eq!(popped, expected);
    }

    /// `peek` shows what `pop` will return, and keys order by time, then sequence.
    #[test]
    fn peek_shows_the_next_pop_and_keys_order_by_time_then_sequence() {
        let mut q = EventQueue::default();
        assert_eq!(q.peek(), None);
        assert_eq!(q.peek_time(), None);
        q.push(SimTime::from_nanos(5), Ev::Net(1));
        q.push(SimTime::from_nanos(3), Ev::Net(2));
        assert_eq!(q.peek(), Some((SimTime::from_nanos(3), Ev::Net(2))));
        assert_eq!(q.peek_time(), Some(SimTime::from_nanos(3)));
        assert_eq!(q.peek(), q.pop());
        assert_eq!(q.peek(), Some((SimTime::from_nanos(5), Ev::Net(1))));
        let e = |at, seq| Entry::new(SimTime::from_nanos(at), seq, Ev::Net(0)).key();
        assert!(e(1, 1) < e(1, 2) && e(1, 2) < e(2, 1) && e(1, 1) == e(1, 1));
    }

    /// Random pushes, pops, timer cancels and moves against a sorted list: every pop is the
    /// earliest live entry, a cancelled timer never pops and leaves the heap at once, a moved
    /// one pops as if pushed when it moved, and cancelling or moving twice, a fired timer, or
    /// a reused slot's old key does nothing.
    #[test]
    fn cancelled_timers_leave_at_once_and_the_rest_pop_in_order() {
        let mut q = EventQueue::default();
        let mut slab = crate::slab::Slab::default();
        // (time, sequence, event): the model of what is queued.
        let mut model: Vec<(u64, u64, Ev)> = Vec::new();
        let mut seq = 0u64;
        let mut x = 99u64;
        let mut rand = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        let mut now = 0u64;
        let mut gone: Vec<Key> = Vec::new();
        for step in 0..20_000u32 {
            match rand(10) {
                0..=3 => {
                    let at = now + rand(300);
                    let ev = if rand(2) == 0 {
                        Ev::Timer(slab.insert(()))
                    } else {
                        Ev::Net(step)
                    };
                    q.push(SimTime::from_nanos(at), ev);
                    model.push((at, seq, ev));
                    seq += 1;
                }
                4..=6 => {
                    model.sort_by_key(|&(at, s, _)| (at, s));
                    let expected = (!model.is_empty()).then(|| model.remove(0));
                    let got = q.pop();
                    assert_eq!(
                        got,
                        expected.map(|(at, _, ev)| (SimTime::from_nanos(at), ev))
                    );
                    if let Some((at, _, ev)) = expected {
                        now = at;
                        if let Ev::Timer(key) = ev {
                            slab.remove(key);
                            gone.push(key);
                        }
                    }
                }
                7..=8 => {
                    let timers: Vec<usize> = (0..model.len())
                        .filter(|&i| matches!(model[i].2, Ev::Timer(_)))
                        .collect();
                    if timers.is_empty() {
                        continue;
                    }
                    let i = timers[rand(timers.len() as u64) as usize];
                    let Ev::Timer(key) = model[i].2 else {
                        unreachable!()
                    };
                    let before = q.len();
                    if rand(2) == 0 {
                        model.remove(i);
                        assert!(q.cancel_timer(key));
                        assert_eq!(q.len(), before - 1, "a cancelled timer leaves the heap");
                        assert!(!q.cancel_timer(key), "cancelled twice");
                        slab.remove(key);
                        gone.push(key);
                    } else {
                        // Moved earlier or later: queued as if pushed now.
                        let at = now + rand(300);
                        assert!(q.reschedule_timer(key, SimTime::from_nanos(at)));
                        assert_eq!(q.len(), before);
                        model[i] = (at, seq, Ev::Timer(key));
                        seq += 1;
                    }
                }
                _ => {
                    // A key whose timer fired or was cancelled (its slot maybe reused since).
                    if let Some(&key) = gone.get(rand(gone.len() as u64 + 1) as usize) {
                        let before = q.len();
                        assert!(!q.cancel_timer(key));
                        assert!(!q.reschedule_timer(key, SimTime::from_nanos(now)));
                        assert_eq!(q.len(), before);
                    }
                }
            }
            assert_eq!(q.len(), model.len());
        }
        model.sort_by_key(|&(at, s, _)| (at, s));
        let rest: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        let expected: Vec<_> = model
            .into_iter()
            .map(|(at, _, ev)| (SimTime::from_nanos(at), ev))
            .collect();
        assert_eq!(rest, expected);
    }

    /// A moved timer takes a fresh place in the insertion order: after what was queued before
    /// the move, before what is queued after it, at the same time.
    #[test]
    fn a_moved_timer_queues_between_what_came_before_and_after_the_move() {
        let mut q = EventQueue::default();
        let mut slab = crate::slab::Slab::default();
        let t = SimTime::from_nanos;
        let (a, b, c) = (slab.insert(()), slab.insert(()), slab.insert(()));
        q.push(t(9), Ev::Timer(a));
        q.push(t(5), Ev::Timer(b));
        assert!(q.reschedule_timer(a, t(5)));
        q.push(t(5), Ev::Timer(c));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            [
                (t(5), Ev::Timer(b)),
                (t(5), Ev::Timer(a)),
                (t(5), Ev::Timer(c))
            ]
        );
    }

    #[test]
    fn entries_round_trip_every_kind() {
        let mut slab = crate::slab::Slab::default();
        let key = slab.insert(());
        for ev in [
            Ev::Timer(key),
            Ev::Arrival(key),
            Ev::Release(key),
            Ev::Net(u32::MAX),
        ] {
            assert_eq!(Entry::new(SimTime::ZERO, 7, ev).ev(), ev);
        }
    }

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
