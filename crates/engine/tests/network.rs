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
    let r = run(two_hosts(config), vec![plan, vec![]], 1);
    assert_eq!(arrivals(&r, B).len(), 3);
    assert_eq!(r.outcome.stats.dropped(DropReason::QueueFull), 1);
    assert_eq!(lines_with(&r, "drop (queue full)").len(), 1);
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
    let plan: Vec<Planned> = [(0, 0), (9, 1), (25, 2)]
        .into_iter()
        .map(|(t, seq)| Planned {
            at: at_ms(t),
            packet: packet(A, B, seq, TcpFlags::ACK, 0),
            label: "",
        })
        .collect();
    let back = vec![Planned {
        at: at_ms(9),
        packet: packet(B, A, 7, TcpFlags::ACK, 0),
        label: "",
    }];
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
    // down: its timer is void, and the restart skips what fell due) and at 40.
    let a_plan: Vec<Planned> = [0u64, 10, 30]
        .iter()
        .map(|&t| Planned {
            at: at_ms(t),
            packet: packet(A, B, t as u32, TcpFlags::ACK, 0),
            label: "",
        })
        .collect();
    let b_plan: Vec<Planned> = [8u64, 12, 40]
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
    assert_eq!(arrivals(&r, A), vec![(at_ms(41), 40)]);
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

/// A host that arms two timers and cancels the first.
#[derive(Default)]
struct Canceller {
    fired: Vec<u64>,
}

impl netsim_engine::Host for Canceller {
    type Event = netsim_engine::NoEvent;
    fn start(&mut self, ctx: &mut netsim_engine::Ctx<'_, Self::Event>) {
        let first = ctx.set_timer(at_ms(10), 1);
        ctx.set_timer(at_ms(20), 2);
        assert!(ctx.cancel_timer(first));
        assert!(
            !ctx.cancel_timer(first),
            "a cancelled timer cannot be cancelled twice"
        );
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
        vec![Canceller::default()],
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
