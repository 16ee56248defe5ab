//! A two-endpoint harness: a client stack (10.0.0.1) and a server stack (10.0.0.2) with the
//! segments between them held in two queues, so a test decides what is delivered, lost or
//! reordered, segment by segment. No engine, no network.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};

use netsim_core::{Packet, SimDuration, SimTime, Timestamps};
use netsim_tcp::{
    Bind, IsnMode, Received, SocketEvent, SocketId, State, TcpConfig, TcpEvent, TcpStack,
};

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const PORT: u16 = 80;

pub fn server_addr() -> SocketAddrV4 {
    SocketAddrV4::new(SERVER, PORT)
}

pub fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

pub fn secs(n: u64) -> SimDuration {
    SimDuration::from_secs(n)
}

/// The Linux profile with fixed ISNs (client 1000, server 5000) so dialogues are readable.
pub fn linux(isn: u32) -> TcpConfig {
    TcpConfig {
        isn: IsnMode::Fixed(isn),
        ..TcpConfig::linux()
    }
}

/// The Linux profile's numbers (MSS, buffers, 40 ms delayed ACK, 200 ms minimum RTO,
/// timestamps, fixed ISN) with the RFC rules where Linux has its own: RFC 1122 delayed ACKs,
/// RFC 6298 RTO, RFC 5681 NewReno without SACK, the free buffer as the window, RFC 1122
/// Nagle, RFC 9293 TIME_WAIT, exact timers. For the tests of those RFC mechanisms; Linux's own rules have theirs.
pub fn rfc_rules(isn: u32) -> TcpConfig {
    TcpConfig {
        ack_policy: netsim_tcp::AckPolicy::Rfc1122,
        rto_rules: netsim_tcp::RtoRules::Rfc6298,
        congestion: netsim_tcp::Congestion::NewReno,
        window_rules: netsim_tcp::WindowRules::Rfc,
        sack: false,
        rack: false,
        tail_loss_probe: false,
        syn_linear_timeouts: 0,
        timer_tick: SimDuration::ZERO,
        nagle_minshall: false,
        time_wait_rules: netsim_tcp::TimeWaitRules::Rfc9293,
        ..linux(isn)
    }
}

/// Short summary of a segment: tcpdump flags, then the payload length if any.
pub fn summary(p: &Packet) -> String {
    let s = &p.segment;
    if s.payload.is_empty() {
        s.flags.to_string()
    } else {
        format!("{} {}", s.flags, s.payload.len())
    }
}

/// Summaries of some segments.
pub fn summaries(ps: &[Packet]) -> Vec<String> {
    ps.iter().map(summary).collect()
}

/// Sequence numbers of some segments.
pub fn seqs(ps: &[Packet]) -> Vec<u32> {
    ps.iter().map(|p| p.segment.seq.0).collect()
}

/// Acknowledgment numbers of some segments.
pub fn acks(ps: &[Packet]) -> Vec<u32> {
    ps.iter().map(|p| p.segment.ack.0).collect()
}

/// Takes what the client sent, undelivered.
pub fn take_to_s(t: &mut Pair) -> Vec<Packet> {
    t.hold_to_s()
}

/// Takes what the server sent, undelivered.
pub fn take_to_c(t: &mut Pair) -> Vec<Packet> {
    t.collect();
    std::mem::take(&mut t.to_c)
}

/// Delivers one client segment to the server now.
pub fn to_server(t: &mut Pair, p: &Packet) {
    t.s.on_packet(t.now, p);
    t.collect();
}

/// Delivers one server segment to the client now.
pub fn to_client(t: &mut Pair, p: &Packet) {
    t.c.on_packet(t.now, p);
    t.collect();
}

pub struct Pair {
    pub now: SimTime,
    pub c: TcpStack,
    pub s: TcpStack,
    pub to_s: Vec<Packet>,
    pub to_c: Vec<Packet>,
    pub c_log: Vec<TcpEvent>,
    pub s_log: Vec<TcpEvent>,
    pub c_sock: Vec<SocketEvent>,
    pub s_sock: Vec<SocketEvent>,
}

impl Pair {
    pub fn new(client: TcpConfig, server: TcpConfig) -> Pair {
        Pair {
            now: SimTime::ZERO,
            c: TcpStack::new(CLIENT, client, 1),
            s: TcpStack::new(SERVER, server, 2),
            to_s: Vec::new(),
            to_c: Vec::new(),
            c_log: Vec::new(),
            s_log: Vec::new(),
            c_sock: Vec::new(),
            s_sock: Vec::new(),
        }
    }

    /// Both sides on the Linux profile with fixed ISNs.
    pub fn linux() -> Pair {
        Pair::new(linux(1000), linux(5000))
    }

    /// Moves what the stacks produced into the queues and logs.
    pub fn collect(&mut self) {
        self.to_s.extend(self.c.drain_output().map(|o| o.packet));
        self.to_c.extend(self.s.drain_output().map(|o| o.packet));
        self.c_log.extend(self.c.drain_events());
        self.s_log.extend(self.s.drain_events());
        self.c_sock.extend(self.c.drain_socket_events());
        self.s_sock.extend(self.s.drain_socket_events());
    }

    /// What the client has sent and is not yet delivered.
    pub fn pending_to_s(&mut self) -> Vec<String> {
        self.collect();
        self.to_s.iter().map(summary).collect()
    }

    /// What the server has sent and is not yet delivered.
    pub fn pending_to_c(&mut self) -> Vec<String> {
        self.collect();
        self.to_c.iter().map(summary).collect()
    }

    /// Delivers everything the client sent to the server; returns what was delivered.
    pub fn deliver_to_s(&mut self) -> Vec<String> {
        self.collect();
        let packets = std::mem::take(&mut self.to_s);
        for p in &packets {
            self.s.on_packet(self.now, p);
        }
        self.collect();
        packets.iter().map(summary).collect()
    }

    /// Delivers everything the server sent to the client; returns what was delivered.
    pub fn deliver_to_c(&mut self) -> Vec<String> {
        self.collect();
        let packets = std::mem::take(&mut self.to_c);
        for p in &packets {
            self.c.on_packet(self.now, p);
        }
        self.collect();
        packets.iter().map(summary).collect()
    }

    /// Loses everything the client sent; returns what was lost.
    pub fn lose_to_s(&mut self) -> Vec<String> {
        self.collect();
        std::mem::take(&mut self.to_s).iter().map(summary).collect()
    }

    /// Loses everything the server sent; returns what was lost.
    pub fn lose_to_c(&mut self) -> Vec<String> {
        self.collect();
        std::mem::take(&mut self.to_c).iter().map(summary).collect()
    }

    /// Takes the client's queued segments out, to deliver later (a delayed duplicate).
    pub fn hold_to_s(&mut self) -> Vec<Packet> {
        self.collect();
        std::mem::take(&mut self.to_s)
    }

    /// Delivers both ways until nothing is queued (no time passes).
    pub fn exchange(&mut self) {
        for _ in 0..1000 {
            self.collect();
            if self.to_s.is_empty() && self.to_c.is_empty() {
                return;
            }
            self.deliver_to_s();
            self.deliver_to_c();
        }
        panic!("the endpoints never went quiet");
    }

    /// Lets `d` pass, firing the timers that fall due on both sides, in time order.
    pub fn advance(&mut self, d: SimDuration) {
        let end = self.now + d;
        loop {
            let next = [self.c.next_deadline(), self.s.next_deadline()]
                .into_iter()
                .flatten()
                .filter(|t| *t <= end)
                .min();
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            self.c.on_timer(self.now);
            self.s.on_timer(self.now);
            self.collect();
        }
        self.now = end;
        self.collect();
    }

    /// Exchanges segments and lets time pass until both sides are quiet, up to `limit`.
    pub fn run_for(&mut self, limit: SimDuration) {
        let end = self.now + limit;
        loop {
            self.exchange();
            let next = [self.c.next_deadline(), self.s.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => self.advance(t.saturating_since(self.now)),
                _ => break,
            }
        }
        self.now = self.now.max(end);
    }

    /// Listener on the server, connect from the client, full handshake, accept.
    pub fn establish(&mut self) -> (SocketId, SocketId) {
        let listener = self.s.listen(self.now, PORT, 128).unwrap();
        let c = self
            .c
            .connect(self.now, server_addr(), Bind::default())
            .unwrap();
        self.exchange();
        let (s, _) = self
            .s
            .accept(self.now, listener)
            .unwrap()
            .expect("a connection waits");
        assert_eq!(self.c.state_of(c), Ok(State::Established));
        assert_eq!(self.s.state_of(s), Ok(State::Established));
        (c, s)
    }

    /// Reads everything available on a server socket.
    pub fn s_read(&mut self, fd: SocketId) -> (Vec<u8>, Received) {
        let mut buf = Vec::new();
        let r = self.s.recv(self.now, fd, &mut buf, usize::MAX).unwrap();
        self.collect();
        (buf, r)
    }

    /// Reads everything available on a client socket.
    pub fn c_read(&mut self, fd: SocketId) -> (Vec<u8>, Received) {
        let mut buf = Vec::new();
        let r = self.c.recv(self.now, fd, &mut buf, usize::MAX).unwrap();
        self.collect();
        (buf, r)
    }
}

/// The states one connection passed through, from the log of its host: the first `from`,
/// then every `to`. Listener events (peer 0.0.0.0:0) are left out.
pub fn path(log: &[TcpEvent]) -> Vec<&'static str> {
    let mut states = Vec::new();
    for e in log {
        if let TcpEvent::State { conn, from, to } = e {
            if conn.remote.port() == 0 {
                continue;
            }
            if states.is_empty() {
                states.push(from.name());
            }
            states.push(to.name());
        }
    }
    states
}

/// The errors reported in a log.
pub fn errors(log: &[TcpEvent]) -> Vec<&'static str> {
    log.iter()
        .filter_map(|e| match e {
            TcpEvent::Error { errno, .. } => Some(errno.name()),
            _ => None,
        })
        .collect()
}

/// True if the log has the note.
pub fn noted(log: &[TcpEvent], note: netsim_tcp::Note) -> bool {
    log.iter()
        .any(|e| matches!(e, TcpEvent::Note { note: n, .. } if *n == note))
}

/// No illegal transition anywhere in a log.
pub fn assert_legal(log: &[TcpEvent]) {
    for e in log {
        assert!(
            !matches!(e, TcpEvent::IllegalTransition { .. }),
            "illegal transition: {e}"
        );
    }
}

/// Lets time pass, timer by timer, until the client sends something; returns how long that
/// took. Panics if nothing comes within `limit`.
pub fn client_speaks_after(t: &mut Pair, limit: SimDuration) -> SimDuration {
    speaks_after(t, limit, |t| !t.to_s.is_empty())
}

/// The same for the server.
pub fn server_speaks_after(t: &mut Pair, limit: SimDuration) -> SimDuration {
    speaks_after(t, limit, |t| !t.to_c.is_empty())
}

pub fn speaks_after(t: &mut Pair, limit: SimDuration, spoke: fn(&Pair) -> bool) -> SimDuration {
    let start = t.now;
    let end = start + limit;
    loop {
        t.collect();
        if spoke(t) {
            return t.now - start;
        }
        let next = [t.c.next_deadline(), t.s.next_deadline()]
            .into_iter()
            .flatten()
            .min()
            .filter(|n| *n <= end);
        let Some(next) = next else {
            panic!("nothing sent within {limit}");
        };
        t.advance(next.saturating_since(t.now));
    }
}

/// A copy of `p` with TSval `tsval`.
pub fn with_tsval(p: &Packet, tsval: u32) -> Packet {
    let mut p = p.clone();
    let ts = p.segment.options.timestamps.expect("timestamps");
    p.segment.options.timestamps = Some(Timestamps { val: tsval, ..ts });
    p
}

/// The TSval of a segment.
pub fn tsval(p: &Packet) -> u32 {
    p.segment.options.timestamps.expect("timestamps").val
}

/// Payload lengths of some segments.
pub fn lens(ps: &[Packet]) -> Vec<usize> {
    ps.iter().map(|p| p.segment.payload.len()).collect()
}

/// Window fields of some segments.
pub fn windows(ps: &[Packet]) -> Vec<u16> {
    ps.iter().map(|p| p.segment.window).collect()
}

/// A server (ISN 5000) with a receive buffer of 4 × 1460 bytes, so four full segments fill
/// it and leave 48 bytes, that acknowledges at once (no delayed ACK).
pub fn four_segment_server() -> TcpConfig {
    TcpConfig {
        rcv_buf: 4 * 1460,
        rcv_buf_max: 4 * 1460,
        delayed_ack: None,
        ..linux(5000)
    }
}

/// Both sides on the rfc rules (no SACK), the client with TCP_NODELAY and 20 segments to
/// send: returns the pair, the client's socket and the initial window of 10 segments it sent
/// (undelivered).
pub fn rfc_initial_window_out() -> (Pair, SocketId, Vec<Packet>) {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, _s) = t.establish();
    t.c.set_nodelay(c, true).unwrap();
    t.c.send(t.now, c, &[1; 20 * 1448]).unwrap();
    let data = take_to_s(&mut t);
    assert_eq!(data.len(), 10, "the initial window");
    (t, c, data)
}
