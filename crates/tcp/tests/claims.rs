//! Tests for conformance claims that earlier tests left unguarded: each was found by changing
//! the code it names and seeing every other test still pass (issue 10). Each test here fails
//! when its code is removed or inverted; the mutation that showed it is named beside it.

mod common;

use common::*;
use netsim_core::{Packet, Timestamps};
use netsim_tcp::{Bind, SocketId, State};

/// A listening server and a connecting client: the client's SYN is taken off the wire,
/// edited, and delivered. Returns the listener, the client's socket and the server's SYN-ACK
/// (undelivered).
fn syn_edited(t: &mut Pair, edit: impl FnOnce(&mut Packet)) -> (SocketId, SocketId, Packet) {
    let listener = t.s.listen(t.now, PORT, 16).unwrap();
    let c = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    let mut syn = take_to_s(t);
    assert_eq!(summaries(&syn), ["S"]);
    edit(&mut syn[0]);
    to_server(t, &syn[0]);
    let synack = take_to_c(t);
    assert_eq!(summaries(&synack), ["S."]);
    (listener, c, synack[0].clone())
}

/// The rest of the handshake after `synack` (possibly edited) reaches the client; returns
/// the server's accepted socket.
fn finish_handshake(t: &mut Pair, listener: SocketId, synack: &Packet) -> SocketId {
    to_client(t, synack);
    t.exchange();
    let (s, _) = t.s.accept(t.now, listener).unwrap().expect("accepted");
    s
}

/// RFC 9293 §3.7.1 (RFC 6691): without an MSS option the send MSS is 536. Guards the
/// DEFAULT_MSS fallback (replacing it with the local MSS passed every other test).
#[test]
fn without_an_mss_option_the_peer_gets_segments_of_at_most_536_bytes() {
    let mut t = Pair::linux();
    let (listener, _, synack) = syn_edited(&mut t, |p| p.segment.options.mss = None);
    let s = finish_handshake(&mut t, listener, &synack);
    t.s.send(t.now, s, &[7; 2000]).unwrap();
    let data = take_to_c(&mut t);
    assert!(!data.is_empty());
    for p in &data {
        // 536 less the 12 bytes of the timestamps option.
        assert!(
            p.segment.payload.len() <= 524,
            "{}",
            p.segment.payload.len()
        );
    }
    assert_eq!(data[0].segment.payload.len(), 524);
}

/// RFC 7323 §2.2: window scaling only when both SYNs carry the option. A SYN without it
/// gets a SYN-ACK without it, and every window after is unscaled both ways. Guards the
/// `(true, Some(shift))` match in take_syn_options (scaling whenever we offer passed).
#[test]
fn window_scaling_only_when_both_sides_offer_it() {
    // The client does not offer it: the server neither offers nor scales.
    let mut t = Pair::linux();
    let (listener, c, synack) = syn_edited(&mut t, |p| p.segment.options.window_scale = None);
    assert_eq!(synack.segment.options.window_scale, None);
    let s = finish_handshake(&mut t, listener, &synack);
    t.c.send(t.now, c, &[1; 10]).unwrap();
    t.deliver_to_s();
    t.s.send(t.now, s, &[2; 10]).unwrap();
    let from_s = take_to_c(&mut t);
    assert!(!from_s.is_empty());
    // 65160 bytes of receive window, unscaled (scaled by 7 it would be 509).
    assert!(
        from_s.iter().all(|p| p.segment.window > 60000),
        "{:?}",
        windows(&from_s)
    );

    // The server's SYN-ACK loses the option: the client does not scale its windows either.
    let mut t = Pair::linux();
    let (listener, c, mut synack) = syn_edited(&mut t, |_| {});
    assert_eq!(synack.segment.options.window_scale, Some(7));
    synack.segment.options.window_scale = None;
    finish_handshake(&mut t, listener, &synack);
    t.c.send(t.now, c, &[1; 10]).unwrap();
    let from_c = take_to_s(&mut t);
    assert!(!from_c.is_empty());
    assert!(
        from_c.iter().all(|p| p.segment.window > 60000),
        "{:?}",
        windows(&from_c)
    );

    // Both offer it with shift 0 (buffers that fit 16 bits): the SYN-ACK still carries the
    // option, since the SYN did (Linux tcp_synack_options tests wscale_ok, not the shift).
    let server = netsim_tcp::TcpConfig {
        rcv_buf: 65_535,
        rcv_buf_max: 65_535,
        ..linux(5000)
    };
    let mut t = Pair::new(linux(1000), server);
    let (_, _, synack) = syn_edited(&mut t, |p| p.segment.options.window_scale = Some(0));
    assert_eq!(synack.segment.options.window_scale, Some(0));
}

/// RFC 7323 §3.2: timestamps only when both SYNs carry them; then no segment carries them.
/// Guards `cfg.timestamps && o.timestamps.is_some()` (`cfg.timestamps` alone passed).
#[test]
fn timestamps_only_when_both_sides_offer_them() {
    let mut t = Pair::linux();
    let (listener, c, synack) = syn_edited(&mut t, |p| p.segment.options.timestamps = None);
    assert_eq!(synack.segment.options.timestamps, None);
    let s = finish_handshake(&mut t, listener, &synack);
    t.c.send(t.now, c, &[1; 10]).unwrap();
    t.deliver_to_s();
    t.s.send(t.now, s, &[2; 3000]).unwrap();
    let from_s = take_to_c(&mut t);
    assert!(
        from_s
            .iter()
            .all(|p| p.segment.options.timestamps.is_none())
    );
    // Without the option's 12 bytes, a full segment carries 1460.
    let data: Vec<usize> = lens(&from_s).into_iter().filter(|&n| n > 0).collect();
    assert_eq!(data[0], 1460, "{data:?}");
}

/// RFC 7323 §4.3: TS.Recent takes SEG.TSval only from a segment that starts at or before
/// Last.ACK.sent; an out-of-order segment's newer TSval is not echoed. Guards
/// `seg.seq.le(self.last_ack_sent)` (removing it passed).
#[test]
fn ts_recent_ignores_the_timestamp_of_an_out_of_order_segment() {
    let mut t = Pair::linux();
    let (c, _s) = t.establish();
    t.advance(ms(10));
    t.c.send(t.now, c, &[1; 3000]).unwrap();
    let data = take_to_s(&mut t);
    assert_eq!(lens(&data), [1448, 1448, 104]);
    let first_val = data[0].segment.options.timestamps.unwrap().val;
    // The second segment arrives first, with a newer TSval than anything in order.
    let mut late = data[1].clone();
    late.segment.options.timestamps = Some(Timestamps {
        val: first_val + 1000,
        ecr: data[1].segment.options.timestamps.unwrap().ecr,
    });
    to_server(&mut t, &late);
    let dupack = take_to_c(&mut t);
    assert_eq!(summaries(&dupack), ["."]);
    let echoed = dupack[0].segment.options.timestamps.unwrap().ecr;
    assert!(
        echoed != first_val + 1000,
        "the out-of-order TSval was echoed"
    );
    // The in-order segment is taken: its TSval is echoed.
    to_server(&mut t, &data[0]);
    let ack = take_to_c(&mut t);
    assert_eq!(
        ack.last().unwrap().segment.options.timestamps.unwrap().ecr,
        first_val
    );
}

/// RFC 9293 §3.10.7.4 (fifth step): an ACK of something not yet sent is answered with an
/// ACK and dropped; Linux (tcp_ack, ACK_UNSENT_DATA) drops it without an answer. Guards both
/// arms of `ack.gt(self.snd_nxt)`.
#[test]
fn an_ack_of_unsent_data_is_dropped_and_answered_only_by_the_rfc_rules() {
    let rfc = netsim_tcp::TcpConfig {
        invalid_ratelimit: netsim_tcp::TcpConfig::rfc().invalid_ratelimit,
        ..rfc_rules(1000)
    };
    for (cfg, answered) in [(rfc, true), (linux(1000), false)] {
        let mut t = Pair::new(cfg, linux(5000));
        let (c, s) = t.establish();
        t.s.send(t.now, s, &[3; 10]).unwrap();
        let mut bogus = take_to_c(&mut t).remove(0);
        bogus.segment.ack = bogus.segment.ack.add(5000);
        to_client(&mut t, &bogus);
        let answer = take_to_s(&mut t);
        assert_eq!(!answer.is_empty(), answered, "{:?}", summaries(&answer));
        // Dropped whole: the data it carried is not taken.
        assert_eq!(t.c.readable(c), 0);
        assert_eq!(t.c.state_of(c), Ok(State::Established));
    }
}

/// RFC 9293 §3.10.7.4: SND.WND is taken only from a segment at least as new as the last
/// update (SND.WL1 < SEG.SEQ, or equal with SND.WL2 =< SEG.ACK). An old segment that
/// arrives late with a zero window must not close the window. Guards the WL1/WL2 test
/// (updating from every ACK passed).
#[test]
fn an_old_segment_does_not_update_the_send_window() {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    // The server sends two data segments; the second (newer) arrives first.
    t.s.send(t.now, s, &[1; 2 * 1448]).unwrap();
    let mut two = take_to_c(&mut t);
    assert_eq!(lens(&two), [1448, 1448]);
    let second = two.pop().unwrap();
    let first = two.pop().unwrap();
    to_client(&mut t, &second);
    // The first arrives late and claims a zero window.
    let mut old = first.clone();
    old.segment.window = 0;
    to_client(&mut t, &old);
    let _ = take_to_s(&mut t);
    // The client can still send: its window is the newer segment's.
    t.c.send(t.now, c, &[9; 100]).unwrap();
    let sent = take_to_s(&mut t);
    assert!(
        sent.iter().any(|p| p.segment.payload.len() == 100),
        "{:?}",
        summaries(&sent)
    );
}

/// Five segments, the first lost; the four ACKs the others draw reach the sender, their
/// windows changed by `shrink` units each (the first of them also replaces the SYN-ACK's
/// unscaled window, so it is never a duplicate). Returns whether the sender resent the first
/// segment (a fast retransmit: no time passes).
fn fast_retransmit_after_four_acks(shrink: u16) -> bool {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, _s) = t.establish();
    t.c.send(t.now, c, &[1; 1448 * 5]).unwrap();
    let data = take_to_s(&mut t);
    assert_eq!(lens(&data), [1448; 5]);
    let mut acks = Vec::new();
    for p in &data[1..] {
        to_server(&mut t, p);
        acks.extend(take_to_c(&mut t));
    }
    assert_eq!(acks.len(), 4);
    for (i, a) in acks.iter_mut().enumerate() {
        a.segment.window -= (i as u16 + 1) * shrink;
        to_client(&mut t, a);
    }
    let out = take_to_s(&mut t);
    out.iter().any(|p| p.segment.seq == data[0].segment.seq)
}

/// RFC 5681 §2 (DUPLICATE ACKNOWLEDGMENT (e)): an ACK that changes the advertised window is
/// not a duplicate; three of them start no fast retransmit, where three with the window
/// unchanged do. Guards `window == self.snd_wnd` (removing it passed).
#[test]
fn acks_that_change_the_window_are_not_duplicates() {
    assert!(
        fast_retransmit_after_four_acks(0),
        "the control: three duplicates"
    );
    assert!(!fast_retransmit_after_four_acks(1));
}

/// RFC 9293 §3.10.7.3: in SYN_SENT, an ACK that does not acknowledge our SYN (SEG.ACK =< ISS
/// or > SND.NXT) is answered with <SEQ=SEG.ACK><CTL=RST> and the connection stays.
#[test]
fn syn_sent_answers_an_unacceptable_ack_with_a_reset_at_its_ack_number() {
    let mut t = Pair::linux();
    t.s.listen(t.now, PORT, 16).unwrap();
    let c = t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    let syn = take_to_s(&mut t).remove(0);
    to_server(&mut t, &syn);
    let mut synack = take_to_c(&mut t).remove(0);
    synack.segment.ack = synack.segment.ack.add(777);
    to_client(&mut t, &synack);
    let answer = take_to_s(&mut t);
    assert_eq!(summaries(&answer), ["R"]);
    assert_eq!(answer[0].segment.seq, synack.segment.ack);
    assert_eq!(t.c.state_of(c), Ok(State::SynSent));
    assert_eq!(t.c.counters().resets_sent, 1);
}

/// RFC 9293 §3.10.7.4 (fifth step, SYN-RECEIVED): an ACK outside SND.UNA < SEG.ACK =<
/// SND.NXT does not establish the connection; it is answered <SEQ=SEG.ACK><CTL=RST>.
#[test]
fn syn_received_answers_an_ack_beyond_snd_nxt_with_a_reset() {
    let mut t = Pair::linux();
    let (_, _, synack) = syn_edited(&mut t, |_| {});
    to_client(&mut t, &synack);
    let mut ack = take_to_s(&mut t).remove(0);
    ack.segment.ack = ack.segment.ack.add(1000);
    to_server(&mut t, &ack);
    let answer = take_to_c(&mut t);
    assert_eq!(summaries(&answer), ["R"]);
    assert_eq!(answer[0].segment.seq, ack.segment.ack);
    assert_eq!(t.s.counters().resets_sent, 1);
    assert_eq!(t.s.counters().established, 0);
}

/// RFC 7323 §2.3: the window of the ACK that completes the handshake is scaled: the server
/// sends its whole initial window of 10 segments at once into the client's 64 240-byte
/// window (502 << 7), not 3 bytes (502 >> 7).
#[test]
fn the_window_of_the_handshake_ack_is_scaled() {
    let mut t = Pair::linux();
    let (listener, _c, synack) = syn_edited(&mut t, |_| {});
    let s = finish_handshake(&mut t, listener, &synack);
    t.s.set_nodelay(s, true).unwrap();
    t.s.send(t.now, s, &[5; 10 * 1448]).unwrap();
    assert_eq!(lens(&take_to_c(&mut t)), [1448; 10], "the initial window");
}

/// RFC 9293 §3.10.7.4, the four cases: a segment with data is acceptable when its first or
/// its last byte is in the window. One that starts before RCV.NXT and ends inside the window
/// brings new bytes, which are taken (the old ones trimmed). Guards the second half,
/// `in_window(seg.seq + len - 1)` (removing it passed).
#[test]
fn a_segment_that_overlaps_rcv_nxt_is_acceptable_and_its_new_bytes_taken() {
    for cfg in [linux(1000), rfc_rules(1000)] {
        let mut t = Pair::new(cfg.clone(), cfg);
        let (c, s) = t.establish();
        t.c.send(t.now, c, &[1; 100]).unwrap();
        let first = take_to_s(&mut t).remove(0);
        to_server(&mut t, &first);
        let _ = take_to_c(&mut t);
        // 5 bytes already received, then 95 new ones.
        let mut overlap = first.clone();
        overlap.segment.seq = first.segment.seq.add(95);
        overlap.segment.payload = vec![2; 100];
        to_server(&mut t, &overlap);
        t.advance(ms(500));
        let acks = take_to_c(&mut t);
        let end = first.segment.seq.add(195);
        assert!(
            acks.iter().any(|a| a.segment.ack == end),
            "{:?}",
            summaries(&acks)
        );
        // The 5 old bytes: a D-SACK with SACK (RFC 2883 §4; Linux tcp_data_queue's partial
        // packet), nothing without.
        let dsack = first.segment.seq.add(95)..first.segment.seq.add(100);
        let blocks: Vec<_> = acks
            .iter()
            .map(|a| a.segment.options.sack.as_slice().to_vec())
            .collect();
        let expected = if t.s.config().sack {
            vec![(dsack.start, dsack.end)]
        } else {
            vec![]
        };
        assert_eq!(blocks, [expected]);
        let (got, _) = t.s_read(s);
        assert_eq!(got.len(), 195);
        assert_eq!(got[100..], [2; 95]);
    }
}

/// Segments the client sends per round trip while every segment is acknowledged, over
/// `rounds` rounds, after the third segment of round two is lost once (so ssthresh is set
/// and congestion avoidance follows recovery).
fn flight_sizes(cfg: netsim_tcp::TcpConfig, rounds: usize) -> Vec<usize> {
    let mut t = Pair::new(cfg.clone(), cfg);
    let (c, s) = t.establish();
    let mut sizes = Vec::new();
    for round in 0..rounds {
        // The writer keeps the send buffer full.
        while t.c.send(t.now, c, &[5; 8192]).is_ok_and(|n| n > 0) {}
        t.advance(ms(10));
        let flight = take_to_s(&mut t);
        sizes.push(
            flight
                .iter()
                .filter(|p| !p.segment.payload.is_empty())
                .count(),
        );
        for (i, p) in flight.iter().enumerate() {
            if round == 1 && i == 2 {
                continue; // lost
            }
            to_server(&mut t, p);
        }
        // The reader keeps up; the receiver acknowledges at once (quick ACKs off by reading).
        let _ = t.s_read(s);
        t.advance(ms(1));
        t.advance(ms(250));
        let acks = take_to_c(&mut t);
        t.advance(ms(10));
        for a in &acks {
            to_client(&mut t, a);
        }
    }
    sizes
}

/// RFC 5681 §3.1 (and Linux tcp_cong_avoid_ai): above ssthresh, cwnd grows by about one
/// segment per round trip, not one per acknowledged segment. After the loss in round two
/// has set ssthresh, the flights grow by at most two segments a round. Guards the congestion
/// avoidance branch of grow_cwnd (slow-start growth there passed every test).
#[test]
fn above_ssthresh_the_window_grows_by_one_segment_per_round_trip() {
    for (name, cfg) in [("rfc", rfc_rules(1000)), ("linux", linux(1000))] {
        let sizes = flight_sizes(cfg, 16);
        let tail = &sizes[6..];
        for w in tail.windows(2) {
            assert!(
                w[1] <= w[0] + 2,
                "{name}: flights {sizes:?} grow by more than one segment a round"
            );
        }
        assert!(
            tail.last() > tail.first(),
            "{name}: flights {sizes:?} still grow"
        );
    }
}

/// RFC 9293 §3.8.6.2.1 (sender SWS avoidance) with Linux's tcp_write_wakeup: a window too
/// small for a segment gets nothing at once; when the persist timer fires, exactly what fits
/// goes, not a zero-window probe. Guards on_persist's `snd_wnd > 0` branch and its
/// `min(snd_wnd)` (the earlier test opened the window fully before the timer fired).
#[test]
fn a_window_too_small_for_a_segment_gets_what_fits_when_the_persist_timer_fires() {
    // 4 x 1460 bytes of buffer hold four 1448-byte segments and leave 48 bytes; nobody
    // reads.
    let server = four_segment_server();
    let mut t = Pair::new(linux(1000), server);
    let (c, _s) = t.establish();
    t.c.send(t.now, c, &[1; 8 * 1448]).unwrap();
    t.exchange();
    assert_eq!(
        t.c.unacked(c),
        4 * 1448,
        "nothing cut to the 48-byte window at once"
    );
    assert_eq!(t.pending_to_s(), Vec::<String>::new());
    client_speaks_after(&mut t, ms(1000));
    let sent = take_to_s(&mut t);
    assert_eq!(lens(&sent), [48], "{:?}", summaries(&sent));
}

/// RFC 6582 §3.2 step 1 and §4.1 (the `recover` variable after a timeout; Linux: no
/// tcp_enter_recovery while in TCP_CA_Loss): after a retransmission timeout, duplicate ACKs
/// for data sent before it start no fast retransmit. Five segments, the first lost and the
/// other four held until the RTO has resent the first; then the four ACKs they draw (all
/// duplicates of the hole) reach the sender. A fast retransmit there would resend the first
/// segment a second time. Guards the `ca == Open` condition of recover()'s entry to recovery
/// (entering from Loss passed every other test). The same condition on the NewReno branch's
/// mark_head_lost is redundant: in Loss and Recovery the head is already marked lost.
#[test]
fn after_a_timeout_duplicate_acks_for_older_data_start_no_fast_retransmit() {
    let mut t = Pair::new(rfc_rules(1000), rfc_rules(5000));
    let (c, _s) = t.establish();
    t.c.send(t.now, c, &[1; 1448 * 5]).unwrap();
    let data = take_to_s(&mut t);
    assert_eq!(lens(&data), [1448; 5]);
    // The first segment is lost; the timeout resends it.
    client_speaks_after(&mut t, ms(3000));
    let resent = take_to_s(&mut t);
    assert_eq!(
        seqs(&resent),
        [data[0].segment.seq.0],
        "{:?}",
        summaries(&resent)
    );
    let recoveries = t.c.counters().recoveries;
    // The held segments arrive now; each draws a duplicate ACK of the hole.
    let mut dupacks = Vec::new();
    for p in &data[1..] {
        to_server(&mut t, p);
        dupacks.extend(take_to_c(&mut t));
    }
    assert_eq!(acks(&dupacks), [data[0].segment.seq.0; 4]);
    for a in &dupacks {
        to_client(&mut t, a);
    }
    let out = take_to_s(&mut t);
    assert!(
        out.iter().all(|p| p.segment.seq != data[0].segment.seq),
        "the first segment resent again: {:?}",
        summaries(&out)
    );
    assert_eq!(
        t.c.counters().recoveries,
        recoveries,
        "no fast recovery entered"
    );
}

/// RFC 2018 §2: SACK is used only when both SYNs carried SACK-permitted. A peer that sends
/// SACK blocks anyway on a connection without SACK is not believed: the blocks do not
/// shrink the pipe, so no extra data goes (believed, they would let out nine segments).
#[test]
fn sack_blocks_on_a_connection_without_sack_are_ignored() {
    let (mut t, _c, data) = rfc_initial_window_out();
    to_server(&mut t, &data[1]);
    let mut dup = take_to_c(&mut t).remove(0);
    assert_eq!(dup.segment.ack, data[0].segment.seq);
    let left = data[1].segment.seq;
    let right = data[9].segment.seq.add(1448);
    dup.segment.options.sack = netsim_core::SackBlocks::NONE;
    dup.segment.options.sack.push((left, right));
    to_client(&mut t, &dup);
    let out = take_to_s(&mut t);
    assert!(out.is_empty(), "{:?}", summaries(&out));
}
