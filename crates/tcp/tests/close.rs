//! The handshake and every way a connection closes: the article's two paths, FIN+ACK in one
//! segment, the lost final ACK (with and without TIME_WAIT), simultaneous close, and the ACK
//! lost so that the FIN arrives first.

mod common;

use common::*;
use netsim_core::SimDuration;
use netsim_tcp::{Note, Received, State, TcpConfig};

#[test]
fn handshake_is_syn_synack_ack() {
    let mut t = Pair::linux();
    t.s.listen(t.now, PORT, 16).unwrap();
    t.c.connect(t.now, server_addr(), Default::default())
        .unwrap();
    assert_eq!(t.deliver_to_s(), ["S"]);
    assert_eq!(t.deliver_to_c(), ["S."]);
    assert_eq!(t.deliver_to_s(), ["."]);
    assert_eq!(path(&t.c_log), ["CLOSED", "SYN_SENT", "ESTABLISHED"]);
    assert_eq!(path(&t.s_log), ["LISTEN", "SYN_RECEIVED", "ESTABLISHED"]);
}

#[test]
fn client_active_close_follows_the_articles_paths() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    // The server's ACK of the FIN is delayed; its application reads EOF, then closes later.
    assert_eq!(t.s_read(s).1, Received::Eof);
    t.advance(ms(40));
    assert_eq!(t.deliver_to_c(), ["."]);
    assert_eq!(
        t.c.state_of(c),
        Err(netsim_tcp::Errno::BadFd),
        "the handle is gone after close"
    );
    t.s.close(t.now, s).unwrap();
    assert_eq!(t.deliver_to_c(), ["F."]);
    assert_eq!(t.deliver_to_s(), ["."]);
    t.advance(secs(60));
    assert_eq!(
        path(&t.c_log),
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
    assert_eq!(
        path(&t.s_log),
        [
            "LISTEN",
            "SYN_RECEIVED",
            "ESTABLISHED",
            "CLOSE_WAIT",
            "LAST_ACK",
            "CLOSED"
        ]
    );
    assert_legal(&t.c_log);
    assert_legal(&t.s_log);
}

#[test]
fn time_wait_lasts_two_msl_then_closes() {
    let mut t = Pair::new(
        TcpConfig {
            msl: secs(120),
            ..linux(1000)
        },
        linux(5000),
    );
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    t.exchange();
    t.s.close(t.now, s).unwrap();
    t.exchange();
    assert_eq!(t.c.table_sizes(), (0, 1));
    t.advance(secs(239));
    assert_eq!(
        t.c.table_sizes(),
        (0, 1),
        "still in TIME_WAIT just before 4 min"
    );
    t.advance(secs(1));
    assert_eq!(t.c.table_sizes(), (0, 0));
}

/// RFC 9293 §3.10.7.4 (eighth step): a FIN that also acknowledges our FIN takes FIN_WAIT_1
/// straight to TIME_WAIT, as the diagram and the article draw it. Linux
/// (tcp_rcv_state_process, then tcp_fin) takes the ACK first: FIN_WAIT_1 -> FIN_WAIT_2 ->
/// TIME_WAIT within the one segment, which its state tracepoint shows.
#[test]
fn fin_ack_in_fin_wait_1_goes_straight_to_time_wait() {
    let diagram = TcpConfig {
        fin_wait_1_acks_first: false,
        ..linux(1000)
    };
    let cases = [
        (diagram, &["FIN_WAIT_1", "TIME_WAIT"][..]),
        (linux(1000), &["FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"][..]),
    ];
    for (client, tail) in cases {
        let mut t = Pair::new(client, linux(5000));
        let (c, s) = t.establish();
        t.c.close(t.now, c).unwrap();
        assert_eq!(t.deliver_to_s(), ["F."]);
        // The server's ACK of the FIN is delayed; the application closes at once, so the
        // ACK rides on the server's FIN.
        t.s.close(t.now, s).unwrap();
        assert_eq!(t.deliver_to_c(), ["F."]);
        assert_eq!(t.deliver_to_s(), ["."]);
        let path_c = path(&t.c_log);
        assert_eq!(path_c[..3], ["CLOSED", "SYN_SENT", "ESTABLISHED"]);
        assert_eq!(path_c[3..], *tail);
        assert_eq!(
            path(&t.s_log),
            [
                "LISTEN",
                "SYN_RECEIVED",
                "ESTABLISHED",
                "CLOSE_WAIT",
                "LAST_ACK",
                "CLOSED"
            ]
        );
        assert_legal(&t.c_log);
    }
}

/// Client closes, server closes, and the client's final ACK is lost.
fn lost_final_ack(client: TcpConfig) -> (Pair, netsim_tcp::SocketId) {
    let mut t = Pair::new(client, linux(5000));
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    t.deliver_to_s();
    t.s.close(t.now, s).unwrap();
    assert_eq!(t.deliver_to_c(), ["F."]);
    assert_eq!(t.lose_to_s(), ["."], "the final ACK is lost");
    (t, s)
}

#[test]
fn lost_final_ack_last_ack_retransmits_and_time_wait_reacks_and_restarts() {
    let (mut t, _) = lost_final_ack(linux(1000));
    assert_eq!(t.s.state_counts()[State::LastAck as usize], 1);
    // The server re-sends its FIN after SRTT + rto_min (Linux's RTO; as a tail loss probe
    // here, since one segment is out), rounded up to 4 ms jiffies plus the timer wheel's
    // extra tick: 208 ms with an RTT of (almost) zero, as Linux does on a 2 ms path.
    t.advance(ms(207));
    assert_eq!(t.pending_to_c(), Vec::<String>::new());
    t.advance(ms(1));
    assert_eq!(t.deliver_to_c(), ["F."]);
    assert!(noted(&t.c_log, Note::TimeWaitRestarted));
    assert_eq!(t.deliver_to_s(), ["."]);
    assert_eq!(t.s.table_sizes(), (0, 0), "LAST_ACK -> CLOSED");
    assert_eq!(t.s.counters().fin_retransmits, 1);
    // TIME_WAIT restarted at the retransmission: it now ends 60 s after it, not after the
    // first FIN.
    let restarted_at = t.now;
    t.advance(secs(60) - SimDuration::from_millis(1));
    assert_eq!(t.c.table_sizes(), (0, 1));
    t.advance(ms(1));
    assert_eq!(t.c.table_sizes(), (0, 0));
    assert_eq!(t.now, restarted_at + secs(60));
}

#[test]
fn lost_final_ack_without_time_wait_resets_the_peer() {
    let mut t = Pair::new(
        TcpConfig {
            time_wait: Some(SimDuration::ZERO),
            ..linux(1000)
        },
        linux(5000),
    );
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    t.deliver_to_s();
    // The server half-closes and keeps its socket, so its program sees what happens next.
    t.s.shutdown(t.now, s).unwrap();
    assert_eq!(t.deliver_to_c(), ["F."]);
    assert_eq!(t.lose_to_s(), ["."], "the final ACK is lost");
    assert_eq!(
        path(&t.c_log),
        [
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT",
            "CLOSED"
        ],
        "TIME_WAIT of length zero closes at once"
    );
    t.advance(ms(208));
    assert_eq!(t.deliver_to_c(), ["F."], "the server retransmits its FIN");
    assert!(noted(&t.c_log, Note::ResetNoConnection));
    assert_eq!(
        t.deliver_to_s(),
        ["R"],
        "nothing remembers the connection: RST"
    );
    assert_eq!(errors(&t.s_log), ["ECONNRESET"]);
    assert!(path(&t.s_log).ends_with(&["LAST_ACK", "CLOSED"]));
    assert_eq!(
        t.s.send(t.now, s, b"x"),
        Err(netsim_tcp::Errno::ConnReset),
        "the program writing to the socket gets \"connection reset\""
    );
    // Follows Linux tcp_recvmsg: the client's FIN came before the RST, so reading still ends
    // the stream cleanly.
    let mut buf = Vec::new();
    assert_eq!(t.s.recv(t.now, s, &mut buf, 100), Ok(Received::Eof));
}

#[test]
fn simultaneous_close_goes_through_closing_on_both_sides() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    t.s.close(t.now, s).unwrap();
    assert_eq!(t.pending_to_s(), ["F."]);
    assert_eq!(t.pending_to_c(), ["F."]);
    // Each FIN reaches a side in FIN_WAIT_1 whose own FIN is not yet acknowledged: CLOSING.
    assert_eq!(t.deliver_to_s(), ["F."]);
    assert_eq!(t.deliver_to_c(), ["F.", "."]);
    assert_eq!(t.deliver_to_s(), ["."]);
    let expected = ["FIN_WAIT_1", "CLOSING", "TIME_WAIT"];
    assert!(path(&t.c_log).ends_with(&expected), "{:?}", path(&t.c_log));
    assert!(path(&t.s_log).ends_with(&expected), "{:?}", path(&t.s_log));
    assert_eq!(t.c.table_sizes(), (0, 1));
    assert_eq!(t.s.table_sizes(), (0, 1));
}

#[test]
fn ack_lost_so_the_fin_arrives_first_gives_closing() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    t.advance(ms(40)); // the server's delayed ACK of the FIN goes out ...
    assert_eq!(t.lose_to_c(), ["."]); // ... and is lost
    t.s.close(t.now, s).unwrap();
    assert_eq!(
        t.deliver_to_c(),
        ["F."],
        "the server's FIN overtakes nothing: it is alone"
    );
    // This FIN acknowledges ours too, so FIN_WAIT_1 goes on to TIME_WAIT (through
    // FIN_WAIT_2 on Linux). To see CLOSING the FIN must not acknowledge our FIN: the peer
    // sent its FIN before ours arrived.
    assert!(path(&t.c_log).ends_with(&["FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"]));

    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.s.close(t.now, s).unwrap();
    let server_fin = t.pending_to_c();
    assert_eq!(server_fin, ["F."]);
    t.c.close(t.now, c).unwrap();
    // The client's FIN crossed the server's; the server's ACK of it is lost, its FIN arrives.
    assert_eq!(t.deliver_to_s(), ["F."]);
    let from_server = t.pending_to_c();
    assert_eq!(from_server, ["F.", "."]);
    t.collect();
    t.to_c.pop(); // lose the ACK of the client's FIN
    let fin = t.to_c[0].clone();
    assert_eq!(t.deliver_to_c(), ["F."]);
    assert!(
        path(&t.c_log).ends_with(&["FIN_WAIT_1", "CLOSING"]),
        "{:?}",
        path(&t.c_log)
    );
    // An ACK that does not cover our FIN (the server's FIN's number, without the FIN)
    // leaves CLOSING alone: only the ACK of our FIN leads to TIME_WAIT.
    let mut short = fin.clone();
    short.segment.flags = netsim_core::TcpFlags::ACK;
    short.segment.seq = fin.segment.seq.add(1);
    to_client(&mut t, &short);
    assert_eq!(path(&t.c_log).last(), Some(&"CLOSING"));
    // The client acknowledges the FIN; its own FIN is retransmitted after the RTO and the
    // server (CLOSING too, then TIME_WAIT) answers; the client moves on to TIME_WAIT.
    t.run_for(secs(5));
    assert!(
        path(&t.c_log).ends_with(&["FIN_WAIT_1", "CLOSING", "TIME_WAIT"]),
        "{:?}",
        path(&t.c_log)
    );
    assert!(t.c.counters().fin_retransmits >= 1);
    assert_legal(&t.c_log);
    assert_legal(&t.s_log);
}

/// RFC 9293 §3.10.7.4 (fifth step): an ACK of our FIN moves FIN_WAIT_1 to FIN_WAIT_2, also
/// when the segment carrying it has a FIN that cannot be taken yet (it lies ahead of lost
/// data). The rfc profile's diagram would take FIN_WAIT_1 straight to TIME_WAIT with that
/// FIN, so it must see the ACK on its own; Linux takes the ACK first anyway. When the lost
/// data arrives the queued FIN is taken: TIME_WAIT.
#[test]
fn a_fin_ahead_of_a_gap_that_acknowledges_our_fin_gives_fin_wait_2() {
    let diagram = TcpConfig {
        fin_wait_1_acks_first: false,
        ..linux(1000)
    };
    for client in [diagram, linux(1000)] {
        let mut t = Pair::new(client, linux(5000));
        let (c, s) = t.establish();
        t.c.shutdown(t.now, c).unwrap();
        assert_eq!(t.deliver_to_s(), ["F."]);
        t.s.send(t.now, s, &[7; 100]).unwrap();
        let data = take_to_c(&mut t);
        assert_eq!(summaries(&data), ["P. 100"]);
        t.s.close(t.now, s).unwrap();
        assert_eq!(t.deliver_to_c(), ["F."], "the FIN, ahead of the lost data");
        assert_eq!(t.c.state_of(c), Ok(State::FinWait2));
        to_client(&mut t, &data[0]);
        assert_eq!(t.c.table_sizes(), (0, 1), "in the TIME_WAIT table");
        assert_eq!(t.c_read(c), (vec![7; 100], Received::Data(100)));
        assert_eq!(
            path(&t.c_log)[3..],
            ["FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"]
        );
        assert_legal(&t.c_log);
    }
}
