//! Ladder diagrams: the classic sequence diagram of TCP connections, one time line per host
//! and one arrow per segment, drawn as SVG or as text for a terminal.
//!
//! A [`Ladder`] is fed every record of a run, in order, and keeps only what it will draw: the
//! records of the chosen connections in the chosen window (a [`TraceFilter`]), up to a cap.
//! Time runs down the page one row per record (a send, an arrival, a drop, a state change or
//! a note), so bursts stay readable and a 60-second TIME_WAIT costs one row, not a page;
//! every row is labelled with its time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};

use netsim_core::{Packet, SimTime, TcpFlags};
use netsim_engine::{
    Connections, DropReason, HostId, NetChange, Tagged, TraceKind, TraceRecord, TraceSink,
};
use netsim_host::HostEvent;
use netsim_tcp::{Note, State, TcpEvent};

use crate::TraceFilter;
use crate::svg::{Anchor, Svg};

/// Segments drawn before the ladder stops taking new ones.
pub const DEFAULT_SEGMENTS: usize = 1000;

/// The legend below an SVG ladder: each colour, then the cross.
const LEGEND: &[(Kind, &str)] = &[
    (Kind::Handshake, "SYN / FIN"),
    (Kind::Data, "data"),
    (Kind::Ack, "ACK"),
    (Kind::Reset, "RST"),
    (Kind::Retransmit, "retransmission / probe"),
    (Kind::Injected, "injected"),
];
const LEGEND_DROPS: &str = "dropped by the network; dashed: a copy or injected";

/// The tallest SVG drawn, in pixels: librsvg refuses pictures over 32 767, and this leaves
/// room to render a two-host ladder (1 026 pixels wide) 1 200 pixels wide.
const HEIGHT_MAX: f64 = 27_000.0;

/// Connections named in the heading; more are labelled cN and listed in a key below.
const CONNS_NAMED: usize = 6;

/// Rows (sends, arrivals, notes) after which no new segment is taken: an SVG of 18-pixel rows
/// stays within [`HEIGHT_MAX`].
const ROWS_MAX: usize = 1400;

/// What happened to a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fate {
    /// Still in flight when the run (or the window) ended.
    Open,
    /// Delivered, at this row.
    Delivered(usize),
    /// Dropped by the network, at this row, for this reason.
    Dropped(usize, DropReason),
}

/// One segment's arrow.
#[derive(Clone, Debug)]
struct Arrow {
    /// The sender (host index).
    from: usize,
    /// The receiver (host index; none: no host has the address).
    to: Option<usize>,
    conn: u64,
    incarnation: u32,
    label: String,
    kind: Kind,
    /// Marks: `retransmit #1`, `probe`, `duplicated`, `injected`, `held`, `delayed 8ms`, `sent 1.5s`.
    marks: Vec<String>,
    send_row: usize,
    /// When it was sent: the time of its send row, or earlier for a segment drawn where it
    /// arrives because its send is not shown (before the window, or of another incarnation
    /// that it lands in).
    sent: SimTime,
    fate: Fate,
    /// The copies the network made of it (arrows of their own, drawn dashed and unlabelled).
    copies: Vec<usize>,
    /// This arrow is a copy.
    copy: bool,
}

/// The colour class of an arrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Handshake,
    Data,
    Ack,
    Reset,
    Retransmit,
    Injected,
}

impl Kind {
    fn colour(self) -> &'static str {
        match self {
            Kind::Handshake => "#1b7f3b",
            Kind::Data => "#1f4e9c",
            Kind::Ack => "#6b6b6b",
            Kind::Reset => "#b00020",
            Kind::Retransmit => "#d9730d",
            Kind::Injected => "#7b3fa0",
        }
    }
}

/// How a note beside a lane is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// A state change: the new state, in bold.
    State,
    /// Something the TCP model reports (a note, an error).
    Event,
    /// An oracle violation.
    Violation,
    /// What the network did to a host or a link: a crash, a restart, a partition.
    Network,
}

#[derive(Clone, Debug)]
enum Row {
    Send(usize),
    Arrive,
    Drop,
    Note {
        /// The host (index) beside whose line it is written.
        host: usize,
        /// The connection (number, incarnation) a state change belongs to, told when the
        /// ladder draws several.
        conn: Option<(u64, u32)>,
        text: String,
        style: Style,
    },
}

/// A ladder diagram being collected; see the module documentation.
#[derive(Debug)]
pub struct Ladder {
    filter: TraceFilter,
    conns: Connections,
    names: Vec<String>,
    addrs: Vec<Ipv4Addr>,
    /// The hosts that appear (by host index), drawn left to right in this order.
    hosts: BTreeSet<usize>,
    rows: Vec<(SimTime, Row)>,
    arrows: Vec<Arrow>,
    /// Arrows of packets still in flight, by packet id.
    open: BTreeMap<u64, usize>,
    /// When each packet in flight was sent, drawn or not, by packet id, and whether the
    /// filter took its send (then it is drawn there, or left out by the cap, never later).
    sent_at: BTreeMap<u64, (SimTime, bool)>,
    /// The connections drawn: number, incarnation, and its two ends as first seen.
    shown: BTreeMap<u64, (u32, SocketAddrV4, SocketAddrV4)>,
    /// The 4-tuple of every connection drawn, while they all share one (then they are told
    /// apart by incarnation, `#k`; otherwise by number, `cN`).
    one_tuple: Option<(SocketAddrV4, SocketAddrV4)>,
    /// A retransmission or probe announced by a host (by index), for its next segment.
    retransmit: BTreeMap<usize, String>,
    /// The state of every socket not CLOSED, by (local, remote): what a side is in when its
    /// connection is first drawn mid-way (a window, a filter).
    /// With the connection (number) the socket is on: an older incarnation's socket says
    /// nothing of a newer one's side.
    states: BTreeMap<(SocketAddrV4, SocketAddrV4), (State, u64)>,
    /// The (connection, host) pairs whose state has been written beside the line.
    stated: BTreeSet<(u64, usize)>,
    cap: usize,
    /// Rows after which no new segment is taken (a picture's height).
    rows_max: usize,
    /// Segments drawn (copies the network made are drawn with their original, uncounted).
    drawn: usize,
    /// Segments left out once the cap was reached.
    left_out: u64,
    title: String,
}

impl Ladder {
    /// A ladder of what `filter` keeps (its connection, window, hosts or states), for a run
    /// of hosts with these names and addresses; at most `cap` segments.
    pub fn new(filter: TraceFilter, title: &str, addrs: &[Ipv4Addr], cap: usize) -> Ladder {
        // A ladder draws what a host receives as well as what it sends.
        let mut filter = filter;
        filter.either_end = true;
        Ladder {
            filter,
            conns: Connections::default(),
            names: Vec::new(),
            addrs: addrs.to_vec(),
            hosts: BTreeSet::new(),
            rows: Vec::new(),
            arrows: Vec::new(),
            open: BTreeMap::new(),
            sent_at: BTreeMap::new(),
            shown: BTreeMap::new(),
            one_tuple: None,
            retransmit: BTreeMap::new(),
            states: BTreeMap::new(),
            stated: BTreeSet::new(),
            cap,
            rows_max: usize::MAX,
            drawn: 0,
            left_out: 0,
            title: title.to_string(),
        }
    }

    /// The host names, indexed by host id (call before the first record).
    pub fn start(&mut self, host_names: &[String]) {
        self.names = host_names.to_vec();
    }

    /// The filter, with what it saw of the run.
    pub fn filter(&self) -> &TraceFilter {
        &self.filter
    }

    /// How many segments the ladder holds.
    pub fn segments(&self) -> usize {
        self.arrows.len()
    }

    /// Notes that `host` appears, and returns it.
    fn seen(&mut self, host: usize) -> usize {
        self.hosts.insert(host);
        host
    }

    fn host_of(&self, addr: Ipv4Addr) -> Option<usize> {
        self.addrs.iter().position(|a| *a == addr)
    }

    /// Draws a segment from host `ends.0` to `ends.1`, on a new row at `at`; returns its arrow.
    #[allow(clippy::too_many_arguments)]
    fn push_arrow(
        &mut self,
        at: SimTime,
        (from, to): (usize, Option<usize>),
        tagged: Tagged,
        packet: &Packet,
        kind: Kind,
        marks: Vec<String>,
        sent: SimTime,
    ) -> usize {
        let src = tagged.isn_src.map_or(0, |s| s.0);
        let dst = tagged.isn_dst.map_or(0, |s| s.0);
        let ends = (
            SocketAddrV4::new(packet.src, packet.segment.src_port),
            SocketAddrV4::new(packet.dst, packet.segment.dst_port),
        );
        // Named left lane first, whichever way the first segment drawn goes.
        let (left, right) = match to {
            Some(to) if to < from => (ends.1, ends.0),
            _ => ends,
        };
        if let std::collections::btree_map::Entry::Vacant(new) = self.shown.entry(tagged.tag.number)
        {
            new.insert((tagged.tag.incarnation, left, right));
            let tuple = (left.min(right), left.max(right));
            if self.shown.len() == 1 {
                self.one_tuple = Some(tuple);
            } else if self.one_tuple != Some(tuple) {
                self.one_tuple = None;
            }
        }
        // A connection drawn from its middle (a window, a filter) first says what state
        // each side is in; a segment landing in another incarnation says nothing of its own.
        if tagged.into.is_none() {
            for (host, pair) in [(Some(from), ends), (to, (ends.1, ends.0))] {
                let Some(host) = host else { continue };
                let number = tagged.tag.number;
                let on = self.states.get(&pair).copied();
                if let Some((state, _)) = on.filter(|(_, n)| *n == number) {
                    if self.stated.insert((number, host)) {
                        let note = Row::Note {
                            host,
                            conn: Some((number, tagged.tag.incarnation)),
                            text: format!("in {}", state.name()),
                            style: Style::State,
                        };
                        self.rows.push((at, note));
                    }
                }
            }
        }
        self.drawn += 1;
        self.arrows.push(Arrow {
            from,
            to,
            conn: tagged.tag.number,
            incarnation: tagged.tag.incarnation,
            label: label(packet, src, dst),
            kind,
            marks,
            send_row: self.rows.len(),
            sent,
            fate: Fate::Open,
            copies: Vec::new(),
            copy: false,
        });
        let i = self.arrows.len() - 1;
        self.rows.push((at, Row::Send(i)));
        i
    }

    /// Takes one record of the run; every record must come here, in order.
    pub fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        let conn = self.conns.record(record);
        let at = record.at;
        let sent_at = match &record.kind {
            TraceKind::Sent { id, .. } => {
                self.sent_at.insert(id.0, (at, false));
                None
            }
            TraceKind::Duplicated { id, copy, .. } => {
                if let Some(&t) = self.sent_at.get(&id.0) {
                    self.sent_at.insert(copy.0, t);
                }
                None
            }
            TraceKind::Delivered { id, .. } | TraceKind::Dropped { id, .. } => {
                self.sent_at.remove(&id.0)
            }
            _ => None,
        };
        self.follow(record, conn);
        // What happens to a segment already drawn is drawn whatever the filter says.
        match &record.kind {
            TraceKind::Delivered { id, .. } => {
                if let Some(i) = self.open.remove(&id.0) {
                    self.rows.push((at, Row::Arrive));
                    self.arrows[i].fate = Fate::Delivered(self.rows.len() - 1);
                    let _ = self.filter.keep(record, conn);
                    return;
                }
            }
            TraceKind::Dropped { id, reason, .. } => {
                if let Some(i) = self.open.remove(&id.0) {
                    self.rows.push((at, Row::Drop));
                    self.arrows[i].fate = Fate::Dropped(self.rows.len() - 1, *reason);
                    let _ = self.filter.keep(record, conn);
                    return;
                }
            }
            TraceKind::Delayed { id, by, .. } => {
                if let Some(&i) = self.open.get(&id.0) {
                    self.arrows[i].marks.push(format!("delayed {by}"));
                }
            }
            TraceKind::Held { id, .. } => {
                if let Some(&i) = self.open.get(&id.0) {
                    self.arrows[i].marks.push("held".into());
                }
            }
            TraceKind::Duplicated { id, copy, .. } => {
                if let Some(&i) = self.open.get(&id.0) {
                    let mut arrow = self.arrows[i].clone();
                    arrow.copy = true;
                    arrow.copies.clear();
                    self.arrows.push(arrow);
                    let c = self.arrows.len() - 1;
                    self.arrows[i].copies.push(c);
                    self.arrows[i].marks.push("duplicated".into());
                    self.open.insert(copy.0, c);
                }
            }
            _ => {}
        }
        // A retransmission or probe is announced just before its segment is sent: the mark
        // goes to that segment whether or not the announcement is shown.
        let resent = match &record.kind {
            TraceKind::Sent { host, .. } => self.retransmit.remove(&(host.0 as usize)),
            _ => None,
        };
        let kept = self.filter.keep(record, conn);
        if let (TraceKind::Sent { id, .. }, true) = (&record.kind, kept) {
            if let Some(entry) = self.sent_at.get_mut(&id.0) {
                entry.1 = true;
            }
        }
        if let TraceKind::Network(change) = &record.kind {
            // No connection of its own: drawn when it touches a host drawn so far.
            if self.filter.in_window(at) && !self.full() {
                self.network_note(at, *change);
            }
            return;
        }
        if !kept {
            return;
        }
        let Some(tagged) = conn else {
            return; // timers, listeners
        };
        match &record.kind {
            TraceKind::Sent {
                host,
                id,
                packet,
                sender_state,
            } => {
                if self.full() {
                    self.left_out += 1;
                    return;
                }
                let from = self.seen(host.0 as usize);
                let to = self.host_of(packet.dst).map(|h| self.seen(h));
                let injected = *sender_state == netsim_engine::inject::INJECTED;
                let mut marks = Vec::new();
                let kind = if injected {
                    marks.push("injected".to_string());
                    Kind::Injected
                } else if let Some(what) = resent {
                    marks.push(what);
                    Kind::Retransmit
                } else {
                    kind_of(packet)
                };
                let i = self.push_arrow(at, (from, to), tagged, packet, kind, marks, at);
                self.open.insert(id.0, i);
            }
            // A segment whose send is not drawn (sent before the window, or of an older
            // incarnation landing in the one drawn): drawn where it arrives or is dropped.
            TraceKind::Delivered { packet, .. } | TraceKind::Dropped { packet, .. } => {
                let (Some(from), Some((sent, false))) = (self.host_of(packet.src), sent_at) else {
                    return;
                };
                if self.full() {
                    self.left_out += 1;
                    return;
                }
                let from = self.seen(from);
                let to = self.host_of(packet.dst).map(|h| self.seen(h));
                let mut marks = vec![format!("sent {sent}")];
                if let Some(into) = tagged.into {
                    marks.push(format!("lands in #{}", into.incarnation));
                }
                let kind = kind_of(packet);
                let i = self.push_arrow(at, (from, to), tagged, packet, kind, marks, sent);
                self.rows.push((at, Row::Arrive));
                let row = self.rows.len() - 1;
                self.arrows[i].fate = match &record.kind {
                    TraceKind::Dropped { reason, .. } => Fate::Dropped(row, *reason),
                    _ => Fate::Delivered(row),
                };
            }
            TraceKind::Protocol { host, event } => {
                if self.full() {
                    return;
                }
                let host = self.seen(host.0 as usize);
                let (text, style) = match event {
                    HostEvent::Tcp(TcpEvent::State { to, .. }) => {
                        self.stated.insert((tagged.tag.number, host));
                        (to.name().to_string(), Style::State)
                    }
                    HostEvent::Tcp(TcpEvent::Retransmit { what, .. }) => {
                        (format!("retransmit {}", what.name()), Style::Event)
                    }
                    HostEvent::Tcp(TcpEvent::Note { note, .. }) => {
                        (note.text().to_string(), Style::Event)
                    }
                    HostEvent::Tcp(TcpEvent::Error { errno, .. }) => {
                        (format!("error {}", errno.name()), Style::Event)
                    }
                    HostEvent::Tcp(e @ TcpEvent::IllegalTransition { .. }) => {
                        (e.to_string(), Style::Violation)
                    }
                    HostEvent::BadRead(b) => (
                        match b.stale_from {
                            Some(old) => format!(
                                "stale data read at byte {} of #{}: the bytes of #{old}",
                                b.offset, b.incarnation
                            ),
                            None => format!("corrupt data read at byte {}", b.offset),
                        },
                        Style::Violation,
                    ),
                    HostEvent::CallFailed { .. } => return,
                };
                // A bad read names its incarnations itself.
                let conn = Some((tagged.tag.number, tagged.tag.incarnation))
                    .filter(|_| !matches!(event, HostEvent::BadRead(_)));
                let note = Row::Note {
                    host,
                    conn,
                    text,
                    style,
                };
                self.rows.push((at, note));
            }
            _ => {}
        }
    }

    /// Whether the ladder has taken all it will: its segments, or the rows an SVG can hold.
    fn full(&self) -> bool {
        self.drawn >= self.cap || self.rows.len() >= self.rows_max
    }

    /// The ladder is to be drawn as an SVG picture: it stops taking segments at the rows a
    /// picture can hold (a text ladder has no such bound).
    pub fn for_picture(mut self) -> Ladder {
        self.rows_max = ROWS_MAX;
        self
    }

    /// Follows, for every record drawn or not, what later rows need: the sockets' states and
    /// the retransmissions and probes announced for a host's next segment.
    fn follow(&mut self, record: &TraceRecord<'_, HostEvent>, tagged: Option<Tagged>) {
        if let TraceKind::Network(NetChange::Crash(h)) = &record.kind {
            if let Some(&addr) = self.addrs.get(h.0 as usize) {
                self.states.retain(|(local, _), _| *local.ip() != addr);
            }
            return;
        }
        let TraceKind::Protocol {
            host,
            event: HostEvent::Tcp(e),
        } = &record.kind
        else {
            return;
        };
        let host = host.0 as usize;
        match e {
            TcpEvent::State { conn, to, .. } => {
                let pair = (conn.local, conn.remote);
                if *to == State::Closed {
                    self.states.remove(&pair);
                } else {
                    let number = tagged.map_or(0, |c| c.tag.number);
                    self.states.insert(pair, (*to, number));
                }
            }
            TcpEvent::Retransmit { attempt, .. } => {
                self.retransmit
                    .insert(host, format!("retransmit #{attempt}"));
            }
            TcpEvent::Note { note, .. } => match note {
                Note::TailLossProbe => {
                    self.retransmit.insert(host, "probe".into());
                }
                Note::KeepAliveProbe => {
                    self.retransmit.insert(host, "keep-alive probe".into());
                }
                Note::WindowProbe => {
                    self.retransmit.insert(host, "window probe".into());
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// A crash, restart, partition, heal, hold or release, beside the line of each host it
    /// touches that is drawn.
    fn network_note(&mut self, at: SimTime, change: NetChange) {
        // Written once, beside the first host it touches that is drawn.
        let Some(host) = (change.hosts().into_iter())
            .map(|h| h.0 as usize)
            .find(|h| self.hosts.contains(h))
        else {
            return;
        };
        let name = |h: HostId| self.names.get(h.0 as usize).map_or("?", String::as_str);
        let note = Row::Note {
            host,
            conn: None,
            text: change.describe(name),
            style: Style::Network,
        };
        self.rows.push((at, note));
    }

    /// Position (0..) left to right of each host drawn, by host index.
    fn columns(&self) -> BTreeMap<usize, usize> {
        self.hosts
            .iter()
            .enumerate()
            .map(|(pos, host)| (*host, pos))
            .collect()
    }

    fn heading(&self) -> Vec<String> {
        let mut lines = vec![self.title.clone()];
        match self.shown.len() {
            0 => lines.push("no segments in the selection".into()),
            n if n <= CONNS_NAMED => lines.extend(self.shown.keys().map(|n| self.describe(*n))),
            n => lines.push(format!(
                "{n} connections drawn, labelled cN (listed below the diagram; pick one with --conn N)"
            )),
        }
        if self.left_out > 0 {
            lines.push(format!(
                "stopped after {} segments ({} more not drawn): narrow it with --conn or --from/--to",
                self.drawn, self.left_out
            ));
        }
        lines
    }

    /// `connection 3: 10.0.0.1:40000 <-> 10.0.0.2:80 #2`.
    fn describe(&self, number: u64) -> String {
        format!("connection {number}: {}", self.ends(number))
    }

    /// `10.0.0.1:40000 <-> 10.0.0.2:80 #2`: a connection's ends, and its incarnation when its
    /// 4-tuple was used before.
    fn ends(&self, number: u64) -> String {
        let (inc, a, b) = self.shown[&number];
        if inc > 1 {
            format!("{a} <-> {b} #{inc}")
        } else {
            format!("{a} <-> {b}")
        }
    }

    /// The key below a diagram of many connections: what each cN is.
    fn key(&self) -> Vec<String> {
        if self.shown.len() <= CONNS_NAMED {
            return Vec::new();
        }
        let key = self
            .shown
            .keys()
            .map(|n| format!("c{n}: {}", self.ends(*n)));
        key.collect()
    }

    /// What tells a connection apart on an arrow or a state when several are drawn: `#2 `
    /// when they are incarnations of one 4-tuple, `c3 ` (the run's number) otherwise.
    fn prefix(&self, conn: u64, incarnation: u32) -> String {
        if self.shown.len() < 2 {
            String::new()
        } else if self.one_tuple.is_some() {
            format!("#{incarnation} ")
        } else {
            format!("c{conn} ")
        }
    }

    fn arrow_text(&self, a: &Arrow) -> String {
        self.prefix(a.conn, a.incarnation) + &a.label
    }

    /// A note's text, with its connection told apart when the ladder draws several.
    fn note_text(&self, conn: Option<(u64, u32)>, text: &str) -> String {
        match conn {
            Some((n, inc)) => self.prefix(n, inc) + text,
            None => text.to_string(),
        }
    }

    /// The diagram as text for a terminal: one line per segment sent (with what became of
    /// it) and per note, states written beside their host's line.
    pub fn text(&self) -> String {
        // The time column is as wide as the longest time (`150.154193031s` is 14).
        let time_w = (self.rows.iter())
            .map(|(at, _)| at.to_string().len())
            .fold(13, usize::max);
        let time_col = time_w + 1;
        const PAD: usize = 14;
        const GAP: usize = 56;
        let cols = self.columns();
        let n = cols.len().max(1);
        let x_col = |col: usize| time_col + PAD + col * GAP;
        let x = |host: usize| x_col(cols[&host]);
        let width = time_col + PAD + (n - 1) * GAP + 1;
        let mut out = String::new();
        for line in self.heading() {
            let _ = writeln!(out, "{line}");
        }
        // Lane headers.
        let mut header = vec![' '; width + 40];
        for &host in &self.hosts {
            let name = self.names.get(host).map_or("?", String::as_str);
            let start = x(host).saturating_sub(name.len() / 2);
            put(&mut header, start, name);
        }
        let _ = writeln!(out, "{}", trimmed(&header));
        let blank = || {
            let mut row = vec![' '; width];
            for col in 0..cols.len() {
                row[x_col(col)] = '|';
            }
            row
        };
        let mut last_time = None;
        for (at, row) in &self.rows {
            let mut line = blank();
            let mut remark = String::new();
            match row {
                Row::Send(i) => {
                    let a = &self.arrows[*i];
                    let from = x(a.from);
                    let to = a.to.map_or(from + GAP / 2, x);
                    let (lo, hi) = (from.min(to), from.max(to));
                    for c in line.iter_mut().take(hi).skip(lo + 1) {
                        *c = '-';
                    }
                    // The label starts at the sender's end, and leaves room for a drop's cross;
                    // one cut short ends in an ellipsis.
                    let text = format!(" {} ", self.arrow_text(a));
                    let dropped = matches!(a.fate, Fate::Dropped(..));
                    let room = (hi - lo).saturating_sub(if dropped { 10 } else { 6 });
                    let text: String = if text.chars().count() > room {
                        let cut: String = text.chars().take(room.saturating_sub(2)).collect();
                        format!("{cut}… ")
                    } else {
                        text
                    };
                    let start = if to > from {
                        lo + 3
                    } else {
                        hi - 3 - text.chars().count()
                    };
                    put(&mut line, start, &text);
                    match &a.fate {
                        Fate::Dropped(r, reason) => {
                            let cross = if to > from { hi - 4 } else { lo + 4 };
                            line[cross] = 'X';
                            let keep = if to > from {
                                cross + 1..hi
                            } else {
                                lo + 1..cross
                            };
                            for c in keep {
                                line[c] = ' ';
                            }
                            remark = format!("dropped ({reason})");
                            let took = self.rows[*r].0.saturating_since(a.sent);
                            if !took.is_zero() {
                                let _ = write!(remark, " +{took}");
                            }
                        }
                        Fate::Delivered(r) => {
                            if to > from {
                                line[hi - 1] = '>';
                            } else {
                                line[lo + 1] = '<';
                            }
                            let took = self.rows[*r].0.saturating_since(a.sent);
                            remark = format!("+{took}");
                        }
                        Fate::Open => {
                            if to > from {
                                line[hi - 1] = '>';
                            } else {
                                line[lo + 1] = '<';
                            }
                            remark = "still in flight at the end".into();
                        }
                    }
                    for m in &a.marks {
                        let _ = write!(remark, ", {m}");
                    }
                    for c in &a.copies {
                        let _ = match &self.arrows[*c].fate {
                            Fate::Delivered(r) => {
                                write!(
                                    remark,
                                    "; copy +{}",
                                    self.rows[*r].0.saturating_since(a.sent)
                                )
                            }
                            Fate::Dropped(r, reason) => {
                                let took = self.rows[*r].0.saturating_since(a.sent);
                                write!(remark, "; copy dropped ({reason}) +{took}")
                            }
                            Fate::Open => write!(remark, "; copy still in flight"),
                        };
                    }
                }
                Row::Arrive | Row::Drop => continue,
                Row::Note {
                    host,
                    conn,
                    text,
                    style,
                } => {
                    let col = x(*host);
                    let left_lane = cols[host] == 0 && cols.len() > 1;
                    let text = self.note_text(*conn, text);
                    let width = text.chars().count();
                    if *style == Style::State && left_lane && width < PAD {
                        put(&mut line, col - width - 1, &text);
                    } else if *style == Style::State {
                        put(&mut line, col + 2, &text);
                    } else {
                        let name = self.names.get(*host).map_or("?", String::as_str);
                        remark = match style {
                            Style::Violation => format!("{name}: !! {text}"),
                            Style::Network => format!("{name}: == {text}"),
                            _ => format!("{name}: {text}"),
                        };
                    }
                }
            }
            let time = if last_time == Some(*at) {
                String::new()
            } else {
                at.to_string()
            };
            last_time = Some(*at);
            let _ = write!(out, "{time:>time_w$} ");
            let body: String = line[time_col..].iter().collect();
            if remark.is_empty() {
                let _ = writeln!(out, "{}", body.trim_end());
            } else {
                let _ = writeln!(out, "{body}  {remark}");
            }
        }
        for line in self.key() {
            let _ = writeln!(out, "{line}");
        }
        out
    }

    /// The diagram as an SVG picture.
    pub fn svg(&self) -> String {
        const TIME_W: f64 = 96.0;
        const SIDE: f64 = 170.0;
        const GAP: f64 = 460.0;
        const FONT: f64 = 11.0;
        const KEY_LINE: f64 = 13.0;
        const KEY_COLUMN: f64 = 330.0;
        let heading = self.heading();
        let top = 24.0 + heading.len() as f64 * 16.0 + 34.0;
        let cols = self.columns();
        let n = cols.len().max(1);
        let x = |host: usize| TIME_W + SIDE + cols[&host] as f64 * GAP;
        // Notes go right of a lane and can be long: the right margin is the wider. The
        // legend sets the least width.
        let legend_w = LEGEND
            .iter()
            .map(|(_, name)| 40.0 + name.len() as f64 * 6.0)
            .sum::<f64>()
            + 18.0
            + LEGEND_DROPS.len() as f64 * 5.6
            + 24.0;
        let width = (TIME_W + SIDE + (n - 1) as f64 * GAP + 300.0).max(legend_w);
        let legend_h = 40.0;
        let key = self.key();
        let key_columns = ((width - 24.0) / KEY_COLUMN).floor().max(1.0) as usize;
        let key_h = key.len().div_ceil(key_columns) as f64 * KEY_LINE;
        // Rows are 18 pixels high, less when that would take the picture past what
        // renderers accept (librsvg: 32 767 pixels).
        let room = HEIGHT_MAX - top - legend_h - key_h - 40.0;
        let row_h = (room / (self.rows.len() as f64 + 1.0)).clamp(6.0, 18.0);
        let height = top + (self.rows.len() as f64 + 1.0) * row_h + key_h + legend_h + 20.0;
        let y = |row: usize| top + (row as f64 + 0.5) * row_h;
        let mut svg = Svg::new(width, height);
        for (i, line) in heading.iter().enumerate() {
            let size = if i == 0 { 15.0 } else { 12.0 };
            svg.text(
                12.0,
                22.0 + i as f64 * 16.0,
                line,
                size,
                Anchor::Start,
                "#000",
                false,
            );
        }
        let bottom = top + self.rows.len() as f64 * row_h + 6.0;
        for &host in &self.hosts {
            let name = self.names.get(host).map_or("?", String::as_str);
            let addr = self
                .addrs
                .get(host)
                .map(|a| a.to_string())
                .unwrap_or_default();
            svg.text(
                x(host),
                top - 18.0,
                name,
                13.0,
                Anchor::Middle,
                "#000",
                false,
            );
            svg.text(
                x(host),
                top - 5.0,
                &addr,
                10.0,
                Anchor::Middle,
                "#555",
                true,
            );
            svg.line(x(host), top, x(host), bottom, "#999", 1.5, "");
        }
        // Time labels, and a mark where time jumps.
        let mut last: Option<SimTime> = None;
        for (r, (at, _)) in self.rows.iter().enumerate() {
            if last == Some(*at) {
                continue;
            }
            if let Some(prev) = last {
                let jump = at.saturating_since(prev);
                if jump.as_nanos() >= 1_000_000_000 {
                    let yy = y(r) - row_h / 2.0;
                    svg.line(
                        12.0,
                        yy,
                        width - 20.0,
                        yy,
                        "#bbb",
                        1.0,
                        r#"stroke-dasharray="2 4""#,
                    );
                    // At the right edge, clear of the time labels on the left.
                    svg.text(
                        width - 20.0,
                        yy - 2.0,
                        &format!("{jump} later"),
                        9.0,
                        Anchor::End,
                        "#888",
                        false,
                    );
                }
            }
            last = Some(*at);
            svg.text(
                TIME_W - 8.0,
                y(r) + 4.0,
                &at.to_string(),
                10.0,
                Anchor::End,
                "#444",
                true,
            );
        }
        // Arrows.
        for a in &self.arrows {
            let (x0, y0) = (x(a.from), y(a.send_row));
            let dir = match a.to {
                Some(to) if x(to) < x0 => -1.0,
                _ => 1.0,
            };
            let x_to = a.to.map_or(x0 + dir * GAP * 0.5, x);
            let colour = a.kind.colour();
            let dashed = if a.kind == Kind::Injected || a.copy {
                r#"stroke-dasharray="6 3""#
            } else {
                ""
            };
            let mut tip = None;
            match &a.fate {
                Fate::Delivered(r) => {
                    let (x1, y1) = (x_to, y(*r));
                    svg.line(x0, y0, x1, y1, colour, 1.4, dashed);
                    tip = Some((x1, y1));
                }
                Fate::Dropped(r, reason) => {
                    let x1 = x0 + (x_to - x0) * 0.6;
                    let y1 = y(*r);
                    svg.line(x0, y0, x1, y1, colour, 1.4, dashed);
                    let c = 5.0;
                    svg.line(x1 - c, y1 - c, x1 + c, y1 + c, "#d00000", 2.2, "");
                    svg.line(x1 - c, y1 + c, x1 + c, y1 - c, "#d00000", 2.2, "");
                    svg.text(
                        x1 + dir * 9.0,
                        y1 + 4.0,
                        &format!("dropped: {reason}"),
                        10.0,
                        if dir > 0.0 {
                            Anchor::Start
                        } else {
                            Anchor::End
                        },
                        "#d00000",
                        false,
                    );
                }
                Fate::Open => {
                    let y1 = bottom;
                    svg.line(x0, y0, x_to, y1, colour, 1.2, r#"stroke-dasharray="2 3""#);
                    tip = Some((x_to, y1));
                }
            }
            if let Some((x1, y1)) = tip {
                let (dx, dy) = (x1 - x0, y1 - y0);
                let len = (dx * dx + dy * dy).sqrt().max(1.0);
                let (ux, uy) = (dx / len, dy / len);
                let (bx, by) = (x1 - ux * 9.0, y1 - uy * 9.0);
                svg.polygon(
                    &[
                        (x1, y1),
                        (bx - uy * 4.0, by + ux * 4.0),
                        (bx + uy * 4.0, by - ux * 4.0),
                    ],
                    colour,
                );
            }
            if a.copy {
                continue; // its original carries the label
            }
            let mut text = self.arrow_text(a);
            for m in &a.marks {
                let _ = write!(text, " ({m})");
            }
            let anchor = if dir > 0.0 {
                Anchor::Start
            } else {
                Anchor::End
            };
            svg.label(x0 + dir * 8.0, y0 - 3.0, &text, FONT, anchor, colour);
        }
        // Notes beside the lanes.
        for (r, (_, row)) in self.rows.iter().enumerate() {
            let Row::Note {
                host,
                conn,
                text,
                style,
            } = row
            else {
                continue;
            };
            let text = self.note_text(*conn, text);
            // States go outside the left lane; everything else to the right of its lane.
            let left = cols[host] == 0 && cols.len() > 1 && *style == Style::State;
            let (xx, anchor) = if left {
                (x(*host) - 8.0, Anchor::End)
            } else {
                (x(*host) + 8.0, Anchor::Start)
            };
            let (colour, size) = match style {
                Style::State => ("#000", 11.0),
                Style::Event => ("#555", 10.0),
                Style::Violation => ("#d00000", 11.0),
                Style::Network => ("#7a1a1a", 11.0),
            };
            let text = match style {
                Style::State => text,
                Style::Network => format!("== {text}"),
                _ => format!("· {text}"),
            };
            svg.text(
                xx,
                y(r) + 4.0,
                &text,
                size,
                anchor,
                colour,
                *style == Style::State,
            );
            if *style == Style::State {
                svg.rect(x(*host) - 3.0, y(r) - 3.0, 6.0, 6.0, "#000", None);
            }
        }
        // The key of many connections, in columns.
        let key_top = bottom + 14.0;
        for (i, line) in key.iter().enumerate() {
            let (col, row) = (
                i / key.len().div_ceil(key_columns),
                i % key.len().div_ceil(key_columns),
            );
            svg.text(
                12.0 + col as f64 * KEY_COLUMN,
                key_top + row as f64 * KEY_LINE,
                line,
                10.0,
                Anchor::Start,
                "#333",
                true,
            );
        }
        // Legend.
        let ly = height - legend_h + 8.0;
        let mut lx = 12.0;
        for &(kind, name) in LEGEND {
            let dashed = if kind == Kind::Injected {
                r#"stroke-dasharray="6 3""#
            } else {
                ""
            };
            svg.line(lx, ly, lx + 24.0, ly, kind.colour(), 2.0, dashed);
            svg.text(
                lx + 30.0,
                ly + 4.0,
                name,
                10.0,
                Anchor::Start,
                "#333",
                false,
            );
            lx += 40.0 + name.len() as f64 * 6.0;
        }
        svg.line(lx + 4.0, ly - 4.0, lx + 12.0, ly + 4.0, "#d00000", 2.0, "");
        svg.line(lx + 4.0, ly + 4.0, lx + 12.0, ly - 4.0, "#d00000", 2.0, "");
        svg.text(
            lx + 18.0,
            ly + 4.0,
            LEGEND_DROPS,
            10.0,
            Anchor::Start,
            "#333",
            false,
        );
        svg.finish()
    }
}

/// Writes `text` into `row` from column `at`, growing the row if needed.
fn put(row: &mut Vec<char>, at: usize, text: &str) {
    for (i, c) in text.chars().enumerate() {
        if at + i >= row.len() {
            row.resize(at + i + 1, ' ');
        }
        row[at + i] = c;
    }
}

fn trimmed(row: &[char]) -> String {
    let s: String = row.iter().collect();
    s.trim_end().to_string()
}

/// The colour class of a segment by its flags and length.
fn kind_of(p: &Packet) -> Kind {
    let f = p.segment.flags;
    if f.contains(TcpFlags::RST) {
        Kind::Reset
    } else if f.contains(TcpFlags::SYN) || f.contains(TcpFlags::FIN) {
        Kind::Handshake
    } else if !p.segment.payload.is_empty() {
        Kind::Data
    } else {
        Kind::Ack
    }
}

/// `[P.] 1:101 ack 1`: flags, the sequence range (relative to the connection's ISNs), the
/// acknowledgment, a zero window and SACK blocks when present.
fn label(p: &Packet, isn_src: u32, isn_dst: u32) -> String {
    let s = &p.segment;
    // A SYN at its connection's ISN reads 0; an injected one elsewhere reads its offset.
    let seq = s.seq.0.wrapping_sub(isn_src);
    let mut out = format!("[{}] ", s.flags);
    if s.payload.is_empty() {
        let _ = write!(out, "seq {seq}");
    } else {
        let _ = write!(out, "{seq}:{}", seq.wrapping_add(s.payload.len() as u32));
    }
    if s.flags.contains(TcpFlags::ACK) {
        let _ = write!(out, " ack {}", s.ack.0.wrapping_sub(isn_dst));
    }
    if s.window == 0 && !s.flags.contains(TcpFlags::RST) {
        out.push_str(" win 0");
    }
    for (i, (l, r)) in s.options.sack.as_slice().iter().enumerate() {
        let _ = write!(
            out,
            "{}{}:{}",
            if i == 0 { " sack " } else { "," },
            l.0.wrapping_sub(isn_dst),
            r.0.wrapping_sub(isn_dst)
        );
    }
    out
}

/// A sink that draws a ladder of the records on their way to `inner`.
pub struct LadderSink<S> {
    /// The ladder, if one was asked for.
    pub ladder: Option<Ladder>,
    /// Where the records go next.
    pub inner: S,
}

impl<S: TraceSink<HostEvent>> TraceSink<HostEvent> for LadderSink<S> {
    fn start(&mut self, host_names: &[String]) {
        if let Some(l) = &mut self.ladder {
            l.start(host_names);
        }
        self.inner.start(host_names);
    }

    fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        if let Some(l) = &mut self.ladder {
            l.record(record);
        }
        self.inner.record(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsim_core::{Segment, Seq};
    use netsim_engine::{Cause, DropReason, HostId, PacketId};

    fn packet(from_server: bool, seq: u32, flags: TcpFlags, len: usize) -> Packet {
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let (src, dst, sp, dp) = if from_server {
            (b, a, 80, 40000)
        } else {
            (a, b, 40000, 80)
        };
        Packet {
            src,
            dst,
            segment: Segment {
                src_port: sp,
                dst_port: dp,
                seq: Seq(seq),
                ack: Seq(0),
                flags,
                window: 100,
                payload: vec![0; len],
                ..Segment::default()
            },
        }
    }

    fn at(ms: u64) -> SimTime {
        SimTime::from_nanos(ms * 1_000_000)
    }

    /// A segment dropped on its way left ends in a cross on the left with its reason; a
    /// duplicated one is drawn with its copy's fate; an injected one is marked; a segment
    /// still in flight at the end says so.
    #[test]
    fn drops_copies_injections_and_segments_in_flight_are_told_apart() {
        let mut l = Ladder::new(
            TraceFilter::default(),
            "t",
            &[Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
            10,
        );
        l.start(&["client".into(), "server".into()]);
        let syn = packet(false, 100, TcpFlags::SYN, 0);
        let reply = packet(true, 500, TcpFlags::SYN | TcpFlags::ACK, 0);
        let data = packet(false, 101, TcpFlags::ACK, 10);
        let rst = packet(true, 501, TcpFlags::RST, 0);
        fn send<'a>(
            host: u32,
            id: u64,
            packet: &'a Packet,
            state: &'static str,
        ) -> TraceKind<'a, HostEvent> {
            TraceKind::Sent {
                host: HostId(host),
                id: PacketId(id),
                packet,
                sender_state: state,
            }
        }
        let records = [
            (0, send(0, 1, &syn, "SYN_SENT")),
            (
                1,
                TraceKind::Delivered {
                    host: HostId(1),
                    id: PacketId(1),
                    packet: &syn,
                },
            ),
            (1, send(1, 2, &reply, "SYN_RECEIVED")),
            (
                1,
                TraceKind::Dropped {
                    id: PacketId(2),
                    packet: &reply,
                    reason: DropReason::Loss,
                },
            ),
            (2, send(0, 3, &data, "ESTABLISHED")),
            (
                2,
                TraceKind::Duplicated {
                    id: PacketId(3),
                    copy: PacketId(4),
                    packet: &data,
                    cause: Cause::Link,
                },
            ),
            (
                3,
                TraceKind::Delivered {
                    host: HostId(1),
                    id: PacketId(3),
                    packet: &data,
                },
            ),
            (
                4,
                TraceKind::Dropped {
                    id: PacketId(4),
                    packet: &data,
                    reason: DropReason::QueueFull,
                },
            ),
            (5, send(1, 5, &rst, netsim_engine::inject::INJECTED)),
        ];
        for (ms, kind) in records {
            l.record(&TraceRecord { at: at(ms), kind });
        }
        let text = l.text();
        let lines: Vec<&str> = text.lines().collect();
        let line = |needle: &str| {
            *lines
                .iter()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
        };
        let synack = line("[S.]");
        assert!(synack.ends_with("dropped (loss)"), "{text}");
        let cross = synack.find('X').unwrap();
        assert!(
            cross < synack.find("[S.]").unwrap(),
            "the cross is on the receiver's (left) side: {text}"
        );
        assert!(
            line("[.] 1:11").ends_with("+1ms, duplicated; copy dropped (queue full) +2ms"),
            "{text}"
        );
        assert!(
            line("[R]").ends_with("still in flight at the end, injected"),
            "{text}"
        );
        assert_eq!(l.segments(), 5, "four sent and one copy");
        let svg = l.svg();
        assert_eq!(svg.matches("dropped: ").count(), 2, "two crosses");
        assert_eq!(
            svg.matches("stroke-dasharray=\"6 3\"").count(),
            2,
            "the copy, and the legend's sample of an injected segment"
        );
        assert_eq!(
            svg.matches("stroke-dasharray=\"2 3\"").count(),
            1,
            "the RST still in flight"
        );
        assert!(svg.contains("[R] seq 1 (injected)"), "{svg}");
    }
}
