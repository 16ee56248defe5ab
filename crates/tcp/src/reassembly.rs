//! Out-of-order reassembly (RFC 9293 §3.10.7.4, seventh step): segments that arrive ahead of
//! RCV.NXT wait here until the gap before them is filled. Overlaps are trimmed so that no byte
//! is stored, or delivered, twice.

use netsim_core::Seq;

/// Data received beyond RCV.NXT, as disjoint runs sorted by sequence number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reassembly {
    runs: Vec<(Seq, Vec<u8>)>,
}

impl Reassembly {
    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.runs.iter().map(|(_, d)| d.len()).sum()
    }

    /// Stores `data` starting at `seq`, keeping only bytes in `[rcv_nxt, rcv_nxt + window)`
    /// not already stored.
    pub fn insert(&mut self, seq: Seq, data: &[u8], rcv_nxt: Seq, window: u32) {
        // Offsets relative to rcv_nxt make the wrap-around disappear.
        let rel = |s: Seq| s.diff(rcv_nxt) as i64;
        let mut start = rel(seq);
        let mut bytes = data;
        if start < 0 {
            let skip = (-start) as usize;
            if skip >= bytes.len() {
                return;
            }
            bytes = &bytes[skip..];
            start = 0;
        }
        let end = (start + bytes.len() as i64).min(i64::from(window));
        if end <= start {
            return;
        }
        bytes = &bytes[..(end - start) as usize];
        // Cut the new run into the pieces that fall in gaps between existing runs.
        let mut pieces: Vec<(i64, &[u8])> = Vec::new();
        let mut cursor = start;
        for (s, d) in &self.runs {
            let (rs, re) = (rel(*s), rel(*s) + d.len() as i64);
            if re <= cursor {
                continue;
            }
            if rs >= end {
                break;
            }
            if rs > cursor {
                let piece_end = rs.min(end);
                pieces.push((
                    cursor,
                    &bytes[(cursor - start) as usize..(piece_end - start) as usize],
                ));
            }
            cursor = cursor.max(re);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            pieces.push((cursor, &bytes[(cursor - start) as usize..]));
        }
        for (at, piece) in pieces {
            let seq = rcv_nxt.add(at as u32);
            let pos = self.runs.partition_point(|(s, _)| rel(*s) < at);
            self.runs.insert(pos, (seq, piece.to_vec()));
        }
    }

    /// Takes the bytes that now continue `rcv_nxt` without a gap, in order.
    pub fn pop_ready(&mut self, rcv_nxt: Seq, out: &mut Vec<u8>) {
        let mut next = rcv_nxt;
        let mut taken = 0;
        for (s, d) in &self.runs {
            let start = s.diff(next);
            if start > 0 {
                break;
            }
            let skip = (-start) as usize;
            if skip < d.len() {
                out.extend_from_slice(&d[skip..]);
                next = next.add((d.len() - skip) as u32);
            }
            taken += 1;
        }
        self.runs.drain(..taken);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_runs_fill_in_without_duplicates() {
        let mut r = Reassembly::default();
        let base = Seq(u32::MAX - 2); // across the wrap
        r.insert(base.add(6), b"ghi", base, 100);
        r.insert(base.add(3), b"defg", base, 100); // overlaps "g"
        r.insert(base.add(6), b"ghi", base, 100); // exact duplicate
        assert_eq!(r.len(), 6);
        let mut out = Vec::new();
        r.pop_ready(base, &mut out);
        assert!(out.is_empty(), "nothing continues rcv_nxt yet");
        r.insert(base, b"abc", base, 100);
        r.pop_ready(base, &mut out);
        assert_eq!(out, b"abcdefghi");
        assert!(r.is_empty());
    }

    /// Every stored run holds bytes: a segment that starts where a run starts, or ends where
    /// stored data ends, adds no empty run (a retransmission storm would otherwise grow the
    /// queue by one run per copy).
    #[test]
    fn duplicates_and_abutting_segments_store_no_empty_runs() {
        let mut r = Reassembly::default();
        let base = Seq(100);
        r.insert(base.add(3), b"def", base, 100);
        for _ in 0..3 {
            r.insert(base.add(3), b"def", base, 100); // exact duplicate
            r.insert(base.add(3), b"defghi", base, 100); // starts where the run starts
        }
        r.insert(base.add(12), b"mno", base, 100);
        r.insert(base.add(6), b"ghijklmno", base, 100); // ends where stored data ends
        assert_eq!(r.len(), 12);
        assert!(r.runs.iter().all(|(_, d)| !d.is_empty()), "{:?}", r.runs);
        assert_eq!(r.runs.len(), 4, "{:?}", r.runs);
        let mut out = Vec::new();
        r.insert(base, b"abc", base, 100);
        r.pop_ready(base, &mut out);
        assert_eq!(out, b"abcdefghijklmno");
    }

    #[test]
    fn bytes_outside_the_window_are_not_kept() {
        let mut r = Reassembly::default();
        r.insert(Seq(10), b"0123456789", Seq(12), 5);
        let mut out = Vec::new();
        r.pop_ready(Seq(12), &mut out);
        assert_eq!(out, b"23456");
    }
}
