//! A small stable 64-bit hasher for trace hashes and stream names. Unlike `std`'s hashers its
//! output is fixed by this file alone: the same input gives the same hash on every platform,
//! Rust version and run, which is what lets two runs be compared by hash.

/// A stable, non-cryptographic 64-bit hash over a sequence of words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StableHasher {
    state: u64,
}

/// Multiplier of the mixing step (an odd 64-bit constant with well-spread bits).
const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl Default for StableHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl StableHasher {
    /// A hasher in its initial state.
    pub const fn new() -> Self {
        StableHasher {
            state: 0x243F_6A88_85A3_08D3,
        }
    }

    /// Feeds one 64-bit word.
    #[inline]
    pub fn write_u64(&mut self, word: u64) {
        self.state = (self.state.rotate_left(23) ^ word).wrapping_mul(MUL);
    }

    /// Feeds bytes, eight at a time (little-endian), then their length.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for_each_word(bytes, |word| self.write_u64(word));
        self.write_u64(bytes.len() as u64);
    }

    /// Feeds a string's UTF-8 bytes.
    pub fn write_str(&mut self, text: &str) {
        self.write_bytes(text.as_bytes());
    }

    /// The hash of everything fed so far (the hasher can keep going afterwards).
    pub fn finish(&self) -> u64 {
        // The finaliser of MurmurHash3 spreads the last word's bits over the whole result.
        let mut x = self.state;
        x ^= x >> 33;
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        x ^= x >> 33;
        x = x.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        x ^ (x >> 33)
    }
}

/// Calls `f` with `bytes` as little-endian 64-bit words, the last one padded with zeros (built
/// without a copy); no word for no bytes.
pub(crate) fn for_each_word(bytes: &[u8], mut f: impl FnMut(u64)) {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        f(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        f(rest.iter().rev().fold(0u64, |w, &b| w << 8 | u64::from(b)));
    }
}

/// The stable hash of one string.
pub fn hash_str(text: &str) -> u64 {
    let mut h = StableHasher::new();
    h.write_str(text);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_pinned() {
        // Pinned values: if these change, every recorded trace hash changes with them.
        assert_eq!(hash_str(""), 0xf752_8374_dac7_8cba);
        assert_eq!(hash_str("link:client->server"), 0x25e4_7e0c_e67c_7ab9);
    }

    #[test]
    fn hash_separates_order_and_length() {
        assert_ne!(hash_str("ab"), hash_str("ba"));
        assert_ne!(hash_str("a"), hash_str("a\0"));
        let mut a = StableHasher::new();
        a.write_u64(1);
        a.write_u64(2);
        let mut b = StableHasher::new();
        b.write_u64(2);
        b.write_u64(1);
        assert_ne!(a.finish(), b.finish());
    }
}
