//! The linux profile's own behaviour, one test per Linux mechanism: quick and delayed ACKs and
//! ping-pong mode, the ACK of a FIN, SACK blocks and their compression, D-SACK, Linux's RTO,
//! RTT samples from timestamps, RACK, tail loss probes, keep-alive, PAWS's exemptions and the
//! timer wheel. Each test names the kernel function it follows and, where FINDINGS.md measured
//! it on Linux 6.18 (HZ 250), the kernel's numbers; where the RFC rules differ, the test (or
//! its sibling) says what they do instead. Segments travel with a fixed one-way delay: what a
//! side sends is held, time passes, then it arrives (`arrive_at_s`, `arrive_at_c`).

mod common;

use common::*;
use netsim_core::{Packet, SimDuration, SimTime};
use netsim_tcp::{Bind, Errno, Note, Received, SocketEvent, SocketId, State, TcpConfig, TcpStack};

/// Effective MSS with timestamps: 1460 less 12 bytes of options.
const MSS: usize = 1448;

// -------------------------------------------------------------------------------------------
// Helpers

/// What the client has sent is in flight for `d`, then arrives; returns what arrived.
fn arrive_at_s(t: &mut Pair, d: SimDuration) -> Vec<String> {
    let ps = take_to_s(t);
    t.advance(d);
    for p in &ps {
        to_server(t, p);
    }
    summaries(&ps)
}

/// What the server has sent is in flight for `d`, then arrives; returns what arrived.
fn arrive_at_c(t: &mut Pair, d: SimDuration) -> Vec<String> {
    let ps = take_to_c(t);
    t.advance(d);
    for p in &ps {
        to_client(t, p);
    }
    summaries(&ps)
}

/// Virtual time since the start, in microseconds.
fn now_us(t: &Pair) -> u64 {
    t.now.since_start().as_nanos() / 1_000
}

/// A duration in microseconds.
fn us(d: SimDuration) -> u64 {
    d.as_nanos() / 1_000
}

/// Connects with `one_way` of delay each way: SYN, SYN-ACK and ACK each take that long, so
/// both sides start with an RTT sample of 2 · `one_way`.
fn connected(
    client: TcpConfig,
    server: TcpConfig,
    one_way: SimDuration,
) -> (Pair, SocketId, SocketId) {
    let mut t = Pair::new(client, server);
    let listener = t.s.listen(t.now, PORT, 8).unwrap();
    let c = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(arrive_at_s(&mut t, one_way), ["S"]);
    assert_eq!(arrive_at_c(&mut t, one_way), ["S."]);
    assert_eq!(arrive_at_s(&mut t, one_way), ["."]);
    let (s, _) = t.s.accept(t.now, listener).unwrap().expect("accepted");
    (t, c, s)
}

/// A 64-byte request and a 64-byte reply, each side answering at once, every segment taking
/// `one_way`; returns what the server sent in answer to the request (its pure ACK, if any,
/// then the reply) and what the client sent after the reply.
fn request_reply(
    t: &mut Pair,
    c: SocketId,
    s: SocketId,
    one_way: SimDuration,
) -> (Vec<String>, Vec<String>) {
    t.c.send(t.now, c, &[1; 64]).unwrap();
    arrive_at_s(t, one_way);
    assert_eq!(t.s_read(s).1, Received::Data(64));
    t.s.send(t.now, s, &[2; 64]).unwrap();
    let server = arrive_at_c(t, one_way);
    assert_eq!(t.c_read(c).1, Received::Data(64));
    let client = arrive_at_s(t, one_way);
    (server, client)
}

/// The client sends `n` segments of `len` bytes at once (Nagle off); returns them, undelivered.
fn flight(t: &mut Pair, c: SocketId, n: usize, len: usize) -> Vec<Packet> {
    t.c.set_nodelay(c, true).unwrap();
    for i in 0..n {
        assert_eq!(t.c.send(t.now, c, &vec![i as u8; len]), Ok(len));
    }
    let segs = take_to_s(t);
    assert_eq!(segs.len(), n, "the whole flight goes out");
    segs
}

/// `cfg` without the timestamps option (so a resent SYN leaves the handshake untimed).
fn without_timestamps(cfg: TcpConfig) -> TcpConfig {
    TcpConfig {
        timestamps: false,
        ..cfg
    }
}

/// `cfg` without timestamps and without the loss probe: the first resend is the RTO.
fn untimed(cfg: TcpConfig) -> TcpConfig {
    TcpConfig {
        tail_loss_probe: false,
        ..without_timestamps(cfg)
    }
}

/// The SACK blocks of an ACK as segment numbers of `flight`: `(2, 4)` covers segments 2 and 3.
fn blocks(ack: &Packet, flight: &[Packet]) -> Vec<(usize, usize)> {
    let base = flight[0].segment.seq.0;
    let len = flight[0].segment.payload.len() as u32;
    let index = |s: u32| (s.wrapping_sub(base) as i32).div_euclid(len as i32) as usize;
    ack.segment
        .options
        .sack
        .as_slice()
        .iter()
        .map(|&(l, r)| (index(l.0), index(r.0)))
        .collect()
}

/// Connects (SACK not agreed by one side or the other) and sends three segments of which the
/// second is lost: the receiver's duplicate ACK, at the hole, carries no SACK block.
fn dup_ack_has_no_sack_block(client: TcpConfig, server: TcpConfig) {
    let (mut t, c, _s) = connected(client, server, ms(1));
    let segs = flight(&mut t, c, 3, MSS);
    to_server(&mut t, &segs[0]);
    to_server(&mut t, &segs[2]);
    let dup = take_to_c(&mut t);
    assert_eq!(acks(&dup).last(), Some(&segs[1].segment.seq.0));
    assert!(dup.iter().all(|p| p.segment.options.sack.is_empty()));
}

// -------------------------------------------------------------------------------------------
// Quick ACKs, ping-pong and delayed ACKs (tcp_input.c, tcp_output.c, tcp_timer.c)

/// Who closes a short connection first.
#[derive(Clone, Copy, PartialEq)]
enum Closer {
    Client,
    Server,
}

/// One request/response connection with 1 ms each way (RTT 2 ms, as FINDINGS §1), each
/// application acting as soon as it can: the segments on the wire, in order, as `C>S flags`.
fn short_connection(client: TcpConfig, server: TcpConfig, closer: Closer) -> Vec<String> {
    let one_way = ms(1);
    let mut t = Pair::new(client, server);
    let mut wire = Vec::new();
    let mut hop = |t: &mut Pair| {
        let to_s = take_to_s(t);
        let to_c = take_to_c(t);
        t.advance(one_way);
        for p in &to_s {
            wire.push(format!("C>S {}", summary(p)));
            to_server(t, p);
        }
        for p in &to_c {
            wire.push(format!("S>C {}", summary(p)));
            to_client(t, p);
        }
    };
    let listener = t.s.listen(t.now, PORT, 8).unwrap();
    let c = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    hop(&mut t);
    hop(&mut t);
    t.c.send(t.now, c, &[1; 64]).unwrap();
    hop(&mut t);
    let (s, _) = t.s.accept(t.now, listener).unwrap().unwrap();
    assert_eq!(t.s_read(s).1, Received::Data(64));
    t.s.send(t.now, s, &[2; 64]).unwrap();
    if closer == Closer::Server {
        t.s.close(t.now, s).unwrap();
    }
    hop(&mut t);
    assert_eq!(t.c_read(c).1, Received::Data(64));
    if closer == Closer::Server {
        assert_eq!(t.c_read(c).1, Received::Eof);
    }
    t.c.close(t.now, c).unwrap();
    hop(&mut t);
    if closer == Closer::Client {
        assert_eq!(t.s_read(s).1, Received::Eof);
        t.s.close(t.now, s).unwrap();
    }
    for _ in 0..3 {
        hop(&mut t);
    }
    assert_eq!(t.c.table_sizes().0 + t.s.table_sizes().0, 0, "both closed");
    wire
}

/// Linux tcp_event_data_recv, tcp_incr_quickack, tcp_in_quickack_mode and tcp_fin: the
/// first data a side receives is ACKed at once (quick-ACK mode: a quota of window / (2 ·
/// receive MSS), at least 2, at most 16), so the request and the reply each get a pure ACK
/// before anything else; the FIN's ACK waits and rides on the other side's FIN. FINDINGS
/// §1a/§1b: 10 segments whichever side closes first. RFC 1122 delayed ACKs let the reply
/// carry the request's ACK and the FIN the reply's: 8 segments.
#[test]
fn quick_ack_mode_acks_the_first_request_and_reply_at_once() {
    let linux_client_first = [
        "C>S S",
        "S>C S.",
        "C>S .",
        "C>S P. 64",
        "S>C .",
        "S>C P. 64",
        "C>S .",
        "C>S F.",
        "S>C F.",
        "C>S .",
    ];
    assert_eq!(
        short_connection(linux(1000), linux(5000), Closer::Client),
        linux_client_first
    );
    let linux_server_first = [
        "C>S S",
        "S>C S.",
        "C>S .",
        "C>S P. 64",
        "S>C .",
        "S>C P. 64",
        "S>C F.",
        "C>S .",
        "C>S F.",
        "S>C .",
    ];
    assert_eq!(
        short_connection(linux(1000), linux(5000), Closer::Server),
        linux_server_first
    );
    let rfc = [
        "C>S S",
        "S>C S.",
        "C>S .",
        "C>S P. 64",
        "S>C P. 64",
        "C>S F.",
        "S>C F.",
        "C>S .",
    ];
    assert_eq!(
        short_connection(rfc_rules(1000), rfc_rules(5000), Closer::Client),
        rfc
    );
}

/// Linux tcp_event_data_sent (TCP_PINGPONG_THRESH 1): a side that sends data within the ACK
/// timeout (ato, 40 ms) of the data it received goes ping-pong: its ACKs are delayed and ride
/// on its replies. FINDINGS §1c: 5 rounds without think time are 18 segments, pure ACKs
/// only in the first round. RFC 1122 delayed ACKs give 16 (no pure ACK in round 1 either).
#[test]
fn ping_pong_lets_acks_ride_on_the_replies_after_the_first_round() {
    fn rounds(client: TcpConfig, server: TcpConfig) -> Vec<String> {
        let one_way = ms(1);
        let (mut t, c, s) = connected(client, server, one_way);
        let mut wire = Vec::new();
        for _ in 0..5 {
            t.c.send(t.now, c, &[1; 64]).unwrap();
            wire.extend(
                arrive_at_s(&mut t, one_way)
                    .into_iter()
                    .map(|x| format!("C>S {x}")),
            );
            t.s_read(s);
            t.s.send(t.now, s, &[2; 64]).unwrap();
            wire.extend(
                arrive_at_c(&mut t, one_way)
                    .into_iter()
                    .map(|x| format!("S>C {x}")),
            );
            t.c_read(c);
        }
        wire
    }
    let linux_rounds = rounds(linux(1000), linux(5000));
    assert_eq!(
        linux_rounds[..6],
        [
            "C>S P. 64",
            "S>C .",
            "S>C P. 64",
            "C>S .",
            "C>S P. 64",
            "S>C P. 64"
        ]
    );
    assert_eq!(3 + linux_rounds.len() + 3, 18, "FINDINGS §1c");
    assert_eq!(
        rounds(rfc_rules(1000), rfc_rules(5000)).len(),
        10,
        "one segment per request and reply"
    );
}

/// Three request-reply rounds, each segment taking `one_way`, put the server in ping-pong
/// mode; then a fourth request arrives, and its ACK waits.
fn request_in_ping_pong(one_way: SimDuration) -> (Pair, SocketId, SocketId) {
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    for _ in 0..3 {
        request_reply(&mut t, c, s, one_way);
    }
    t.c.send(t.now, c, &[4; 64]).unwrap();
    assert_eq!(arrive_at_s(&mut t, one_way), ["P. 64"]);
    assert!(t.pending_to_c().is_empty(), "ping-pong: the ACK waits");
    (t, c, s)
}

/// Linux tcp_send_delayed_ack and tcp_delack_timer_handler: in ping-pong mode a request that
/// gets no reply is ACKed when the delayed-ACK timer fires: ato 40 ms (TCP_DELACK_MIN) on the
/// timer wheel, so 40-44 ms after arrival (FINDINGS §1f: 43.6 and 43.9 ms). The timer firing
/// ends ping-pong: the next request is ACKed at once again (FINDINGS §1f, req 5).
#[test]
fn delayed_ack_fires_after_40_ms_plus_a_tick_and_ends_ping_pong() {
    let one_way = SimDuration::from_micros(1_100);
    let (mut t, c, s) = request_in_ping_pong(one_way);
    let delay = server_speaks_after(&mut t, ms(500));
    assert!(
        ms(40) < delay && delay <= ms(44),
        "delayed ACK after {delay}"
    );
    assert_eq!(summaries(&take_to_c(&mut t)), ["."]);
    // The reply comes 200 ms after the request; the next request is ACKed at once.
    t.advance(ms(200) - delay);
    t.s_read(s);
    t.s.send(t.now, s, &[4; 64]).unwrap();
    assert_eq!(arrive_at_c(&mut t, one_way), ["P. 64"]);
    t.c_read(c);
    t.c.send(t.now, c, &[5; 64]).unwrap();
    assert_eq!(arrive_at_s(&mut t, one_way), ["P. 64"]);
    assert_eq!(
        t.pending_to_c(),
        ["."],
        "out of ping-pong: a pure ACK at once"
    );
}

/// Linux tcp_send_delayed_ack: a second small segment that arrives while the delayed-ACK
/// timer runs keeps the timer's expiry (icsk_ack.timeout), and re-arming a timer with the same
/// expiry leaves it where the timer wheel put it: the ACK still goes 40-44 ms after the first
/// segment, not a tick later for every segment that came in between.
#[test]
fn delayed_ack_timer_does_not_slip_when_more_data_arrives() {
    let (mut t, c, _) = request_in_ping_pong(SimDuration::from_micros(1_100));
    let first = t.now;
    t.c.set_nodelay(c, true).unwrap();
    for _ in 0..3 {
        t.c.send(t.now, c, &[5; 10]).unwrap();
        assert_eq!(arrive_at_s(&mut t, ms(1)), ["P. 10"]);
        assert!(t.pending_to_c().is_empty(), "ping-pong: the ACK waits");
    }
    server_speaks_after(&mut t, ms(500));
    let delay = t.now - first;
    assert!(
        ms(40) < delay && delay <= ms(44),
        "delayed ACK {delay} after the first segment"
    );
    assert_eq!(summaries(&take_to_c(&mut t)), ["."]);
}

/// Linux tcp_fin: a FIN received in ESTABLISHED enters ping-pong mode, so its ACK waits like
/// data: an application that closes within the delayed-ACK timeout sends one FIN that carries
/// the ACK (FINDINGS §1a: "FIN carries the ACK of client's FIN (no separate ACK)").
#[test]
fn fin_in_established_waits_and_its_ack_rides_on_our_fin() {
    let one_way = ms(1);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    request_reply(&mut t, c, s, one_way);
    t.c.close(t.now, c).unwrap();
    arrive_at_s(&mut t, one_way);
    assert_eq!(t.s.state_of(s), Ok(State::CloseWait));
    t.advance(ms(30));
    assert!(t.pending_to_c().is_empty(), "no pure ACK within 30 ms");
    assert_eq!(t.s_read(s).1, Received::Eof);
    t.s.close(t.now, s).unwrap();
    let fin = take_to_c(&mut t);
    assert_eq!(summaries(&fin), ["F."]);
    assert_eq!(
        acks(&fin),
        [1001 + 64 + 1],
        "it acknowledges the client's FIN"
    );
}

/// Linux tcp_fin then tcp_send_delayed_ack: when the application does not close, the FIN's
/// ACK goes when the delayed-ACK timer fires: 40 ms plus the tick after data was received.
/// RFC 1122 rules delay it too (here by the same 40 ms), but exactly.
#[test]
fn fin_in_established_is_acked_by_the_delayed_ack_timer_if_the_application_waits() {
    for (server, low, high) in [
        (linux(5000), ms(40), ms(44)),
        (rfc_rules(5000), ms(40), ms(40)),
    ] {
        let one_way = ms(1);
        let (mut t, c, s) = connected(linux(1000), server, one_way);
        request_reply(&mut t, c, s, one_way);
        t.advance(ms(10));
        t.c.close(t.now, c).unwrap();
        arrive_at_s(&mut t, one_way);
        let delay = server_speaks_after(&mut t, secs(1));
        assert!(
            low <= delay && delay <= high,
            "ACK of the FIN after {delay}"
        );
        assert_eq!(summaries(&take_to_c(&mut t)), ["."]);
    }
}

/// Linux tcp_send_delayed_ack with ato 0: on a connection that never received data the
/// delayed-ACK timer of a FIN expires on the next tick, within 4 ms (FINDINGS §7: the ACK of
/// the FIN 1-3 ms after it).
#[test]
fn fin_on_a_connection_without_data_is_acked_on_the_next_tick() {
    let one_way = SimDuration::from_micros(1_100);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    t.c.shutdown(t.now, c).unwrap();
    arrive_at_s(&mut t, one_way);
    assert_eq!(t.s.state_of(s), Ok(State::CloseWait));
    assert!(t.pending_to_c().is_empty(), "not at once");
    let delay = server_speaks_after(&mut t, secs(1));
    assert!(delay <= ms(4), "ACK of the FIN after {delay}");
    assert_eq!(summaries(&take_to_c(&mut t)), ["."]);
}

/// Linux tcp_fin: from FIN_WAIT_1 (and FIN_WAIT_2) the peer's FIN is ACKed at once
/// (inet_csk_schedule_ack with ICSK_ACK_NOW semantics via tcp_send_ack): crossed FINs each
/// get an immediate ACK, and both sides go through CLOSING.
#[test]
fn fin_in_fin_wait_1_is_acked_at_once() {
    let one_way = ms(1);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    request_reply(&mut t, c, s, one_way);
    t.advance(ms(100));
    t.c.close(t.now, c).unwrap();
    t.s.close(t.now, s).unwrap();
    let (c_fin, s_fin) = (take_to_s(&mut t), take_to_c(&mut t));
    assert_eq!(
        (summaries(&c_fin), summaries(&s_fin)),
        (vec!["F.".into()], vec!["F.".into()])
    );
    t.advance(one_way);
    to_server(&mut t, &c_fin[0]);
    to_client(&mut t, &s_fin[0]);
    assert_eq!(t.pending_to_c(), ["."], "the server's ACK, at once");
    assert_eq!(t.pending_to_s(), ["."], "the client's ACK, at once");
    assert_eq!(path(&t.c_log)[3..5], ["FIN_WAIT_1", "CLOSING"]);
}

// -------------------------------------------------------------------------------------------
// SACK blocks, SACK compression, D-SACK (tcp_input.c)

/// Linux tcp_data_queue_ofo and tcp_sack_new_ofo_skb (RFC 2018 §4): each out-of-order
/// segment gets a duplicate ACK at once with a SACK block; the block holding the newest
/// segment comes first (a block it joins moves to the front); beside timestamps at most 3
/// blocks fit (FINDINGS §4: `sack 3 {34753:36201}{31857:33305}{28961:30409}`). Without SACK
/// (rfc_rules) the duplicate ACK carries no block.
#[test]
fn out_of_order_data_gets_a_duplicate_ack_with_the_newest_block_first() {
    let (mut t, c, _s) = connected(linux(1000), linux(5000), ms(1));
    let segs = flight(&mut t, c, 10, MSS);
    let answer = |t: &mut Pair, i: usize| {
        to_server(t, &segs[i]);
        let out = take_to_c(t);
        assert_eq!(out.len(), 1, "one ACK at once for segment {i}");
        (out[0].segment.ack.0, blocks(&out[0], &segs))
    };
    let una = segs[1].segment.seq.0;
    assert_eq!(answer(&mut t, 0), (una, vec![]));
    assert_eq!(answer(&mut t, 2), (una, vec![(2, 3)]));
    assert_eq!(answer(&mut t, 4), (una, vec![(4, 5), (2, 3)]));
    assert_eq!(answer(&mut t, 6), (una, vec![(6, 7), (4, 5), (2, 3)]));
    assert_eq!(
        answer(&mut t, 8),
        (una, vec![(8, 9), (6, 7), (4, 5)]),
        "3 blocks at most"
    );
    assert_eq!(
        answer(&mut t, 3),
        (una, vec![(2, 5), (8, 9), (6, 7)]),
        "joined, first"
    );

    dup_ack_has_no_sack_block(linux(1000), rfc_rules(5000));
}

/// Linux tcp_data_queue (RFC 5681 §4.2): the segment that fills the last hole is ACKed at
/// once (ICSK_ACK_NOW), even in ping-pong mode, and the ACK has no SACK block any more
/// (FINDINGS §4: `ack 72401` with "no SACK option any more").
#[test]
fn filling_the_hole_is_acked_at_once_and_the_sack_blocks_go() {
    let one_way = ms(1);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    request_reply(&mut t, c, s, one_way);
    let segs = flight(&mut t, c, 3, 100);
    to_server(&mut t, &segs[0]);
    assert!(
        t.pending_to_c().is_empty(),
        "ping-pong: in-order data waits"
    );
    to_server(&mut t, &segs[2]);
    let dup = take_to_c(&mut t);
    assert_eq!(blocks(&dup[0], &segs), [(2, 3)]);
    to_server(&mut t, &segs[1]);
    let ack = take_to_c(&mut t);
    assert_eq!(summaries(&ack), ["."], "at once");
    assert_eq!(acks(&ack), [segs[2].segment.seq.0 + 100]);
    assert!(ack[0].segment.options.sack.is_empty());
}

/// Linux __tcp_ack_snd_check (tcp_comp_sack_delay_ns, TCP_FASTRETRANS_THRESH): the first
/// three duplicate ACKs for one RCV.NXT go at once; later ones are compressed into one sent
/// after 5 % of the SRTT, at most 1 ms (FINDINGS §4: one ACK for 3 segments 1.1 ms later,
/// TCPAckCompressed). RFC rules (no SACK) send every duplicate at once.
#[test]
fn duplicate_acks_after_the_third_are_compressed() {
    for (server, compressed) in [(linux(5000), true), (rfc_rules(5000), false)] {
        // RTT 10 ms: the compression delay is 0.5 ms.
        let one_way = ms(5);
        let (mut t, c, s) = connected(linux(1000), server, one_way);
        request_reply(&mut t, c, s, one_way);
        let segs = flight(&mut t, c, 10, 100);
        to_server(&mut t, &segs[0]);
        for i in [2, 4, 6] {
            to_server(&mut t, &segs[i]);
            assert_eq!(t.pending_to_c().len(), 1, "duplicate for {i} at once");
            take_to_c(&mut t);
        }
        to_server(&mut t, &segs[8]);
        if !compressed {
            assert_eq!(t.pending_to_c(), ["."], "rfc: the fourth at once too");
            continue;
        }
        assert!(t.pending_to_c().is_empty(), "the fourth duplicate waits");
        to_server(&mut t, &segs[9]);
        assert!(t.pending_to_c().is_empty(), "so does the fifth");
        let delay = server_speaks_after(&mut t, ms(10));
        assert_eq!(us(delay), 500, "5 % of the 10 ms SRTT");
        let ack = take_to_c(&mut t);
        assert_eq!(ack.len(), 1, "one ACK for both");
        assert_eq!(blocks(&ack[0], &segs), [(8, 10), (6, 7), (4, 5)]);
    }
}

/// Linux tcp_send_dupack and tcp_dsack_set (RFC 2883 §4): data we already have means our ACK
/// was lost: the answer goes at once with a D-SACK block first (below RCV.NXT, before the
/// other blocks), and the receiver leaves ping-pong for quick-ACK mode
/// (tcp_enter_quickack_mode), so the next segment is ACKed at once too.
#[test]
fn duplicate_data_gets_a_dsack_block_and_quick_ack_mode() {
    let one_way = ms(1);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    request_reply(&mut t, c, s, one_way);
    let segs = flight(&mut t, c, 4, 100);
    to_server(&mut t, &segs[0]);
    assert!(t.pending_to_c().is_empty(), "ping-pong: delayed");
    to_server(&mut t, &segs[2]);
    assert_eq!(blocks(&take_to_c(&mut t)[0], &segs), [(2, 3)]);
    to_server(&mut t, &segs[0]);
    let dsack = take_to_c(&mut t);
    assert_eq!(acks(&dsack), [segs[1].segment.seq.0]);
    assert_eq!(blocks(&dsack[0], &segs), [(0, 1), (2, 3)], "D-SACK first");
    to_server(&mut t, &segs[1]);
    take_to_c(&mut t);
    to_server(&mut t, &segs[3]);
    assert_eq!(t.pending_to_c(), ["."], "quick-ACK mode: at once");
}

// -------------------------------------------------------------------------------------------
// Linux RTO, RTT samples, tail loss probes (tcp_input.c, tcp_output.c, tcp_timer.c)

/// A connection with `one_way` each way that has carried one request and reply, idle 50 ms
/// after it (FINDINGS §3's setup).
fn after_one_exchange(client: TcpConfig, one_way: SimDuration) -> (Pair, SocketId, SocketId) {
    let (mut t, c, s) = connected(client, linux(5000), one_way);
    request_reply(&mut t, c, s, one_way);
    t.advance(ms(50));
    t.exchange();
    assert!(t.pending_to_s().is_empty());
    (t, c, s)
}

/// Linux __tcp_set_rto (RTO = SRTT + max(mdev, 200 ms)), tcp_schedule_loss_probe (with one
/// segment out the PTO is 2·SRTT + 200 ms, clamped to the RTO) and tcp_retransmit_timer: a
/// lost FIN goes again as a tail loss probe at the RTO, ≈ 204-208 ms after it with RTT 2 ms
/// and 212-216 ms with RTT 10 ms; the RTO after the probe is not doubled (+204-208 / +212-216
/// ms), the next one is. FINDINGS §3 (FIN dropped 3×): Δ205.0, +208.0, +424.0 at RTT 2.2 ms;
/// Δ214.4, +216.0, +436.0 at RTT 10.3 ms.
#[test]
fn linux_rto_is_srtt_plus_200_ms_and_the_first_resend_is_a_loss_probe() {
    for (one_way, rto) in [(ms(1), ms(202)), (ms(5), ms(210))] {
        let (mut t, c, _s) = after_one_exchange(linux(1000), one_way);
        t.c.close(t.now, c).unwrap();
        assert_eq!(t.lose_to_s(), ["F."]);
        // The RTO in whole 4 ms jiffies, rounded up, plus the wheel's one tick.
        let jiffies = rto.as_nanos().div_ceil(ms(4).as_nanos());
        let (low, high) = (ms(4 * jiffies), ms(4 * jiffies + 4));
        let probe = client_speaks_after(&mut t, secs(2));
        assert!(low < probe && probe <= high, "probe after {probe}");
        assert_eq!(t.lose_to_s(), ["F."]);
        assert_eq!(
            (t.c.counters().loss_probes, t.c.counters().timeouts),
            (1, 0)
        );
        let first_rto = client_speaks_after(&mut t, secs(2));
        assert!(
            low < first_rto && first_rto <= high,
            "first RTO after {first_rto}: not doubled"
        );
        assert_eq!(t.lose_to_s(), ["F."]);
        assert_eq!(
            (t.c.counters().loss_probes, t.c.counters().timeouts),
            (1, 1)
        );
        let second_rto = client_speaks_after(&mut t, secs(2));
        assert!(
            low * 2 < second_rto && second_rto <= low * 2 + ms(32),
            "second RTO after {second_rto}: doubled, on 32 ms wheel steps"
        );
        assert_eq!(t.c.counters().timeouts, 2);
    }
}

/// RFC 6298 (rfc_rules): RTO = max(200 ms, SRTT + 4·RTTVAR), exact, no loss probe: the lost
/// FIN goes again after exactly 200 ms as a timeout, then after 400 ms.
#[test]
fn rfc_rto_resends_a_lost_fin_at_the_200_ms_floor_then_doubles() {
    let (mut t, c, _s) = after_one_exchange(rfc_rules(1000), ms(1));
    t.c.close(t.now, c).unwrap();
    assert_eq!(t.lose_to_s(), ["F."]);
    assert_eq!(client_speaks_after(&mut t, secs(2)), ms(200));
    assert_eq!(t.lose_to_s(), ["F."]);
    assert_eq!(client_speaks_after(&mut t, secs(2)), ms(400));
    assert_eq!(
        (t.c.counters().loss_probes, t.c.counters().timeouts),
        (0, 2)
    );
}

/// Linux tcp_ack_update_rtt (RFC 7323 §4): the ACK of retransmitted data gives an RTT sample
/// from the echoed timestamp, and a valid sample clears the back-off: after two timeouts the
/// next loss waits SRTT + 200 ms again. rfc_rules without timestamps follow Karn (RFC 6298
/// §5.7): no sample, the RTO stays backed off (4 × 200 ms).
#[test]
fn ack_of_a_retransmission_is_timed_by_its_timestamp_and_clears_the_back_off() {
    let no_tlp = |cfg: TcpConfig| TcpConfig {
        tail_loss_probe: false,
        ..cfg
    };
    let karn = TcpConfig {
        timestamps: false,
        ..rfc_rules(1000)
    };
    for (client, low, high) in [
        (no_tlp(linux(1000)), ms(202), ms(208)),
        (karn, ms(800), ms(800)),
    ] {
        let one_way = ms(1);
        let (mut t, c, _s) = connected(client, linux(5000), one_way);
        t.c.send(t.now, c, &[1; 100]).unwrap();
        assert_eq!(t.lose_to_s(), ["P. 100"]);
        client_speaks_after(&mut t, secs(2));
        assert_eq!(t.lose_to_s(), ["P. 100"]);
        client_speaks_after(&mut t, secs(2));
        assert_eq!(t.c.counters().timeouts, 2);
        arrive_at_s(&mut t, one_way);
        assert_eq!(arrive_at_c(&mut t, one_way), ["."]);
        assert_eq!(t.c.unacked(c), 0);
        t.c.send(t.now, c, &[2; 100]).unwrap();
        assert_eq!(t.lose_to_s(), ["P. 100"]);
        let next = client_speaks_after(&mut t, secs(5));
        assert!(low <= next && next <= high, "next RTO after {next}");
    }
}

/// Linux tcp_schedule_loss_probe and tcp_send_loss_probe (RFC 8985 §7): when the tail of a
/// flight is lost (two segments out), a probe goes 2·SRTT + 2 ms after the last ACK
/// (rounded up to the tick), not at the RTO, and it resends the LAST segment; the SACK of
/// the probe then lets RACK resend the other. One probe per episode: when the probe is lost
/// too, no second probe goes even when new data is sent; the RTO follows. rfc_rules: no probe, the first unacknowledged segment at the RTO.
#[test]
fn tail_loss_probe_resends_the_last_segment_two_srtt_after_the_last_ack() {
    let one_way = ms(10);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    let segs = flight(&mut t, c, 4, MSS);
    t.advance(one_way);
    to_server(&mut t, &segs[0]);
    to_server(&mut t, &segs[1]);
    assert_eq!(arrive_at_c(&mut t, one_way), [".", "."]);
    let pto = client_speaks_after(&mut t, secs(1));
    assert!(ms(42) <= pto && pto <= ms(42) + ms(8), "probe after {pto}");
    let probe = take_to_s(&mut t);
    assert_eq!(seqs(&probe), seqs(&segs[3..]), "the last segment");
    assert_eq!(t.c.counters().loss_probes, 1);
    assert!(noted(&t.c_log, Note::TailLossProbe));
    // The probe is lost too, and new data follows it (lost as well): its send schedules a
    // probe again, but the episode is open, so no second probe goes: the RTO resends from
    // the first hole.
    t.c.send(t.now, c, &[7; 100]).unwrap();
    assert_eq!(t.lose_to_s(), ["P. 100"]);
    let rto = client_speaks_after(&mut t, secs(2));
    // Linux's RTO: SRTT (20 ms) + 200 ms at least, restarted when the probe went.
    assert!(rto >= ms(220), "the RTO, after {rto}");
    assert_eq!(seqs(&take_to_s(&mut t))[..1], seqs(&segs[2..3]));
    assert_eq!(
        (t.c.counters().loss_probes, t.c.counters().timeouts),
        (1, 1)
    );

    let (mut t, c, _s) = connected(rfc_rules(1000), rfc_rules(5000), one_way);
    let segs = flight(&mut t, c, 3, MSS);
    t.advance(one_way);
    to_server(&mut t, &segs[0]);
    t.advance(ms(40)); // the delayed ACK
    arrive_at_c(&mut t, one_way);
    let rto = client_speaks_after(&mut t, secs(2));
    assert_eq!(seqs(&take_to_s(&mut t)), seqs(&segs[1..2]));
    // RFC 6298: max(200 ms, SRTT 20 ms + 4 · RTTVAR 10 ms), exact, restarted by the ACK.
    assert_eq!(rto, ms(200), "rfc: the RTO");
    assert_eq!(t.c.counters().loss_probes, 0);
}

/// Linux tcp_send_loss_probe: if new data waits and the window allows it, the probe sends
/// that (Nagle off for it, TCP_NAGLE_OFF) rather than resending; it is not a retransmission.
/// Here Minshall's Nagle holds 50 bytes behind an unacknowledged 100-byte segment that is lost.
#[test]
fn tail_loss_probe_sends_new_data_when_some_waits() {
    let one_way = ms(10);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    t.c.send(t.now, c, &[1; 100]).unwrap();
    t.c.send(t.now, c, &[2; 50]).unwrap();
    assert_eq!(t.lose_to_s(), ["P. 100"], "the 50 bytes wait (Nagle)");
    client_speaks_after(&mut t, secs(1));
    let probe = take_to_s(&mut t);
    assert_eq!(summaries(&probe), ["P. 50"]);
    assert_eq!(seqs(&probe), [1101]);
    assert_eq!(t.c.counters().loss_probes, 1);
    assert_eq!(t.c.counters().retransmits, 0, "new data, not a resend");
}

/// Linux tcp_process_tlp_ack: a probe that resent data and was followed by an ACK beyond it
/// (SND.NXT at the probe) repaired a loss: cwnd is reduced once (CWR, tcp_init_cwnd_reduction
/// then tcp_end_cwnd_reduction: cwnd = ssthresh, half of it for Reno). The ACK of the probe
/// itself is not beyond it, so the next flight still has the full window; the first ACK of
/// that flight halves it.
#[test]
fn tail_loss_probe_that_repaired_a_loss_reduces_cwnd() {
    let one_way = ms(10);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    let segs = flight(&mut t, c, 3, MSS);
    t.advance(one_way);
    to_server(&mut t, &segs[0]);
    to_server(&mut t, &segs[1]);
    arrive_at_c(&mut t, one_way);
    client_speaks_after(&mut t, secs(1));
    assert_eq!(t.c.counters().loss_probes, 1);
    assert_eq!(arrive_at_s(&mut t, one_way), ["P. 1448"]);
    arrive_at_c(&mut t, one_way);
    assert_eq!(t.c.unacked(c), 0, "the probe repaired the loss");
    t.s_read(s);
    // cwnd: 10 segments, +3 for the three acknowledged.
    let next = flight(&mut t, c, 13, MSS);
    t.c.send(t.now, c, &vec![9; 10 * MSS]).unwrap();
    assert!(t.pending_to_s().is_empty(), "13 segments fill cwnd");
    t.advance(one_way);
    to_server(&mut t, &next[0]);
    arrive_at_c(&mut t, one_way);
    assert!(
        t.pending_to_s().is_empty(),
        "cwnd halved: 12 in flight is above it (without CWR, slow start sends 2)"
    );
}

// -------------------------------------------------------------------------------------------
// SACK negotiation and SACK-based recovery (tcp_input.c, tcp_recovery.c)

/// Linux tcp_syn_options / tcp_synack_options and tcp_options_write: SYN and SYN-ACK carry
/// `mss,sackOK,TS,nop,wscale 7` (the scale for a 6 MiB tcp_rmem[2]); the SYN offers 64 240
/// (44 × 1460), the SYN-ACK 65 160 (45 × 1448) (FINDINGS, handshake facts; wscale 10 there
/// for a 32 MiB tcp_rmem[2]). The rfc profile offers none of them; SACK is used only if both
/// offered it (RFC 2018 §2).
#[test]
fn syn_and_syn_ack_offer_sack_in_linux_option_order() {
    let mut t = Pair::linux();
    t.s.listen(t.now, PORT, 8).unwrap();
    t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    let syn = take_to_s(&mut t);
    let text = syn[0].to_string();
    assert!(
        text.contains("[S] seq 1000 win 64240 options [mss 1460,sackOK,TS val"),
        "{text}"
    );
    assert!(text.ends_with("ecr 0,nop,wscale 7] len 0"), "{text}");
    to_server(&mut t, &syn[0]);
    let text = take_to_c(&mut t)[0].to_string();
    assert!(text.contains("[S.] seq 5000 ack 1001 win 65160 options [mss 1460,sackOK,TS val"));
    assert!(text.ends_with(",nop,wscale 7] len 0"), "{text}");

    let rfc = |isn| TcpConfig {
        isn: netsim_tcp::IsnMode::Fixed(isn),
        ..TcpConfig::rfc()
    };
    let mut t = Pair::new(rfc(1000), rfc(5000));
    t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    let text = take_to_s(&mut t)[0].to_string();
    assert!(
        text.ends_with("win 65535 options [mss 1460] len 0"),
        "{text}"
    );

    // A linux server answering a SYN without sackOK offers no SACK, and sends no blocks.
    let no_sack = TcpConfig {
        sack: false,
        ..linux(1000)
    };
    dup_ack_has_no_sack_block(no_sack, linux(5000));
}

/// Linux tcp_fastretrans_alert with RACK (tcp_rack_detect_loss: reo_wnd 0 once three
/// segments are SACKed) and tcp_cwnd_reduction (PRR): three segments lost in one flight
/// (FINDINGS §4: drops 20, 22, 24). Fast recovery starts on the ACK that makes 3 segments
/// SACKed, which marks all three holes lost at once; PRR lets one segment out per segment
/// delivered, so the holes go on that ACK and the next two, all within the first round trip
/// (before any of them is acknowledged), with no timeout.
#[test]
fn sack_recovers_three_losses_of_one_flight_in_one_round_trip() {
    let one_way = ms(10);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    let segs = flight(&mut t, c, 10, MSS);
    t.advance(one_way);
    for i in [0, 1, 3, 5, 7, 8, 9] {
        to_server(&mut t, &segs[i]);
    }
    let answers = take_to_c(&mut t);
    assert_eq!(answers.len(), 7, "one ACK per segment");
    t.advance(one_way);
    let mut resent_per_ack = Vec::new();
    for a in &answers {
        to_client(&mut t, a);
        resent_per_ack.push(seqs(&take_to_s(&mut t)));
    }
    let hole = |i: usize| vec![segs[i].segment.seq.0];
    // ACKs for 0 and 1, then SACKs of 3, 5 and 7: the third SACKed segment starts recovery.
    assert_eq!(
        resent_per_ack,
        [vec![], vec![], vec![], vec![], hole(2), hole(4), hole(6)]
    );
    assert!(noted(&t.c_log, Note::SackRecovery));
    let counters = t.c.counters();
    assert_eq!((counters.sack_recoveries, counters.timeouts), (1, 0));
}

/// Linux tcp_rack_detect_loss: RACK marks every hole sent before the newest SACKed segment,
/// not only those with three SACKed segments above (RFC 6675's IsLost, `rack: false`). With
/// no SACK after the third, the holes above the first still count as lost: the ACK of the
/// first hole's resend lets the other two out at once; without RACK they wait for a timer.
#[test]
fn rack_marks_every_hole_below_the_newest_sack_lost_at_once() {
    for (client, at_once) in [
        (linux(1000), true),
        (
            TcpConfig {
                rack: false,
                ..linux(1000)
            },
            false,
        ),
    ] {
        let one_way = ms(10);
        let (mut t, c, _s) = connected(client, linux(5000), one_way);
        let segs = flight(&mut t, c, 8, MSS);
        t.advance(one_way);
        for i in [0, 1, 3, 5, 7] {
            to_server(&mut t, &segs[i]);
        }
        arrive_at_c(&mut t, one_way);
        let first = t.hold_to_s();
        assert_eq!(seqs(&first), [segs[2].segment.seq.0]);
        t.advance(one_way);
        to_server(&mut t, &first[0]);
        arrive_at_c(&mut t, one_way);
        let next = seqs(&t.hold_to_s());
        let expected = if at_once {
            vec![segs[4].segment.seq.0, segs[6].segment.seq.0]
        } else {
            vec![]
        };
        assert_eq!(next, expected, "after the partial ACK, at_once={at_once}");
    }
}

/// RFC 6582 (rfc_rules, NewReno without SACK): the same three losses take three round trips,
/// one hole resent per partial ACK.
#[test]
fn newreno_without_sack_resends_one_hole_per_round_trip() {
    let one_way = ms(10);
    let (mut t, c, _s) = connected(rfc_rules(1000), rfc_rules(5000), one_way);
    let segs = flight(&mut t, c, 10, MSS);
    t.advance(one_way);
    for i in [0, 1, 3, 5, 7, 8, 9] {
        to_server(&mut t, &segs[i]);
    }
    let mut per_round_trip = Vec::new();
    while t.c.unacked(c) > 0 && per_round_trip.len() < 10 {
        arrive_at_c(&mut t, one_way);
        let resent = take_to_s(&mut t);
        per_round_trip.push(seqs(&resent));
        t.advance(one_way);
        for p in &resent {
            to_server(&mut t, p);
        }
    }
    let hole = |i: usize| vec![segs[i].segment.seq.0];
    assert_eq!(per_round_trip, [hole(2), hole(4), hole(6), vec![]]);
    assert_eq!(t.c.counters().timeouts, 0);
}

/// Linux tcp_rack_detect_loss and tcp_rack_reo_timeout (RFC 8985 §6.2-6.3): with fewer than
/// 3 segments SACKed, a segment sent before a delivered one is lost once RTT + reo_wnd
/// (min_rtt / 4) has passed since it was sent; the reordering timer (plus TCP_TIMEOUT_MIN, 2
/// ticks) resends it then, long before the RTO or a loss probe.
#[test]
fn rack_marks_a_segment_lost_after_rtt_plus_a_quarter_min_rtt() {
    let one_way = ms(10);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    let segs = flight(&mut t, c, 2, MSS);
    let sent = t.now;
    t.advance(one_way);
    to_server(&mut t, &segs[1]);
    arrive_at_c(&mut t, one_way);
    client_speaks_after(&mut t, secs(1));
    let after = t.now - sent;
    // RTT 20 ms + reo_wnd 5 ms, then the timer: 2 ticks and wheel rounding.
    assert!(
        ms(25) <= after && after <= ms(25) + ms(16),
        "resent {after} after sending"
    );
    assert_eq!(seqs(&take_to_s(&mut t)), seqs(&segs[..1]));
    assert!(noted(&t.c_log, Note::SackRecovery));
    let counters = t.c.counters();
    assert_eq!((counters.loss_probes, counters.timeouts), (0, 0));
}

// -------------------------------------------------------------------------------------------
// Keep-alive (tcp_timer.c tcp_keepalive_timer)

/// TCP_KEEPIDLE 2 s, TCP_KEEPINTVL 1 s, TCP_KEEPCNT 3, as FINDINGS §6 measured.
fn keepalive_on(t: &mut Pair, c: SocketId) {
    t.c.set_keepalive(t.now, c, true, Some(secs(2)), Some(secs(1)), Some(3))
        .unwrap();
}

/// Linux do_tcp_setsockopt: TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT of 0 are EINVAL,
/// each on its own; turning keep-alive off needs none of them.
#[test]
fn keepalive_settings_of_zero_are_invalid() {
    let mut t = Pair::linux();
    let (c, _s) = t.establish();
    let zero = SimDuration::ZERO;
    // Linux do_tcp_setsockopt: 1..=32 767 s (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL) and
    // 1..=127 probes (MAX_TCP_KEEPCNT); the largest values are valid.
    assert_eq!(
        t.c.set_keepalive(
            t.now,
            c,
            true,
            Some(secs(32_767)),
            Some(secs(32_767)),
            Some(127)
        ),
        Ok(())
    );
    for (idle, interval, probes) in [
        (Some(zero), Some(secs(1)), Some(3)),
        (Some(secs(2)), Some(zero), Some(3)),
        (Some(secs(2)), Some(secs(1)), Some(0)),
        (Some(secs(32_768)), Some(secs(1)), Some(3)),
        (Some(secs(2)), Some(secs(32_768)), Some(3)),
        (Some(secs(2)), Some(secs(1)), Some(128)),
    ] {
        assert_eq!(
            t.c.set_keepalive(t.now, c, true, idle, interval, probes),
            Err(Errno::Invalid),
            "{idle:?} {interval:?} {probes:?}"
        );
    }
    assert_eq!(
        t.c.set_keepalive(t.now, c, false, Some(zero), None, Some(0)),
        Ok(())
    );
}

/// Linux tcp_keepalive_timer and tcp_write_wakeup/tcp_xmit_probe_skb: after `idle` without a
/// segment from the peer, a probe: an empty ACK with SEQ = SND.UNA − 1, which the peer
/// answers with an ACK; the answer restarts the idle clock, so the next probe comes `idle`
/// after it, not `interval` (FINDINGS §6a: probes 2012 ms after the last segment and 2017.7
/// ms after each answer).
#[test]
fn keepalive_probe_is_snd_una_minus_one_and_an_answer_restarts_the_idle_clock() {
    let one_way = ms(1);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    request_reply(&mut t, c, s, one_way);
    keepalive_on(&mut t, c);
    let quiet = client_speaks_after(&mut t, secs(10));
    assert!(
        secs(2) <= quiet && quiet <= secs(2) + ms(32),
        "first probe after {quiet}"
    );
    let probe = take_to_s(&mut t);
    assert_eq!(summaries(&probe), ["."]);
    assert_eq!(seqs(&probe), [1001 + 64 - 1], "SND.UNA - 1");
    to_server(&mut t, &probe[0]);
    let answer = take_to_c(&mut t);
    assert_eq!(
        (summaries(&answer), acks(&answer)),
        (vec![".".into()], vec![1065])
    );
    t.advance(one_way);
    to_client(&mut t, &answer[0]);
    let again = client_speaks_after(&mut t, secs(10));
    assert!(
        secs(2) <= again && again <= secs(2) + ms(32),
        "next probe {again} after the answer"
    );
    assert_eq!(t.c.counters().keepalive_probes, 2);
    assert_eq!(t.c.state_of(c), Ok(State::Established));
}

/// Linux tcp_keepalive_timer: unanswered probes go every `interval`; after `probes` of them
/// the connection sends a RST (SEQ = SND.NXT) and fails with ETIMEDOUT. FINDINGS §6b: probes
/// at +2029.7, +1024, +1024 ms, RST and ETIMEDOUT +1024 ms later, ≈ 5.1 s after the last
/// segment (1 s intervals are 1.024 s on the timer wheel).
#[test]
fn keepalive_unanswered_probes_end_in_rst_and_etimedout() {
    let one_way = ms(1);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    request_reply(&mut t, c, s, one_way);
    let last_heard = t.now;
    keepalive_on(&mut t, c);
    let mut gaps = Vec::new();
    for _ in 0..3 {
        gaps.push(client_speaks_after(&mut t, secs(10)));
        assert_eq!(summaries(&t.hold_to_s()), ["."], "a probe, lost");
    }
    gaps.push(client_speaks_after(&mut t, secs(10)));
    let rst = take_to_s(&mut t);
    assert_eq!(summaries(&rst), ["R."]);
    assert_eq!(seqs(&rst), [1065], "SND.NXT");
    assert!(gaps[0] >= secs(2) && gaps[0] <= secs(2) + ms(32));
    assert_eq!(gaps[1..], [ms(1024); 3]);
    let total = t.now - last_heard;
    assert!(
        secs(5) <= total && total <= ms(5_120),
        "ETIMEDOUT after {total}"
    );
    assert_eq!(errors(&t.c_log), ["ETIMEDOUT"]);
    assert!(t.c_sock.contains(&SocketEvent::Failed(c, Errno::TimedOut)));
    assert_eq!(t.c.state_of(c), Ok(State::Closed));
}

/// RFC 9293 §3.10.7.1 on the peer's side, Linux tcp_reset on ours: a peer that lost the
/// connection (a restarted host: a fresh stack at the same address) answers the probe with a
/// RST (SEQ = the probe's ACK), and the connection fails with ECONNRESET (FINDINGS §6c).
#[test]
fn keepalive_probe_to_a_restarted_peer_gets_rst_and_econnreset() {
    let one_way = ms(1);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    request_reply(&mut t, c, s, one_way);
    keepalive_on(&mut t, c);
    t.s = TcpStack::new(SERVER, linux(5000), 2);
    client_speaks_after(&mut t, secs(10));
    arrive_at_s(&mut t, one_way);
    let rst = take_to_c(&mut t);
    assert_eq!(
        (summaries(&rst), seqs(&rst)),
        (vec!["R".into()], vec![5065])
    );
    t.advance(one_way);
    to_client(&mut t, &rst[0]);
    assert_eq!(errors(&t.c_log), ["ECONNRESET"]);
    assert_eq!(t.c.state_of(c), Ok(State::Closed));
}

// -------------------------------------------------------------------------------------------
// PAWS (tcp_input.c tcp_paws_discard)

/// Linux tcp_paws_discard: a reordered duplicate ACK whose TSval is older than TS.Recent
/// (tcp_disordered_ack: pure, at RCV.NXT, ACK = SND.UNA, same window, age within the RTO)
/// is not dropped, nor is a segment one tick older than TS.Recent (TCP_PAWS_WINDOW); RFC 7323
/// §5.3 (`paws_linux_exemptions: false`) drops both and answers each with an ACK.
#[test]
fn paws_lets_a_reordered_duplicate_ack_and_a_one_tick_old_segment_through() {
    let rfc_paws = TcpConfig {
        paws_linux_exemptions: false,
        ..linux(1000)
    };
    for (client, rejected) in [(linux(1000), false), (rfc_paws, true)] {
        let one_way = ms(5);
        let (mut t, c, s) = connected(client, linux(5000), one_way);
        let segs = flight(&mut t, c, 3, 100);
        t.advance(one_way);
        // Segment 0 is late: the server sends two duplicate ACKs 20 ms apart.
        to_server(&mut t, &segs[1]);
        let older = take_to_c(&mut t);
        t.advance(ms(20));
        to_server(&mut t, &segs[2]);
        let newer = take_to_c(&mut t);
        assert_eq!(tsval(&newer[0]) - tsval(&older[0]), 20);
        t.advance(one_way);
        to_client(&mut t, &newer[0]);
        to_client(&mut t, &older[0]);
        assert_eq!(t.c.counters().paws_rejects, u64::from(rejected));
        // (A tail loss probe of segment 2 went meanwhile: only pure ACKs count here.)
        let answers = t
            .hold_to_s()
            .iter()
            .filter(|p| p.segment.payload.is_empty())
            .count();
        assert_eq!(answers, usize::from(rejected), "an ACK for a reject");
        // Data one tick older than TS.Recent.
        t.s.send(t.now, s, &[2; 10]).unwrap();
        let data = take_to_c(&mut t);
        t.advance(one_way);
        to_client(&mut t, &with_tsval(&data[0], tsval(&newer[0]) - 1));
        assert_eq!(t.c.counters().paws_rejects, 2 * u64::from(rejected));
        let read = if rejected { 0 } else { 10 };
        assert_eq!(t.c.readable(c), read, "the one-tick-old data");
    }
}

// -------------------------------------------------------------------------------------------
// The timer wheel (kernel/time/timer.c)

/// Linux's timer wheel at HZ 250 (calc_wheel_index, calc_index): a timeout becomes whole
/// 4 ms jiffies and lands in the first bucket after it: one jiffy apart below 63 jiffies, 8
/// (32 ms) below 504, 64 (256 ms) below 4032, 512 (2.048 s) beyond. So a 1 s SYN RTO fires at
/// 1.024 s (FINDINGS §3: 1023), a 2 s keep-alive idle at 2.016 s, a 3 s one at 3.072 s and a
/// 20 s one at 20.48 s; a 40 ms delayed ACK armed at 0.5 ms fires at 44 ms. rfc_rules' timers
/// are exact.
#[test]
fn timers_land_on_linux_timer_wheel_buckets() {
    // SYN RTO.
    for (cfg, at) in [(linux(1000), ms(1024)), (rfc_rules(1000), ms(1000))] {
        let mut t = Pair::new(cfg, linux(5000));
        t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
        t.lose_to_s();
        assert_eq!(client_speaks_after(&mut t, secs(5)), at);
    }
    // Keep-alive idle times, armed at 0 (the handshake took no time).
    for (idle, at) in [(2, ms(2016)), (3, ms(3072)), (20, ms(20_480))] {
        let mut t = Pair::linux();
        let (c, _s) = t.establish();
        t.c.set_keepalive(t.now, c, true, Some(secs(idle)), None, None)
            .unwrap();
        assert_eq!(client_speaks_after(&mut t, secs(30)), at, "idle {idle} s");
    }
    // Delayed ACK: ping-pong after one exchange, then a request arrives at 60.5 ms.
    let one_way = ms(1);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    request_reply(&mut t, c, s, one_way);
    t.advance(SimTime::after(SimDuration::from_micros(59_500)) - t.now);
    t.c.send(t.now, c, &[1; 64]).unwrap();
    arrive_at_s(&mut t, one_way);
    assert_eq!(now_us(&t), 60_500);
    assert_eq!(
        server_speaks_after(&mut t, secs(1)),
        SimDuration::from_micros(43_500)
    );
}

// -------------------------------------------------------------------------------------------
// Old segments that cross our pending ACK (found by `netsim kernel` on a link with loss and
// duplication, 2026-12-01)

/// Linux tcp_data_queue / tcp_send_dupack: a duplicate FIN is answered at once with a D-SACK
/// of the FIN's sequence number (RFC 2883 §4), every time: a segment that occupies sequence
/// space is never part of an ACK loop (tcp_oow_rate_limited), so no rate limit applies.
#[test]
fn a_duplicate_fin_gets_a_dsack_every_time() {
    let mut t = Pair::linux();
    let (fd, _) = t.establish();
    t.c.shutdown(t.now, fd).unwrap();
    let fin = take_to_s(&mut t);
    assert_eq!(summaries(&fin), ["F."]);
    to_server(&mut t, &fin[0]);
    assert_eq!(
        t.pending_to_c(),
        Vec::<String>::new(),
        "the ACK of a FIN is delayed"
    );
    let fin_seq = fin[0].segment.seq;
    // Three copies at once: the answers to invalid pure ACKs would be limited to one.
    for copy in 0..3 {
        to_server(&mut t, &fin[0]);
        let answer = take_to_c(&mut t);
        assert_eq!(summaries(&answer), ["."], "copy {copy}");
        let s = &answer[0].segment;
        assert_eq!(s.ack, fin_seq.add(1), "copy {copy}");
        assert_eq!(
            s.options.sack.as_slice(),
            [(fin_seq, fin_seq.add(1))],
            "copy {copy}: the D-SACK covers the FIN"
        );
    }
}

/// Linux tcp_sequence: a segment is old only when it ends before rcv_wup, the RCV.NXT our
/// last ACK carried. A pure ACK sent before our peer saw our pending (delayed) ACK of its FIN
/// is processed quietly; RFC 9293's test calls it unacceptable and answers it.
#[test]
fn a_pure_ack_that_crosses_our_delayed_ack_is_not_answered() {
    for linux_sequence_check in [true, false] {
        let mut cfg = linux(1000);
        cfg.linux_sequence_check = linux_sequence_check;
        let mut t = Pair::new(cfg.clone(), cfg);
        let (fd, _) = t.establish();
        t.c.shutdown(t.now, fd).unwrap();
        let fin = take_to_s(&mut t);
        to_server(&mut t, &fin[0]);
        assert_eq!(
            t.pending_to_c(),
            Vec::<String>::new(),
            "the ACK of the FIN waits"
        );
        // A pure ACK the client sent before its FIN: SEG.SEQ = RCV.NXT - 1 = rcv_wup.
        let mut ack = fin[0].clone();
        ack.segment.flags = netsim_core::TcpFlags::ACK;
        to_server(&mut t, &ack);
        let answer = take_to_c(&mut t);
        assert_eq!(
            answer.is_empty(),
            linux_sequence_check,
            "linux_sequence_check {linux_sequence_check}: {:?}",
            summaries(&answer)
        );
    }
}

/// Linux tcp_schedule_loss_probe (RFC 8985 §7.2: "if SRTT is not available, PTO = 1 s"):
/// with no RTT sample yet (the SYN was resent and there are no timestamps, so Karn leaves the
/// handshake untimed) the probe waits TCP_TIMEOUT_INIT, not 2·SRTT of an SRTT taken as zero.
/// Guards `Rtt::srtt`'s "no sample yet" (`srtt8 > 0` → `>= 0` passed every other test).
#[test]
fn without_an_rtt_sample_the_loss_probe_waits_one_second() {
    let one_way = ms(10);
    let mut t = Pair::new(
        without_timestamps(linux(1000)),
        without_timestamps(linux(5000)),
    );
    let listener = t.s.listen(t.now, PORT, 8).unwrap();
    let c = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.lose_to_s(), ["S"]);
    let retry = client_speaks_after(&mut t, secs(2));
    assert!(secs(1) <= retry && retry <= secs(1) + ms(32), "{retry}");
    assert_eq!(arrive_at_s(&mut t, one_way), ["S"]);
    assert_eq!(arrive_at_c(&mut t, one_way), ["S."]);
    assert_eq!(arrive_at_s(&mut t, one_way), ["."]);
    t.s.accept(t.now, listener).unwrap().expect("accepted");
    let segs = flight(&mut t, c, 2, MSS);
    assert_eq!(segs.len(), 2);
    let probe = client_speaks_after(&mut t, secs(5));
    assert!(
        secs(1) <= probe && probe <= secs(1) + ms(32),
        "probe after {probe} (a 1 s timer lands on the wheel's 32 ms steps)"
    );
    assert_eq!(t.c.counters().loss_probes, 1);
}

/// RFC 6298 §5.7 (Linux tcp_init_metrics, TCP_TIMEOUT_FALLBACK): when the SYN was resent and
/// the handshake gave no RTT sample (no timestamps: Karn), the RTO is 3 s once data flows,
/// not the 1 s initial RTO nor its doubling. Both profiles (the loss probe off, so the first
/// resend is the RTO); Linux's 3 s timer lands on the wheel's 256 ms steps.
#[test]
fn after_a_resent_syn_without_an_rtt_sample_the_rto_is_three_seconds() {
    for (name, cfg, slack) in [
        ("linux", untimed(linux(1000)), ms(256)),
        ("rfc", untimed(rfc_rules(1000)), SimDuration::ZERO),
    ] {
        let one_way = ms(10);
        let mut t = Pair::new(cfg.clone(), cfg);
        let listener = t.s.listen(t.now, PORT, 8).unwrap();
        let c = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
        assert_eq!(t.lose_to_s(), ["S"]);
        client_speaks_after(&mut t, secs(2));
        assert_eq!(arrive_at_s(&mut t, one_way), ["S"]);
        assert_eq!(arrive_at_c(&mut t, one_way), ["S."]);
        assert_eq!(arrive_at_s(&mut t, one_way), ["."]);
        t.s.accept(t.now, listener).unwrap().expect("accepted");
        t.c.send(t.now, c, &[1; 100]).unwrap();
        assert_eq!(t.lose_to_s(), ["P. 100"]);
        let rto = client_speaks_after(&mut t, secs(10));
        assert!(
            secs(3) <= rto && rto <= secs(3) + slack,
            "{name}: RTO after {rto}"
        );
    }
}

/// The same on the passive side: the SYN-ACK was resent, no sample, the server's first data
/// RTO is 3 s (loss probe off), under both profiles; without the resend, the RFC rules' RTO
/// is the 200 ms floor (the handshake timed the SYN-ACK).
#[test]
fn after_a_resent_syn_ack_without_an_rtt_sample_the_servers_rto_is_three_seconds() {
    for (name, client, server, resend, low, high) in [
        (
            "linux",
            untimed(linux(1000)),
            untimed(linux(5000)),
            true,
            secs(3),
            secs(3) + ms(256),
        ),
        (
            "rfc",
            untimed(rfc_rules(1000)),
            untimed(rfc_rules(5000)),
            true,
            secs(3),
            secs(3),
        ),
        (
            "rfc, no resend",
            untimed(rfc_rules(1000)),
            untimed(rfc_rules(5000)),
            false,
            ms(200),
            ms(200),
        ),
    ] {
        let one_way = ms(10);
        let mut t = Pair::new(client, server);
        let listener = t.s.listen(t.now, PORT, 8).unwrap();
        t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
        assert_eq!(arrive_at_s(&mut t, one_way), ["S"]);
        if resend {
            assert_eq!(t.lose_to_c(), ["S."]);
            server_speaks_after(&mut t, secs(2));
            // The client's SYN timer fired first; its second SYN is lost.
            assert_eq!(t.lose_to_s(), ["S"], "{name}");
        }
        assert_eq!(arrive_at_c(&mut t, one_way), ["S."]);
        assert_eq!(arrive_at_s(&mut t, one_way), ["."]);
        let (s, _) = t.s.accept(t.now, listener).unwrap().expect("accepted");
        t.s.send(t.now, s, &[1; 100]).unwrap();
        assert_eq!(t.lose_to_c(), ["P. 100"]);
        let rto = server_speaks_after(&mut t, secs(10));
        assert!(low <= rto && rto <= high, "{name}: RTO after {rto}");
    }
}

/// Linux __tcp_oow_rate_limited (RFC 5961 §7): an out-of-window segment is answered at most
/// once per tcp_invalid_ratelimit (500 ms), counted from the last answer: one 499 ms later
/// is not answered, one exactly 500 ms after the answer is (`elapsed < rate_limit` limits).
#[test]
fn out_of_window_segments_are_answered_once_per_500_ms() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.s.send(t.now, s, b"x").unwrap();
    let data = take_to_c(&mut t);
    to_client(&mut t, &data[0]);
    t.advance(ms(100));
    let _ = t.c_read(c);
    t.exchange();
    let mut stray = data[0].clone();
    stray.segment.seq = netsim_core::Seq(stray.segment.seq.0.wrapping_add(1 << 30));
    stray.segment.payload = Vec::new();
    let answers = |t: &mut Pair| {
        to_client(t, &stray);
        take_to_s(t).len()
    };
    assert_eq!(answers(&mut t), 1, "the first is answered");
    assert!(noted(&t.c_log, Note::OutOfWindow));
    t.advance(ms(499));
    assert_eq!(answers(&mut t), 0, "499 ms later: rate-limited");
    t.advance(ms(1));
    assert_eq!(answers(&mut t), 1, "500 ms after the last answer");
    assert_eq!(answers(&mut t), 0);
    // Data beyond the window is not data we had: the answer carries no D-SACK.
    t.advance(ms(500));
    let mut beyond = stray.clone();
    beyond.segment.payload = vec![7; 10];
    to_client(&mut t, &beyond);
    let answer = take_to_s(&mut t);
    assert_eq!(answer.len(), 1);
    assert!(answer[0].segment.options.sack.as_slice().is_empty());
}

/// Linux __tcp_select_window: a scaled window (shift 7 here) is rounded up to the next
/// 128 bytes when the buffer has room for that, so it is not scaled away: the handshake's ACK
/// offers 64 240 bytes as 502 (FINDINGS 1f: `win 63` for 64 240 at shift 10). When the
/// window is all the free space, rounding up would offer more than is free, so it is rounded
/// down: 5 900 bytes free of a 10 000-byte buffer are 46 units. RFC rules always round down
/// (130 972 bytes free are 1 023 units).
#[test]
fn a_scaled_window_is_rounded_up_only_when_the_buffer_has_room() {
    let mut t = Pair::linux();
    t.s.listen(t.now, PORT, 8).unwrap();
    t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(arrive_at_s(&mut t, ms(1)), ["S"]);
    assert_eq!(arrive_at_c(&mut t, ms(1)), ["S."]);
    let ack = take_to_s(&mut t);
    assert_eq!(windows(&ack), [502]);

    let small = TcpConfig {
        rcv_buf: 10_000,
        ..linux(5000)
    };
    for (name, server, sends, window) in [
        ("linux, small buffer", small, &[100, 1000, 3000][..], 46),
        ("rfc", rfc_rules(5000), &[100][..], 1023),
    ] {
        let mut t = Pair::new(linux(1000), server);
        let (c, _s) = t.establish();
        let mut acks = Vec::new();
        for &n in sends {
            t.c.send(t.now, c, &vec![1; n]).unwrap();
            for p in take_to_s(&mut t) {
                to_server(&mut t, &p);
            }
            t.advance(ms(50));
            acks = take_to_c(&mut t);
            for p in &acks {
                to_client(&mut t, p);
            }
        }
        assert_eq!(windows(&acks).last(), Some(&window), "{name}");
    }
}

/// The SACK blocks a data segment carries (Linux tcp_established_options): what fits beside
/// the data within the MSS the segment was cut for, at most 3 beside timestamps: none on a
/// full segment, 2 when 20 bytes are spare (4 + 2 × 8), all 3 on a small one. (Linux cuts
/// the data shorter instead, tcp_current_mss: a difference listed in the conformance notes.)
#[test]
fn a_data_segment_carries_the_sack_blocks_that_fit_beside_its_data() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    let segs = flight(&mut t, c, 7, MSS);
    for i in [1, 3, 5, 6] {
        to_server(&mut t, &segs[i]);
    }
    t.advance(ms(5)); // the compressed fourth duplicate ACK
    let dupacks = take_to_c(&mut t);
    assert_eq!(
        blocks(dupacks.last().unwrap(), &segs),
        [(5, 7), (3, 4), (1, 2)]
    );
    t.s.set_nodelay(s, true).unwrap();
    for (len, carried) in [(MSS, 0), (MSS - 20, 2), (100, 3)] {
        t.s.send(t.now, s, &vec![9; len]).unwrap();
        let out = take_to_c(&mut t);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].segment.payload.len(), len);
        assert_eq!(
            out[0].segment.options.sack.as_slice().len(),
            carried,
            "{len} bytes"
        );
    }
}

/// Linux tcp_schedule_loss_probe: no loss probe outside TCP_CA_Open. In SACK recovery whose
/// retransmission is lost too, nothing goes until the RTO (the probe would resend the last
/// segment 2·SRTT after the last ACK).
#[test]
fn no_loss_probe_during_recovery() {
    let one_way = ms(10);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    let segs = flight(&mut t, c, 6, MSS);
    t.advance(one_way);
    for p in &segs[1..] {
        to_server(&mut t, p);
    }
    t.advance(ms(2)); // the compressed SACK
    assert_eq!(arrive_at_c(&mut t, one_way).len(), 4);
    let resent = take_to_s(&mut t);
    assert_eq!(seqs(&resent), seqs(&segs[..1]), "the hole, at once");
    assert_eq!(t.c.counters().recoveries, 1);
    let in_recovery = t.c.info(c).unwrap();
    assert!(in_recovery.in_recovery);
    assert_eq!(in_recovery.ssthresh, 5 * MSS as u32, "half of 10 segments");
    let next = client_speaks_after(&mut t, secs(2));
    assert!(next >= ms(200), "the RTO, after {next}");
    assert_eq!(
        (t.c.counters().loss_probes, t.c.counters().timeouts),
        (0, 1)
    );
    // Linux tcp_enter_loss: a timeout in fast recovery does not lower ssthresh again (the
    // recovery did); nor does the second timeout of the same episode. cwnd is one segment.
    let after = t.c.info(c).unwrap();
    assert!(after.in_loss);
    assert_eq!((after.cwnd, after.ssthresh), (MSS as u32, 5 * MSS as u32));
    assert_eq!(t.lose_to_s().len(), 1);
    client_speaks_after(&mut t, secs(2));
    let again = t.c.info(c).unwrap();
    assert_eq!((again.cwnd, again.ssthresh), (MSS as u32, 5 * MSS as u32));
    assert_eq!(t.c.counters().timeouts, 2);
}

/// Linux tcp_enter_loss and tcp_reno_ssthresh: a timeout from the open state halves cwnd
/// into ssthresh, at least two segments: 10 segments out give 5; with 2 out (an initial
/// window of 2), 2, not 1. RFC 5681 §3.1 (4) (NewReno, the rfc rules): half the flight,
/// at least two segments. A second timeout of the same data lowers nothing.
#[test]
fn a_timeout_halves_the_window_into_ssthresh_at_least_two_segments() {
    let small = TcpConfig {
        initial_cwnd_segments: 2,
        ..linux(1000)
    };
    let small_rfc = TcpConfig {
        initial_cwnd_segments: 2,
        ..rfc_rules(1000)
    };
    for (name, cfg, n, ssthresh) in [
        ("linux", linux(1000), 10, 5),
        ("linux, 2 out", small, 2, 2),
        ("rfc, 2 out", small_rfc, 2, 2),
    ] {
        let (mut t, c, _s) = connected(cfg, linux(5000), ms(1));
        flight(&mut t, c, n, MSS);
        let before = t.c.info(c).unwrap();
        assert_eq!(before.ssthresh, u32::MAX, "{name}");
        while t.c.counters().timeouts == 0 {
            client_speaks_after(&mut t, secs(2));
            t.lose_to_s();
        }
        let info = t.c.info(c).unwrap();
        assert!(info.in_loss, "{name}");
        assert_eq!(
            (info.cwnd, info.ssthresh),
            (MSS as u32, ssthresh * MSS as u32),
            "{name}"
        );
        // The second timeout of the same segment leaves ssthresh (RFC 5681 §3.1: "MUST
        // NOT" be lowered again for it; Linux: not the first timeout of the episode).
        t.lose_to_s();
        client_speaks_after(&mut t, secs(5));
        assert_eq!(t.c.counters().timeouts, 2, "{name}");
        assert_eq!(
            t.c.info(c).unwrap().ssthresh,
            ssthresh * MSS as u32,
            "{name}"
        );
    }
}

/// RFC 6937 (PRR; Linux tcp_cwnd_reduction): in recovery the sender sends about
/// ssthresh / prior cwnd (one half, Reno) of what is delivered, retransmissions and new
/// data alike. Ten segments out, the first lost, more data waiting: the first two SACKs let
/// out a new segment each (pipe shrinks, cwnd untouched), the third starts recovery and
/// resends the hole; the seven SACKs of recovery let out three segments in all, the hole and
/// two new ones, every second delivery.
#[test]
fn prr_counts_new_data_sent_in_recovery() {
    let one_way = ms(10);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    t.c.set_nodelay(c, true).unwrap();
    t.c.send(t.now, c, &[4; 20 * MSS]).unwrap();
    let segs = take_to_s(&mut t);
    assert_eq!(segs.len(), 10, "the initial window");
    t.advance(one_way);
    let mut acks = Vec::new();
    for p in &segs[1..] {
        to_server(&mut t, p);
        acks.extend(take_to_c(&mut t));
        t.advance(ms(1));
        acks.extend(take_to_c(&mut t));
    }
    t.advance(one_way);
    let mut before = Vec::new();
    let mut during = Vec::new();
    let mut sent = Vec::new();
    for a in &acks {
        let in_recovery = t.c.counters().recoveries == 1;
        to_client(&mut t, a);
        let out = take_to_s(&mut t);
        if in_recovery || t.c.counters().recoveries == 1 {
            during.push(out.len());
        } else {
            before.push(out.len());
        }
        sent.extend(out);
    }
    assert_eq!(before, [1, 1], "new data before recovery");
    assert_eq!(during, [1, 0, 1, 0, 1, 0, 0]);
    // The hole's copy arrives: the ACK covers everything sent before recovery (high_seq),
    // recovery ends with cwnd = ssthresh (RFC 6937; Linux tcp_end_cwnd_reduction).
    let info = t.c.info(c).unwrap();
    assert!(info.in_recovery);
    t.advance(one_way);
    for p in &sent {
        to_server(&mut t, p);
    }
    t.advance(ms(1));
    t.advance(one_way);
    let mut ended = None;
    for a in take_to_c(&mut t) {
        to_client(&mut t, &a);
        let info = t.c.info(c).unwrap();
        if !info.in_recovery {
            ended = Some(info);
            break;
        }
    }
    // The ACK that ends it then grows cwnd as congestion avoidance does for the ten
    // segments it covers (Linux tcp_cong_control after tcp_fastretrans_alert): 5 + 10 / 5.
    let after = ended.expect("recovery ends");
    assert!(!after.in_loss, "{after:?}");
    assert_eq!(
        (after.cwnd, after.ssthresh),
        (7 * MSS as u32, 5 * MSS as u32),
        "{after:?}"
    );
}

/// Linux tcp_write_timeout (tcp_retries2 = 15, retransmits_timed_out): data that is never
/// acknowledged ends the connection with ETIMEDOUT once the back-off of 15 retransmissions
/// from a 200 ms RTO has passed (924.6 s; RTO capped at 120 s), on the passive side as on
/// the active one; no RST goes.
#[test]
fn unacknowledged_data_times_out_after_fifteen_retransmissions() {
    let one_way = ms(1);
    let (mut t, _c, s) = connected(linux(1000), linux(5000), one_way);
    t.s.send(t.now, s, &[1; 100]).unwrap();
    let start = t.now;
    let mut resends = 0;
    let mut timed_out_at = None;
    while t.now - start < secs(1000) {
        t.advance(ms(100));
        let lost = t.lose_to_c();
        assert!(lost.iter().all(|l| l == "P. 100"), "{lost:?}");
        resends += lost.len();
        if timed_out_at.is_none() && !errors(&t.s_log).is_empty() {
            timed_out_at = Some(t.now - start);
        }
    }
    let took = timed_out_at.expect("a timeout");
    assert_eq!(errors(&t.s_log), ["ETIMEDOUT"]);
    assert!(
        secs(924) <= took && took <= secs(940),
        "timed out after {took} and {resends} resends"
    );
    // The first send, the loss probe and 15 timeouts (the probe is not a timeout).
    assert_eq!(resends, 17);
    assert_eq!(t.s.state_of(s), Ok(State::Closed));
    // Below the RTO cap the budget is the plain doubling: tcp_retries2 = 3 gives
    // (2^4 - 1) × 200 ms = 3 s (tcp_model_timeout's first branch).
    let three = TcpConfig {
        data_retries: 3,
        tail_loss_probe: false,
        ..linux(5000)
    };
    let (mut t, _c, s) = connected(linux(1000), three, one_way);
    t.s.send(t.now, s, &[1; 100]).unwrap();
    let start = t.now;
    let mut timed_out_at = None;
    while timed_out_at.is_none() && t.now - start < secs(60) {
        t.advance(ms(10));
        t.lose_to_c();
        if !errors(&t.s_log).is_empty() {
            timed_out_at = Some(t.now - start);
        }
    }
    let took = timed_out_at.expect("a timeout");
    assert!(secs(3) <= took && took <= secs(3) + ms(300), "{took}");
    assert_eq!(t.s.state_of(s), Ok(State::Closed));
}

/// Linux tcp_keepalive_timer skips SYN_SENT (TCPF_SYN_SENT): keep-alive set on a connecting
/// socket sends no probe while the SYN goes unanswered; only SYNs go.
#[test]
fn keepalive_sends_no_probe_in_syn_sent() {
    let mut t = Pair::linux();
    let c = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    t.c.set_keepalive(t.now, c, true, Some(secs(2)), Some(secs(1)), Some(3))
        .unwrap();
    let mut sent = Vec::new();
    for _ in 0..100 {
        t.advance(ms(100));
        sent.extend(t.lose_to_s());
    }
    // SYNs at 0, 1, 2, 3, 4 (linear timeouts), 5 and 7 s.
    assert_eq!(sent, ["S"; 7]);
    assert_eq!(t.c.counters().keepalive_probes, 0);
}

/// RFC 7323 §5.3 R1 (Linux tcp_validate_incoming: "Reset is accepted even if it did not
/// pass PAWS"): a RST at RCV.NXT with a TSval older than TS.Recent still resets.
#[test]
fn a_reset_is_exempt_from_paws() {
    let one_way = ms(5);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    t.s.send(t.now, s, &[1; 10]).unwrap();
    let data = take_to_c(&mut t);
    t.advance(ms(100));
    to_client(&mut t, &data[0]);
    t.advance(ms(100));
    let _ = t.c_read(c);
    let mut rst = data[0].clone();
    rst.segment.flags = netsim_core::TcpFlags::RST;
    rst.segment.seq = netsim_core::Seq(data[0].segment.seq.0 + 10);
    rst.segment.payload = Vec::new();
    let rst = with_tsval(&rst, tsval(&data[0]) - 1000);
    to_client(&mut t, &rst);
    assert_eq!(t.c.counters().paws_rejects, 0);
    assert_eq!(errors(&t.c_log), ["ECONNRESET"]);
}

/// Linux tcp_keepalive_timer: no keep-alive probe while data is in flight (the
/// retransmission timer watches the peer then) or waits behind a closed window (the persist
/// timer does): the probes seen are retransmissions or window probes, none counted as
/// keep-alive.
#[test]
fn keepalive_waits_while_data_is_in_flight_or_blocked() {
    // Data in flight, every copy lost.
    let (mut t, c, s) = connected(linux(1000), linux(5000), ms(1));
    request_reply(&mut t, c, s, ms(1));
    keepalive_on(&mut t, c);
    t.c.send(t.now, c, &[1; 100]).unwrap();
    for _ in 0..100 {
        t.advance(ms(100));
        assert!(t.lose_to_s().iter().all(|p| p == "P. 100"));
    }
    assert_eq!(t.c.counters().keepalive_probes, 0, "in flight");

    // Data blocked by a window too small for a segment (then closed), nothing in flight.
    let server = four_segment_server();
    let mut t = Pair::new(linux(1000), server);
    let (c, _s) = t.establish();
    keepalive_on(&mut t, c);
    t.c.send(t.now, c, &[1; 8 * 1448]).unwrap();
    t.exchange();
    for _ in 0..100 {
        t.advance(ms(100));
        t.exchange();
    }
    assert_eq!(t.c.counters().keepalive_probes, 0, "blocked");
    assert!(noted(&t.c_log, Note::WindowProbe));
}

/// RFC 1122 §4.2.3.6 with exact timers (rfc rules): the first keep-alive probe goes exactly
/// `idle` after the last segment from the peer, not a timer tick later.
#[test]
fn keepalive_probes_exactly_idle_after_the_peer_fell_silent() {
    let (mut t, c, s) = connected(rfc_rules(1000), rfc_rules(5000), ms(1));
    request_reply(&mut t, c, s, ms(1));
    t.advance(ms(100));
    t.exchange();
    t.s.send(t.now, s, b"last").unwrap();
    assert_eq!(t.deliver_to_c(), ["P. 4"]);
    let silent_since = t.now;
    keepalive_on(&mut t, c);
    while t.c.counters().keepalive_probes == 0 {
        client_speaks_after(&mut t, secs(10)); // the delayed ACK of the reply first
        t.lose_to_s();
    }
    assert_eq!(t.now - silent_since, secs(2));
}

/// Linux tcp_disordered_ack, each condition on its own: a segment older than TS.Recent gets
/// through PAWS only if it is a pure ACK, at RCV.NXT, acknowledging SND.UNA, with the window
/// unchanged, and no older than 1.2 × the RTO in timestamp ticks (tcp_tsval_replay: rto ×
/// 1200 / HZ). Breaking any one of them makes it a PAWS reject. With RFC 7323 §5.3 alone, a
/// TSval equal to TS.Recent passes.
#[test]
fn each_condition_of_a_disordered_ack_is_needed() {
    let one_way = ms(5);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    let segs = flight(&mut t, c, 3, 100);
    t.advance(one_way);
    to_server(&mut t, &segs[1]);
    let older = take_to_c(&mut t).remove(0);
    t.advance(ms(20));
    to_server(&mut t, &segs[2]);
    let newer = take_to_c(&mut t).remove(0);
    t.advance(one_way);
    to_client(&mut t, &newer);
    let _ = t.hold_to_s();
    let rto_ms = (t.c.info(c).unwrap().rto.as_nanos() / 1_000_000) as u32;
    let limit = rto_ms * 6 / 5;
    let variant = |edit: &dyn Fn(&mut Packet)| {
        let mut p = older.clone();
        edit(&mut p);
        p
    };
    let cases: Vec<(&str, Packet, bool)> = vec![
        ("the disordered ACK itself", older.clone(), false),
        (
            "with data",
            variant(&|p| p.segment.payload = vec![0; 1]),
            true,
        ),
        ("not at RCV.NXT", variant(&|p| p.segment.seq.0 += 1), true),
        (
            "not acknowledging SND.UNA",
            variant(&|p| p.segment.ack.0 -= 100),
            true,
        ),
        ("a new window", variant(&|p| p.segment.window -= 1), true),
        (
            "older than 1.2 RTO",
            with_tsval(&older, tsval(&newer) - limit - 1),
            true,
        ),
        (
            "1.2 RTO old",
            with_tsval(&older, tsval(&newer) - limit),
            false,
        ),
    ];
    for (name, p, rejected) in cases {
        let before = t.c.counters().paws_rejects;
        to_client(&mut t, &p);
        let _ = t.hold_to_s();
        assert_eq!(
            t.c.counters().paws_rejects - before,
            u64::from(rejected),
            "{name}"
        );
    }

    // RFC 7323 §5.3 alone: older is rejected, equal passes.
    let rfc_paws = TcpConfig {
        paws_linux_exemptions: false,
        ..linux(1000)
    };
    let (mut t, c, s) = connected(rfc_paws, linux(5000), one_way);
    t.s.send(t.now, s, &[1; 10]).unwrap();
    let data = take_to_c(&mut t);
    to_client(&mut t, &data[0]);
    let mut again = data[0].clone();
    again.segment.seq.0 += 10;
    to_client(&mut t, &again);
    assert_eq!(t.c.counters().paws_rejects, 0, "the same TSval");
    assert_eq!(t.c.readable(c), 20);
    let mut older = with_tsval(&data[0], tsval(&data[0]) - 1);
    older.segment.seq.0 += 20;
    to_client(&mut t, &older);
    assert_eq!(t.c.counters().paws_rejects, 1, "one tick older");
    assert_eq!(t.c.readable(c), 20);
}

/// Linux tcp_clean_rtx_queue / tcp_ack_update_rtt without timestamps: the ACK of data sent
/// once is an RTT sample from its send time (Karn: not when retransmitted data is in the
/// ACK). A 1 ms handshake, then a 100 ms round trip: SRTT moves by 1/8 of the difference.
#[test]
fn without_timestamps_an_ack_of_original_data_is_timed() {
    let (mut t, c, _s) = connected(
        without_timestamps(linux(1000)),
        without_timestamps(linux(5000)),
        ms(1),
    );
    let before = t.c.info(c).unwrap().srtt.expect("the handshake's sample");
    assert_eq!(before, ms(2));
    t.c.send(t.now, c, &[1; 100]).unwrap();
    arrive_at_s(&mut t, ms(50));
    t.advance(ms(40)); // the delayed ACK
    arrive_at_c(&mut t, ms(10));
    let after = t.c.info(c).unwrap().srtt.unwrap();
    // 100 ms sample: 2 + (100 - 2) / 8 = 14.25 ms.
    assert_eq!(after, SimDuration::from_micros(14_250));
}

/// Linux tcp_ack (FLAG_SET_XMIT_TIMER only with FLAG_ACKED) and RFC 6298 §5.3: only an ACK
/// that acknowledges new data restarts the retransmission timer; a SACK alone does not.
/// Three segments at once, the first lost, the second SACKed 150 ms later (one SACK: no
/// recovery; RACK and the loss probe off): the first goes again at the RTO counted from
/// its own send, not 150 ms later.
#[test]
fn a_sack_alone_does_not_restart_the_retransmission_timer() {
    let plain = |cfg: TcpConfig| TcpConfig {
        rack: false,
        tail_loss_probe: false,
        ..cfg
    };
    let (mut t, c, _s) = connected(plain(linux(1000)), linux(5000), ms(1));
    let rto = t.c.info(c).unwrap().rto;
    let start = t.now;
    let segs = flight(&mut t, c, 3, MSS);
    t.advance(ms(150));
    to_server(&mut t, &segs[1]);
    let sack = take_to_c(&mut t);
    assert_eq!(blocks(&sack[0], &segs), [(1, 2)]);
    to_client(&mut t, &sack[0]);
    let resend = client_speaks_after(&mut t, secs(2));
    let at = t.now - start;
    assert_eq!(seqs(&take_to_s(&mut t))[..1], seqs(&segs[..1]));
    assert!(
        rto <= at && at <= rto + ms(40),
        "resent {at} after the send (RTO {rto}; {resend} after the SACK)"
    );
}

/// Linux tcp_data_queue_ofo: a FIN ahead of a gap is queued out of order like data, so the
/// duplicate ACK it draws SACKs it (joined to the data block before it), and a copy of it
/// draws a D-SACK (tcp_data_queue_ofo's "already have it" path, RFC 2883 §4). As the fourth
/// duplicate for one RCV.NXT it is compressed like data (__tcp_ack_snd_check); without SACK
/// (rfc_rules) every duplicate goes at once.
#[test]
fn a_fin_ahead_of_a_gap_is_sacked_and_its_copy_dsacked() {
    let one_way = ms(5);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    let segs = flight(&mut t, c, 2, 100);
    t.c.shutdown(t.now, c).unwrap();
    let fin = take_to_s(&mut t);
    assert_eq!(summaries(&fin), ["F."]);
    let fin_seq = fin[0].segment.seq;
    to_server(&mut t, &segs[1]);
    take_to_c(&mut t);
    to_server(&mut t, &fin[0]);
    let dup = take_to_c(&mut t);
    assert_eq!(summaries(&dup), ["."], "a duplicate ACK at once");
    assert_eq!(acks(&dup), [segs[0].segment.seq.0]);
    assert_eq!(
        dup[0].segment.options.sack.as_slice(),
        [(segs[1].segment.seq, fin_seq.add(1))],
        "no D-SACK: the FIN's block, joined to the data's"
    );
    to_server(&mut t, &fin[0]);
    let dsack = take_to_c(&mut t);
    assert_eq!(
        dsack[0].segment.options.sack.as_slice(),
        [
            (fin_seq, fin_seq.add(1)),
            (segs[1].segment.seq, fin_seq.add(1))
        ],
        "the copy: D-SACK first"
    );

    // The fourth duplicate: data, data, data, then the FIN.
    for (server, at_once) in [(linux(5000), false), (rfc_rules(5000), true)] {
        let (mut t, c, _s) = connected(linux(1000), server, one_way);
        let segs = flight(&mut t, c, 4, 100);
        t.c.shutdown(t.now, c).unwrap();
        let fin = take_to_s(&mut t);
        for p in &segs[1..] {
            to_server(&mut t, p);
            assert_eq!(t.pending_to_c(), ["."], "at_once {at_once}");
            take_to_c(&mut t);
        }
        to_server(&mut t, &fin[0]);
        assert_eq!(
            t.pending_to_c().len(),
            usize::from(at_once),
            "at_once {at_once}: the FIN's duplicate"
        );
    }
}

/// Linux tcp_send_dupack: only a segment carrying data (or a FIN) below RCV.NXT means our
/// ACK was lost and sends the receiver back to quick ACKs. An old pure ACK is answered but
/// leaves ping-pong mode alone: the next request's ACK still waits to ride on the reply.
#[test]
fn an_old_pure_ack_leaves_ping_pong_mode_alone() {
    let one_way = ms(1);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    t.c.send(t.now, c, &[1; 64]).unwrap();
    let request = take_to_s(&mut t);
    t.advance(one_way);
    to_server(&mut t, &request[0]);
    t.s_read(s);
    t.s.send(t.now, s, &[2; 64]).unwrap();
    arrive_at_c(&mut t, one_way);
    t.c_read(c);
    let ack = take_to_s(&mut t);
    t.advance(one_way);
    to_server(&mut t, &ack[0]);
    // A pure ACK sent before the request (SEG.SEQ below RCV.NXT), with a fresh timestamp.
    let mut old = with_tsval(&request[0], tsval(&ack[0]));
    old.segment.payload.clear();
    old.segment.flags = netsim_core::TcpFlags::ACK;
    to_server(&mut t, &old);
    assert_eq!(t.pending_to_c(), ["."], "answered");
    take_to_c(&mut t);
    t.c.send(t.now, c, &[3; 64]).unwrap();
    arrive_at_s(&mut t, one_way);
    assert!(
        t.pending_to_c().is_empty(),
        "ping-pong: the ACK of the next request waits"
    );
}

/// RFC 6298 §3 (rfc_rules, no timestamps): one segment is timed per round trip, and only an
/// ACK that covers it gives a sample. A segment from the peer that acknowledges nothing
/// new, 4 ms after the timed one went, is no sample; the ACK of it, 100 ms after, is:
/// SRTT = 7/8 · 2 ms (the handshake's) + 1/8 · 100 ms.
#[test]
fn only_the_ack_of_the_timed_segment_gives_an_rtt_sample() {
    let one_way = ms(1);
    let (mut t, c, s) = connected(untimed(rfc_rules(1000)), linux(5000), one_way);
    assert_eq!(t.c.info(c).unwrap().srtt, Some(ms(2)));
    t.c.send(t.now, c, &[1; 100]).unwrap();
    let timed = take_to_s(&mut t);
    t.s.send(t.now, s, &[2; 10]).unwrap();
    let crossing = take_to_c(&mut t);
    assert_eq!(summaries(&crossing), ["P. 10"]);
    t.advance(ms(4));
    to_client(&mut t, &crossing[0]);
    assert_eq!(t.c.info(c).unwrap().srtt, Some(ms(2)), "no sample");
    take_to_s(&mut t);
    t.advance(ms(46));
    to_server(&mut t, &timed[0]);
    t.advance(ms(50));
    t.exchange();
    assert_eq!(t.c.info(c).unwrap().srtt, Some(ms(2) * 7 / 8 + ms(100) / 8));
}

/// Linux tcp_enter_loss / tcp_fastretrans_alert: a loss episode (after a timeout) ends when
/// everything outstanding at the timeout is acknowledged, and cwnd goes on from where slow
/// start took it; only a fast-recovery episode ends by setting cwnd to ssthresh (RFC 6937).
/// Ten segments out, the RTO fires (cwnd 1, ssthresh 5), then the originals turn out to have
/// arrived: one ACK covers all ten. (No timestamps here: with them Linux would find the
/// timeout spurious and undo it, tcp_try_undo_loss; this model does not undo.)
#[test]
fn a_loss_episode_ends_with_the_window_slow_start_gave() {
    let one_way = ms(1);
    // Without timestamps a segment carries 1460 bytes.
    let mss = 1460;
    let (mut t, c, _s) = connected(untimed(linux(1000)), linux(5000), one_way);
    let segs = flight(&mut t, c, 10, mss);
    client_speaks_after(&mut t, secs(2));
    assert_eq!(t.lose_to_s().len(), 1, "the head, resent at the RTO");
    let lost = t.c.info(c).unwrap();
    assert!(lost.in_loss);
    assert_eq!((lost.cwnd, lost.ssthresh), (mss as u32, 5 * mss as u32));
    for p in &segs {
        to_server(&mut t, p);
    }
    t.advance(ms(50));
    let all = take_to_c(&mut t);
    let last = all.last().expect("ACKs");
    assert_eq!(last.segment.ack, segs[9].segment.seq.add(mss as u32));
    to_client(&mut t, last);
    let after = t.c.info(c).unwrap();
    assert!(!after.in_loss && !after.in_recovery, "{after:?}");
    // tcp_slow_start takes cwnd from 1 to ssthresh (5) with 4 of the 10 segments acked;
    // tcp_cong_avoid_ai adds one segment for the other 6 (one per cwnd's worth).
    assert_eq!(
        (after.cwnd, after.ssthresh),
        (6 * mss as u32, 5 * mss as u32),
        "{after:?}"
    );
}

/// Linux tcp_data_queue ("a retransmit"): a copy of data already received, whose ACK is
/// still delayed (Linux's tcp_sequence lets it in: it ends after rcv_wup), means our ACK was
/// lost or late: a D-SACK of it goes at once, and the receiver is back in quick-ACK mode
/// (tcp_enter_quickack_mode), so the next data is ACKed at once too. The copy is not
/// delivered again and wakes no reader. (The model answers it in the first step, as it does
/// any data that is all old; the segments on the wire are Linux's.)
#[test]
fn a_copy_of_data_whose_ack_is_still_delayed_gets_a_dsack_and_quick_acks() {
    let one_way = ms(1);
    let (mut t, c, s) = connected(linux(1000), linux(5000), one_way);
    request_reply(&mut t, c, s, one_way);
    t.c.send(t.now, c, &[5; 100]).unwrap();
    let data = take_to_s(&mut t);
    t.advance(one_way);
    to_server(&mut t, &data[0]);
    assert!(t.pending_to_c().is_empty(), "ping-pong: the ACK waits");
    let events = t.s_sock.len();
    to_server(&mut t, &data[0]);
    assert_eq!(t.s_sock.len(), events, "the copy wakes no reader");
    let dsack = take_to_c(&mut t);
    assert_eq!(summaries(&dsack), ["."], "at once");
    let (seq, len) = (data[0].segment.seq, 100);
    assert_eq!(dsack[0].segment.ack, seq.add(len));
    assert_eq!(
        dsack[0].segment.options.sack.as_slice(),
        [(seq, seq.add(len))]
    );
    assert_eq!(t.s_read(s), (vec![5; 100], Received::Data(100)), "once");
    t.advance(one_way);
    to_client(&mut t, &dsack[0]);
    t.c.send(t.now, c, &[6; 100]).unwrap();
    assert_eq!(arrive_at_s(&mut t, one_way), ["P. 100"]);
    assert_eq!(t.pending_to_c(), ["."], "quick-ACK mode: at once");
}

/// Linux tcp_event_data_recv and tcp_grow_window: each data segment of 128 bytes or more
/// lets the offered window (rcv_ssthresh) grow by max(2 · advmss, 2 · its length); a shorter
/// one does not. A peer that ignores our MSS and sends 3 000 bytes at once grows it by
/// 6 000. The rfc profile offers its whole free buffer from the start.
#[test]
fn each_segment_of_128_bytes_or_more_grows_the_offered_window() {
    let window_after = |server: TcpConfig, len: usize| {
        let (mut t, c, s) = connected(linux(1000), server, ms(1));
        t.c.set_nodelay(c, true).unwrap();
        t.c.send(t.now, c, &vec![1; len.min(MSS)]).unwrap();
        let mut seg = take_to_s(&mut t).remove(0);
        seg.segment.payload = vec![1; len];
        to_server(&mut t, &seg);
        t.advance(ms(200)); // the rfc profile's delayed ACK
        let ack = take_to_c(&mut t);
        assert_eq!(acks(&ack), [seg.segment.seq.0 + len as u32], "len {len}");
        assert_eq!(t.s_read(s).0.len(), len);
        u32::from(ack[0].segment.window) << 7
    };
    // The server offers 65 160 at first (its SYN-ACK's window); the ACK's window is the
    // offer (the buffer has room for it) in units of 128 rounded up (tcp_select_window).
    let first = 65_160_u32.div_ceil(128) * 128;
    assert_eq!(
        window_after(linux(5000), 127),
        first,
        "127 bytes: no growth"
    );
    assert_eq!(
        window_after(linux(5000), 128),
        (65_160 + 2 * 1460_u32).div_ceil(128) * 128,
        "128 bytes: two MSS"
    );
    assert_eq!(
        window_after(linux(5000), 3000),
        (65_160 + 6000_u32).div_ceil(128) * 128,
        "3 000 bytes: twice its length"
    );
    // The rfc profile: the free buffer (the ACK goes before the read), scaled down.
    let rfc = rfc_rules(5000);
    let free = rfc.rcv_buf - 1000;
    assert_eq!(window_after(rfc, 1000), free >> 7 << 7, "rfc: the buffer");
}

/// How the server's answers after a loss probe end the episode.
#[derive(Clone, Copy, Debug)]
enum ProbeAnswer {
    /// Only the ACK of the probe's copy, with its D-SACK (the originals' ACKs were lost).
    Dsack,
    /// The originals' ACK, then the probe's answer without a D-SACK block (a peer with
    /// net.ipv4.tcp_dsack = 0): a pure duplicate.
    PureDuplicate,
    /// The originals' ACK, then the same ACK offering a larger window: a window update.
    WindowUpdate,
    /// The originals' ACK alone.
    AckOfOriginals,
}

/// Two segments arrive but their ACKs are lost; the loss probe resends the second; the
/// server answers as `answer` says. Then a new flight of two is lost: returns the loss
/// probes and timeouts counted once the client has resent something for it.
fn next_tail_loss_after(answer: ProbeAnswer) -> (u64, u64) {
    let one_way = ms(10);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    let segs = flight(&mut t, c, 2, MSS);
    t.advance(one_way);
    to_server(&mut t, &segs[0]);
    to_server(&mut t, &segs[1]);
    t.advance(ms(1));
    let originals = take_to_c(&mut t);
    assert!(!originals.is_empty(), "{answer:?}");
    client_speaks_after(&mut t, secs(1));
    assert_eq!(t.c.counters().loss_probes, 1, "{answer:?}");
    assert_eq!(seqs(&take_to_s(&mut t)), seqs(&segs[1..]), "{answer:?}");
    to_server(&mut t, &segs[1]);
    let dsack = take_to_c(&mut t);
    assert_eq!(dsack.len(), 1, "{answer:?}");
    assert!(!dsack[0].segment.options.sack.is_empty(), "{answer:?}");
    t.advance(one_way);
    let last_original = originals.last().unwrap();
    match answer {
        ProbeAnswer::Dsack => to_client(&mut t, &dsack[0]),
        ProbeAnswer::PureDuplicate => {
            to_client(&mut t, last_original);
            let mut plain = dsack[0].clone();
            plain.segment.options.sack = Default::default();
            to_client(&mut t, &plain);
        }
        ProbeAnswer::WindowUpdate => {
            to_client(&mut t, last_original);
            let mut update = last_original.clone();
            update.segment.window += 10;
            to_client(&mut t, &update);
        }
        ProbeAnswer::AckOfOriginals => to_client(&mut t, last_original),
    }
    assert_eq!(t.c.unacked(c), 0, "{answer:?}");
    t.lose_to_s();
    flight(&mut t, c, 2, MSS);
    t.lose_to_s();
    client_speaks_after(&mut t, secs(2));
    let n = t.c.counters();
    (n.loss_probes, n.timeouts)
}

/// Linux tcp_process_tlp_ack (RFC 8985 §7.4): one probe per episode, and the episode ends
/// when the ACKs show the probe found no loss: a D-SACK of the probe (the original arrived
/// too), or a pure duplicate ACK (nothing acknowledged, no data, the same window, nothing
/// newly SACKed: FLAG_NOT_DUP and FLAG_DATA_SACKED unset) from a peer that sends no D-SACK.
/// The ACK of the originals (not beyond the probe) or a window update leaves it open, so the
/// next tail loss gets no probe: the RTO resends.
#[test]
fn a_dsack_or_a_pure_duplicate_ends_a_loss_probe_episode() {
    use ProbeAnswer::*;
    assert_eq!(next_tail_loss_after(Dsack), (2, 0), "ended: a second probe");
    assert_eq!(next_tail_loss_after(PureDuplicate), (2, 0), "ended");
    assert_eq!(next_tail_loss_after(WindowUpdate), (1, 1), "open: the RTO");
    assert_eq!(
        next_tail_loss_after(AckOfOriginals),
        (1, 1),
        "open: the RTO"
    );
}

/// Linux tcp_process_tlp_ack: a probe that sent new data (tlp_retrans unset) repaired
/// nothing: its ACK ends the episode, and a later ACK beyond it reduces nothing.
#[test]
fn a_loss_probe_of_new_data_reduces_nothing() {
    let one_way = ms(10);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    t.c.send(t.now, c, &[1; 100]).unwrap();
    t.c.send(t.now, c, &[2; 50]).unwrap();
    let first = take_to_s(&mut t);
    assert_eq!(summaries(&first), ["P. 100"], "the 50 bytes wait (Nagle)");
    t.advance(one_way);
    to_server(&mut t, &first[0]);
    take_to_c(&mut t); // its ACK is lost
    client_speaks_after(&mut t, secs(1));
    assert_eq!(
        arrive_at_s(&mut t, one_way),
        ["P. 50"],
        "the probe: new data"
    );
    assert_eq!(arrive_at_c(&mut t, one_way), ["."]);
    assert_eq!(t.c.unacked(c), 0);
    let before = t.c.info(c).unwrap();
    t.c.send(t.now, c, &[3; 100]).unwrap();
    arrive_at_s(&mut t, one_way);
    t.advance(ms(40)); // the delayed ACK, if any
    arrive_at_c(&mut t, one_way);
    assert_eq!(t.c.unacked(c), 0);
    let after = t.c.info(c).unwrap();
    assert_eq!(t.c.counters().loss_probes, 1);
    assert_eq!(after.ssthresh, u32::MAX, "no reduction: {after:?}");
    assert!(after.cwnd >= before.cwnd, "{before:?} {after:?}");
}

/// Linux tcp_time_to_recover with RACK: recovery starts only when a segment is marked lost
/// (`lost_out`), never on the count of SACKed segments alone (the DupThresh rule is for
/// connections without RACK). Once reordering was seen (tcp_rack_reo_wnd), RACK waits a
/// quarter of the minimum RTT even with three segments SACKed, and keeps waiting so in
/// recovery; the reordering timer then marks the hole lost and starts recovery
/// (tcp_rack_reo_timeout), and a second hole found the same way in recovery does not start
/// a second one.
#[test]
fn once_reordering_was_seen_rack_waits_before_recovery() {
    let one_way = ms(10);
    let (mut t, c, _s) = connected(linux(1000), linux(5000), one_way);
    // Two segments arrive swapped: the SACK of the second, then the ACK of both.
    let pair = flight(&mut t, c, 2, MSS);
    t.advance(one_way);
    to_server(&mut t, &pair[1]);
    to_server(&mut t, &pair[0]);
    assert_eq!(arrive_at_c(&mut t, one_way), [".", "."]);
    assert_eq!(t.c.unacked(c), 0);
    assert_eq!(t.c.counters().recoveries, 0);

    // Eight segments; the first and the fifth are lost.
    let segs = flight(&mut t, c, 8, MSS);
    t.advance(one_way);
    for p in &segs[1..4] {
        to_server(&mut t, p);
    }
    let first_sacks = take_to_c(&mut t);
    for p in &segs[5..] {
        to_server(&mut t, p);
    }
    t.advance(ms(2));
    let later_sacks = take_to_c(&mut t);
    t.advance(one_way);
    for a in &first_sacks {
        to_client(&mut t, a);
    }
    assert!(t.pending_to_s().is_empty(), "three SACKed: RACK waits");
    assert_eq!(t.c.counters().recoveries, 0, "not on the SACK count");
    let wait = client_speaks_after(&mut t, secs(1));
    // reo_wnd = min_rtt / 4 = 5 ms, plus the timer's two ticks and wheel rounding.
    assert!(
        ms(5) <= wait && wait <= ms(5) + ms(16),
        "resent after {wait}"
    );
    assert_eq!(seqs(&take_to_s(&mut t)), seqs(&segs[..1]));
    assert_eq!(t.c.counters().recoveries, 1);
    let ssthresh = t.c.info(c).unwrap().ssthresh;
    for a in &later_sacks {
        to_client(&mut t, a);
    }
    assert!(t.pending_to_s().is_empty(), "in recovery RACK still waits");
    client_speaks_after(&mut t, secs(1));
    assert_eq!(seqs(&take_to_s(&mut t))[..1], seqs(&segs[4..5]));
    let info = t.c.info(c).unwrap();
    assert_eq!(t.c.counters().recoveries, 1, "the same recovery");
    assert!(info.in_recovery);
    assert_eq!(info.ssthresh, ssthresh);
}

/// An idle time beyond the timer wheel's reach (62 << 24 ticks: 1 040 s with 1 µs ticks) is
/// waited out in steps, each counted from now (Linux tcp_keepalive_timer re-arms for what is
/// left): the probe goes at the idle time, and the stack does not spin on a timer due now.
#[test]
fn a_keepalive_idle_beyond_the_wheel_is_waited_out() {
    let fine = TcpConfig {
        timer_tick: SimDuration::from_micros(1),
        ..linux(1000)
    };
    let (mut t, c, _s) = connected(fine, linux(5000), ms(1));
    t.c.set_keepalive(t.now, c, true, Some(secs(2_000)), Some(secs(1)), Some(1))
        .unwrap();
    let start = t.now;
    let probe_after = client_speaks_after(&mut t, secs(3_000));
    assert_eq!(t.c.counters().keepalive_probes, 1, "after {probe_after}");
    // Each step lands on the wheel's last level, whose granule is 2^24 ticks (16.8 s here).
    let since = t.now.saturating_since(start);
    let granule = SimDuration::from_micros(1 << 24);
    assert!(
        secs(2_000) <= since && since <= secs(2_000) + granule * 2,
        "probe {since} after the last segment"
    );
}

/// The socket table lists what `ss -tan -o` would: the listener with its accept queue and
/// backlog, a connection with bytes unread and bytes unacknowledged under its retransmission
/// timer, then, after a close, TIME_WAIT with the time it has left and LAST_ACK waiting for
/// the ACK of its FIN.
#[test]
fn the_socket_table_lists_what_ss_would() {
    let (mut t, c, s) = connected(linux(1000), linux(5000), ms(10));
    t.c.send(t.now, c, &[7; 100]).unwrap();
    let lost = take_to_s(&mut t);
    assert_eq!(summaries(&lost), ["P. 100"]);
    t.s.send(t.now, s, &[1; 30]).unwrap();
    assert_eq!(arrive_at_c(&mut t, ms(10)), ["P. 30"]);
    let rows = t.c.sockets(t.now);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(
        (r.state, r.peer, r.recv_q, r.send_q),
        (State::Established, Some(server_addr()), 30, 100)
    );
    let timer = r
        .timer
        .expect("the loss probe or the retransmission timeout runs");
    assert_eq!((timer.kind, timer.retries), ("on", 0));
    assert!(
        timer.left > SimDuration::ZERO && timer.left <= secs(1),
        "{timer:?}"
    );
    let rows = t.s.sockets(t.now);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (
            rows[0].state,
            rows[0].peer,
            rows[0].recv_q,
            rows[0].send_q,
            rows[0].timer
        ),
        (State::Listen, None, 0, 8, None)
    );
    assert_eq!(rows[1].state, State::Established);
    assert_eq!((rows[1].recv_q, rows[1].send_q), (0, 30));

    // Both close; the client's last ACK is lost, so the server stays in LAST_ACK.
    let (mut t, c, s) = connected(linux(1000), linux(5000), ms(10));
    t.c.close(t.now, c).unwrap();
    assert_eq!(arrive_at_s(&mut t, ms(10)), ["F."]);
    t.s.close(t.now, s).unwrap();
    assert_eq!(arrive_at_c(&mut t, ms(10)), ["F."]);
    assert_eq!(summaries(&take_to_s(&mut t)), ["."]);
    let rows = t.c.sockets(t.now);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, State::TimeWait);
    let timer = rows[0].timer.unwrap();
    assert_eq!((timer.kind, timer.left), ("timewait", secs(60)));
    let rows = t.s.sockets(t.now);
    assert_eq!(
        rows.iter().map(|r| r.state).collect::<Vec<_>>(),
        [State::Listen, State::LastAck]
    );
    assert_eq!(rows[1].timer.map(|t| t.kind), Some("on"));
}

/// `send_room` tells how much a `send()` would take, without changing anything: the whole
/// buffer at first, less what is queued and unacknowledged, and a send of more than the room
/// takes exactly the room.
#[test]
fn send_room_is_what_a_send_would_take() {
    let ms = SimDuration::from_millis(1);
    let (mut t, c, _s) = connected(linux(1), linux(2), ms);
    let full = t.c.config().snd_buf as usize;
    assert_eq!(t.c.send_room(c), full);
    assert_eq!(t.c.send(t.now, c, &[1; 1000]).unwrap(), 1000);
    assert_eq!(t.c.send_room(c), full - 1000);
    let room = t.c.send_room(c);
    assert_eq!(t.c.send(t.now, c, &vec![2; room + 500]).unwrap(), room);
    assert_eq!(t.c.send_room(c), 0);
    assert_eq!(t.c.send(t.now, c, &[3; 10]).unwrap(), 0);
}
