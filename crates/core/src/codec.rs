//! The byte-level wire codec: a [`Packet`] emitted as real IPv4 + TCP header bytes and parsed
//! back, and the internet checksums on their own (for the pcap writer and for packets read from
//! TUN devices). Like smoltcp's `wire` module, parsing checks every length and checksum and
//! returns a typed error, never panics; the in-memory types stay in [`crate::wire`]. No protocol
//! rule lives here: an MSS on a non-SYN or a window scale above 14 is carried as found.

use std::net::Ipv4Addr;

/// IP protocol number of TCP (RFC 9293 §3.1).
const IPPROTO_TCP: u8 = 6;

/// Adds `data` to a one's-complement accumulator as big-endian 16-bit words, an odd last byte
/// padded with a zero (RFC 1071 §4.1). The carries are folded only at the end ([`fold`]): a
/// 64-bit accumulator cannot overflow on any slice that fits in memory.
fn sum_words(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds the carries of an accumulator back into 16 bits (end-around carry, RFC 1071 §2).
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The accumulator of the TCP pseudo-header (RFC 9293 §3.1): source, destination, zero,
/// protocol 6 and the TCP length (header, options and data).
fn pseudo_header_acc(src: Ipv4Addr, dst: Ipv4Addr, tcp_len: u64) -> u64 {
    let acc = sum_words(0, &src.octets());
    let acc = sum_words(acc, &dst.octets());
    acc + u64::from(IPPROTO_TCP) + (tcp_len & 0xffff) + (tcp_len >> 16)
}

/// The internet checksum of `data` (RFC 1071): the one's complement of the one's-complement sum
/// of its 16-bit words. Over bytes that include a correct checksum field it is 0.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(sum_words(0, data))
}

/// The folded, uncomplemented one's-complement sum of the TCP pseudo-header for a segment of
/// `tcp_len` bytes: what a sender leaves in the checksum field when a NIC (or a TUN device's
/// virtio-net header) completes the checksum.
pub fn tcp_pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, tcp_len: u16) -> u16 {
    fold(pseudo_header_acc(src, dst, u64::from(tcp_len)))
}

/// The TCP checksum of `segment` (header, options, data) between `src` and `dst`, over the
/// IPv4 pseudo-header (RFC 9293 §3.1). With the checksum field zeroed it is the value to write;
/// over a segment whose checksum field is correct it is 0.
pub fn tcp_checksum(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    let acc = pseudo_header_acc(src, dst, segment.len() as u64);
    !fold(sum_words(acc, segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internet_checksum_matches_known_values() {
        let cases: [(&str, &[u8], u16); 5] = [
            // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2, so the checksum is 220d.
            (
                "rfc1071 example",
                &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7],
                0x220d,
            ),
            // The IPv4 header of the Wikipedia example, checksum field zeroed: b861.
            (
                "ipv4 header",
                &[
                    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0,
                    0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
                ],
                0xb861,
            ),
            // The same header with its checksum in place verifies to 0.
            (
                "ipv4 header, verified",
                &[
                    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0,
                    0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
                ],
                0x0000,
            ),
            // An odd last byte is padded with a zero: 0102 + 0300 = 0402.
            ("odd length", &[0x01, 0x02, 0x03], !0x0402),
            ("empty", &[], 0xffff),
        ];
        for (name, data, expected) in cases {
            assert_eq!(internet_checksum(data), expected, "{name}");
        }
    }

    #[test]
    fn tcp_checksum_covers_the_pseudo_header() {
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        // 0a00 + 0001 + 0a00 + 0002 + 0006 + 0028 (40 bytes) = 1431.
        assert_eq!(tcp_pseudo_header_sum(src, dst, 40), 0x1431);
        // An empty segment: the checksum is the complement of the pseudo-header sum alone.
        assert_eq!(tcp_checksum(src, dst, &[]), !0x1409);
        // Swapping the addresses does not change a one's-complement sum.
        assert_eq!(
            tcp_checksum(dst, src, &[1, 2, 3]),
            tcp_checksum(src, dst, &[1, 2, 3])
        );
    }
}
