//! The stack's timer queue: entries ordered by key, earliest first, as a binary heap would
//! give them, in two parts. Most keys arrive in order (every TIME_WAIT entry expires a fixed
//! time after it began), and those go to the back of a deque at O(1); a key earlier than the
//! deque's last goes to a heap. The earliest entry is the earlier of the two fronts.
//!
//! Why: a client that opens connections one after another keeps one TIME_WAIT entry per
//! connection of the last 60 s, about 13 000 in the short-connection benchmark, and a heap of
//! them cost 14 levels per push and pop (issue 13). Connection timers (retransmission,
//! delayed ACK, keep-alive) come earlier than the newest TIME_WAIT expiry and stay in a small
//! heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A min-queue of keys: pops in key order, whatever the order of pushes.
#[derive(Debug)]
pub(crate) struct TimerQueue<K: Ord + Copy> {
    /// Keys pushed in order: non-decreasing front to back.
    sorted: VecDeque<K>,
    /// Keys that came earlier than the back of `sorted` when pushed.
    heap: BinaryHeap<Reverse<K>>,
}

impl<K: Ord + Copy> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue {
            sorted: VecDeque::new(),
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> TimerQueue<K> {
    pub(crate) fn push(&mut self, key: K) {
        if self.sorted.back().is_none_or(|&last| last <= key) {
            self.sorted.push_back(key);
        } else {
            self.heap.push(Reverse(key));
        }
    }

    /// The earliest key.
    pub(crate) fn peek(&self) -> Option<K> {
        match (self.sorted.front(), self.heap.peek()) {
            (Some(&a), Some(&Reverse(b))) => Some(a.min(b)),
            (a, b) => a.copied().or(b.map(|r| r.0)),
        }
    }

    /// Takes the earliest key.
    pub(crate) fn pop(&mut self) -> Option<K> {
        let from_heap = match (self.sorted.front(), self.heap.peek()) {
            (Some(a), Some(Reverse(b))) => b < a,
            (None, _) => true,
            (Some(_), None) => false,
        };
        if from_heap {
            self.heap.pop().map(|r| r.0)
        } else {
            self.sorted.pop_front()
        }
    }

    /// How many keys are queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sorted.len() + self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pops come in key order for pushes in any order, interleaved with pops, against a
    /// sorted list: mostly rising keys (the TIME_WAIT pattern) with earlier ones mixed in.
    #[test]
    fn pops_in_key_order_whatever_the_pushes() {
        let mut q = TimerQueue::default();
        let mut model: Vec<(u64, u32)> = Vec::new();
        let mut x = 7u64;
        let mut rand = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        let mut now = 0u64;
        for i in 0..20_000u32 {
            match rand(8) {
                0..=2 => {
                    // In order: a fixed time ahead, ties broken by a smaller or larger id.
                    let key = (now + 1_000, rand(4) as u32);
                    q.push(key);
                    model.push(key);
                }
                3..=4 => {
                    let key = (now + rand(1_500), i);
                    q.push(key);
                    model.push(key);
                }
                _ => {
                    model.sort();
                    let expected = (!model.is_empty()).then(|| model.remove(0));
                    assert_eq!(q.peek(), expected);
                    assert_eq!(q.pop(), expected);
                    if let Some((at, _)) = expected {
                        now = at;
                    }
                }
            }
            assert_eq!(q.len(), model.len());
        }
        model.sort();
        assert_eq!(std::iter::from_fn(|| q.pop()).collect::<Vec<_>>(), model);
        assert_eq!(q.peek(), None);
    }

    #[test]
    fn equal_keys_pop_as_often_as_pushed_and_rising_keys_skip_the_heap() {
        let mut q = TimerQueue::default();
        for k in [1, 2, 2, 3] {
            q.push(k);
        }
        assert!(q.heap.is_empty(), "keys in order stay in the deque");
        q.push(2);
        assert_eq!(q.heap.len(), 1);
        assert_eq!(
            std::iter::from_fn(|| q.pop()).collect::<Vec<_>>(),
            [1, 2, 2, 2, 3]
        );
    }
}
