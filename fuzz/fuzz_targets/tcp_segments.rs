//! The TCP model fed bytes through the wire codec, in every state. Two stacks, A (10.0.0.1)
//! and B (10.0.0.2), with a queue of segments towards each; the input is a list of
//! operations: socket calls on either side, deliveries, losses, time passing, and segments
//! that no endpoint would send (a queued segment with patched numbers, flags, window,
//! payload and options; a segment a stack sent, turned back at it; raw bytes). The real
//! traffic between the two stacks takes them through the states; the patched and raw
//! segments hit each state with garbage. Every segment is delivered as bytes: emitted with
//! `codec::emit` and read back with `codec::parse`, raw bytes with `codec::parse` alone.
//!
//! Checked: no panic (the model's debug assertions are on: see `Cargo.toml`); no transition
//! outside RFC 9293's diagram; every segment a stack sends can be emitted and reads back
//! equal; a timer round never leaves a timer due at the same instant (a spin).

#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netsim_core::codec;
use netsim_core::{Packet, SackBlocks, Seq, SimDuration, SimTime, TcpFlags, Timestamps};
use netsim_tcp::{Bind, IsnMode, Listen, SocketId, TcpConfig, TcpEvent, TcpStack, TimeWaitRules};

const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
/// Ports the operations pick from: few, so that listeners and connections meet.
const PORTS: [u16; 4] = [80, 81, 40000, 40001];
/// Segments a queue holds; more are lost (bounds the work of one input).
const QUEUE_MAX: usize = 256;
/// Segments each side remembers having sent, for `Reflect`.
const SENT_MAX: usize = 32;
/// Sockets each side keeps handles of.
const SOCKETS_MAX: usize = 32;
/// Timer rounds one `Wait` runs at most (a wait of a minute with 4 ms ticks is 15 000).
const ROUNDS_MAX: u32 = 20_000;
/// Timer rounds at one instant after which a timer that stays due is a spin.
const SPIN_MAX: u32 = 64;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

impl Side {
    fn index(self) -> usize {
        self as usize
    }
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// A side's TCP settings: a profile and a few overrides (inputs whose settings
/// `TcpConfig::problem` refuses are skipped, as a scenario file would refuse them).
#[derive(Arbitrary, Debug)]
struct Settings {
    rfc: bool,
    window_scale: Option<bool>,
    timestamps: Option<bool>,
    sack: Option<bool>,
    rack: Option<bool>,
    tail_loss_probe: Option<bool>,
    rfc1337: Option<bool>,
    tw_reuse: Option<bool>,
    tw_accept_new_syn: Option<bool>,
    time_wait_rfc: Option<bool>,
    nagle: Option<bool>,
    delayed_ack_off: bool,
    time_wait_ms: Option<u16>,
    /// MSS from 64.
    mss: Option<u16>,
    /// Buffers in MSS units, from 1: small ones reach zero windows.
    buf_segments: Option<(u8, u8)>,
    fixed_isn: Option<u32>,
    max_time_wait: Option<u8>,
    max_sockets: Option<u8>,
    keepalive: Option<(u16, u16, u8)>,
    tick_zero: bool,
}

impl Settings {
    fn config(&self) -> TcpConfig {
        let mut c = if self.rfc {
            TcpConfig::rfc()
        } else {
            TcpConfig::linux()
        };
        let set = |field: &mut bool, v: Option<bool>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut c.window_scale, self.window_scale);
        set(&mut c.timestamps, self.timestamps);
        set(&mut c.sack, self.sack);
        set(&mut c.rack, self.rack);
        set(&mut c.tail_loss_probe, self.tail_loss_probe);
        set(&mut c.rfc1337, self.rfc1337);
        set(&mut c.tw_reuse, self.tw_reuse);
        set(&mut c.tw_accept_new_syn, self.tw_accept_new_syn);
        set(&mut c.nagle, self.nagle);
        if let Some(rfc) = self.time_wait_rfc {
            c.time_wait_rules = if rfc {
                TimeWaitRules::Rfc9293
            } else {
                TimeWaitRules::Linux
            };
        }
        if self.delayed_ack_off {
            c.delayed_ack = None;
        }
        if let Some(ms) = self.time_wait_ms {
            c.time_wait = Some(SimDuration::from_millis(u64::from(ms)));
        }
        if let Some(mss) = self.mss {
            c.mss = 64 + mss % 1400;
        }
        if let Some((rcv, snd)) = self.buf_segments {
            let mss = u32::from(c.mss);
            c.rcv_buf = mss * (1 + u32::from(rcv % 16));
            c.rcv_buf_max = c.rcv_buf;
            c.snd_buf = mss * (1 + u32::from(snd % 16));
        }
        if let Some(isn) = self.fixed_isn {
            c.isn = IsnMode::Fixed(isn);
        }
        if let Some(n) = self.max_time_wait {
            c.max_time_wait = Some(u32::from(n % 4));
        }
        if let Some(n) = self.max_sockets {
            c.max_sockets = Some(1 + u32::from(n % 8));
        }
        if let Some((idle_ms, interval_ms, probes)) = self.keepalive {
            c.keepalive_time = SimDuration::from_millis(u64::from(idle_ms));
            c.keepalive_interval = SimDuration::from_millis(1 + u64::from(interval_ms));
            c.keepalive_probes = 1 + u32::from(probes % 10);
        }
        if self.tick_zero {
            c.timer_tick = SimDuration::ZERO;
        }
        c
    }
}

/// A change to a sequence or acknowledgment number: mostly near the original, where the
/// acceptability tests decide.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Delta {
    Near(i8),
    Far(i32),
    Set(u32),
}

impl Delta {
    fn apply(self, s: Seq) -> Seq {
        match self {
            Delta::Near(d) => Seq(s.0.wrapping_add_signed(i32::from(d))),
            Delta::Far(d) => Seq(s.0.wrapping_add_signed(d)),
            Delta::Set(v) => Seq(v),
        }
    }
}

/// What a patched segment changes; `None` keeps the original.
#[derive(Arbitrary, Debug)]
struct Patch {
    seq: Option<Delta>,
    ack: Option<Delta>,
    flags: Option<u8>,
    window: Option<u16>,
    /// New payload length (bytes 0x5a), at most 2000.
    payload: Option<u16>,
    mss: Option<Option<u16>>,
    window_scale: Option<Option<u8>>,
    sack_permitted: Option<bool>,
    timestamps: Option<Option<(Delta, Delta)>>,
    sack: Option<Vec<(Delta, Delta)>>,
}

impl Patch {
    fn apply(&self, p: &mut Packet) {
        let s = &mut p.segment;
        let (seq, ack) = (s.seq, s.ack);
        if let Some(d) = self.seq {
            s.seq = d.apply(seq);
        }
        if let Some(d) = self.ack {
            s.ack = d.apply(ack);
        }
        if let Some(f) = self.flags {
            s.flags = TcpFlags(f);
        }
        if let Some(w) = self.window {
            s.window = w;
        }
        if let Some(n) = self.payload {
            s.payload = vec![0x5a; usize::from(n % 2001)];
        }
        if let Some(v) = self.mss {
            s.options.mss = v;
        }
        if let Some(v) = self.window_scale {
            s.options.window_scale = v;
        }
        if let Some(v) = self.sack_permitted {
            s.options.sack_permitted = v;
        }
        if let Some(v) = self.timestamps {
            let old = s
                .options
                .timestamps
                .unwrap_or(Timestamps { val: 0, ecr: 0 });
            s.options.timestamps = v.map(|(val, ecr)| Timestamps {
                val: val.apply(Seq(old.val)).0,
                ecr: ecr.apply(Seq(old.ecr)).0,
            });
        }
        if let Some(blocks) = &self.sack {
            let mut sack = SackBlocks::NONE;
            for (l, r) in blocks.iter().take(4) {
                sack.push((l.apply(ack), r.apply(ack)));
            }
            s.options.sack = sack;
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Listen {
        side: Side,
        port: u8,
        backlog: u8,
        reuse_addr: bool,
    },
    Connect {
        side: Side,
        port: u8,
        from_port: Option<u8>,
        reuse_addr: bool,
    },
    Accept {
        side: Side,
        sock: u8,
    },
    Send {
        side: Side,
        sock: u8,
        len: u16,
    },
    Recv {
        side: Side,
        sock: u8,
        max: u16,
    },
    Shutdown {
        side: Side,
        sock: u8,
    },
    Close {
        side: Side,
        sock: u8,
    },
    Abort {
        side: Side,
        sock: u8,
    },
    NoDelay {
        side: Side,
        sock: u8,
        on: bool,
    },
    KeepAlive {
        side: Side,
        sock: u8,
        on: bool,
        idle_ms: Option<u32>,
        interval_ms: Option<u32>,
        probes: Option<u8>,
    },
    /// Reads what a socket shows (state, 4-tuple, buffers, TCP_INFO).
    Inspect {
        side: Side,
        sock: u8,
    },
    /// A shortcut to the synchronised states: `client` connects to a listener of the other
    /// side (made if missing), both queues are delivered, and the listener accepts.
    Establish {
        client: Side,
        port: u8,
    },
    /// close() on every connected socket of `side` (listeners stay): with `Establish` and
    /// `Exchange`, a short way to the closing states and TIME_WAIT.
    CloseAll {
        side: Side,
    },
    /// Delivers one queued segment to `to`.
    Deliver {
        to: Side,
        pick: u8,
    },
    /// Delivers everything queued, both ways, until the queues are empty (bounded).
    Exchange,
    /// Loses one queued segment.
    Lose {
        to: Side,
        pick: u8,
    },
    /// Delivers a patched copy of a queued segment (the original stays queued).
    Patched {
        to: Side,
        pick: u8,
        patch: Patch,
    },
    /// Turns a segment `side` sent back at it (addresses and ports swapped), patched.
    Reflect {
        side: Side,
        pick: u8,
        patch: Patch,
    },
    /// Raw bytes to `to`; with `fix`, the addresses, lengths and checksums are made right
    /// first so that the rest of the bytes reach the TCP parser and the stack.
    Raw {
        to: Side,
        fix: bool,
        bytes: Vec<u8>,
    },
    /// Lets time pass, firing the timers that fall due.
    Wait {
        ms: u16,
    },
    /// Jumps to the next deadline of either side and fires it.
    NextTimer,
}

#[derive(Arbitrary, Debug)]
struct Input {
    settings: [Settings; 2],
    secrets: [u64; 2],
    ops: Vec<Op>,
}

struct World {
    now: SimTime,
    stacks: [TcpStack; 2],
    /// Segments on their way to each side.
    queues: [Vec<Packet>; 2],
    /// The latest segments each side sent.
    sent: [Vec<Packet>; 2],
    sockets: [Vec<SocketId>; 2],
    listeners: [Vec<SocketId>; 2],
    ip_id: u16,
}

fn pick<T>(items: &[T], n: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(n) % items.len()])
}

impl World {
    /// A socket of `side`, or a number that is no socket when it has none.
    fn sock(&self, side: Side, n: u8) -> SocketId {
        let all = &self.sockets[side.index()];
        pick(all, n).copied().unwrap_or(SocketId(u32::from(n)))
    }

    fn keep_socket(&mut self, side: Side, fd: SocketId) {
        let all = &mut self.sockets[side.index()];
        if all.len() == SOCKETS_MAX {
            all.remove(0);
        }
        all.push(fd);
    }

    /// Moves what both stacks produced into the queues, checking it on the way.
    fn collect(&mut self) {
        for side in [Side::A, Side::B] {
            let i = side.index();
            let out: Vec<Packet> = self.stacks[i].drain_output().map(|o| o.packet).collect();
            for p in out {
                let bytes = codec::to_bytes(&p, 0)
                    .unwrap_or_else(|e| panic!("the stack sent {p}, which cannot be emitted: {e}"));
                let back = codec::parse(&bytes)
                    .unwrap_or_else(|e| panic!("the stack sent {p}, which reads back as: {e}"));
                assert_eq!(back, p, "a sent segment does not read back equal");
                if self.sent[i].len() == SENT_MAX {
                    self.sent[i].remove(0);
                }
                self.sent[i].push(p.clone());
                let to = side.other().index();
                if p.dst == ADDRS[to] && self.queues[to].len() < QUEUE_MAX {
                    self.queues[to].push(p);
                }
            }
            for e in self.stacks[i].drain_events() {
                if let TcpEvent::IllegalTransition { .. } = e {
                    panic!("illegal transition: {e}");
                }
            }
            // Socket events only say what a call would now find: the operations make the
            // calls whenever the input says.
            self.stacks[i].drain_socket_events().for_each(drop);
        }
    }

    /// Delivers `p` to `to` as bytes; a packet the codec cannot emit is not sent.
    fn deliver(&mut self, to: Side, p: &Packet) {
        self.ip_id = self.ip_id.wrapping_add(1);
        let Ok(bytes) = codec::to_bytes(p, self.ip_id) else {
            return;
        };
        let back = codec::parse(&bytes)
            .unwrap_or_else(|e| panic!("{p} was emitted but reads back as: {e}"));
        assert_eq!(&back, p, "an emitted segment does not read back equal");
        self.stacks[to.index()].on_packet(self.now, &back);
        self.collect();
    }

    /// Raw bytes to `to`. With `fix`, what the codec checks before the TCP header's
    /// contents is made right: version, header length, total length, no fragment, protocol,
    /// addresses and both checksums.
    fn raw(&mut self, to: Side, fix: bool, mut bytes: Vec<u8>) {
        if fix {
            bytes.resize(bytes.len().clamp(40, 1500), 0);
            let len = bytes.len() as u16;
            bytes[0] = 0x45;
            bytes[2..4].copy_from_slice(&len.to_be_bytes());
            bytes[6..8].fill(0);
            bytes[9] = 6;
            bytes[12..16].copy_from_slice(&ADDRS[to.other().index()].octets());
            bytes[16..20].copy_from_slice(&ADDRS[to.index()].octets());
            bytes[10..12].fill(0);
            let ip = codec::internet_checksum(&bytes[..20]);
            bytes[10..12].copy_from_slice(&ip.to_be_bytes());
            bytes[36..38].fill(0);
            let tcp =
                codec::tcp_checksum(ADDRS[to.other().index()], ADDRS[to.index()], &bytes[20..]);
            bytes[36..38].copy_from_slice(&tcp.to_be_bytes());
        }
        if let Ok(p) = codec::parse(&bytes) {
            self.stacks[to.index()].on_packet(self.now, &p);
            self.collect();
        }
    }

    /// Runs every timer of both sides due by `end`, in time order, then sets the clock to
    /// `end`.
    fn advance_to(&mut self, end: SimTime) {
        let mut spins = 0;
        for _ in 0..ROUNDS_MAX {
            let next = self
                .stacks
                .iter_mut()
                .filter_map(TcpStack::next_deadline)
                .filter(|t| *t <= end)
                .min();
            let Some(t) = next else {
                self.now = self.now.max(end);
                return;
            };
            if t <= self.now {
                spins += 1;
                assert!(
                    spins < SPIN_MAX,
                    "a timer stays due at {t} however often it runs"
                );
            } else {
                spins = 0;
            }
            self.now = self.now.max(t);
            for s in &mut self.stacks {
                s.on_timer(self.now);
            }
            self.collect();
        }
    }

    fn op(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Listen {
                side,
                port,
                backlog,
                reuse_addr,
            } => {
                let port = PORTS[usize::from(port) % PORTS.len()];
                let opts = Listen {
                    backlog: u32::from(backlog % 8),
                    reuse_addr,
                };
                if let Ok(fd) = self.stacks[side.index()].listen_with(now, port, opts) {
                    self.listeners[side.index()].push(fd);
                    self.keep_socket(side, fd);
                }
            }
            Op::Connect {
                side,
                port,
                from_port,
                reuse_addr,
            } => {
                let remote = SocketAddrV4::new(
                    ADDRS[side.other().index()],
                    PORTS[usize::from(port) % PORTS.len()],
                );
                let bind = Bind {
                    port: from_port.map(|p| PORTS[usize::from(p) % PORTS.len()]),
                    reuse_addr,
                };
                if let Ok(fd) = self.stacks[side.index()].connect(now, remote, bind) {
                    self.keep_socket(side, fd);
                }
            }
            Op::Accept { side, sock } => {
                let fd = pick(&self.listeners[side.index()], sock)
                    .copied()
                    .unwrap_or_else(|| self.sock(side, sock));
                if let Ok(Some((fd, _))) = self.stacks[side.index()].accept(now, fd) {
                    self.keep_socket(side, fd);
                }
            }
            Op::Send { side, sock, len } => {
                let fd = self.sock(side, sock);
                let data = vec![0xa5; usize::from(len)];
                let _ = self.stacks[side.index()].send(now, fd, &data);
            }
            Op::Recv { side, sock, max } => {
                let fd = self.sock(side, sock);
                let mut out = Vec::new();
                let _ = self.stacks[side.index()].recv(now, fd, &mut out, usize::from(max));
                assert!(
                    out.len() <= usize::from(max),
                    "recv returned more than asked"
                );
            }
            Op::Shutdown { side, sock } => {
                let fd = self.sock(side, sock);
                let _ = self.stacks[side.index()].shutdown(now, fd);
            }
            Op::Close { side, sock } => {
                let fd = self.sock(side, sock);
                let _ = self.stacks[side.index()].close(now, fd);
            }
            Op::Abort { side, sock } => {
                let fd = self.sock(side, sock);
                let _ = self.stacks[side.index()].abort(now, fd);
            }
            Op::NoDelay { side, sock, on } => {
                let fd = self.sock(side, sock);
                let _ = self.stacks[side.index()].set_nodelay(fd, on);
            }
            Op::KeepAlive {
                side,
                sock,
                on,
                idle_ms,
                interval_ms,
                probes,
            } => {
                let fd = self.sock(side, sock);
                let ms = |v: Option<u32>| v.map(|ms| SimDuration::from_millis(u64::from(ms)));
                let _ = self.stacks[side.index()].set_keepalive(
                    now,
                    fd,
                    on,
                    ms(idle_ms),
                    ms(interval_ms),
                    probes.map(u32::from),
                );
            }
            Op::Inspect { side, sock } => {
                let fd = self.sock(side, sock);
                let s = &self.stacks[side.index()];
                let _ = s.state_of(fd);
                let _ = s.conn_key(fd);
                let _ = s.readable(fd);
                let _ = s.unacked(fd);
                let _ = s.info(fd);
                let _ = s.state_counts();
                let _ = s.table_sizes();
            }
            Op::Establish { client, port } => {
                let server = client.other();
                let port = PORTS[usize::from(port) % PORTS.len()];
                let opts = Listen {
                    backlog: 8,
                    reuse_addr: true,
                };
                if let Ok(fd) = self.stacks[server.index()].listen_with(now, port, opts) {
                    self.listeners[server.index()].push(fd);
                    self.keep_socket(server, fd);
                }
                let remote = SocketAddrV4::new(ADDRS[server.index()], port);
                if let Ok(fd) = self.stacks[client.index()].connect(now, remote, Bind::default()) {
                    self.keep_socket(client, fd);
                }
                self.collect();
                self.op(Op::Exchange);
                for fd in self.listeners[server.index()].clone() {
                    if let Ok(Some((fd, _))) = self.stacks[server.index()].accept(now, fd) {
                        self.keep_socket(server, fd);
                    }
                }
            }
            Op::CloseAll { side } => {
                let i = side.index();
                for fd in std::mem::take(&mut self.sockets[i]) {
                    if self.listeners[i].contains(&fd) {
                        self.sockets[i].push(fd);
                    } else {
                        let _ = self.stacks[i].close(now, fd);
                    }
                }
            }
            Op::Deliver { to, pick: n } => {
                let q = &mut self.queues[to.index()];
                if !q.is_empty() {
                    let p = q.remove(usize::from(n) % q.len());
                    self.deliver(to, &p);
                }
            }
            Op::Exchange => {
                for _ in 0..64 {
                    if self.queues.iter().all(Vec::is_empty) {
                        break;
                    }
                    for to in [Side::A, Side::B] {
                        for p in std::mem::take(&mut self.queues[to.index()]) {
                            self.deliver(to, &p);
                        }
                    }
                }
            }
            Op::Lose { to, pick: n } => {
                let q = &mut self.queues[to.index()];
                if !q.is_empty() {
                    q.remove(usize::from(n) % q.len());
                }
            }
            Op::Patched { to, pick: n, patch } => {
                if let Some(p) = pick(&self.queues[to.index()], n) {
                    let mut p = p.clone();
                    patch.apply(&mut p);
                    self.deliver(to, &p);
                }
            }
            Op::Reflect {
                side,
                pick: n,
                patch,
            } => {
                if let Some(p) = pick(&self.sent[side.index()], n) {
                    let mut p = p.clone();
                    std::mem::swap(&mut p.src, &mut p.dst);
                    let s = &mut p.segment;
                    std::mem::swap(&mut s.src_port, &mut s.dst_port);
                    std::mem::swap(&mut s.seq, &mut s.ack);
                    patch.apply(&mut p);
                    self.deliver(side, &p);
                }
            }
            Op::Raw { to, fix, bytes } => self.raw(to, fix, bytes),
            Op::Wait { ms } => {
                let end = self
                    .now
                    .saturating_add(SimDuration::from_millis(u64::from(ms)));
                self.advance_to(end);
            }
            Op::NextTimer => {
                let next = self
                    .stacks
                    .iter_mut()
                    .filter_map(TcpStack::next_deadline)
                    .min();
                if let Some(t) = next {
                    self.advance_to(t.max(self.now));
                }
            }
        }
        self.collect();
    }
}

fuzz_target!(|input: Input| {
    let configs = [input.settings[0].config(), input.settings[1].config()];
    if configs.iter().any(|c| c.problem().is_some()) {
        return;
    }
    let [ca, cb] = configs;
    let mut world = World {
        now: SimTime::ZERO,
        stacks: [
            TcpStack::new(ADDRS[0], ca, input.secrets[0]),
            TcpStack::new(ADDRS[1], cb, input.secrets[1]),
        ],
        queues: [Vec::new(), Vec::new()],
        sent: [Vec::new(), Vec::new()],
        sockets: [Vec::new(), Vec::new()],
        listeners: [Vec::new(), Vec::new()],
        ip_id: 0,
    };
    for op in input.ops {
        world.op(op);
    }
});
