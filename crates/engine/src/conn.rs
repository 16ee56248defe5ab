//! [`Connections`]: which TCP connection each trace record belongs to, worked out from the
//! records alone as they stream past, so that every reader of a trace (the text and JSON
//! writers, filters, ladder diagrams) numbers connections the same way.
//!
//! A connection is one incarnation of a 4-tuple: it starts with a SYN carrying an ISN not yet
//! seen from that side of the tuple (or with a state change that opens a socket), and a 4-tuple
//! used again starts its next incarnation. Connections are numbered 1, 2, ... in order of first
//! appearance across the run; incarnations are counted per 4-tuple.
//!
//! The attribution follows the packet, not the moment: a delivery or drop belongs to the
//! connection its `Sent` record was tagged with (a delayed duplicate of incarnation 1 arriving
//! during incarnation 2 says #1), and what a host sends or reports belongs to the incarnation
//! its own socket is on (an old socket still in LAST_ACK keeps saying #1 after its peer opened
//! #2). Memory is one entry per 4-tuple (its last few incarnations) plus one per packet in
//! flight: bounded by the ports in use, not by the length of the run.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

use netsim_core::{Packet, Seq, TcpFlags};

use crate::trace::{TraceEvent, TraceKind, TraceRecord};

/// What a protocol event says about its connection (see [`TraceEvent::conn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventConn {
    /// The reporting host's end.
    pub local: SocketAddrV4,
    /// The peer's end (port 0 for a listener, which belongs to no connection).
    pub remote: SocketAddrV4,
    /// A new socket starts on this tuple: its side joins the newest incarnation (a state
    /// change out of CLOSED or LISTEN).
    pub joins: bool,
    /// The socket opens actively (CLOSED to SYN_SENT): a new incarnation unless its side has
    /// not sent a SYN in the newest one yet (a simultaneous open).
    pub opens: bool,
}

/// A connection as the trace sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnTag {
    /// 1, 2, ... in order of first appearance in the run.
    pub number: u64,
    /// Which use of its 4-tuple, from 1.
    pub incarnation: u32,
    /// The 4-tuple has been used by more than one incarnation so far: print the incarnation.
    pub reused: bool,
}

/// A record's connection, with the initial sequence numbers to print its packet relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tagged {
    /// The connection.
    pub tag: ConnTag,
    /// For a packet record: the ISN of the packet's sender, and of its receiver, as far as
    /// they are known.
    pub isn_src: Option<Seq>,
    /// See `isn_src`.
    pub isn_dst: Option<Seq>,
    /// For a delivery: the connection the packet lands in when that is not its own, such as
    /// a delayed duplicate of #1 reaching a socket that is on #2 of the same 4-tuple.
    pub into: Option<ConnTag>,
}

/// An endpoint as ordered bits (address, port).
type End = (u32, u16);

/// A 4-tuple with its two ends in a fixed order, and which end a packet or event comes from.
fn key(a: End, b: End) -> ((End, End), usize) {
    if a <= b { ((a, b), 0) } else { ((b, a), 1) }
}

fn end(addr: Ipv4Addr, port: u16) -> End {
    (u32::from(addr), port)
}

/// [`key`] of a packet's 4-tuple, and which end sent it.
fn packet_key(p: &Packet) -> ((End, End), usize) {
    key(
        end(p.src, p.segment.src_port),
        end(p.dst, p.segment.dst_port),
    )
}

/// One incarnation of a tuple.
#[derive(Clone, Copy, Debug)]
struct Conn {
    number: u64,
    incarnation: u32,
    /// ISN of each side (indexed as in [`key`]).
    isn: [Option<Seq>; 2],
}

/// Incarnations of one tuple kept for attribution; older ones are forgotten.
const KEPT: usize = 4;

#[derive(Debug, Default, Clone)]
struct Tuple {
    /// The last incarnations, newest last.
    recent: VecDeque<Conn>,
    /// The incarnation each side's socket is on (0: none).
    sides: [u32; 2],
}

impl Tuple {
    fn newest(&self) -> Option<&Conn> {
        self.recent.back()
    }

    /// The incarnation `side`'s socket is on, or the newest when it is on none still kept.
    fn on(&self, side: usize) -> Option<&Conn> {
        let bound = self.sides[side];
        (self.recent.iter().rev())
            .find(|c| c.incarnation == bound)
            .or_else(|| self.newest())
    }

    fn find(&mut self, incarnation: u32) -> Option<&mut Conn> {
        self.recent
            .iter_mut()
            .rev()
            .find(|c| c.incarnation == incarnation)
    }

    /// Whether the tuple has been used again: its marks (`#k`) are printed.
    fn reused(&self) -> bool {
        self.newest().is_some_and(|n| n.incarnation > 1)
    }

    fn tag(&self, c: &Conn) -> ConnTag {
        ConnTag {
            number: c.number,
            incarnation: c.incarnation,
            reused: self.reused(),
        }
    }
}

/// Follows the connections of a trace; see the module documentation.
#[derive(Debug, Default, Clone)]
pub struct Connections {
    tuples: BTreeMap<(End, End), Tuple>,
    /// Packets sent and not yet delivered or dropped: their connection, and the ISNs (in the
    /// packet's direction) they were tagged with.
    in_flight: BTreeMap<u64, ((End, End), Tagged)>,
    /// Connections so far.
    count: u64,
}

impl Connections {
    /// How many connections the trace has shown so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Starts the next incarnation of `tuple`.
    fn open(&mut self, k: (End, End)) -> Conn {
        self.count += 1;
        let t = self.tuples.entry(k).or_default();
        let c = Conn {
            number: self.count,
            incarnation: t.newest().map_or(1, |n| n.incarnation + 1),
            isn: [None; 2],
        };
        if t.recent.len() == KEPT {
            t.recent.pop_front();
        }
        t.recent.push_back(c);
        c
    }

    /// The incarnation `side` of `k` is on, or the newest, or a new one.
    fn current(&mut self, k: (End, End), side: usize) -> Conn {
        if let Some(t) = self.tuples.get_mut(&k) {
            let bound = t.sides[side];
            if let Some(c) = t.find(bound) {
                return *c;
            }
            if let Some(c) = t.newest() {
                return *c;
            }
        }
        self.open(k)
    }

    fn bind(&mut self, k: (End, End), side: usize, c: Conn) {
        if let Some(t) = self.tuples.get_mut(&k) {
            t.sides[side] = c.incarnation;
        }
    }

    fn set_isn(&mut self, k: (End, End), c: &mut Conn, side: usize, isn: Seq) {
        c.isn[side] = Some(isn);
        if let Some(stored) = self.tuples.get_mut(&k).and_then(|t| t.find(c.incarnation)) {
            stored.isn[side] = Some(isn);
        }
    }

    /// The tag of `c` on `k`, a tuple already followed (every caller opened or found it).
    fn tagged(&self, k: (End, End), c: &Conn, side: usize) -> Tagged {
        Tagged {
            tag: self.tuples[&k].tag(c),
            isn_src: c.isn[side],
            isn_dst: c.isn[1 - side],
            into: None,
        }
    }

    /// A packet a host sends; `injected` ones are crafted by the scenario and take the newest
    /// incarnation without changing anything.
    fn sent(&mut self, id: u64, p: &Packet, injected: bool) -> Tagged {
        let (k, side) = packet_key(p);
        let flags = p.segment.flags;
        let newest = self.tuples.get(&k).and_then(Tuple::newest).copied();
        let c = if injected {
            // Read against the connection it was aimed at, whose ISNs are current.
            match newest {
                Some(c) => c,
                None => self.open(k),
            }
        } else if flags.contains(TcpFlags::SYN) {
            // RFC 9293 §3.4: a connection starts with a SYN and a fresh ISN; the same ISN
            // again is a retransmission. A SYN-ACK answers the newest incarnation.
            let seq = p.segment.seq;
            let mut c = match newest {
                Some(c) if flags.contains(TcpFlags::ACK) => c,
                Some(c) if c.isn[side].is_none_or(|isn| isn == seq) => c,
                _ => self.open(k),
            };
            if c.isn[side] != Some(seq) {
                self.set_isn(k, &mut c, side, seq);
            }
            self.bind(k, side, c);
            c
        } else {
            self.current(k, side)
        };
        let tagged = self.tagged(k, &c, side);
        self.in_flight.insert(id, (k, tagged));
        tagged
    }

    /// A packet record after its `Sent`: its tag from then (`gone` when it leaves the network,
    /// `arrives` when it is delivered).
    fn later(&mut self, id: u64, p: &Packet, gone: bool, arrives: bool) -> Tagged {
        let found = if gone {
            self.in_flight.remove(&id)
        } else {
            self.in_flight.get(&id).copied()
        };
        match found {
            Some((k, mut tagged)) => {
                if let Some(t) = self.tuples.get(&k) {
                    // Whether the tuple counts as reused is decided now, not when it was sent.
                    tagged.tag.reused = t.reused();
                    if arrives {
                        let receiver = 1 - packet_key(p).1;
                        // Only a later incarnation: an old socket's own segments, or a new
                        // SYN reaching a side whose last socket is gone, land in nothing else.
                        tagged.into = t
                            .on(receiver)
                            .filter(|c| c.incarnation > tagged.tag.incarnation)
                            .map(|c| t.tag(c));
                    }
                }
                tagged
            }
            None => {
                // Not seen sent (a sink that started late): the newest incarnation.
                let (k, side) = packet_key(p);
                let c = self.current(k, side);
                self.tagged(k, &c, side)
            }
        }
    }

    fn event(&mut self, e: EventConn) -> Option<Tagged> {
        if e.remote.port() == 0 {
            return None; // a listener
        }
        let (k, side) = key(
            end(*e.local.ip(), e.local.port()),
            end(*e.remote.ip(), e.remote.port()),
        );
        let c = if e.opens {
            let newest = self.tuples.get(&k).and_then(Tuple::newest).copied();
            match newest {
                Some(c) if c.isn[side].is_none() => c,
                _ => self.open(k),
            }
        } else if e.joins {
            match self.tuples.get(&k).and_then(Tuple::newest) {
                Some(c) => *c,
                None => self.open(k),
            }
        } else {
            self.current(k, side)
        };
        if e.opens || e.joins {
            self.bind(k, side, c);
        }
        Some(self.tagged(k, &c, side))
    }

    /// The connection of `record`, if it has one, and notes what it shows. Every record of
    /// the run must pass through here, in order.
    pub fn record<E: TraceEvent>(&mut self, record: &TraceRecord<'_, E>) -> Option<Tagged> {
        match &record.kind {
            TraceKind::Sent {
                id,
                packet,
                sender_state,
                ..
            } => Some(self.sent(id.0, packet, *sender_state == crate::inject::INJECTED)),
            TraceKind::Duplicated {
                id, copy, packet, ..
            } => {
                let tagged = self.later(id.0, packet, false, false);
                if let Some(&entry) = self.in_flight.get(&id.0) {
                    self.in_flight.insert(copy.0, entry);
                }
                Some(tagged)
            }
            TraceKind::Delivered { id, packet, .. } => Some(self.later(id.0, packet, true, true)),
            TraceKind::Dropped { id, packet, .. } => Some(self.later(id.0, packet, true, false)),
            TraceKind::Delayed { id, packet, .. }
            | TraceKind::Held { id, packet, .. }
            | TraceKind::Released { id, packet } => Some(self.later(id.0, packet, false, false)),
            TraceKind::Protocol { event, .. } => event.conn().and_then(|e| self.event(e)),
            // A crash changes nothing here: the host's sockets are gone, and the next records
            // of its tuples take the newest incarnation (the crashed host's address is not
            // known here, so every side binding stays: a restarted host's sockets join afresh).
            TraceKind::Timer { .. } | TraceKind::Network(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::PacketId;
    use crate::{HostId, NoEvent};
    use netsim_core::{Segment, SimTime};

    fn packet(from: u16, to: u16, seq: u32, flags: TcpFlags) -> Packet {
        Packet {
            src: Ipv4Addr::new(10, 0, 0, if from == 80 { 2 } else { 1 }),
            dst: Ipv4Addr::new(10, 0, 0, if to == 80 { 2 } else { 1 }),
            segment: Segment {
                src_port: from,
                dst_port: to,
                seq: Seq(seq),
                flags,
                ..Segment::default()
            },
        }
    }

    #[derive(Default)]
    struct Run {
        c: Connections,
        next: u64,
    }

    impl Run {
        fn send(&mut self, p: &Packet) -> (ConnTag, u64) {
            self.next += 1;
            let r: TraceRecord<'_, NoEvent> = TraceRecord {
                at: SimTime::ZERO,
                kind: TraceKind::Sent {
                    host: HostId(0),
                    id: PacketId(self.next),
                    packet: p,
                    sender_state: "X",
                },
            };
            (self.c.record(&r).unwrap().tag, self.next)
        }

        fn deliver(&mut self, id: u64, p: &Packet) -> Tagged {
            let r: TraceRecord<'_, NoEvent> = TraceRecord {
                at: SimTime::ZERO,
                kind: TraceKind::Delivered {
                    host: HostId(1),
                    id: PacketId(id),
                    packet: p,
                },
            };
            self.c.record(&r).unwrap()
        }
    }

    /// Retransmitted SYNs stay one connection; a SYN with a fresh ISN on the same tuple is its
    /// next incarnation; a packet of the first incarnation delivered during the second is
    /// still #1, numbered against #1's ISNs; both incarnations then print as reused.
    #[test]
    fn a_reused_tuple_gets_a_new_incarnation_and_old_packets_keep_theirs() {
        let mut run = Run::default();
        let syn = packet(40000, 80, 1000, TcpFlags::SYN);
        let (first, _) = run.send(&syn);
        assert_eq!(
            (first.number, first.incarnation, first.reused),
            (1, 1, false)
        );
        assert_eq!(run.send(&syn).0, first, "a retransmitted SYN");
        let synack = packet(80, 40000, 5000, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(run.send(&synack).0, first);
        let old_data = packet(40000, 80, 1001, TcpFlags::ACK);
        let (_, old_id) = run.send(&old_data);
        let syn2 = packet(40000, 80, 9000, TcpFlags::SYN);
        let (second, _) = run.send(&syn2);
        assert_eq!(
            (second.number, second.incarnation, second.reused),
            (2, 2, true)
        );
        let late = run.deliver(old_id, &old_data);
        assert_eq!(
            (late.tag.number, late.tag.incarnation, late.tag.reused),
            (1, 1, true)
        );
        assert_eq!(late.isn_src, Some(Seq(1000)), "numbered against #1's ISN");
        // Another tuple is a connection of its own.
        let (other, _) = run.send(&packet(40001, 80, 7, TcpFlags::SYN));
        assert_eq!(
            (other.number, other.incarnation, other.reused),
            (3, 1, false)
        );
        assert_eq!(run.c.count(), 3);
    }

    /// A delayed duplicate of #1 delivered to a side whose socket is on #2 says it lands in
    /// #2 (`into`); delivered to a side still on #1, or dropped, it lands nowhere else; nor
    /// does #2's SYN reaching a side whose last socket was on #1.
    #[test]
    fn a_delivery_into_a_later_incarnation_names_it() {
        let mut run = Run::default();
        let server = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let client = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
        let server_joins = EventConn {
            local: server,
            remote: client,
            joins: true,
            opens: false,
        };
        run.send(&packet(40000, 80, 1000, TcpFlags::SYN));
        run.c.event(server_joins);
        // Four segments of #1, all sent before #2 opens.
        let data = packet(40000, 80, 1001, TcpFlags::ACK);
        let ids: Vec<u64> = (0..4).map(|_| run.send(&data).1).collect();
        assert_eq!(run.deliver(ids[0], &data).into, None, "the server is on #1");
        let (second, _) = run.send(&packet(40000, 80, 9000, TcpFlags::SYN));
        assert_eq!(
            run.deliver(ids[1], &data).into,
            None,
            "its socket is still on #1"
        );
        run.c.event(server_joins);
        let dropped: TraceRecord<'_, NoEvent> = TraceRecord {
            at: SimTime::ZERO,
            kind: TraceKind::Dropped {
                id: PacketId(ids[2]),
                packet: &data,
                reason: crate::DropReason::Loss,
            },
        };
        assert_eq!(
            run.c.record(&dropped).unwrap().into,
            None,
            "a drop lands nowhere"
        );
        let stray = run.deliver(ids[3], &data);
        assert_eq!((stray.tag.number, stray.tag.incarnation), (1, 1));
        assert_eq!(stray.into, Some(second), "#1's segment lands in #2");
        // #3 opens; its SYN reaches the server, whose side is still bound to #2.
        let syn3 = packet(40000, 80, 20000, TcpFlags::SYN);
        let (third, id) = run.send(&syn3);
        let arrives = run.deliver(id, &syn3);
        assert_eq!((arrives.tag, arrives.into), (third, None));
    }

    /// A SYN-ACK answers the newest incarnation even with an ISN its side has not used in it:
    /// a server that restarted between two copies of the client's SYN answers the second
    /// with a fresh ISN, and that is still the client's one connection.
    #[test]
    fn a_syn_ack_with_a_fresh_isn_answers_the_newest_incarnation() {
        let mut run = Run::default();
        let syn = packet(40000, 80, 1000, TcpFlags::SYN);
        let (first, _) = run.send(&syn);
        run.send(&packet(80, 40000, 5000, TcpFlags::SYN | TcpFlags::ACK));
        assert_eq!(run.send(&syn).0, first, "the SYN again");
        let (answer, id) = run.send(&packet(80, 40000, 7000, TcpFlags::SYN | TcpFlags::ACK));
        assert_eq!(answer, first);
        let later = packet(80, 40000, 7001, TcpFlags::ACK);
        let delivered = run.deliver(id, &later);
        assert_eq!(
            delivered.isn_src,
            Some(Seq(7000)),
            "numbered from the fresh ISN"
        );
        assert_eq!(run.c.count(), 1);
    }

    /// In a simultaneous open each side's SYN belongs to the one connection; a socket that
    /// opens again after sending its SYN starts a new incarnation.
    #[test]
    fn a_simultaneous_open_is_one_connection() {
        let mut c = Connections::default();
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5000);
        let b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 6000);
        let opens = |local, remote| EventConn {
            local,
            remote,
            joins: true,
            opens: true,
        };
        let t1 = c.event(opens(a, b)).unwrap().tag;
        let mut syn_a = packet(5000, 6000, 1, TcpFlags::SYN);
        syn_a.src = *a.ip();
        syn_a.dst = *b.ip();
        assert_eq!(c.sent(1, &syn_a, false).tag, t1);
        let t2 = c.event(opens(b, a)).unwrap().tag;
        assert_eq!(t1, t2, "the peer opening at once joins");
        let t3 = c.event(opens(a, b)).unwrap().tag;
        assert_eq!(
            (t3.number, t3.incarnation),
            (2, 2),
            "opening again is a new one"
        );
        let listener = EventConn {
            local: a,
            remote: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            joins: true,
            opens: false,
        };
        assert_eq!(c.event(listener), None);
    }
}
