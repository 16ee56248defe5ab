//! Stack-wide behaviour: ISN selection, profiles, and the legality of every transition.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};

use common::*;
use netsim_core::{SimDuration, SimTime};
use netsim_tcp::{Bind, IsnMode, State, TcpConfig, TcpStack};

/// The ISN of the SYN a fresh client stack sends from `port` at `at`.
fn isn(cfg: TcpConfig, at: SimTime, port: u16) -> u32 {
    let mut c = TcpStack::new(CLIENT, cfg, 7);
    c.connect(
        at,
        server_addr(),
        Bind {
            port: Some(port),
            reuse_addr: false,
        },
    )
    .unwrap();
    let out: Vec<_> = c.drain_output().collect();
    assert_eq!(out.len(), 1);
    out[0].packet.segment.seq.0
}

/// The ISN and TSval of the SYN a fresh stack at `local` (secret 7, linux profile) sends at
/// time zero from `port` to `remote`.
fn first_syn(local: Ipv4Addr, port: u16, remote: SocketAddrV4) -> (u32, u32) {
    let mut c = TcpStack::new(local, TcpConfig::linux(), 7);
    let bind = Bind {
        port: Some(port),
        reuse_addr: false,
    };
    c.connect(SimTime::ZERO, remote, bind).unwrap();
    let syn = c.drain_output().next().unwrap().packet.segment;
    (
        syn.seq.0,
        syn.options.timestamps.expect("linux sends timestamps").val,
    )
}

/// Linux secure_tcp_seq and secure_tcp_ts_off: the ISN's hash covers each of the four
/// fields of the 4-tuple (the low bits of each address too); the timestamp offset covers
/// the two addresses and not the ports, so every connection between two hosts shares it.
#[test]
fn the_keyed_hashes_cover_every_field_they_name() {
    let server = *server_addr().ip();
    let base = first_syn(CLIENT, 40000, server_addr());
    let next_ip = |ip: Ipv4Addr| Ipv4Addr::from(u32::from(ip) ^ 1);
    let others = [
        (
            "local address",
            first_syn(next_ip(CLIENT), 40000, server_addr()),
        ),
        ("local port", first_syn(CLIENT, 40001, server_addr())),
        (
            "remote address",
            first_syn(CLIENT, 40000, SocketAddrV4::new(next_ip(server), PORT)),
        ),
        (
            "remote port",
            first_syn(CLIENT, 40000, SocketAddrV4::new(server, PORT + 1)),
        ),
    ];
    for (field, (isn, tsval)) in others {
        assert_ne!(isn, base.0, "the ISN ignores the {field}");
        if field.ends_with("address") {
            assert_ne!(tsval, base.1, "the timestamp offset ignores the {field}");
        } else {
            assert_eq!(tsval, base.1, "the timestamp offset depends on the {field}");
        }
    }
}

#[test]
fn rfc6528_isn_is_a_4us_clock_plus_a_keyed_hash_of_the_4_tuple() {
    let cfg = TcpConfig::rfc;
    let t0 = SimTime::ZERO;
    let t1 = SimTime::after(SimDuration::from_micros(400)); // 100 ticks of 4 us
    // Same 4-tuple: the ISN advances with the clock (RFC 6528 §3, M).
    assert_eq!(
        isn(cfg(), t1, 40000).wrapping_sub(isn(cfg(), t0, 40000)),
        100
    );
    // Another 4-tuple at the same time: a different offset (F).
    assert_ne!(isn(cfg(), t0, 40000), isn(cfg(), t0, 40001));
    // Another secret: a different offset too.
    let mut other = TcpStack::new(CLIENT, cfg(), 8);
    other
        .connect(
            t0,
            server_addr(),
            Bind {
                port: Some(40000),
                reuse_addr: false,
            },
        )
        .unwrap();
    let seq = other.drain_output().next().unwrap().packet.segment.seq.0;
    assert_ne!(seq, isn(cfg(), t0, 40000));
}

/// Linux secure_tcp_seq: the same kind of keyed hash of the 4-tuple, plus seq_scale's clock,
/// nanoseconds >> 6 (a 64 ns tick) rather than RFC 6528's 4 µs.
#[test]
fn linux_isn_is_a_64ns_clock_plus_a_keyed_hash_of_the_4_tuple() {
    let cfg = TcpConfig::linux;
    assert_eq!(cfg().isn, IsnMode::Linux);
    let t0 = SimTime::ZERO;
    let t1 = SimTime::after(SimDuration::from_micros(400)); // 6250 ticks of 64 ns
    assert_eq!(
        isn(cfg(), t1, 40000).wrapping_sub(isn(cfg(), t0, 40000)),
        6250
    );
    let t2 = SimTime::after(SimDuration::from_nanos(400_063));
    assert_eq!(
        isn(cfg(), t2, 40000),
        isn(cfg(), t1, 40000),
        "within one tick"
    );
    assert_ne!(isn(cfg(), t0, 40000), isn(cfg(), t0, 40001));
    // The hash part is the one RFC 6528 mode uses: only the clock differs.
    let rfc6528 = || TcpConfig {
        isn: IsnMode::Rfc6528,
        ..TcpConfig::linux()
    };
    assert_eq!(isn(cfg(), t0, 40000), isn(rfc6528(), t0, 40000));
}

#[test]
fn clock_isn_is_the_4us_clock_alone_and_fixed_isn_is_fixed() {
    let clock = || TcpConfig {
        isn: IsnMode::Clock,
        ..TcpConfig::linux()
    };
    let t = SimTime::after(SimDuration::from_millis(4)); // 1000 ticks
    assert_eq!(isn(clock(), t, 40000), 1000);
    assert_eq!(isn(clock(), t, 40001), 1000, "no per-4-tuple part");
    let fixed = || TcpConfig {
        isn: IsnMode::Fixed(77),
        ..TcpConfig::linux()
    };
    assert_eq!(isn(fixed(), t, 40000), 77);
    assert_eq!(isn(fixed(), SimTime::ZERO, 40001), 77);
}

#[test]
fn profiles_carry_their_documented_numbers() {
    let linux = TcpConfig::linux();
    assert_eq!(linux.time_wait_len(), SimDuration::from_secs(60));
    assert_eq!(linux.fin_timeout, SimDuration::from_secs(60));
    assert_eq!(linux.ephemeral_ports, (32768, 60999));
    assert_eq!(linux.rto_min, SimDuration::from_millis(200));
    assert_eq!(linux.rto_initial, SimDuration::from_secs(1));
    assert_eq!((linux.syn_retries, linux.data_retries), (6, 15));
    assert_eq!(linux.isn, IsnMode::Linux);
    let rfc = TcpConfig::rfc();
    assert_eq!(rfc.isn, IsnMode::Rfc6528);
    assert_eq!(rfc.msl, SimDuration::from_mins(2));
    assert_eq!(rfc.time_wait_len(), SimDuration::from_mins(4));
    assert_eq!(rfc.rto_min, SimDuration::from_secs(1));
    assert_eq!(rfc.rto_max, SimDuration::from_secs(60));
    assert_eq!(TcpConfig::named("linux"), Some(linux));
    assert_eq!(TcpConfig::named("bsd"), None);
    assert!(TcpConfig::linux().problem().is_none());
    assert!(TcpConfig::rfc().problem().is_none());
    let bad = TcpConfig {
        ephemeral_ports: (5000, 4000),
        ..TcpConfig::linux()
    };
    assert!(bad.problem().unwrap().contains("ephemeral port range"));
}

#[test]
fn rfc_profile_retransmits_syn_with_a_one_second_floor_and_60_second_ceiling() {
    let mut t = Pair::new(
        TcpConfig {
            isn: IsnMode::Fixed(1),
            ..TcpConfig::rfc()
        },
        TcpConfig::rfc(),
    );
    t.c.connect(t.now, SocketAddrV4::new(SERVER, 9), Bind::default())
        .unwrap();
    let mut sent_at = Vec::new();
    for _ in 0..300 {
        if !t.lose_to_s().is_empty() {
            sent_at.push(t.now.since_start().as_millis() / 1000);
        }
        t.advance(SimDuration::from_secs(1));
    }
    // 1, 2, 4, 8, 16, 32, then capped at 60 s (RFC 6298 §2.5): 9 SYNs in all (8 retries).
    assert_eq!(sent_at, [0, 1, 3, 7, 15, 31, 63, 123, 183]);
    assert_eq!(
        errors(&t.c_log),
        ["ETIMEDOUT"],
        "after the last SYN's 60 s RTO, at 243 s"
    );
}

#[test]
fn an_exchange_with_losses_and_both_closes_takes_only_the_diagrams_transitions() {
    // A busy exchange with losses, checked transition by transition. (Every other run is
    // guarded by the debug assertion in the stack that reports and panics on an illegal
    // transition, and by the scenario oracle.)
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.send(t.now, c, &[1; 5000]).unwrap();
    t.lose_to_s();
    t.run_for(SimDuration::from_secs(2));
    let (data, _) = t.s_read(s);
    assert_eq!(data.len(), 5000);
    t.s.close(t.now, s).unwrap();
    t.c.close(t.now, c).unwrap();
    t.run_for(SimDuration::from_secs(120));
    assert_legal(&t.c_log);
    assert_legal(&t.s_log);
    assert_eq!(t.c.state_counts(), [0; 11]);
    let mut server_counts = [0; 11];
    server_counts[State::Listen as usize] = 1;
    assert_eq!(t.s.state_counts(), server_counts);
}

#[test]
fn ack_far_below_snd_una_gets_a_challenge_ack_and_an_old_one_is_ignored() {
    // RFC 5961 §5.2: an ACK below SND.UNA - MAX.SND.WND is suspicious: challenge ACK, drop.
    // One merely old (within the window) is a duplicate: ignored, no answer.
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.send(t.now, c, &[7; 100]).unwrap();
    t.exchange();
    t.advance(ms(40));
    t.exchange();
    let mut forged = {
        t.s.send(t.now, s, b"x").unwrap();
        t.collect();
        t.to_c.pop().unwrap()
    };
    let una = forged.segment.ack;
    forged.segment.payload.clear();
    forged.segment.seq = forged.segment.seq.add(1);
    let mut old = forged.clone();
    old.segment.ack = una.add(0u32.wrapping_sub(10));
    t.c.on_packet(t.now, &old);
    assert!(t.pending_to_s().is_empty(), "an old ACK is ignored");
    forged.segment.ack = una.add(0u32.wrapping_sub(200_000));
    t.c.on_packet(t.now, &forged);
    assert_eq!(t.pending_to_s(), ["."]);
    assert!(noted(&t.c_log, netsim_tcp::Note::ChallengeAck));
    assert_eq!(t.c.state_of(c), Ok(State::Established));
}

#[test]
fn syn_ack_retries_exhausted_drop_the_embryonic_connection_silently() {
    // Linux tcp_synack_retries (5): SYN-ACKs at 0, 1, 3, 7, 15 and 31 s, then the request is
    // dropped at 63 s without a RST; each timeout lands on Linux's timer wheel (4 ms jiffies,
    // coarser steps for longer timeouts), so the times come out a little later.
    let mut t = Pair::linux();
    t.s.listen(t.now, PORT, 16).unwrap();
    t.c.connect(t.now, server_addr(), Bind::default()).unwrap();
    assert_eq!(t.deliver_to_s(), ["S"]);
    let mut sent_at = Vec::new();
    let mut dropped_at = None;
    while let Some(next) = t.s.next_deadline() {
        if !t.lose_to_c().is_empty() {
            sent_at.push(t.now.since_start().as_millis());
        }
        t.lose_to_s(); // the client's SYN retries are lost too
        t.advance(next.saturating_since(t.now));
        if t.s.table_sizes() == (0, 0) && dropped_at.is_none() {
            dropped_at = Some(t.now.since_start().as_millis());
        }
    }
    assert_eq!(sent_at, [0, 1024, 3040, 7168, 15360, 31488]);
    assert_eq!(dropped_at, Some(65536));
    assert!(path(&t.s_log).ends_with(&["SYN_RECEIVED", "CLOSED"]));
    assert!(errors(&t.s_log).is_empty());
    assert_eq!(t.s.counters().resets_sent, 0);
}

#[test]
fn listener_ignores_rst_and_answers_a_stray_ack_with_rst() {
    // RFC 9293 §3.10.7.2: in LISTEN a RST is ignored; an ACK gets <SEQ=SEG.ACK><CTL=RST>.
    let mut t = Pair::linux();
    let (c, s) = t.establish();
    t.c.send(t.now, c, b"hello").unwrap();
    let mut stray = t.hold_to_s().pop().unwrap();
    // The server forgets the connection (abort), leaving only the listener on port 80.
    t.s.abort(t.now, s).unwrap();
    t.lose_to_c();
    stray.segment.payload.clear();
    stray.segment.flags = netsim_core::TcpFlags::ACK;
    t.s.on_packet(t.now, &stray);
    t.collect();
    assert_eq!(t.to_c.len(), 1);
    let rst = &t.to_c[0].segment;
    assert_eq!(rst.flags, netsim_core::TcpFlags::RST);
    assert_eq!(rst.seq, stray.segment.ack, "SEQ = SEG.ACK");
    t.to_c.clear();
    stray.segment.flags = netsim_core::TcpFlags::RST;
    t.s.on_packet(t.now, &stray);
    assert!(
        t.pending_to_c().is_empty(),
        "a RST to a listener is ignored"
    );
}

/// The trace interleaves events and segments in the order they happened: a state change
/// before the segment it causes, after the segments sent before it (what every trace line's
/// order rests on).
#[test]
fn events_and_segments_drain_in_the_order_they_happened() {
    let mut t = Pair::linux();
    let (c, _s) = t.establish();
    assert_eq!(t.c.counters().segments_sent, 2, "SYN and ACK");
    t.c.set_nodelay(c, true).unwrap();
    t.c.send(t.now, c, b"hello").unwrap();
    t.c.close(t.now, c).unwrap();
    assert_eq!(t.c.counters().segments_sent, 4);
    let mut order = Vec::new();
    t.c.drain_in_order(|p| {
        order.push(match p {
            netsim_tcp::Produced::Event(netsim_tcp::TcpEvent::State { from, to, .. }) => {
                format!("{from:?}->{to:?}")
            }
            netsim_tcp::Produced::Event(e) => format!("{e}"),
            netsim_tcp::Produced::Segment(out) => summary(&out.packet),
        })
    });
    assert_eq!(order, ["P. 5", "Established->FinWait1", "F."]);
}

/// Linux __inet_hash_connect: the ephemeral port search passes over ports a listener holds
/// and ports bound explicitly, even towards another peer (where the 4-tuple would be free).
#[test]
fn ephemeral_ports_pass_over_listening_and_bound_ports() {
    let cfg = TcpConfig {
        ephemeral_ports: (40000, 40002),
        ..TcpConfig::linux()
    };
    let mut c = TcpStack::new(CLIENT, cfg, 7);
    c.listen(SimTime::ZERO, 40000, 8).unwrap();
    let other = SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 80);
    let bound = Bind {
        port: Some(40001),
        reuse_addr: false,
    };
    c.connect(SimTime::ZERO, other, bound).unwrap();
    let fd = c
        .connect(SimTime::ZERO, server_addr(), Bind::default())
        .unwrap();
    assert_eq!(c.conn_key(fd).map(|k| k.local.port()), Some(40002));
    assert_eq!(
        c.connect(
            SimTime::ZERO,
            SocketAddrV4::new(Ipv4Addr::new(10, 8, 8, 8), 80),
            Bind::default()
        )
        .map(|fd| c.conn_key(fd).map(|k| k.local.port())),
        Ok(Some(40002)),
        "the same port towards another peer"
    );
}
