//! TIME_WAIT, incarnations and ports, segment by segment: why TIME_WAIT exists (an old
//! duplicate landing in a new incarnation of the same 4-tuple), what protects a new
//! incarnation (TIME_WAIT itself, PAWS), what ends TIME_WAIT early (a RST, a new SYN, connect
//! with tcp_tw_reuse), what it costs (client ports) and how the article's mitigations and the
//! table's limits behave.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};

use common::*;
use netsim_core::{Packet, Segment, Seq, SimTime, TcpFlags, Timestamps};
use netsim_tcp::{
    Bind, ConnKey, Errno, IsnMode, Note, Received, SocketId, State, TcpConfig, TcpEvent, TcpStack,
    TimeWaitRules,
};

/// The fixed local port of a client that reconnects from the same port (with SO_REUSEADDR).
const FIXED_PORT: Bind = Bind {
    port: Some(40000),
    reuse_addr: true,
};

/// Ten ephemeral ports, so exhaustion takes ten connections.
const TEN_PORTS: (u16, u16) = (50000, 50009);

// -------------------------------------------------------------------------------------------
// Helpers

/// connect() from `bind`, the full handshake, accept().
fn connect_and_accept(t: &mut Pair, listener: SocketId, bind: Bind) -> (SocketId, SocketId) {
    let c = t.c.connect(t.now, server_addr(), bind).unwrap();
    t.exchange();
    let (s, _) =
        t.s.accept(t.now, listener)
            .unwrap()
            .expect("a connection waits");
    assert_eq!(t.c.state_of(c), Ok(State::Established));
    assert_eq!(t.s.state_of(s), Ok(State::Established));
    (c, s)
}

/// The client closes first, the server's application reads EOF and closes at once: the
/// client ends in TIME_WAIT, the server in CLOSED. No time passes. Returns a copy of the
/// server's FIN, for a test to deliver again as a retransmission.
fn close_client_first(t: &mut Pair, c: SocketId, s: SocketId) -> Packet {
    t.c.close(t.now, c).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    assert_eq!(t.s_read(s).1, Received::Eof);
    t.s.close(t.now, s).unwrap();
    t.collect();
    let fin = t.to_c[0].clone();
    assert_eq!(t.deliver_to_c(), ["F."]);
    assert_eq!(t.deliver_to_s(), ["."]);
    assert_eq!(t.s.state_of(s), Err(Errno::BadFd));
    fin
}

/// The server closes first, the client's application reads EOF and closes at once: the
/// server ends in TIME_WAIT, the client in CLOSED. No time passes.
fn close_server_first(t: &mut Pair, c: SocketId, s: SocketId) {
    t.s.close(t.now, s).unwrap();
    assert_eq!(t.deliver_to_c(), ["F."]);
    assert_eq!(t.c_read(c).1, Received::Eof);
    t.c.close(t.now, c).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    assert_eq!(t.deliver_to_c(), ["."]);
}

/// The client's side of the 4-tuple from local `port` to the server's listener.
fn client_key(port: u16) -> ConnKey {
    ConnKey {
        local: SocketAddrV4::new(CLIENT, port),
        remote: server_addr(),
    }
}

/// The server's side of the same 4-tuple.
fn server_key(port: u16) -> ConnKey {
    ConnKey {
        local: server_addr(),
        remote: SocketAddrV4::new(CLIENT, port),
    }
}

/// The states one 4-tuple passed through on one host (every incarnation, in order).
fn path_of(log: &[TcpEvent], key: ConnKey) -> Vec<&'static str> {
    let mut states = Vec::new();
    for e in log {
        if let TcpEvent::State { conn, from, to } = *e {
            if conn != key {
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

/// How many times a note appears in a log.
fn count(log: &[TcpEvent], note: Note) -> usize {
    log.iter()
        .filter(|e| matches!(e, TcpEvent::Note { note: n, .. } if *n == note))
        .count()
}

/// A segment from the server's port 80 to the client's `port`, built by hand.
fn from_server(port: u16, flags: &str, seq: u32, ack: u32, payload: &[u8]) -> Packet {
    Packet {
        src: SERVER,
        dst: CLIENT,
        segment: Segment {
            src_port: PORT,
            dst_port: port,
            seq: Seq(seq),
            ack: Seq(ack),
            flags: TcpFlags::parse(flags).expect("tcpdump flags"),
            window: 0xFFFF,
            payload: payload.to_vec(),
            ..Segment::default()
        },
    }
}

/// Delivers packets taken out of a queue earlier (delayed segments) to the server.
fn deliver_late_to_s(t: &mut Pair, packets: &[Packet]) {
    for p in packets {
        t.s.on_packet(t.now, p);
    }
    t.collect();
}

/// Delivers packets taken out of a queue earlier (delayed segments) to the client.
fn deliver_late_to_c(t: &mut Pair, packets: &[Packet]) {
    for p in packets {
        t.c.on_packet(t.now, p);
    }
    t.collect();
}

/// The segments queued towards the client, taken out of the queue.
fn take_to_c(t: &mut Pair) -> Vec<Segment> {
    t.collect();
    std::mem::take(&mut t.to_c)
        .into_iter()
        .map(|p| p.segment)
        .collect()
}

/// The segments queued towards the server, taken out of the queue.
fn take_to_s(t: &mut Pair) -> Vec<Segment> {
    t.collect();
    std::mem::take(&mut t.to_s)
        .into_iter()
        .map(|p| p.segment)
        .collect()
}

/// (flags, SEQ, ACK) of a segment, for exact comparisons.
fn fsa(s: &Segment) -> (String, u32, u32) {
    (s.flags.to_string(), s.seq.0, s.ack.0)
}

/// Asserts that the client's only TIME_WAIT entry is still there 1 ms before `at` and gone
/// at `at`, advancing the pair's clock to `at`.
fn assert_client_time_wait_ends_at(t: &mut Pair, at: SimTime) {
    t.advance(at.saturating_since(t.now) - ms(1));
    assert_eq!(t.c.table_sizes().1, 1, "still in TIME_WAIT 1 ms before");
    t.advance(ms(1));
    assert_eq!(t.c.table_sizes().1, 0, "TIME_WAIT over at {at:?}");
}

/// The states with a non-zero count, by name.
fn nonzero_counts(stack: &TcpStack) -> Vec<(&'static str, u32)> {
    State::ALL
        .into_iter()
        .zip(stack.state_counts())
        .filter(|&(_, n)| n > 0)
        .map(|(s, n)| (s.name(), n))
        .collect()
}

// -------------------------------------------------------------------------------------------
// 1-2. An old duplicate and a new incarnation of the same 4-tuple

/// A delayed duplicate staged for a new incarnation.
struct Reincarnation {
    t: Pair,
    /// The first connection's "OLD!" segment, held back in the network.
    stale: Vec<Packet>,
    /// The second connection's "NEW!" segment, not yet delivered.
    fresh: Vec<Packet>,
    c: SocketId,
    s: SocketId,
}

/// Connection 1 (client port 40000) sends "OLD!"; that segment is delayed in the network
/// while the retransmission gets through. Connection 1 closes, the client first. One second
/// later connection 2 opens on the same 4-tuple, with the same ISNs (fixed ISNs: the ISNs
/// collide), and sends "NEW!". Both segments are held for the test to deliver.
fn old_duplicate_and_new_incarnation(client: TcpConfig, server: TcpConfig) -> Reincarnation {
    let mut t = Pair::new(client, server);
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let (c, s) = connect_and_accept(&mut t, listener, FIXED_PORT);
    t.c.send(t.now, c, b"OLD!").unwrap();
    let stale = t.hold_to_s();
    assert_eq!(stale.len(), 1);
    assert_eq!(fsa(&stale[0].segment), ("P.".into(), 1001, 5001));
    assert_eq!(stale[0].segment.payload, b"OLD!");
    // The handshake measured an RTT of (almost) 0, so the RTO is SRTT + 200 ms: on Linux's
    // 4 ms jiffies it fires at 208 ms (the rfc profile's RTO floor is 1 s: 1000 ms).
    t.advance(if t.c.config().profile == "rfc" {
        ms(1000)
    } else {
        ms(208)
    });
    assert_eq!(
        t.deliver_to_s(),
        ["P. 4"],
        "the retransmission gets through"
    );
    assert_eq!(t.s_read(s).0, b"OLD!");
    t.exchange(); // the server's ACK of it (quick-ACK mode on Linux)
    close_client_first(&mut t, c, s);
    assert_eq!(t.c.table_sizes(), (0, 0), "no TIME_WAIT on the client");
    assert_eq!(t.s.table_sizes(), (0, 0));

    t.advance(secs(1));
    let c2 = t.c.connect(t.now, server_addr(), FIXED_PORT).unwrap();
    let syn = take_to_s(&mut t);
    assert_eq!(fsa(&syn[0]), ("S".into(), 1000, 0), "the same ISN again");
    t.to_s.push(Packet {
        src: CLIENT,
        dst: SERVER,
        segment: syn[0].clone(),
    });
    t.exchange();
    let (s2, _) = t.s.accept(t.now, listener).unwrap().expect("connection 2");
    assert_eq!(
        t.c.conn_key(c2),
        Some(client_key(40000)),
        "the same 4-tuple"
    );
    t.c.send(t.now, c2, b"NEW!").unwrap();
    let fresh = t.hold_to_s();
    assert_eq!(
        fsa(&fresh[0].segment),
        ("P.".into(), 1001, 5001),
        "the stale one's numbers"
    );
    Reincarnation {
        t,
        stale,
        fresh,
        c: c2,
        s: s2,
    }
}

#[test]
fn old_duplicate_with_colliding_isns_is_read_by_the_new_incarnation() {
    // RFC 9293 §3.4.1 (duplicates of an earlier incarnation) and §3.10.7.4: without TIME_WAIT and
    // without timestamps nothing tells an old duplicate from new data: the stale segment is
    // exactly at RCV.NXT and is accepted. This is the hazard TIME_WAIT prevents.
    let no_ts = |isn| TcpConfig {
        timestamps: false,
        ..linux(isn)
    };
    let client = TcpConfig {
        time_wait: Some(ms(0)),
        ..no_ts(1000)
    };
    let Reincarnation {
        mut t,
        stale,
        fresh,
        c,
        s,
    } = old_duplicate_and_new_incarnation(client, no_ts(5000));
    deliver_late_to_s(&mut t, &stale);
    deliver_late_to_s(&mut t, &fresh);
    // The stale "OLD!" is ACKed at once (quick-ACK mode). The real "NEW!" looks like a
    // duplicate of bytes already received: it is ACKed at once with a D-SACK of them (RFC
    // 2883) and dropped, and that ACK tells the client its "NEW!" arrived.
    let acks = take_to_c(&mut t);
    assert_eq!(acks.len(), 2);
    assert_eq!(fsa(&acks[0]), (".".into(), 5001, 1005));
    assert_eq!(fsa(&acks[1]), (".".into(), 5001, 1005));
    assert_eq!(
        acks[1].options.sack.as_slice(),
        [(netsim_core::Seq(1001), netsim_core::Seq(1005))]
    );
    assert_eq!(t.s_read(s), (b"OLD!".to_vec(), Received::Data(4)));
    deliver_late_to_c(
        &mut t,
        &[Packet {
            src: SERVER,
            dst: CLIENT,
            segment: acks[1].clone(),
        }],
    );
    assert_eq!(t.c.unacked(c), 0, "the client believes NEW! was delivered");
    assert_eq!(t.s.counters().paws_rejects, 0);
}

#[test]
fn paws_rejects_the_old_duplicate_in_the_new_incarnation() {
    // RFC 7323 §5.3 R1 (PAWS): the stale segment's TSval is older than the new connection's
    // TS.Recent, so it is dropped and answered with an ACK (§5.3 R1: "send an
    // acknowledgment"), even though its sequence number is exactly RCV.NXT.
    let client = TcpConfig {
        time_wait: Some(ms(0)),
        ..linux(1000)
    };
    let Reincarnation {
        mut t,
        stale,
        fresh,
        c,
        s,
    } = old_duplicate_and_new_incarnation(client, linux(5000));
    let stale_ts = stale[0].segment.options.timestamps.unwrap().val;
    let fresh_ts = fresh[0].segment.options.timestamps.unwrap().val;
    assert_eq!(
        fresh_ts.wrapping_sub(stale_ts),
        1208,
        "sent 1.208 s apart (the ms timestamp clock)"
    );
    deliver_late_to_s(&mut t, &stale);
    assert!(noted(&t.s_log, Note::PawsReject));
    assert_eq!(t.s.counters().paws_rejects, 1);
    let acks = take_to_c(&mut t);
    assert_eq!(acks.len(), 1);
    assert_eq!(fsa(&acks[0]), (".".into(), 5001, 1001), "RCV.NXT unchanged");
    assert_eq!(t.s.readable(s), 0);
    deliver_late_to_s(&mut t, &fresh);
    assert_eq!(t.s_read(s), (b"NEW!".to_vec(), Received::Data(4)));
    t.advance(ms(40)); // the server's delayed ACK
    t.exchange();
    assert_eq!(t.c.unacked(c), 0);
    assert_eq!(t.s.counters().paws_rejects, 1);
}

// -------------------------------------------------------------------------------------------
// 3. TIME_WAIT holds the 4-tuple

#[test]
fn time_wait_blocks_the_4_tuple_for_2_msl_then_connect_succeeds() {
    // RFC 9293 §3.4.1 and §3.10.7.4: the active closer keeps the 4-tuple for 2 × MSL, longer
    // than any old duplicate can live (the network's lifetime is MSL). Follows Linux for the
    // errors: connect() from a port bound with SO_REUSEADDR to a 4-tuple in TIME_WAIT fails
    // with EADDRNOTAVAIL (__inet_check_established); without SO_REUSEADDR the port itself is
    // taken (EADDRINUSE, inet_csk_bind_conflict).
    let mut t = Pair::linux();
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let (c, s) = connect_and_accept(&mut t, listener, FIXED_PORT);
    close_client_first(&mut t, c, s);
    let began = t.now;
    assert_eq!(t.c.table_sizes(), (0, 1));
    assert_eq!(
        t.c.connect(t.now, server_addr(), FIXED_PORT),
        Err(Errno::AddrNotAvail)
    );
    let no_reuse = Bind {
        port: Some(40000),
        reuse_addr: false,
    };
    assert_eq!(
        t.c.connect(t.now, server_addr(), no_reuse),
        Err(Errno::AddrInUse)
    );
    let msl = t.c.config().msl;
    assert_eq!(msl, secs(30), "linux: the network lifetime");
    t.advance(msl * 2 - ms(1));
    assert_eq!(
        t.c.connect(t.now, server_addr(), FIXED_PORT),
        Err(Errno::AddrNotAvail),
        "still refused 1 ms before 2 MSL"
    );
    t.advance(ms(1));
    assert_eq!(t.now, began + secs(60));
    assert_eq!(t.c.table_sizes(), (0, 0));
    assert_eq!(
        path_of(&t.c_log, client_key(40000)),
        [
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT",
            "CLOSED"
        ]
    );
    let c2 = t.c.connect(t.now, server_addr(), FIXED_PORT).unwrap();
    t.exchange();
    assert_eq!(t.c.state_of(c2), Ok(State::Established));
    assert!(t.s.accept(t.now, listener).unwrap().is_some());
}

// -------------------------------------------------------------------------------------------
// 4. TIME_WAIT assassination

/// The client closes first and is in TIME_WAIT; the network duplicated its final ACK: one
/// copy closed the server's connection, the other is returned, still in flight.
fn time_wait_with_a_duplicate_final_ack(client: TcpConfig) -> (Pair, Packet) {
    let mut t = Pair::new(client, linux(5000));
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let (c, s) = connect_and_accept(&mut t, listener, FIXED_PORT);
    t.c.close(t.now, c).unwrap();
    t.deliver_to_s();
    assert_eq!(t.s_read(s).1, Received::Eof);
    t.s.close(t.now, s).unwrap();
    assert_eq!(t.deliver_to_c(), ["F."]);
    let mut ack = t.hold_to_s();
    assert_eq!(ack.len(), 1);
    assert_eq!(fsa(&ack[0].segment), (".".into(), 1002, 5002));
    deliver_late_to_s(&mut t, &ack);
    assert_eq!(t.s.table_sizes(), (0, 0), "LAST_ACK -> CLOSED");
    assert_eq!(t.c.table_sizes(), (0, 1), "TIME_WAIT");
    (t, ack.pop().unwrap())
}

#[test]
fn time_wait_assassination_rst_at_rcv_nxt_ends_time_wait_early() {
    // RFC 1337 §2 (TIME-WAIT assassination): an old duplicate ACK reaches a server with no
    // connection, which answers RST with SEQ = SEG.ACK (RFC 9293 §3.10.7.1) = the client's
    // RCV.NXT, and RFC 9293 §3.10.7.4 closes TIME_WAIT on an acceptable RST.
    let (mut t, old_ack) = time_wait_with_a_duplicate_final_ack(linux(1000));
    let began = t.now;
    t.advance(secs(5));
    deliver_late_to_s(&mut t, &[old_ack]);
    let rst = take_to_c(&mut t);
    assert_eq!(rst.len(), 1);
    assert_eq!(
        fsa(&rst[0]),
        ("R".into(), 5002, 0),
        "SEQ = the client's RCV.NXT"
    );
    deliver_late_to_c(
        &mut t,
        &[Packet {
            src: SERVER,
            dst: CLIENT,
            segment: rst[0].clone(),
        }],
    );
    assert_eq!(t.c.table_sizes(), (0, 0), "killed 55 s early");
    assert_eq!(t.now, began + secs(5));
    assert!(
        path_of(&t.c_log, client_key(40000)).ends_with(&["TIME_WAIT", "CLOSED"]),
        "{:?}",
        path_of(&t.c_log, client_key(40000))
    );
    assert!(!noted(&t.c_log, Note::Rfc1337IgnoredRst));
    assert!(t.pending_to_s().is_empty(), "no answer to a RST");
}

#[test]
fn rfc1337_ignores_rst_in_time_wait_which_lives_its_full_length() {
    // RFC 1337 §3 (fix F1): "Ignore RST segments in TIME-WAIT state" (Linux tcp_rfc1337).
    let client = TcpConfig {
        rfc1337: true,
        ..linux(1000)
    };
    let (mut t, old_ack) = time_wait_with_a_duplicate_final_ack(client);
    let began = t.now;
    t.advance(secs(5));
    deliver_late_to_s(&mut t, &[old_ack]);
    assert_eq!(t.deliver_to_c(), ["R"]);
    assert!(noted(&t.c_log, Note::Rfc1337IgnoredRst));
    assert!(t.pending_to_s().is_empty(), "ignored: no answer");
    assert_eq!(t.c.table_sizes(), (0, 1));
    assert_client_time_wait_ends_at(&mut t, began + secs(60));
}

// -------------------------------------------------------------------------------------------
// 5. What TIME_WAIT answers

#[test]
fn time_wait_acks_a_retransmitted_fin_and_restarts_the_timer() {
    // RFC 9293 §3.10.7.4, TIME-WAIT: "The only thing that can arrive in this state is a
    // retransmission of the remote FIN. Acknowledge it, and restart the 2 MSL timeout."
    let mut t = Pair::linux();
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let (c, s) = connect_and_accept(&mut t, listener, FIXED_PORT);
    let fin = close_client_first(&mut t, c, s);
    let began = t.now;
    assert_eq!(t.c.table_sizes(), (0, 1));

    t.advance(secs(10));
    deliver_late_to_c(&mut t, &[fin]);
    assert_eq!(count(&t.c_log, Note::TimeWaitRestarted), 1);
    let ack = take_to_s(&mut t);
    assert_eq!(ack.len(), 1);
    assert_eq!(
        fsa(&ack[0]),
        (".".into(), 1002, 5002),
        "<SEQ=SND.NXT><ACK=RCV.NXT>"
    );
    let restarted = t.now;
    assert_eq!(restarted, began + secs(10));
    // Not over at the first expiry (began + 60 s), but 60 s after the FIN came back.
    assert_client_time_wait_ends_at(&mut t, restarted + secs(60));
}

#[test]
fn time_wait_acks_an_old_duplicate_and_ignores_other_segments() {
    // RFC 9293 §3.10.7.4: a segment that fails the sequence check (an old duplicate, below
    // RCV.NXT) is answered with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>; a RST not exactly at
    // RCV.NXT is dropped (RFC 5961 §3.2); an in-window ACK or data needs nothing in
    // TIME_WAIT. None of them restarts the timer. Timestamps are off so that the sequence
    // check, not PAWS, is what judges the old duplicate. RFC rules, as in the rfc profile
    // (Linux's are in `time_wait_linux_rules_*`).
    let no_ts = |isn| TcpConfig {
        timestamps: false,
        time_wait_rules: TimeWaitRules::Rfc9293,
        ..linux(isn)
    };
    let mut t = Pair::new(no_ts(1000), no_ts(5000));
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let (c, s) = connect_and_accept(&mut t, listener, FIXED_PORT);
    t.s.send(t.now, s, b"hello").unwrap();
    t.collect();
    let old_data = t.to_c.clone();
    assert_eq!(t.deliver_to_c(), ["P. 5"]);
    assert_eq!(t.c_read(c).0, b"hello");
    t.advance(ms(40)); // the client's delayed ACK
    t.exchange();
    close_client_first(&mut t, c, s);
    let began = t.now;
    // Client: SND.NXT = 1000 + SYN + FIN = 1002; RCV.NXT = 5000 + SYN + 5 + FIN = 5007.
    // The answer expected to each, as (SEQ, ACK) of a bare ACK.
    let answered = Some((1002, 5007));
    let cases = [
        ("old duplicate data", old_data[0].clone(), answered),
        (
            "RST below RCV.NXT",
            from_server(40000, "R", 5006, 0, b""),
            None,
        ),
        (
            "RST above RCV.NXT",
            from_server(40000, "R", 5008, 0, b""),
            None,
        ),
        (
            "bare ACK at RCV.NXT",
            from_server(40000, ".", 5007, 1002, b""),
            None,
        ),
        (
            "data at RCV.NXT",
            from_server(40000, "P.", 5007, 1002, b"late"),
            None,
        ),
    ];
    for (what, packet, expected) in cases {
        t.advance(secs(1));
        deliver_late_to_c(&mut t, &[packet]);
        let answers: Vec<_> = take_to_s(&mut t).iter().map(fsa).collect();
        let expected: Vec<_> = expected
            .map(|(seq, ack)| (".".to_string(), seq, ack))
            .into_iter()
            .collect();
        assert_eq!(answers, expected, "{what}");
        assert_eq!(t.c.table_sizes(), (0, 1), "{what}");
    }
    assert_eq!(count(&t.c_log, Note::TimeWaitRestarted), 0);
    assert_client_time_wait_ends_at(&mut t, began + secs(60));
}

/// Linux tcp_timewait_state_process, case by case. The client is in TIME_WAIT (SND.NXT 1002,
/// RCV.NXT 5002) since `began`; 10 s later the server's side of the 4-tuple sends one or two
/// segments, 1 ms apart. Each row: what arrives (given the server's FIN), how many bare ACKs
/// (SEQ 1002, ACK 5002) the client answers with, and how many segments restart the timer
/// (TIME_WAIT then ends 60 s after the last of them, else 60 s after `began`).
#[test]
fn time_wait_linux_rules_restart_the_timer_and_ack_what_they_do_not_accept() {
    let ack = || (".".to_string(), 1002, 5002);
    /// `p` with a TSval one older than the FIN's: it fails PAWS.
    fn older_than(fin: &Packet, mut p: Packet) -> Packet {
        let ts = fin.segment.options.timestamps.expect("timestamps on");
        p.segment.options.timestamps = Some(Timestamps {
            val: ts.val.wrapping_sub(1),
            ecr: ts.ecr,
        });
        p
    }
    type Row = (&'static str, fn(&Packet) -> Vec<Packet>, usize, u64);
    let rows: [Row; 9] = [
        (
            "bare ACK at RCV.NXT",
            |_| vec![from_server(40000, ".", 5002, 1002, b"")],
            0,
            1,
        ),
        ("retransmitted FIN", |fin| vec![fin.clone()], 1, 1),
        (
            "old duplicate data",
            |_| vec![from_server(40000, "P.", 4990, 1002, b"old!")],
            1,
            1,
        ),
        (
            "data at RCV.NXT",
            |_| vec![from_server(40000, "P.", 5002, 1002, b"late")],
            1,
            1,
        ),
        (
            "ACK above the window",
            |_| vec![from_server(40000, ".", 9000, 1002, b"")],
            1,
            1,
        ),
        (
            "two ACKs 1 ms apart: the second is rate-limited",
            |_| vec![from_server(40000, ".", 9000, 1002, b""); 2],
            1,
            2,
        ),
        (
            "old SYN without ACK",
            |_| vec![from_server(40000, "S", 4000, 0, b"")],
            1,
            0,
        ),
        (
            "RST above RCV.NXT",
            |_| vec![from_server(40000, "R", 5003, 0, b"")],
            0,
            0,
        ),
        (
            "bare ACK at RCV.NXT failing PAWS",
            |fin| vec![older_than(fin, from_server(40000, ".", 5002, 1002, b""))],
            1,
            1,
        ),
    ];
    for (what, segments, acks, restarts) in rows {
        let mut t = Pair::linux();
        let listener = t.s.listen(t.now, PORT, 16).unwrap();
        let (c, s) = connect_and_accept(&mut t, listener, FIXED_PORT);
        let fin = close_client_first(&mut t, c, s);
        let began = t.now;
        t.advance(secs(10));
        for p in segments(&fin) {
            deliver_late_to_c(&mut t, &[p]);
            t.advance(ms(1));
        }
        let answers: Vec<_> = take_to_s(&mut t).iter().map(fsa).collect();
        assert_eq!(answers, vec![ack(); acks], "{what}");
        let noted = count(&t.c_log, Note::TimeWaitTimerRestarted)
            + count(&t.c_log, Note::TimeWaitRestarted);
        assert_eq!(noted as u64, restarts, "{what}: restarts");
        let arrived = began + secs(10);
        let end = if restarts > 0 {
            arrived + ms(1) * (restarts - 1) + secs(60)
        } else {
            began + secs(60)
        };
        assert_client_time_wait_ends_at(&mut t, end);
    }
}

// -------------------------------------------------------------------------------------------
// 6. A new SYN for a 4-tuple in TIME_WAIT

/// The server closes first, so its TIME_WAIT holds the 4-tuple (server port 80, client
/// port 40000); one second later the client reconnects from port 40000. Returns the server's
/// listener and the client's new socket; its SYN is queued towards the server.
fn reconnect_into_server_time_wait(t: &mut Pair) -> (SocketId, SocketId) {
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let (c, s) = connect_and_accept(t, listener, FIXED_PORT);
    close_server_first(t, c, s);
    assert_eq!(t.s.table_sizes(), (0, 1), "the server holds the TIME_WAIT");
    assert_eq!(t.c.table_sizes(), (0, 0));
    t.advance(secs(1));
    let c = t.c.connect(t.now, server_addr(), FIXED_PORT).unwrap();
    (listener, c)
}

#[test]
fn new_syn_above_time_wait_reopens_the_4_tuple_with_isn_above_old_snd_nxt() {
    // RFC 1122 §4.2.2.13 and RFC 6191 §2: a SYN for a 4-tuple in TIME_WAIT may reopen it if
    // its sequence number is above the old RCV.NXT, or (RFC 6191) its timestamp is above
    // TS.Recent. Follows Linux (tcp_timewait_state_process, tcp_v4_rcv): the new ISN is the
    // old SND.NXT + 65535 + 2, above anything the old incarnation used.
    let seq_above = (
        TcpConfig {
            isn: IsnMode::Clock,
            timestamps: false,
            ..TcpConfig::linux()
        },
        TcpConfig {
            timestamps: false,
            ..linux(5000)
        },
        // The clock ISN: 0 at time 0 (old RCV.NXT = 0 + SYN + FIN = 2), then 1 s / 4 µs.
        250_000,
    );
    let ts_newer = (linux(1000), linux(5000), 1000);
    for (client, server, syn_seq) in [seq_above, ts_newer] {
        let mut t = Pair::new(client, server);
        let (listener, c) = reconnect_into_server_time_wait(&mut t);
        let syn = take_to_s(&mut t);
        assert_eq!(fsa(&syn[0]), ("S".into(), syn_seq, 0));
        deliver_late_to_s(
            &mut t,
            &[Packet {
                src: CLIENT,
                dst: SERVER,
                segment: syn[0].clone(),
            }],
        );
        assert_eq!(count(&t.s_log, Note::TimeWaitReusedBySyn), 1);
        assert_eq!(t.s.counters().time_wait_reopened, 1);
        assert_eq!(t.s.table_sizes(), (1, 0), "TIME_WAIT ended, SYN_RECEIVED");
        let synack = take_to_c(&mut t);
        assert_eq!(synack.len(), 1);
        // The server's old SND.NXT: 5000 + SYN + FIN = 5002.
        assert_eq!(
            fsa(&synack[0]),
            ("S.".into(), 5002 + 65535 + 2, syn_seq + 1)
        );
        t.to_c.push(Packet {
            src: SERVER,
            dst: CLIENT,
            segment: synack[0].clone(),
        });
        t.exchange();
        assert_eq!(t.c.state_of(c), Ok(State::Established));
        let (s, _) = t.s.accept(t.now, listener).unwrap().expect("reopened");
        t.c.send(t.now, c, b"again").unwrap();
        t.exchange();
        assert_eq!(t.s_read(s).0, b"again");
        assert_eq!(
            path_of(&t.s_log, server_key(40000)),
            [
                "LISTEN",
                "SYN_RECEIVED",
                "ESTABLISHED",
                "FIN_WAIT_1",
                "FIN_WAIT_2",
                "TIME_WAIT",
                "CLOSED",
                "SYN_RECEIVED",
                "ESTABLISHED"
            ]
        );
        assert_legal(&t.s_log);
    }
}

#[test]
fn new_syn_in_time_wait_without_acceptance_gets_a_challenge_ack() {
    // RFC 9293 §3.10.7.4 with RFC 5961 §4.2: a SYN in a synchronised state (TIME_WAIT
    // included) is answered with an ACK and makes no connection when TIME_WAIT does not
    // accept new SYNs (RFC 1122 §4.2.2.13 makes accepting them a MAY). Then, RFC 9293
    // §3.10.7.3: that ACK is unacceptable in SYN_SENT, so the client answers RST with
    // SEQ = SEG.ACK = the server's RCV.NXT, which ends TIME_WAIT (§3.10.7.4); the SYN sent
    // again after the client's RTO finds the listener.
    let client = TcpConfig {
        isn: IsnMode::Clock,
        timestamps: false,
        ..TcpConfig::linux()
    };
    let server = TcpConfig {
        timestamps: false,
        tw_accept_new_syn: false,
        ..linux(5000)
    };
    let mut t = Pair::new(client, server);
    let (listener, c) = reconnect_into_server_time_wait(&mut t);
    assert_eq!(t.deliver_to_s(), ["S"]);
    assert!(noted(&t.s_log, Note::ChallengeAck));
    assert!(!noted(&t.s_log, Note::TimeWaitReusedBySyn));
    assert_eq!(t.s.counters().challenge_acks, 1);
    assert_eq!(t.s.table_sizes(), (0, 1), "no connection, TIME_WAIT stays");
    assert_eq!(t.s.accept(t.now, listener), Ok(None));
    let ack = take_to_c(&mut t);
    assert_eq!(ack.len(), 1);
    assert_eq!(
        fsa(&ack[0]),
        (".".into(), 5002, 2),
        "<SEQ=SND.NXT><ACK=RCV.NXT>"
    );

    deliver_late_to_c(
        &mut t,
        &[Packet {
            src: SERVER,
            dst: CLIENT,
            segment: ack[0].clone(),
        }],
    );
    let rst = take_to_s(&mut t);
    assert_eq!(rst.len(), 1);
    assert_eq!(fsa(&rst[0]), ("R".into(), 2, 0));
    assert_eq!(t.c.state_of(c), Ok(State::SynSent));
    deliver_late_to_s(
        &mut t,
        &[Packet {
            src: CLIENT,
            dst: SERVER,
            segment: rst[0].clone(),
        }],
    );
    assert_eq!(t.s.table_sizes(), (0, 0), "the RST ended TIME_WAIT");
    t.advance(ms(1024)); // the client's initial RTO, on Linux's timer wheel
    assert_eq!(t.deliver_to_s(), ["S"]);
    t.exchange();
    assert_eq!(t.c.state_of(c), Ok(State::Established));
    assert!(t.s.accept(t.now, listener).unwrap().is_some());
}

// -------------------------------------------------------------------------------------------
// 7-9. Client ports, TIME_WAIT, and the mitigations

/// `n` short connections from ephemeral ports; the client closes each first. Returns the
/// local ports used.
fn short_connections_client_first(t: &mut Pair, listener: SocketId, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| {
            let (c, s) = connect_and_accept(t, listener, Bind::default());
            let port = t.c.conn_key(c).unwrap().local.port();
            close_client_first(t, c, s);
            port
        })
        .collect()
}

fn ten_ports(isn: u32) -> TcpConfig {
    TcpConfig {
        ephemeral_ports: TEN_PORTS,
        ..linux(isn)
    }
}

#[test]
fn client_closing_first_fills_every_port_with_time_wait_and_connect_fails() {
    // The article's client-side pitfall. Follows Linux (__inet_hash_connect): connect() with
    // no free ephemeral port for the destination returns EADDRNOTAVAIL. Ports are unique per
    // destination only, so another server port or address still has all of them.
    let mut t = Pair::new(ten_ports(1000), linux(5000));
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let ports = short_connections_client_first(&mut t, listener, 10);
    assert_eq!(ports, (50000..=50009).collect::<Vec<_>>());
    assert_eq!(t.c.table_sizes(), (0, 10));
    assert_eq!(
        t.c.connect(t.now, server_addr(), Bind::default()),
        Err(Errno::AddrNotAvail)
    );

    let other_port = SocketAddrV4::new(SERVER, 8080);
    let listener_8080 = t.s.listen(t.now, 8080, 16).unwrap();
    let c = t.c.connect(t.now, other_port, Bind::default()).unwrap();
    assert_eq!(t.c.conn_key(c).unwrap().local.port(), 50000);
    t.exchange();
    assert_eq!(t.c.state_of(c), Ok(State::Established));
    assert!(t.s.accept(t.now, listener_8080).unwrap().is_some());

    let other_host = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 80);
    let c = t.c.connect(t.now, other_host, Bind::default()).unwrap();
    assert_eq!(t.c.conn_key(c).unwrap().local.port(), 50001);
    t.collect();
    let syn = t.to_s.pop().unwrap();
    assert_eq!((syn.dst, syn.segment.src_port), (*other_host.ip(), 50001));
}

#[test]
fn tw_reuse_lets_connect_take_a_time_wait_4_tuple_after_one_second() {
    // Follows Linux tcp_tw_reuse (tcp_twsk_unique): with timestamps, connect() may reuse a
    // 4-tuple in TIME_WAIT once a second has passed since the last timestamp from the peer;
    // the new ISN is the old SND.NXT + 65535 + 2 and TS.Recent is inherited, so PAWS (RFC
    // 7323 §5) protects the new incarnation from the old one's segments.
    let client = TcpConfig {
        tw_reuse: true,
        ..ten_ports(1000)
    };
    let mut t = Pair::new(client, linux(5000));
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    short_connections_client_first(&mut t, listener, 10);
    let last_ts_from_peer = t.now;
    t.advance(ms(999));
    assert_eq!(
        t.c.connect(t.now, server_addr(), Bind::default()),
        Err(Errno::AddrNotAvail),
        "less than a second since the peer's last timestamp"
    );
    t.advance(ms(1));
    assert_eq!(t.now, last_ts_from_peer + secs(1));
    let c = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    t.collect();
    assert_eq!(count(&t.c_log, Note::TimeWaitReusedByConnect), 1);
    assert_eq!(t.c.conn_key(c), Some(client_key(50000)));
    assert_eq!(t.c.table_sizes(), (1, 9));
    let syn = take_to_s(&mut t);
    // The old SND.NXT: 1000 + SYN + FIN = 1002.
    assert_eq!(fsa(&syn[0]), ("S".into(), 1002 + 65535 + 2, 0));
    let path = path_of(&t.c_log, client_key(50000));
    assert_eq!(path[4..], ["FIN_WAIT_2", "TIME_WAIT", "CLOSED", "SYN_SENT"]);
    t.to_s.push(Packet {
        src: CLIENT,
        dst: SERVER,
        segment: syn[0].clone(),
    });
    t.exchange();
    assert_eq!(t.c.state_of(c), Ok(State::Established));
    let (s, _) = t.s.accept(t.now, listener).unwrap().unwrap();
    t.c.send(t.now, c, b"ping").unwrap();
    t.exchange();
    assert_eq!(t.s_read(s).0, b"ping");
    t.s.send(t.now, s, b"pong").unwrap();
    t.exchange();
    assert_eq!(t.c_read(c).0, b"pong");
    // An explicitly bound port (SO_REUSEADDR, as bind() to a TIME_WAIT port needs) reuses
    // its TIME_WAIT 4-tuple by the same rule.
    let bound = Bind {
        port: Some(50001),
        reuse_addr: true,
    };
    let c2 = t.c.connect(t.now, server_addr(), bound).unwrap();
    assert_eq!(t.c.conn_key(c2), Some(client_key(50001)));
    assert_eq!(t.c.counters().time_wait_reused, 2);
}

#[test]
fn wider_port_range_leaves_room_after_ten_time_waits() {
    // Mitigation: a wider ephemeral range (Linux ip_local_port_range) only moves the limit.
    let client = TcpConfig {
        ephemeral_ports: (50000, 50019),
        ..linux(1000)
    };
    let mut t = Pair::new(client, linux(5000));
    let listener = t.s.listen(t.now, PORT, 64).unwrap();
    short_connections_client_first(&mut t, listener, 10);
    let (c, _) = connect_and_accept(&mut t, listener, Bind::default());
    assert_eq!(t.c.conn_key(c).unwrap().local.port(), 50010);
    let more = short_connections_client_first(&mut t, listener, 9);
    assert_eq!(more, (50011..=50019).collect::<Vec<_>>());
    assert_eq!(
        t.c.connect(t.now, server_addr(), Bind::default()),
        Err(Errno::AddrNotAvail),
        "19 TIME_WAITs and one open connection fill 20 ports"
    );
}

#[test]
fn server_closing_first_keeps_time_wait_on_the_server_and_client_ports_free() {
    // Mitigation: the active closer holds TIME_WAIT (RFC 9293 §3.6), so when the server
    // closes first the client's ports stay free. Reusing a client port finds the server's
    // TIME_WAIT, which a SYN with a newer timestamp reopens (RFC 6191 §2, as Linux does).
    let mut t = Pair::new(ten_ports(1000), linux(5000));
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let mut ports = Vec::new();
    for i in 0..30 {
        let (c, s) = connect_and_accept(&mut t, listener, Bind::default());
        ports.push(t.c.conn_key(c).unwrap().local.port());
        close_server_first(&mut t, c, s);
        assert_eq!(t.c.table_sizes(), (0, 0));
        assert_eq!(t.s.table_sizes(), (0, (i + 1).min(10)));
        t.advance(ms(10)); // a newer timestamp on the next SYN
    }
    let expected: Vec<u16> = (0..30).map(|i| 50000 + i % 10).collect();
    assert_eq!(ports, expected);
    assert_eq!(t.s.state_counts()[State::TimeWait as usize], 10);
    assert_eq!(count(&t.s_log, Note::TimeWaitReusedBySyn), 20);
    assert_eq!(count(&t.c_log, Note::TimeWaitReusedByConnect), 0);
    assert!(errors(&t.c_log).is_empty());
}

// -------------------------------------------------------------------------------------------
// 10-11. The table

#[test]
fn max_time_wait_full_table_closes_without_ever_entering_time_wait() {
    // Follows Linux tcp_max_tw_buckets: tcp_time_wait finds inet_twsk_alloc failing
    // (TCPTimeWaitOverflow), sends nothing more than the final ACK it already sent, and the
    // socket is done (tcp_done): FIN_WAIT_1 -> CLOSED, no TIME_WAIT in the path or the counts.
    let client = TcpConfig {
        max_time_wait: Some(2),
        ..linux(1000)
    };
    let mut t = Pair::new(client, linux(5000));
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let ports = short_connections_client_first(&mut t, listener, 2);
    assert_eq!(t.c.table_sizes(), (0, 2));
    assert!(!noted(&t.c_log, Note::TimeWaitOverflow));
    // close_client_first checks that the final ACK still reaches the server, which closes.
    let third = short_connections_client_first(&mut t, listener, 1)[0];
    assert_eq!(count(&t.c_log, Note::TimeWaitOverflow), 1);
    assert_eq!(t.c.counters().time_wait_overflows, 1);
    assert_eq!(t.c.table_sizes(), (0, 2), "still the first two");
    assert_eq!(t.c.state_counts()[State::TimeWait as usize], 2);
    assert_eq!(
        path_of(&t.c_log, client_key(third)),
        [
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "CLOSED"
        ],
        "never TIME_WAIT"
    );
    assert_eq!(t.s.table_sizes(), (0, 0), "the server got its final ACK");
    for port in ports {
        assert_eq!(
            path_of(&t.c_log, client_key(port)).last(),
            Some(&"TIME_WAIT")
        );
    }
    assert_legal(&t.c_log);
}

#[test]
fn state_counts_tell_each_state_and_count_time_wait_from_the_table() {
    // RFC 9293 §3.3.2's states; TIME_WAIT entries live in their own table (as Linux's
    // tcp_timewait_sock), so state_counts() takes that count from the table.
    let mut t = Pair::linux();
    let listener = t.s.listen(t.now, PORT, 64).unwrap();
    // FIN_WAIT_2 / CLOSE_WAIT: the client closed, the server ACKed its FIN (after its 40 ms
    // delayed ACK) and has not closed.
    let (c, _) = connect_and_accept(&mut t, listener, Bind::default());
    t.c.close(t.now, c).unwrap();
    t.deliver_to_s();
    t.advance(ms(40));
    assert_eq!(t.deliver_to_c(), ["."]);
    // ESTABLISHED on both sides.
    connect_and_accept(&mut t, listener, Bind::default());
    // Two TIME_WAITs on the client, one on the server.
    short_connections_client_first(&mut t, listener, 2);
    let (c, s) = connect_and_accept(&mut t, listener, Bind::default());
    close_server_first(&mut t, c, s);
    // FIN_WAIT_1 on the server, CLOSE_WAIT on the client: the server's FIN arrived, the
    // client's ACK is delayed.
    let (_, s) = connect_and_accept(&mut t, listener, Bind::default());
    t.s.close(t.now, s).unwrap();
    assert_eq!(t.deliver_to_c(), ["F."]);
    // FIN_WAIT_1 on the client, LAST_ACK on the server: the server's FIN+ACK is lost.
    let (c, s) = connect_and_accept(&mut t, listener, Bind::default());
    t.c.close(t.now, c).unwrap();
    t.deliver_to_s();
    t.s_read(s);
    t.s.close(t.now, s).unwrap();
    assert_eq!(t.lose_to_c(), ["F."]);
    // SYN_SENT / SYN_RECEIVED: the SYN-ACK is lost.
    t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.deliver_to_s(), ["S"]);
    assert_eq!(t.lose_to_c(), ["S."]);

    assert_eq!(
        nonzero_counts(&t.c),
        [
            ("SYN_SENT", 1),
            ("ESTABLISHED", 1),
            ("FIN_WAIT_1", 1),
            ("FIN_WAIT_2", 1),
            ("TIME_WAIT", 2),
            ("CLOSE_WAIT", 1),
        ]
    );
    assert_eq!(
        nonzero_counts(&t.s),
        [
            ("LISTEN", 1),
            ("SYN_RECEIVED", 1),
            ("ESTABLISHED", 1),
            ("FIN_WAIT_1", 1),
            ("TIME_WAIT", 1),
            ("CLOSE_WAIT", 1),
            ("LAST_ACK", 1),
        ]
    );
    for stack in [&t.c, &t.s] {
        let (live, tw) = stack.table_sizes();
        let counts = stack.state_counts();
        assert_eq!(counts[State::TimeWait as usize], tw);
        let listening = counts[State::Listen as usize];
        assert_eq!(counts.iter().sum::<u32>() - listening, live + tw);
    }
}

/// Linux tcp_timewait_state_process / tcp_v4_timewait_ack: TIME_WAIT answers a resent FIN
/// with the window the connection last offered (tw_rcv_wnd, scaled as before), not a zero
/// or empty one.
#[test]
fn time_wait_answers_with_the_window_the_connection_last_offered() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    t.exchange();
    t.s.close(t.now, s).unwrap();
    t.collect();
    let fin = std::mem::take(&mut t.to_c);
    assert_eq!(fin.len(), 1);
    deliver_late_to_c(&mut t, &fin);
    let last_ack = take_to_s(&mut t);
    assert_eq!(last_ack.len(), 1);
    assert_eq!(t.c.table_sizes(), (0, 1), "the client is in TIME_WAIT");
    deliver_late_to_c(&mut t, &fin);
    let again = take_to_s(&mut t);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].window, last_ack[0].window);
    assert!(again[0].window > 1, "{}", again[0].window);
    // With timestamps, echoing the FIN's (Linux tcp_v4_timewait_ack: tw_ts_recent).
    let fin_ts = fin[0].segment.options.timestamps.expect("timestamps").val;
    let echo = again[0]
        .options
        .timestamps
        .expect("timestamps in TIME_WAIT's ACK");
    assert_eq!(echo.ecr, fin_ts);
}

/// RFC rules for TIME_WAIT with timestamps (RFC 9293 §3.10.7.4, RFC 7323 §5.3, RFC 5961
/// §4.2, RFC 6191), each rule by itself: a retransmitted FIN is acknowledged, restarts the
/// timer and its newer TSval becomes TS.Recent (echoed from then on); a segment with an
/// older TSval is a PAWS reject, answered with an ACK; a RST at RCV.NXT with an older TSval
/// still ends TIME_WAIT (RSTs are exempt from PAWS); a SYN with an older TSval is not PAWS-
/// dropped but gets a challenge ACK (no reopen); a SYN-ACK is no new SYN; old data that ends
/// exactly at RCV.NXT is an old duplicate and gets an ACK.
#[test]
fn time_wait_rfc_rules_one_by_one() {
    let rfc_tw = |isn| TcpConfig {
        time_wait_rules: TimeWaitRules::Rfc9293,
        ..linux(isn)
    };
    let setup = || {
        let mut t = Pair::new(rfc_tw(1000), linux(5000));
        let listener = t.s.listen(t.now, PORT, 16).unwrap();
        let (c, s) = connect_and_accept(&mut t, listener, FIXED_PORT);
        let fin = close_client_first(&mut t, c, s);
        assert_eq!(t.c.table_sizes(), (0, 1));
        (t, fin)
    };

    // The FIN again, 10 ms newer: ACK, timer restarted, TS.Recent taken.
    let (mut t, fin) = setup();
    t.advance(ms(10));
    let newer = with_tsval(&fin, tsval(&fin) + 10);
    deliver_late_to_c(&mut t, &[newer]);
    assert_eq!(count(&t.c_log, Note::TimeWaitRestarted), 1);
    let ack = take_to_s(&mut t);
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0].options.timestamps.unwrap().ecr, tsval(&fin) + 10);
    // A later answer (to an older TSval, a PAWS reject) echoes TS.Recent, not its own.
    let mut older = with_tsval(&fin, tsval(&fin) + 5);
    older.segment.flags = TcpFlags::ACK;
    deliver_late_to_c(&mut t, &[older]);
    let again = take_to_s(&mut t);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].options.timestamps.unwrap().ecr, tsval(&fin) + 10);

    // An older TSval on a pure ACK: a PAWS reject, answered.
    let (mut t, fin) = setup();
    let mut old_ack = with_tsval(&fin, tsval(&fin) - 5);
    old_ack.segment.flags = TcpFlags::ACK;
    deliver_late_to_c(&mut t, &[old_ack]);
    assert_eq!(t.c.counters().paws_rejects, 1);
    assert_eq!(take_to_s(&mut t).len(), 1);

    // An older TSval on a RST at RCV.NXT: still a reset.
    let (mut t, fin) = setup();
    let mut rst = with_tsval(&fin, tsval(&fin) - 5);
    rst.segment.flags = TcpFlags::RST;
    rst.segment.seq = rst.segment.seq.add(1);
    deliver_late_to_c(&mut t, &[rst]);
    assert_eq!(t.c.counters().paws_rejects, 0);
    assert_eq!(t.c.table_sizes(), (0, 0), "TIME_WAIT ended");

    // An older TSval on a SYN: no PAWS drop, no reopen, a challenge ACK.
    let (mut t, fin) = setup();
    let mut syn = with_tsval(&fin, tsval(&fin) - 5);
    syn.segment.flags = TcpFlags::SYN;
    syn.segment.seq = syn.segment.seq.add(100_000);
    deliver_late_to_c(&mut t, &[syn]);
    assert_eq!(t.c.counters().paws_rejects, 0);
    assert_eq!(t.c.counters().challenge_acks, 1);
    assert_eq!(t.c.table_sizes(), (0, 1), "still TIME_WAIT");
    assert_eq!(take_to_s(&mut t).len(), 1);

    // A SYN-ACK above RCV.NXT with a newer TSval: not a new SYN.
    let (mut t, fin) = setup();
    let mut synack = with_tsval(&fin, tsval(&fin) + 5);
    synack.segment.flags = TcpFlags::SYN | TcpFlags::ACK;
    synack.segment.seq = synack.segment.seq.add(100_000);
    deliver_late_to_c(&mut t, &[synack]);
    assert_eq!(count(&t.c_log, Note::TimeWaitReusedBySyn), 0);
    assert_eq!(t.c.table_sizes(), (0, 1), "still TIME_WAIT");

    // One byte at the FIN's sequence number, so it ends at RCV.NXT: an old duplicate (its
    // last byte is below RCV.NXT), answered.
    let (mut t, fin) = setup();
    let mut old = fin.clone();
    old.segment.flags = TcpFlags::ACK;
    old.segment.payload = vec![1];
    deliver_late_to_c(&mut t, &[old]);
    assert_eq!(take_to_s(&mut t).len(), 1, "the old byte gets an ACK");
}

/// Linux rules for TIME_WAIT (tcp_timewait_state_process, tcp_timewait_check_oow_rate_limit),
/// one by one: a segment with data (or a FIN) is answered every time, a pure ACK at most
/// once per 500 ms; an older TSval is counted as a PAWS reject; the TSval of a bare ACK at
/// RCV.NXT becomes TS.Recent (the next answer echoes it).
#[test]
fn time_wait_linux_rules_one_by_one() {
    let setup = || {
        let mut t = Pair::linux();
        let listener = t.s.listen(t.now, PORT, 16).unwrap();
        let (c, s) = connect_and_accept(&mut t, listener, FIXED_PORT);
        let fin = close_client_first(&mut t, c, s);
        (t, fin)
    };

    // Old data twice within 500 ms: both answered. A pure old ACK twice: once.
    let (mut t, fin) = setup();
    let mut data = fin.clone();
    data.segment.flags = TcpFlags::ACK;
    data.segment.seq = fin.segment.seq.add(u32::MAX - 9);
    data.segment.payload = vec![1; 10];
    for _ in 0..2 {
        deliver_late_to_c(&mut t, std::slice::from_ref(&data));
        assert_eq!(take_to_s(&mut t).len(), 1, "data is always answered");
    }
    t.advance(ms(500));
    let mut pure = data.clone();
    pure.segment.payload = Vec::new();
    deliver_late_to_c(&mut t, std::slice::from_ref(&pure));
    deliver_late_to_c(&mut t, std::slice::from_ref(&pure));
    assert_eq!(
        take_to_s(&mut t).len(),
        1,
        "a pure ACK at most once per 500 ms"
    );

    // An older TSval: a PAWS reject, counted.
    let (mut t, fin) = setup();
    let mut old = with_tsval(&fin, tsval(&fin) - 5);
    old.segment.flags = TcpFlags::ACK;
    deliver_late_to_c(&mut t, &[old]);
    assert_eq!(t.c.counters().paws_rejects, 1);

    // A bare ACK at RCV.NXT with a newer TSval (the in-window case): its TSval becomes
    // TS.Recent; then an old duplicate's answer echoes it.
    let (mut t, fin) = setup();
    t.advance(ms(600));
    let mut bare = with_tsval(&fin, tsval(&fin) + 600);
    bare.segment.flags = TcpFlags::ACK;
    bare.segment.seq = fin.segment.seq.add(1);
    deliver_late_to_c(&mut t, &[bare]);
    assert!(
        take_to_s(&mut t).is_empty(),
        "a bare in-window ACK needs no answer"
    );
    t.advance(ms(600));
    // (Its own TSval is newer still, and out of the window it is not taken.)
    let mut dup = with_tsval(&fin, tsval(&fin) + 700);
    dup.segment.flags = TcpFlags::ACK;
    dup.segment.seq = fin.segment.seq.add(u32::MAX - 9);
    dup.segment.payload = vec![1; 10];
    deliver_late_to_c(&mut t, &[dup]);
    let answer = take_to_s(&mut t);
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].options.timestamps.unwrap().ecr, tsval(&fin) + 600);
}

/// Ephemeral ports are per remote endpoint (Linux __inet_hash_connect checks the 4-tuple):
/// with every port of a three-port range in TIME_WAIT towards the server's port 80, connect()
/// to it fails with EADDRNOTAVAIL, a connect() to port 81 still gets a port, and when the
/// TIME_WAITs end the ports serve port 80 again.
#[test]
fn exhausted_ephemeral_ports_are_per_remote_and_come_back() {
    let client = TcpConfig {
        ephemeral_ports: (40000, 40002),
        ..linux(1000)
    };
    let mut t = Pair::new(client, linux(5000));
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    for _ in 0..3 {
        let (c, s) = connect_and_accept(&mut t, listener, Bind::default());
        close_client_first(&mut t, c, s);
    }
    assert_eq!(t.c.table_sizes(), (0, 3));
    for _ in 0..2 {
        assert_eq!(
            t.c.connect(t.now, server_addr(), Bind::default()),
            Err(Errno::AddrNotAvail)
        );
    }
    let other = SocketAddrV4::new(*server_addr().ip(), 81);
    assert!(t.c.connect(t.now, other, Bind::default()).is_ok());
    t.advance(secs(60));
    assert_eq!(t.c.table_sizes().1, 0, "the TIME_WAITs ended");
    assert!(t.c.connect(t.now, server_addr(), Bind::default()).is_ok());
}
