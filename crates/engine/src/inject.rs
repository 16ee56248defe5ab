//! Crafted segments: a segment no endpoint would send by itself (a stray RST at an arbitrary
//! sequence number, an old SYN, data from a previous incarnation), put on a link at a set time
//! as if a host had sent it.
//!
//! Its numbers may be absolute or relative to a connection as the wire has shown it so far:
//! [`WireWatch`] follows every connection from the packets sent and delivered, the same way in
//! the engine and on the kernel comparison's wire, so an injection resolves to the same
//! relative numbers in both worlds. The engine reads only header fields here, as it does for
//! fault filters: no TCP rule decides anything.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use netsim_core::{Packet, Segment, Seq, TcpFlags, TcpOptions};

use crate::HostId;

/// A sequence or acknowledgment number of an injected segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqRef {
    /// This raw 32-bit value.
    Abs(u32),
    /// The next sequence number `host` will send on the connection (its SND.NXT as the wire
    /// shows it: the end of the highest segment it sent, SYN and FIN counted), plus an offset.
    SndNxt(HostId, i64),
    /// The next sequence number `host` expects from its peer (its RCV.NXT as the wire shows
    /// it: the end of the in-order bytes delivered to it), plus an offset.
    RcvNxt(HostId, i64),
}

/// Which connection an injected segment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectPorts {
    /// The `n`-th connection (from 1) between the two hosts, in order of first appearance on
    /// the wire (a 4-tuple opened again by a new SYN counts again); ports come from it.
    Conn(u32),
    /// These ports (only absolute numbers then).
    Ports {
        /// TCP source port.
        src: u16,
        /// TCP destination port.
        dst: u16,
    },
}

/// A segment to put on the link from `from` to `to`.
#[derive(Clone, Debug, PartialEq)]
pub struct Injection {
    /// The host whose address it carries, and whose link it enters.
    pub from: HostId,
    /// The host it is addressed to.
    pub to: HostId,
    /// Its connection or ports.
    pub ports: InjectPorts,
    /// Control bits.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: SeqRef,
    /// Acknowledgment number.
    pub ack: SeqRef,
    /// Payload length (the payload is that many `0x21` bytes: `!`).
    pub len: u32,
    /// The raw window field.
    pub window: u16,
    /// TCP options.
    pub options: TcpOptions,
}

/// What became of an injection by the end of a run.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum InjectOutcome {
    /// Its time did not come before the run ended.
    #[default]
    Pending,
    /// It went on the link.
    Sent,
    /// It could not be built (its connection had not appeared yet); why.
    Failed(String),
}

/// One wording for every report: "sent", or "not sent: why".
impl std::fmt::Display for InjectOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InjectOutcome::Sent => f.write_str("sent"),
            InjectOutcome::Pending => f.write_str("not sent: the run ended first"),
            InjectOutcome::Failed(why) => write!(f, "not sent: {why}"),
        }
    }
}

/// The payload byte of injected segments.
pub const INJECTED_BYTE: u8 = b'!';

/// The sender-state label of an injected segment in `Sent` records.
pub const INJECTED: &str = "injected";

/// One endpoint of a connection, as the wire has shown it.
#[derive(Clone, Debug, Default)]
struct EndView {
    /// End of the highest segment it sent.
    snd_nxt: Option<Seq>,
    /// End of the in-order bytes delivered to it.
    rcv_nxt: Option<Seq>,
    /// Delivered segments beyond `rcv_nxt`, as (start, end), waiting for the gap to fill.
    ahead: Vec<(Seq, Seq)>,
}

#[derive(Clone, Debug)]
struct ConnView {
    /// The two endpoints, in address order.
    ends: [SocketAddrV4; 2],
    view: [EndView; 2],
    /// A FIN or RST was seen: a SYN on the same 4-tuple opens a new connection.
    closing: bool,
}

impl ConnView {
    fn end(&mut self, a: SocketAddrV4) -> &mut EndView {
        let i = usize::from(self.ends[1] == a);
        &mut self.view[i]
    }
}

/// Every connection the wire has carried, in order of first appearance.
#[derive(Clone, Debug, Default)]
pub struct WireWatch {
    conns: Vec<ConnView>,
    open: BTreeMap<(SocketAddrV4, SocketAddrV4), usize>,
}

fn key(a: SocketAddrV4, b: SocketAddrV4) -> (SocketAddrV4, SocketAddrV4) {
    if a <= b { (a, b) } else { (b, a) }
}

fn endpoints(p: &Packet) -> (SocketAddrV4, SocketAddrV4) {
    (
        SocketAddrV4::new(p.src, p.segment.src_port),
        SocketAddrV4::new(p.dst, p.segment.dst_port),
    )
}

impl WireWatch {
    /// A host handed `p` to the network (before any fault acted on it).
    pub fn sent(&mut self, p: &Packet) {
        let (src, dst) = endpoints(p);
        let k = key(src, dst);
        let s = &p.segment;
        let opening = s.flags.contains(TcpFlags::SYN) && !s.flags.contains(TcpFlags::ACK);
        let index = match self.open.get(&k) {
            Some(&i) if !(opening && self.conns[i].closing) => i,
            _ => {
                self.conns.push(ConnView {
                    ends: [k.0, k.1],
                    view: Default::default(),
                    closing: false,
                });
                self.open.insert(k, self.conns.len() - 1);
                self.conns.len() - 1
            }
        };
        let conn = &mut self.conns[index];
        if s.flags.intersects(TcpFlags::FIN | TcpFlags::RST) {
            conn.closing = true;
        }
        let end = s.seq.add(s.seq_len());
        let me = conn.end(src);
        if me.snd_nxt.is_none_or(|n| end.gt(n)) {
            me.snd_nxt = Some(end);
        }
    }

    /// `p` reached its receiver.
    pub fn delivered(&mut self, p: &Packet) {
        let (src, dst) = endpoints(p);
        let Some(&index) = self.open.get(&key(src, dst)) else {
            return;
        };
        let s = &p.segment;
        let them = self.conns[index].end(dst);
        let (start, end) = (s.seq, s.seq.add(s.seq_len()));
        if s.flags.contains(TcpFlags::SYN) && them.rcv_nxt.is_none() {
            // The peer's initial sequence number: what follows is counted from it. (A later
            // SYN on the same connection, an old duplicate say, changes nothing.)
            them.rcv_nxt = Some(end);
            return;
        }
        let Some(mut next) = them.rcv_nxt else {
            return;
        };
        if end.gt(next) {
            them.ahead.push((start, end));
        }
        // Fill forward from what is now contiguous.
        loop {
            let before = next;
            them.ahead.retain(|&(a, b)| {
                if a.le(next) {
                    if b.gt(next) {
                        next = b;
                    }
                    false
                } else {
                    true
                }
            });
            if next == before {
                break;
            }
        }
        them.rcv_nxt = Some(next);
    }

    /// Builds the packet of `inj`; `addr` gives each host's address.
    pub fn resolve(
        &self,
        inj: &Injection,
        addr: impl Fn(HostId) -> Ipv4Addr,
    ) -> Result<Packet, String> {
        let (src, dst) = (addr(inj.from), addr(inj.to));
        let (src_port, dst_port, conn) = match inj.ports {
            InjectPorts::Ports { src, dst } => (src, dst, None),
            InjectPorts::Conn(n) => {
                let conn = self
                    .conns
                    .iter()
                    .filter(|c| {
                        let ips = [*c.ends[0].ip(), *c.ends[1].ip()];
                        ips == [src, dst] || ips == [dst, src]
                    })
                    .nth(n.saturating_sub(1) as usize)
                    .ok_or_else(|| {
                        format!("connection {n} between the two hosts has not appeared")
                    })?;
                let (mine, theirs) = if *conn.ends[0].ip() == src {
                    (conn.ends[0], conn.ends[1])
                } else {
                    (conn.ends[1], conn.ends[0])
                };
                (mine.port(), theirs.port(), Some(conn))
            }
        };
        let number = |r: SeqRef, what: &str| -> Result<Seq, String> {
            let (host, plus, value) = match r {
                SeqRef::Abs(v) => return Ok(Seq(v)),
                SeqRef::SndNxt(h, plus) => (h, plus, "SND.NXT"),
                SeqRef::RcvNxt(h, plus) => (h, plus, "RCV.NXT"),
            };
            let conn = conn.ok_or_else(|| format!("{what}: {value} needs a connection"))?;
            let end = if addr(host) == *conn.ends[0].ip() {
                &conn.view[0]
            } else {
                &conn.view[1]
            };
            let base = match r {
                SeqRef::SndNxt(..) => end.snd_nxt,
                _ => end.rcv_nxt,
            }
            .ok_or_else(|| format!("{what}: {value} of the connection is not known yet"))?;
            // Offsets wrap modulo 2^32, as sequence numbers do.
            Ok(base.add(plus.rem_euclid(1 << 32) as u32))
        };
        Ok(Packet {
            src,
            dst,
            segment: Segment {
                src_port,
                dst_port,
                seq: number(inj.seq, "seq")?,
                ack: number(inj.ack, "ack")?,
                flags: inj.flags,
                window: inj.window,
                options: inj.options,
                payload: vec![INJECTED_BYTE; inj.len as usize],
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(from: u8, sport: u16, to: u8, dport: u16, flags: &str, seq: u32, len: usize) -> Packet {
        Packet {
            src: Ipv4Addr::new(10, 0, 0, from),
            dst: Ipv4Addr::new(10, 0, 0, to),
            segment: Segment {
                src_port: sport,
                dst_port: dport,
                seq: Seq(seq),
                ack: Seq(0),
                flags: TcpFlags::parse(flags).unwrap(),
                window: 0,
                options: TcpOptions::default(),
                payload: vec![0; len],
            },
        }
    }

    fn addr(h: HostId) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, h.0 as u8 + 1)
    }

    fn inj(seq: SeqRef, ack: SeqRef) -> Injection {
        Injection {
            from: HostId(0),
            to: HostId(1),
            ports: InjectPorts::Conn(1),
            flags: TcpFlags::RST,
            seq,
            ack,
            len: 0,
            window: 0,
            options: TcpOptions::default(),
        }
    }

    #[test]
    fn relative_numbers_follow_what_was_sent_and_delivered() {
        let mut w = WireWatch::default();
        let syn = seg(1, 40000, 2, 80, "S", 1000, 0);
        let synack = seg(2, 80, 1, 40000, "S.", 5000, 0);
        w.sent(&syn);
        w.delivered(&syn);
        w.sent(&synack);
        w.delivered(&synack);
        // 100 bytes from the client, then 50 more that are lost, then 30 after the gap.
        for (seq, len, delivered) in [(1001, 100, true), (1101, 50, false), (1151, 30, true)] {
            let p = seg(1, 40000, 2, 80, ".", seq, len);
            w.sent(&p);
            if delivered {
                w.delivered(&p);
            }
        }
        let p = w
            .resolve(
                &inj(SeqRef::SndNxt(HostId(0), 0), SeqRef::RcvNxt(HostId(1), 7)),
                addr,
            )
            .unwrap();
        assert_eq!((p.segment.src_port, p.segment.dst_port), (40000, 80));
        assert_eq!(p.segment.seq, Seq(1181), "the client's highest end sent");
        assert_eq!(
            p.segment.ack,
            Seq(1108),
            "the server has 1001..1101 in order, + 7"
        );
        // The retransmission fills the gap: the server's RCV.NXT jumps past the 30 bytes.
        let again = seg(1, 40000, 2, 80, ".", 1101, 50);
        w.sent(&again);
        w.delivered(&again);
        let p = w
            .resolve(&inj(SeqRef::RcvNxt(HostId(1), -1), SeqRef::Abs(9)), addr)
            .unwrap();
        assert_eq!((p.segment.seq, p.segment.ack), (Seq(1180), Seq(9)));
    }

    #[test]
    fn a_connection_not_seen_yet_or_a_new_incarnation_is_counted() {
        let mut w = WireWatch::default();
        let e = w
            .resolve(&inj(SeqRef::Abs(1), SeqRef::Abs(0)), addr)
            .unwrap_err();
        assert!(e.contains("has not appeared"), "{e}");
        w.sent(&seg(1, 40000, 2, 80, "S", 1000, 0));
        w.sent(&seg(1, 40000, 2, 80, "F.", 1001, 0));
        w.sent(&seg(1, 40000, 2, 80, "S", 777, 0));
        let mut second = inj(SeqRef::SndNxt(HostId(0), 0), SeqRef::Abs(0));
        second.ports = InjectPorts::Conn(2);
        assert_eq!(w.resolve(&second, addr).unwrap().segment.seq, Seq(778));
        let e = w
            .resolve(&inj(SeqRef::RcvNxt(HostId(1), 0), SeqRef::Abs(0)), addr)
            .unwrap_err();
        assert!(e.contains("not known yet"), "{e}");
    }
    /// Only a bare SYN after a FIN or RST opens a new incarnation of a 4-tuple: a SYN-ACK,
    /// a bare RST or a plain ACK after the FIN belong to the old one.
    #[test]
    fn only_a_bare_syn_after_the_close_opens_a_new_incarnation() {
        let mut w = WireWatch::default();
        w.sent(&seg(1, 40000, 2, 80, "S", 1000, 0));
        w.sent(&seg(1, 40000, 2, 80, "F.", 1001, 0));
        for flags in ["S.", "R", "."] {
            w.sent(&seg(2, 80, 1, 40000, flags, 5000, 0));
        }
        let mut second = inj(SeqRef::Abs(1), SeqRef::Abs(0));
        second.ports = InjectPorts::Conn(2);
        let e = w.resolve(&second, addr).unwrap_err();
        assert!(
            e.contains("connection 2 between the two hosts has not appeared"),
            "{e}"
        );
        w.sent(&seg(1, 40000, 2, 80, "S", 9000, 0));
        assert!(w.resolve(&second, addr).is_ok());
    }

    /// A SYN delivered again later (an old duplicate) leaves the receiver's RCV.NXT alone.
    #[test]
    fn a_second_syn_does_not_reset_rcv_nxt() {
        let mut w = WireWatch::default();
        let syn = seg(1, 40000, 2, 80, "S", 1000, 0);
        let data = seg(1, 40000, 2, 80, ".", 1001, 100);
        for p in [&syn, &data, &syn] {
            w.sent(p);
            w.delivered(p);
        }
        let p = w
            .resolve(&inj(SeqRef::Abs(0), SeqRef::RcvNxt(HostId(1), 0)), addr)
            .unwrap();
        assert_eq!(p.segment.ack, Seq(1101));
    }

    /// Connections are counted per pair of hosts, in either direction: one between other
    /// hosts does not count, and an injection from the passive side takes the ports the
    /// other way round.
    #[test]
    fn connections_are_counted_between_the_two_hosts_only() {
        let mut w = WireWatch::default();
        w.sent(&seg(1, 41000, 3, 80, "S", 1, 0)); // host 0 -> host 2
        w.sent(&seg(1, 40000, 2, 80, "S", 1000, 0)); // host 0 -> host 1
        let p = w
            .resolve(&inj(SeqRef::Abs(0), SeqRef::Abs(0)), addr)
            .unwrap();
        assert_eq!((p.segment.src_port, p.segment.dst_port), (40000, 80));
        let mut back = inj(SeqRef::Abs(0), SeqRef::Abs(0));
        (back.from, back.to) = (HostId(1), HostId(0));
        let p = w.resolve(&back, addr).unwrap();
        assert_eq!((p.segment.src_port, p.segment.dst_port), (80, 40000));
        assert_eq!((p.src, p.dst), (addr(HostId(1)), addr(HostId(0))));
    }

    /// How an injection's outcome reads in reports.
    #[test]
    fn outcomes_read_as_sent_or_why_not() {
        assert_eq!(InjectOutcome::Sent.to_string(), "sent");
        assert_eq!(
            InjectOutcome::Pending.to_string(),
            "not sent: the run ended first"
        );
        assert_eq!(
            InjectOutcome::Failed("no connection".into()).to_string(),
            "not sent: no connection"
        );
    }
}
