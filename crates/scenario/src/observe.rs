//! [`Observer`]: a trace sink that watches TCP events on their way to the real sink and keeps
//! what expectations and oracles need: every connection's path through the states, the number
//! of connections per state over time and its peak, and illegal transitions.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use netsim_core::{SimDuration, SimTime};
use netsim_engine::{HostId, NetChange, TraceKind, TraceRecord, TraceSink};
use netsim_host::HostEvent;
use netsim_tcp::{ConnKey, State, TcpEvent};

use crate::compile::SentWindow;

/// What was seen of one host. Memory is bounded by the connections open at once, not by the
/// connections of the run: only the paths and windows the expectations ask for are kept.
#[derive(Debug, Clone, Default)]
pub struct HostView {
    /// The paths through the states of the connections an expectation names, by their
    /// number on this host (1, 2, ... in order of first appearance; listeners excluded).
    pub paths: BTreeMap<u32, Vec<State>>,
    /// Connection numbers whose path to keep.
    wanted: std::collections::BTreeSet<u32>,
    /// Connections seen so far.
    seen: u32,
    /// The number of the live connection of each 4-tuple (looked up, never iterated).
    open: netsim_core::fastmap::FastMap<ConnKey, u32>,
    /// Connections per state now (CLOSED not counted).
    pub counts: [u64; 11],
    /// Most connections per state at once.
    pub peaks: [u64; 11],
    /// Illegal transitions seen, as text.
    pub illegal: Vec<String>,
    /// Connections that reached ESTABLISHED within each window an expectation asks about:
    /// (from, to exclusive, count).
    pub established: Vec<(SimTime, SimTime, u64)>,
}

impl HostView {
    /// Connections that reached ESTABLISHED in `[from, to)` (a window given to the observer).
    pub fn established_in(&self, from: SimTime, to: SimTime) -> u64 {
        self.established
            .iter()
            .find(|(f, t, _)| (*f, *t) == (from, to))
            .map_or(0, |(_, _, n)| *n)
    }

    fn on_state(&mut self, at: SimTime, conn: ConnKey, from: State, to: State) {
        if to == State::Established {
            for (f, t, n) in &mut self.established {
                if at >= *f && at < *t {
                    *n += 1;
                }
            }
        }
        if from != State::Closed {
            self.counts[from as usize] = self.counts[from as usize].saturating_sub(1);
        }
        if to != State::Closed {
            let c = &mut self.counts[to as usize];
            *c += 1;
            self.peaks[to as usize] = self.peaks[to as usize].max(*c);
        }
        if conn.remote.port() == 0 {
            return; // a listener
        }
        let number = match self.open.get(&conn) {
            Some(&n) => n,
            None => {
                self.seen += 1;
                let n = self.seen;
                self.open.insert(conn, n);
                if self.wanted.contains(&n) {
                    // Room for a whole ordinary path at once (CLOSED to CLOSED is 7 states).
                    let mut path = Vec::with_capacity(8);
                    path.push(from);
                    self.paths.insert(n, path);
                }
                n
            }
        };
        if let Some(path) = self.paths.get_mut(&number) {
            path.push(to);
        }
        if matches!(to, State::Closed | State::Listen) {
            self.open.remove(&conn);
        }
    }
}

/// What the observer must keep for the expectations: per host, the connection numbers whose
/// paths are checked and the windows in which connections established are counted.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// (host, connection number).
    pub paths: Vec<(HostId, u32)>,
    /// (host, from, to exclusive).
    pub established: Vec<(HostId, SimTime, SimTime)>,
}

/// Watches records, then passes them on to `inner`.
#[derive(Debug)]
pub struct Observer<S> {
    /// The real sink.
    pub inner: S,
    /// Per host, in host order.
    pub hosts: Vec<HostView>,
    /// The windows of `Sent` expectations, and how many segments each has counted.
    pub sent: Vec<(SentWindow, u64)>,
    /// Host by address, to know whom a sent segment is for.
    by_addr: BTreeMap<Ipv4Addr, HostId>,
    /// The packet oracles, recomputed from the trace records alone.
    pub packets: PacketLedger,
    /// What the expectations ask the observer to keep.
    wanted: Wanted,
}

/// Every packet the trace shows, followed from its `Sent` (or `Duplicated`) record to its
/// `Delivered` or `Dropped` record: what the lifetime and accounting oracles check,
/// independently of the engine's own counters.
#[derive(Debug, Clone, Default)]
pub struct PacketLedger {
    /// The network lifetime, if one is enforced.
    pub lifetime: Option<SimDuration>,
    /// Packets sent and not yet delivered or dropped, with when their original was sent.
    pub in_flight: InFlight,
    /// `Sent` records.
    pub sent: u64,
    /// `Duplicated` records.
    pub copies: u64,
    /// `Delivered` records.
    pub delivered: u64,
    /// `Dropped` records.
    pub dropped: u64,
    /// Deliveries later than the lifetime after the send (time, packet, age).
    pub late: Findings,
    /// Records that do not fit: a delivery or drop of a packet not in flight (never sent,
    /// or already gone), a copy of one not in flight, an id sent twice.
    pub anomalies: Findings,
}

/// How many times an oracle found something, and the first one as text. Only the first is
/// formatted and kept: a run where every packet breaks a rule costs a count, not a string
/// per packet.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    count: u64,
    first: Option<String>,
}

impl Findings {
    fn note(&mut self, describe: impl FnOnce() -> String) {
        if self.first.is_none() {
            self.first = Some(describe());
        }
        self.count += 1;
    }

    /// Nothing found.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// The first, as text.
    pub fn first(&self) -> Option<&str> {
        self.first.as_deref()
    }
}

/// Packet ids in flight. Ids are handed out in increasing order, so the ones in flight lie in
/// a window from the oldest still in flight to the newest: a ring of slots over that window
/// (each a send time, or empty once the packet is gone), rather than a map, keeps the ledger
/// to a few memory accesses per packet.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    /// The id of `slots[0]`.
    base: u64,
    slots: std::collections::VecDeque<Option<SimTime>>,
    count: u64,
}

impl InFlight {
    /// Adds packet `id`, sent at `at`; false if it is already in flight or was before.
    fn insert(&mut self, id: u64, at: SimTime) -> bool {
        if self.slots.is_empty() {
            self.base = id;
        }
        if id < self.base {
            return false;
        }
        let i = (id - self.base) as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        } else if self.slots[i].is_some() {
            return false;
        }
        self.slots[i] = Some(at);
        self.count += 1;
        true
    }

    /// When packet `id` was sent, if it is in flight.
    fn get(&self, id: u64) -> Option<SimTime> {
        let i = id.checked_sub(self.base)? as usize;
        self.slots.get(i).copied().flatten()
    }

    /// Takes packet `id` out; its send time, if it was in flight.
    fn remove(&mut self, id: u64) -> Option<SimTime> {
        let i = id.checked_sub(self.base)? as usize;
        let sent = self.slots.get_mut(i)?.take()?;
        self.count -= 1;
        while self.slots.front().is_some_and(Option::is_none) {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(sent)
    }

    /// How many are in flight.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// None in flight.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl PacketLedger {
    fn record(&mut self, at: SimTime, kind: &TraceKind<'_, HostEvent>) {
        match kind {
            TraceKind::Sent { id, .. } => {
                self.sent += 1;
                if !self.in_flight.insert(id.0, at) {
                    self.anomalies
                        .note(|| format!("{at}: packet {} sent twice", id.0));
                }
            }
            TraceKind::Duplicated { id, copy, .. } => {
                self.copies += 1;
                // A copy lives as long as its original: its lifetime counts from that send.
                match self.in_flight.get(id.0) {
                    Some(sent) => {
                        if !self.in_flight.insert(copy.0, sent) {
                            self.anomalies
                                .note(|| format!("{at}: copy {} of a packet sent twice", copy.0));
                        }
                    }
                    None => self
                        .anomalies
                        .note(|| format!("{at}: copy of packet {}, not in flight", id.0)),
                }
            }
            TraceKind::Delivered { id, packet, .. } => {
                self.delivered += 1;
                match self.in_flight.remove(id.0) {
                    Some(sent) => {
                        let age = at.saturating_since(sent);
                        if self.lifetime.is_some_and(|l| age > l) {
                            self.late.note(|| {
                                format!(
                                    "{at}: packet {} ({} > {}) delivered {age} after it was sent",
                                    id.0, packet.src, packet.dst
                                )
                            });
                        }
                    }
                    None => self
                        .anomalies
                        .note(|| format!("{at}: packet {} delivered, not in flight", id.0)),
                }
            }
            TraceKind::Dropped { id, .. } => {
                self.dropped += 1;
                if self.in_flight.remove(id.0).is_none() {
                    self.anomalies
                        .note(|| format!("{at}: packet {} dropped, not in flight", id.0));
                }
            }
            _ => {}
        }
    }
}

impl<S> Observer<S> {
    /// An observer in front of `inner`, counting the segments of these `Sent` windows on a
    /// network of hosts with these addresses (in host order).
    pub fn new(
        inner: S,
        windows: Vec<SentWindow>,
        addrs: &[Ipv4Addr],
        lifetime: Option<SimDuration>,
        wanted: Wanted,
    ) -> Self {
        Observer {
            inner,
            wanted,
            hosts: Vec::new(),
            packets: PacketLedger {
                lifetime,
                ..PacketLedger::default()
            },
            sent: windows.into_iter().map(|w| (w, 0)).collect(),
            by_addr: addrs
                .iter()
                .enumerate()
                .map(|(i, a)| (*a, HostId(i as u32)))
                .collect(),
        }
    }

    fn host(&mut self, h: HostId) -> &mut HostView {
        let i = h.0 as usize;
        if self.hosts.len() <= i {
            self.hosts.resize_with(i + 1, HostView::default);
        }
        &mut self.hosts[i]
    }

    /// A fresh view of each of `n` hosts, knowing what to keep.
    fn views(&self, n: usize) -> Vec<HostView> {
        let mut views = vec![HostView::default(); n];
        for (h, conn) in &self.wanted.paths {
            if let Some(v) = views.get_mut(h.0 as usize) {
                v.wanted.insert(*conn);
            }
        }
        for (h, from, to) in &self.wanted.established {
            if let Some(v) = views.get_mut(h.0 as usize) {
                if !v.established.iter().any(|(f, t, _)| (f, t) == (from, to)) {
                    v.established.push((*from, *to, 0));
                }
            }
        }
        views
    }
}

impl<S: TraceSink<HostEvent>> TraceSink<HostEvent> for Observer<S> {
    fn start(&mut self, host_names: &[String]) {
        self.hosts = self.views(host_names.len());
        self.inner.start(host_names);
    }

    fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        self.packets.record(record.at, &record.kind);
        if let TraceKind::Network(NetChange::Crash(host)) = record.kind {
            // The host's connections are gone without a word: they count no more.
            let view = self.host(host);
            view.counts = [0; 11];
            view.open.clear();
        }
        if let TraceKind::Sent {
            host,
            packet,
            sender_state,
            ..
        } = &record.kind
        {
            if !self.sent.is_empty() {
                let to = self.by_addr.get(&packet.dst).copied();
                let injected = *sender_state == netsim_engine::inject::INJECTED;
                for (w, n) in &mut self.sent {
                    if to.is_some_and(|to| w.counts(record.at, *host, to, packet, injected)) {
                        *n += 1;
                    }
                }
            }
        }
        if let TraceKind::Protocol { host, event } = &record.kind {
            match event {
                HostEvent::Tcp(TcpEvent::State { conn, from, to }) => {
                    let at = record.at;
                    self.host(*host).on_state(at, *conn, *from, *to);
                }
                HostEvent::Tcp(e @ TcpEvent::IllegalTransition { .. }) => {
                    let text = format!("{} {e}", record.at);
                    self.host(*host).illegal.push(text);
                }
                _ => {}
            }
        }
        self.inner.record(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsim_core::Packet;
    use netsim_engine::{Cause, DropReason, PacketId};

    fn at(ms: u64) -> SimTime {
        SimTime::from_nanos(ms * 1_000_000)
    }

    /// The ledger judges the trace records alone (no engine counter is involved): a packet
    /// delivered or dropped that was never sent, a copy of a packet not in flight and an id
    /// sent twice are anomalies; a delivery later than the lifetime after the send (a copy
    /// counting from its original's send) is late; only the first of each is kept as text.
    #[test]
    fn the_ledger_finds_records_that_do_not_fit_on_its_own() {
        let mut l = PacketLedger {
            lifetime: Some(SimDuration::from_millis(100)),
            ..PacketLedger::default()
        };
        let p = Packet {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            segment: netsim_core::Segment::default(),
        };
        let sent = |id| TraceKind::Sent {
            host: HostId(0),
            id: PacketId(id),
            packet: &p,
            sender_state: "ESTABLISHED",
        };
        let delivered = |id| TraceKind::Delivered {
            host: HostId(1),
            id: PacketId(id),
            packet: &p,
        };
        l.record(at(0), &sent(1));
        l.record(at(0), &sent(2));
        l.record(
            at(10),
            &TraceKind::Duplicated {
                id: PacketId(2),
                copy: PacketId(3),
                packet: &p,
                cause: Cause::Link,
            },
        );
        l.record(at(50), &delivered(1));
        assert!(l.anomalies.is_empty() && l.late.is_empty());
        l.record(at(150), &delivered(3)); // the copy: 150 ms after its original's send
        assert_eq!(l.late.len(), 1);
        assert!(l.late.first().unwrap().contains("packet 3"));
        l.record(at(160), &delivered(9)); // never sent
        l.record(at(160), &sent(2)); // sent twice
        l.record(
            at(170),
            &TraceKind::Dropped {
                id: PacketId(1),
                packet: &p,
                reason: DropReason::Loss,
            },
        ); // already delivered
        assert_eq!(l.anomalies.len(), 3);
        assert!(l.anomalies.first().unwrap().contains("packet 9 delivered"));
        assert_eq!((l.sent, l.copies, l.delivered, l.dropped), (3, 1, 3, 1));
        assert_eq!(l.in_flight.len(), 1, "packet 2 is still out");
    }

    /// The observer keeps only the paths and windows the expectations ask for: ten thousand
    /// connections leave one path, one window count and no open entry behind, and the peaks
    /// still count every connection.
    #[test]
    fn only_the_paths_and_windows_asked_for_are_kept() {
        let mut o = Observer::new(
            netsim_engine::NullSink,
            Vec::new(),
            &[],
            None,
            Wanted {
                paths: vec![(HostId(0), 3)],
                established: vec![(HostId(0), at(0), at(5))],
            },
        );
        TraceSink::<HostEvent>::start(&mut o, &["client".to_string()]);
        let server: std::net::SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
        for i in 0..10_000u64 {
            let conn = ConnKey {
                local: std::net::SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1000 + i as u16),
                remote: server,
            };
            let path = [
                State::Closed,
                State::SynSent,
                State::Established,
                State::Closed,
            ];
            for w in path.windows(2) {
                let event = HostEvent::Tcp(TcpEvent::State {
                    conn,
                    from: w[0],
                    to: w[1],
                });
                o.record(&TraceRecord {
                    at: at(i),
                    kind: TraceKind::Protocol {
                        host: HostId(0),
                        event: &event,
                    },
                });
            }
        }
        let v = &o.hosts[0];
        assert_eq!(v.paths.len(), 1);
        assert_eq!(
            v.paths[&3],
            [
                State::Closed,
                State::SynSent,
                State::Established,
                State::Closed
            ]
        );
        assert!(v.open.is_empty());
        assert_eq!(v.established_in(at(0), at(5)), 5);
        assert_eq!(v.peaks[State::Established as usize], 1);
        assert_eq!(v.seen, 10_000);
    }
}
