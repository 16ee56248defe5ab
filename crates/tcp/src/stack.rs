//! One host's TCP: demultiplexing by 4-tuple, listeners and their queues, ephemeral ports,
//! the TIME_WAIT table, socket handles and the socket API. Sans-IO like the rest of the crate:
//! callers pass the time in, then drain the segments to send ([`TcpStack::drain_output`]),
//! the trace events and the socket events, and ask for the next deadline.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

use netsim_core::fastmap::FastMap;
use netsim_core::{Packet, Segment, Seq, SimDuration, SimTime, StableHasher, TcpFlags};

use crate::config::{IsnMode, TcpConfig};
use crate::errno::Errno;
use crate::event::{ConnKey, Note, SocketEvent, SocketId, TcpEvent};
use crate::state::State;
use crate::tcb::{Counters, Cx, Outgoing, SocketRow, SocketTimer, Tcb, TcpInfo};
use crate::timewait::{TimeWait, TwAfter, TwTimestamps};

/// One thing the stack produced, for [`TcpStack::drain_in_order`].
#[derive(Debug)]
pub enum Produced {
    /// A trace event.
    Event(TcpEvent),
    /// A segment to send.
    Segment(Outgoing),
}

/// What recv() found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// This many bytes were appended to the buffer.
    Data(usize),
    /// The peer closed and every byte has been read.
    Eof,
    /// Nothing to read yet.
    WouldBlock,
}

/// How connect() picks its local port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bind {
    /// A fixed local port; `None` takes an ephemeral one.
    pub port: Option<u16>,
    /// SO_REUSEADDR: binding may share the port with TIME_WAIT connections.
    pub reuse_addr: bool,
}

/// listen() options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen {
    /// Accept-queue length (capped at `somaxconn`).
    pub backlog: u32,
    /// SO_REUSEADDR: the port may be taken while TIME_WAIT (or other non-listening)
    /// connections still use it.
    pub reuse_addr: bool,
}

#[derive(Debug)]
struct Listener {
    socket: SocketId,
    backlog: u32,
    /// Established connections not yet accepted.
    queue: VecDeque<Queued>,
    /// Connections in SYN_RECEIVED (Linux's request socks), by connection index.
    embryonic: BTreeSet<u32>,
}

/// An entry of a listener's accept queue.
#[derive(Debug)]
enum Queued {
    /// A connection established and not accepted yet.
    Live(u32),
    /// A connection that ended before accept() (reset by the peer, timed out). As on Linux
    /// (the child socket stays in the accept queue, counted against the backlog), accept()
    /// still returns it, and the socket reports the error, then what was left to read.
    Gone {
        remote: SocketAddrV4,
        error: Option<Errno>,
        eof: bool,
        unread: VecDeque<u8>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sock {
    Listener(u16),
    Conn(u32),
    /// The connection is gone; the handle stays until close(), reporting this.
    Dead {
        error: Option<Errno>,
        eof: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Demux {
    Conn(u32),
    TimeWait(u32),
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
    /// The earliest deadline queued for this slot, if any.
    queued: Option<SimTime>,
}

/// A slab with generations and per-slot queued deadlines.
#[derive(Debug)]
struct Table<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: u32,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }
}

impl<T> Table<T> {
    fn insert(&mut self, value: T) -> u32 {
        self.live += 1;
        if let Some(i) = self.free.pop() {
            let slot = &mut self.slots[i as usize];
            slot.value = Some(value);
            slot.queued = None;
            return i;
        }
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
            queued: None,
        });
        self.slots.len() as u32 - 1
    }
    fn get(&self, i: u32) -> Option<&T> {
        self.slots.get(i as usize)?.value.as_ref()
    }
    fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.slots.get_mut(i as usize)?.value.as_mut()
    }
    /// True if the queue entry `(at, generation)` is the one currently queued for slot `i`.
    fn is_queued(&self, i: u32, generation: u32, at: SimTime) -> bool {
        self.slots.get(i as usize).is_some_and(|slot| {
            slot.generation == generation && slot.value.is_some() && slot.queued == Some(at)
        })
    }

    /// Takes a popped queue entry for slot `i`: false if the slot moved on (stale entry);
    /// otherwise forgets the queued deadline if it was this one.
    fn claim(&mut self, i: u32, generation: u32, at: SimTime) -> bool {
        let Some(slot) = self.slots.get_mut(i as usize) else {
            return false;
        };
        if slot.generation != generation || slot.value.is_none() {
            return false;
        }
        if slot.queued == Some(at) {
            slot.queued = None;
        }
        true
    }

    fn remove(&mut self, i: u32) -> Option<T> {
        let slot = self.slots.get_mut(i as usize)?;
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        slot.queued = None;
        self.free.push(i);
        self.live -= 1;
        Some(value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerTarget {
    Conn(u32, u32),
    TimeWait(u32, u32),
}

/// One user fewer of `key` in a count map; a count that reaches zero leaves the map.
fn count_down<K: std::hash::Hash + Eq>(map: &mut FastMap<K, u32>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            map.remove(&key);
        }
    }
}

/// The longest keep-alive idle time or interval a socket may set (Linux MAX_TCP_KEEPIDLE and
/// MAX_TCP_KEEPINTVL, 32 767 s).
pub const KEEPALIVE_TIME_MAX: SimDuration = SimDuration::from_secs(32_767);
/// The most keep-alive probes a socket may set (Linux MAX_TCP_KEEPCNT).
pub const KEEPALIVE_PROBES_MAX: u32 = 127;

/// One host's TCP.
#[derive(Debug)]
pub struct TcpStack {
    cfg: TcpConfig,
    addr: Ipv4Addr,
    secret: u64,
    conns: Table<Tcb>,
    tws: Table<TimeWait>,
    /// Lookups only: never iterated, so its order cannot reach any output.
    demux: FastMap<(u16, SocketAddrV4), Demux>,
    /// Per remote endpoint, the entries of `demux` whose local port is ephemeral (lookups
    /// only).
    remote_users: FastMap<SocketAddrV4, u32>,
    listeners: BTreeMap<u16, Listener>,
    /// Socket handles. Numbers are never reused within a run, so an event queued for a closed
    /// socket can never be mistaken for one of a newer socket (lookups only).
    sockets: FastMap<u32, Sock>,
    /// Unread data of sockets whose connection is gone (lookups only).
    leftovers: FastMap<u32, VecDeque<u8>>,
    next_fd: u32,
    open_fds: u32,
    orphans: u32,
    /// Local ports bound explicitly (connect with a fixed port), with counts.
    bound: BTreeMap<u16, u32>,
    /// Connections and TIME_WAIT entries per local port (lookups only).
    port_users: FastMap<u16, u32>,
    port_cursor: u16,
    timers: crate::timers::TimerQueue<(SimTime, TimerTarget)>,
    out: Vec<Outgoing>,
    events: Vec<TcpEvent>,
    app: Vec<SocketEvent>,
    counters: Counters,
    state_counts: [u32; 11],
}

macro_rules! cx {
    ($self:ident, $now:expr) => {
        Cx {
            cfg: &$self.cfg,
            now: $now,
            time_wait_full: $self
                .cfg
                .max_time_wait
                .is_some_and(|max| $self.tws.live >= max),
            out: &mut $self.out,
            events: &mut $self.events,
            app: &mut $self.app,
            counters: &mut $self.counters,
        }
    };
}

impl TcpStack {
    /// A stack for the host at `addr`. `secret` keys the ISN and timestamp-offset hashes
    /// (RFC 6528); the caller draws it from the host's random stream.
    pub fn new(addr: Ipv4Addr, cfg: TcpConfig, secret: u64) -> TcpStack {
        let port_cursor = cfg.ephemeral_ports.0;
        TcpStack {
            cfg,
            addr,
            secret,
            conns: Table::default(),
            tws: Table::default(),
            demux: FastMap::default(),
            remote_users: FastMap::default(),
            listeners: BTreeMap::new(),
            sockets: FastMap::default(),
            leftovers: FastMap::default(),
            next_fd: 3, // 0, 1 and 2 are stdin, stdout and stderr, as in any process
            open_fds: 0,
            orphans: 0,
            bound: BTreeMap::new(),
            port_users: FastMap::default(),
            port_cursor,
            timers: crate::timers::TimerQueue::default(),
            out: Vec::new(),
            events: Vec::new(),
            app: Vec::new(),
            counters: Counters::default(),
            state_counts: [0; 11],
        }
    }

    /// The host's configuration.
    pub fn config(&self) -> &TcpConfig {
        &self.cfg
    }

    /// The host's address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// Counters since the stack was made.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// How many connections are in each state now (TIME_WAIT entries included), indexed like
    /// [`State::ALL`]. LISTEN counts listening sockets.
    pub fn state_counts(&self) -> [u32; 11] {
        let mut counts = self.state_counts;
        counts[State::Listen as usize] = self.listeners.len() as u32;
        counts[State::TimeWait as usize] = self.tws.live;
        counts
    }

    /// Segments produced since the last call, in order.
    pub fn drain_output(&mut self) -> std::vec::Drain<'_, Outgoing> {
        self.out.drain(..)
    }

    /// Trace events produced since the last call, in order.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, TcpEvent> {
        self.events.drain(..)
    }

    /// Trace events and segments produced since the last call, interleaved in the order they
    /// happened (a state change before the segment it causes).
    pub fn drain_in_order(&mut self, mut f: impl FnMut(Produced)) {
        // The usual cases first: one of the two lists is empty.
        if self.out.is_empty() {
            self.events.drain(..).for_each(|e| f(Produced::Event(e)));
            return;
        }
        if self.events.is_empty() {
            self.out.drain(..).for_each(|o| f(Produced::Segment(o)));
            return;
        }
        let mut events = self.events.drain(..).enumerate().peekable();
        for out in self.out.drain(..) {
            while let Some((_, e)) = events.next_if(|(i, _)| *i < out.after_events) {
                f(Produced::Event(e));
            }
            f(Produced::Segment(out));
        }
        for (_, e) in events {
            f(Produced::Event(e));
        }
    }

    /// Whether socket events wait to be drained.
    pub fn has_socket_events(&self) -> bool {
        !self.app.is_empty()
    }

    /// Socket events produced since the last call, in order.
    pub fn drain_socket_events(&mut self) -> std::vec::Drain<'_, SocketEvent> {
        self.app.drain(..)
    }

    /// The earliest time the stack needs [`TcpStack::on_timer`]. Queue entries of timers that
    /// were cancelled or moved later are cleaned off the top first, so the answer is exact.
    pub fn next_deadline(&mut self) -> Option<SimTime> {
        while let Some((at, target)) = self.timers.peek() {
            let actual = match target {
                TimerTarget::Conn(idx, generation) => self
                    .conns
                    .is_queued(idx, generation, at)
                    .then(|| self.conns.get(idx).and_then(Tcb::deadline))
                    .flatten(),
                TimerTarget::TimeWait(idx, generation) => self
                    .tws
                    .is_queued(idx, generation, at)
                    .then(|| self.tws.get(idx).map(|tw| tw.expires))
                    .flatten(),
            };
            if actual.is_some_and(|d| d <= at) {
                return Some(at);
            }
            // Stale or early: drop this entry and queue the real deadline, if any.
            self.timers.pop();
            match target {
                TimerTarget::Conn(idx, generation) => {
                    if self.conns.claim(idx, generation, at) {
                        self.schedule_conn(idx);
                    }
                }
                TimerTarget::TimeWait(idx, generation) => {
                    if self.tws.claim(idx, generation, at) {
                        self.schedule_tw(idx);
                    }
                }
            }
        }
        None
    }

    // ---------------------------------------------------------------------------------
    // Bookkeeping

    fn alloc_fd(&mut self, sock: Sock) -> SocketId {
        self.open_fds += 1;
        let fd = self.next_fd;
        self.next_fd = self
            .next_fd
            .checked_add(1)
            .expect("more than 2^32 sockets in one run");
        self.sockets.insert(fd, sock);
        SocketId(fd)
    }

    fn free_fd(&mut self, fd: SocketId) {
        self.leftovers.remove(&fd.0);
        if self.sockets.remove(&fd.0).is_some() {
            self.open_fds -= 1;
        }
    }

    fn set_sock(&mut self, fd: SocketId, sock: Sock) {
        if let Some(slot) = self.sockets.get_mut(&fd.0) {
            *slot = sock;
        }
    }

    fn sock(&self, fd: SocketId) -> Result<Sock, Errno> {
        self.sockets.get(&fd.0).copied().ok_or(Errno::BadFd)
    }

    /// Sockets in use against `max_sockets`: open handles, plus (in the article's model)
    /// connections still closing and TIME_WAIT entries.
    pub fn sockets_in_use(&self) -> u32 {
        let closing = if self.cfg.closing_holds_socket {
            self.orphans + self.tws.live
        } else {
            0
        };
        self.open_fds + closing
    }

    fn check_fd_limit(&self) -> Result<(), Errno> {
        match self.cfg.max_sockets {
            Some(max) if self.sockets_in_use() >= max => Err(Errno::TooManyFiles),
            _ => Ok(()),
        }
    }

    /// ISN by the configured rule (RFC 6528 §3, Linux secure_tcp_seq, RFC 793 §3.3, or
    /// fixed).
    fn isn(&self, now: SimTime, key: &ConnKey) -> Seq {
        let clock_4us = (now.as_nanos() / 4_000) as u32;
        let keyed_hash = || {
            let mut h = StableHasher::new();
            h.write_u64(self.secret);
            h.write_u64(u64::from(u32::from(*key.local.ip())) << 16 | u64::from(key.local.port()));
            h.write_u64(
                u64::from(u32::from(*key.remote.ip())) << 16 | u64::from(key.remote.port()),
            );
            h.finish() as u32
        };
        match self.cfg.isn {
            IsnMode::Fixed(v) => Seq(v),
            IsnMode::Clock => Seq(clock_4us),
            IsnMode::Rfc6528 => Seq(clock_4us.wrapping_add(keyed_hash())),
            // Linux seq_scale: nanoseconds >> 6, a 64 ns tick.
            IsnMode::Linux => Seq(((now.as_nanos() >> 6) as u32).wrapping_add(keyed_hash())),
        }
    }

    /// Timestamp clock offset for an address pair (Linux: keyed hash of the addresses only,
    /// so it is the same for every connection between two hosts).
    fn ts_offset(&self, key: &ConnKey) -> u32 {
        let mut h = StableHasher::new();
        h.write_u64(self.secret ^ 0x7473_6f66_6673_6574);
        h.write_u64(
            u64::from(u32::from(*key.local.ip())) << 32 | u64::from(u32::from(*key.remote.ip())),
        );
        h.finish() as u32
    }

    fn schedule_conn(&mut self, idx: u32) {
        let Some(slot) = self.conns.slots.get_mut(idx as usize) else {
            return;
        };
        let Some(deadline) = slot.value.as_ref().and_then(Tcb::deadline) else {
            return;
        };
        if slot.queued.is_none_or(|q| deadline < q) {
            slot.queued = Some(deadline);
            self.timers
                .push((deadline, TimerTarget::Conn(idx, slot.generation)));
        }
    }

    fn schedule_tw(&mut self, idx: u32) {
        let Some(slot) = self.tws.slots.get_mut(idx as usize) else {
            return;
        };
        let Some(tw) = slot.value.as_ref() else {
            return;
        };
        if slot.queued.is_none_or(|q| tw.expires < q) {
            slot.queued = Some(tw.expires);
            self.timers
                .push((tw.expires, TimerTarget::TimeWait(idx, slot.generation)));
        }
    }

    /// Tallies the state changes reported since `mark` in the per-state counts.
    fn tally(&mut self, mark: usize) {
        for e in &self.events[mark..] {
            if let TcpEvent::State { from, to, .. } = *e {
                if from != State::Listen && from != State::TimeWait && from != State::Closed {
                    self.state_counts[from as usize] -= 1;
                }
                if to != State::Listen && to != State::TimeWait && to != State::Closed {
                    self.state_counts[to as usize] += 1;
                }
            }
        }
    }

    /// After anything happened to connection `idx`: queue it, retire it, or turn it into a
    /// TIME_WAIT entry, and keep the socket table in step.
    fn settle(&mut self, now: SimTime, idx: u32, mark: usize) {
        let Some(tcb) = self.conns.get_mut(idx) else {
            return;
        };
        if tcb.just_established {
            tcb.just_established = false;
            let port = tcb.key.local.port();
            if let Some(l) = self.listeners.get_mut(&port) {
                l.embryonic.remove(&idx);
                l.queue.push_back(Queued::Live(idx));
                self.app.push(SocketEvent::Acceptable(l.socket));
            }
        }
        let tcb = self.conns.get(idx).expect("checked above");
        match tcb.state {
            State::Closed | State::TimeWait | State::Listen => self.retire(now, idx),
            _ => self.schedule_conn(idx),
        }
        self.tally(mark);
    }

    fn retire(&mut self, now: SimTime, idx: u32) {
        let mut tcb = self.conns.remove(idx).expect("retiring a live connection");
        self.demux_remove(&tcb.key);
        if tcb.orphan {
            self.orphans -= 1;
        }
        if tcb.passive {
            if let Some(l) = self.listeners.get_mut(&tcb.key.local.port()) {
                let queued = l
                    .queue
                    .iter_mut()
                    .find(|q| matches!(q, Queued::Live(c) if *c == idx));
                if let Some(entry) = queued {
                    *entry = Queued::Gone {
                        remote: tcb.key.remote,
                        error: tcb.error,
                        eof: tcb.fin_received,
                        unread: tcb.take_unread(),
                    };
                } else {
                    l.embryonic.remove(&idx);
                }
            }
        }
        if let Some(fd) = tcb.socket {
            self.set_sock(
                fd,
                Sock::Dead {
                    error: tcb.error,
                    eof: tcb.fin_received,
                },
            );
            // As on Linux, data the application has not read yet stays readable on its socket
            // after the connection itself is gone (to TIME_WAIT, say).
            let unread = tcb.take_unread();
            if !unread.is_empty() {
                self.leftovers.insert(fd.0, unread);
            }
        }
        if tcb.bound_port {
            self.unbind(tcb.key.local.port());
        }
        if tcb.state == State::TimeWait {
            self.enter_time_wait(now, &tcb);
        }
    }

    fn demux_insert(&mut self, key: &ConnKey, entry: Demux) {
        let port = key.local.port();
        if self.demux.insert((port, key.remote), entry).is_none() {
            *self.port_users.entry(port).or_insert(0) += 1;
            if self.is_ephemeral(port) {
                *self.remote_users.entry(key.remote).or_insert(0) += 1;
            }
        }
    }

    fn demux_remove(&mut self, key: &ConnKey) {
        let port = key.local.port();
        if self.demux.remove(&(port, key.remote)).is_some() {
            count_down(&mut self.port_users, port);
            if self.is_ephemeral(port) {
                count_down(&mut self.remote_users, key.remote);
            }
        }
    }

    fn is_ephemeral(&self, port: u16) -> bool {
        let (lo, hi) = self.cfg.ephemeral_ports;
        (lo..=hi).contains(&port)
    }

    fn unbind(&mut self, port: u16) {
        if let Some(n) = self.bound.get_mut(&port) {
            *n -= 1;
            if *n == 0 {
                self.bound.remove(&port);
            }
        }
    }

    fn enter_time_wait(&mut self, now: SimTime, tcb: &Tcb) {
        // A full table never gets here: the block went to CLOSED instead (`Cx::time_wait_full`).
        debug_assert!(self.cfg.max_time_wait.is_none_or(|max| self.tws.live < max));
        let len = self.cfg.time_wait_len();
        if len.is_zero() {
            self.events.push(TcpEvent::State {
                conn: tcb.key,
                from: State::TimeWait,
                to: State::Closed,
            });
            return;
        }
        let tw = TimeWait {
            key: tcb.key,
            snd_nxt: tcb.snd_nxt,
            rcv_nxt: tcb.rcv_nxt,
            window: tcb.last_window(&self.cfg),
            ts: tcb.ts_on.then_some(TwTimestamps {
                recent: tcb.ts_recent,
                recent_at: tcb.ts_recent_at,
                offset: tcb.ts_offset,
            }),
            expires: now + len,
            last_oow_ack: None,
        };
        let idx = self.tws.insert(tw);
        self.demux_insert(&tcb.key, Demux::TimeWait(idx));
        self.schedule_tw(idx);
    }

    fn end_time_wait(&mut self, idx: u32) -> Option<TimeWait> {
        let tw = self.tws.remove(idx)?;
        self.demux_remove(&tw.key);
        self.events.push(TcpEvent::State {
            conn: tw.key,
            from: State::TimeWait,
            to: State::Closed,
        });
        Some(tw)
    }

    // ---------------------------------------------------------------------------------
    // Arrivals and timers

    /// A packet addressed to this host arrived.
    pub fn on_packet(&mut self, now: SimTime, packet: &Packet) {
        if packet.dst != self.addr {
            return;
        }
        let seg = &packet.segment;
        let remote = SocketAddrV4::new(packet.src, seg.src_port);
        let key = ConnKey {
            local: SocketAddrV4::new(self.addr, seg.dst_port),
            remote,
        };
        let mut isn_hint = None;
        match self.demux.get(&(seg.dst_port, remote)).copied() {
            Some(Demux::Conn(idx)) => return self.conn_segment(now, idx, seg),
            Some(Demux::TimeWait(idx)) => {
                let mark = self.events.len();
                let mut tw = *self.tws.get(idx).expect("demux points at a live entry");
                let after = {
                    let mut cx = cx!(self, now);
                    tw.on_segment(&mut cx, seg)
                };
                *self.tws.get_mut(idx).expect("live") = tw;
                match after {
                    TwAfter::Keep => {
                        self.schedule_tw(idx);
                        return;
                    }
                    TwAfter::Killed => {
                        self.end_time_wait(idx);
                        self.tally(mark);
                        return;
                    }
                    TwAfter::Reopen(isn) => {
                        self.counters.time_wait_reopened += 1;
                        self.end_time_wait(idx);
                        isn_hint = Some(isn);
                    }
                }
            }
            None => {}
        }
        if self.listeners.contains_key(&seg.dst_port) {
            return self.listener_segment(now, key, seg, isn_hint);
        }
        self.reply_no_connection(now, key, seg);
    }

    fn conn_segment(&mut self, now: SimTime, idx: u32, seg: &Segment) {
        let mark = self.events.len();
        let tcb = self
            .conns
            .get(idx)
            .expect("demux points at a live connection");
        // Linux: the ACK that completes a handshake is dropped while the accept queue is full;
        // the connection stays in SYN_RECEIVED and retransmits its SYN-ACK.
        if tcb.passive
            && tcb.state == State::SynReceived
            && seg.flags.contains(TcpFlags::ACK)
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::RST)
        {
            let port = tcb.key.local.port();
            if let Some(l) = self.listeners.get(&port) {
                if l.queue.len() as u32 > l.backlog {
                    let key = tcb.key;
                    self.events.push(TcpEvent::Note {
                        conn: key,
                        note: Note::AcceptQueueFull,
                    });
                    return;
                }
            }
        }
        let tcb = self.conns.get_mut(idx).expect("checked");
        let mut cx = cx!(self, now);
        // An embryonic connection that folds back into its listener (a RST or SYN in
        // SYN_RECEIVED) is settled like any other: in LISTEN again, it is retired.
        tcb.on_segment(&mut cx, seg);
        self.settle(now, idx, mark);
    }

    /// RFC 9293 §3.10.7.2: LISTEN.
    fn listener_segment(&mut self, now: SimTime, key: ConnKey, seg: &Segment, isn: Option<Seq>) {
        let flags = seg.flags;
        if flags.contains(TcpFlags::RST) {
            return;
        }
        if flags.contains(TcpFlags::ACK) {
            self.send_reset_for(now, key, seg);
            return;
        }
        if !flags.contains(TcpFlags::SYN) {
            return;
        }
        let listener = self
            .listeners
            .get_mut(&key.local.port())
            .expect("checked by caller");
        // Linux tcp_conn_request: a full accept queue drops the SYN (ListenOverflows). "Full"
        // is Linux's sk_acceptq_is_full: more than `backlog` waiting, so backlog N holds N+1.
        // The SYN queue itself never overflows, as with Linux's default SYN cookies.
        if listener.queue.len() as u32 > listener.backlog {
            self.counters.listen_overflows += 1;
            self.events.push(TcpEvent::Note {
                conn: key,
                note: Note::ListenOverflow,
            });
            return;
        }
        let mark = self.events.len();
        let iss = isn.unwrap_or_else(|| self.isn(now, &key));
        let ts_offset = self.ts_offset(&key);
        let mut cx = cx!(self, now);
        let tcb = Tcb::accept_syn(&mut cx, key, iss, ts_offset, seg);
        let idx = self.conns.insert(tcb);
        self.listeners
            .get_mut(&key.local.port())
            .expect("checked by caller")
            .embryonic
            .insert(idx);
        self.demux_insert(&key, Demux::Conn(idx));
        self.settle(now, idx, mark);
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection. No RST for a RST; otherwise
    /// <SEQ=SEG.ACK><CTL=RST> if it had an ACK, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    fn reply_no_connection(&mut self, now: SimTime, key: ConnKey, seg: &Segment) {
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        self.events.push(TcpEvent::Note {
            conn: key,
            note: Note::ResetNoConnection,
        });
        self.send_reset_for(now, key, seg);
    }

    fn send_reset_for(&mut self, now: SimTime, key: ConnKey, seg: &Segment) {
        let (seq, ack, flags) = if seg.flags.contains(TcpFlags::ACK) {
            (seg.ack, Seq(0), TcpFlags::RST)
        } else {
            (
                Seq(0),
                seg.seq.add(seg.seq_len()),
                TcpFlags::RST | TcpFlags::ACK,
            )
        };
        let mut cx = cx!(self, now);
        cx.counters.resets_sent += 1;
        let segment = Segment {
            seq,
            ack,
            flags,
            ..Segment::default()
        };
        cx.send(&key, segment, State::Closed.name());
    }

    /// Runs every timer due at `now`.
    pub fn on_timer(&mut self, now: SimTime) {
        while let Some((at, target)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            match target {
                TimerTarget::Conn(idx, generation) => {
                    if !self.conns.claim(idx, generation, at) {
                        continue;
                    }
                    let mark = self.events.len();
                    let tcb = self.conns.get_mut(idx).expect("claimed");
                    if tcb.deadline().is_some_and(|d| d <= now) {
                        let mut cx = cx!(self, now);
                        tcb.on_timer(&mut cx);
                    }
                    self.settle(now, idx, mark);
                }
                TimerTarget::TimeWait(idx, generation) => {
                    if !self.tws.claim(idx, generation, at) {
                        continue;
                    }
                    let expires = self.tws.get(idx).expect("claimed").expires;
                    if expires <= now {
                        self.end_time_wait(idx);
                    } else {
                        self.schedule_tw(idx);
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // The socket API

    /// socket() + bind(port) + listen(backlog), without SO_REUSEADDR (see
    /// [`TcpStack::listen_with`]).
    pub fn listen(&mut self, now: SimTime, port: u16, backlog: u32) -> Result<SocketId, Errno> {
        let opts = Listen {
            backlog,
            reuse_addr: false,
        };
        self.listen_with(now, port, opts)
    }

    /// socket() + setsockopt(SO_REUSEADDR) if asked + bind(port) + listen(backlog). Follows
    /// Linux (inet_csk_bind_conflict): without SO_REUSEADDR the port must be free of every
    /// connection, TIME_WAIT included (EADDRINUSE); with it, only a listener or an explicit
    /// bind conflicts. Linux also wants SO_REUSEADDR on the socket a TIME_WAIT entry came
    /// from (tw_reuse); netsim does not record that and checks only the new socket's flag.
    pub fn listen_with(
        &mut self,
        _now: SimTime,
        port: u16,
        opts: Listen,
    ) -> Result<SocketId, Errno> {
        if port == 0 {
            return Err(Errno::Invalid);
        }
        if self.listeners.contains_key(&port) || self.bound.contains_key(&port) {
            return Err(Errno::AddrInUse);
        }
        if !opts.reuse_addr && self.port_in_use(port) {
            return Err(Errno::AddrInUse);
        }
        let backlog = opts.backlog;
        self.check_fd_limit()?;
        let socket = self.alloc_fd(Sock::Listener(port));
        self.listeners.insert(
            port,
            Listener {
                socket,
                backlog: backlog.min(self.cfg.somaxconn),
                queue: VecDeque::new(),
                embryonic: BTreeSet::new(),
            },
        );
        // CLOSED -> LISTEN, reported with the wildcard peer 0.0.0.0:0.
        self.events.push(TcpEvent::State {
            conn: ConnKey {
                local: SocketAddrV4::new(self.addr, port),
                remote: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            },
            from: State::Closed,
            to: State::Listen,
        });
        Ok(socket)
    }

    /// accept(): the oldest established connection, or `Ok(None)` if none waits. EMFILE when
    /// the socket limit is reached (the connection stays queued, as on Linux).
    pub fn accept(
        &mut self,
        _now: SimTime,
        listener: SocketId,
    ) -> Result<Option<(SocketId, SocketAddrV4)>, Errno> {
        let Sock::Listener(port) = self.sock(listener)? else {
            return Err(Errno::Invalid);
        };
        if self.listeners[&port].queue.is_empty() {
            return Ok(None);
        }
        self.check_fd_limit()?;
        let queued = self
            .listeners
            .get_mut(&port)
            .expect("listener exists")
            .queue
            .pop_front()
            .expect("checked non-empty");
        // What the new socket reports at once: an error the connection ended with, data
        // waiting to be read, the peer's FIN.
        let (fd, remote, failed, readable, eof) = match queued {
            Queued::Live(idx) => {
                let fd = self.alloc_fd(Sock::Conn(idx));
                let tcb = self
                    .conns
                    .get_mut(idx)
                    .expect("queued connections are live");
                tcb.socket = Some(fd);
                let readable = tcb.readable() > 0;
                (fd, tcb.key.remote, None, readable, tcb.fin_received)
            }
            Queued::Gone {
                remote,
                error,
                eof,
                unread,
            } => {
                let fd = self.alloc_fd(Sock::Dead { error, eof });
                let readable = !unread.is_empty();
                if readable {
                    self.leftovers.insert(fd.0, unread);
                }
                (fd, remote, error, readable, eof)
            }
        };
        self.counters.accepted += 1;
        if let Some(errno) = failed {
            self.app.push(SocketEvent::Failed(fd, errno));
        }
        if readable {
            self.app.push(SocketEvent::Readable(fd));
        }
        if eof {
            self.app.push(SocketEvent::PeerClosed(fd));
        }
        Ok(Some((fd, remote)))
    }

    /// connect(): SYN to `remote` from an ephemeral or bound port (RFC 9293 §3.10.1).
    pub fn connect(
        &mut self,
        now: SimTime,
        remote: SocketAddrV4,
        bind: Bind,
    ) -> Result<SocketId, Errno> {
        self.check_fd_limit()?;
        let (port, reused) = match bind.port {
            Some(port) => {
                if port == 0 {
                    return Err(Errno::Invalid);
                }
                if self.listeners.contains_key(&port) {
                    return Err(Errno::AddrInUse);
                }
                if !bind.reuse_addr && self.port_in_use(port) {
                    return Err(Errno::AddrInUse);
                }
                match self.demux.get(&(port, remote)).copied() {
                    None => (port, None),
                    Some(Demux::TimeWait(idx)) if self.tw_reusable(now, idx) => (port, Some(idx)),
                    Some(_) => return Err(Errno::AddrNotAvail),
                }
            }
            None => self.ephemeral_port(now, remote)?,
        };
        let key = ConnKey {
            local: SocketAddrV4::new(self.addr, port),
            remote,
        };
        let mark = self.events.len();
        let mut iss = self.isn(now, &key);
        let mut inherited_ts = None;
        if let Some(idx) = reused {
            self.counters.time_wait_reused += 1;
            self.events.push(TcpEvent::Note {
                conn: key,
                note: Note::TimeWaitReusedByConnect,
            });
            let tw = self.end_time_wait(idx).expect("checked live");
            // Linux tcp_twsk_unique: start above the old connection's sequence space and
            // remember its timestamp.
            iss = tw.snd_nxt.add(65535 + 2);
            inherited_ts = tw.ts;
        }
        if bind.port.is_some() {
            *self.bound.entry(port).or_insert(0) += 1;
        }
        let fd = self.alloc_fd(Sock::Conn(u32::MAX));
        let ts_offset = self.ts_offset(&key);
        let mut cx = cx!(self, now);
        let mut tcb = Tcb::connect(&mut cx, key, iss, ts_offset, fd);
        if let Some(ts) = inherited_ts {
            tcb.ts_recent = ts.recent;
            tcb.ts_recent_at = ts.recent_at;
        }
        tcb.bound_port = bind.port.is_some();
        let idx = self.conns.insert(tcb);
        self.set_sock(fd, Sock::Conn(idx));
        self.demux_insert(&key, Demux::Conn(idx));
        self.settle(now, idx, mark);
        Ok(fd)
    }

    /// Without SO_REUSEADDR a port is taken while any socket is bound to it or any
    /// connection (TIME_WAIT included) uses it (Linux inet_csk_bind_conflict).
    fn port_in_use(&self, port: u16) -> bool {
        self.bound.contains_key(&port) || self.port_users.contains_key(&port)
    }

    fn tw_reusable(&self, now: SimTime, idx: u32) -> bool {
        self.cfg.tw_reuse && self.tws.get(idx).is_some_and(|tw| tw.reusable(now))
    }

    /// Ephemeral port choice (Linux __inet_hash_connect, simplified to a deterministic
    /// cursor): the next port of the range that is not bound and whose 4-tuple with `remote`
    /// is free, or in TIME_WAIT and reusable.
    fn ephemeral_port(
        &mut self,
        now: SimTime,
        remote: SocketAddrV4,
    ) -> Result<(u16, Option<u32>), Errno> {
        let (lo, hi) = self.cfg.ephemeral_ports;
        let span = u32::from(hi - lo) + 1;
        // Every port of the range already carries a connection to `remote`: without
        // TIME_WAIT reuse no port can be had, and the answer comes without a scan (so a host
        // that keeps connecting while its ports are exhausted pays O(1) a call, not O(range)).
        let users = self.remote_users.get(&remote).copied().unwrap_or(0);
        if users >= span && !self.cfg.tw_reuse {
            return Err(Errno::AddrNotAvail);
        }
        for _ in 0..span {
            let port = self.port_cursor;
            self.port_cursor = if port >= hi { lo } else { port + 1 };
            if self.listeners.contains_key(&port) || self.bound.contains_key(&port) {
                continue;
            }
            match self.demux.get(&(port, remote)).copied() {
                None => return Ok((port, None)),
                Some(Demux::TimeWait(idx)) if self.tw_reusable(now, idx) => {
                    return Ok((port, Some(idx)));
                }
                Some(_) => {}
            }
        }
        Err(Errno::AddrNotAvail)
    }

    fn conn_of(&self, fd: SocketId) -> Result<Result<u32, (Option<Errno>, bool)>, Errno> {
        match self.sock(fd)? {
            Sock::Conn(idx) => Ok(Ok(idx)),
            Sock::Dead { error, eof } => Ok(Err((error, eof))),
            Sock::Listener(_) => Err(Errno::Invalid),
        }
    }

    fn with_conn<R>(
        &mut self,
        now: SimTime,
        fd: SocketId,
        f: impl FnOnce(&mut Tcb, &mut Cx<'_>) -> R,
    ) -> Result<R, Errno> {
        let idx = match self.conn_of(fd)? {
            Ok(idx) => idx,
            Err((error, _)) => return Err(error.unwrap_or(Errno::BrokenPipe)),
        };
        let mark = self.events.len();
        let tcb = self
            .conns
            .get_mut(idx)
            .expect("socket points at a live connection");
        let mut cx = cx!(self, now);
        let r = f(tcb, &mut cx);
        self.settle(now, idx, mark);
        Ok(r)
    }

    /// The most bytes a `send()` on `fd` would take now: the free room of its send buffer
    /// (unbounded when `fd` is no live connection: `send()` itself then says why it fails).
    /// It changes nothing; an application uses it to make only the bytes that will fit.
    pub fn send_room(&self, fd: SocketId) -> usize {
        match self.conn_of(fd) {
            Ok(Ok(idx)) => self
                .conns
                .get(idx)
                .map_or(usize::MAX, |tcb| tcb.send_room(&self.cfg)),
            _ => usize::MAX,
        }
    }

    /// send(): queues what fits in the send buffer; EPIPE after shutdown, the connection's
    /// error once it failed.
    pub fn send(&mut self, now: SimTime, fd: SocketId, data: &[u8]) -> Result<usize, Errno> {
        self.with_conn(now, fd, |tcb, cx| tcb.send(cx, data))?
    }

    /// recv(): appends up to `max` bytes to `out`.
    pub fn recv(
        &mut self,
        now: SimTime,
        fd: SocketId,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<Received, Errno> {
        match self.conn_of(fd)? {
            Err((error, eof)) => {
                if let Some(left) = self.leftovers.get_mut(&fd.0) {
                    let n = max.min(left.len());
                    out.extend(left.drain(..n));
                    if left.is_empty() {
                        self.leftovers.remove(&fd.0);
                    }
                    if n > 0 {
                        return Ok(Received::Data(n));
                    }
                }
                // Linux tcp_recvmsg: once the peer's FIN is in (SOCK_DONE), recv() returns 0
                // before it looks at the socket's error.
                if eof && self.cfg.close_wait_reset_is_epipe {
                    return Ok(Received::Eof);
                }
                error.map_or(Ok(Received::Eof), Err)
            }
            Ok(_) => self.with_conn(now, fd, |tcb, cx| {
                let fin = tcb.fin_received;
                tcb.recv(cx, out, max).map(|n| match n {
                    0 if fin => Received::Eof,
                    0 => Received::WouldBlock,
                    n => Received::Data(n),
                })
            })?,
        }
    }

    /// shutdown(SHUT_WR): half-close.
    pub fn shutdown(&mut self, now: SimTime, fd: SocketId) -> Result<(), Errno> {
        match self.conn_of(fd)? {
            Err(_) => Err(Errno::NotConn),
            Ok(_) => self.with_conn(now, fd, |tcb, cx| tcb.shutdown(cx)),
        }
    }

    /// close(): gives up the handle; the connection finishes on its own (FIN, or RST if
    /// unread data remains). On a listener, queued connections are reset.
    pub fn close(&mut self, now: SimTime, fd: SocketId) -> Result<(), Errno> {
        match self.sock(fd)? {
            Sock::Listener(port) => {
                self.close_listener(now, port);
                self.free_fd(fd);
                Ok(())
            }
            Sock::Dead { .. } => {
                self.free_fd(fd);
                Ok(())
            }
            Sock::Conn(idx) => {
                self.orphan(now, fd, idx, Tcb::close);
                Ok(())
            }
        }
    }

    /// Abortive close (SO_LINGER with a zero timeout): RST, no TIME_WAIT.
    pub fn abort(&mut self, now: SimTime, fd: SocketId) -> Result<(), Errno> {
        match self.sock(fd)? {
            Sock::Conn(idx) => {
                self.orphan(now, fd, idx, Tcb::abort);
                Ok(())
            }
            _ => self.close(now, fd),
        }
    }

    /// The application gives up socket `fd` of connection `idx`, which `end` (close or abort)
    /// then winds down on its own.
    fn orphan(&mut self, now: SimTime, fd: SocketId, idx: u32, end: fn(&mut Tcb, &mut Cx<'_>)) {
        self.free_fd(fd);
        self.orphans += 1;
        let mark = self.events.len();
        let tcb = self
            .conns
            .get_mut(idx)
            .expect("a socket's connection is live");
        let mut cx = cx!(self, now);
        end(tcb, &mut cx);
        self.settle(now, idx, mark);
    }

    fn close_listener(&mut self, now: SimTime, port: u16) {
        let listener = self
            .listeners
            .remove(&port)
            .expect("socket points at a listener");
        self.events.push(TcpEvent::State {
            conn: ConnKey {
                local: SocketAddrV4::new(self.addr, port),
                remote: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            },
            from: State::Listen,
            to: State::Closed,
        });
        // Linux inet_csk_listen_stop: connections never accepted are reset.
        for queued in listener.queue {
            let Queued::Live(idx) = queued else {
                continue;
            };
            let mark = self.events.len();
            self.orphans += 1;
            if let Some(tcb) = self.conns.get_mut(idx) {
                let mut cx = cx!(self, now);
                tcb.abort(&mut cx);
            }
            self.settle(now, idx, mark);
        }
        // Linux: a request sock (SYN_RECEIVED) dies with its listener, silently: its SYN-ACK
        // timer (reqsk_timer_handler) and the handshake ACK (tcp_v4_rcv) both drop a request
        // whose listener is no longer listening. That ACK then finds no socket and is
        // answered with RST (RFC 9293 §3.10.7.1).
        for idx in listener.embryonic {
            let mark = self.events.len();
            if let Some(tcb) = self.conns.get_mut(idx) {
                let mut cx = cx!(self, now);
                cx.note(tcb.key, Note::ListenerClosed);
                tcb.set_state(&mut cx, State::Closed);
            }
            self.settle(now, idx, mark);
        }
    }

    /// Sets TCP_NODELAY (true turns Nagle off).
    pub fn set_nodelay(&mut self, fd: SocketId, nodelay: bool) -> Result<(), Errno> {
        match self.conn_of(fd)? {
            Ok(idx) => {
                self.conns.get_mut(idx).expect("live").set_nagle(!nodelay);
                Ok(())
            }
            Err(_) => Err(Errno::NotConn),
        }
    }

    /// SO_KEEPALIVE on a connected socket, with TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT
    /// (`None` for each takes the host's tcp_keepalive_* value); `on: false` turns it off.
    pub fn set_keepalive(
        &mut self,
        now: SimTime,
        fd: SocketId,
        on: bool,
        idle: Option<SimDuration>,
        interval: Option<SimDuration>,
        probes: Option<u32>,
    ) -> Result<(), Errno> {
        let cfg = &self.cfg;
        let values = on.then(|| {
            (
                idle.unwrap_or(cfg.keepalive_time),
                interval.unwrap_or(cfg.keepalive_interval),
                probes.unwrap_or(cfg.keepalive_probes),
            )
        });
        if values.is_some_and(|(i, v, p)| i.is_zero() || v.is_zero() || p == 0) {
            return Err(Errno::Invalid);
        }
        // Linux do_tcp_setsockopt: TCP_KEEPIDLE and TCP_KEEPINTVL at most MAX_TCP_KEEPIDLE and
        // MAX_TCP_KEEPINTVL (32 767 s), TCP_KEEPCNT at most MAX_TCP_KEEPCNT (127).
        let too_long = |d: Option<SimDuration>| d.is_some_and(|d| d > KEEPALIVE_TIME_MAX);
        if too_long(idle) || too_long(interval) || probes.is_some_and(|p| p > KEEPALIVE_PROBES_MAX)
        {
            return Err(Errno::Invalid);
        }
        match self.conn_of(fd)? {
            Ok(_) => self.with_conn(now, fd, |tcb, cx| tcb.set_keepalive(cx, values)),
            Err(_) => Err(Errno::NotConn),
        }
    }

    /// The state of the connection behind a socket (`CLOSED` once it is gone).
    pub fn state_of(&self, fd: SocketId) -> Result<State, Errno> {
        Ok(match self.sock(fd)? {
            Sock::Listener(_) => State::Listen,
            Sock::Conn(idx) => self.conns.get(idx).map_or(State::Closed, |t| t.state),
            Sock::Dead { .. } => State::Closed,
        })
    }

    /// The 4-tuple behind a socket, while its connection lives.
    pub fn conn_key(&self, fd: SocketId) -> Option<ConnKey> {
        match self.sock(fd).ok()? {
            Sock::Conn(idx) => self.conns.get(idx).map(|t| t.key),
            _ => None,
        }
    }

    /// Bytes waiting to be read on a socket.
    pub fn readable(&self, fd: SocketId) -> usize {
        match self.sock(fd) {
            Ok(Sock::Conn(idx)) => self.conns.get(idx).map_or(0, Tcb::readable),
            _ => self.leftovers.get(&fd.0).map_or(0, VecDeque::len),
        }
    }

    /// Bytes sent but not yet acknowledged, or not yet sent.
    pub fn unacked(&self, fd: SocketId) -> usize {
        match self.sock(fd) {
            Ok(Sock::Conn(idx)) => self.conns.get(idx).map_or(0, Tcb::unacked),
            _ => 0,
        }
    }

    /// The congestion state of the connection behind a socket (Linux getsockopt TCP_INFO),
    /// or None when there is no connection.
    pub fn info(&self, fd: SocketId) -> Option<TcpInfo> {
        match self.sock(fd) {
            Ok(Sock::Conn(idx)) => self.conns.get(idx).map(Tcb::info),
            _ => None,
        }
    }

    /// Every socket still open at `now`, as `ss -tan -o` lists them: listeners, connections
    /// in every state but CLOSED, and TIME_WAIT entries, sorted by local then peer address.
    pub fn sockets(&self, now: SimTime) -> Vec<SocketRow> {
        let mut rows: Vec<SocketRow> = self
            .listeners
            .iter()
            .map(|(port, l)| SocketRow {
                state: State::Listen,
                local: SocketAddrV4::new(self.addr, *port),
                peer: None,
                recv_q: l.queue.len() as u64,
                send_q: u64::from(l.backlog),
                timer: None,
            })
            .collect();
        rows.extend(
            self.conns
                .slots
                .iter()
                .filter_map(|s| s.value.as_ref())
                .filter(|t| t.state != State::Closed)
                .map(|t| t.row(now)),
        );
        rows.extend(
            self.tws
                .slots
                .iter()
                .filter_map(|s| s.value.as_ref())
                .map(|tw| SocketRow {
                    state: State::TimeWait,
                    local: tw.key.local,
                    peer: Some(tw.key.remote),
                    recv_q: 0,
                    send_q: 0,
                    timer: Some(SocketTimer {
                        kind: "timewait",
                        left: tw.expires.saturating_since(now),
                        retries: 0,
                    }),
                }),
        );
        rows.sort_by_key(|r| (r.local, r.peer));
        rows
    }

    /// Live connections (not TIME_WAIT) and TIME_WAIT entries.
    pub fn table_sizes(&self) -> (u32, u32) {
        (self.conns.live, self.tws.live)
    }
}
