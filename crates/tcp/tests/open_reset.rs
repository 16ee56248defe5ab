//! Opening and resetting connections: simultaneous open, refusal, SYN retries, RST in every
//! state (RFC 9293 §3.10.7 with RFC 5961), abort, SYN in a synchronised state, the listen
//! backlog, the socket limit (EMFILE) and bind conflicts.
//!
//! In the per-state tables the side under test is always `t.c` and its peer `t.s`; RSTs and
//! SYNs are crafted from a real segment the peer sent, with the flags and sequence number
//! changed.

mod common;

use std::net::SocketAddrV4;

use common::*;
use netsim_core::{Packet, Seq, SimDuration, SimTime, TcpFlags, TcpOptions};
use netsim_tcp::{
    Bind, Errno, IsnMode, Listen, Note, Received, Resent, SocketEvent, SocketId, State, TcpConfig,
    TcpEvent, TcpStack,
};

// -------------------------------------------------------------------------------------------
// Helpers

/// Fixed ports for the simultaneous open, so that both 4-tuples match.
const C_PORT: u16 = 4000;
const S_PORT: u16 = 5000;

/// The window the scenes offer: their whole receive buffer (RFC window rules, so the
/// window edges tested here do not depend on Linux's window growth).
const RCV_WND: u32 = 131_072;

/// Linux profile, fixed ISNs, the receive buffer offered whole.
fn scene_pair() -> Pair {
    let full = |isn| TcpConfig {
        window_rules: netsim_tcp::WindowRules::Rfc,
        ..linux(isn)
    };
    Pair::new(full(1000), full(5000))
}

/// connect() from a fixed local port.
fn bound(port: u16) -> Bind {
    Bind {
        port: Some(port),
        reuse_addr: false,
    }
}

/// connect() from a fixed local port with SO_REUSEADDR.
fn bound_reusing(port: u16) -> Bind {
    Bind {
        port: Some(port),
        reuse_addr: true,
    }
}

/// Delivers what the server sent to the client; returns the last segment of it.
fn deliver_to_c_last(t: &mut Pair) -> Packet {
    t.collect();
    let last = t.to_c.last().cloned().expect("the server sent something");
    t.deliver_to_c();
    last
}

/// Delivers both queues as if the segments crossed in flight: each side sent its segments
/// before it saw the other's. Returns (delivered to the server, delivered to the client).
fn cross(t: &mut Pair) -> (Vec<String>, Vec<String>) {
    t.collect();
    let to_s = std::mem::take(&mut t.to_s);
    let to_c = std::mem::take(&mut t.to_c);
    for p in &to_s {
        t.s.on_packet(t.now, p);
    }
    for p in &to_c {
        t.c.on_packet(t.now, p);
    }
    t.collect();
    (
        to_s.iter().map(summary).collect(),
        to_c.iter().map(summary).collect(),
    )
}

/// The sequence number after a segment: its sender's SND.NXT, so its receiver's RCV.NXT.
fn next_seq(p: &Packet) -> Seq {
    p.segment.seq.add(p.segment.seq_len())
}

/// A real segment turned into a bare one with `flags` at `seq` (its ACK field is kept).
fn craft(p: &Packet, flags: TcpFlags, seq: Seq) -> Packet {
    let mut p = p.clone();
    p.segment.flags = flags;
    p.segment.seq = seq;
    p.segment.payload.clear();
    p.segment.options = TcpOptions::default();
    p
}

/// The state of every connection of a stack, TIME_WAIT entries included, listeners not.
fn conn_states(stack: &TcpStack) -> Vec<&'static str> {
    let counts = stack.state_counts();
    State::ALL
        .into_iter()
        .filter(|s| *s != State::Listen)
        .flat_map(|s| std::iter::repeat_n(s.name(), counts[s as usize] as usize))
        .collect()
}

/// Both stacks connect() to each other from fixed ports; neither listens.
fn simultaneous_connect(t: &mut Pair) -> (SocketId, SocketId) {
    let c =
        t.c.connect(t.now, SocketAddrV4::new(SERVER, S_PORT), bound(C_PORT))
            .unwrap();
    let s =
        t.s.connect(t.now, SocketAddrV4::new(CLIENT, C_PORT), bound(S_PORT))
            .unwrap();
    (c, s)
}

/// A connection brought to some state on `t.c`, with nothing left in flight.
struct Scene {
    t: Pair,
    /// The socket of the side under test (none for a passive open not yet accepted).
    fd: Option<SocketId>,
    /// The peer's socket, if it has one.
    peer: Option<SocketId>,
    /// The last segment the peer sent to the side under test: `next_seq(&last)` is its
    /// RCV.NXT.
    last: Packet,
}

impl Scene {
    fn new(mut t: Pair, fd: Option<SocketId>, peer: Option<SocketId>, last: Packet) -> Scene {
        t.lose_to_s();
        t.lose_to_c();
        Scene { t, fd, peer, last }
    }

    /// RCV.NXT of the side under test.
    fn rcv_nxt(&self) -> Seq {
        next_seq(&self.last)
    }

    /// Hands a crafted segment to the side under test; returns what it answered.
    fn inject(&mut self, p: &Packet) -> Vec<Packet> {
        let t = &mut self.t;
        t.c.on_packet(t.now, p);
        t.collect();
        std::mem::take(&mut t.to_s)
    }
}

/// SYN_SENT: the server's SYN-ACK is lost.
fn syn_sent() -> Scene {
    let mut t = scene_pair();
    t.s.listen(t.now, PORT, 16).unwrap();
    let fd = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.deliver_to_s(), ["S"]);
    t.collect();
    let last = t.to_c.pop().expect("the SYN-ACK");
    Scene::new(t, Some(fd), None, last)
}

/// SYN_RECEIVED of an active open: simultaneous open where only the server's SYN arrives.
fn syn_received_active() -> Scene {
    let mut t = scene_pair();
    let (fd, peer) = simultaneous_connect(&mut t);
    assert_eq!(t.lose_to_s(), ["S"]);
    let last = deliver_to_c_last(&mut t);
    Scene::new(t, Some(fd), Some(peer), last)
}

/// SYN_RECEIVED of a passive open: here the side under test (`t.c`) is the one listening.
fn syn_received_passive() -> Scene {
    let mut t = scene_pair();
    t.c.listen(t.now, PORT, 16).unwrap();
    let peer =
        t.s.connect(t.now, SocketAddrV4::new(CLIENT, PORT), Bind::default())
            .unwrap();
    let last = deliver_to_c_last(&mut t);
    Scene::new(t, None, Some(peer), last)
}

/// Handshake with every segment delivered; the server's socket accepted.
fn handshake() -> (Pair, SocketId, SocketId, Packet) {
    let mut t = scene_pair();
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let fd = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.deliver_to_s(), ["S"]);
    let last = deliver_to_c_last(&mut t);
    assert_eq!(t.deliver_to_s(), ["."]);
    let (peer, _) = t.s.accept(t.now, listener).unwrap().expect("accepted");
    (t, fd, peer, last)
}

fn established() -> Scene {
    let (t, fd, peer, last) = handshake();
    Scene::new(t, Some(fd), Some(peer), last)
}

/// FIN_WAIT_1: the client's FIN reached the server (CLOSE_WAIT), whose ACK is not yet sent.
/// shutdown() rather than close(), so the socket stays to report errors.
fn fin_wait_1() -> Scene {
    let (mut t, fd, peer, last) = handshake();
    t.c.shutdown(t.now, fd).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    Scene::new(t, Some(fd), Some(peer), last)
}

/// FIN_WAIT_2: the server acknowledged the FIN (after its delayed-ACK timeout).
fn fin_wait_2() -> Scene {
    let (mut t, fd, peer, _) = handshake();
    t.c.shutdown(t.now, fd).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    t.advance(ms(40));
    let last = deliver_to_c_last(&mut t);
    assert_eq!(summary(&last), ".");
    Scene::new(t, Some(fd), Some(peer), last)
}

/// CLOSE_WAIT: the server half-closed, the client acknowledged (server in FIN_WAIT_2).
fn close_wait() -> Scene {
    let (mut t, fd, peer, _) = handshake();
    t.s.shutdown(t.now, peer).unwrap();
    let last = deliver_to_c_last(&mut t);
    assert_eq!(summary(&last), "F.");
    t.advance(ms(40));
    assert_eq!(t.deliver_to_s(), ["."]);
    Scene::new(t, Some(fd), Some(peer), last)
}

/// CLOSING: the FINs crossed and the server's ACK of the client's FIN is lost.
fn closing() -> Scene {
    let (mut t, fd, peer, _) = handshake();
    t.s.shutdown(t.now, peer).unwrap();
    t.c.shutdown(t.now, fd).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    assert_eq!(t.pending_to_c(), ["F.", "."]);
    t.to_c.pop();
    let last = deliver_to_c_last(&mut t);
    Scene::new(t, Some(fd), Some(peer), last)
}

/// LAST_ACK: the server half-closed, then the client; the client's FIN is in flight.
fn last_ack() -> Scene {
    let (mut t, fd, peer, _) = handshake();
    t.s.shutdown(t.now, peer).unwrap();
    let last = deliver_to_c_last(&mut t);
    t.c.shutdown(t.now, fd).unwrap();
    Scene::new(t, Some(fd), Some(peer), last)
}

type Setup = fn() -> Scene;

/// Every state in which a RST can reach a connection (TIME_WAIT aside: see RFC 1337 tests).
const RST_STATES: [(&str, Setup); 9] = [
    ("SYN_SENT", syn_sent),
    ("SYN_RECEIVED", syn_received_active),
    ("SYN_RECEIVED", syn_received_passive),
    ("ESTABLISHED", established),
    ("FIN_WAIT_1", fin_wait_1),
    ("FIN_WAIT_2", fin_wait_2),
    ("CLOSE_WAIT", close_wait),
    ("CLOSING", closing),
    ("LAST_ACK", last_ack),
];

// -------------------------------------------------------------------------------------------
// Opening

/// RFC 9293 §3.5, Figure 7: both SYNs cross, then both SYN-ACKs; each side goes SYN_SENT ->
/// SYN_RECEIVED -> ESTABLISHED.
#[test]
fn simultaneous_open_crosses_syns_then_syn_acks_and_establishes_both() {
    let mut t = Pair::linux();
    let (c, s) = simultaneous_connect(&mut t);
    assert_eq!(cross(&mut t), (vec!["S".into()], vec!["S".into()]));
    assert_eq!(t.c.state_of(c), Ok(State::SynReceived));
    assert_eq!(t.s.state_of(s), Ok(State::SynReceived));
    t.collect();
    let (c_synack, s_synack) = (&t.to_s[0].segment, &t.to_c[0].segment);
    // <SEQ=ISS><ACK=peer ISS+1><CTL=SYN,ACK> from each side.
    assert_eq!((c_synack.seq, c_synack.ack), (Seq(1000), Seq(5001)));
    assert_eq!((s_synack.seq, s_synack.ack), (Seq(5000), Seq(1001)));
    assert_eq!(cross(&mut t), (vec!["S.".into()], vec!["S.".into()]));
    assert_eq!(t.c.state_of(c), Ok(State::Established));
    assert_eq!(t.s.state_of(s), Ok(State::Established));
    assert!(
        !noted(&t.c_log, Note::OutOfWindow),
        "the crossed SYN-ACK is taken"
    );
    // Follows Linux: the SYN in the peer's SYN-ACK is old, so each side acknowledges it at
    // once, reporting it as a D-SACK of the SYN's sequence number (tcp_send_dupack, as a 6.18
    // kernel does: `sack 1 {0:1}` relative); those ACKs change nothing.
    t.collect();
    let dsack = |p: &netsim_core::Packet, isn: u32| {
        p.segment.options.sack.as_slice().to_vec() == [(Seq(isn), Seq(isn + 1))]
    };
    assert!(dsack(&t.to_s[0], 5000), "client D-SACKs the server's SYN");
    assert!(dsack(&t.to_c[0], 1000), "server D-SACKs the client's SYN");
    assert_eq!(cross(&mut t), (vec![".".into()], vec![".".into()]));
    assert_eq!(t.pending_to_s(), Vec::<String>::new());
    assert_eq!(t.pending_to_c(), Vec::<String>::new());
    let open = ["CLOSED", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED"];
    assert_eq!(path(&t.c_log), open);
    assert_eq!(path(&t.s_log), open);
    assert!(t.c_sock.contains(&SocketEvent::Connected(c)));
    assert!(t.s_sock.contains(&SocketEvent::Connected(s)));
    // The connection carries data both ways.
    t.c.send(t.now, c, b"ping").unwrap();
    t.s.send(t.now, s, b"pong").unwrap();
    t.run_for(secs(1));
    let mut buf = Vec::new();
    t.s.recv(t.now, s, &mut buf, 100).unwrap();
    t.c.recv(t.now, c, &mut buf, 100).unwrap();
    assert_eq!(buf, b"pingpong");
    assert_legal(&t.c_log);
    assert_legal(&t.s_log);
}

/// RFC 9293 §3.10.7.1: a SYN for no connection gets <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>;
/// §3.10.7.3: the RST acknowledges the SYN, so connect() fails ("connection refused").
#[test]
fn syn_to_closed_port_is_refused_with_econnrefused() {
    let mut t = Pair::linux();
    let fd = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.deliver_to_s(), ["S"]);
    assert!(noted(&t.s_log, Note::ResetNoConnection));
    t.collect();
    let rst = &t.to_c[0].segment;
    assert_eq!((rst.seq, rst.ack), (Seq(0), Seq(1001)));
    assert_eq!(t.deliver_to_c(), ["R."]);
    assert_eq!(errors(&t.c_log), ["ECONNREFUSED"]);
    assert_eq!(t.c_sock, [SocketEvent::Failed(fd, Errno::ConnRefused)]);
    assert_eq!(path(&t.c_log), ["CLOSED", "SYN_SENT", "CLOSED"]);
    assert_eq!(t.c.send(t.now, fd, b"x"), Err(Errno::ConnRefused));
    assert_eq!(t.pending_to_s(), Vec::<String>::new(), "no RST for a RST");
    assert_eq!(t.c.next_deadline(), None, "no SYN retransmission");
    assert_eq!(
        (t.s.counters().resets_sent, t.c.counters().resets_sent),
        (1, 0)
    );
}

/// connect() to the server, whose every SYN is lost: nothing goes out before each of
/// `resends` and one SYN (SEQ = the ISN, 1000) exactly at it; connect() fails with ETIMEDOUT
/// exactly at `timeout`, and then nothing more is sent or armed. Each resend is traced as
/// attempt 1, 2, ... and counted.
fn every_syn_lost_until_etimedout(t: &mut Pair, resends: &[SimDuration], timeout: SimDuration) {
    let fd = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.lose_to_s(), ["S"]);
    for &at in resends {
        let due = SimTime::after(at);
        t.advance(due.saturating_since(t.now) - ms(1));
        assert_eq!(
            t.pending_to_s(),
            Vec::<String>::new(),
            "nothing before {at}"
        );
        t.advance(ms(1));
        assert_eq!(t.lose_to_s(), ["S"], "a SYN at {at}");
    }
    let end = SimTime::after(timeout);
    t.advance(end.saturating_since(t.now) - ms(1));
    assert!(
        errors(&t.c_log).is_empty(),
        "still trying just before {timeout}"
    );
    t.advance(ms(1));
    assert_eq!(t.now, end);
    assert_eq!(errors(&t.c_log), ["ETIMEDOUT"]);
    assert_eq!(t.c_sock, [SocketEvent::Failed(fd, Errno::TimedOut)]);
    assert_eq!(
        t.pending_to_s(),
        Vec::<String>::new(),
        "no SYN after the last"
    );
    assert_eq!(path(&t.c_log), ["CLOSED", "SYN_SENT", "CLOSED"]);
    let retransmits: Vec<(Resent, u32, u32)> = t
        .c_log
        .iter()
        .filter_map(|e| match *e {
            TcpEvent::Retransmit {
                what, seq, attempt, ..
            } => Some((what, seq, attempt)),
            _ => None,
        })
        .collect();
    let n = resends.len() as u32;
    let expected: Vec<(Resent, u32, u32)> = (1..=n).map(|i| (Resent::Syn, 1000, i)).collect();
    assert_eq!(retransmits, expected);
    assert_eq!(t.c.counters().retransmits, u64::from(n));
    assert_eq!(t.c.next_deadline(), None);
}

/// RFC 6298 §5.5 (back off by doubling), RFC 1122 §4.2.3.5 (R2 for SYN): 6 SYN retries with
/// a 1 s initial RTO and no linear timeouts (Linux before 6.5): SYNs at 0, 1, 3, 7, 15, 31
/// and 63 s, ETIMEDOUT at 127 s.
#[test]
fn syn_retries_back_off_then_connect_times_out_at_127_s() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let resends = [1, 3, 7, 15, 31, 63].map(secs);
    every_syn_lost_until_etimedout(&mut t, &resends, secs(127));
}

/// Linux 6.5+ (tcp_syn_linear_timeouts 4, tcp_write_timeout): the first four SYN
/// retransmissions keep the 1 s RTO, then it doubles; tcp_syn_retries (6) counts on top of
/// the linear ones, so 11 SYNs go out and connect() fails with ETIMEDOUT at about 135 s.
/// Times are on Linux's timer wheel (HZ 250): a 1 s timeout is 1.024 s, longer ones land on
/// coarser steps. A Linux 6.18 kernel measured SYNs at 1.02, 2.05, 3.07, 4.10, 5.12, 7.14,
/// 11.36, 19.55, 35.68 and 69.73 s and ETIMEDOUT at 135.26 s.
#[test]
fn linux_syn_retries_are_linear_four_times_then_back_off_and_time_out_at_135_s() {
    let mut t = Pair::linux();
    let resends = [
        1024, 2048, 3072, 4096, 5120, 7136, 11264, 19456, 35584, 69632,
    ]
    .map(ms);
    every_syn_lost_until_etimedout(&mut t, &resends, ms(135_168));
}

// -------------------------------------------------------------------------------------------
// RST (RFC 9293 §3.10.7.3 and §3.10.7.4 second step, RFC 5961 §3.2)

/// RFC 9293 §3.10.7.4 (second step) with RFC 5961 §3.2: a RST exactly at RCV.NXT (in SYN_SENT:
/// one whose ACK acknowledges the SYN, §3.10.7.3) ends the connection. Active opens are
/// refused, a passive open returns to LISTEN, synchronised states are reset (CLOSING and
/// LAST_ACK report ECONNRESET too, CLOSE_WAIT EPIPE, as Linux tcp_reset does).
#[test]
fn rst_at_rcv_nxt_ends_the_connection_in_every_state() {
    let expected: [(&[&str], &[&str]); 9] = [
        (&["SYN_SENT", "CLOSED"], &["ECONNREFUSED"]),
        (&["SYN_SENT", "SYN_RECEIVED", "CLOSED"], &["ECONNREFUSED"]),
        (&["LISTEN", "SYN_RECEIVED", "LISTEN"], &[]),
        (&["ESTABLISHED", "CLOSED"], &["ECONNRESET"]),
        (&["FIN_WAIT_1", "CLOSED"], &["ECONNRESET"]),
        (&["FIN_WAIT_2", "CLOSED"], &["ECONNRESET"]),
        (&["CLOSE_WAIT", "CLOSED"], &["EPIPE"]),
        (&["CLOSING", "CLOSED"], &["ECONNRESET"]),
        (&["LAST_ACK", "CLOSED"], &["ECONNRESET"]),
    ];
    for ((state, setup), (path_end, errs)) in RST_STATES.into_iter().zip(expected) {
        let mut sc = setup();
        assert_eq!(conn_states(&sc.t.c), [state]);
        let rst = craft(&sc.last, TcpFlags::RST | TcpFlags::ACK, sc.rcv_nxt());
        let answer = sc.inject(&rst);
        assert!(answer.is_empty(), "{state}: a RST is never answered");
        let t = &mut sc.t;
        assert!(
            path(&t.c_log).ends_with(path_end),
            "{state}: {:?}",
            path(&t.c_log)
        );
        assert_eq!(errors(&t.c_log), errs, "{state}");
        assert_eq!(
            conn_states(&t.c),
            Vec::<&str>::new(),
            "{state}: no TIME_WAIT"
        );
        match sc.fd {
            Some(fd) => {
                let errno = Errno::from_name(errs[0]).unwrap();
                assert_eq!(t.c_sock.last(), Some(&SocketEvent::Failed(fd, errno)));
                assert_eq!(t.c.state_of(fd), Ok(State::Closed));
                assert_eq!(t.c.send(t.now, fd, b"x"), Err(errno), "{state}");
            }
            None => assert_eq!(t.c.state_counts()[State::Listen as usize], 1),
        }
        assert_legal(&t.c_log);
    }
}

/// Follows Linux tcp_reset: a RST in CLOSE_WAIT leaves EPIPE, not ECONNRESET, for the next
/// send(), and recv() keeps returning end of stream, since the FIN came first (tcp_recvmsg
/// tests SOCK_DONE before the error). The rfc profile reports "connection reset" to both
/// calls (RFC 9293 §3.10.7.4).
#[test]
fn rst_in_close_wait_reports_epipe_to_send_and_eof_to_recv() {
    type Profile = fn() -> TcpConfig;
    let cases: [(Profile, Errno, Result<Received, Errno>); 2] = [
        (TcpConfig::linux, Errno::BrokenPipe, Ok(Received::Eof)),
        (TcpConfig::rfc, Errno::ConnReset, Err(Errno::ConnReset)),
    ];
    for (profile, errno, recv) in cases {
        let fixed = |isn| TcpConfig {
            isn: IsnMode::Fixed(isn),
            ..profile()
        };
        let name = profile().profile;
        let mut t = Pair::new(fixed(1000), fixed(5000));
        let (c, s) = t.establish();
        t.s.shutdown(t.now, s).unwrap();
        assert_eq!(t.deliver_to_c(), ["F."]);
        assert_eq!(t.c_read(c).1, Received::Eof);
        assert_eq!(t.c.state_of(c), Ok(State::CloseWait));
        // The peer aborts: its RST carries SEQ = SND.NXT = our RCV.NXT.
        t.s.abort(t.now, s).unwrap();
        assert_eq!(t.deliver_to_c(), ["R."], "{name}");
        assert!(
            path(&t.c_log).ends_with(&["CLOSE_WAIT", "CLOSED"]),
            "{name}"
        );
        assert_eq!(errors(&t.c_log), [errno.name()], "{name}: the trace");
        assert_eq!(t.c_sock.last(), Some(&SocketEvent::Failed(c, errno)));
        assert_eq!(t.c.send(t.now, c, b"x"), Err(errno), "{name}: send");
        let mut buf = Vec::new();
        assert_eq!(t.c.recv(t.now, c, &mut buf, 100), recv, "{name}: recv");
        assert_eq!(t.c.send(t.now, c, b"x"), Err(errno), "{name}: send again");
    }
}

/// RFC 5961 §3.2: a RST inside the window but not exactly at RCV.NXT gets a challenge ACK
/// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and changes nothing (SYN_SENT excepted: its RSTs are
/// judged by their ACK field).
#[test]
fn in_window_rst_not_at_rcv_nxt_gets_a_challenge_ack_in_every_state() {
    for (state, setup) in &RST_STATES[1..] {
        for offset in [1, RCV_WND - 1] {
            let mut sc = setup();
            let before = (path(&sc.t.c_log).len(), sc.t.c.counters().challenge_acks);
            let rst = craft(&sc.last, TcpFlags::RST, sc.rcv_nxt().add(offset));
            let answer = sc.inject(&rst);
            let answer: Vec<(String, Seq)> =
                answer.iter().map(|p| (summary(p), p.segment.ack)).collect();
            assert_eq!(
                answer,
                [(".".to_string(), sc.rcv_nxt())],
                "{state} +{offset}"
            );
            let t = &sc.t;
            assert!(noted(&t.c_log, Note::ChallengeAck), "{state} +{offset}");
            assert_eq!(t.c.counters().challenge_acks, before.1 + 1);
            assert_eq!(
                path(&t.c_log).len(),
                before.0,
                "{state} +{offset}: no change"
            );
            assert_eq!(conn_states(&t.c), [*state], "{state} +{offset}");
            assert!(errors(&t.c_log).is_empty());
        }
    }
}

/// RFC 9293 §3.10.7.4 (first step) and RFC 5961 §3.2: a RST outside the window is dropped
/// without an answer.
#[test]
fn out_of_window_rst_is_dropped_silently_in_every_state() {
    for (state, setup) in &RST_STATES[1..] {
        for offset in [u32::MAX, RCV_WND] {
            let mut sc = setup();
            let before = path(&sc.t.c_log).len();
            let rst = craft(&sc.last, TcpFlags::RST, sc.rcv_nxt().add(offset));
            assert!(sc.inject(&rst).is_empty(), "{state} +{offset}");
            let t = &sc.t;
            assert_eq!(path(&t.c_log).len(), before, "{state} +{offset}: no change");
            assert_eq!(conn_states(&t.c), [*state], "{state} +{offset}");
            assert!(errors(&t.c_log).is_empty());
            assert_eq!(t.c.counters().challenge_acks, 0);
        }
    }
}

/// RFC 9293 §3.10.7.3: in SYN_SENT a RST is acceptable only if its ACK acknowledges our SYN;
/// a RST without ACK, or with SEG.ACK =< ISS or > SND.NXT, is dropped (never answered).
#[test]
fn rst_in_syn_sent_without_acceptable_ack_is_dropped() {
    for (flags, ack) in [
        (TcpFlags::RST, Seq(1001)),
        (TcpFlags::RST | TcpFlags::ACK, Seq(1000)),
        (TcpFlags::RST | TcpFlags::ACK, Seq(1002)),
    ] {
        let mut sc = syn_sent();
        let mut rst = craft(&sc.last, flags, sc.rcv_nxt());
        rst.segment.ack = ack;
        assert!(sc.inject(&rst).is_empty(), "{flags} ack {ack}");
        assert_eq!(conn_states(&sc.t.c), ["SYN_SENT"], "{flags} ack {ack}");
        assert!(errors(&sc.t.c_log).is_empty());
    }
}

// -------------------------------------------------------------------------------------------
// Abort (SO_LINGER 0)

/// RFC 9293 §3.10.5: ABORT in ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2 and CLOSE_WAIT sends
/// <SEQ=SND.NXT><CTL=RST> and goes straight to CLOSED (no TIME_WAIT); the RST is at the
/// peer's RCV.NXT, so the peer is reset (§3.10.7.4).
#[test]
fn abort_sends_rst_skips_time_wait_and_resets_the_peer() {
    // A peer in CLOSE_WAIT sees EPIPE (Linux tcp_reset).
    let rows: [(&str, Setup, &str, Errno); 4] = [
        ("ESTABLISHED", established, "ESTABLISHED", Errno::ConnReset),
        ("FIN_WAIT_1", fin_wait_1, "CLOSE_WAIT", Errno::BrokenPipe),
        ("FIN_WAIT_2", fin_wait_2, "CLOSE_WAIT", Errno::BrokenPipe),
        ("CLOSE_WAIT", close_wait, "FIN_WAIT_2", Errno::ConnReset),
    ];
    for (state, setup, peer_state, peer_errno) in rows {
        let mut sc = setup();
        let t = &mut sc.t;
        let (fd, peer) = (sc.fd.unwrap(), sc.peer.unwrap());
        assert_eq!(conn_states(&t.c), [state]);
        assert_eq!(conn_states(&t.s), [peer_state]);
        let resets = t.c.counters().resets_sent;
        t.c.abort(t.now, fd).unwrap();
        t.collect();
        assert_eq!(t.c.counters().resets_sent, resets + 1, "{state}");
        assert!(noted(&t.c_log, Note::Abort), "{state}");
        assert!(path(&t.c_log).ends_with(&[state, "CLOSED"]), "{state}");
        assert_eq!(t.c.table_sizes(), (0, 0), "{state}: no TIME_WAIT");
        assert_eq!(t.c.next_deadline(), None, "{state}: no timer left");
        assert!(
            errors(&t.c_log).is_empty(),
            "{state}: the aborting side has no error"
        );
        assert_eq!(t.deliver_to_s(), ["R."], "{state}");
        assert_eq!(errors(&t.s_log), [peer_errno.name()], "{state}");
        assert_eq!(
            t.s_sock.last(),
            Some(&SocketEvent::Failed(peer, peer_errno))
        );
        assert!(path(&t.s_log).ends_with(&[peer_state, "CLOSED"]), "{state}");
        assert_eq!(t.pending_to_c(), Vec::<String>::new(), "{state}");
        assert_legal(&t.c_log);
        assert_legal(&t.s_log);
    }
}

/// RFC 9293 §3.10.5: ABORT in SYN_SENT sends nothing; the connection just closes.
#[test]
fn abort_in_syn_sent_closes_silently() {
    let mut t = Pair::linux();
    let fd = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.lose_to_s(), ["S"]);
    t.c.abort(t.now, fd).unwrap();
    assert_eq!(t.pending_to_s(), Vec::<String>::new());
    assert_eq!(path(&t.c_log), ["CLOSED", "SYN_SENT", "CLOSED"]);
    assert!(!noted(&t.c_log, Note::Abort));
    assert_eq!(t.c.table_sizes(), (0, 0));
    assert_eq!(t.c.next_deadline(), None, "no SYN retransmission");
    assert_eq!(t.c.state_of(fd), Err(Errno::BadFd), "the handle is gone");
}

// -------------------------------------------------------------------------------------------
// SYN in a synchronised state

/// RFC 5961 §4.2 (replacing RFC 9293 §3.10.7.4, fourth step): a SYN in a synchronised state
/// gets a challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and the connection stays as it is.
#[test]
fn syn_in_every_synchronized_state_gets_a_challenge_ack() {
    for (state, setup) in &RST_STATES[3..] {
        let mut sc = setup();
        let before = path(&sc.t.c_log).len();
        let syn = craft(&sc.last, TcpFlags::SYN, sc.rcv_nxt().add(1000));
        let answer = sc.inject(&syn);
        let answer: Vec<(String, Seq)> =
            answer.iter().map(|p| (summary(p), p.segment.ack)).collect();
        assert_eq!(answer, [(".".to_string(), sc.rcv_nxt())], "{state}");
        let t = &sc.t;
        assert!(noted(&t.c_log, Note::ChallengeAck), "{state}");
        assert_eq!(t.c.counters().challenge_acks, 1, "{state}");
        assert_eq!(path(&t.c_log).len(), before, "{state}: no change");
        assert_eq!(conn_states(&t.c), [*state], "{state}");
    }
}

/// RFC 5961 §4.2 ("irrespective of the sequence number") and Linux (tcp_validate_incoming's
/// `syn_challenge` for a SYN outside the window): an old SYN, below RCV.NXT, is a challenge
/// ACK too, counted and noted as one, not a plain out-of-window answer.
#[test]
fn an_out_of_window_syn_gets_a_challenge_ack_in_every_synchronized_state() {
    for (state, setup) in &RST_STATES[3..] {
        let mut sc = setup();
        let before = path(&sc.t.c_log).len();
        let syn = craft(
            &sc.last,
            TcpFlags::SYN,
            sc.rcv_nxt().add(0u32.wrapping_sub(5000)),
        );
        let answer = sc.inject(&syn);
        let answer: Vec<(String, Seq)> =
            answer.iter().map(|p| (summary(p), p.segment.ack)).collect();
        assert_eq!(answer, [(".".to_string(), sc.rcv_nxt())], "{state}");
        let t = &sc.t;
        assert!(noted(&t.c_log, Note::ChallengeAck), "{state}");
        assert!(!noted(&t.c_log, Note::OutOfWindow), "{state}");
        assert_eq!(t.c.counters().challenge_acks, 1, "{state}");
        assert_eq!(path(&t.c_log).len(), before, "{state}: no change");
        assert_eq!(conn_states(&t.c), [*state], "{state}");
    }
}

/// RFC 5961 §4.2: the peer that really holds the connection ignores the challenge ACK, and
/// the connection goes on carrying data.
#[test]
fn connection_survives_a_forged_syn_in_established() {
    let mut sc = established();
    let (fd, peer) = (sc.fd.unwrap(), sc.peer.unwrap());
    let syn = craft(&sc.last, TcpFlags::SYN, Seq(0x1234_5678));
    let challenge = sc.inject(&syn);
    assert_eq!(challenge.len(), 1);
    assert_eq!(
        (challenge[0].segment.seq, challenge[0].segment.ack),
        (Seq(1001), Seq(5001))
    );
    let t = &mut sc.t;
    t.s.on_packet(t.now, &challenge[0]);
    assert_eq!(t.pending_to_c(), Vec::<String>::new(), "nothing to answer");
    t.c.send(t.now, fd, b"still here").unwrap();
    assert_eq!(t.deliver_to_s(), ["P. 10"]);
    assert_eq!(t.s_read(peer).0, b"still here");
    assert_eq!(t.c.state_of(fd), Ok(State::Established));
    assert_eq!(t.s.state_of(peer), Ok(State::Established));
}

/// Follows Linux (tcp_check_req): a retransmitted SYN (SEG.SEQ = IRS) reaching SYN_RECEIVED is
/// answered with the SYN-ACK again, at once, rather than the bare ACK of RFC 9293 §3.10.7.4.
#[test]
fn retransmitted_syn_in_syn_received_gets_the_syn_ack_again() {
    let mut t = Pair::linux();
    t.s.listen(t.now, PORT, 16).unwrap();
    let fd = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    let syn = t.hold_to_s();
    t.s.on_packet(t.now, &syn[0]);
    assert_eq!(t.lose_to_c(), ["S."], "the SYN-ACK is lost");
    t.advance(ms(500));
    t.s.on_packet(t.now, &syn[0]);
    t.collect();
    let synack = &t.to_c[0].segment;
    assert_eq!((synack.seq, synack.ack), (Seq(5000), Seq(1001)));
    assert_eq!(t.pending_to_c(), ["S."]);
    assert_eq!(conn_states(&t.s), ["SYN_RECEIVED"]);
    assert_eq!(t.s.counters().retransmits, 0, "an answer, not a timeout");
    assert_eq!(t.deliver_to_c(), ["S."]);
    assert_eq!(t.deliver_to_s(), ["."]);
    assert_eq!(t.c.state_of(fd), Ok(State::Established));
    assert_eq!(conn_states(&t.s), ["ESTABLISHED"]);
}

/// RFC 9293 §3.10.4 (and Linux tcp_close): close() in the SYN_RECEIVED of a simultaneous open
/// sends the FIN at once (FIN_WAIT_1) while our SYN is still unacknowledged. Linux keeps the
/// SYN at the head of its retransmission queue, so the timeout resends the SYN-ACK ahead of
/// the FIN, and a peer that lost the first SYN-ACK still completes the handshake and takes
/// the FIN. (Found by the tcp_segments fuzz target: the FIN went out with the handshake's
/// timer still armed, and that timer then resent only the FIN.)
#[test]
fn close_in_syn_received_sends_fin_and_the_timeout_resends_the_syn_ack_ahead_of_it() {
    let Scene {
        mut t, fd, peer, ..
    } = syn_received_active();
    let (fd, peer) = (fd.expect("a socket"), peer.expect("a socket"));
    t.c.close(t.now, fd).unwrap();
    assert_eq!(conn_states(&t.c), ["FIN_WAIT_1"]);
    assert_eq!(t.lose_to_s(), ["F."], "the FIN is lost too");
    // The peer's own SYN retransmissions (it is still in SYN_SENT) are lost.
    t.advance(secs(3));
    t.lose_to_c();
    // A tail loss probe resends the FIN alone; the timeout then resends the SYN-ACK and the
    // FIN behind it.
    assert_eq!(t.deliver_to_s(), ["F.", "S.", "F."]);
    assert_eq!(t.s.state_of(peer), Ok(State::CloseWait));
    assert_eq!(t.deliver_to_c(), ["."], "the SYN-ACK's ACK");
    t.advance(ms(40));
    assert_eq!(t.deliver_to_c(), ["."], "the FIN's, delayed");
    assert_eq!(conn_states(&t.c), ["FIN_WAIT_2"]);
}

// -------------------------------------------------------------------------------------------
// Listen backlog

/// Follows Linux (tcp_conn_request, ListenOverflows): a SYN reaching a listener whose accept
/// queue is full is dropped silently; the client's SYN retransmission succeeds once the
/// application accepted a connection.
#[test]
fn full_accept_queue_drops_the_syn_until_the_application_accepts() {
    let mut t = Pair::linux();
    let listener = t.s.listen(t.now, PORT, 2).unwrap();
    // Linux sk_acceptq_is_full: backlog 2 holds 3 established connections.
    for _ in 0..3 {
        t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
        t.exchange();
    }
    assert_eq!(
        conn_states(&t.s),
        ["ESTABLISHED", "ESTABLISHED", "ESTABLISHED"]
    );
    let third = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.deliver_to_s(), ["S"]);
    assert_eq!(t.pending_to_c(), Vec::<String>::new(), "the SYN is dropped");
    assert!(noted(&t.s_log, Note::ListenOverflow));
    assert_eq!(t.s.counters().listen_overflows, 1);
    assert_eq!(t.c.state_of(third), Ok(State::SynSent));
    t.s.accept(t.now, listener)
        .unwrap()
        .expect("a connection waits");
    t.advance(ms(1024));
    assert_eq!(
        t.deliver_to_s(),
        ["S"],
        "the SYN again, 1 s later (1.024 s on 4 ms jiffies)"
    );
    assert_eq!(t.deliver_to_c(), ["S."]);
    assert_eq!(t.deliver_to_s(), ["."]);
    assert_eq!(t.c.state_of(third), Ok(State::Established));
    assert_eq!(t.s.counters().listen_overflows, 1);
    let mut accepted = 0;
    while t.s.accept(t.now, listener).unwrap().is_some() {
        accepted += 1;
    }
    assert_eq!(accepted, 3, "the second, the third and the fourth");
}

/// Linux inet_csk_listen_stop: closing a listener resets the connections in its accept queue;
/// those still in SYN_RECEIVED (request socks) die silently with it, and the peer's handshake
/// ACK then finds no connection and is answered with RST (RFC 9293 §3.10.7.1). Nothing is
/// left behind to complete the handshake and sit in CLOSE_WAIT with no socket to close it.
#[test]
fn closing_a_listener_resets_queued_connections_and_drops_half_open_ones() {
    let mut t = Pair::linux();
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let queued = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    t.exchange();
    let half_open = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.deliver_to_s(), ["S"]);
    t.collect();
    let syn_ack = std::mem::take(&mut t.to_c);
    assert_eq!(conn_states(&t.s), ["SYN_RECEIVED", "ESTABLISHED"]);

    t.s.close(t.now, listener).unwrap();
    assert_eq!(t.pending_to_c(), ["R."], "a RST for the queued one only");
    assert!(noted(&t.s_log, Note::ListenerClosed));
    assert_eq!(t.s.table_sizes(), (0, 0), "both are gone");
    assert_eq!(t.s.state_counts(), [0; 11]);
    t.deliver_to_c();
    assert_eq!(
        t.c_sock.last(),
        Some(&SocketEvent::Failed(queued, Errno::ConnReset))
    );

    // The SYN-ACK sent before the close arrives; the client's ACK meets no connection.
    for p in &syn_ack {
        t.c.on_packet(t.now, p);
    }
    assert_eq!(t.c.state_of(half_open), Ok(State::Established));
    assert_eq!(t.deliver_to_s(), ["."]);
    assert!(noted(&t.s_log, Note::ResetNoConnection));
    assert_eq!(t.deliver_to_c(), ["R"]);
    assert_eq!(
        t.c_sock.last(),
        Some(&SocketEvent::Failed(half_open, Errno::ConnReset))
    );
    t.run_for(secs(120));
    assert_eq!(t.s.table_sizes(), (0, 0), "nothing in CLOSE_WAIT, ever");
    assert_eq!(t.c.table_sizes(), (0, 0));
    assert_legal(&t.s_log);
}

/// Follows Linux (tcp_v4_syn_recv_sock, ListenOverflows): the ACK completing a handshake is
/// dropped while the accept queue is full; the server stays in SYN_RECEIVED, retransmits its
/// SYN-ACK, and completes once the application has accepted.
#[test]
fn handshake_ack_is_dropped_while_the_accept_queue_is_full() {
    let mut t = Pair::linux();
    let listener = t.s.listen(t.now, PORT, 0).unwrap(); // holds one connection
    let first = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    let second = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.deliver_to_s(), ["S", "S"], "both SYNs find room");
    assert_eq!(t.deliver_to_c(), ["S.", "S."]);
    assert_eq!(t.deliver_to_s(), [".", "."]);
    assert!(noted(&t.s_log, Note::AcceptQueueFull));
    assert_eq!(conn_states(&t.s), ["SYN_RECEIVED", "ESTABLISHED"]); // in state order
    // The client believes both are open.
    assert_eq!(t.c.state_of(first), Ok(State::Established));
    assert_eq!(t.c.state_of(second), Ok(State::Established));
    // Only the ACK completing a handshake waits: data on the queued connection gets through
    // and is acknowledged while the queue is full; accept() then reports it readable.
    t.c.send(t.now, first, b"early").unwrap();
    assert_eq!(t.deliver_to_s(), ["P. 5"]);
    assert_eq!(t.deliver_to_c(), ["."]);
    assert_eq!(t.c.unacked(first), 0);
    let (a, _) =
        t.s.accept(t.now, listener)
            .unwrap()
            .expect("the first waits");
    t.collect();
    assert_eq!(t.s_sock.last(), Some(&SocketEvent::Readable(a)));
    assert_eq!(t.s.counters().accepted, 1);
    t.advance(ms(1024));
    assert_eq!(
        t.deliver_to_c(),
        ["S."],
        "the SYN-ACK again after the initial RTO (1 s on Linux's timer wheel)"
    );
    assert_eq!(t.deliver_to_s(), ["."]);
    assert_eq!(conn_states(&t.s), ["ESTABLISHED", "ESTABLISHED"]);
    let events = t.s_sock.len();
    let (b, _) = t.s.accept(t.now, listener).unwrap().expect("the second");
    t.collect();
    assert!(
        !t.s_sock[events..].contains(&SocketEvent::Readable(b)),
        "nothing to read: {:?}",
        &t.s_sock[events..]
    );
    assert_eq!(t.s.counters().accepted, 2);
}

// -------------------------------------------------------------------------------------------
// Socket limit (EMFILE)

/// The Linux profile with a socket limit (`closing_holds_socket` left at its default, true).
fn max_sockets(n: u32, isn: u32) -> TcpConfig {
    TcpConfig {
        max_sockets: Some(n),
        ..linux(isn)
    }
}

/// POSIX EMFILE: connect() beyond `max_sockets` fails; closing a socket frees its place.
#[test]
fn connect_beyond_max_sockets_fails_with_emfile() {
    let mut t = Pair::new(max_sockets(2, 1000), linux(5000));
    let first = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(
        t.c.connect(t.now, server_addr(), Bind::default()),
        Err(Errno::TooManyFiles)
    );
    // close() in SYN_SENT ends the connection at once (RFC 9293 §3.10.4).
    t.c.close(t.now, first).unwrap();
    assert!(t.c.connect(t.now, server_addr(), Bind::default()).is_ok());
}

/// POSIX EMFILE: listen() beyond `max_sockets` fails.
#[test]
fn listen_beyond_max_sockets_fails_with_emfile() {
    let mut t = Pair::new(linux(1000), max_sockets(1, 5000));
    t.s.listen(t.now, PORT, 16).unwrap();
    assert_eq!(t.s.listen(t.now, PORT + 1, 16), Err(Errno::TooManyFiles));
}

/// POSIX EMFILE, as Linux: accept() beyond `max_sockets` fails and the connection stays in
/// the accept queue.
#[test]
fn accept_beyond_max_sockets_fails_with_emfile_and_keeps_the_connection_queued() {
    let mut t = Pair::new(linux(1000), max_sockets(1, 5000));
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    t.exchange();
    assert_eq!(t.s.accept(t.now, listener), Err(Errno::TooManyFiles));
    assert_eq!(conn_states(&t.s), ["ESTABLISHED"]);
    t.s.close(t.now, listener).unwrap();
    assert_eq!(
        t.pending_to_c(),
        ["R."],
        "closing the listener resets what it queued"
    );
}

/// A client that closed first, with its connection now in TIME_WAIT (60 s on Linux).
fn client_in_time_wait(client: TcpConfig) -> Pair {
    let mut t = Pair::new(client, linux(5000));
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    t.exchange();
    t.s.close(t.now, s).unwrap();
    t.exchange();
    assert_eq!(conn_states(&t.c), ["TIME_WAIT"]);
    t
}

/// The article's connection table (`closing_holds_socket`): a TIME_WAIT entry holds a socket
/// until it expires 60 s later.
#[test]
fn time_wait_counts_against_max_sockets_when_closing_holds_socket() {
    let mut t = client_in_time_wait(max_sockets(1, 1000));
    assert_eq!(t.c.sockets_in_use(), 1);
    assert_eq!(
        t.c.connect(t.now, server_addr(), Bind::default()),
        Err(Errno::TooManyFiles)
    );
    t.advance(secs(60) - ms(1));
    assert_eq!(
        t.c.connect(t.now, server_addr(), Bind::default()),
        Err(Errno::TooManyFiles)
    );
    t.advance(ms(1));
    assert_eq!(conn_states(&t.c), Vec::<&str>::new());
    assert!(t.c.connect(t.now, server_addr(), Bind::default()).is_ok());
}

/// Real Linux releases the descriptor at close(): without `closing_holds_socket` a TIME_WAIT
/// entry does not count against the limit.
#[test]
fn time_wait_does_not_count_against_max_sockets_without_closing_holds_socket() {
    let mut t = client_in_time_wait(TcpConfig {
        closing_holds_socket: false,
        ..max_sockets(1, 1000)
    });
    assert_eq!(t.c.sockets_in_use(), 0);
    assert!(t.c.connect(t.now, server_addr(), Bind::default()).is_ok());
    assert_eq!(conn_states(&t.c), ["SYN_SENT", "TIME_WAIT"]);
}

// -------------------------------------------------------------------------------------------
// bind

/// A client bound to port 4000 that closed first: its 4-tuple is in TIME_WAIT.
fn bound_client_in_time_wait() -> Pair {
    let mut t = Pair::linux();
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let c = t.c.connect(t.now, server_addr(), bound(C_PORT)).unwrap();
    t.exchange();
    let (s, _) = t.s.accept(t.now, listener).unwrap().unwrap();
    t.c.close(t.now, c).unwrap();
    t.exchange();
    t.s.close(t.now, s).unwrap();
    t.exchange();
    assert_eq!(conn_states(&t.c), ["TIME_WAIT"]);
    t
}

/// Follows Linux (inet_csk_bind_conflict): without SO_REUSEADDR a port used by a TIME_WAIT
/// connection cannot be bound, whatever the destination, until TIME_WAIT ends.
#[test]
fn bind_to_a_port_held_by_time_wait_fails_with_eaddrinuse() {
    let mut t = bound_client_in_time_wait();
    let elsewhere = SocketAddrV4::new(SERVER, PORT + 1);
    for dst in [server_addr(), elsewhere] {
        assert_eq!(
            t.c.connect(t.now, dst, bound(C_PORT)),
            Err(Errno::AddrInUse),
            "to {dst}"
        );
    }
    t.advance(secs(60));
    assert!(t.c.connect(t.now, server_addr(), bound(C_PORT)).is_ok());
}

/// Follows Linux (__inet_check_established, tcp_tw_reuse off): with SO_REUSEADDR the port
/// binds, but the 4-tuple itself is still in TIME_WAIT (RFC 9293 §3.4.2): EADDRNOTAVAIL.
#[test]
fn reuse_addr_connect_to_the_time_wait_destination_fails_with_eaddrnotavail() {
    let mut t = bound_client_in_time_wait();
    assert_eq!(
        t.c.connect(t.now, server_addr(), bound_reusing(C_PORT)),
        Err(Errno::AddrNotAvail)
    );
    assert_eq!(t.pending_to_s(), Vec::<String>::new());
}

/// With SO_REUSEADDR the port held by TIME_WAIT serves another destination: the 4-tuple
/// differs.
#[test]
fn reuse_addr_connect_to_another_destination_succeeds() {
    let mut t = bound_client_in_time_wait();
    let elsewhere = SocketAddrV4::new(SERVER, PORT + 1);
    let fd =
        t.c.connect(t.now, elsewhere, bound_reusing(C_PORT))
            .unwrap();
    assert_eq!(
        t.c.conn_key(fd).map(|k| (k.local.port(), k.remote)),
        Some((C_PORT, elsewhere))
    );
    assert_eq!(t.pending_to_s(), ["S"]);
    assert_eq!(conn_states(&t.c), ["SYN_SENT", "TIME_WAIT"]);
}

/// Follows Linux (inet_csk_bind_conflict, checked again by inet_csk_listen_start): a server
/// that closed first leaves TIME_WAIT on its own port, and a new listener on that port fails
/// with EADDRINUSE unless it sets SO_REUSEADDR, until TIME_WAIT ends.
#[test]
fn listen_on_a_port_held_by_time_wait_needs_reuse_addr() {
    let mut t = Pair::linux();
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let c = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    t.exchange();
    let (s, _) = t.s.accept(t.now, listener).unwrap().unwrap();
    t.s.close(t.now, s).unwrap();
    t.exchange();
    t.c.close(t.now, c).unwrap();
    t.exchange();
    t.s.close(t.now, listener).unwrap();
    assert_eq!(conn_states(&t.s), ["TIME_WAIT"]);
    assert_eq!(t.s.listen(t.now, PORT, 16), Err(Errno::AddrInUse));
    let reuse = Listen {
        backlog: 16,
        reuse_addr: true,
    };
    let again = t.s.listen_with(t.now, PORT, reuse).unwrap();
    t.s.close(t.now, again).unwrap();
    t.advance(secs(60));
    assert_eq!(conn_states(&t.s), Vec::<&str>::new());
    assert!(
        t.s.listen(t.now, PORT, 16).is_ok(),
        "free once TIME_WAIT is over"
    );
}

/// POSIX bind(): a port with a listener cannot be listened on again.
#[test]
fn listen_twice_on_a_port_fails_with_eaddrinuse() {
    let mut t = Pair::linux();
    t.s.listen(t.now, PORT, 16).unwrap();
    assert_eq!(t.s.listen(t.now, PORT, 16), Err(Errno::AddrInUse));
    assert_eq!(t.s.state_counts()[State::Listen as usize], 1);
}

/// Linux (UNP §5.11's "connection abort before accept"; checked on Linux 6.18): a connection
/// reset while it waits in the accept queue stays there: accept() returns it, in queue order,
/// and its first recv() reports ECONNRESET; the connection queued behind it is untouched.
/// (BSD drops it inside the kernel; POSIX says ECONNABORTED.)
#[test]
fn a_connection_reset_before_accept_is_still_accepted_and_reports_the_reset() {
    let mut t = Pair::linux();
    let listener = t.s.listen(t.now, PORT, 8).unwrap();
    let first = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    t.exchange();
    let second = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    t.exchange();
    assert_eq!(t.c.state_of(second), Ok(State::Established));
    t.c.send(t.now, first, b"early").unwrap();
    assert_eq!(t.deliver_to_s(), ["P. 5"]);
    assert_eq!(t.deliver_to_c(), ["."]);
    t.c.abort(t.now, first).unwrap();
    assert_eq!(t.deliver_to_s(), ["R."]);
    t.collect();
    let events = t.s_sock.len();
    let (a, _) = t.s.accept(t.now, listener).unwrap().expect("the reset one");
    t.collect();
    assert_eq!(
        t.s_sock[events..],
        [
            SocketEvent::Failed(a, Errno::ConnReset),
            SocketEvent::Readable(a)
        ]
    );
    // What arrived before the reset is read first (Linux tcp_recvmsg copies queued data
    // before it looks at the error).
    let mut buf = Vec::new();
    assert_eq!(t.s.recv(t.now, a, &mut buf, 100), Ok(Received::Data(5)));
    assert_eq!(buf, b"early");
    assert_eq!(t.s.recv(t.now, a, &mut buf, 100), Err(Errno::ConnReset));
    let (b, _) = t.s.accept(t.now, listener).unwrap().expect("the live one");
    assert_eq!(t.s.state_of(b), Ok(State::Established));
    t.s.send(t.now, b, b"hi").unwrap();
    t.exchange();
    assert_eq!(t.c_read(second).0, b"hi");
    assert_eq!(t.s.accept(t.now, listener), Ok(None));
}

/// Only a SYN-ACK in an active SYN_RECEIVED is the crossed SYN-ACK of a simultaneous open
/// (RFC 9293 §3.5 Figure 7). In ESTABLISHED an empty ACK whose SEG.SEQ is the peer's ISN is
/// just old (below RCV.NXT): answered with a duplicate ACK, no D-SACK (it carries nothing),
/// and no state change.
#[test]
fn an_old_ack_at_the_peers_isn_is_not_a_crossed_syn_ack() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.s.send(t.now, s, &[1; 10]).unwrap();
    let data = take_to_c(&mut t);
    to_client(&mut t, &data[0]);
    take_to_s(&mut t);
    let transitions = path(&t.c_log).len();
    let mut old = data[0].clone();
    old.segment.seq = Seq(5000); // the server's ISN: the client's IRS
    old.segment.payload.clear();
    t.advance(SimDuration::from_millis(600)); // past the rate limit of answers
    to_client(&mut t, &old);
    let answer = take_to_s(&mut t);
    assert_eq!(summaries(&answer), ["."]);
    assert!(answer[0].segment.options.sack.is_empty(), "no D-SACK");
    assert_eq!(path(&t.c_log).len(), transitions, "no state change");
    assert_eq!(t.c.state_of(c), Ok(State::Established));
}
