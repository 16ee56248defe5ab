//! The byte-level wire codec: a [`Packet`] emitted as real IPv4 + TCP bytes ([`emit`],
//! [`to_bytes`]) and parsed back ([`parse`]), and the internet checksums on their own (for the
//! pcap writer and for packets read from TUN devices). As in smoltcp's `wire` module, parsing
//! checks every length and both checksums and returns a typed [`ParseError`]; it never panics.
//! The in-memory types live in [`crate::wire`]; no protocol rule lives here: an MSS on a
//! non-SYN or a window scale above 14 is carried as found, for the TCP crate to judge.
//!
//! Emitting writes what Linux writes for TCP: IHL 5, TOS 0, the caller's identification, DF,
//! TTL 64, the options in [`TcpOptions::layout`]'s order padded with EOL, urgent pointer 0.
//!
//! Parsing takes one IPv4 packet, exactly as long as its total length (as read from a TUN
//! device or a pcap record past the link header), with the TCP options in any order. What a
//! `Packet` cannot represent is treated in one of two ways:
//! - **refused**, when dropping it would change what the segment means: IPv4 options (a header
//!   longer than 20 bytes), fragments and the reserved IPv4 flag, a protocol other than TCP,
//!   and urgent data (URG with a non-zero urgent pointer);
//! - **ignored**, when it means nothing to netsim's TCP model: the TOS byte (DSCP and the ECN
//!   codepoint: netsim models no ECN; the ECE and CWR flags are kept), the identification,
//!   DF, the TTL, the TCP reserved bits (RFC 9293 §3.1: ignored unless implemented), the urgent
//!   pointer when URG is clear, unknown option kinds (skipped by their length), NOP padding and
//!   option order, whatever follows EOL, and all but the last of a repeated option (as Linux's
//!   `tcp_parse_options`).
//!
//! So `emit(parse(bytes))` gives back `bytes` when they are what Linux would write with the
//! same identification, and for other accepted `bytes`, `parse(emit(parse(bytes)))` is
//! `parse(bytes)`, with one exception: options packed tighter than Linux packs them (say
//! timestamps, window scale and three SACK blocks in 39 bytes) can need more than 40 bytes in
//! Linux's layout, and then [`emit`] refuses them ([`EmitError::OptionsTooLong`]).

use std::net::Ipv4Addr;

use crate::wire::{
    IPV4_HEADER_LEN, OptionItem, Packet, SackBlocks, Segment, Seq, TCP_HEADER_LEN, TcpFlags,
    TcpOptions, Timestamps,
};

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

/// Why bytes are not a packet [`parse`] accepts. Offsets count from the first byte of the IPv4
/// header.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than the headers need.
    #[error("packet of {len} bytes is truncated: its headers need {needed}")]
    Truncated {
        /// Bytes the headers read so far need.
        needed: usize,
        /// Bytes given.
        len: usize,
    },
    /// The version nibble (byte 0) is not 4.
    #[error("IP version {found} at byte 0, expected 4")]
    Version {
        /// The version found.
        found: u8,
    },
    /// The IHL nibble (byte 0) is below 5 words.
    #[error("IPv4 header length of {ihl} words at byte 0, at least 5 expected")]
    Ipv4HeaderLength {
        /// The IHL found.
        ihl: u8,
    },
    /// The IPv4 header checksum (bytes 10-11) is wrong.
    #[error("IPv4 header checksum {found:#06x} at byte 10, expected {expected:#06x}")]
    Ipv4Checksum {
        /// The checksum the header's other bytes give.
        expected: u16,
        /// The checksum in the header.
        found: u16,
    },
    /// The IPv4 header carries options, which `Packet` cannot represent.
    #[error("IPv4 header of {header_len} bytes carries options, which are not supported")]
    Ipv4Options {
        /// The header length, IHL times 4.
        header_len: usize,
    },
    /// The total length (bytes 2-3) is not the number of bytes given.
    #[error("IPv4 total length {total_len} at byte 2, but the packet has {len} bytes")]
    TotalLength {
        /// The total length in the header.
        total_len: u16,
        /// Bytes given.
        len: usize,
    },
    /// The reserved flag (the top bit of byte 6) is set (RFC 791 §3.1: must be zero).
    #[error("IPv4 reserved flag set at byte 6")]
    Ipv4ReservedFlag,
    /// The packet is a fragment (More Fragments set or a non-zero offset, bytes 6-7).
    #[error(
        "IPv4 fragment at byte 6 (more fragments: {more_fragments}, offset {offset_bytes} bytes)"
    )]
    Fragment {
        /// The More Fragments flag.
        more_fragments: bool,
        /// The fragment offset, in bytes.
        offset_bytes: u32,
    },
    /// The protocol (byte 9) is not TCP.
    #[error("IP protocol {protocol} at byte 9, expected 6 (TCP)")]
    NotTcp {
        /// The protocol found.
        protocol: u8,
    },
    /// The TCP checksum (bytes 36-37) is wrong.
    #[error("TCP checksum {found:#06x} at byte 36, expected {expected:#06x}")]
    TcpChecksum {
        /// The checksum the pseudo-header and the segment's other bytes give.
        expected: u16,
        /// The checksum in the header.
        found: u16,
    },
    /// The data offset (byte 32) is below 5 words or past the end of the segment.
    #[error("TCP data offset of {data_offset} words at byte 32, segment of {segment_len} bytes")]
    DataOffset {
        /// The data offset found.
        data_offset: u8,
        /// Bytes of TCP header, options and data.
        segment_len: usize,
    },
    /// URG is set with a non-zero urgent pointer (bytes 38-39): `Segment` has no urgent data.
    #[error("urgent pointer {pointer} at byte 38 with URG set: urgent data is not supported")]
    UrgentData {
        /// The urgent pointer found.
        pointer: u16,
    },
    /// An option kind is the last byte of the option list, with no room for its length.
    #[error("TCP option kind {kind} at byte {offset} has no length byte")]
    OptionLengthMissing {
        /// Offset of the option's kind byte.
        offset: usize,
        /// The option kind.
        kind: u8,
    },
    /// An option's length runs past the end of the option list.
    #[error("TCP option kind {kind} at byte {offset} has length {len}, only {room} bytes left")]
    OptionOverrun {
        /// Offset of the option's kind byte.
        offset: usize,
        /// The option kind.
        kind: u8,
        /// The option's length byte.
        len: u8,
        /// Bytes from the kind byte to the end of the option list.
        room: usize,
    },
    /// An option's length is below 2, or not the one its kind has (MSS 4, window scale 3,
    /// SACK-permitted 2, timestamps 10, SACK 2 + 8 per block with 1 to 4 blocks).
    #[error("TCP option kind {kind} at byte {offset} has invalid length {len}")]
    OptionLength {
        /// Offset of the option's kind byte.
        offset: usize,
        /// The option kind.
        kind: u8,
        /// The option's length byte.
        len: u8,
    },
}

/// Reads a big-endian u16 at `at`; the caller has checked the length.
fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// Reads a big-endian u32 at `at`; the caller has checked the length.
fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The checksum `bytes` should carry in the 16-bit field at `field`, given the sum `acc` of
/// everything else it covers, or `None` when the field is right. The check sums the field too
/// (RFC 1071 §2: the total is all ones), so 0x0000 and 0xffff are equally right, as in Linux.
fn checksum_mismatch(acc: u64, bytes: &[u8], field: usize) -> Option<(u16, u16)> {
    if fold(sum_words(acc, bytes)) == 0xffff {
        return None;
    }
    let found = be16(bytes, field);
    let without_field = sum_words(sum_words(acc, &bytes[..field]), &bytes[field + 2..]);
    Some((!fold(without_field), found))
}

/// Parses one IPv4 packet carrying a TCP segment, exactly `bytes` long, into a [`Packet`]:
/// options in any order, both checksums verified. What is refused and what is ignored is in
/// the module documentation.
pub fn parse(bytes: &[u8]) -> Result<Packet, ParseError> {
    let len = bytes.len();
    let truncated = |needed| ParseError::Truncated { needed, len };
    if len < IPV4_HEADER_LEN {
        return Err(truncated(IPV4_HEADER_LEN));
    }
    // RFC 791 §3.1.
    let version = bytes[0] >> 4;
    if version != 4 {
        return Err(ParseError::Version { found: version });
    }
    let ihl = bytes[0] & 0x0f;
    if ihl < 5 {
        return Err(ParseError::Ipv4HeaderLength { ihl });
    }
    let ip_header_len = usize::from(ihl) * 4;
    let Some(ip) = bytes.get(..ip_header_len) else {
        return Err(truncated(ip_header_len));
    };
    // The checksum first, so that a corrupted field is reported as corruption.
    if let Some((expected, found)) = checksum_mismatch(0, ip, 10) {
        return Err(ParseError::Ipv4Checksum { expected, found });
    }
    if ip_header_len > IPV4_HEADER_LEN {
        return Err(ParseError::Ipv4Options {
            header_len: ip_header_len,
        });
    }
    let total_len = be16(ip, 2);
    if usize::from(total_len) != len {
        return Err(ParseError::TotalLength { total_len, len });
    }
    let flags_offset = be16(ip, 6);
    if flags_offset & 0x8000 != 0 {
        return Err(ParseError::Ipv4ReservedFlag);
    }
    if flags_offset & 0x3fff != 0 {
        return Err(ParseError::Fragment {
            more_fragments: flags_offset & 0x2000 != 0,
            offset_bytes: u32::from(flags_offset & 0x1fff) * 8,
        });
    }
    if ip[9] != IPPROTO_TCP {
        return Err(ParseError::NotTcp { protocol: ip[9] });
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);

    // RFC 9293 §3.1.
    let tcp = &bytes[IPV4_HEADER_LEN..];
    if tcp.len() < TCP_HEADER_LEN {
        return Err(truncated(IPV4_HEADER_LEN + TCP_HEADER_LEN));
    }
    if let Some((expected, found)) =
        checksum_mismatch(pseudo_header_acc(src, dst, tcp.len() as u64), tcp, 16)
    {
        return Err(ParseError::TcpChecksum { expected, found });
    }
    let data_offset = tcp[12] >> 4;
    let tcp_header_len = usize::from(data_offset) * 4;
    if data_offset < 5 || tcp_header_len > tcp.len() {
        return Err(ParseError::DataOffset {
            data_offset,
            segment_len: tcp.len(),
        });
    }
    let flags = TcpFlags(tcp[13]);
    let urgent_pointer = be16(tcp, 18);
    if flags.contains(TcpFlags::URG) && urgent_pointer != 0 {
        return Err(ParseError::UrgentData {
            pointer: urgent_pointer,
        });
    }
    let options = parse_options(
        &tcp[TCP_HEADER_LEN..tcp_header_len],
        IPV4_HEADER_LEN + TCP_HEADER_LEN,
    )?;
    Ok(Packet {
        src,
        dst,
        segment: Segment {
            src_port: be16(tcp, 0),
            dst_port: be16(tcp, 2),
            seq: Seq(be32(tcp, 4)),
            ack: Seq(be32(tcp, 8)),
            flags,
            window: be16(tcp, 14),
            options,
            payload: tcp[tcp_header_len..].to_vec(),
        },
    })
}

/// Parses the option list `area`, whose first byte is at offset `base` of the packet, in any
/// order (RFC 9293 §3.1, §3.2). An option that appears twice keeps its last value, as Linux's
/// `tcp_parse_options` does; unknown kinds are skipped by their length; EOL ends the list.
fn parse_options(area: &[u8], base: usize) -> Result<TcpOptions, ParseError> {
    let mut options = TcpOptions::default();
    let mut at = 0;
    while let Some(&kind) = area.get(at) {
        match kind {
            kind::EOL => break,
            kind::NOP => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let offset = base + at;
        let Some(&len) = area.get(at + 1) else {
            return Err(ParseError::OptionLengthMissing { offset, kind });
        };
        let invalid = ParseError::OptionLength { offset, kind, len };
        if len < 2 {
            return Err(invalid);
        }
        let room = area.len() - at;
        let Some(body) = area.get(at + 2..at + usize::from(len)) else {
            return Err(ParseError::OptionOverrun {
                offset,
                kind,
                len,
                room,
            });
        };
        match (kind, len) {
            (kind::MSS, 4) => options.mss = Some(be16(body, 0)),
            (kind::WINDOW_SCALE, 3) => options.window_scale = Some(body[0]),
            (kind::SACK_PERMITTED, 2) => options.sack_permitted = true,
            (kind::TIMESTAMPS, 10) => {
                options.timestamps = Some(Timestamps {
                    val: be32(body, 0),
                    ecr: be32(body, 4),
                });
            }
            // RFC 2018 §3: 8 bytes per block; 4 blocks fill the 40 bytes of option space.
            (kind::SACK, 10 | 18 | 26 | 34) => {
                let mut blocks = SackBlocks::NONE;
                for b in body.chunks_exact(8) {
                    blocks.push((Seq(be32(b, 0)), Seq(be32(b, 4))));
                }
                options.sack = blocks;
            }
            (
                kind::MSS
                | kind::WINDOW_SCALE
                | kind::SACK_PERMITTED
                | kind::TIMESTAMPS
                | kind::SACK,
                _,
            ) => return Err(invalid),
            _ => {}
        }
        at += usize::from(len);
    }
    Ok(options)
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

    /// A change a test makes to a packet's bytes.
    type Edit = fn(&mut Vec<u8>);

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
    #[test]
    fn parse_reads_the_known_vectors() {
        for (packet, bytes) in [linux_syn(), sack_ack_with_data()] {
            assert_eq!(parse(&bytes), Ok(packet));
        }
    }

    /// Recomputes both checksums of `bytes` (an IPv4 header of any IHL, then TCP) after a test
    /// changed them, so that only the structural check under test can fail.
    fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
        let ihl = usize::from(bytes[0] & 0x0f) * 4;
        if bytes.len() < ihl.max(IPV4_HEADER_LEN) {
            return bytes;
        }
        bytes[10..12].fill(0);
        let c = internet_checksum(&bytes[..ihl]);
        bytes[10..12].copy_from_slice(&c.to_be_bytes());
        if bytes.len() >= ihl + TCP_HEADER_LEN {
            let src = Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]);
            let dst = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
            let tcp = &mut bytes[ihl..];
            tcp[16..18].fill(0);
            let c = tcp_checksum(src, dst, tcp);
            tcp[16..18].copy_from_slice(&c.to_be_bytes());
        }
        bytes
    }

    /// The SYN of [`linux_syn`] with `options` (a multiple of 4 bytes) in place of its own.
    fn syn_with_options(options: &[u8]) -> Vec<u8> {
        let (_, bytes) = linux_syn();
        let mut out = bytes[..40].to_vec();
        out.extend_from_slice(options);
        let total_len = out.len() as u16;
        out[2..4].copy_from_slice(&total_len.to_be_bytes());
        out[32] = ((5 + options.len() / 4) as u8) << 4;
        reseal(out)
    }

    #[test]
    fn parse_accepts_options_in_any_order() {
        let syn = |mss, window_scale, sack_permitted, ts: Option<(u32, u32)>| TcpOptions {
            mss: Some(mss),
            window_scale,
            sack_permitted,
            timestamps: ts.map(|(val, ecr)| Timestamps { val, ecr }),
            sack: SackBlocks::NONE,
        };
        let blocks: Vec<(Seq, Seq)> = (1..=4).map(|i| (Seq(i * 100), Seq(i * 100 + 50))).collect();
        let cases = [
            (
                "FreeBSD SYN: mss,nop,wscale,sackOK,TS",
                "02 04 05 b4 01 03 03 06 04 02 08 0a 00 00 00 01 00 00 00 00",
                syn(1460, Some(6), true, Some((1, 0))),
            ),
            (
                "Windows SYN: mss,nop,wscale,nop,nop,sackOK",
                "02 04 05 b4 01 03 03 08 01 01 04 02",
                syn(1460, Some(8), true, None),
            ),
            (
                "an unknown option (experimental 253) is skipped by its length",
                "fd 04 12 34 02 04 05 b4",
                syn(1460, None, false, None),
            ),
            (
                "a repeated option keeps its last value, as Linux does",
                "02 04 05 b4 02 04 02 18",
                syn(536, None, false, None),
            ),
            (
                "EOL ends the list; what follows is padding",
                "02 04 05 b4 00 02 04 02",
                syn(1460, None, false, None),
            ),
            (
                "four SACK blocks fill the option space",
                "01 01 05 22 00 00 00 64 00 00 00 96 00 00 00 c8 00 00 00 fa \
                 00 00 01 2c 00 00 01 5e 00 00 01 90 00 00 01 c2",
                TcpOptions {
                    sack: SackBlocks::from_slice(&blocks),
                    ..TcpOptions::default()
                },
            ),
            ("no options", "", TcpOptions::default()),
        ];
        for (name, options, expected) in cases {
            let parsed = parse(&syn_with_options(&hex(options)));
            assert_eq!(parsed.map(|p| p.segment.options), Ok(expected), "{name}");
        }
    }

    #[test]
    fn parse_refuses_malformed_packets_with_the_reason() {
        use ParseError as E;
        // Each edit is followed by `reseal`, so the checksums hold and the structure is tested.
        let cases: [(&str, Edit, E); 14] = [
            (
                "short IPv4 header",
                |b| b.truncate(19),
                E::Truncated {
                    needed: 20,
                    len: 19,
                },
            ),
            ("version 6", |b| b[0] = 0x65, E::Version { found: 6 }),
            ("IHL 4", |b| b[0] = 0x44, E::Ipv4HeaderLength { ihl: 4 }),
            (
                "IPv4 options",
                |b| {
                    b.splice(20..20, [1, 1, 1, 0]);
                    b[0] = 0x46;
                    b[3] += 4;
                },
                E::Ipv4Options { header_len: 24 },
            ),
            (
                "total length too long",
                |b| b[3] = 61,
                E::TotalLength {
                    total_len: 61,
                    len: 60,
                },
            ),
            (
                "trailing byte",
                |b| b.push(0),
                E::TotalLength {
                    total_len: 60,
                    len: 61,
                },
            ),
            ("reserved flag", |b| b[6] |= 0x80, E::Ipv4ReservedFlag),
            (
                "more fragments",
                |b| b[6] = 0x20,
                E::Fragment {
                    more_fragments: true,
                    offset_bytes: 0,
                },
            ),
            (
                "a later fragment",
                |b| b[6..8].copy_from_slice(&[0x40, 0x10]),
                E::Fragment {
                    more_fragments: false,
                    offset_bytes: 128,
                },
            ),
            ("UDP", |b| b[9] = 17, E::NotTcp { protocol: 17 }),
            (
                "short TCP header",
                |b| {
                    b.truncate(30);
                    b[3] = 30;
                },
                E::Truncated {
                    needed: 40,
                    len: 30,
                },
            ),
            (
                "data offset 4",
                |b| b[32] = 0x40,
                E::DataOffset {
                    data_offset: 4,
                    segment_len: 40,
                },
            ),
            (
                "data offset past the end",
                |b| b[32] = 0xf0,
                E::DataOffset {
                    data_offset: 15,
                    segment_len: 40,
                },
            ),
            (
                "urgent data",
                |b| {
                    b[33] |= 0x20;
                    b[39] = 1;
                },
                E::UrgentData { pointer: 1 },
            ),
        ];
        for (name, edit, expected) in cases {
            let (_, mut bytes) = linux_syn();
            edit(&mut bytes);
            assert_eq!(parse(&reseal(bytes)), Err(expected), "{name}");
        }
    }

    #[test]
    fn parse_refuses_malformed_options_at_their_offset() {
        use ParseError as E;
        let cases = [
            (
                "kind without length",
                "01 01 01 02",
                E::OptionLengthMissing {
                    offset: 43,
                    kind: 2,
                },
            ),
            (
                "length past the list",
                "02 08 05 b4",
                E::OptionOverrun {
                    offset: 40,
                    kind: 2,
                    len: 8,
                    room: 4,
                },
            ),
            (
                "MSS of length 3",
                "02 03 05 01",
                E::OptionLength {
                    offset: 40,
                    kind: 2,
                    len: 3,
                },
            ),
            (
                "unknown of length 1",
                "01 fe 01 00",
                E::OptionLength {
                    offset: 41,
                    kind: 254,
                    len: 1,
                },
            ),
            (
                "SACK without a block",
                "01 01 05 02",
                E::OptionLength {
                    offset: 42,
                    kind: 5,
                    len: 2,
                },
            ),
            (
                "SACK of half a block",
                "05 06 00 00 00 01 00 00",
                E::OptionLength {
                    offset: 40,
                    kind: 5,
                    len: 6,
                },
            ),
            (
                "timestamps of length 8",
                "08 08 00 00 00 01 00 00",
                E::OptionLength {
                    offset: 40,
                    kind: 8,
                    len: 8,
                },
            ),
            (
                "window scale of length 2",
                "03 02 01 00",
                E::OptionLength {
                    offset: 40,
                    kind: 3,
                    len: 2,
                },
            ),
            (
                "sackOK of length 3",
                "04 03 00 00",
                E::OptionLength {
                    offset: 40,
                    kind: 4,
                    len: 3,
                },
            ),
        ];
        for (name, options, expected) in cases {
            assert_eq!(
                parse(&syn_with_options(&hex(options))),
                Err(expected),
                "{name}"
            );
        }
    }

    #[test]
    fn parse_reports_checksums_found_and_expected() {
        let (_, bytes) = linux_syn();
        let mut ip = bytes.clone();
        ip[10] ^= 0x01;
        assert_eq!(
            parse(&ip),
            Err(ParseError::Ipv4Checksum {
                expected: 0x1486,
                found: 0x1586
            })
        );
        let mut tcp = bytes.clone();
        tcp[37] ^= 0x01;
        assert_eq!(
            parse(&tcp),
            Err(ParseError::TcpChecksum {
                expected: 0xa20f,
                found: 0xa20e
            })
        );
        // RFC 1624 §3: 0x0000 and 0xffff are the same one's-complement zero, and a receiver
        // sums the field too, so both are right. An urgent pointer of a20f (ignored: URG is
        // clear) brings this SYN's checksum to 0x0000.
        let mut zero = bytes.clone();
        zero[38..40].copy_from_slice(&[0xa2, 0x0f]);
        zero[36..38].copy_from_slice(&[0x00, 0x00]);
        assert!(parse(&zero).is_ok());
        zero[36..38].copy_from_slice(&[0xff, 0xff]);
        assert!(parse(&zero).is_ok());
    }

    #[test]
    fn parse_ignores_what_packet_does_not_carry() {
        let (packet, bytes) = linux_syn();
        let cases: [(&str, Edit); 6] = [
            ("TOS with DSCP and ECN CE", |b| b[1] = 0xbb),
            ("identification", |b| b[4..6].copy_from_slice(&[0xab, 0xcd])),
            ("DF clear", |b| b[6] = 0),
            ("TTL", |b| b[8] = 1),
            ("TCP reserved bits", |b| b[32] |= 0x0f),
            ("urgent pointer without URG", |b| b[38] = 0x12),
        ];
        for (name, edit) in cases {
            let mut edited = bytes.clone();
            edit(&mut edited);
            assert_eq!(parse(&reseal(edited)), Ok(packet.clone()), "{name}");
        }
        let mut urg = packet.clone();
        urg.segment.flags = urg.segment.flags | TcpFlags::URG;
        let urg_bytes = to_bytes(&urg, 0).unwrap();
        assert_eq!(
            parse(&urg_bytes),
            Ok(urg),
            "URG with a zero pointer is kept"
        );
    }
    #[test]
    fn options_packed_tighter_than_linux_may_not_emit_again() {
        // TS (10) + wscale (3) + SACK of 3 blocks (26) = 39 bytes packed, accepted; Linux's
        // layout adds 5 NOPs (44 bytes), more than a header holds, so emit refuses it.
        let packed = syn_with_options(&hex("08 0a 00 00 00 01 00 00 00 02 03 03 07 05 1a \
             00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04 00 00 00 05 00 00 00 06 00"));
        let packet = parse(&packed).unwrap();
        assert_eq!(packet.segment.options.sack.len(), 3);
        assert_eq!(
            to_bytes(&packet, 0),
            Err(EmitError::OptionsTooLong { len: 44 })
        );
    }
}
