//! The trace: a stream of typed records (packet sent, delivered, dropped with a reason,
//! duplicated, delayed, held, released; timers; protocol events; network changes), each with its
//! time. Records go to a [`TraceSink`] as they happen (nothing is kept in memory unless the sink
//! keeps it) and every record also feeds a running [`StableHasher`], so two runs compare by hash
//! even when no sink renders anything.

use std::fmt::{self, Write as _};
use std::io;

use netsim_core::{Packet, RelativePacket, SimDuration, SimTime, StableHasher};

use crate::conn::{Connections, Tagged};

use crate::config::{Direction, FaultId, HostId, NetChange};

/// A protocol event the host layer reports (a TCP state change, an error to the application).
/// It must print on one line and hash stably.
pub trait TraceEvent: fmt::Display {
    /// Feeds the event into the trace hash.
    fn hash_into(&self, h: &mut StableHasher);

    /// The connection the event is about, for readers that follow connections
    /// ([`crate::conn::Connections`]); none by default.
    fn conn(&self) -> Option<crate::conn::EventConn> {
        None
    }
}

/// Hosts that report no protocol events use this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoEvent {}

impl fmt::Display for NoEvent {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl TraceEvent for NoEvent {
    fn hash_into(&self, _: &mut StableHasher) {
        match *self {}
    }
}

/// Unique number of a packet within a run (copies made by duplication get their own).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PacketId(pub u64);

/// Why the network discarded a packet.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum DropReason {
    /// Random loss on the link.
    Loss,
    /// The link's drop-tail queue was full.
    QueueFull,
    /// Larger than the link's MTU.
    Mtu,
    /// It would have arrived later than the network lifetime after it was sent.
    LifetimeExpired,
    /// A partition cut its link (before or while it was in flight).
    Partition,
    /// Its destination host was crashed when it arrived.
    HostDown,
    /// No host has its destination address, or no link joins sender and receiver.
    NoRoute,
    /// A targeted fault rule dropped it.
    Fault(FaultId),
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Loss => f.write_str("loss"),
            DropReason::QueueFull => f.write_str("queue full"),
            DropReason::Mtu => f.write_str("mtu"),
            DropReason::LifetimeExpired => f.write_str("lifetime expired"),
            DropReason::Partition => f.write_str("partition"),
            DropReason::HostDown => f.write_str("host down"),
            DropReason::NoRoute => f.write_str("no route"),
            DropReason::Fault(id) => write!(f, "{id}"),
        }
    }
}

impl DropReason {
    fn code(self) -> u64 {
        match self {
            DropReason::Loss => 1,
            DropReason::QueueFull => 2,
            DropReason::Mtu => 3,
            DropReason::LifetimeExpired => 4,
            DropReason::Partition => 5,
            DropReason::HostDown => 6,
            DropReason::NoRoute => 7,
            DropReason::Fault(id) => 0x100 + u64::from(id.0),
        }
    }
}

/// Who made a copy or added a delay: the link's random knobs, or a fault rule.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Cause {
    /// The link's duplication or reordering probability.
    Link,
    /// A targeted fault rule.
    Fault(FaultId),
}

impl Cause {
    fn code(self) -> u64 {
        match self {
            Cause::Link => 0,
            Cause::Fault(id) => 1 + u64::from(id.0),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Link => f.write_str("link"),
            Cause::Fault(id) => write!(f, "{id}"),
        }
    }
}

/// What happened.
#[derive(Debug)]
pub enum TraceKind<'a, E> {
    /// A host handed a packet to the network.
    Sent {
        /// Sender.
        host: HostId,
        /// The packet's number.
        id: PacketId,
        /// The packet.
        packet: &'a Packet,
        /// The sender's protocol state label when it sent it.
        sender_state: &'static str,
    },
    /// A packet reached its destination host.
    Delivered {
        /// Receiver.
        host: HostId,
        /// The packet's number.
        id: PacketId,
        /// The packet.
        packet: &'a Packet,
    },
    /// The network discarded a packet.
    Dropped {
        /// The packet's number.
        id: PacketId,
        /// The packet.
        packet: &'a Packet,
        /// Why.
        reason: DropReason,
    },
    /// The network made a second copy of a packet.
    Duplicated {
        /// The original's number.
        id: PacketId,
        /// The copy's number.
        copy: PacketId,
        /// The packet.
        packet: &'a Packet,
        /// Who made the copy.
        cause: Cause,
    },
    /// A packet will arrive later than the link alone would deliver it.
    Delayed {
        /// The packet's number.
        id: PacketId,
        /// The packet.
        packet: &'a Packet,
        /// The extra delay.
        by: SimDuration,
        /// Who added it.
        cause: Cause,
    },
    /// A fault rule, or a hold of the link, holds a packet back from its link.
    Held {
        /// The packet's number.
        id: PacketId,
        /// The packet.
        packet: &'a Packet,
        /// The rule (`Cause::Fault`), or a hold of the link (`Cause::Link`).
        cause: Cause,
    },
    /// A held packet enters its link.
    Released {
        /// The packet's number.
        id: PacketId,
        /// The packet.
        packet: &'a Packet,
    },
    /// A host timer fired.
    Timer {
        /// The host.
        host: HostId,
        /// The token the host armed it with.
        token: u64,
        /// What the host called it (may be empty).
        label: &'static str,
    },
    /// The protocol layer of a host reports something.
    Protocol {
        /// The host.
        host: HostId,
        /// What it reports.
        event: &'a E,
    },
    /// A scheduled network change took effect.
    Network(NetChange),
}

/// One trace record: a time and what happened.
#[derive(Debug)]
pub struct TraceRecord<'a, E> {
    /// When.
    pub at: SimTime,
    /// What.
    pub kind: TraceKind<'a, E>,
}

impl<E: TraceEvent> TraceRecord<'_, E> {
    /// Feeds the record into the trace hash: its time, its kind and every field.
    pub fn hash_into(&self, h: &mut StableHasher) {
        h.write_u64(self.at.as_nanos());
        match &self.kind {
            TraceKind::Sent {
                host,
                id,
                packet,
                sender_state,
            } => {
                h.write_u64(1 << 32 | u64::from(host.0));
                h.write_u64(id.0);
                h.write_str(sender_state);
                packet.hash_into(h);
            }
            TraceKind::Delivered { host, id, .. } => {
                // The packet's contents were hashed when it was sent; its number identifies it.
                h.write_u64(2 << 32 | u64::from(host.0));
                h.write_u64(id.0);
            }
            TraceKind::Dropped { id, reason, .. } => {
                h.write_u64(3 << 32 | reason.code());
                h.write_u64(id.0);
            }
            TraceKind::Duplicated {
                id, copy, cause, ..
            } => {
                h.write_u64(4 << 32 | cause.code());
                h.write_u64(id.0);
                h.write_u64(copy.0);
            }
            TraceKind::Delayed { id, by, cause, .. } => {
                h.write_u64(5 << 32 | cause.code());
                h.write_u64(id.0);
                h.write_u64(by.as_nanos());
            }
            TraceKind::Held { id, cause, .. } => {
                match cause {
                    Cause::Fault(fault) => h.write_u64(6 << 32 | u64::from(fault.0)),
                    Cause::Link => h.write_u64(20 << 32),
                }
                h.write_u64(id.0);
            }
            TraceKind::Released { id, .. } => {
                h.write_u64(7 << 32);
                h.write_u64(id.0);
            }
            TraceKind::Timer { host, token, label } => {
                h.write_u64(8 << 32 | u64::from(host.0));
                h.write_u64(*token);
                h.write_str(label);
            }
            TraceKind::Protocol { host, event } => {
                h.write_u64(9 << 32 | u64::from(host.0));
                event.hash_into(h);
            }
            TraceKind::Network(change) => {
                let (code, a, b) = match *change {
                    NetChange::Partition(a, b, d) => (10 + dir_code(d), a.0, b.0),
                    NetChange::Heal(a, b, d) => (12 + dir_code(d), a.0, b.0),
                    NetChange::Crash(a) => (14, a.0, 0),
                    NetChange::Restart(a) => (15, a.0, 0),
                    NetChange::Hold(a, b, d) => (16 + dir_code(d), a.0, b.0),
                    NetChange::Release(a, b, d) => (18 + dir_code(d), a.0, b.0),
                };
                h.write_u64(code << 32);
                h.write_u64(u64::from(a) << 32 | u64::from(b));
            }
        }
    }
}

fn dir_code(d: Direction) -> u64 {
    match d {
        Direction::OneWay => 0,
        Direction::Both => 1,
    }
}

/// Where records go. `start` is called once before the run with the hosts' names.
pub trait TraceSink<E> {
    /// Called once, before the first record, with the host names indexed by [`HostId`].
    fn start(&mut self, _host_names: &[String]) {}
    /// Called for every record, in order.
    fn record(&mut self, record: &TraceRecord<'_, E>);
}

/// Discards every record (the running hash is still kept by the engine).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl<E> TraceSink<E> for NullSink {
    fn record(&mut self, _: &TraceRecord<'_, E>) {}
}

/// Any closure over records is a sink; handy in tests.
impl<E, F: FnMut(&TraceRecord<'_, E>)> TraceSink<E> for F {
    fn record(&mut self, record: &TraceRecord<'_, E>) {
        self(record)
    }
}

/// Renders records as stable one-line text. Sequence numbers are relative to each
/// connection's ISNs, as tcpdump prints them (SYNs show the absolute ISN).
///
/// ```text
///    0.001000s    client > 10.0.0.1:49152 > 10.0.0.2:80 [S] seq 0 win 65535 len 0
///    0.002000250s server < 10.0.0.1:49152 > 10.0.0.2:80 [S] seq 0 win 65535 len 0
///    0.003000s    net    drop (queue full) 10.0.0.2:80 > 10.0.0.1:49152 [S.] seq 0 ack 1 ...
///    5.000000s    net    partition client <-> server
/// ```
#[derive(Debug, Default, Clone)]
pub struct TextFormat {
    names: Vec<String>,
    width: usize,
    /// The connections seen so far: ISNs for tcpdump's relative numbers, incarnations of
    /// reused 4-tuples.
    conns: Connections,
}

/// The packet with sequence numbers relative to its connection's ISNs (as tcpdump prints
/// them), and its incarnation when its 4-tuple has had more than one.
fn relative(packet: &Packet, conn: Option<Tagged>) -> RelativePacket<'_> {
    let (src, dst) = conn.map_or((None, None), |c| (c.isn_src, c.isn_dst));
    packet
        .relative(src, dst)
        .incarnation(shown_incarnation(conn))
}

/// The incarnation a line prints (`#k`): only once its 4-tuple has been used again.
fn shown_incarnation(conn: Option<Tagged>) -> Option<u32> {
    conn.filter(|c| c.tag.reused).map(|c| c.tag.incarnation)
}

/// Name of the actor column for things the network itself does.
const NET: &str = "net";

impl TextFormat {
    /// A formatter for hosts with these names.
    pub fn new(host_names: &[String]) -> Self {
        let width = host_names
            .iter()
            .map(String::len)
            .chain([NET.len()])
            .max()
            .unwrap_or(0);
        TextFormat {
            names: host_names.to_vec(),
            width,
            conns: Connections::default(),
        }
    }

    fn name(&self, host: HostId) -> &str {
        self.names.get(host.index()).map_or("?", String::as_str)
    }

    /// Notes the connection of `record` (every record of the run must pass here, in order,
    /// whether it is written or not) and returns it.
    pub fn track<E: TraceEvent>(&mut self, record: &TraceRecord<'_, E>) -> Option<Tagged> {
        self.conns.record(record)
    }

    /// Appends one line (without the newline) for `record` to `out`.
    pub fn write<E: TraceEvent>(&mut self, record: &TraceRecord<'_, E>, out: &mut String) {
        let conn = self.track(record);
        self.write_tracked(record, conn, out);
    }

    /// Appends the line of a record already passed to [`TextFormat::track`], with its
    /// connection.
    pub fn write_tracked<E: fmt::Display>(
        &self,
        record: &TraceRecord<'_, E>,
        conn: Option<Tagged>,
        out: &mut String,
    ) {
        let w = self.width;
        let rel = |packet| relative(packet, conn);
        // Decimal points line up whether the instant prints 6 or 9 decimals.
        let time = record.at.to_string();
        let (secs, frac) = time.split_once('.').unwrap_or((&time, "s"));
        let _ = write!(out, "{secs:>4}.{frac:<11}");
        // Writing to a String cannot fail.
        let _ = match &record.kind {
            TraceKind::Sent {
                host,
                packet,
                sender_state: crate::inject::INJECTED,
                ..
            } => write!(
                out,
                "{:<w$} > {} (injected)",
                self.name(*host),
                // A crafted SYN does not start a new numbering: it is read against the
                // connection it was aimed at (see `Connections`).
                rel(packet)
            ),
            TraceKind::Sent { host, packet, .. } => {
                write!(out, "{:<w$} > {}", self.name(*host), rel(packet))
            }
            TraceKind::Delivered { host, packet, .. } => {
                write!(out, "{:<w$} < {}", self.name(*host), rel(packet))
            }
            TraceKind::Dropped { packet, reason, .. } => {
                write!(out, "{NET:<w$} drop ({reason}) {}", rel(packet))
            }
            TraceKind::Duplicated { packet, cause, .. } => {
                write!(out, "{NET:<w$} duplicate ({cause}) {}", rel(packet))
            }
            TraceKind::Delayed {
                packet, by, cause, ..
            } => write!(out, "{NET:<w$} delay +{by} ({cause}) {}", rel(packet)),
            TraceKind::Held { packet, cause, .. } => {
                write!(out, "{NET:<w$} hold ({cause}) {}", rel(packet))
            }
            TraceKind::Released { packet, .. } => {
                write!(out, "{NET:<w$} release {}", rel(packet))
            }
            TraceKind::Timer {
                host,
                token,
                label: "",
            } => {
                write!(out, "{:<w$} timer {token}", self.name(*host))
            }
            TraceKind::Timer { host, label, .. } => {
                write!(out, "{:<w$} timer {label}", self.name(*host))
            }
            TraceKind::Protocol { host, event } => write!(out, "{:<w$} {event}", self.name(*host))
                .and_then(|()| shown_incarnation(conn).map_or(Ok(()), |k| write!(out, " #{k}"))),
            TraceKind::Network(change) => {
                write!(out, "{NET:<w$} {}", change.describe(|h| self.name(h)))
            }
        };
    }
}

/// Writes each record as a text line to an `io::Write` (a file, stdout). The first write error
/// is kept and reported by [`TextWriter::finish`]; later records are skipped.
pub struct TextWriter<W: io::Write> {
    format: TextFormat,
    out: W,
    line: String,
    error: Option<io::Error>,
}

impl<W: io::Write> TextWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        TextWriter {
            format: TextFormat::default(),
            out,
            line: String::new(),
            error: None,
        }
    }

    /// Flushes and returns the destination, or the first write error.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes `record` if `keep` says so, given its connection; the record counts for the
    /// numbering of connections and sequence numbers either way.
    pub fn record_if<E: TraceEvent>(
        &mut self,
        record: &TraceRecord<'_, E>,
        keep: impl FnOnce(Option<Tagged>) -> bool,
    ) {
        let conn = self.format.track(record);
        if self.error.is_some() || !keep(conn) {
            return;
        }
        self.line.clear();
        self.format.write_tracked(record, conn, &mut self.line);
        self.line.push('\n');
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.error = Some(e);
        }
    }
}

impl<W: io::Write, E: TraceEvent> TraceSink<E> for TextWriter<W> {
    fn start(&mut self, host_names: &[String]) {
        self.format = TextFormat::new(host_names);
    }

    fn record(&mut self, record: &TraceRecord<'_, E>) {
        self.record_if(record, |_| true);
    }
}

/// Keeps every record as a text line in memory (for tests and snapshots of short runs).
#[derive(Debug, Default, Clone)]
pub struct TextLines {
    format: TextFormat,
    /// The lines so far.
    pub lines: Vec<String>,
}

impl<E: TraceEvent> TraceSink<E> for TextLines {
    fn start(&mut self, host_names: &[String]) {
        self.format = TextFormat::new(host_names);
    }

    fn record(&mut self, record: &TraceRecord<'_, E>) {
        let mut line = String::new();
        self.format.write(record, &mut line);
        self.lines.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsim_core::{Segment, Seq, TcpFlags};
    use std::net::Ipv4Addr;

    fn packet(seq: u32, flags: TcpFlags) -> Packet {
        Packet {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            segment: Segment {
                src_port: 1000,
                dst_port: 80,
                seq: Seq(seq),
                flags,
                ..Segment::default()
            },
        }
    }

    /// One record of every kind, and for each a second that differs in one field (the ids,
    /// hosts, reasons, causes, delays, tokens, labels, directions and ends of a change).
    fn records(p: &Packet) -> Vec<TraceRecord<'_, NoEvent>> {
        let t = SimTime::after(SimDuration::from_millis(1));
        let id = PacketId(7);
        let (h0, h1) = (HostId(0), HostId(1));
        let kinds = vec![
            TraceKind::Sent {
                host: h0,
                id,
                packet: p,
                sender_state: "ESTABLISHED",
            },
            TraceKind::Sent {
                host: h1,
                id,
                packet: p,
                sender_state: "ESTABLISHED",
            },
            TraceKind::Sent {
                host: h0,
                id,
                packet: p,
                sender_state: "SYN_SENT",
            },
            TraceKind::Delivered {
                host: h0,
                id,
                packet: p,
            },
            TraceKind::Delivered {
                host: h1,
                id,
                packet: p,
            },
            TraceKind::Delivered {
                host: h0,
                id: PacketId(8),
                packet: p,
            },
            TraceKind::Dropped {
                id,
                packet: p,
                reason: DropReason::Loss,
            },
            TraceKind::Dropped {
                id,
                packet: p,
                reason: DropReason::QueueFull,
            },
            TraceKind::Dropped {
                id,
                packet: p,
                reason: DropReason::Mtu,
            },
            TraceKind::Dropped {
                id,
                packet: p,
                reason: DropReason::LifetimeExpired,
            },
            TraceKind::Dropped {
                id,
                packet: p,
                reason: DropReason::Partition,
            },
            TraceKind::Dropped {
                id,
                packet: p,
                reason: DropReason::HostDown,
            },
            TraceKind::Dropped {
                id,
                packet: p,
                reason: DropReason::NoRoute,
            },
            TraceKind::Dropped {
                id,
                packet: p,
                reason: DropReason::Fault(FaultId(0)),
            },
            TraceKind::Dropped {
                id,
                packet: p,
                reason: DropReason::Fault(FaultId(1)),
            },
            TraceKind::Duplicated {
                id,
                copy: PacketId(9),
                packet: p,
                cause: Cause::Link,
            },
            TraceKind::Duplicated {
                id,
                copy: PacketId(9),
                packet: p,
                cause: Cause::Fault(FaultId(0)),
            },
            TraceKind::Duplicated {
                id,
                copy: PacketId(10),
                packet: p,
                cause: Cause::Link,
            },
            TraceKind::Delayed {
                id,
                packet: p,
                by: SimDuration::from_millis(5),
                cause: Cause::Link,
            },
            TraceKind::Delayed {
                id,
                packet: p,
                by: SimDuration::from_millis(6),
                cause: Cause::Link,
            },
            TraceKind::Delayed {
                id,
                packet: p,
                by: SimDuration::from_millis(5),
                cause: Cause::Fault(FaultId(2)),
            },
            TraceKind::Held {
                id,
                packet: p,
                cause: Cause::Fault(FaultId(0)),
            },
            TraceKind::Held {
                id,
                packet: p,
                cause: Cause::Fault(FaultId(1)),
            },
            TraceKind::Held {
                id,
                packet: p,
                cause: Cause::Link,
            },
            TraceKind::Released { id, packet: p },
            TraceKind::Released {
                id: PacketId(8),
                packet: p,
            },
            TraceKind::Timer {
                host: h0,
                token: 1,
                label: "",
            },
            TraceKind::Timer {
                host: h0,
                token: 2,
                label: "",
            },
            TraceKind::Timer {
                host: h1,
                token: 1,
                label: "",
            },
            TraceKind::Timer {
                host: h0,
                token: 1,
                label: "rto",
            },
            TraceKind::Network(NetChange::Partition(h0, h1, Direction::Both)),
            TraceKind::Network(NetChange::Partition(h0, h1, Direction::OneWay)),
            TraceKind::Network(NetChange::Partition(h1, h0, Direction::Both)),
            TraceKind::Network(NetChange::Heal(h0, h1, Direction::Both)),
            TraceKind::Network(NetChange::Heal(h0, h1, Direction::OneWay)),
            TraceKind::Network(NetChange::Crash(h0)),
            TraceKind::Network(NetChange::Crash(h1)),
            TraceKind::Network(NetChange::Restart(h0)),
            TraceKind::Network(NetChange::Hold(h0, h1, Direction::Both)),
            TraceKind::Network(NetChange::Hold(h0, h1, Direction::OneWay)),
            TraceKind::Network(NetChange::Release(h0, h1, Direction::Both)),
            TraceKind::Network(NetChange::Release(h0, h1, Direction::OneWay)),
        ];
        kinds
            .into_iter()
            .map(|kind| TraceRecord { at: t, kind })
            .collect()
    }

    fn hash(r: &TraceRecord<'_, NoEvent>) -> u64 {
        let mut h = StableHasher::default();
        r.hash_into(&mut h);
        h.finish()
    }

    /// Two records that differ in any field hash differently; the time counts too.
    #[test]
    fn every_field_of_a_record_reaches_its_hash() {
        let p = packet(1, TcpFlags::ACK);
        let rs = records(&p);
        let hashes: std::collections::BTreeSet<u64> = rs.iter().map(hash).collect();
        assert_eq!(
            hashes.len(),
            rs.len(),
            "a collision among {} records",
            rs.len()
        );
        let later = TraceRecord {
            at: SimTime::after(SimDuration::from_millis(2)),
            kind: TraceKind::Released {
                id: PacketId(7),
                packet: &p,
            },
        };
        assert!(!hashes.contains(&hash(&later)));
    }

    /// The hash of a fixed list of records. Every snapshot and every stored report carries
    /// trace hashes: if this changes, they all do, and reports of older versions no longer
    /// compare. Change it only on purpose.
    #[test]
    fn the_trace_hash_is_pinned() {
        let p = packet(1, TcpFlags::ACK);
        // The records links held by test code added (issue 14) are pinned on their own, so
        // the pin of the older ones shows their hashes did not move.
        let added = |r: &TraceRecord<'_, NoEvent>| {
            matches!(
                r.kind,
                TraceKind::Held {
                    cause: Cause::Link,
                    ..
                } | TraceKind::Network(NetChange::Hold(..) | NetChange::Release(..))
            )
        };
        let (mut older, mut newer) = (StableHasher::default(), StableHasher::default());
        for r in records(&p) {
            r.hash_into(if added(&r) { &mut newer } else { &mut older });
        }
        assert_eq!(older.finish(), PINNED_HASH, "got {:#x}", older.finish());
        assert_eq!(newer.finish(), PINNED_HOLDS, "got {:#x}", newer.finish());
    }

    const PINNED_HASH: u64 = 0x7d51_5f86_c9fa_2a38;
    const PINNED_HOLDS: u64 = 0xe53a_f0d7_07d1_a793;

    /// A protocol event for the tests.
    #[derive(Debug)]
    struct Word(u64);

    impl fmt::Display for Word {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "word {}", self.0)
        }
    }

    impl TraceEvent for Word {
        fn hash_into(&self, h: &mut StableHasher) {
            h.write_u64(self.0);
        }
    }

    /// Protocol records: the host and the event both reach the hash, and the kind keeps
    /// them apart from a timer of the same host; their hash is pinned too.
    #[test]
    fn protocol_records_hash_their_host_and_event() {
        let t = SimTime::ZERO;
        let (w1, w2) = (Word(1), Word(2));
        let protocol = |host: u32, event| TraceRecord {
            at: t,
            kind: TraceKind::Protocol {
                host: HostId(host),
                event,
            },
        };
        let hash = |r: &TraceRecord<'_, Word>| {
            let mut h = StableHasher::default();
            r.hash_into(&mut h);
            h.finish()
        };
        let timer: TraceRecord<'_, Word> = TraceRecord {
            at: t,
            kind: TraceKind::Timer {
                host: HostId(0),
                token: 1,
                label: "",
            },
        };
        let hashes = [
            hash(&protocol(0, &w1)),
            hash(&protocol(1, &w1)),
            hash(&protocol(0, &w2)),
            hash(&timer),
        ];
        let distinct: std::collections::BTreeSet<u64> = hashes.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "{hashes:x?}");
        assert_eq!(hashes[1], PINNED_PROTOCOL, "got {:#x}", hashes[1]);
    }

    const PINNED_PROTOCOL: u64 = 0x8d03_ed44_03e2_a721;

    /// The text form: aligned time, the actor column as wide as the longest host name, and
    /// sequence numbers relative to the ISN of the SYN each direction sent last.
    #[test]
    fn text_lines_name_hosts_and_number_sequence_relative_to_the_syn() {
        let names = ["client".to_string(), "server".to_string()];
        let mut sink = TextWriter::new(Vec::new());
        TraceSink::<NoEvent>::start(&mut sink, &names);
        let syn = packet(1000, TcpFlags::SYN);
        let data = packet(1001, TcpFlags::ACK);
        let at = |ms| SimTime::after(SimDuration::from_millis(ms));
        for (t, kind) in [
            (
                1,
                TraceKind::Sent {
                    host: HostId(0),
                    id: PacketId(1),
                    packet: &syn,
                    sender_state: "SYN_SENT",
                },
            ),
            (
                2,
                TraceKind::Delivered {
                    host: HostId(1),
                    id: PacketId(1),
                    packet: &syn,
                },
            ),
            (
                3,
                TraceKind::Dropped {
                    id: PacketId(2),
                    packet: &data,
                    reason: DropReason::Loss,
                },
            ),
            (4, TraceKind::Network(NetChange::Crash(HostId(1)))),
        ] {
            TraceSink::<NoEvent>::record(&mut sink, &TraceRecord { at: at(t), kind });
        }
        let text = String::from_utf8(sink.finish().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0]
                .starts_with("   0.001000s    client > 10.0.0.1:1000 > 10.0.0.2:80 [S] seq 1000"),
            "{text}"
        );
        assert!(lines[1].starts_with("   0.002000s    server < "), "{text}");
        assert!(
            lines[2].starts_with(
                "   0.003000s    net    drop (loss) 10.0.0.1:1000 > 10.0.0.2:80 [.] seq 1 "
            ),
            "{text}"
        );
        assert_eq!(lines[3], "   0.004000s    net    crash server");
    }
}
