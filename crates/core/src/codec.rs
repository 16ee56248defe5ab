//! The byte-level wire codec: a [`Packet`] emitted as real IPv4 + TCP header bytes and parsed
//! back, and the internet checksums on their own (for the pcap writer and for packets read from
//! TUN devices). Like smoltcp's `wire` module, parsing checks every length and checksum and
//! returns a typed error, never panics; the in-memory types stay in [`crate::wire`]. No protocol
//! rule lives here: an MSS on a non-SYN or a window scale above 14 is carried as found.

use std::net::Ipv4Addr;

use crate::wire::{IPV4_HEADER_LEN, OptionItem, Packet, TCP_HEADER_LEN, TcpOptions};

/// IP protocol number of TCP (RFC 9293 §3.1).
const IPPROTO_TCP: u8 = 6;
/// Most option bytes a TCP header carries: a data offset of 15 words less the 5 fixed ones.
pub const TCP_OPTIONS_LEN_MAX: usize = 40;
/// The TTL written on emitted packets: Linux's default (`net.ipv4.ip_default_ttl`).
pub const IPV4_TTL: u8 = 64;
/// IPv4 flags and fragment offset as Linux writes them for TCP: Don't Fragment, because TCP
/// does path MTU discovery (RFC 1191, `net.ipv4.ip_no_pmtu_disc = 0`).
const IPV4_FLAGS_DF: u16 = 0x4000;

/// TCP option kinds (IANA "TCP Option Kind Numbers").
mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Why a packet cannot be emitted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The options take more than the 40 bytes a TCP header has room for.
    #[error("TCP options take {len} bytes, at most {TCP_OPTIONS_LEN_MAX} fit in a header")]
    OptionsTooLong {
        /// Bytes the options take, padded.
        len: usize,
    },
    /// The packet is longer than an IPv4 total length can say.
    #[error("packet of {len} bytes is longer than the 65535 an IPv4 header can carry")]
    PacketTooLong {
        /// Bytes the packet would take.
        len: usize,
    },
    /// The output buffer is shorter than the packet.
    #[error("buffer of {len} bytes is too short for a packet of {needed}")]
    BufferTooShort {
        /// Bytes the packet takes.
        needed: usize,
        /// Bytes in the buffer.
        len: usize,
    },
}

/// Writes `packet` as IPv4 + TCP bytes at the start of `buf` and returns how many
/// ([`Packet::wire_len`]). `ip_id` is the IPv4 identification field (0 when the caller has none);
/// the options are written in [`TcpOptions::layout`]'s order, Linux's.
pub fn emit(packet: &Packet, ip_id: u16, buf: &mut [u8]) -> Result<usize, EmitError> {
    let s = &packet.segment;
    let options_len = s.options.wire_len();
    if options_len > TCP_OPTIONS_LEN_MAX {
        return Err(EmitError::OptionsTooLong { len: options_len });
    }
    let total_len = packet.wire_len();
    let Ok(total_len_u16) = u16::try_from(total_len) else {
        return Err(EmitError::PacketTooLong { len: total_len });
    };
    let Some(out) = buf.get_mut(..total_len) else {
        return Err(EmitError::BufferTooShort {
            needed: total_len,
            len: buf.len(),
        });
    };
    let (ip, tcp) = out.split_at_mut(IPV4_HEADER_LEN);

    // RFC 791 §3.1: version 4, IHL 5 (no options), TOS 0.
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2..4].copy_from_slice(&total_len_u16.to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[6..8].copy_from_slice(&IPV4_FLAGS_DF.to_be_bytes());
    ip[8] = IPV4_TTL;
    ip[9] = IPPROTO_TCP;
    ip[10..12].fill(0);
    ip[12..16].copy_from_slice(&packet.src.octets());
    ip[16..20].copy_from_slice(&packet.dst.octets());
    let ip_checksum = internet_checksum(ip);
    ip[10..12].copy_from_slice(&ip_checksum.to_be_bytes());

    // RFC 9293 §3.1. The reserved bits and the urgent pointer are 0: `Segment` has neither.
    let header_len = TCP_HEADER_LEN + options_len;
    tcp[0..2].copy_from_slice(&s.src_port.to_be_bytes());
    tcp[2..4].copy_from_slice(&s.dst_port.to_be_bytes());
    tcp[4..8].copy_from_slice(&s.seq.0.to_be_bytes());
    tcp[8..12].copy_from_slice(&s.ack.0.to_be_bytes());
    tcp[12] = ((header_len / 4) as u8) << 4;
    tcp[13] = s.flags.0;
    tcp[14..16].copy_from_slice(&s.window.to_be_bytes());
    tcp[16..20].fill(0);
    write_options(&s.options, &mut tcp[TCP_HEADER_LEN..header_len]);
    tcp[header_len..].copy_from_slice(&s.payload);
    let tcp_checksum = tcp_checksum(packet.src, packet.dst, tcp);
    tcp[16..18].copy_from_slice(&tcp_checksum.to_be_bytes());
    Ok(total_len)
}

/// [`emit`] into a new vector of exactly [`Packet::wire_len`] bytes.
pub fn to_bytes(packet: &Packet, ip_id: u16) -> Result<Vec<u8>, EmitError> {
    let mut buf = vec![0; packet.wire_len()];
    emit(packet, ip_id, &mut buf)?;
    Ok(buf)
}

/// Writes the options in Linux's order into `out`, which is [`TcpOptions::wire_len`] long, and
/// pads the rest with end-of-list bytes (RFC 9293 §3.1: the padding is zeros).
fn write_options(options: &TcpOptions, out: &mut [u8]) {
    let mut at = 0;
    for item in options.layout() {
        let len = item.wire_len();
        let o = &mut out[at..at + len];
        match item {
            OptionItem::Nop => o[0] = kind::NOP,
            OptionItem::Mss(mss) => {
                o[..2].copy_from_slice(&[kind::MSS, 4]);
                o[2..].copy_from_slice(&mss.to_be_bytes());
            }
            OptionItem::WindowScale(shift) => o.copy_from_slice(&[kind::WINDOW_SCALE, 3, shift]),
            OptionItem::SackPermitted => o.copy_from_slice(&[kind::SACK_PERMITTED, 2]),
            OptionItem::Timestamps(ts) => {
                o[..2].copy_from_slice(&[kind::TIMESTAMPS, 10]);
                o[2..6].copy_from_slice(&ts.val.to_be_bytes());
                o[6..].copy_from_slice(&ts.ecr.to_be_bytes());
            }
            OptionItem::Sack(blocks) => {
                o[..2].copy_from_slice(&[kind::SACK, len as u8]);
                for (i, &(left, right)) in blocks.as_slice().iter().enumerate() {
                    let b = &mut o[2 + 8 * i..2 + 8 * (i + 1)];
                    b[..4].copy_from_slice(&left.0.to_be_bytes());
                    b[4..].copy_from_slice(&right.0.to_be_bytes());
                }
            }
        }
        at += len;
    }
    out[at..].fill(kind::EOL);
}

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
    use crate::wire::{SackBlocks, Segment, Seq, TcpFlags, Timestamps};

    /// Bytes from tcpdump's hex form: pairs of digits, spaces ignored.
    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// A Linux SYN, `10.0.0.1:49152 > 10.0.0.2:80 [S] seq 195939070 win 64240
    /// options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7]`, IP id 0x1234. The checksums
    /// were computed apart from this code: the IPv4 one by hand (the words sum to eb79, so
    /// 1486), the TCP one with a few lines of Python summing the pseudo-header and segment.
    fn linux_syn() -> (Packet, Vec<u8>) {
        let packet = Packet {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            segment: Segment {
                src_port: 49152,
                dst_port: 80,
                seq: Seq(0x0bad_cafe),
                ack: Seq(0),
                flags: TcpFlags::SYN,
                window: 64240,
                options: TcpOptions {
                    mss: Some(1460),
                    window_scale: Some(7),
                    sack_permitted: true,
                    timestamps: Some(Timestamps { val: 1, ecr: 0 }),
                    sack: SackBlocks::NONE,
                },
                payload: Vec::new(),
            },
        };
        let bytes = hex(
            "45 00 00 3c 12 34 40 00 40 06 14 86 0a 00 00 01 0a 00 00 02 \
             c0 00 00 50 0b ad ca fe 00 00 00 00 a0 02 fa f0 a2 0f 00 00 \
             02 04 05 b4 04 02 08 0a 00 00 00 01 00 00 00 00 01 03 03 07",
        );
        (packet, bytes)
    }

    /// `10.0.0.2:80 > 10.0.0.1:49152 [P.] seq 5001 ack 2449 win 501 options [nop,nop,TS val 7
    /// ecr 9,nop,nop,sack 2 {3897:5345}{6793:8241}] len 5` carrying `hello` (an odd length),
    /// IP id 0; checksums from the same Python.
    fn sack_ack_with_data() -> (Packet, Vec<u8>) {
        let packet = Packet {
            src: Ipv4Addr::new(10, 0, 0, 2),
            dst: Ipv4Addr::new(10, 0, 0, 1),
            segment: Segment {
                src_port: 80,
                dst_port: 49152,
                seq: Seq(5001),
                ack: Seq(2449),
                flags: TcpFlags::PSH | TcpFlags::ACK,
                window: 501,
                options: TcpOptions {
                    timestamps: Some(Timestamps { val: 7, ecr: 9 }),
                    sack: SackBlocks::from_slice(&[(Seq(3897), Seq(5345)), (Seq(6793), Seq(8241))]),
                    ..TcpOptions::default()
                },
                payload: b"hello".to_vec(),
            },
        };
        let bytes = hex(
            "45 00 00 4d 00 00 40 00 40 06 26 a9 0a 00 00 02 0a 00 00 01 \
             00 50 c0 00 00 00 13 89 00 00 09 91 d0 18 01 f5 8a 70 00 00 \
             01 01 08 0a 00 00 00 07 00 00 00 09 01 01 05 12 00 00 0f 39 \
             00 00 14 e1 00 00 1a 89 00 00 20 31 68 65 6c 6c 6f",
        );
        (packet, bytes)
    }

    #[test]
    fn emit_writes_a_linux_syn_byte_for_byte() {
        let (packet, bytes) = linux_syn();
        assert_eq!(to_bytes(&packet, 0x1234), Ok(bytes));
    }

    #[test]
    fn emit_writes_sack_blocks_and_an_odd_payload() {
        let (packet, bytes) = sack_ack_with_data();
        assert_eq!(to_bytes(&packet, 0), Ok(bytes));
    }

    #[test]
    fn emit_refuses_what_does_not_fit() {
        let (mut packet, _) = linux_syn();
        let mut buf = [0u8; 59];
        assert_eq!(
            emit(&packet, 0, &mut buf),
            Err(EmitError::BufferTooShort {
                needed: 60,
                len: 59
            })
        );
        // 20 (SYN options) + 2 (nop,nop) + 2 + 8 = 32 fits; with three blocks 48 does not.
        packet.segment.options.sack = SackBlocks::from_slice(&[(Seq(1), Seq(2))]);
        assert!(to_bytes(&packet, 0).is_ok());
        packet.segment.options.sack = SackBlocks::from_slice(&[(Seq(1), Seq(2)); 3]);
        assert_eq!(
            to_bytes(&packet, 0),
            Err(EmitError::OptionsTooLong { len: 48 })
        );
        packet.segment.options = TcpOptions::default();
        packet.segment.payload = vec![0; 65535 - 40 + 1];
        assert_eq!(
            to_bytes(&packet, 0),
            Err(EmitError::PacketTooLong { len: 65536 })
        );
    }

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
