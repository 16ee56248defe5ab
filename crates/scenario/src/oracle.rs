//! The byte-stream oracle. Every byte a script sends is a function of (incarnation, direction,
//! offset), so the receiver can tell whether what it read is what its peer sent, and if not,
//! whether it came from an older incarnation of the same 4-tuple (stale data: the hazard
//! TIME_WAIT exists to prevent) or from nowhere (corruption).
//!
//! The oracle watches from outside the simulation: it is shared by the scripts of all hosts of
//! one run and never influences what happens, only what is reported.

use std::net::SocketAddrV4;

use crate::format::ViolationDef;

/// One incarnation of a 4-tuple: a connection from SYN to CLOSED. Its uid and which sides
/// (0 = the lower address, 1 = the higher) have joined it, in one word: a run that reuses
/// its ports keeps up to 16 of these for each of tens of thousands of 4-tuples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Incarnation(u64);

impl Incarnation {
    fn new(uid: u64, side: usize) -> Incarnation {
        Incarnation(uid << 2 | 1 << side)
    }
    fn uid(self) -> u64 {
        self.0 >> 2
    }
    fn joined(self, side: usize) -> bool {
        self.0 & 1 << side != 0
    }
    fn join(&mut self, side: usize) {
        self.0 |= 1 << side;
    }
}

/// A violation found by the oracle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What kind.
    pub kind: ViolationDef,
    /// Where and what, for people.
    pub detail: String,
}

/// Incarnations of one 4-tuple the oracle remembers. A byte from an older one than these
/// still fails the run, as corrupt rather than stale; without a bound, a run that reuses its
/// ports for hours would keep one record per connection it ever made.
const KEPT_INCARNATIONS: usize = 16;

/// The registry of incarnations and the violations found.
#[derive(Debug, Default)]
pub struct Oracle {
    /// By canonical 4-tuple (looked up, never iterated).
    incarnations: netsim_core::fastmap::FastMap<(SocketAddrV4, SocketAddrV4), Vec<Incarnation>>,
    next_uid: u64,
    /// Violations, in the order found.
    pub violations: Vec<Violation>,
    /// The expected bytes of the read being checked (kept to reuse its memory).
    scratch: Vec<u8>,
}

/// Which side of a 4-tuple an endpoint is, and the 4-tuple in a canonical order.
fn canonical(local: SocketAddrV4, remote: SocketAddrV4) -> ((SocketAddrV4, SocketAddrV4), usize) {
    if local <= remote {
        ((local, remote), 0)
    } else {
        ((remote, local), 1)
    }
}

/// The 8 pattern bytes of word `word` of the stream sent by side `side` of incarnation `uid`.
fn pattern_word(uid: u64, side: usize, word: u64) -> u64 {
    let mut z = (uid << 1 | side as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(word);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The bytes of the stream sent by side `side` of incarnation `uid`, from `offset` on: one
/// hash per 8 bytes, byte by byte (the definition [`pattern_into`] is held to).
#[cfg(test)]
fn pattern_from(uid: u64, side: usize, offset: u64) -> impl Iterator<Item = u8> {
    let mut word = pattern_word(uid, side, offset / 8);
    (offset..).map(move |at| {
        if at % 8 == 0 {
            word = pattern_word(uid, side, at / 8);
        }
        (word >> (8 * (at % 8))) as u8
    })
}

/// `len` pattern bytes from `offset`.
pub fn pattern(uid: u64, side: usize, offset: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    pattern_into(uid, side, offset, len, &mut out);
    out
}

/// Appends `len` pattern bytes from `offset` to `out`, a word at a time: the same bytes as
/// [`pattern`] makes, for a fraction of the work (every byte a script sends
/// or reads goes through here).
pub fn pattern_into(uid: u64, side: usize, offset: u64, len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + len, 0);
    let mut buf = &mut out[start..];
    let mut at = offset;
    // The head, up to the next whole word of the stream.
    let from = (at % 8) as usize;
    if from != 0 && !buf.is_empty() {
        let word = pattern_word(uid, side, at / 8).to_le_bytes();
        let n = (8 - from).min(buf.len());
        buf[..n].copy_from_slice(&word[from..from + n]);
        buf = &mut buf[n..];
        at += n as u64;
    }
    // Whole words, then the tail.
    let mut words = buf.chunks_exact_mut(8);
    for chunk in &mut words {
        chunk.copy_from_slice(&pattern_word(uid, side, at / 8).to_le_bytes());
        at += 8;
    }
    let tail = words.into_remainder();
    if !tail.is_empty() {
        let word = pattern_word(uid, side, at / 8).to_le_bytes();
        let n = tail.len();
        tail.copy_from_slice(&word[..n]);
    }
}

/// The first wrong byte a read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadByte {
    /// Its offset in the stream.
    pub offset: u64,
    /// The older incarnation whose byte it is (stale data), or none (corrupt data).
    pub stale_from: Option<u64>,
}

/// An endpoint's place in the oracle: its incarnation and side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// The incarnation.
    pub uid: u64,
    /// This endpoint's side.
    pub side: usize,
    key: (SocketAddrV4, SocketAddrV4),
}

impl Oracle {
    /// An endpoint starts a connection on `local`–`remote` (connect() or accept()): it joins
    /// the newest incarnation of that 4-tuple if its side has not joined it yet (the peer
    /// opened it), or starts a new one.
    pub fn join(&mut self, local: SocketAddrV4, remote: SocketAddrV4) -> Stream {
        let (key, side) = canonical(local, remote);
        let list = self.incarnations.entry(key).or_default();
        if let Some(last) = list.last_mut() {
            if !last.joined(side) {
                last.join(side);
                return Stream {
                    uid: last.uid(),
                    side,
                    key,
                };
            }
        }
        self.next_uid += 1;
        if list.len() == KEPT_INCARNATIONS {
            list.remove(0);
        }
        list.push(Incarnation::new(self.next_uid, side));
        Stream {
            uid: self.next_uid,
            side,
            key,
        }
    }

    /// Checks bytes `data` read at `offset` by the endpoint `me`. Reports the first wrong
    /// byte as stale (it matches an older incarnation's stream at that offset) or corrupt, and
    /// returns it: its offset and, for stale data, the incarnation it came from.
    pub fn check(
        &mut self,
        me: Stream,
        offset: u64,
        data: &[u8],
        who: impl FnOnce() -> String,
    ) -> Option<BadByte> {
        let peer = 1 - me.side;
        let scratch = &mut self.scratch;
        let mut mismatch = |uid: u64, from: usize| {
            scratch.clear();
            pattern_into(uid, peer, offset + from as u64, data.len() - from, scratch);
            let got = &data[from..];
            // Slices compare whole words at a time; the byte is looked for only when they differ.
            if got == &scratch[..] {
                return None;
            }
            got.iter().zip(scratch.iter()).position(|(g, w)| g != w)
        };
        let bad = mismatch(me.uid, 0)?;
        let at = offset + bad as u64;
        // Stale if the next bytes (up to 8) are exactly what an older incarnation sent there.
        let run = (data.len() - bad).min(8);
        let older = self.incarnations[&me.key]
            .iter()
            .map(|inc| inc.uid())
            .filter(|&uid| uid < me.uid)
            .rev()
            .find(|&uid| mismatch(uid, bad).is_none_or(|n| n >= run));
        let (kind, detail) = match older {
            Some(old) => (
                ViolationDef::StaleData,
                format!(
                    "{}: byte {at} of the stream came from an older incarnation of the \
                     4-tuple (#{} instead of #{})",
                    who(),
                    old,
                    me.uid
                ),
            ),
            None => (
                ViolationDef::CorruptData,
                format!(
                    "{}: byte {at} of the stream is not what the peer sent",
                    who()
                ),
            ),
        };
        self.violations.push(Violation { kind, detail });
        Some(BadByte {
            offset: at,
            stale_from: older,
        })
    }

    /// Records a violation found elsewhere (an illegal transition in the trace).
    pub fn record(&mut self, kind: ViolationDef, detail: String) {
        self.violations.push(Violation { kind, detail });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn stale_bytes_are_named_as_coming_from_the_older_incarnation() {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
        let mut o = Oracle::default();
        let old_client = o.join(c, s);
        let old_server = o.join(s, c);
        assert_eq!(
            old_client.uid, old_server.uid,
            "the server joins the client's"
        );
        let old_bytes = pattern(old_client.uid, old_client.side, 0, 4);
        let new_client = o.join(c, s);
        let new_server = o.join(s, c);
        assert_ne!(new_client.uid, old_client.uid);
        let good = pattern(new_client.uid, new_client.side, 0, 4);
        let who = || "server".to_string();
        assert_eq!(o.check(new_server, 0, &good, who), None);
        assert_eq!(
            o.check(new_server, 0, &old_bytes, who),
            Some(BadByte {
                offset: 0,
                stale_from: Some(old_server.uid)
            })
        );
        assert_eq!(o.violations[0].kind, ViolationDef::StaleData);
        assert_eq!(
            o.check(new_server, 0, b"zzzz", who).map(|b| b.stale_from),
            Some(None)
        );
        assert_eq!(o.violations[1].kind, ViolationDef::CorruptData);
    }

    /// A 4-tuple reused many times keeps only its last incarnations: memory stays bounded,
    /// bytes of a recent one are still named stale, of a forgotten one corrupt.
    #[test]
    fn only_the_last_incarnations_of_a_tuple_are_remembered() {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
        let mut o = Oracle::default();
        let mut clients = Vec::new();
        for _ in 0..100 {
            let client = o.join(c, s);
            o.join(s, c);
            clients.push(client);
        }
        let list = &o.incarnations[&canonical(c, s).0];
        assert_eq!(list.len(), KEPT_INCARNATIONS);
        let server = o.join(s, c);
        let _client = o.join(c, s);
        let who = || "server".to_string();
        let recent = clients[95];
        let bytes = pattern(recent.uid, recent.side, 0, 8);
        assert_eq!(
            o.check(server, 0, &bytes, who).and_then(|b| b.stale_from),
            Some(recent.uid)
        );
        let forgotten = clients[10];
        let bytes = pattern(forgotten.uid, forgotten.side, 0, 8);
        assert_eq!(
            o.check(server, 0, &bytes, who).map(|b| b.stale_from),
            Some(None)
        );
    }

    /// Word by word gives the bytes the byte-by-byte definition gives, at every offset and
    /// length, appended to what the buffer held.
    #[test]
    fn pattern_into_writes_the_bytes_of_the_definition() {
        for offset in 0..20u64 {
            for len in 0..40usize {
                let mut out = vec![7u8];
                pattern_into(3, 1, offset, len, &mut out);
                let want: Vec<u8> = std::iter::once(7)
                    .chain(pattern_from(3, 1, offset).take(len))
                    .collect();
                assert_eq!(out, want, "offset {offset} len {len}");
            }
        }
    }
}
