//! Hash maps for lookups only: a fast multiply-rotate hasher (like rustc's FxHash) whose
//! output never reaches anything observable, because these maps are looked up and never
//! iterated. Anything iterated, or whose order can reach a trace or a report, uses a
//! `BTreeMap` instead.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The hasher of [`FastMap`].
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    /// Whole words at a time: an IPv4 address is one round, not four.
    fn write(&mut self, bytes: &[u8]) {
        // The length goes into the first word (a short tail and the same bytes with zeros
        // after them differ), not into a round of its own.
        let mut len = (bytes.len() as u64) << 59;
        crate::hash::for_each_word(bytes, |word| {
            self.write_u64(word ^ len);
            len = 0;
        });
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with [`FastHasher`]: for lookups only, never iterated.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::hash::BuildHasher;
    use std::net::{Ipv4Addr, SocketAddrV4};

    /// The hasher spreads what it hashes: 4-tuples that differ in any field, and each integer
    /// width and byte length on its own. A hasher that dropped its input would still give
    /// right answers, but every lookup would walk one bucket (the tables hold up to millions
    /// of connections in a sweep).
    #[test]
    fn the_fast_hasher_spreads_its_keys() {
        let build = BuildHasherDefault::<FastHasher>::default();
        let mut seen = BTreeSet::new();
        for a in 0..16u32 {
            for port in 40000..40064u16 {
                let local = SocketAddrV4::new(Ipv4Addr::from(0x0a00_0001 + a), port);
                let remote = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
                seen.insert(build.hash_one((local, remote)));
            }
        }
        assert_eq!(seen.len(), 16 * 64, "4-tuples collide");
        type Write = fn(&mut FastHasher, u8);
        let widths: [(&str, Write); 8] = [
            ("u8", |h, n| h.write_u8(n)),
            ("u16", |h, n| h.write_u16(u16::from(n) << 8)),
            ("u32", |h, n| h.write_u32(u32::from(n) << 24)),
            ("u64", |h, n| h.write_u64(u64::from(n) << 56)),
            ("usize", |h, n| h.write_usize(usize::from(n))),
            ("bytes", |h, n| h.write(&[1, n])),
            ("word", |h, n| h.write(&[1, 2, 3, 4, 5, 6, 7, n])),
            ("word and byte", |h, n| {
                h.write(&[1, 2, 3, 4, 5, 6, 7, 8, n])
            }),
        ];
        for (name, write) in widths {
            let mut seen = BTreeSet::new();
            for n in 0..=255u8 {
                let mut h = FastHasher::default();
                write(&mut h, n);
                seen.insert(h.finish());
            }
            assert_eq!(seen.len(), 256, "{name}");
        }
        // A tail and the same tail with a zero after it differ.
        let one = |bytes: &[u8]| {
            let mut h = FastHasher::default();
            h.write(bytes);
            h.finish()
        };
        assert_ne!(one(&[7]), one(&[7, 0]));
        assert_ne!(one(&[]), one(&[0]));
    }
}
