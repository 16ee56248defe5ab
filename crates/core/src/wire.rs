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

/// Most SACK blocks one segment carries: 4 fill the 40 option bytes (RFC 2018 §3); with
/// timestamps only 3 fit.
pub const SACK_BLOCKS_MAX: usize = 4;

/// The SACK blocks of one segment (RFC 2018 §3), in the order sent: a D-SACK block first
/// when there is one (RFC 2883 §4), then the most recently changed block. Each block is
/// `[left, right)` in the acknowledger's receive space.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct SackBlocks {
    len: u8,
    blocks: [(Seq, Seq); SACK_BLOCKS_MAX],
}

impl SackBlocks {
    /// No blocks.
    pub const NONE: SackBlocks = SackBlocks {
        len: 0,
        blocks: [(Seq(0), Seq(0)); SACK_BLOCKS_MAX],
    };

    /// Blocks from a list; those past [`SACK_BLOCKS_MAX`] are left out.
    pub fn from_slice(blocks: &[(Seq, Seq)]) -> SackBlocks {
        let mut out = SackBlocks::NONE;
        for &b in blocks.iter().take(SACK_BLOCKS_MAX) {
            out.push(b);
        }
        out
    }

    /// Appends a block if there is room; returns false if there is none.
    pub fn push(&mut self, block: (Seq, Seq)) -> bool {
        if usize::from(self.len) == SACK_BLOCKS_MAX {
            return false;
        }
        self.blocks[usize::from(self.len)] = block;
        self.len += 1;
        true
    }

    /// The blocks, in order.
    pub fn as_slice(&self) -> &[(Seq, Seq)] {
        &self.blocks[..usize::from(self.len)]
    }

    /// How many blocks.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when there is no block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The TCP options we model. Each is `None`/`false`/empty when absent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct TcpOptions {
    /// Maximum segment size (RFC 9293 §3.7.1), only on SYNs.
    pub mss: Option<u16>,
    /// Window scale shift count (RFC 7323 §2), only on SYNs.
    pub window_scale: Option<u8>,
    /// SACK permitted (RFC 2018 §2), only on SYNs.
    pub sack_permitted: bool,
    /// Timestamps (RFC 7323 §3).
    pub timestamps: Option<Timestamps>,
    /// SACK blocks (RFC 2018 §3, RFC 2883).
    pub sack: SackBlocks,
}

/// One item of the option list as laid out on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OptionItem {
    /// No-operation (kind 1), one byte of padding.
    Nop,
    /// MSS (kind 2, 4 bytes).
    Mss(u16),
    /// SACK permitted (kind 4, 2 bytes).
    SackPermitted,
    /// Timestamps (kind 8, 10 bytes).
    Timestamps(Timestamps),
    /// Window scale (kind 3, 3 bytes).
    WindowScale(u8),
    /// SACK blocks (kind 5, 2 + 8 per block bytes).
    Sack(SackBlocks),
}

impl OptionItem {
    /// Bytes this item takes.
    pub fn wire_len(&self) -> usize {
        match self {
            OptionItem::Nop => 1,
            OptionItem::Mss(_) => 4,
            OptionItem::SackPermitted => 2,
            OptionItem::Timestamps(_) => 10,
            OptionItem::WindowScale(_) => 3,
            OptionItem::Sack(b) => 2 + 8 * b.len(),
        }
    }
}

impl TcpOptions {
    /// The options in the order and with the padding Linux writes them (tcp_options_write):
    /// MSS; SACK-permitted packed before the timestamps (or NOP,NOP before either alone);
    /// NOP + window scale; NOP,NOP + SACK blocks. This is what tcpdump shows for Linux.
    pub fn layout(&self) -> impl Iterator<Item = OptionItem> {
        use OptionItem::{Mss, Nop, Sack, SackPermitted, WindowScale};
        let mut items: [Option<OptionItem>; 11] = [None; 11];
        let mut n = 0;
        let mut put = |item: OptionItem| {
            items[n] = Some(item);
            n += 1;
        };
        if let Some(mss) = self.mss {
            put(Mss(mss));
        }
        match (self.timestamps, self.sack_permitted) {
            (Some(ts), true) => {
                put(SackPermitted);
                put(OptionItem::Timestamps(ts));
            }
            (Some(ts), false) => {
                put(Nop);
                put(Nop);
                put(OptionItem::Timestamps(ts));
            }
            (None, true) => {
                put(Nop);
                put(Nop);
                put(SackPermitted);
            }
            (None, false) => {}
        }
        if let Some(ws) = self.window_scale {
            put(Nop);
            put(WindowScale(ws));
        }
        if !self.sack.is_empty() {
            put(Nop);
            put(Nop);
            put(Sack(self.sack));
        }
        items.into_iter().flatten()
    }

    /// Bytes the options take on the wire, padded to a multiple of four.
    pub fn wire_len(&self) -> usize {
        // The sizes of `layout()`'s items, summed without building it: every packet the
        // engine transmits is sized, so this is on the hot path.
        let mut len = if self.mss.is_some() { 4 } else { 0 };
        len += match (self.timestamps.is_some(), self.sack_permitted) {
            (true, _) => 12,
            (false, true) => 4,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            len += 4;
        }
        if !self.sack.is_empty() {
            len += 4 + 8 * self.sack.len();
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
        for &(l, r) in o.sack.as_slice() {
            h.write_u64(u64::from(l.0) << 32 | u64::from(r.0));
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
        write_packet(f, self, self.segment.seq.0, self.segment.ack.0, None, None)
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
            incarnation: None,
        }
    }
}

/// A packet printed with relative sequence numbers (see [`Packet::relative`]).
pub struct RelativePacket<'a> {
    packet: &'a Packet,
    isn_src: Option<Seq>,
    isn_dst: Option<Seq>,
    incarnation: Option<u32>,
}

impl RelativePacket<'_> {
    /// Prints `#n` after the 4-tuple: the packet belongs to the n-th connection that used it.
    pub fn incarnation(mut self, n: Option<u32>) -> Self {
        self.incarnation = n;
        self
    }
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
            self.isn_dst,
            self.incarnation,
        )
    }
}

fn write_packet(
    f: &mut fmt::Formatter<'_>,
    p: &Packet,
    seq: u32,
    ack: u32,
    ack_isn: Option<Seq>,
    incarnation: Option<u32>,
) -> fmt::Result {
    let s = &p.segment;
    write!(f, "{}:{} > {}:{}", p.src, s.src_port, p.dst, s.dst_port)?;
    if let Some(n) = incarnation {
        write!(f, " #{n}")?;
    }
    write!(f, " [{}] seq {seq}", s.flags)?;
    if s.flags.contains(TcpFlags::ACK) {
        write!(f, " ack {ack}")?;
    }
    write!(f, " win {}", s.window)?;
    if !s.options.is_empty() {
        write_options(f, &s.options, ack_isn)?;
    }
    write!(f, " len {}", s.payload.len())
}

/// tcpdump's option list: `options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7]`, SACK
/// blocks as `sack 2 {a:b}{c:d}`, relative to `ack_isn` when given, as tcpdump prints them.
fn write_options(f: &mut fmt::Formatter<'_>, o: &TcpOptions, ack_isn: Option<Seq>) -> fmt::Result {
    f.write_str(" options [")?;
    for (i, item) in o.layout().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        match item {
            OptionItem::Nop => f.write_str("nop")?,
            OptionItem::Mss(mss) => write!(f, "mss {mss}")?,
            OptionItem::SackPermitted => f.write_str("sackOK")?,
            OptionItem::Timestamps(ts) => write!(f, "TS val {} ecr {}", ts.val, ts.ecr)?,
            OptionItem::WindowScale(ws) => write!(f, "wscale {ws}")?,
            OptionItem::Sack(blocks) => {
                write!(f, "sack {} ", blocks.len())?;
                let base = ack_isn.map_or(0, |isn| isn.0);
                for &(l, r) in blocks.as_slice() {
                    write!(
                        f,
                        "{{{}:{}}}",
                        l.0.wrapping_sub(base),
                        r.0.wrapping_sub(base)
                    )?;
                }
            }
        }
    }
    f.write_str("]")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arithmetic length equals the length of the layout, for every combination.
    #[test]
    fn options_wire_len_is_the_length_of_their_layout() {
        let ts = Timestamps { val: 1, ecr: 2 };
        for bits in 0..16u32 {
            for blocks in 0..=SACK_BLOCKS_MAX {
                let sack: Vec<(Seq, Seq)> =
                    (0..blocks as u32).map(|i| (Seq(i), Seq(i + 1))).collect();
                let o = TcpOptions {
                    mss: (bits & 1 != 0).then_some(1460),
                    window_scale: (bits & 2 != 0).then_some(7),
                    sack_permitted: bits & 4 != 0,
                    timestamps: (bits & 8 != 0).then_some(ts),
                    sack: SackBlocks::from_slice(&sack),
                };
                let laid: usize = o.layout().map(|i| i.wire_len()).sum();
                assert_eq!(o.wire_len(), laid.div_ceil(4) * 4, "{o:?}");
            }
        }
    }

    #[test]
    fn options_follow_linux_layout_and_sack_blocks_print_relative() {
        let mut p = Packet {
            src: Ipv4Addr::new(10, 0, 0, 2),
            dst: Ipv4Addr::new(10, 0, 0, 1),
            segment: Segment {
                seq: Seq(5001),
                ack: Seq(2449),
                flags: TcpFlags::ACK,
                window: 501,
                options: TcpOptions {
                    timestamps: Some(Timestamps { val: 7, ecr: 9 }),
                    sack: SackBlocks::from_slice(&[(Seq(3897), Seq(5345)), (Seq(6793), Seq(8241))]),
                    ..TcpOptions::default()
                },
                ..Segment::default()
            },
        };
        assert_eq!(
            p.relative(Some(Seq(5000)), Some(Seq(1000))).to_string(),
            "10.0.0.2:0 > 10.0.0.1:0 [.] seq 1 ack 1449 win 501 \
             options [nop,nop,TS val 7 ecr 9,nop,nop,sack 2 {2897:4345}{5793:7241}] len 0"
        );
        // 12 (nop,nop,TS) + 2 (nop,nop) + 2 + 2 * 8 (SACK) = 32.
        assert_eq!(p.segment.options.wire_len(), 32);
        p.segment.options.timestamps = None;
        p.segment.options.sack = SackBlocks::NONE;
        p.segment.options.sack_permitted = true;
        assert_eq!(p.segment.options.layout().count(), 3, "nop,nop,sackOK");
        assert_eq!(p.segment.options.wire_len(), 4);
        let mut full = SackBlocks::NONE;
        for i in 0..5 {
            full.push((Seq(i), Seq(i + 1)));
        }
        assert_eq!(full.len(), SACK_BLOCKS_MAX, "a fifth block does not fit");
    }

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
            sack: SackBlocks::NONE,
        };
        assert_eq!(
            syn.to_string(),
            "10.0.0.1:49152 > 10.0.0.2:80 [S] seq 101 win 65535 \
             options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7] len 0"
        );
        // Linux's layout: 4 (mss) + 2 (sackOK) + 10 (TS) + 1 (nop) + 3 (wscale) = 20.
        assert_eq!(syn.wire_len(), 60);
    }
}
