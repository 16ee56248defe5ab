//! Whatever `check` accepts, `run` runs without a panic, for any seed: scenarios built from
//! extreme values (durations near the 584-year limit, huge counts and sizes, link knobs at
//! their edges, TCP settings at their bounds, faults that stack delays). A run may stop at the
//! event cap or fail its checks; it must not panic. Values `check` refuses must be refused
//! with a location, never by a panic.

use netsim_engine::{NullSink, RunLimits};
use proptest::prelude::*;

/// Durations from nothing to the largest the parser takes, most of them short enough for
/// packets to arrive within a run.
fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u64..20_000_000).prop_map(|n| format!("{n}ns")),
        1 => Just("0s".to_string()),
        1 => Just("24h".to_string()),
        1 => Just("5124095h".to_string()),
        1 => (0u64..u64::MAX).prop_map(|n| format!("{n}ns")),
    ]
}

/// Counts and sizes from zero to the edge of a 32-bit field.
fn count() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(65_535),
        Just(u64::from(u32::MAX)),
        1u64..100,
    ]
}

fn step() -> impl Strategy<Value = String> {
    prop_oneof![
        duration().prop_map(|d| format!("Sleep(\"{d}\")")),
        count().prop_map(|n| format!("Send({n})")),
        count().prop_map(|n| format!("Recv({n})")),
        Just("RecvEof".to_string()),
        Just("Close".to_string()),
        Just("Abort".to_string()),
        Just("Shutdown".to_string()),
        (count(), duration()).prop_map(|(n, d)| format!(
            "Spawn(count: {n}, every: \"{d}\", steps: [Connect(to: \"server\", port: 80), Send(10), Close])"
        )),
        (count(), duration()).prop_map(|(n, d)| format!(
            "Repeat(count: {n}, steps: [Sleep(\"{d}\")])"
        )),
        (duration(), duration(), count()).prop_map(|(i, v, n)| format!(
            "KeepAlive(idle: \"{i}\", interval: \"{v}\", probes: {n})"
        )),
    ]
}

fn link() -> impl Strategy<Value = String> {
    (
        duration(),
        duration(),
        prop_oneof![
            Just(String::new()),
            (count(), count()).prop_map(|(b, q)| format!("bandwidth: \"{}bit\", queue: Packets({q}),", b.max(1))),
            (prop_oneof![Just(1u64), Just(u64::MAX)], count()).prop_map(|(b, q)| format!("bandwidth: \"{b}bit\", queue: Bytes({q}),")),
        ],
        Just(String::new()),
        prop_oneof![Just(String::new()), prop_oneof![Just(68u32), Just(1500), Just(65_535)].prop_map(|n| format!("mtu: {n},"))],
        (0.0f64..=1.0, 0.0f64..=1.0, 0.0f64..=1.0),
        duration().prop_filter("reordering needs a delay", |d| d != "0s" && d != "0ns"),
    )
        .prop_map(|(latency, jitter, bw, queue, mtu, (loss, dup, reorder), reorder_delay)| {
            format!(
                "Link(a: \"client\", b: \"server\", latency: \"{latency}\", jitter: \"{jitter}\", \
                 {bw} {queue} {mtu} loss: {loss}, duplicate: {dup}, reorder: {reorder}, \
                 reorder_delay: \"{reorder_delay}\")"
            )
        })
}

/// TCP settings at and inside their bounds (a day, 255, 10 000 segments, 1 GiB). The send
/// buffer stays at 16 MiB: a 1 GiB one filled by a large `Send` is legal but costs half a
/// minute of copying in a debug build, too slow for every test run.
fn tcp() -> impl Strategy<Value = String> {
    let day = prop_oneof![
        Just("1ns".to_string()),
        Just("1ms".to_string()),
        Just("24h".to_string()),
        (1u64..86_400_000_000_000).prop_map(|n| format!("{n}ns")),
    ];
    (
        day.clone(),
        day,
        prop_oneof![Just(0u32), Just(255), 0u32..255],
        prop_oneof![Just(1u32), Just(10_000)],
        prop_oneof![Just(65_536u32), Just(1 << 30)],
    )
        .prop_map(|(msl, ka, retries, cwnd, buf)| {
            format!(
                "tcp: (msl: \"{msl}\", rto_max: \"24h\", keepalive_time: \"{ka}\", \
                 data_retries: {retries}, syn_retries: {retries}, initial_cwnd: {cwnd}, \
                 rcv_buf: {buf}, rcv_buf_max: {buf}, snd_buf: 16777216),"
            )
        })
}

fn fault() -> impl Strategy<Value = String> {
    prop_oneof![
        duration().prop_map(|d| format!(
            "Fault(occurrence: Every, action: Delay(\"{d}\"), optional: true)"
        )),
        duration().prop_map(|d| format!(
            "Fault(occurrence: Every, action: HoldUntil(\"{d}\"), optional: true)"
        )),
        count().prop_map(|n| format!(
            "Fault(occurrence: Every, action: HoldForPackets({n}), optional: true)"
        )),
        count().prop_map(|n| format!(
            "Fault(occurrence: Nth({n}), action: Duplicate, optional: true)"
        )),
    ]
}

fn scenario() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            3 => Just("10s".to_string()),
            1 => Just("1h".to_string()),
            1 => Just("5124095h".to_string()),
        ],
        prop::collection::vec(step(), 0..5),
        link(),
        prop_oneof![Just(String::new()), tcp()],
        prop::collection::vec(fault(), 0..3),
    )
        .prop_map(|(end, steps, link, tcp, faults)| {
            format!(
                "Scenario(name: \"x\", description: \"x\", seed: 1, end: \"{end}\",
                  hosts: [
                    Host(name: \"client\", addr: \"10.0.0.1\", {tcp} app: [Connect(to: \"server\", port: 80), {}]),
                    Host(name: \"server\", addr: \"10.0.0.2\", {tcp} app: [Serve(port: 80, steps: [RecvEof, Close])]),
                  ],
                  links: [{link}],
                  faults: [{}],
                )",
                steps.join(", "),
                faults.join(", ")
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn what_check_accepts_runs_without_a_panic(src in scenario(), seed in any::<u64>()) {
        match netsim_scenario::parse(&src, "x.ron") {
            Ok(mut s) => {
                // Bounded work: a run stops at the event cap (an error, not a panic).
                s.compiled.limits = RunLimits { max_events: 500, ..s.compiled.limits };
                let _ = s.run(seed, NullSink);
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.starts_with("x.ron:"), "an error without its place: {text}");
            }
        }
    }
}
