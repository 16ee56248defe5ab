//! The engine's network, end to end: determinism, link statistics, exact timing, every drop
//! reason, network changes, targeted faults and run limits.

mod common;

use common::*;
use netsim_core::{SimDuration, SimTime, TcpFlags};
use netsim_engine::{
    BuildError, Cause, Direction, DropReason, FaultAction, FaultCount, FaultId, FaultRule,
    FlagMatch, HostId, LinkConfig, NetChange, NullSink, Occurrence, PacketFilter, Planned,
    Probability, Probe, QueueLimit, Release, RunError, RunLimits, Sim, Stop, TraceKind,
    TraceRecord,
};

fn p(x: f64) -> Probability {
    Probability::new(x).unwrap()
}

fn lossy() -> LinkConfig {
    LinkConfig {
        latency: ms(5),
        jitter: ms(2),
        loss: p(0.2),
        duplicate: p(0.05),
        reorder: p(0.05),
        reorder_delay: ms(10),
        ..LinkConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Determinism

#[test]
fn same_seed_same_trace_hash() {
    let go = || {
        run(
            two_hosts(lossy()),
            vec![stream(A, B, SimTime::ZERO, ms(1), 500, 100), vec![]],
            42,
        )
    };
    let (first, second) = (go(), go());
    assert_eq!(first.outcome.trace_hash, second.outcome.trace_hash);
    assert_eq!(first.lines, second.lines);
    assert!(
        first.outcome.stats.dropped(DropReason::Loss) > 0,
        "the link must be lossy"
    );
}

#[test]
fn different_seed_on_lossy_link_changes_the_trace_hash() {
    let go = |seed| {
        run(
            two_hosts(lossy()),
            vec![stream(A, B, SimTime::ZERO, ms(1), 500, 100), vec![]],
            seed,
        )
        .outcome
        .trace_hash
    };
    assert_ne!(go(1), go(2));
}

/// Sequence numbers of the a->b packets the link lost.
fn lost_seqs(run: &Run) -> Vec<String> {
    lines_with(run, "drop (loss) 10.0.0.1:")
        .iter()
        .map(|l| l.split(" seq ").nth(1).unwrap().to_string())
        .collect()
}

#[test]
fn unrelated_host_and_link_leave_other_links_draws_alone() {
    let plan = || stream(A, B, SimTime::ZERO, ms(1), 1000, 100);
    let alone = run(two_hosts(lossy()), vec![plan(), vec![]], 9);

    let mut bigger = two_hosts(lossy());
    let c = bigger.add_host("c", addr(HostId(2)));
    bigger.add_link(c, A, lossy());
    let c_plan = stream(
        c,
        A,
        SimTime::ZERO,
        SimDuration::from_micros(700),
        1000,
        100,
    );
    let with_c = run(bigger, vec![plan(), vec![], c_plan], 9);

    assert!(!lost_seqs(&alone).is_empty());
    assert_eq!(lost_seqs(&alone), lost_seqs(&with_c));
    assert_ne!(alone.outcome.trace_hash, with_c.outcome.trace_hash);
}

// ---------------------------------------------------------------------------------------------
// Statistics over 100 000 packets

/// Observed rates must lie within five binomial standard deviations of the configured
/// probability: sqrt(p(1-p)/n). For n = 100 000 and p = 0.1 that is ±0.0047. The seed is fixed,
/// so the test is deterministic; the tolerance says how far a correct model may wander.
fn assert_rate(what: &str, hits: u64, trials: u64, p: f64) {
    let observed = hits as f64 / trials as f64;
    let tolerance = 5.0 * (p * (1.0 - p) / trials as f64).sqrt();
    assert!(
        (observed - p).abs() <= tolerance,
        "{what}: observed {observed:.5} over {trials} trials, configured {p} ± {tolerance:.5}"
    );
}

#[test]
fn loss_duplication_and_reordering_rates_match_their_probabilities() {
    const N: u32 = 100_000;
    let config = LinkConfig {
        latency: ms(1),
        loss: p(0.1),
        duplicate: p(0.05),
        reorder: p(0.05),
        reorder_delay: ms(1),
        ..LinkConfig::default()
    };
    let topology = two_hosts(config);
    let hosts = vec![
        Probe::new(stream(
            A,
            B,
            SimTime::ZERO,
            SimDuration::from_micros(10),
            N,
            0,
        )),
        Probe::listener(),
    ];
    let mut delayed = 0u64;
    let sink = |r: &TraceRecord<'_, _>| {
        if let TraceKind::Delayed {
            cause: Cause::Link, ..
        } = r.kind
        {
            delayed += 1;
        }
    };
    let mut sim = Sim::new(topology, hosts, 2024, RunLimits::default(), sink).unwrap();
    let outcome = sim.run().unwrap();
    let stats = &outcome.stats;
    let lost = stats.dropped(DropReason::Loss);
    let survivors = u64::from(N) - lost;
    assert_rate("loss", lost, N.into(), 0.1);
    assert_rate("duplication", stats.copies, survivors, 0.05);

    // Reordering as the receiver sees it: an original that arrives after a packet sent later.
    let received = &sim.hosts()[1].received;
    let mut seen = std::collections::BTreeSet::new();
    let (mut late, mut max_seq) = (0u64, None::<u32>);
    for (_, packet) in received {
        let seq = packet.segment.seq.0;
        if !seen.insert(seq) {
            continue; // a duplicate copy
        }
        if max_seq.is_some_and(|m| seq < m) {
            late += 1;
        }
        max_seq = max_seq.max(Some(seq));
    }
    drop(sim);
    assert_rate("reordering (delayed by the link)", delayed, survivors, 0.05);
    assert_rate("reordering (seen by the receiver)", late, survivors, 0.05);
    assert_eq!(stats.delivered, survivors + stats.copies);
}

// ---------------------------------------------------------------------------------------------
// Exact timing

#[test]
fn bandwidth_and_latency_give_exact_arrival_times() {
    // 1 Mbit/s, 10 ms latency. Each packet is 1000 payload + 40 header bytes = 8 320 bits, so
    // it takes 8.32 ms to serialise; back-to-back packets queue behind each other.
    let config = LinkConfig {
        latency: ms(10),
        bandwidth_bps: Some(1_000_000),
        ..LinkConfig::default()
    };
    let mut plan: Vec<Planned> = (0..3)
        .map(|i| Planned {
            at: SimTime::ZERO,
            packet: packet(A, B, i, TcpFlags::ACK, 1000),
            label: "",
        })
        .collect();
    plan.push(Planned {
        at: at_ms(100),
        packet: packet(A, B, 3, TcpFlags::ACK, 1000),
        label: "",
    });
    let r = run(two_hosts(config), vec![plan, vec![]], 1);
    assert_eq!(
        arrivals(&r, B),
        vec![
            (at_us(18_320), 0),
            (at_us(26_640), 1),
            (at_us(34_960), 2),
            (at_us(118_320), 3)
        ]
    );
}

#[test]
fn latency_alone_delays_every_packet_by_exactly_that_much() {
    let config = LinkConfig {
        latency: SimDuration::from_micros(1_500),
        ..LinkConfig::default()
    };
    let r = run(
        two_hosts(config),
        vec![stream(A, B, SimTime::ZERO, ms(1), 3, 10), vec![]],
        1,
    );
    assert_eq!(
        arrivals(&r, B),
        vec![(at_us(1_500), 0), (at_us(2_500), 1), (at_us(3_500), 2)]
    );
}

// ---------------------------------------------------------------------------------------------
// Drop reasons

#[test]
fn full_queue_drops_tail_packets_in_packets() {
    // One packet serialising, two waiting, the rest dropped.
    let config = LinkConfig {
        bandwidth_bps: Some(1_000_000),
        queue: Some(QueueLimit::Packets(2)),
        ..LinkConfig::default()
    };
    let plan = stream(A, B, SimTime::ZERO, SimDuration::ZERO, 5, 1000);
    let r = run(two_hosts(config), vec![plan, vec![]], 1);
    let seqs: Vec<u32> = arrivals(&r, B).iter().map(|&(_, s)| s).collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    let drops = lines_with(&r, "drop (queue full)");
    assert_eq!(drops.len(), 2, "{:#?}", r.lines);
    assert!(drops[0].contains("seq 3") && drops[1].contains("seq 4"));
}

#[test]
fn full_queue_drops_tail_packets_in_bytes() {
    // 1040-byte packets; 2500 bytes of queue holds two waiting packets, not three.
    let config = LinkConfig {
        bandwidth_bps: Some(1_000_000),
        queue: Some(QueueLimit::Bytes(2500)),
        ..LinkConfig::default()
    };
    let plan = stream(A, B, SimTime::ZERO, SimDuration::ZERO, 4, 1000);
    let r = run(two_hosts(config.clone()), vec![plan, vec![]], 1);
    assert_eq!(arrivals(&r, B).len(), 3);
    assert_eq!(r.outcome.stats.dropped(DropReason::QueueFull), 1);
    assert_eq!(lines_with(&r, "drop (queue full)").len(), 1);

    // At the boundary: 2080 bytes of queue hold exactly two waiting packets.
    let exact = LinkConfig {
        queue: Some(QueueLimit::Bytes(2080)),
        ..config
    };
    let plan = stream(A, B, SimTime::ZERO, SimDuration::ZERO, 4, 1000);
    let r = run(two_hosts(exact), vec![plan, vec![]], 1);
    assert_eq!(arrivals(&r, B).len(), 3, "full to the byte is not over");
}

/// Jitter adds up to its amount to the latency, for originals and copies alike: every
/// arrival lies within [latency, latency + jitter] of its send time, and both ends of the
/// range are approached.
#[test]
fn jitter_keeps_every_arrival_within_latency_plus_jitter() {
    let config = LinkConfig {
        latency: ms(5),
        jitter: ms(2),
        duplicate: p(0.5),
        ..LinkConfig::default()
    };
    let plan = stream(A, B, SimTime::ZERO, ms(10), 400, 10);
    let r = run(two_hosts(config), vec![plan, vec![]], 3);
    let got = arrivals(&r, B);
    assert!(r.outcome.stats.copies > 150, "copies arrive too");
    assert_eq!(got.len() as u64, 400 + r.outcome.stats.copies);
    let delays: Vec<SimDuration> = got
        .iter()
        .map(|&(t, seq)| t.saturating_since(SimTime::ZERO + ms(10) * u64::from(seq)))
        .collect();
    assert!(
        delays.iter().all(|&d| ms(5) <= d && d <= ms(7)),
        "{delays:?}"
    );
    assert!(
        delays
            .iter()
            .any(|&d| d < ms(5) + SimDuration::from_micros(100))
    );
    assert!(
        delays
            .iter()
            .any(|&d| d > ms(7) - SimDuration::from_micros(100))
    );
}

#[test]
fn queue_drains_as_packets_finish_serialising() {
    // A 1040-byte packet takes 8.32 ms. With room for one waiting packet, a burst of three at
    // t=0 loses one, but a packet sent at 9 ms finds the first one done and gets in.
    let config = LinkConfig {
        bandwidth_bps: Some(1_000_000),
        queue: Some(QueueLimit::Packets(1)),
        ..LinkConfig::default()
    };
    let mut plan = stream(A, B, SimTime::ZERO, SimDuration::ZERO, 3, 1000);
    plan.push(Planned {
        at: at_ms(9),
        packet: packet(A, B, 9, TcpFlags::ACK, 1000),
        label: "",
    });
    let r = run(two_hosts(config), vec![plan, vec![]], 1);
    let seqs: Vec<u32> = arrivals(&r, B).iter().map(|&(_, s)| s).collect();
    assert_eq!(seqs, vec![0, 1, 9]);
}

#[test]
fn packets_above_the_mtu_are_dropped_with_reason_mtu() {
    let config = LinkConfig {
        mtu_bytes: Some(576),
        ..LinkConfig::default()
    };
    // 40 header bytes: 536 payload fits exactly, 537 does not.
    let plan = vec![
        Planned {
            at: SimTime::ZERO,
            packet: packet(A, B, 1, TcpFlags::ACK, 536),
            label: "",
        },
        Planned {
            at: SimTime::ZERO,
            packet: packet(A, B, 2, TcpFlags::ACK, 537),
            label: "",
        },
    ];
    let r = run(two_hosts(config), vec![plan, vec![]], 1);
    assert_eq!(arrivals(&r, B), vec![(SimTime::ZERO, 1)]);
    let drops = lines_with(&r, "drop (mtu)");
    assert_eq!(drops.len(), 1);
    assert!(drops[0].contains("seq 2") && drops[0].contains("len 537"));
}

#[test]
fn packets_older_than_the_lifetime_expire_in_the_network() {
    // The link takes 3 s but packets may only live 2 s: they vanish at 2 s, never arrive.
    let mut t = two_hosts(LinkConfig {
        latency: SimDuration::from_secs(3),
        ..LinkConfig::default()
    });
    t.lifetime = Some(SimDuration::from_secs(2));
    let r = run(t, vec![stream(A, B, SimTime::ZERO, ms(1), 2, 0), vec![]], 1);
    assert!(arrivals(&r, B).is_empty());
    let drops = lines_with(&r, "drop (lifetime expired)");
    assert_eq!(drops.len(), 2);
    assert!(
        drops[0].trim_start().starts_with("2.000000s"),
        "{}",
        drops[0]
    );
    assert!(
        drops[1].trim_start().starts_with("2.001000s"),
        "{}",
        drops[1]
    );
}

#[test]
fn a_fault_delay_past_the_lifetime_also_expires() {
    let mut t = two_hosts(LinkConfig {
        latency: ms(1),
        ..LinkConfig::default()
    });
    t.lifetime = Some(SimDuration::from_secs(30));
    t.faults.push(FaultRule {
        filter: PacketFilter::default(),
        occurrence: Occurrence::Nth(1),
        action: FaultAction::Delay(SimDuration::from_secs(70)),
    });
    let r = run(t, vec![stream(A, B, SimTime::ZERO, ms(1), 2, 0), vec![]], 1);
    assert_eq!(arrivals(&r, B), vec![(at_ms(2), 1)]);
    assert_eq!(r.outcome.stats.dropped(DropReason::LifetimeExpired), 1);
    assert!(lines_with(&r, "drop (lifetime expired)")[0].contains("30.000000s"));
}

#[test]
fn partition_drops_packets_in_flight_and_new_ones_until_healed() {
    let mut t = two_hosts(LinkConfig {
        latency: ms(10),
        ..LinkConfig::default()
    });
    t.schedule
        .push((at_ms(8), NetChange::Partition(A, B, Direction::Both)));
    t.schedule
        .push((at_ms(20), NetChange::Heal(A, B, Direction::Both)));
    // Sent at 0 (arrives 10: in flight at 8, dropped), 9 (sent into the cut), 25 (healed).
    let plan = acks(A, B, &[(0, 0), (9, 1), (25, 2)]);
    let back = acks(B, A, &[(9, 7)]);
    let r = run(t, vec![plan, back], 1);
    assert_eq!(arrivals(&r, B), vec![(at_ms(35), 2)]);
    assert!(arrivals(&r, A).is_empty());
    let drops = lines_with(&r, "drop (partition)");
    assert_eq!(drops.len(), 3, "{:#?}", r.lines);
    assert!(drops[0].contains("0.008000s") && drops[0].contains("seq 0"));
    assert_eq!(lines_with(&r, "partition a <-> b").len(), 1);
    assert_eq!(lines_with(&r, "heal a <-> b").len(), 1);
}

#[test]
fn a_held_link_keeps_new_packets_and_releases_them_in_order() {
    let mut t = two_hosts(LinkConfig {
        latency: ms(10),
        ..LinkConfig::default()
    });
    t.schedule
        .push((at_ms(5), NetChange::Hold(A, B, Direction::OneWay)));
    t.schedule
        .push((at_ms(30), NetChange::Release(A, B, Direction::OneWay)));
    // Sent at 0 (on the link before the hold: arrives at 10), 6 and 7 (held until 30, then
    // 10 ms of latency, in the order sent), 31 (after the release: arrives at 41).
    let plan = acks(A, B, &[(0, 0), (6, 1), (7, 2), (31, 3)]);
    // The other direction is not held.
    let back = acks(B, A, &[(6, 9)]);
    let r = run(t, vec![plan, back], 1);
    assert_eq!(
        arrivals(&r, B),
        vec![
            (at_ms(10), 0),
            (at_ms(40), 1),
            (at_ms(40), 2),
            (at_ms(41), 3)
        ]
    );
    assert_eq!(arrivals(&r, A), vec![(at_ms(16), 9)]);
    assert_eq!(lines_with(&r, "hold (link)").len(), 2, "{:#?}", r.lines);
    assert_eq!(lines_with(&r, "hold a -> b").len(), 1);
    assert_eq!(lines_with(&r, "release a -> b").len(), 1);
    assert_eq!(r.outcome.in_flight, 0);
}

#[test]
fn packets_held_across_a_partition_meet_the_cut_when_released() {
    let mut t = two_hosts(LinkConfig {
        latency: ms(10),
        ..LinkConfig::default()
    });
    t.schedule
        .push((at_ms(1), NetChange::Hold(A, B, Direction::Both)));
    t.schedule
        .push((at_ms(5), NetChange::Partition(A, B, Direction::Both)));
    t.schedule
        .push((at_ms(8), NetChange::Release(A, B, Direction::Both)));
    let plan = acks(A, B, &[(2, 1)]);
    let r = run(t, vec![plan, Vec::new()], 1);
    assert!(arrivals(&r, B).is_empty());
    let drops = lines_with(&r, "drop (partition)");
    assert_eq!(drops.len(), 1, "{:#?}", r.lines);
    assert!(
        drops[0].contains("0.008000s"),
        "dropped at the release: {}",
        drops[0]
    );
}

#[test]
fn one_way_partition_cuts_only_one_direction() {
    let mut t = two_hosts(LinkConfig {
        latency: ms(1),
        ..LinkConfig::default()
    });
    t.schedule
        .push((SimTime::ZERO, NetChange::Partition(A, B, Direction::OneWay)));
    let r = run(
        t,
        vec![
            stream(A, B, at_ms(1), ms(1), 2, 0),
            stream(B, A, at_ms(1), ms(1), 2, 0),
        ],
        1,
    );
    assert!(arrivals(&r, B).is_empty());
    assert_eq!(arrivals(&r, A).len(), 2);
    assert_eq!(r.outcome.stats.dropped(DropReason::Partition), 2);
    assert_eq!(lines_with(&r, "partition a -> b").len(), 1);
}

#[test]
fn crashed_host_drops_arrivals_loses_timers_and_restarts_fresh() {
    let mut t = two_hosts(LinkConfig {
        latency: ms(1),
        ..LinkConfig::default()
    });
    t.schedule.push((at_ms(5), NetChange::Crash(B)));
    t.schedule.push((at_ms(20), NetChange::Restart(B)));
    // a sends at 0, 10 (arrives while b is down), 30. b planned to send at 8 and 12 (while
    // down: its timer is void, and the restart skips what fell due), at 20 (due the instant
    // it restarts: sent) and at 40.
    let a_plan: Vec<Planned> = [0u64, 10, 30]
        .iter()
        .map(|&t| Planned {
            at: at_ms(t),
            packet: packet(A, B, t as u32, TcpFlags::ACK, 0),
            label: "",
        })
        .collect();
    let b_plan: Vec<Planned> = [8u64, 12, 20, 40]
        .iter()
        .map(|&t| Planned {
            at: at_ms(t),
            packet: packet(B, A, t as u32, TcpFlags::ACK, 0),
            label: "",
        })
        .collect();
    let r = run(t, vec![a_plan, b_plan], 1);
    let b = &r.hosts[1];
    assert_eq!((b.crashes, b.restarts), (1, 1));
    assert_eq!(arrivals(&r, B), vec![(at_ms(1), 0), (at_ms(31), 30)]);
    assert_eq!(arrivals(&r, A), vec![(at_ms(21), 20), (at_ms(41), 40)]);
    let drops = lines_with(&r, "drop (host down)");
    assert_eq!(drops.len(), 1);
    assert!(drops[0].contains("0.011000s"));
    assert_eq!(lines_with(&r, "crash b").len(), 1);
    assert_eq!(lines_with(&r, "restart b").len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Targeted faults

fn quiet_link() -> LinkConfig {
    LinkConfig {
        latency: ms(1),
        ..LinkConfig::default()
    }
}

#[test]
fn drop_the_third_packet_from_a_to_b() {
    let mut t = two_hosts(quiet_link());
    t.faults.push(FaultRule {
        filter: PacketFilter {
            from: Some(A),
            to: Some(B),
            ..PacketFilter::default()
        },
        occurrence: Occurrence::Nth(3),
        action: FaultAction::Drop,
    });
    let r = run(
        t,
        vec![
            stream(A, B, SimTime::ZERO, ms(1), 5, 10),
            stream(B, A, SimTime::ZERO, ms(1), 5, 10),
        ],
        1,
    );
    let got: Vec<u32> = arrivals(&r, B).iter().map(|&(_, s)| s).collect();
    assert_eq!(got, vec![0, 1, 3, 4]);
    assert_eq!(arrivals(&r, A).len(), 5, "b->a traffic is untouched");
    assert_eq!(
        r.outcome.faults,
        vec![FaultCount {
            matched: 5,
            fired: 1
        }]
    );
    let drops = lines_with(&r, "drop (fault 1)");
    assert_eq!(drops.len(), 1);
    assert!(drops[0].contains("10.0.0.1:1000 > 10.0.0.2:1001") && drops[0].contains("seq 2"));
}

#[test]
fn delay_the_first_packet_with_fin_by_five_seconds() {
    let mut t = two_hosts(quiet_link());
    t.faults.push(FaultRule {
        filter: PacketFilter {
            flags: Some(FlagMatch::Contains(TcpFlags::FIN)),
            ..PacketFilter::default()
        },
        occurrence: Occurrence::Nth(1),
        action: FaultAction::Delay(SimDuration::from_secs(5)),
    });
    let fin = TcpFlags::FIN | TcpFlags::ACK;
    let plan: Vec<Planned> = [
        (0, 0, TcpFlags::ACK),
        (1, 1, fin),
        (2, 2, TcpFlags::ACK),
        (3, 3, fin),
    ]
    .into_iter()
    .map(|(t, seq, flags)| Planned {
        at: at_ms(t),
        packet: packet(A, B, seq, flags, 0),
        label: "",
    })
    .collect();
    let r = run(t, vec![plan, vec![]], 1);
    assert_eq!(
        arrivals(&r, B),
        vec![
            (at_ms(1), 0),
            (at_ms(3), 2),
            (at_ms(4), 3),
            (SimTime::after(SimDuration::from_millis(5_002)), 1)
        ]
    );
    assert_eq!(
        r.outcome.faults,
        vec![FaultCount {
            matched: 2,
            fired: 1
        }]
    );
    assert_eq!(lines_with(&r, "delay +5s (fault 1)").len(), 1);
}

#[test]
fn filters_match_sender_state_exact_flags_payload_and_ranges() {
    let mut t = two_hosts(quiet_link());
    let every_drop = |filter| FaultRule {
        filter,
        occurrence: Occurrence::Every,
        action: FaultAction::Drop,
    };
    // Only the ACK sent from TIME_WAIT; only a bare SYN (not SYN+ACK); only empty segments
    // with seq in 10..=11.
    t.faults.push(every_drop(PacketFilter {
        sender_state: Some("TIME_WAIT".into()),
        ..PacketFilter::default()
    }));
    t.faults.push(every_drop(PacketFilter {
        flags: Some(FlagMatch::Exact(TcpFlags::SYN)),
        ..PacketFilter::default()
    }));
    t.faults.push(every_drop(PacketFilter {
        payload: Some(false),
        seq: Some((10, 11)),
        ..PacketFilter::default()
    }));
    let mk = |ms_at, seq, flags, len, label| Planned {
        at: at_ms(ms_at),
        packet: packet(A, B, seq, flags, len),
        label,
    };
    let plan = vec![
        mk(0, 1, TcpFlags::ACK, 0, "FIN_WAIT_2"),
        mk(1, 2, TcpFlags::ACK, 0, "TIME_WAIT"),
        mk(2, 3, TcpFlags::SYN, 0, "SYN_SENT"),
        mk(3, 4, TcpFlags::SYN | TcpFlags::ACK, 0, "SYN_RECEIVED"),
        mk(4, 10, TcpFlags::ACK, 0, "ESTABLISHED"),
        mk(5, 11, TcpFlags::ACK, 5, "ESTABLISHED"),
        mk(6, 12, TcpFlags::ACK, 0, "ESTABLISHED"),
    ];
    let r = run(t, vec![plan, vec![]], 1);
    let got: Vec<u32> = arrivals(&r, B).iter().map(|&(_, s)| s).collect();
    assert_eq!(got, vec![1, 4, 11, 12]);
    let fired: Vec<u64> = r.outcome.faults.iter().map(|c| c.fired).collect();
    assert_eq!(fired, vec![1, 1, 1]);
}

#[test]
fn hold_until_later_packets_pass_reorders_exactly() {
    let mut t = two_hosts(quiet_link());
    t.faults.push(FaultRule {
        filter: PacketFilter {
            from: Some(A),
            ..PacketFilter::default()
        },
        occurrence: Occurrence::Nth(2),
        action: FaultAction::Hold(Release::AfterPackets(2)),
    });
    let r = run(t, vec![stream(A, B, SimTime::ZERO, ms(1), 5, 0), vec![]], 1);
    let got: Vec<u32> = arrivals(&r, B).iter().map(|&(_, s)| s).collect();
    assert_eq!(got, vec![0, 2, 3, 1, 4]);
    assert_eq!(lines_with(&r, "hold (fault 1)").len(), 1);
    assert_eq!(lines_with(&r, "release").len(), 1);
}

#[test]
fn hold_until_a_time_then_release() {
    let mut t = two_hosts(quiet_link());
    t.faults.push(FaultRule {
        filter: PacketFilter::default(),
        occurrence: Occurrence::Nth(1),
        action: FaultAction::Hold(Release::At(at_ms(50))),
    });
    let r = run(t, vec![stream(A, B, SimTime::ZERO, ms(1), 2, 0), vec![]], 1);
    assert_eq!(arrivals(&r, B), vec![(at_ms(2), 1), (at_ms(51), 0)]);
}

#[test]
fn a_packet_held_forever_counts_as_in_flight() {
    let mut t = two_hosts(quiet_link());
    t.faults.push(FaultRule {
        filter: PacketFilter::default(),
        occurrence: Occurrence::Nth(1),
        action: FaultAction::Hold(Release::AfterPackets(10)),
    });
    let r = run(t, vec![stream(A, B, SimTime::ZERO, ms(1), 2, 0), vec![]], 1);
    assert_eq!(r.outcome.in_flight, 1);
    assert_eq!(arrivals(&r, B).len(), 1);
}

#[test]
fn duplicate_fault_delivers_two_copies() {
    let mut t = two_hosts(quiet_link());
    t.faults.push(FaultRule {
        filter: PacketFilter::default(),
        occurrence: Occurrence::Every,
        action: FaultAction::Duplicate,
    });
    let r = run(t, vec![stream(A, B, SimTime::ZERO, ms(1), 2, 0), vec![]], 1);
    let got: Vec<u32> = arrivals(&r, B).iter().map(|&(_, s)| s).collect();
    assert_eq!(got, vec![0, 0, 1, 1]);
    assert_eq!(r.outcome.stats.copies, 2);
    assert_eq!(
        r.outcome.faults[0],
        FaultCount {
            matched: 2,
            fired: 2
        }
    );
}

#[test]
fn a_rule_that_never_matches_reports_zero() {
    let mut t = two_hosts(quiet_link());
    t.faults.push(FaultRule {
        filter: PacketFilter {
            flags: Some(FlagMatch::Contains(TcpFlags::RST)),
            ..PacketFilter::default()
        },
        occurrence: Occurrence::Every,
        action: FaultAction::Drop,
    });
    let r = run(t, vec![stream(A, B, SimTime::ZERO, ms(1), 3, 0), vec![]], 1);
    assert_eq!(r.outcome.faults, vec![FaultCount::default()]);
    assert_eq!(arrivals(&r, B).len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Routing, limits, configuration errors

#[test]
fn packets_to_an_unknown_address_or_unlinked_host_have_no_route() {
    let mut t = two_hosts(quiet_link());
    t.add_host("island", addr(HostId(2)));
    let mut stray = packet(A, B, 1, TcpFlags::ACK, 0);
    stray.dst = "192.0.2.1".parse().unwrap();
    let plan = vec![
        Planned {
            at: SimTime::ZERO,
            packet: stray,
            label: "",
        },
        Planned {
            at: SimTime::ZERO,
            packet: packet(A, HostId(2), 2, TcpFlags::ACK, 0),
            label: "",
        },
    ];
    let r = run(t, vec![plan, vec![], vec![]], 1);
    assert_eq!(r.outcome.stats.dropped(DropReason::NoRoute), 2);
    assert_eq!(lines_with(&r, "drop (no route)").len(), 2);
}

#[test]
fn run_stops_at_end_time_with_packets_still_in_flight() {
    let limits = RunLimits {
        end: Some(at_ms(5)),
        ..RunLimits::default()
    };
    let r = run_with(
        two_hosts(LinkConfig {
            latency: ms(10),
            ..LinkConfig::default()
        }),
        vec![stream(A, B, SimTime::ZERO, ms(1), 3, 0), vec![]],
        1,
        limits,
    );
    assert_eq!(r.outcome.stop, Stop::EndTime);
    assert_eq!(r.outcome.end, at_ms(5));
    assert_eq!(r.outcome.in_flight, 3);
}

/// A host that re-arms a timer forever: a runaway.
struct Forever;

impl netsim_engine::Host for Forever {
    type Event = netsim_engine::NoEvent;
    fn start(&mut self, ctx: &mut netsim_engine::Ctx<'_, Self::Event>) {
        ctx.set_timer(ctx.now() + ms(1), 0);
    }
    fn packet(&mut self, _: &mut netsim_engine::Ctx<'_, Self::Event>, _: netsim_core::Packet) {}
    fn timer(&mut self, ctx: &mut netsim_engine::Ctx<'_, Self::Event>, _: u64) {
        ctx.set_timer(ctx.now() + ms(1), 0);
    }
    fn crash(&mut self) {}
    fn restart(&mut self, _: &mut netsim_engine::Ctx<'_, Self::Event>) {}
}

fn runaway(limits: RunLimits) -> Result<netsim_engine::RunOutcome, RunError> {
    let mut t = netsim_engine::Topology::default();
    t.add_host("loop", addr(A));
    Sim::new(t, vec![Forever], 1, limits, NullSink)
        .unwrap()
        .run()
}

#[test]
fn runaway_run_stops_at_the_event_cap_with_an_error() {
    let err = runaway(RunLimits {
        max_events: 1000,
        ..RunLimits::default()
    })
    .unwrap_err();
    assert_eq!(
        err,
        RunError::EventCap {
            events: 1000,
            at: at_ms(1000)
        }
    );
    assert!(err.to_string().contains("event cap"));
}

#[test]
fn runaway_run_stops_at_the_time_cap_with_an_error() {
    let err = runaway(RunLimits {
        max_time: SimTime::after(SimDuration::from_secs(1)),
        ..RunLimits::default()
    })
    .unwrap_err();
    assert!(matches!(err, RunError::TimeCap { next, .. } if next == at_ms(1001)));
    assert!(err.to_string().contains("time cap"));
}

/// A host that arms timer 1 at 10 ms and timer 2 at 20 ms when it starts, cancels the one
/// numbered `cancel`, and records the timers that fire.
#[derive(Default)]
struct TwoTimers {
    cancel: Option<u64>,
    fired: Vec<u64>,
}

impl TwoTimers {
    fn cancelling(token: u64) -> TwoTimers {
        TwoTimers {
            cancel: Some(token),
            fired: Vec::new(),
        }
    }
}

impl netsim_engine::Host for TwoTimers {
    type Event = netsim_engine::NoEvent;
    fn start(&mut self, ctx: &mut netsim_engine::Ctx<'_, Self::Event>) {
        let ids = [ctx.set_timer(at_ms(10), 1), ctx.set_timer(at_ms(20), 2)];
        if let Some(token) = self.cancel {
            let id = ids[token as usize - 1];
            assert!(ctx.cancel_timer(id));
            assert!(
                !ctx.cancel_timer(id),
                "a cancelled timer cannot be cancelled twice"
            );
        }
    }
    fn packet(&mut self, _: &mut netsim_engine::Ctx<'_, Self::Event>, _: netsim_core::Packet) {}
    fn timer(&mut self, _: &mut netsim_engine::Ctx<'_, Self::Event>, token: u64) {
        self.fired.push(token);
    }
    fn crash(&mut self) {}
    fn restart(&mut self, _: &mut netsim_engine::Ctx<'_, Self::Event>) {}
}

#[test]
fn cancelled_timers_never_fire_and_are_not_counted_as_events() {
    let mut t = netsim_engine::Topology::default();
    t.add_host("h", addr(A));
    let mut sim = Sim::new(
        t,
        vec![TwoTimers::cancelling(1)],
        1,
        RunLimits::default(),
        NullSink,
    )
    .unwrap();
    let outcome = sim.run().unwrap();
    assert_eq!(sim.hosts()[0].fired, vec![2]);
    assert_eq!(outcome.events, 1);
    assert_eq!(outcome.end, at_ms(20));
}

/// A host that arms timer 1 at 10 ms and timer 2 at 20 ms, moves timer 2 to 10 ms, and when
/// timer 1 fires, moves timer 2 (due at that same instant) to 5 ms later.
#[derive(Default)]
struct MovingTimers {
    ids: Vec<netsim_engine::TimerId>,
    fired: Vec<(u64, SimTime)>,
}

impl netsim_engine::Host for MovingTimers {
    type Event = netsim_engine::NoEvent;
    fn start(&mut self, ctx: &mut netsim_engine::Ctx<'_, Self::Event>) {
        self.ids = vec![ctx.set_timer(at_ms(10), 1), ctx.set_timer(at_ms(20), 2)];
        assert!(ctx.reset_timer(self.ids[1], at_ms(10)));
    }
    fn packet(&mut self, _: &mut netsim_engine::Ctx<'_, Self::Event>, _: netsim_core::Packet) {}
    fn timer(&mut self, ctx: &mut netsim_engine::Ctx<'_, Self::Event>, token: u64) {
        self.fired.push((token, ctx.now()));
        if token == 1 {
            assert!(!ctx.reset_timer(self.ids[0], at_ms(50)), "it fired");
            assert!(ctx.reset_timer(self.ids[1], at_ms(15)));
        }
    }
    fn crash(&mut self) {}
    fn restart(&mut self, _: &mut netsim_engine::Ctx<'_, Self::Event>) {}
}

/// A moved timer fires once, at its new time, after the timers due then that were armed
/// before it moved (as if cancelled and armed again); a fired one cannot be moved.
#[test]
fn a_moved_timer_fires_once_at_its_new_time_as_if_armed_when_moved() {
    let mut t = netsim_engine::Topology::default();
    t.add_host("h", addr(A));
    let mut sim = Sim::new(
        t,
        vec![MovingTimers::default()],
        1,
        RunLimits::default(),
        NullSink,
    )
    .unwrap();
    let outcome = sim.run().unwrap();
    assert_eq!(sim.hosts()[0].fired, vec![(1, at_ms(10)), (2, at_ms(15))]);
    assert_eq!(outcome.events, 2);
    assert_eq!(outcome.end, at_ms(15));
}

#[test]
fn impossible_configurations_are_refused_with_the_reason() {
    let bad = |config: LinkConfig| {
        Sim::new(
            two_hosts(config),
            vec![Probe::listener(), Probe::listener()],
            1,
            RunLimits::default(),
            NullSink,
        )
        .err()
        .expect("refused")
        .to_string()
    };
    let msg = bad(LinkConfig {
        mtu_bytes: Some(40),
        ..LinkConfig::default()
    });
    assert!(
        msg.contains("link 0 (a -> b)") && msg.contains("RFC 791"),
        "{msg}"
    );
    let msg = bad(LinkConfig {
        bandwidth_bps: Some(0),
        ..LinkConfig::default()
    });
    assert!(msg.contains("bandwidth"), "{msg}");
    let msg = bad(LinkConfig {
        reorder: p(0.5),
        ..LinkConfig::default()
    });
    assert!(msg.contains("reorder_delay"), "{msg}");

    let mut t = two_hosts(quiet_link());
    t.add_link(B, A, quiet_link());
    assert!(matches!(
        t.validate(),
        Err(BuildError::DuplicateLink(1, _, _))
    ));

    let mut t = two_hosts(quiet_link());
    t.add_host("a", addr(HostId(5)));
    assert_eq!(t.validate(), Err(BuildError::DuplicateHostName("a".into())));

    let mut t = two_hosts(quiet_link());
    t.faults.push(FaultRule {
        filter: PacketFilter {
            to: Some(HostId(9)),
            ..PacketFilter::default()
        },
        occurrence: Occurrence::Nth(0),
        action: FaultAction::Drop,
    });
    let msg = t.validate().unwrap_err().to_string();
    assert!(msg.contains("fault 1") && msg.contains("host #9"), "{msg}");
    assert_eq!(FaultId(0).to_string(), "fault 1");
}

/// Each validation rule at its boundary: the last valid value passes, the first invalid one
/// is refused with its own error (host numbers, seq ranges, the MTU floor, injections).
#[test]
fn validation_rules_hold_at_their_boundaries() {
    let fault_to = |h: u32, seq: Option<(u32, u32)>| {
        let mut t = two_hosts(quiet_link());
        t.faults.push(FaultRule {
            filter: PacketFilter {
                to: Some(HostId(h)),
                seq,
                ..PacketFilter::default()
            },
            occurrence: Occurrence::Every,
            action: FaultAction::Drop,
        });
        t.validate()
    };
    assert_eq!(fault_to(1, None), Ok(()), "the last host");
    assert!(
        matches!(
            fault_to(2, None),
            Err(BuildError::UnknownHost {
                index: 2,
                count: 2,
                ..
            })
        ),
        "{:?}",
        fault_to(2, None)
    );
    assert_eq!(fault_to(1, Some((5, 5))), Ok(()), "a one-number range");
    let empty = fault_to(1, Some((6, 5))).unwrap_err().to_string();
    assert!(empty.contains("seq range 6..=5 is empty"), "{empty}");

    let mtu = |bytes| {
        let t = two_hosts(LinkConfig {
            mtu_bytes: Some(bytes),
            ..quiet_link()
        });
        t.validate().is_ok()
    };
    assert!(mtu(netsim_engine::MIN_MTU_BYTES));
    assert!(!mtu(netsim_engine::MIN_MTU_BYTES - 1));

    use netsim_engine::{InjectPorts, Injection, SeqRef};
    let inject = |from: u32, to: u32, ports: InjectPorts, seq: SeqRef| {
        let mut t = two_hosts(quiet_link());
        let good = Injection {
            from: A,
            to: B,
            ports: InjectPorts::Conn(1),
            flags: TcpFlags::ACK,
            seq: SeqRef::Abs(1),
            ack: SeqRef::Abs(1),
            len: 0,
            window: 0,
            options: Default::default(),
        };
        let candidate = Injection {
            from: HostId(from),
            to: HostId(to),
            ports,
            seq,
            ..good.clone()
        };
        t.injections.push((at_ms(1), good));
        t.injections.push((at_ms(2), candidate));
        t.validate().map_err(|e| e.to_string())
    };
    let conn = InjectPorts::Conn(1);
    let ports = InjectPorts::Ports { src: 1, dst: 2 };
    assert_eq!(inject(0, 1, conn, SeqRef::SndNxt(A, 0)), Ok(()));
    assert_eq!(inject(0, 1, conn, SeqRef::RcvNxt(B, -1)), Ok(()));
    assert_eq!(inject(1, 0, ports, SeqRef::Abs(7)), Ok(()));
    for (case, err) in [
        (inject(1, 1, conn, SeqRef::Abs(1)), "from a host to itself"),
        (inject(0, 1, ports, SeqRef::SndNxt(A, 0)), "need `conn`"),
        (
            inject(0, 1, conn, SeqRef::SndNxt(HostId(2), 0)),
            "not an end of it",
        ),
        (
            inject(0, 1, InjectPorts::Conn(0), SeqRef::Abs(1)),
            "count from 1",
        ),
    ] {
        let msg = case.unwrap_err();
        assert!(msg.contains("injection 2") && msg.contains(err), "{msg}");
    }
    // A third host on no link: an end that is neither host of the injection.
    let mut t = two_hosts(quiet_link());
    t.add_host("c", addr(HostId(2)));
    t.injections.push((
        at_ms(1),
        Injection {
            from: A,
            to: B,
            ports: conn,
            flags: TcpFlags::ACK,
            seq: SeqRef::RcvNxt(HostId(2), 0),
            ack: SeqRef::Abs(0),
            len: 0,
            window: 0,
            options: Default::default(),
        },
    ));
    let msg = t.validate().unwrap_err().to_string();
    assert!(msg.contains("not an end of it"), "{msg}");
}

/// A filter on ports matches only its ports, source and destination each.
#[test]
fn filters_match_ports() {
    let mut t = two_hosts(quiet_link());
    for (src, dst) in [(Some(1000), None), (None, Some(1000))] {
        t.faults.push(FaultRule {
            filter: PacketFilter {
                src_port: src,
                dst_port: dst,
                ..PacketFilter::default()
            },
            occurrence: Occurrence::Every,
            action: FaultAction::Drop,
        });
    }
    // A's packets go from port 1000 to 1001; B's from 1001 to 1000.
    let r = run(
        t,
        vec![
            stream(A, B, SimTime::ZERO, ms(1), 2, 10),
            stream(B, A, SimTime::ZERO, ms(1), 3, 10),
        ],
        1,
    );
    let fired: Vec<u64> = r.outcome.faults.iter().map(|c| c.fired).collect();
    assert_eq!(fired, vec![2, 3], "source 1000: A's; destination 1000: B's");
    assert!(arrivals(&r, A).is_empty() && arrivals(&r, B).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Records, counters and boundaries of the run loop

/// Every record of a run, by kind: (kind, packet id, copy id).
fn record_ids(
    topology: netsim_engine::Topology,
    plans: Vec<Vec<Planned>>,
) -> Vec<(&'static str, u64, u64)> {
    use netsim_engine::TraceKind as K;
    use std::{cell::RefCell, rc::Rc};
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = {
        let seen = Rc::clone(&seen);
        move |r: &TraceRecord<'_, netsim_engine::NoEvent>| {
            let row = match r.kind {
                K::Sent { id, .. } => ("sent", id.0, 0),
                K::Delivered { id, .. } => ("delivered", id.0, 0),
                K::Duplicated { id, copy, .. } => ("duplicated", id.0, copy.0),
                K::Dropped { id, .. } => ("dropped", id.0, 0),
                _ => return,
            };
            seen.borrow_mut().push(row);
        }
    };
    let hosts = plans.into_iter().map(Probe::new).collect();
    let mut sim = Sim::new(topology, hosts, 1, RunLimits::default(), sink).unwrap();
    sim.run().unwrap();
    seen.take()
}

/// Each packet sent gets its own number, and so does each copy; a copy is delivered under its
/// own number.
#[test]
fn packets_and_copies_have_distinct_numbers() {
    let config = LinkConfig {
        duplicate: p(1.0),
        ..quiet_link()
    };
    let rows = record_ids(
        two_hosts(config),
        vec![stream(A, B, SimTime::ZERO, ms(1), 3, 0), vec![]],
    );
    let sent: Vec<u64> = rows.iter().filter(|r| r.0 == "sent").map(|r| r.1).collect();
    let copies: Vec<u64> = rows
        .iter()
        .filter(|r| r.0 == "duplicated")
        .map(|r| r.2)
        .collect();
    let mut delivered: Vec<u64> = rows
        .iter()
        .filter(|r| r.0 == "delivered")
        .map(|r| r.1)
        .collect();
    assert_eq!(sent.len(), 3);
    assert_eq!(copies.len(), 3);
    let mut all: Vec<u64> = sent.iter().chain(&copies).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 6, "six distinct numbers: {rows:?}");
    delivered.sort_unstable();
    assert_eq!(delivered, all, "each original and each copy delivered once");
}

/// The outcome's counters agree with the trace: records, timers fired, the end time.
#[test]
fn the_outcome_counts_records_and_timers() {
    let limits = RunLimits::default();
    let topology = two_hosts(quiet_link());
    let hosts = vec![
        Probe::new(stream(A, B, SimTime::ZERO, ms(3), 4, 0)),
        Probe::listener(),
    ];
    let mut sim = Sim::new(
        topology,
        hosts,
        1,
        limits,
        netsim_engine::TextLines::default(),
    )
    .unwrap();
    let outcome = sim.run().unwrap();
    let lines = &sim.sink().lines;
    assert_eq!(outcome.trace_records, lines.len() as u64);
    let timer_lines = lines.iter().filter(|l| l.contains(" timer ")).count() as u64;
    assert_eq!(outcome.stats.timers_fired, timer_lines);
    assert_eq!(outcome.stats.timers_fired, 4, "one per planned packet");
    assert_eq!(sim.now(), outcome.end);
    assert_eq!(outcome.end, at_ms(10), "the last arrival");
}

/// A packet whose arrival falls exactly on its lifetime's end is delivered; a nanosecond
/// later it has expired.
#[test]
fn a_packet_arriving_at_the_end_of_its_lifetime_is_delivered() {
    for (lifetime, delivered) in [(ms(1), 1), (ms(1) - SimDuration::from_nanos(1), 0)] {
        let mut t = two_hosts(quiet_link());
        t.lifetime = Some(lifetime);
        let r = run(t, vec![stream(A, B, SimTime::ZERO, ms(1), 1, 0), vec![]], 1);
        assert_eq!(arrivals(&r, B).len(), delivered, "lifetime {lifetime}");
    }
}

/// An event due exactly at the end time still runs.
#[test]
fn an_event_at_the_end_time_runs() {
    let limits = RunLimits {
        end: Some(at_ms(1)),
        ..RunLimits::default()
    };
    let r = run_with(
        two_hosts(quiet_link()),
        vec![stream(A, B, SimTime::ZERO, ms(1), 1, 0), vec![]],
        1,
        limits,
    );
    assert_eq!(arrivals(&r, B), vec![(at_ms(1), 0)]);
}

/// With an end time, a run whose only entries left after the end are cancelled timers
/// stopped because nothing was left to do: it ends idle at its last event, not at the end.
#[test]
fn only_cancelled_timers_past_the_end_leave_the_run_idle() {
    let mut t = netsim_engine::Topology::default();
    t.add_host("h", addr(A));
    let limits = RunLimits {
        end: Some(at_ms(15)),
        ..RunLimits::default()
    };
    let mut sim = Sim::new(t, vec![TwoTimers::cancelling(2)], 1, limits, NullSink).unwrap();
    let outcome = sim.run().unwrap();
    assert_eq!(sim.hosts()[0].fired, vec![1]);
    assert_eq!((outcome.stop, outcome.end), (Stop::Idle, at_ms(10)));
}

/// What a host reports goes into the trace (and its hash).
#[derive(Debug)]
struct Said(u32);

impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "said {}", self.0)
    }
}

impl netsim_engine::TraceEvent for Said {
    fn hash_into(&self, h: &mut netsim_core::StableHasher) {
        h.write_u64(u64::from(self.0));
    }
}

struct Talker(u32);

impl netsim_engine::Host for Talker {
    type Event = Said;
    fn start(&mut self, ctx: &mut netsim_engine::Ctx<'_, Said>) {
        ctx.event(Said(self.0));
    }
    fn packet(&mut self, _: &mut netsim_engine::Ctx<'_, Said>, _: netsim_core::Packet) {}
    fn timer(&mut self, _: &mut netsim_engine::Ctx<'_, Said>, _: u64) {}
    fn crash(&mut self) {}
    fn restart(&mut self, _: &mut netsim_engine::Ctx<'_, Said>) {}
}

#[test]
fn protocol_events_reach_the_trace_and_its_hash() {
    let go = |word| {
        let mut t = netsim_engine::Topology::default();
        t.add_host("h", addr(A));
        let mut sim = Sim::new(
            t,
            vec![Talker(word)],
            1,
            RunLimits::default(),
            netsim_engine::TextLines::default(),
        )
        .unwrap();
        let outcome = sim.run().unwrap();
        (outcome.trace_hash, sim.sink().lines.clone())
    };
    let (h1, lines) = go(1);
    assert_eq!(lines, ["   0.000000s    h   said 1"]);
    assert_ne!(h1, go(2).0);
}

/// A one-way partition drops what is in flight in its direction only; a packet held by a
/// fault is not on the link, so the cut finds it when it is released (dropped then, at the
/// release time); a packet released before the cut is back on the link and is dropped
/// with the others in flight.
#[test]
fn a_partition_drops_what_is_on_the_link_in_its_direction() {
    let mut t = two_hosts(LinkConfig {
        latency: ms(10),
        ..LinkConfig::default()
    });
    // A's packets: seq 0 held until 30 ms, seq 1 held until 2 ms (then on the link until
    // 12), seq 2 plain (on the link 1..11). B's packet 7 travels 1..11 the other way.
    t.faults.push(FaultRule {
        filter: PacketFilter {
            seq: Some((0, 0)),
            ..PacketFilter::default()
        },
        occurrence: Occurrence::Every,
        action: FaultAction::Hold(Release::At(at_ms(30))),
    });
    t.faults.push(FaultRule {
        filter: PacketFilter {
            seq: Some((1, 1)),
            ..PacketFilter::default()
        },
        occurrence: Occurrence::Every,
        action: FaultAction::Hold(Release::At(at_ms(2))),
    });
    t.schedule
        .push((at_ms(5), NetChange::Partition(A, B, Direction::OneWay)));
    let r = run(
        t,
        vec![
            stream(A, B, SimTime::ZERO, ms(0), 2, 0)
                .into_iter()
                .chain(
                    stream(A, B, at_ms(1), ms(0), 1, 0)
                        .into_iter()
                        .map(|mut p| {
                            p.packet.segment.seq = netsim_core::Seq(2);
                            p
                        }),
                )
                .collect(),
            vec![Planned {
                at: at_ms(1),
                packet: packet(B, A, 7, TcpFlags::ACK, 0),
                label: "",
            }],
        ],
        1,
    );
    assert_eq!(arrivals(&r, A), vec![(at_ms(11), 7)], "the other direction");
    assert!(arrivals(&r, B).is_empty());
    let drops = lines_with(&r, "drop (partition)");
    assert_eq!(drops.len(), 3, "{:#?}", r.lines);
    assert!(
        drops[0].starts_with("   0.005000s") && drops[0].contains("seq 1 "),
        "{drops:?}"
    );
    assert!(
        drops[1].starts_with("   0.005000s") && drops[1].contains("seq 2 "),
        "{drops:?}"
    );
    assert!(
        drops[2].starts_with("   0.030000s") && drops[2].contains("seq 0 "),
        "{drops:?}"
    );
}

/// An injection goes on the link of its `from` host at its time, as that host would send it,
/// whatever else the schedule holds; one whose connection never appeared fails with the
/// reason.
#[test]
fn injections_go_on_the_link_at_their_time() {
    use netsim_engine::{InjectOutcome, InjectPorts, Injection, SeqRef};
    let mut t = two_hosts(quiet_link());
    t.schedule
        .push((at_ms(50), NetChange::Partition(A, B, Direction::Both)));
    let crafted = |ports| Injection {
        from: A,
        to: B,
        ports,
        flags: TcpFlags::RST,
        seq: SeqRef::Abs(42),
        ack: SeqRef::Abs(0),
        len: 3,
        window: 0,
        options: Default::default(),
    };
    t.injections
        .push((at_ms(5), crafted(InjectPorts::Ports { src: 7, dst: 9 })));
    // The first injection's 4-tuple is connection 1 on the wire; there is no second one.
    t.injections.push((at_ms(6), crafted(InjectPorts::Conn(2))));
    let r = run(t, vec![vec![], vec![]], 1);
    let got = &r.hosts[1].received;
    assert_eq!(got.len(), 1);
    let (at, p) = &got[0];
    assert_eq!(*at, at_ms(6), "sent at 5 ms, 1 ms of latency");
    assert_eq!((p.src, p.dst), (addr(A), addr(B)));
    assert_eq!((p.segment.src_port, p.segment.dst_port), (7, 9));
    assert_eq!(p.segment.seq.0, 42);
    assert_eq!(p.segment.payload, b"!!!");
    assert_eq!(r.outcome.injections[0], InjectOutcome::Sent);
    assert!(
        matches!(&r.outcome.injections[1], InjectOutcome::Failed(why) if why.contains("has not appeared")),
        "{:?}",
        r.outcome.injections
    );
    assert_eq!(lines_with(&r, "(injected)").len(), 1, "{:#?}", r.lines);
}

/// The sabotage switch that makes the accounting oracle fire: every fifth packet (numbers 4,
/// 9, …, counting from 0) vanishes from its link with no record, so sent = delivered +
/// dropped + in flight no longer holds.
#[test]
fn sabotage_loses_every_fifth_packet_without_a_record() {
    let mut t = two_hosts(quiet_link());
    t.sabotage.lose_without_record = true;
    let hosts = vec![
        Probe::new(stream(A, B, SimTime::ZERO, ms(1), 10, 0)),
        Probe::listener(),
    ];
    let mut sim = Sim::new(t, hosts, 1, RunLimits::default(), NullSink).unwrap();
    let outcome = sim.run().unwrap();
    let got: Vec<u32> = sim.hosts()[1]
        .received
        .iter()
        .map(|(_, p)| p.segment.seq.0)
        .collect();
    assert_eq!(got, [0, 1, 2, 4, 5, 6, 7, 9], "ids 4 and 9 are seq 3 and 8");
    let s = &outcome.stats;
    assert_eq!((s.sent, s.delivered, s.dropped_total()), (10, 8, 0));
    assert_eq!(outcome.in_flight, 0);
}

/// A timer armed before a crash is void after the restart: past the end time it leaves the
/// run idle, not stopped by the end.
#[test]
fn a_timer_from_before_a_crash_is_stale() {
    let run = |limits: RunLimits| {
        let mut t = netsim_engine::Topology::default();
        let h = t.add_host("h", addr(A));
        t.schedule.push((at_ms(5), NetChange::Crash(h)));
        t.schedule.push((at_ms(6), NetChange::Restart(h)));
        let mut sim = Sim::new(t, vec![TwoTimers::default()], 1, limits, NullSink).unwrap();
        let outcome = sim.run().unwrap();
        assert_eq!(sim.hosts()[0].fired, Vec::<u64>::new(), "none fires");
        outcome
    };
    let outcome = run(RunLimits {
        end: Some(at_ms(15)),
        ..RunLimits::default()
    });
    assert_eq!((outcome.stop, outcome.end), (Stop::Idle, at_ms(6)));
    // Without an end time the stale timers are skipped, never fired.
    assert_eq!(run(RunLimits::default()).stats.timers_fired, 0);
}
