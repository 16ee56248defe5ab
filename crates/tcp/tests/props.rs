//! Property tests: sequence-number arithmetic across the wrap, the reassembly queue under any
//! segmentation, duplication and reordering, and a whole transfer through two stacks whose
//! data segments arrive reordered, duplicated, split and lost. A failing case is printed
//! shrunk and saved in `tests/props.proptest-regressions`; `cargo test -p netsim-tcp --test
//! props` replays it first.

mod common;

use common::*;
use netsim_core::{Packet, Seq, SimDuration};
use netsim_tcp::reassembly::Reassembly;
use proptest::prelude::*;

/// Any value, or one within 4096 of 2^32 - 1, so that many cases cross the wrap.
fn near_wrap_or_any() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (u32::MAX - 4096)..=u32::MAX]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// RFC 9293 §3.4: for d in [1, 2^31), a + d comes after a, modulo 2^32.
    #[test]
    fn seq_order_and_diff_hold_across_the_wrap(a in near_wrap_or_any(), d in 1u32..(1 << 31)) {
        let a = Seq(a);
        let b = a.add(d);
        prop_assert_eq!(b.0, a.0.wrapping_add(d));
        prop_assert!(b.gt(a) && b.ge(a) && a.lt(b) && a.le(b));
        prop_assert!(!a.gt(b) && !a.ge(b) && !b.lt(a) && !b.le(a));
        prop_assert_eq!(b.diff(a), d as i32);
        prop_assert_eq!(a.diff(b), -(d as i32));
        prop_assert_eq!(a.add(b.diff(a) as u32), b);
        prop_assert!(a.le(a) && a.ge(a) && !a.lt(a) && !a.gt(a));
        prop_assert_eq!(a.diff(a), 0);
    }
}

/// `len` bytes drawn from `seed` (SplitMix64), so that a failing case prints short.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

/// A byte stream, the ranges it is sent as (a segmentation plus overlapping extra copies of
/// arbitrary ranges), shuffled, and choices for each arrival.
fn stream_and_pieces() -> impl Strategy<Value = (Vec<u8>, Vec<(usize, usize)>, Vec<u8>)> {
    (1usize..3000, any::<u64>())
        .prop_map(|(len, seed)| random_bytes(len, seed))
        .prop_flat_map(|data| {
            let n = data.len();
            (
                Just(data),
                prop::collection::vec(0..=n, 0..24),
                prop::collection::vec((0..n, 1..=n), 0..12),
                prop::collection::vec(any::<u8>(), 1..16),
            )
        })
        .prop_flat_map(|(data, cuts, extras, choices)| {
            let n = data.len();
            let mut points = cuts;
            points.extend([0, n]);
            points.sort_unstable();
            points.dedup();
            let mut ranges: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            ranges.extend(extras.into_iter().map(|(a, len)| (a, (a + len).min(n))));
            (Just(data), Just(ranges).prop_shuffle(), Just(choices))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// RFC 9293 §3.10.7.4: whatever the segmentation, duplication and order, the reassembly
    /// queue hands over every byte exactly once, in order, and never stores a byte twice.
    /// Pieces that reach RCV.NXT are either inserted or, as the connection does with in-order
    /// text, taken directly, so that stored runs end up starting below RCV.NXT.
    #[test]
    fn reassembly_yields_the_stream_once_in_order(
        (data, ranges, choices) in stream_and_pieces(),
        base in near_wrap_or_any(),
    ) {
        let base = Seq(base);
        let end = base.add(data.len() as u32);
        let mut r = Reassembly::default();
        let mut out = Vec::new();
        for (i, &(a, b)) in ranges.iter().enumerate() {
            let choice = choices[i % choices.len()];
            let (take_directly, pop) = (choice & 1 == 1, choice & 2 == 2);
            let rcv = out.len();
            let rcv_nxt = base.add(rcv as u32);
            if take_directly && a <= rcv && rcv < b {
                out.extend_from_slice(&data[rcv..b]);
                r.pop_ready(base.add(out.len() as u32), &mut out);
            } else {
                // The window reaches exactly the end of the stream.
                let window = end.diff(rcv_nxt) as u32;
                r.insert(base.add(a as u32), &data[a..b], rcv_nxt, window);
                prop_assert!(
                    r.len() <= window as usize,
                    "a byte stored twice or beyond the window"
                );
                if pop {
                    r.pop_ready(rcv_nxt, &mut out);
                }
            }
            prop_assert_eq!(&out[..], &data[..out.len()]);
        }
        r.pop_ready(base.add(out.len() as u32), &mut out);
        prop_assert_eq!(out, data);
        prop_assert!(r.is_empty());
    }
}

/// Sequence number of the client's first data byte (ISN 1000 in the harness).
const FIRST_BYTE: Seq = Seq(1001);

/// Most segments one transfer may lose.
const LOSS_BUDGET: u32 = 6;

/// What happens to one data segment on its way to the server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    /// Never delivered.
    Lost,
    /// Delivered now, and a copy again in the next round (copies are not copied again).
    Duplicated,
    /// Its first part delivered now, the whole of it in the next round (as if the sender had
    /// repacketized a retransmission): the second copy overlaps RCV.NXT.
    Split,
    /// Delivered once.
    Delivered,
}

/// Sends `data` from client to server. Each round, the client's segments (and the copies
/// held back from the round before) reach the server one by one in an order drawn from
/// `keys`, each lost, duplicated, split or delivered as `fates` says; the server's
/// application reads, and the server's segments reach the client in order. When nothing is in
/// flight, time runs to the next timer (delayed ACK, RTO). At most `LOSS_BUDGET` segments are
/// lost, so that the backed-off RTO stays well within the time limit.
fn lossy_transfer(data: &[u8], keys: &[u16], fates: &[u8]) -> Result<Transfer, TestCaseError> {
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    prop_assert_eq!(t.c.send(t.now, c, data), Ok(data.len()));
    let start = t.now;
    let mut keys = keys.iter().cycle();
    let mut fates = fates.iter().cycle();
    let mut losses = 0;
    // Copies for the next round.
    let mut late: Vec<Packet> = Vec::new();
    let mut got = Vec::new();
    // Which bytes reached the server, and how long a prefix of them has no gap.
    let mut arrived = vec![false; data.len()];
    let mut prefix = 0;
    let mut ahead_of_gap = 0;
    let mut first_round_delivered = None;
    for _round in 0..10_000 {
        t.collect();
        let mut batch: Vec<(Packet, bool)> = t.to_s.drain(..).map(|p| (p, false)).collect();
        batch.extend(late.drain(..).map(|p| (p, true)));
        if batch.is_empty() && t.to_c.is_empty() {
            if got.len() == data.len() {
                break;
            }
            let next = [t.c.next_deadline(), t.s.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            prop_assert!(
                next.is_some(),
                "stuck: {} of {} bytes read, no timer armed",
                got.len(),
                data.len()
            );
            let next = next.unwrap();
            prop_assert!(
                next - start <= SimDuration::from_secs(600),
                "not done after 10 min"
            );
            t.advance(next.saturating_since(t.now));
            continue;
        }
        let mut order: Vec<(u16, Packet, bool)> = batch
            .into_iter()
            .map(|(p, copy)| (*keys.next().unwrap(), p, copy))
            .collect();
        order.sort_by_key(|(k, _, _)| *k);
        let mut deliver = Vec::new();
        for (_, p, copy) in order {
            let draw = *fates.next().unwrap();
            let len = p.segment.payload.len();
            let fate = match draw % 8 {
                0 if losses < LOSS_BUDGET => Fate::Lost,
                1 if !copy => Fate::Duplicated,
                2 if !copy && len >= 2 => Fate::Split,
                _ => Fate::Delivered,
            };
            match fate {
                Fate::Lost => losses += 1,
                Fate::Duplicated => {
                    late.push(p.clone());
                    deliver.push(p);
                }
                Fate::Split => {
                    let mut head = p.clone();
                    head.segment
                        .payload
                        .truncate(1 + usize::from(draw) * 37 % (len - 1));
                    late.push(p);
                    deliver.push(head);
                }
                Fate::Delivered => deliver.push(p),
            }
        }
        // Never deliver a round in sequence order: reverse it if the draw was sorted.
        if deliver.len() >= 2
            && deliver
                .windows(2)
                .all(|w| w[0].segment.seq.le(w[1].segment.seq))
        {
            deliver.reverse();
        }
        first_round_delivered.get_or_insert(deliver.len());
        for p in &deliver {
            let seg = &p.segment;
            if !seg.payload.is_empty() {
                let offset = seg.seq.diff(FIRST_BYTE);
                prop_assert!(offset >= 0, "data before the first byte");
                let offset = offset as usize;
                if offset > prefix {
                    ahead_of_gap += 1;
                }
                arrived[offset..offset + seg.payload.len()].fill(true);
                while prefix < arrived.len() && arrived[prefix] {
                    prefix += 1;
                }
            }
            t.s.on_packet(t.now, p);
            t.collect();
        }
        got.extend(t.s_read(s).0);
        prop_assert!(
            data.starts_with(&got),
            "the application read a byte that was not sent, or not in order, before offset {}",
            got.len()
        );
        t.deliver_to_c();
    }
    prop_assert_eq!(got.len(), data.len(), "round limit reached");
    // Both sides settle: every byte acknowledged, nothing failed.
    t.run_for(SimDuration::from_secs(120));
    prop_assert_eq!(t.c.unacked(c), 0);
    prop_assert!(errors(&t.c_log).is_empty() && errors(&t.s_log).is_empty());
    assert_legal(&t.c_log);
    assert_legal(&t.s_log);
    Ok(Transfer {
        got,
        ahead_of_gap,
        first_round_delivered: first_round_delivered.unwrap_or(0),
    })
}

/// What [`lossy_transfer`] saw.
struct Transfer {
    /// What the server's application read.
    got: Vec<u8>,
    /// Data segments that reached the server while bytes before them were missing.
    ahead_of_gap: usize,
    /// Segments delivered in the first round.
    first_round_delivered: usize,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// RFC 9293 §3.10.7.4 and RFC 6298 / RFC 5681 end to end: whatever the order,
    /// duplication, splitting and loss of the client's data segments, the server's
    /// application reads exactly the bytes sent, in order.
    #[test]
    fn stream_arrives_intact_through_reordering_duplication_and_loss(
        len in 1usize..20_000,
        seed in any::<u64>(),
        keys in prop::collection::vec(any::<u16>(), 1..64),
        fates in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let data = random_bytes(len, seed);
        let transfer = lossy_transfer(&data, &keys, &fates)?;
        prop_assert_eq!(transfer.got, data);
        // The first round is new data only: two segments of it delivered in an order that is
        // not the sequence order put one ahead of a gap.
        if transfer.first_round_delivered >= 2 {
            prop_assert!(transfer.ahead_of_gap > 0, "no segment arrived out of order");
        }
    }
}

/// Where a garbage segment's sequence or acknowledgment number lies: near one of the edges
/// the acceptability tests turn on, or anywhere.
#[derive(Clone, Copy, Debug)]
enum Edge {
    /// The server's RCV.NXT.
    RcvNxt,
    /// The right edge of the server's receive window.
    RcvWndEnd,
    /// The server's SND.UNA.
    SndUna,
    /// The server's SND.NXT.
    SndNxt,
    /// Any 32-bit value.
    Any(u32),
}

/// An edge and an offset from it: mostly within ±2, sometimes within ±70 000.
fn edge_number() -> impl Strategy<Value = (Edge, i32)> {
    (
        prop_oneof![
            3 => Just(Edge::RcvNxt),
            2 => Just(Edge::RcvWndEnd),
            2 => Just(Edge::SndUna),
            2 => Just(Edge::SndNxt),
            1 => any::<u32>().prop_map(Edge::Any),
        ],
        prop_oneof![4 => -2i32..=2, 1 => -70_000i32..=70_000],
    )
}

/// A segment aimed mostly at the live connection (client port 32768 to the server's port
/// 80), with the flags of real traffic or any, sometimes with options; its numbers are edges
/// resolved when it is sent.
fn garbage_segment() -> impl Strategy<Value = (netsim_core::Segment, (Edge, i32), (Edge, i32))> {
    (
        prop_oneof![4 => Just(32768u16), 1 => Just(32769), 1 => any::<u16>()],
        prop_oneof![5 => Just(80u16), 1 => any::<u16>()],
        edge_number(),
        edge_number(),
        // Mostly the flags of real traffic, so the segments reach the paths past the flag
        // checks; sometimes any combination.
        prop_oneof![
            3 => Just(0x10u8),
            2 => Just(0x18u8),
            1 => Just(0x11u8),
            1 => Just(0x04u8),
            1 => Just(0x02u8),
            2 => any::<u8>(),
        ],
        any::<u16>(),
        proptest::option::of((any::<u16>(), 0u8..20, any::<u32>(), any::<u32>())),
        prop_oneof![3 => Just(0usize), 2 => 1usize..3000],
    )
        .prop_map(|(sp, dp, seq, ack, flags, window, opts, len)| {
            let segment = netsim_core::Segment {
                src_port: sp,
                dst_port: dp,
                seq: netsim_core::Seq(0),
                ack: netsim_core::Seq(0),
                flags: netsim_core::TcpFlags(flags),
                window,
                options: opts.map_or_else(Default::default, |(mss, ws, val, ecr)| {
                    netsim_core::TcpOptions {
                        mss: Some(mss),
                        window_scale: Some(ws),
                        sack_permitted: false,
                        sack: netsim_core::SackBlocks::NONE,
                        timestamps: Some(netsim_core::Timestamps { val, ecr }),
                    }
                }),
                payload: vec![0x5a; len],
            };
            (segment, seq, ack)
        })
}

/// The server's edges as its latest segment to the client shows them (RCV.NXT, the window's
/// right edge, SND.NXT) and as the client's latest ACK shows SND.UNA.
#[derive(Clone, Copy, Debug, Default)]
struct Edges {
    rcv_nxt: u32,
    rcv_wnd_end: u32,
    snd_una: u32,
    snd_nxt: u32,
}

impl Edges {
    fn resolve(&self, (edge, offset): (Edge, i32)) -> netsim_core::Seq {
        let base = match edge {
            Edge::RcvNxt => self.rcv_nxt,
            Edge::RcvWndEnd => self.rcv_wnd_end,
            Edge::SndUna => self.snd_una,
            Edge::SndNxt => self.snd_nxt,
            Edge::Any(v) => v,
        };
        netsim_core::Seq(base.wrapping_add_signed(offset))
    }

    fn learn(&mut self, t: &mut Pair) {
        t.collect();
        if let Some(p) = t.to_c.iter().rev().find(|p| p.segment.dst_port == 32768) {
            let s = &p.segment;
            self.rcv_nxt = s.ack.0;
            self.rcv_wnd_end = s.ack.0.wrapping_add(u32::from(s.window) << 7);
            self.snd_nxt = s.seq.0.wrapping_add(s.seq_len());
        }
        if let Some(p) = t.to_s.iter().rev().find(|p| p.segment.src_port == 32768) {
            self.snd_una = p.segment.ack.0;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No segment, however malformed, makes the model panic or take a transition outside
    /// RFC 9293's diagram, on a server holding a listener and a connection that goes through
    /// the closing states (each side closes at a drawn step). Sequence and acknowledgment
    /// numbers are drawn mostly within ±2 of the edges that decide acceptance (RCV.NXT, the
    /// window's right edge, SND.UNA, SND.NXT), so the accept paths are exercised, not only
    /// the reject paths.
    #[test]
    fn garbage_segments_near_the_window_edges_never_panic_or_break_the_diagram(
        segments in proptest::collection::vec(garbage_segment(), 1..40),
        gaps_ms in proptest::collection::vec(0u64..3000, 40),
        server_closes_at in 0usize..50,
        client_closes_at in 0usize..50,
    ) {
        let mut t = Pair::linux();
        let (c, s) = t.establish();
        t.c.send(t.now, c, &[1; 3000]).unwrap();
        t.s.send(t.now, s, &[2; 100]).unwrap();
        let mut edges = Edges::default();
        edges.learn(&mut t);
        // Each side closes at a drawn step within the run, so every case goes through the
        // closing states.
        let (server_closes_at, client_closes_at) =
            (server_closes_at % segments.len(), client_closes_at % segments.len());
        for (i, ((mut seg, seq, ack), gap)) in segments.into_iter().zip(gaps_ms).enumerate() {
            if i == server_closes_at {
                let _ = t.s.close(t.now, s);
            }
            if i == client_closes_at {
                let _ = t.c.close(t.now, c);
            }
            edges.learn(&mut t);
            seg.seq = edges.resolve(seq);
            seg.ack = edges.resolve(ack);
            let p = netsim_core::Packet { src: CLIENT, dst: SERVER, segment: seg };
            t.s.on_packet(t.now, &p);
            t.advance(SimDuration::from_millis(gap));
            edges.learn(&mut t);
            t.exchange();
        }
        assert_legal(&t.c_log);
        assert_legal(&t.s_log);
    }
}
