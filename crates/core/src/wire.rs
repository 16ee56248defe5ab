//! The TCP/IPv4 segment as it travels between hosts: header fields, options, payload, and the
//! tcpdump-like text form used in traces. This is data only: no protocol rules live here (those
//! are in the TCP crate), and the engine reads these fields only to match fault filters and to
//! size packets for links.

use std::fmt;
use std::net::Ipv4Addr;

use crate::hash::StableHasher;

/// A 32-bit TCP sequence number. Comparisons are modulo 2^32 (RFC 9293 §3.4), so they are
/// methods, not `Ord`: `a.lt(b)` means `a` comes before `b` in sequence space.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// `self + n` modulo 2^32.
    pub const fn add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }
    /// The signed distance from `other` to `self` (positive when `self` is later).
    pub const fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// `self` comes strictly before `other` in sequence space.
    pub const fn lt(self, other: Seq) -> bool {
        self.diff(other) < 0
    }
    /// `self` comes before or equals `other` in sequence space.
    pub const fn le(self, other: Seq) -> bool {
        self.diff(other) <= 0
    }
    /// `self` comes strictly after `other` in sequence space.
    pub const fn gt(self, other: Seq) -> bool {
        self.diff(other) > 0
    }
    /// `self` comes after or equals `other` in sequence space.
    pub const fn ge(self, other: Seq) -> bool {
        self.diff(other) >= 0
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seq({})", self.0)
    }
}

/// The TCP control bits (RFC 9293 §3.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No flags.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN: no more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN: synchronise sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST: reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH: push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK: the acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG: the urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE: ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR: congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Every bit of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// At least one bit of `other` is set in `self`.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// The union of both sets.
    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }

    /// The flags in tcpdump's order and letters (`F S R P . U E W`).
    const LETTERS: [(TcpFlags, char); 8] = [
        (TcpFlags::FIN, 'F'),
        (TcpFlags::SYN, 'S'),
        (TcpFlags::RST, 'R'),
        (TcpFlags::PSH, 'P'),
        (TcpFlags::ACK, '.'),
        (TcpFlags::URG, 'U'),
        (TcpFlags::ECE, 'E'),
        (TcpFlags::CWR, 'W'),
    ];

    /// Parses tcpdump letters such as `S.`, `F.`, `R`, `FP.`; `none` is the empty set.
    pub fn parse(text: &str) -> Option<TcpFlags> {
        if text == "none" {
            return Some(TcpFlags::NONE);
        }
        let mut flags = TcpFlags::NONE;
        for c in text.chars() {
            let (flag, _) = Self::LETTERS.iter().find(|(_, l)| *l == c)?;
            flags = flags.union(*flag);
        }
        (!text.is_empty()).then_some(flags)
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

/// tcpdump's letters; the empty set prints as `none`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        for (flag, letter) in Self::LETTERS {
            if self.contains(flag) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{self}]")
    }
}

/// The RFC 7323 timestamps option.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub val: u32,
    /// TSecr: the most recent TSval received from the peer.
    pub ecr: u32,
}

/// The TCP options we model. Each is `None`/`false` when absent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct TcpOptions {
    /// Maximum segment size (RFC 9293 §3.7.1), only on SYNs.
    pub mss: Option<u16>,
    /// Window scale shift count (RFC 7323 §2), only on SYNs.
    pub window_scale: Option<u8>,
    /// SACK permitted (RFC 2018), only on SYNs. Carried so sizes are right; SACK itself is not
    /// modelled.
    pub sack_permitted: bool,
    /// Timestamps (RFC 7323 §3).
    pub timestamps: Option<Timestamps>,
}

impl TcpOptions {
    /// Bytes the options take on the wire, padded to a multiple of four.
    pub fn wire_len(&self) -> usize {
        let mut len: usize = 0;
        if self.mss.is_some() {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 3;
        }
        if self.sack_permitted {
            len += 2;
        }
        if self.timestamps.is_some() {
            len += 10;
        }
        len.div_ceil(4) * 4
    }

    /// True when no option is present.
    pub fn is_empty(&self) -> bool {
        *self == TcpOptions::default()
    }
}

/// A TCP segment: header and payload.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Segment {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first octet (or of the SYN).
    pub seq: Seq,
    /// Next sequence number the sender expects; meaningful when ACK is set.
    pub ack: Seq,
    /// Control bits.
    pub flags: TcpFlags,
    /// Receive window, unscaled as carried in the header.
    pub window: u16,
    /// Options.
    pub options: TcpOptions,
    /// Data octets.
    pub payload: Vec<u8>,
}

/// Size of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Size of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;

impl Segment {
    /// Sequence space the segment occupies: payload plus one each for SYN and FIN
    /// (RFC 9293 §3.4, SEG.LEN).
    pub fn seq_len(&self) -> u32 {
        let mut len = self.payload.len() as u32;
        if self.flags.contains(TcpFlags::SYN) {
            len += 1;
        }
        if self.flags.contains(TcpFlags::FIN) {
            len += 1;
        }
        len
    }

    /// Bytes of TCP header plus options plus payload.
    pub fn wire_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.wire_len() + self.payload.len()
    }

    /// Feeds every field into a stable hash.
    pub fn hash_into(&self, h: &mut StableHasher) {
        h.write_u64(u64::from(self.src_port) << 16 | u64::from(self.dst_port));
        h.write_u64(u64::from(self.seq.0) << 32 | u64::from(self.ack.0));
        h.write_u64(u64::from(self.flags.0) << 16 | u64::from(self.window));
        let o = &self.options;
        h.write_u64(
            u64::from(o.mss.unwrap_or(0))
                | u64::from(o.window_scale.map_or(0, |w| u16::from(w) + 1)) << 16
                | u64::from(o.sack_permitted) << 32
                | u64::from(o.timestamps.is_some()) << 33,
        );
        if let Some(ts) = o.timestamps {
            h.write_u64(u64::from(ts.val) << 32 | u64::from(ts.ecr));
        }
        h.write_bytes(&self.payload);
    }
}

/// An IPv4 packet carrying one TCP segment.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Packet {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The TCP segment.
    pub segment: Segment,
}

impl Packet {
    /// Total bytes on the wire (IPv4 header + TCP header + options + payload): what links
    /// serialise, queue and compare with their MTU.
    pub fn wire_len(&self) -> usize {
        IPV4_HEADER_LEN + self.segment.wire_len()
    }

    /// Feeds every field into a stable hash.
    pub fn hash_into(&self, h: &mut StableHasher) {
        h.write_u64(u64::from(u32::from(self.src)) << 32 | u64::from(u32::from(self.dst)));
        self.segment.hash_into(h);
    }
}

/// tcpdump-like: `10.0.0.1:49152 > 10.0.0.2:80 [F.] seq 101 ack 201 win 65535 len 0`, with
/// `options [...]` when any is present. Sequence numbers are printed as carried (absolute);
/// see [`Packet::relative`] for tcpdump's relative numbers.
impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_packet(f, self, self.segment.seq.0, self.segment.ack.0)
    }
}

impl Packet {
    /// The packet printed as tcpdump does by default: sequence and acknowledgment numbers
    /// relative to the initial sequence numbers of their direction (`isn_src` for what the
    /// sender sends, `isn_dst` for what it acknowledges), where known; SYNs keep absolute
    /// numbers so the ISNs stay visible.
    pub fn relative(&self, isn_src: Option<Seq>, isn_dst: Option<Seq>) -> RelativePacket<'_> {
        RelativePacket {
            packet: self,
            isn_src,
            isn_dst,
        }
    }
}

/// A packet printed with relative sequence numbers (see [`Packet::relative`]).
pub struct RelativePacket<'a> {
    packet: &'a Packet,
    isn_src: Option<Seq>,
    isn_dst: Option<Seq>,
}

impl fmt::Display for RelativePacket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.packet.segment;
        let syn = s.flags.contains(TcpFlags::SYN);
        let rel = |v: Seq, isn: Option<Seq>| match isn {
            Some(isn) if !syn => v.0.wrapping_sub(isn.0),
            _ => v.0,
        };
        write_packet(
            f,
            self.packet,
            rel(s.seq, self.isn_src),
            rel(s.ack, self.isn_dst),
        )
    }
}

fn write_packet(f: &mut fmt::Formatter<'_>, p: &Packet, seq: u32, ack: u32) -> fmt::Result {
    let s = &p.segment;
    write!(
        f,
        "{}:{} > {}:{} [{}] seq {seq}",
        p.src, s.src_port, p.dst, s.dst_port, s.flags
    )?;
    if s.flags.contains(TcpFlags::ACK) {
        write!(f, " ack {ack}")?;
    }
    write!(f, " win {}", s.window)?;
    if !s.options.is_empty() {
        write_options(f, &s.options)?;
    }
    write!(f, " len {}", s.payload.len())
}

fn write_options(f: &mut fmt::Formatter<'_>, o: &TcpOptions) -> fmt::Result {
    let mut parts: Vec<String> = Vec::new();
    if let Some(mss) = o.mss {
        parts.push(format!("mss {mss}"));
    }
    if o.sack_permitted {
        parts.push("sackOK".into());
    }
    if let Some(ts) = o.timestamps {
        parts.push(format!("TS val {} ecr {}", ts.val, ts.ecr));
    }
    if let Some(ws) = o.window_scale {
        parts.push(format!("wscale {ws}"));
    }
    write!(f, " options [{}]", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_comparisons_wrap_around() {
        let near_top = Seq(u32::MAX - 10);
        let wrapped = near_top.add(20);
        assert_eq!(wrapped, Seq(9));
        assert!(near_top.lt(wrapped));
        assert!(wrapped.gt(near_top));
        assert_eq!(wrapped.diff(near_top), 20);
        assert_eq!(near_top.diff(wrapped), -20);
        assert!(Seq(5).le(Seq(5)) && Seq(5).ge(Seq(5)));
    }

    #[test]
    fn flags_print_and_parse_like_tcpdump() {
        let cases = [
            (TcpFlags::SYN, "S"),
            (TcpFlags::SYN | TcpFlags::ACK, "S."),
            (TcpFlags::FIN | TcpFlags::ACK, "F."),
            (TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK, "FP."),
            (TcpFlags::RST, "R"),
            (TcpFlags::ACK, "."),
            (TcpFlags::NONE, "none"),
        ];
        for (flags, text) in cases {
            assert_eq!(flags.to_string(), text);
            assert_eq!(TcpFlags::parse(text), Some(flags));
        }
        assert_eq!(TcpFlags::parse("SX"), None);
        assert_eq!(TcpFlags::parse(""), None);
    }

    #[test]
    fn packet_prints_like_tcpdump_and_counts_its_bytes() {
        let p = Packet {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            segment: Segment {
                src_port: 49152,
                dst_port: 80,
                seq: Seq(101),
                ack: Seq(201),
                flags: TcpFlags::FIN | TcpFlags::ACK,
                window: 65535,
                ..Segment::default()
            },
        };
        assert_eq!(
            p.to_string(),
            "10.0.0.1:49152 > 10.0.0.2:80 [F.] seq 101 ack 201 win 65535 len 0"
        );
        assert_eq!(p.wire_len(), 40);
        assert_eq!(p.segment.seq_len(), 1);

        let mut syn = p.clone();
        syn.segment.flags = TcpFlags::SYN;
        syn.segment.options = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(Timestamps { val: 1, ecr: 0 }),
        };
        assert_eq!(
            syn.to_string(),
            "10.0.0.1:49152 > 10.0.0.2:80 [S] seq 101 win 65535 \
             options [mss 1460,sackOK,TS val 1 ecr 0,wscale 7] len 0"
        );
        // 4 (mss) + 3 (wscale) + 2 (sackOK) + 10 (TS) = 19, padded to 20.
        assert_eq!(syn.wire_len(), 60);
    }
}
