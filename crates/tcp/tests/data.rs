//! Data transfer, segment by segment: reassembly, sequence wrap-around, flow control and the
//! persist timer, Nagle, delayed ACKs, fast retransmit, the retransmission timeout, slow
//! start, half-close, and the resets that close() with unread data and orphaned connections
//! produce. Both ends run the Linux profile with fixed ISNs (client 1000, server 5000), so
//! the client's first data byte is sequence number 1001 and the server's 5001.

mod common;

use common::*;
use netsim_core::{SimDuration, SimTime};
use netsim_tcp::{Errno, Note, Received, SocketEvent, SocketId, State, TcpConfig, TcpEvent};

/// Effective send MSS on the Linux profile: 1460 announced, less the 12 bytes the timestamps
/// option takes in every segment.
const MSS: usize = 1448;

/// `n` bytes that do not repeat with a short period, so a misplaced segment shows.
fn pattern(n: usize) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Virtual time in milliseconds.
fn now_ms(t: &Pair) -> u64 {
    t.now.since_start().as_millis()
}

/// Lets time pass up to `ms` milliseconds after the start, firing timers.
fn advance_to_ms(t: &mut Pair, ms: u64) {
    let target = SimTime::after(SimDuration::from_millis(ms));
    t.advance(target - t.now);
}

/// The retransmissions in a log: (sequence number, attempt).
fn retransmits(log: &[TcpEvent]) -> Vec<(u32, u32)> {
    log.iter()
        .filter_map(|e| match e {
            TcpEvent::Retransmit { seq, attempt, .. } => Some((*seq, *attempt)),
            _ => None,
        })
        .collect()
}

/// How many times a log has the note.
fn count_notes(log: &[TcpEvent], note: Note) -> usize {
    log.iter()
        .filter(|e| matches!(e, TcpEvent::Note { note: n, .. } if *n == note))
        .count()
}

/// Runs the connection, the server's application reading as data arrives, until it has read
/// `n` bytes (or panics after `limit` of virtual time).
fn server_reads(t: &mut Pair, s: SocketId, n: usize, limit: SimDuration) -> Vec<u8> {
    let end = t.now + limit;
    let mut got = Vec::new();
    while got.len() < n {
        t.exchange();
        let (bytes, _) = t.s_read(s);
        if !bytes.is_empty() {
            got.extend(bytes);
            continue;
        }
        let next = [t.c.next_deadline(), t.s.next_deadline()]
            .into_iter()
            .flatten()
            .min()
            .expect("data is missing and no timer is armed: the transfer is stuck");
        assert!(next <= end, "transfer not done after {limit:?}");
        t.advance(next.saturating_since(t.now));
    }
    got
}

// -----------------------------------------------------------------------------------------
// Reassembly

/// RFC 9293 §3.10.7.4 (seventh step: text beyond RCV.NXT waits for the gap before it; a
/// segment that is not acceptable is answered with an ACK) and RFC 5681 §4.2 (an out-of-order
/// segment is acknowledged at once, with a duplicate ACK).
#[test]
fn out_of_order_segments_are_reassembled_and_duplicates_acked_not_delivered() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    let data = pattern(3 * MSS);
    assert_eq!(t.c.send(t.now, c, &data), Ok(3 * MSS));
    let segs = take_to_s(&mut t);
    assert_eq!(summaries(&segs), [". 1448", ". 1448", "P. 1448"]);
    assert_eq!(seqs(&segs), [1001, 2449, 3897]);

    // The third segment arrives first: held, and a duplicate ACK for 1001 goes out at once.
    to_server(&mut t, &segs[2]);
    let out = take_to_c(&mut t);
    assert_eq!(
        (summaries(&out), acks(&out)),
        (vec![".".into()], vec![1001])
    );
    assert_eq!(t.s.readable(s), 0);
    // The same segment again: stored once, acknowledged again.
    to_server(&mut t, &segs[2]);
    assert_eq!(acks(&take_to_c(&mut t)), [1001]);
    // The second: still a gap before it.
    to_server(&mut t, &segs[1]);
    assert_eq!(acks(&take_to_c(&mut t)), [1001]);
    assert_eq!(t.s.readable(s), 0);
    // The first fills the gap: everything is acknowledged at once and readable, in order.
    to_server(&mut t, &segs[0]);
    assert_eq!(acks(&take_to_c(&mut t)), [1001 + 3 * MSS as u32]);
    assert_eq!(t.s_read(s), (data.clone(), Received::Data(3 * MSS)));

    // An old duplicate (entirely below RCV.NXT) is acknowledged and never delivered again.
    to_server(&mut t, &segs[1]);
    let out = take_to_c(&mut t);
    assert_eq!(
        (summaries(&out), acks(&out)),
        (vec![".".into()], vec![5345])
    );
    assert!(noted(&t.s_log, Note::OutOfWindow));
    assert_eq!(t.s_read(s), (vec![], Received::WouldBlock));
    assert_legal(&t.s_log);
}

// -----------------------------------------------------------------------------------------
// Sequence numbers

/// RFC 9293 §3.4: sequence numbers are compared modulo 2^32, so a transfer that crosses
/// 2^32 - 1 -> 0 is no different from any other.
#[test]
fn transfer_across_the_sequence_number_wrap_is_intact_both_ways() {
    let isn = u32::MAX - 100;
    let mut t = Pair::new(linux(isn), linux(isn));
    let (c, s) = t.establish();
    let up = pattern(10_000);
    let down: Vec<u8> = pattern(10_003)[3..].to_vec();
    assert_eq!(t.c.send(t.now, c, &up), Ok(10_000));
    assert_eq!(t.s.send(t.now, s, &down), Ok(10_000));
    t.collect();
    // The first segment starts just below 2^32; the next one has wrapped.
    assert_eq!(
        seqs(&t.to_s)[..2],
        [isn.wrapping_add(1), isn.wrapping_add(1 + MSS as u32)]
    );
    assert!(t.to_s[1].segment.seq.0 < 2000, "the second segment wrapped");
    t.run_for(secs(2));
    assert_eq!(t.c_read(c), (down.clone(), Received::Data(10_000)));
    assert_eq!(t.s_read(s), (up.clone(), Received::Data(10_000)));
    assert_eq!(t.c.counters().retransmits, 0);
    assert_eq!(t.s.counters().retransmits, 0);
    assert_eq!(t.c.unacked(c), 0, "every byte acknowledged across the wrap");
    assert_eq!(t.s.unacked(s), 0);
}

// -----------------------------------------------------------------------------------------
// Flow control

/// RFC 9293 §3.8.6.1 (the sender keeps within the offered window and, facing a zero window,
/// probes it on a backed-off persist timer; Linux probes with SEQ = SND.UNA - 1) and
/// §3.8.6.2.2 (the receiver announces the window again once its application has made room).
#[test]
fn zero_window_is_probed_with_backoff_until_the_reader_reopens_it() {
    let server = TcpConfig {
        rcv_buf: 4 * MSS as u32,
        rcv_buf_max: 4 * MSS as u32,
        ..linux(5000)
    };
    let mut t = Pair::new(linux(1000), server);
    let (c, s) = t.establish();
    let data = pattern(12 * MSS);
    assert_eq!(t.c.send(t.now, c, &data), Ok(12 * MSS));
    // The window offered in the SYN-ACK holds four segments: no more go out.
    let segs = take_to_s(&mut t);
    assert_eq!(lens(&segs), [MSS; 4]);
    for p in &segs {
        to_server(&mut t, p);
    }
    // Quick-ACK mode (Linux tcp_incr_quickack: a quota of window / 2 segments, here 2)
    // acknowledges the first two segments at once, then every second one; the window
    // closes as the unread data fills the buffer.
    let out = take_to_c(&mut t);
    assert_eq!(
        acks(&out),
        [
            1001 + MSS as u32,
            1001 + 2 * MSS as u32,
            1001 + 4 * MSS as u32
        ]
    );
    assert_eq!(windows(&out), [3 * MSS as u16, 2 * MSS as u16, 0]);
    for p in &out {
        to_client(&mut t, p);
    }
    assert_eq!(
        t.pending_to_s(),
        Vec::<String>::new(),
        "stopped at the window"
    );
    assert_eq!(t.c.unacked(c), 8 * MSS);

    // Persist timer: probes at the RTO (SRTT + 200 ms), then doubling, each on Linux's
    // timer wheel (4 ms jiffies, 32 ms steps for timeouts of 252 ms or more): 208, 640, 1472,
    // 3104 ms.
    let una = 1001 + 4 * MSS as u32;
    for at in [208, 640, 1472, 3104] {
        advance_to_ms(&mut t, at - 1);
        assert_eq!(
            t.pending_to_s(),
            Vec::<String>::new(),
            "no probe before {at} ms"
        );
        advance_to_ms(&mut t, at);
        let probe = take_to_s(&mut t);
        assert_eq!(summaries(&probe), ["."], "one probe at {at} ms");
        assert_eq!(seqs(&probe), [una - 1], "SEQ = SND.UNA - 1");
        to_server(&mut t, &probe[0]);
        // The receiver answers with its (still zero) window, at most once per 500 ms (Linux
        // tcp_invalid_ratelimit: the probe is an out-of-window pure ACK), so the probe 400 ms
        // after the first goes unanswered.
        let answer = take_to_c(&mut t);
        if at == 640 {
            assert!(
                answer.is_empty(),
                "answer to the probe at {at} ms is rate-limited"
            );
            assert!(t.pending_to_s().is_empty());
            continue;
        }
        assert_eq!((acks(&answer), windows(&answer)), (vec![una], vec![0]));
        to_client(&mut t, &answer[0]);
        assert!(t.pending_to_s().is_empty());
    }
    assert_eq!(count_notes(&t.c_log, Note::WindowProbe), 4);

    // The application reads: the window update goes out at once and the transfer resumes.
    let mut got = t.s_read(s).0;
    assert_eq!(got.len(), 4 * MSS);
    let update = take_to_c(&mut t);
    assert_eq!(summaries(&update), ["."]);
    assert_eq!(
        (acks(&update), windows(&update)),
        (vec![una], vec![4 * MSS as u16])
    );
    to_client(&mut t, &update[0]);
    t.collect();
    assert_eq!(lens(&t.to_s), [MSS; 4], "the next window's worth");
    got.extend(server_reads(&mut t, s, 8 * MSS, secs(10)));
    assert_eq!(got, data);
    assert_eq!(t.c.unacked(c), 0);
}

/// RFC 9293 §3.10.7.4: "If the RCV.WND is zero, no segments will be acceptable, but special
/// allowance should be made to accept valid ACKs": the text of a segment at RCV.NXT is
/// dropped, its ACK is taken, and the answer carries the zero window.
#[test]
fn zero_window_still_takes_a_valid_ack() {
    // RFC window rules: the client offers its whole buffer, four segments.
    let client = TcpConfig {
        rcv_buf: 4 * MSS as u32,
        rcv_buf_max: 4 * MSS as u32,
        window_rules: netsim_tcp::WindowRules::Rfc,
        ..linux(1000)
    };
    let mut t = Pair::new(client, linux(5000));
    let (c, s) = t.establish();
    let down = pattern(5 * MSS);
    t.s.send(t.now, s, &down).unwrap();
    let segs = take_to_c(&mut t);
    assert_eq!(lens(&segs), [MSS; 4], "the client's buffer holds four");
    for p in &segs {
        to_client(&mut t, p);
    }
    let acks_out = take_to_s(&mut t);
    assert_eq!(windows(&acks_out), [3 * MSS as u16, 2 * MSS as u16, 0]);
    let rcv_nxt = 5001 + 4 * MSS as u32;
    // The client sends 100 bytes; the server's next data segment (sent as by a peer that
    // ignores the zero window) acknowledges them.
    t.c.send(t.now, c, &[4; 100]).unwrap();
    assert_eq!(t.lose_to_s(), ["P. 100"]);
    // 50 more wait behind the unacknowledged short segment (Nagle).
    t.c.send(t.now, c, &[5; 50]).unwrap();
    assert!(t.pending_to_s().is_empty());
    let mut next = segs[3].clone();
    next.segment.seq = netsim_core::Seq(rcv_nxt);
    next.segment.ack = netsim_core::Seq(1101);
    next.segment.payload = down[4 * MSS..].to_vec();
    to_client(&mut t, &next);
    assert_eq!(
        t.c.unacked(c),
        50,
        "the ACK was taken, and the 50 bytes sent"
    );
    assert_eq!(t.c.readable(c), 4 * MSS, "the text was not");
    let answer = take_to_s(&mut t);
    assert_eq!(
        (summaries(&answer), acks(&answer), windows(&answer)),
        (
            vec![".".into(), "P. 50".into()],
            vec![rcv_nxt, rcv_nxt],
            vec![0, 0]
        )
    );
}

/// Follows Linux tcp_data_queue: a bare FIN exactly at RCV.NXT is taken even though the
/// receive window is zero (the FIN needs no buffer space), and acknowledged (ACK = FIN + 1).
/// RFC 9293's acceptability test (`fin_at_zero_window` off, as in the rfc profile) drops it
/// with an ACK of RCV.NXT, and the peer retransmits its FIN until the reader makes room.
#[test]
fn bare_fin_at_zero_window_is_accepted_and_acked() {
    for taken in [true, false] {
        // RFC window rules: the client offers exactly its four-segment buffer.
        let client = TcpConfig {
            rcv_buf: 4 * MSS as u32,
            rcv_buf_max: 4 * MSS as u32,
            window_rules: netsim_tcp::WindowRules::Rfc,
            fin_at_zero_window: taken,
            ..linux(1000)
        };
        let mut t = Pair::new(client, linux(5000));
        let (c, s) = t.establish();
        t.s.send(t.now, s, &pattern(4 * MSS)).unwrap();
        t.s.shutdown(t.now, s).unwrap();
        let segs = take_to_c(&mut t);
        assert_eq!(summaries(&segs)[3..], ["P. 1448", "F."], "a bare FIN last");
        for p in &segs {
            to_client(&mut t, p);
        }
        let fin_seq = 5001 + 4 * MSS as u32;
        t.advance(ms(48)); // the client's delayed ACK, if one is owed
        let answer = take_to_s(&mut t);
        let last = answer.last().expect("an ACK");
        assert_eq!(
            last.segment.window, 0,
            "taken={taken}: the window is still zero"
        );
        if taken {
            assert_eq!(last.segment.ack.0, fin_seq + 1, "ACK = FIN + 1");
            assert_eq!(t.c.state_of(c), Ok(State::CloseWait));
            assert!(t.c_sock.contains(&SocketEvent::PeerClosed(c)));
            to_server(&mut t, last);
            assert_eq!(t.s.state_of(s), Ok(State::FinWait2));
            t.advance(secs(5));
            // Only the one tail loss probe that went out while the client's delayed ACK of
            // the FIN was pending (the harness has an RTT of zero), then no FIN loop.
            let counters = t.s.counters();
            assert_eq!(
                (
                    counters.fin_retransmits,
                    counters.loss_probes,
                    counters.timeouts
                ),
                (1, 1, 0),
                "no FIN loop"
            );
        } else {
            assert_eq!(last.segment.ack.0, fin_seq, "the FIN was dropped");
            assert_eq!(t.c.state_of(c), Ok(State::Established));
            to_server(&mut t, last);
            t.advance(secs(5));
            assert!(
                t.s.counters().fin_retransmits > 1,
                "the FIN again and again"
            );
            assert_eq!(t.s.state_of(s), Ok(State::FinWait1));
        }
        assert_legal(&t.c_log);
    }
}

/// RFC 7323 §2.2-2.3: the window field of a SYN or SYN-ACK is never scaled; every later one
/// is, by the shift the receiver announced (Linux: 2 for a 128 KiB buffer).
#[test]
fn window_field_is_scaled_except_on_syn_segments() {
    let client = TcpConfig {
        initial_cwnd_segments: 100,
        ..linux(1000)
    };
    let mut t = Pair::new(client, linux(5000));
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let c =
        t.c.connect(t.now, server_addr(), Default::default())
            .unwrap();
    t.collect();
    // Linux tcp_select_initial_window: 65535 rounded down to whole segments (44 × 1460 in
    // the SYN, 45 × 1448 in the SYN-ACK, whose MSS leaves room for timestamps), and the
    // scale that tcp_rmem[2] (6 MiB) needs: 7.
    let syn = &t.to_s[0].segment;
    assert_eq!((syn.window, syn.options.window_scale), (64240, Some(7)));
    t.deliver_to_s();
    let syn_ack = &t.to_c[0].segment;
    assert_eq!(
        (syn_ack.window, syn_ack.options.window_scale),
        (65160, Some(7))
    );
    t.deliver_to_c();
    let ack = &t.to_s[0].segment;
    assert_eq!(
        (ack.window, ack.options.window_scale),
        (502, None),
        "64240 >> 7, rounded up to a whole unit of 128 (Linux __tcp_select_window)"
    );
    t.deliver_to_s();
    let (s, _) = t.s.accept(t.now, listener).unwrap().unwrap();
    // The SYN-ACK's 65160 is taken as is: 45 full segments fit, not 128 times as many (the
    // congestion window, 100 segments, is not the limit).
    t.c.send(t.now, c, &pattern(100 * MSS)).unwrap();
    let segs = take_to_s(&mut t);
    assert_eq!(lens(&segs), [MSS; 45]);
    to_server(&mut t, &segs[0]);
    to_server(&mut t, &segs[1]);
    // Both are acknowledged at once (quick-ACK mode), each offering a window grown by two
    // MSS (Linux tcp_grow_window) and sent in units of 128 rounded up: 68080 and 71000.
    let ack = take_to_c(&mut t);
    assert_eq!(windows(&ack), [532, 555]);
    assert_eq!(t.s.readable(s), 2 * MSS);
}

// -----------------------------------------------------------------------------------------
// Nagle and delayed ACKs

/// RFC 1122 §4.2.3.4 (Nagle): while data is unacknowledged, a short segment waits.
#[test]
fn nagle_holds_a_second_small_segment_until_the_first_is_acked() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, _s) = t.establish();
    t.c.send(t.now, c, &[1; 100]).unwrap();
    t.c.send(t.now, c, &[2; 100]).unwrap();
    assert_eq!(t.deliver_to_s(), ["P. 100"], "the second 100 bytes wait");
    // The server's delayed ACK releases them at 40 ms.
    t.advance(ms(39));
    assert_eq!(t.deliver_to_c(), Vec::<String>::new());
    t.advance(ms(1));
    assert_eq!(t.deliver_to_c(), ["."]);
    let second = take_to_s(&mut t);
    assert_eq!(
        (summaries(&second), seqs(&second)),
        (vec!["P. 100".into()], vec![1101])
    );
    assert_eq!(now_ms(&t), 40);
}

/// Follows Linux (tcp_nagle_check with tcp_minshall_check): a short segment waits only while
/// an earlier short segment is unacknowledged, so the short tail of a write goes out at once
/// behind full segments still in flight; classic RFC 1122 Nagle (`nagle_minshall` off, as
/// in the rfc profile) holds it until everything sent is acknowledged.
#[test]
fn nagle_minshall_sends_a_short_tail_behind_unacknowledged_full_segments() {
    for minshall in [true, false] {
        let client = TcpConfig {
            nagle_minshall: minshall,
            ..linux(1000)
        };
        let mut t = Pair::new(client, linux(5000));
        let (c, _s) = t.establish();
        t.c.send(t.now, c, &pattern(2 * MSS + 100)).unwrap();
        let first = take_to_s(&mut t);
        if minshall {
            assert_eq!(lens(&first), [MSS, MSS, 100], "the tail goes at once");
            // Now a short segment is in flight: the next short write waits for its ACK.
            t.c.send(t.now, c, &[9; 10]).unwrap();
            assert_eq!(take_to_s(&mut t).len(), 0, "held behind the short tail");
        } else {
            assert_eq!(lens(&first), [MSS, MSS], "the tail waits");
        }
        for p in &first {
            to_server(&mut t, p);
        }
        t.advance(ms(40));
        t.deliver_to_c();
        let rest = take_to_s(&mut t);
        let expected: &[usize] = if minshall { &[10] } else { &[100] };
        assert_eq!(lens(&rest), expected, "minshall={minshall}: after the ACK");
    }
}

/// RFC 1122 §4.2.3.4: TCP_NODELAY turns Nagle's algorithm off: small segments go out at once.
#[test]
fn nagle_off_with_nodelay_sends_a_second_small_segment_at_once() {
    let mut t = Pair::linux();
    let (c, _s) = t.establish();
    t.c.set_nodelay(c, true).unwrap();
    t.c.send(t.now, c, &[1; 100]).unwrap();
    t.c.send(t.now, c, &[2; 100]).unwrap();
    let segs = take_to_s(&mut t);
    assert_eq!(summaries(&segs), ["P. 100", "P. 100"]);
    assert_eq!(seqs(&segs), [1001, 1101]);
}

/// RFC 1122 §4.2.3.2 and RFC 5681 §4.2: an ACK may be delayed, here by 40 ms.
#[test]
fn one_small_segment_is_acked_after_the_delayed_ack_timeout() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, _s) = t.establish();
    t.c.send(t.now, c, &[7; 100]).unwrap();
    assert_eq!(t.deliver_to_s(), ["P. 100"]);
    t.advance(ms(39));
    assert_eq!(t.pending_to_c(), Vec::<String>::new(), "not yet at 39 ms");
    t.advance(ms(1));
    let ack = take_to_c(&mut t);
    assert_eq!(
        (summaries(&ack), acks(&ack)),
        (vec![".".into()], vec![1101])
    );
}

/// RFC 1122 §4.2.3.2 and RFC 5681 §4.2: an ACK is sent for at least every second full-size
/// segment.
#[test]
fn delayed_ack_not_for_the_second_full_size_segment() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, _s) = t.establish();
    t.c.send(t.now, c, &pattern(2 * MSS)).unwrap();
    let segs = take_to_s(&mut t);
    assert_eq!(summaries(&segs), [". 1448", "P. 1448"]);
    to_server(&mut t, &segs[0]);
    assert!(t.pending_to_c().is_empty(), "the first is delayed");
    to_server(&mut t, &segs[1]);
    let ack = take_to_c(&mut t);
    assert_eq!(
        (summaries(&ack), acks(&ack)),
        (vec![".".into()], vec![1001 + 2 * MSS as u32])
    );
    assert_eq!(now_ms(&t), 0);
}

/// RFC 1122 §4.2.3.2: delayed ACKs are optional (`delayed_ack: None`): every segment is
/// acknowledged as it arrives.
#[test]
fn without_delayed_ack_every_segment_is_acked_at_once() {
    let server = TcpConfig {
        delayed_ack: None,
        ..linux(5000)
    };
    let mut t = Pair::new(linux(1000), server);
    let (c, _s) = t.establish();
    t.c.set_nodelay(c, true).unwrap();
    t.c.send(t.now, c, &pattern(MSS)).unwrap();
    t.c.send(t.now, c, &[1; 100]).unwrap();
    t.c.send(t.now, c, &[2; 100]).unwrap();
    let segs = take_to_s(&mut t);
    assert_eq!(lens(&segs), [MSS, 100, 100]);
    for (p, ack) in segs.iter().zip([2449, 2549, 2649]) {
        to_server(&mut t, p);
        assert_eq!(acks(&take_to_c(&mut t)), [ack]);
    }
    assert_eq!(now_ms(&t), 0);
}

// -----------------------------------------------------------------------------------------
// Loss recovery

/// RFC 5681 §3.2 and RFC 6582 §3.2 (NewReno): the third duplicate ACK retransmits the
/// missing segment at once, long before the RTO; the ACK that covers it ends recovery.
#[test]
fn three_duplicate_acks_fast_retransmit_the_lost_segment() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, s) = t.establish();
    let data = pattern(10 * MSS);
    t.c.send(t.now, c, &data).unwrap();
    let segs = take_to_s(&mut t);
    assert_eq!(lens(&segs), [MSS; 10]);
    let lost = segs[2].segment.seq.0;
    assert_eq!(lost, 1001 + 2 * MSS as u32);
    for (i, p) in segs.iter().enumerate() {
        if i != 2 {
            to_server(&mut t, p);
        }
    }
    // One ACK for the first two segments, then one duplicate for each of the seven after
    // the hole.
    let out = take_to_c(&mut t);
    assert_eq!(acks(&out), [lost; 8]);
    to_client(&mut t, &out[0]);
    assert!(t.pending_to_s().is_empty());
    for dup in &out[1..3] {
        to_client(&mut t, dup);
        assert!(t.pending_to_s().is_empty(), "two duplicates are not enough");
    }
    to_client(&mut t, &out[3]);
    let resent = take_to_s(&mut t);
    assert_eq!((seqs(&resent), lens(&resent)), (vec![lost], vec![MSS]));
    assert_eq!(resent[0].segment.payload, segs[2].segment.payload);
    assert!(noted(&t.c_log, Note::FastRetransmit));
    assert_eq!(retransmits(&t.c_log), [(lost, 1)]);
    for dup in &out[4..] {
        to_client(&mut t, dup);
    }
    assert!(
        t.pending_to_s().is_empty(),
        "nothing more to send or resend"
    );
    // No time has passed: this was not the RTO.
    assert_eq!(now_ms(&t), 0);
    to_server(&mut t, &resent[0]);
    assert_eq!(acks(&t.to_c), [1001 + 10 * MSS as u32]);
    t.exchange();
    assert_eq!(t.s_read(s).0, data);
    assert_eq!(t.c.unacked(c), 0);
    assert_eq!(t.c.counters().retransmits, 1);
}

/// RFC 6582 §3.2 (NewReno): in recovery, a partial ACK (one below the recovery point) resends
/// the next hole at once, without waiting for three more duplicates or the RTO; the ACK that
/// reaches the recovery point ends recovery.
#[test]
fn fast_retransmit_newreno_partial_ack_resends_the_next_hole_at_once() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, s) = t.establish();
    let data = pattern(10 * MSS);
    t.c.send(t.now, c, &data).unwrap();
    let segs = take_to_s(&mut t);
    let (hole1, hole2) = (segs[2].segment.seq.0, segs[5].segment.seq.0);
    for (i, p) in segs.iter().enumerate() {
        if i != 2 && i != 5 {
            to_server(&mut t, p);
        }
    }
    let out = take_to_c(&mut t);
    assert_eq!(acks(&out), [hole1; 7], "one ACK, then six duplicates");
    for p in &out[..4] {
        to_client(&mut t, p);
    }
    let first = take_to_s(&mut t);
    assert_eq!(
        seqs(&first),
        [hole1],
        "fast retransmit on the third duplicate"
    );
    for p in &out[4..] {
        to_client(&mut t, p);
    }
    assert!(t.pending_to_s().is_empty());
    // The first hole filled: the server acknowledges up to the second hole at once.
    to_server(&mut t, &first[0]);
    let partial = take_to_c(&mut t);
    assert_eq!(acks(&partial), [hole2]);
    to_client(&mut t, &partial[0]);
    let second = take_to_s(&mut t);
    assert_eq!((seqs(&second), lens(&second)), (vec![hole2], vec![MSS]));
    assert_eq!(retransmits(&t.c_log), [(hole1, 1), (hole2, 1)]);
    assert_eq!(
        count_notes(&t.c_log, Note::FastRetransmit),
        1,
        "one recovery episode"
    );
    to_server(&mut t, &second[0]);
    assert_eq!(acks(&t.to_c), [1001 + 10 * MSS as u32]);
    t.exchange();
    assert_eq!(now_ms(&t), 0, "no RTO involved");
    assert_eq!(t.s_read(s).0, data);
    assert_eq!(t.c.unacked(c), 0);
}

/// RFC 9293 §3.10.7.4 (fifth step: an ACK of something not yet sent is dropped) and RFC 6298
/// §5.4: when the peer took only part of a segment (here the network cut it), the timeout
/// resends from SND.UNA only what was sent before, never bytes beyond SND.MAX, so the ACK of
/// the retransmission is accepted.
#[test]
fn rto_after_a_partial_ack_resends_only_what_was_sent() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, s) = t.establish();
    let data = pattern(2 * MSS + 100);
    t.c.send(t.now, c, &data).unwrap();
    // Classic Nagle holds the 100-byte tail: SND.MAX is 1001 + 2 * 1448 = 3897.
    let segs = take_to_s(&mut t);
    assert_eq!(lens(&segs), [MSS, MSS]);
    to_server(&mut t, &segs[0]);
    let mut head = segs[1].clone();
    head.segment.payload.truncate(500);
    to_server(&mut t, &head);
    t.advance(ms(40));
    assert_eq!(
        acks(&t.to_c),
        [2949],
        "the delayed ACK, inside the second segment"
    );
    t.deliver_to_c();
    // The RTO (200 ms after that ACK) resends 2949..3897: 948 bytes, not a full MSS.
    advance_to_ms(&mut t, 240);
    let resent = take_to_s(&mut t);
    assert_eq!((seqs(&resent), lens(&resent)), (vec![2949], vec![948]));
    to_server(&mut t, &resent[0]);
    t.run_for(secs(1));
    assert_eq!(t.s_read(s).0, data);
    assert_eq!(t.c.unacked(c), 0);
    assert_eq!(t.c.counters().retransmits, 1);
}

/// RFC 6298 §5.4-5.6: on each timeout the earliest unacknowledged segment is resent and the
/// RTO doubles; after `data_retries` the connection fails with ETIMEDOUT (RFC 1122
/// §4.2.3.5), which the application sees.
#[test]
fn rto_retransmits_with_doubling_then_times_out() {
    let client = TcpConfig {
        data_retries: 3,
        ..rfc_rules(1000)
    };
    let mut t = Pair::new(client, rfc_rules(5000));
    let (c, _s) = t.establish();
    t.c.send(t.now, c, &[9; 100]).unwrap();
    assert_eq!(t.lose_to_s(), ["P. 100"]);
    // RTT 0 in the handshake: the RTO sits at its 200 ms floor, then doubles.
    for (attempt, at) in [(1, 200), (2, 600), (3, 1400)] {
        advance_to_ms(&mut t, at - 1);
        assert!(t.pending_to_s().is_empty(), "nothing before {at} ms");
        advance_to_ms(&mut t, at);
        let resent = take_to_s(&mut t);
        assert_eq!(
            (summaries(&resent), seqs(&resent)),
            (vec!["P. 100".into()], vec![1001]),
            "attempt {attempt} at {at} ms"
        );
        assert_eq!(retransmits(&t.c_log).last(), Some(&(1001, attempt)));
    }
    advance_to_ms(&mut t, 2999);
    assert_eq!(t.c.state_of(c), Ok(State::Established));
    advance_to_ms(&mut t, 3000);
    assert!(t.pending_to_s().is_empty(), "no fourth retransmission");
    assert_eq!(errors(&t.c_log), ["ETIMEDOUT"]);
    assert!(t.c_sock.contains(&SocketEvent::Failed(c, Errno::TimedOut)));
    assert_eq!(t.c.state_of(c), Ok(State::Closed));
    assert_eq!(t.c.send(t.now, c, b"more"), Err(Errno::TimedOut));
    let mut buf = Vec::new();
    assert_eq!(t.c.recv(t.now, c, &mut buf, 10), Err(Errno::TimedOut));
}

/// RFC 6298 §3 and §5 (Karn's algorithm): the ACK of a retransmitted segment gives no RTT
/// sample, so the backed-off RTO stays until a segment sent once is acknowledged.
#[test]
fn karn_rto_stays_backed_off_after_the_ack_of_a_retransmission() {
    // Without timestamps, so RFC 6298 §3's one timed segment is the only RTT source.
    let client = TcpConfig {
        timestamps: false,
        ..rfc_rules(1000)
    };
    let mut t = Pair::new(client, rfc_rules(5000));
    let (c, _s) = t.establish();
    t.c.send(t.now, c, &[1; 100]).unwrap();
    t.lose_to_s();
    advance_to_ms(&mut t, 200);
    assert_eq!(
        t.deliver_to_s(),
        ["P. 100"],
        "first retransmission at 200 ms"
    );
    // The server's delayed ACK at 240 ms would be a 240 ms sample (RTO 30 + 4 * 60 = 270 ms)
    // if it were taken; the RTO must stay at the backed-off 400 ms.
    advance_to_ms(&mut t, 240);
    assert_eq!(t.deliver_to_c(), ["."]);
    assert_eq!(t.c.unacked(c), 0);
    t.c.send(t.now, c, &[2; 100]).unwrap();
    assert_eq!(t.lose_to_s(), ["P. 100"]);
    advance_to_ms(&mut t, 639);
    assert!(
        t.pending_to_s().is_empty(),
        "no retransmission at 510 ms or before 640 ms"
    );
    advance_to_ms(&mut t, 640);
    let resent = take_to_s(&mut t);
    assert_eq!(seqs(&resent), [1101]);
}

/// RFC 6298 §2.2-2.3: the first sample R sets SRTT = R, RTTVAR = R/2; later ones SRTT =
/// 7/8 SRTT + 1/8 R', RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|; RTO = SRTT + max(G, 4 RTTVAR).
#[test]
fn rto_is_srtt_plus_four_rttvar() {
    // Without timestamps, so RFC 6298 §3's one timed segment is the only RTT source.
    let client = TcpConfig {
        timestamps: false,
        ..rfc_rules(1000)
    };
    let mut t = Pair::new(client, rfc_rules(5000));
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let c =
        t.c.connect(t.now, server_addr(), Default::default())
            .unwrap();
    assert_eq!(t.deliver_to_s(), ["S"]);
    // The SYN-ACK takes 300 ms: R = 300 ms, so SRTT 300, RTTVAR 150, RTO 300 + 600 = 900 ms.
    advance_to_ms(&mut t, 300);
    assert_eq!(t.deliver_to_c(), ["S."]);
    t.deliver_to_s();
    t.s.accept(t.now, listener).unwrap().unwrap();
    t.c.send(t.now, c, &[1; 100]).unwrap();
    t.lose_to_s();
    advance_to_ms(&mut t, 1199);
    assert!(t.pending_to_s().is_empty());
    advance_to_ms(&mut t, 1200);
    let resent = take_to_s(&mut t);
    assert_eq!(seqs(&resent), [1001], "RTO 900 ms");
    to_server(&mut t, &resent[0]);
    // A clean sample (Karn: not that one): 100 bytes sent at 2000 ms, delivered at 2100,
    // acknowledged 40 ms later (delayed ACK): R' = 140 ms. RTTVAR = (3 * 150 + 160) / 4 =
    // 152.5, SRTT = (7 * 300 + 140) / 8 = 280, RTO = 280 + 610 = 890 ms.
    t.run_for(ms(500));
    assert_eq!(t.c.unacked(c), 0);
    advance_to_ms(&mut t, 2000);
    t.c.send(t.now, c, &[2; 100]).unwrap();
    let sample = take_to_s(&mut t);
    advance_to_ms(&mut t, 2100);
    to_server(&mut t, &sample[0]);
    advance_to_ms(&mut t, 2140);
    assert_eq!(t.deliver_to_c(), ["."]);
    t.c.send(t.now, c, &[3; 100]).unwrap();
    assert_eq!(t.lose_to_s(), ["P. 100"]);
    advance_to_ms(&mut t, 2140 + 889);
    assert!(t.pending_to_s().is_empty());
    advance_to_ms(&mut t, 2140 + 890);
    assert_eq!(seqs(&take_to_s(&mut t)), [1201], "RTO 890 ms");
}

/// RFC 5681 §3.1: after a retransmission timeout cwnd is one segment (loss window), and slow
/// start grows it again from there; ssthresh is half the flight.
#[test]
fn rto_collapses_cwnd_to_one_segment() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, s) = t.establish();
    let data = pattern(10 * MSS);
    t.c.send(t.now, c, &data).unwrap();
    assert_eq!(
        lens(&take_to_s(&mut t)),
        [MSS; 10],
        "the whole window is lost"
    );
    advance_to_ms(&mut t, 200);
    let one = take_to_s(&mut t);
    assert_eq!(seqs(&one), [1001], "one segment after the timeout");
    to_server(&mut t, &one[0]);
    advance_to_ms(&mut t, 240); // the server's delayed ACK
    t.deliver_to_c();
    let two = take_to_s(&mut t);
    assert_eq!(seqs(&two), [2449, 3897], "cwnd 2 after one ACK");
    for p in &two {
        to_server(&mut t, p);
    }
    t.deliver_to_c();
    let three = take_to_s(&mut t);
    assert_eq!(seqs(&three), [5345, 6793, 8241], "cwnd 3 after the next");
    for p in &three {
        to_server(&mut t, p);
    }
    let rest = server_reads(&mut t, s, 10 * MSS, secs(5));
    assert_eq!(rest, data);
}

/// RFC 6298 §5.4 then go-back-N: after the timeout every resent segment, not only the first,
/// is a retransmission, counted and traced.
#[test]
fn every_segment_resent_after_a_timeout_counts_as_a_retransmission() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, s) = t.establish();
    let data = pattern(4 * MSS);
    t.c.send(t.now, c, &data).unwrap();
    assert_eq!(lens(&take_to_s(&mut t)), [MSS; 4], "all lost");
    advance_to_ms(&mut t, 200);
    let got = server_reads(&mut t, s, 4 * MSS, secs(5));
    assert_eq!(got, data);
    assert_eq!(t.c.counters().retransmits, 4);
    let resent: Vec<u32> = retransmits(&t.c_log).iter().map(|&(seq, _)| seq).collect();
    assert_eq!(resent, [1001, 2449, 3897, 5345]);
}

/// Sender silly window avoidance (RFC 9293 §3.8.6.2.1), as Linux does it (tcp_snd_wnd_test):
/// a window too small for a full segment gets no tiny segment; the transfer goes on in full
/// segments once the reader opens the window.
#[test]
fn a_small_window_gets_no_tiny_segment() {
    // 4 x 1460 bytes of buffer hold four 1448-byte segments and leave 48 bytes.
    let server = four_segment_server();
    let mut t = Pair::new(linux(1000), server);
    let (c, s) = t.establish();
    let data = pattern(8 * MSS);
    t.c.send(t.now, c, &data).unwrap();
    t.exchange();
    assert_eq!(
        t.c.unacked(c),
        4 * MSS,
        "four segments in, none cut to the 48-byte window"
    );
    assert_eq!(t.s.readable(s), 4 * MSS);
    let got = server_reads(&mut t, s, 8 * MSS, secs(5));
    assert_eq!(got, data);
    let resent = t
        .s_log
        .iter()
        .chain(t.c_log.iter())
        .filter(|e| matches!(e, TcpEvent::Retransmit { .. }))
        .count();
    assert_eq!(resent, 0, "nothing had to be resent");
}

// -----------------------------------------------------------------------------------------
// Slow start

/// Segments the client sends before any ACK, how many ACKs the server sends for them (no
/// time passing: the ones sent at once), and the segments the client sends after those ACKs.
fn first_two_rounds(
    client: TcpConfig,
    server: TcpConfig,
    nodelay: bool,
) -> (Vec<usize>, usize, Vec<usize>) {
    let mut t = Pair::new(client, server);
    let (c, _s) = t.establish();
    t.c.set_nodelay(c, nodelay).unwrap();
    t.c.send(t.now, c, &pattern(40 * MSS)).unwrap();
    let first = take_to_s(&mut t);
    for p in &first {
        to_server(&mut t, p);
    }
    let acks = t.deliver_to_c().len();
    let second = take_to_s(&mut t);
    (lens(&first), acks, lens(&second))
}

/// RFC 5681 §3.1 with RFC 6928's initial window of 10 segments (Linux): 10 full segments
/// before the first ACK, whatever Nagle says; then each ACK of new data grows cwnd by one
/// MSS, so with a delayed ACK per two segments (5 ACKs) the second round is 15 segments and
/// with an ACK per segment (10 ACKs) twice the first.
#[test]
fn slow_start_sends_the_initial_window_then_grows_by_one_mss_per_ack() {
    for nodelay in [false, true] {
        let (first, acks, second) = first_two_rounds(rfc_rules(1000), rfc_rules(5000), nodelay);
        assert_eq!(first, [MSS; 10], "initial window, nodelay {nodelay}");
        assert_eq!(acks, 5, "one ACK per two full segments, nodelay {nodelay}");
        assert_eq!(second, [MSS; 15], "after 5 delayed ACKs, nodelay {nodelay}");
    }
    let quick = TcpConfig {
        delayed_ack: None,
        ..rfc_rules(5000)
    };
    let (first, acks, second) = first_two_rounds(rfc_rules(1000), quick, false);
    assert_eq!(first, [MSS; 10]);
    assert_eq!(acks, 10);
    assert_eq!(second, [MSS; 20], "after 10 ACKs");
}

/// Linux: the receiver starts in quick-ACK mode (each of the first segments ACKed at once)
/// and tcp_slow_start grows cwnd by the segments each ACK covers: 10 segments, then 20, as
/// a Linux sender's first two flights are.
#[test]
fn linux_slow_start_doubles_the_window_per_round_trip_from_ten_segments() {
    let (first, acks, second) = first_two_rounds(linux(1000), linux(5000), false);
    assert_eq!(first, [MSS; 10]);
    assert_eq!(acks, 10, "quick-ACK mode: one ACK per segment");
    assert_eq!(second, [MSS; 20]);
}

// -----------------------------------------------------------------------------------------
// Closing with data

/// RFC 9293 §3.6 and §3.10.4: after our FIN (half-close) we still receive: the peer in
/// CLOSE_WAIT sends data we read, then its own FIN.
#[test]
fn half_close_client_still_receives_until_the_server_closes() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.shutdown(t.now, c).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    assert_eq!(t.s.state_of(s), Ok(State::CloseWait));
    assert_eq!(t.c.send(t.now, c, b"x"), Err(Errno::BrokenPipe));
    let reply = pattern(3000);
    assert_eq!(t.s.send(t.now, s, &reply), Ok(3000));
    // The data carries the ACK of the client's FIN; Minshall's Nagle lets the short tail go
    // at once, as no earlier short segment is unacknowledged.
    assert_eq!(t.deliver_to_c(), [". 1448", ". 1448", "P. 104"]);
    assert_eq!(t.c.state_of(c), Ok(State::FinWait2));
    assert_eq!(t.c_read(c), (reply, Received::Data(3000)));
    t.s.close(t.now, s).unwrap();
    t.exchange();
    assert_eq!(t.c_read(c), (vec![], Received::Eof));
    assert_eq!(
        path(&t.c_log),
        [
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT"
        ]
    );
    assert!(path(&t.s_log).ends_with(&["CLOSE_WAIT", "LAST_ACK", "CLOSED"]));
    assert_eq!(t.s.unacked(s), 0);
    assert_legal(&t.c_log);
    assert_legal(&t.s_log);
}

/// RFC 1122 §4.2.2.13 (and RFC 9293 §3.10.4): close() with received data the application
/// never read sends RST, not FIN: the peer learns its data was lost.
#[test]
fn close_with_unread_data_sends_rst_instead_of_fin() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.send(t.now, c, &[5; 100]).unwrap();
    t.deliver_to_s();
    assert_eq!(t.s.readable(s), 100);
    t.s.close(t.now, s).unwrap();
    // The data was acknowledged at once (quick-ACK mode), then close() resets.
    let out = take_to_c(&mut t);
    assert_eq!(summaries(&out), [".", "R."]);
    let rst = out[1..].to_vec();
    assert_eq!((seqs(&rst), acks(&rst)), (vec![5001], vec![1101]));
    assert!(noted(&t.s_log, Note::UnreadDataReset));
    assert!(path(&t.s_log).ends_with(&["ESTABLISHED", "CLOSED"]));
    to_client(&mut t, &rst[0]);
    assert_eq!(errors(&t.c_log), ["ECONNRESET"]);
    assert!(t.c_sock.contains(&SocketEvent::Failed(c, Errno::ConnReset)));
    assert_eq!(t.s.table_sizes(), (0, 0), "no TIME_WAIT after a reset");
}

/// RFC 1122 §4.2.2.13: data that reaches a connection its application has closed cannot be
/// delivered, so it is answered with RST.
#[test]
fn data_after_close_is_answered_with_rst() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    t.s.send(t.now, s, &[3; 100]).unwrap();
    assert_eq!(t.deliver_to_c(), ["P. 100"]);
    assert!(noted(&t.c_log, Note::DataAfterClose));
    assert!(path(&t.c_log).ends_with(&["FIN_WAIT_1", "FIN_WAIT_2", "CLOSED"]));
    let rst = take_to_s(&mut t);
    assert_eq!(summaries(&rst), ["R."]);
    assert_eq!(seqs(&rst), [1002], "SEQ = SND.NXT, after our FIN");
    to_server(&mut t, &rst[0]);
    // The server was in CLOSE_WAIT: Linux tcp_reset reports EPIPE there.
    assert_eq!(errors(&t.s_log), ["EPIPE"]);
    assert_eq!(t.s.send(t.now, s, b"more"), Err(Errno::BrokenPipe));
    assert_eq!(t.c.table_sizes(), (0, 0));
}

/// Linux tcp_fin_timeout (RFC 9293 has no such timer): an orphan waits at most 60 s in
/// FIN_WAIT_2, while the peer may stay in CLOSE_WAIT forever; the peer's late FIN then finds
/// no connection and is answered with RST (RFC 9293 §3.10.7.1).
#[test]
fn orphan_fin_wait_2_times_out_and_the_late_fin_gets_rst() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    t.advance(ms(40));
    assert_eq!(
        t.deliver_to_c(),
        ["."],
        "the server's delayed ACK of the FIN"
    );
    assert_eq!(t.c.state_counts()[State::FinWait2 as usize], 1);
    // The FIN_WAIT_2 timer started at 40 ms.
    advance_to_ms(&mut t, 60_039);
    assert_eq!(t.c.state_counts()[State::FinWait2 as usize], 1);
    advance_to_ms(&mut t, 60_040);
    assert!(noted(&t.c_log, Note::FinWait2Timeout));
    assert!(path(&t.c_log).ends_with(&["FIN_WAIT_2", "CLOSED"]));
    assert_eq!(t.c.table_sizes(), (0, 0), "no TIME_WAIT either");
    assert!(t.pending_to_s().is_empty(), "the timeout sends nothing");
    assert_eq!(t.s.state_of(s), Ok(State::CloseWait));

    // An hour later the server's application closes at last.
    t.advance(secs(3600));
    assert_eq!(
        t.s.state_of(s),
        Ok(State::CloseWait),
        "CLOSE_WAIT never times out"
    );
    t.s.close(t.now, s).unwrap();
    assert_eq!(t.deliver_to_c(), ["F."]);
    assert!(noted(&t.c_log, Note::ResetNoConnection));
    let rst = take_to_s(&mut t);
    assert_eq!(summaries(&rst), ["R"]);
    assert_eq!(seqs(&rst), [1002], "SEQ = the FIN's SEG.ACK");
    to_server(&mut t, &rst[0]);
    assert_eq!(errors(&t.s_log), ["ECONNRESET"]);
    assert!(path(&t.s_log).ends_with(&["CLOSE_WAIT", "LAST_ACK", "CLOSED"]));
    assert_eq!(t.s.table_sizes(), (0, 0));
}

/// Linux tcp_rcv_state_process (FIN_WAIT1 → FIN_WAIT2 of a socket that is not SOCK_DEAD):
/// after shutdown(SHUT_WR) the application still holds the socket, so FIN_WAIT_2 has no
/// timer and waits for the peer's FIN as long as it takes; the peer's data still arrives.
#[test]
fn a_half_closed_socket_waits_in_fin_wait_2_without_a_timeout() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    assert_eq!(t.c.counters().established, 1);
    t.c.shutdown(t.now, c).unwrap();
    assert_eq!(t.deliver_to_s(), ["F."]);
    t.advance(ms(40));
    assert_eq!(t.deliver_to_c(), ["."], "the delayed ACK of the FIN");
    assert_eq!(t.c.state_of(c), Ok(State::FinWait2));
    t.advance(secs(2 * 3600));
    assert_eq!(t.c.state_of(c), Ok(State::FinWait2));
    assert!(!noted(&t.c_log, Note::FinWait2Timeout));
    t.s.send(t.now, s, b"late").unwrap();
    t.exchange();
    assert_eq!(t.c_read(c).0, b"late");
    // close() now makes it an orphan: the FIN_WAIT_2 timer starts then (Linux tcp_close
    // arms tcp_fin_time for a socket already in FIN_WAIT_2).
    t.c.close(t.now, c).unwrap();
    t.advance(secs(60) - ms(1));
    assert_eq!(t.c.state_counts()[State::FinWait2 as usize], 1);
    assert!(!noted(&t.c_log, Note::FinWait2Timeout));
    t.advance(ms(1)); // 60 s after close()
    assert!(noted(&t.c_log, Note::FinWait2Timeout));
    assert_eq!(t.c.table_sizes(), (0, 0));
}

/// Data that arrives with (or just before) the peer's FIN stays readable after the connection
/// has moved on to TIME_WAIT, as on Linux (the socket outlives its connection until close()).
#[test]
fn data_arriving_with_the_fin_stays_readable_after_time_wait() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.shutdown(t.now, c).unwrap();
    t.exchange();
    t.s.send(t.now, s, &pattern(3000)).unwrap();
    t.s.close(t.now, s).unwrap();
    t.exchange();
    assert_eq!(
        t.c.table_sizes(),
        (0, 1),
        "the client's connection is in TIME_WAIT"
    );
    let (got, _) = t.c_read(c);
    assert_eq!(got, pattern(3000));
    let mut rest = Vec::new();
    assert_eq!(t.c.recv(t.now, c, &mut rest, 100), Ok(Received::Eof));
}

/// RFC 9293 §3.10.2 (SEND in SYN-SENT: "queue the data for transmission after entering
/// ESTABLISHED"): data written during the handshake waits for it: the SYN and its
/// retransmission go alone, and the data goes once the SYN-ACK is in.
#[test]
fn data_written_in_syn_sent_waits_for_the_handshake() {
    let mut t = Pair::linux();
    let listener = t.s.listen(t.now, PORT, 8).unwrap();
    let c =
        t.c.connect(t.now, server_addr(), netsim_tcp::Bind::default())
            .unwrap();
    assert_eq!(t.c.send(t.now, c, b"early bird"), Ok(10));
    assert_eq!(t.lose_to_s(), ["S"]);
    t.advance(secs(1) + ms(100));
    assert_eq!(t.deliver_to_s(), ["S"], "the SYN again, alone");
    assert_eq!(t.deliver_to_c(), ["S."]);
    // Linux tcp_rcv_synsent_state_process: with a write pending, the ACK of the SYN-ACK
    // rides on the data.
    assert_eq!(t.pending_to_s(), ["P. 10"]);
    t.exchange();
    let (s, _) = t.s.accept(t.now, listener).unwrap().expect("accepted");
    assert_eq!(t.s_read(s).0, b"early bird");
}

/// close() with data still queued (more than the initial window of 10 segments): the FIN
/// rides on the last segment only (RFC 9293 §3.10.4: the FIN follows all queued data), and
/// when that segment is lost the timeout resends it with its FIN, counted as a FIN
/// retransmission.
#[test]
fn close_with_data_queued_puts_the_fin_on_the_last_segment() {
    let mut t = Pair::linux();
    let (c, _s) = t.establish();
    t.c.send(t.now, c, &[3; 20_000]).unwrap();
    t.c.close(t.now, c).unwrap();
    let mut sent = Vec::new();
    for _ in 0..10 {
        let out = take_to_s(&mut t);
        if out.is_empty() {
            break;
        }
        let last = out.last().unwrap().clone();
        let fin = last.segment.flags.contains(netsim_core::TcpFlags::FIN);
        for p in &out {
            if p.segment.seq != last.segment.seq || !fin {
                to_server(&mut t, p); // everything arrives but a segment with the FIN
            }
        }
        sent.extend(out);
        t.advance(ms(50));
        for a in take_to_c(&mut t) {
            to_client(&mut t, &a);
        }
    }
    let fins: Vec<usize> = sent
        .iter()
        .enumerate()
        .filter(|(_, p)| p.segment.flags.contains(netsim_core::TcpFlags::FIN))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(fins, [sent.len() - 1], "{:?}", summaries(&sent));
    let last = &sent[sent.len() - 1];
    assert_eq!(
        last.segment.payload.len(),
        20_000 % 1448,
        "data and FIN together"
    );
    client_speaks_after(&mut t, ms(2000));
    let resent = take_to_s(&mut t);
    assert_eq!(
        seqs(&resent)[..1],
        [last.segment.seq.0],
        "{:?}",
        summaries(&resent)
    );
    assert_eq!(t.c.counters().fin_retransmits, 1);
}

/// RFC 6298 §5.1 (Linux tcp_event_new_data_sent): new data sent while earlier data is
/// outstanding does not restart the retransmission timer: with both segments lost, the
/// first goes again 200 ms after it was sent, not 200 ms after the second.
#[test]
fn new_data_does_not_restart_a_running_retransmission_timer() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, _s) = t.establish();
    t.c.set_nodelay(c, true).unwrap();
    t.c.send(t.now, c, &[1; 100]).unwrap();
    assert_eq!(t.lose_to_s(), ["P. 100"]);
    t.advance(ms(100));
    t.c.send(t.now, c, &[2; 100]).unwrap();
    assert_eq!(t.lose_to_s(), ["P. 100"]);
    t.advance(ms(99));
    assert!(t.pending_to_s().is_empty(), "199 ms after the first send");
    t.advance(ms(1));
    let resent = take_to_s(&mut t);
    assert_eq!(seqs(&resent), [1001], "{:?}", summaries(&resent));
}

/// Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): with the window nearly closed, a read that
/// frees less than min(buffer / 2, MSS) announces nothing; the read that brings the freed
/// space to an MSS sends the window update.
#[test]
fn a_window_update_waits_until_an_mss_is_free() {
    let server = four_segment_server();
    let mut t = Pair::new(linux(1000), server);
    let (c, s) = t.establish();
    t.c.send(t.now, c, &[1; 8 * 1448]).unwrap();
    t.exchange();
    assert_eq!(t.c.unacked(c), 4 * 1448, "the window is full");
    let mut buf = Vec::new();
    assert_eq!(t.s.recv(t.now, s, &mut buf, 1000), Ok(Received::Data(1000)));
    assert_eq!(
        t.pending_to_c(),
        Vec::<String>::new(),
        "1 000 bytes free: no update"
    );
    assert_eq!(t.s.recv(t.now, s, &mut buf, 500), Ok(Received::Data(500)));
    assert_eq!(t.pending_to_c(), ["."], "1 500 bytes free: the update");

    // A buffer smaller than two segments: half the buffer is the threshold.
    let server = netsim_tcp::TcpConfig {
        rcv_buf: 2000,
        rcv_buf_max: 2000,
        delayed_ack: None,
        ..linux(5000)
    };
    let mut t = Pair::new(linux(1000), server);
    let (c, s) = t.establish();
    t.c.send(t.now, c, &[1; 4000]).unwrap();
    t.exchange();
    // The server took one segment (1 448 bytes); the 552 bytes left are too few for the
    // client to send into (sender SWS avoidance), so the advertised edge stays there.
    assert_eq!(t.c.unacked(c), 4000 - 1448);
    assert_eq!(t.s.recv(t.now, s, &mut buf, 999), Ok(Received::Data(999)));
    assert_eq!(
        t.pending_to_c(),
        Vec::<String>::new(),
        "1 551 bytes free, 999 past the advertised edge"
    );
    assert_eq!(t.s.recv(t.now, s, &mut buf, 1), Ok(Received::Data(1)));
    assert_eq!(
        t.pending_to_c(),
        ["."],
        "1 000 past the edge: half the buffer"
    );
}

/// A connection that times out (RFC 9293 §3.8.3's R2; ETIMEDOUT) sends nothing more, even
/// when its delayed-ACK timer falls due at the same instant: the data retries run out 600 ms
/// after the first send (RTO 200 ms, then 400 ms; `data_retries: 1`), and the peer's data
/// arrived 40 ms before, so an ACK is owed then too.
#[test]
fn a_connection_that_times_out_sends_no_ack_it_owed() {
    let client = netsim_tcp::TcpConfig {
        data_retries: 1,
        ..rfc_rules(1000)
    };
    let mut t = Pair::new(client, rfc_rules(5000));
    let (c, s) = t.establish();
    t.c.set_nodelay(c, true).unwrap();
    t.c.send(t.now, c, &[1; 100]).unwrap();
    assert_eq!(t.lose_to_s(), ["P. 100"]);
    t.advance(ms(200));
    assert_eq!(t.lose_to_s(), ["P. 100"], "the first timeout");
    t.advance(ms(360));
    t.s.send(t.now, s, b"reply").unwrap();
    assert_eq!(t.deliver_to_c(), ["P. 5"]);
    assert_eq!(t.pending_to_s(), Vec::<String>::new(), "the ACK is delayed");
    t.advance(ms(39));
    assert!(errors(&t.c_log).is_empty(), "599 ms: not yet");
    t.advance(ms(1)); // 600 ms after the first send, the delayed ACK due too
    assert_eq!(errors(&t.c_log), ["ETIMEDOUT"]);
    assert_eq!(
        t.pending_to_s(),
        Vec::<String>::new(),
        "nothing after the timeout"
    );
}

/// The writer is woken (Writable) when acknowledged data leaves the send buffer, and only
/// then: the ACK of a FIN frees no buffer and wakes nobody.
#[test]
fn acknowledged_data_wakes_the_writer_and_an_acked_fin_does_not() {
    let mut t = Pair::linux();
    let (c, _s) = t.establish();
    t.c.send(t.now, c, &[1; 100]).unwrap();
    t.deliver_to_s();
    t.advance(ms(50));
    let events = t.c_sock.len();
    assert_eq!(t.deliver_to_c(), ["."]);
    assert_eq!(t.c_sock[events..], [SocketEvent::Writable(c)]);
    t.c.shutdown(t.now, c).unwrap();
    t.deliver_to_s();
    t.advance(ms(50));
    let events = t.c_sock.len();
    assert_eq!(t.deliver_to_c(), ["."]);
    assert_eq!(t.c.state_of(c), Ok(State::FinWait2));
    assert!(
        !t.c_sock[events..].contains(&SocketEvent::Writable(c)),
        "{:?}",
        &t.c_sock[events..]
    );
}

/// RFC 9293 §3.10.7.4 (LAST-ACK: "the only thing that can arrive in this state is an
/// acknowledgment of our FIN"): an ACK that covers our data but not the FIN leaves the
/// connection in LAST_ACK (the ACK of the FIN closing it is tested in `close`).
#[test]
fn last_ack_closes_only_when_the_fin_is_acknowledged() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.close(t.now, c).unwrap();
    t.exchange();
    assert_eq!(t.s.state_of(s), Ok(State::CloseWait));
    t.s.set_nodelay(s, true).unwrap();
    t.s.send(t.now, s, b"bye").unwrap();
    t.s.close(t.now, s).unwrap();
    let out = take_to_c(&mut t);
    assert_eq!(summaries(&out), ["P. 3", "F."]);
    to_client(&mut t, &out[0]); // the data alone; the FIN is late
    let ack = take_to_s(&mut t);
    assert_eq!(
        summaries(&ack),
        ["R."],
        "the client closed with unread data coming: a RST"
    );
    let mut data_ack = ack[0].clone();
    data_ack.segment.flags = netsim_core::TcpFlags::ACK;
    to_server(&mut t, &data_ack);
    let last_ack = |t: &Pair| t.s.state_counts()[State::LastAck as usize];
    assert_eq!(last_ack(&t), 1, "the FIN is not acknowledged");
}

/// RFC 6582 with RFC 6937 (NewReno and PRR without SACK; Linux tcp_add_reno_sack): each
/// duplicate ACK stands for one delivered segment. Ten segments out, the first lost, more
/// data waiting.
#[test]
fn newreno_counts_each_duplicate_ack_as_a_delivered_segment() {
    let (mut t, c, data) = rfc_initial_window_out();
    let mut dupacks = Vec::new();
    for p in &data[1..] {
        to_server(&mut t, p);
        dupacks.extend(take_to_c(&mut t));
    }
    assert_eq!(dupacks.len(), 9);
    let mut per_ack = Vec::new();
    let mut sent = Vec::new();
    for a in &dupacks {
        to_client(&mut t, a);
        let out = take_to_s(&mut t);
        per_ack.push(out.len());
        sent.extend(out);
    }
    // The first ACK is no duplicate: it is the first to carry a scaled window, which
    // replaces the SYN-ACK's unscaled one (a changed window). The next two let out a new segment each (each
    // duplicate stands for a delivered segment, so the pipe shrinks: RFC 3042's limited
    // transmit falls out of the accounting), the third of them resends the hole, and PRR
    // then lets new data out for some of the rest.
    assert_eq!(
        per_ack,
        [0, 1, 1, 1, 1, 0, 1, 0, 0],
        "{:?}",
        summaries(&sent)
    );
    assert_eq!(
        seqs(&sent[2..3]),
        seqs(&data[..1]),
        "the hole, on the third duplicate"
    );
    let info = t.c.info(c).unwrap();
    assert!(info.in_recovery);
    // Everything sent in the episode arrives, the hole first: its ACK is partial (the new
    // segments sent before recovery are above it), the last one covers high_seq and ends
    // recovery.
    for p in &sent {
        to_server(&mut t, p);
    }
    t.advance(ms(1));
    for a in take_to_c(&mut t) {
        to_client(&mut t, &a);
    }
    assert!(!t.c.info(c).unwrap().in_recovery);
}
