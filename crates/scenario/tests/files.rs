//! Scenario files: bad input gives file:line:column and what was expected; every bundled
//! scenario parses and passes.

use netsim_engine::{DropReason, NullSink};

const BASE: &str = r#"Scenario(
    name: "t",
    description: "test",
    seed: 1,
    end: "10s",
    hosts: [
        Host(name: "client", addr: "10.0.0.1", app: [Connect(to: "server", port: 80), Send(100), Close]),
        Host(name: "server", addr: "10.0.0.2", app: [Serve(port: 80, steps: [Recv(100), RecvEof, Close])]),
    ],
    links: [
        Link(a: "client", b: "server", latency: "1ms", loss: 0.0),
    ],
    faults: [
        Fault(from: "client", occurrence: Nth(1), action: Drop),
    ],
    expect: [
        Received(host: "server", exactly: 100),
        Count(host: "client", counter: Retransmits, exactly: 1),
    ],
)
"#;

fn error_for(from: &str, to: &str) -> String {
    assert!(
        BASE.contains(from),
        "test setup: {from:?} is not in the base file"
    );
    let src = BASE.replacen(from, to, 1);
    match netsim_scenario::parse(&src, "t.ron") {
        Ok(_) => panic!("accepted a bad file after replacing {from:?} with {to:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_base_file_is_valid_and_runs() {
    let s = netsim_scenario::parse(BASE, "t.ron").expect("valid");
    let (report, _) = s.run(s.file.seed, NullSink).unwrap();
    // The fault drops the first SYN; the retransmission 1 s later connects.
    let dropped = report
        .outcome
        .stats
        .dropped(DropReason::Fault(netsim_engine::FaultId(0)));
    assert_eq!(dropped, 1);
    assert_eq!(report.hosts[1].app.bytes_received, 100);
    assert!(report.passed(), "{:#?}", report.checks);
}

#[test]
fn bad_values_point_at_their_line_and_column_and_say_what_was_expected() {
    // (replace this, with this, expected prefix of the message, a fragment of the message)
    let cases = [
        ("loss: 0.0", "loss: 1.5", "t.ron:11:", "outside 0..=1"),
        (
            "latency: \"1ms\"",
            "latency: \"-1ms\"",
            "t.ron:11:",
            "duration",
        ),
        (
            "latency: \"1ms\"",
            "latency: \"1 fortnight\"",
            "t.ron:11:",
            "unknown time unit",
        ),
        (
            "Connect(to: \"server\", port: 80)",
            "Connect(to: \"server\", port: 70000)",
            "t.ron:7:",
            "",
        ),
        (
            "b: \"server\"",
            "b: \"srv\"",
            "t.ron:11:30:",
            "unknown host `srv` (hosts are: client, server)",
        ),
        (
            "from: \"client\", occurrence",
            "from: \"cleint\", occurrence",
            "t.ron:14:",
            "unknown host `cleint`",
        ),
        (
            "loss: 0.0)",
            "loss: 0.0, colour: \"red\")",
            "t.ron:11:",
            "colour",
        ),
        ("seed: 1", "seed: \"one\"", "t.ron:4:", ""),
        ("Nth(1)", "Nth(0)", "t.ron:14:9:", "count from 1"),
        (
            "addr: \"10.0.0.2\"",
            "addr: \"10.0.0.1\"",
            "t.ron:8:",
            "address 10.0.0.1 is used twice",
        ),
        ("addr: \"10.0.0.2\"", "addr: \"10.0.0.300\"", "t.ron:8:", ""),
        (
            "end: \"10s\"",
            "end: \"0s\"",
            "t.ron:5:5:",
            "end must be later than 0s",
        ),
        (
            "loss: 0.0",
            "mtu: 20",
            "t.ron:11:9:",
            "IPv4 minimum of 68 bytes",
        ),
        (
            "b: \"server\"",
            "b: \"client\"",
            "t.ron:11:9:",
            "two different hosts",
        ),
        ("action: Drop", "action: Explode", "t.ron:14:", "Explode"),
        ("    ],\n    faults", "    ,\n    faults", "t.ron:", ""),
        (
            "Connect(to: \"server\"",
            "Connect(to: \"sever\"",
            "t.ron:7:",
            "unknown host `sever`",
        ),
        ("Serve(port: 80", "Serve(port: 0", "t.ron:8:", "port 0"),
        ("Send(100)", "Transmit(100)", "t.ron:7:", "Transmit"),
        (
            "Retransmits",
            "Retransmissions",
            "t.ron:18:",
            "Retransmissions",
        ),
        (
            "exactly: 100",
            "at_most_ish: 100",
            "t.ron:17:",
            "at_most_ish",
        ),
        (
            "end: \"10s\",",
            "end: \"10s\", tcp: (profile: \"bsd\"),",
            "t.ron:5:",
            "unknown TCP profile `bsd`",
        ),
        (
            "end: \"10s\",",
            "end: \"10s\", tcp: (ephemeral_ports: (5000, 4000)),",
            "t.ron:5:",
            "ephemeral port range",
        ),
        (
            "Received(host: \"server\", exactly: 100)",
            "Peak(host: \"server\", state: \"TIMEWAIT\", at_least: 1)",
            "t.ron:17:",
            "unknown state `TIMEWAIT`",
        ),
        (
            "Received(host: \"server\", exactly: 100)",
            "Received(host: \"server\")",
            "t.ron:17:",
            "give at_least, at_most or exactly",
        ),
        (
            "    expect: [",
            "    events: [Inject(at: \"1s\", from: \"client\", to: \"server\", flags: \"R\", seq: Abs(1))],\n    expect: [",
            "t.ron:16:",
            "name a connection (`conn: 1`) or give both `src_port` and `dst_port`",
        ),
        (
            "    expect: [",
            "    events: [Inject(at: \"1s\", from: \"client\", to: \"server\", src_port: 1, dst_port: 2, flags: \"R\", seq: RcvNxt(\"server\", 0))],\n    expect: [",
            "t.ron:16:",
            "needs `conn`",
        ),
        (
            "    expect: [",
            "    events: [Inject(at: \"1s\", from: \"client\", to: \"server\", conn: 1, flags: \"R.\", seq: Abs(1))],\n    expect: [",
            "t.ron:16:",
            "the ACK flag (`.`) needs an `ack` number",
        ),
        (
            "    expect: [",
            "    events: [Inject(at: \"1s\", from: \"client\", to: \"client\", conn: 1, flags: \"R\", seq: Abs(1))],\n    expect: [",
            "t.ron:16:",
            "two different hosts",
        ),
        (
            "    expect: [",
            "    events: [Inject(at: \"1s\", from: \"client\", to: \"server\", conn: 1, flags: \"S\", seq: Abs(1), len: 9000)],\n    expect: [",
            "t.ron:16:",
            "at most 1460 bytes",
        ),
        (
            "    expect: [",
            "    events: [Inject(at: \"1s\", from: \"client\", to: \"server\", conn: 1, flags: \"S\", seq: Abs(1), options: [WindowScale(15)])],\n    expect: [",
            "t.ron:16:",
            "at most 14",
        ),
        (
            "Received(host: \"server\", exactly: 100)",
            "Sent(host: \"server\", between: (\"2s\", \"1s\"), exactly: 1)",
            "t.ron:17:",
            "the window is empty",
        ),
        (
            "Received(host: \"server\", exactly: 100)",
            "Sent(host: \"server\", flags: \"S.\", flags_contain: \"S\", between: (\"0s\", \"1s\"), exactly: 1)",
            "t.ron:17:",
            "not both",
        ),
        (
            "latency: \"1ms\"",
            "latency: 5",
            "t.ron:11:49:",
            "Expected string",
        ),
        (
            "from: \"client\", occurrence",
            "from: \"client\", state: \"TIME-WAIT\", occurrence",
            "t.ron:14:",
            "unknown state `TIME-WAIT` (expected one of CLOSED, LISTEN,",
        ),
        (
            "Send(100), Close]",
            "Send(100), KeepAlive(idle: \"32768s\"), Close]",
            "t.ron:7:",
            "at most 32767s",
        ),
        (
            "Send(100), Close]",
            "Send(100), KeepAlive(probes: 128), Close]",
            "t.ron:7:",
            "probes at most 127",
        ),
        (
            "addr: \"10.0.0.1\",",
            "addr: \"10.0.0.1\", tcp: (msl: \"25h\"),",
            "t.ron:7:",
            "msl 25h is above the limit of 24h",
        ),
        (
            "addr: \"10.0.0.1\",",
            "addr: \"10.0.0.1\", tcp: (data_retries: 256),",
            "t.ron:7:",
            "data_retries 256 is above the limit of 255",
        ),
        (
            "latency: \"1ms\"",
            "latency: \"1ms\", bandwidth: \"0.0001kbit\"",
            "t.ron:11:",
            "whole number of bits per second",
        ),
    ];
    for (from, to, at, fragment) in cases {
        let msg = error_for(from, to);
        assert!(
            msg.starts_with(at) && msg.contains(fragment),
            "replacing {from:?} with {to:?}: got {msg:?}, wanted {at}...{fragment}"
        );
    }
}

/// A `Repeat` whose steps never wait runs all its passes at one instant, inside one event,
/// where the event cap cannot stop it: `check` refuses one of more than 10 000 steps, with its
/// place. Found by the `simulate` fuzz target: `Repeat(count: 4244635648, steps: [])` held
/// one event for minutes (with 2^64 - 1, for ever).
#[test]
fn a_repeat_that_never_waits_is_refused_beyond_ten_thousand_steps_at_one_instant() {
    // (the client's steps between Send(100) and Close, refused)
    let cases = [
        ("Repeat(count: 18446744073709551615, steps: [])", true),
        ("Repeat(count: 10000, steps: [])", false),
        ("Repeat(count: 10000, steps: [NoDelay])", false),
        ("Repeat(count: 10001, steps: [NoDelay])", true),
        ("Repeat(count: 5001, steps: [NoDelay, RecvEof])", true),
        (
            "Repeat(count: 100, steps: [Repeat(count: 101, steps: [Send(0)])])",
            true,
        ),
        (
            "Repeat(count: 2, steps: [Repeat(count: 0, steps: [Recv(0)])])",
            false,
        ),
        // Each pass waits (or uses up buffer space, data): any count.
        (
            "Repeat(count: 18446744073709551615, steps: [Send(0), Sleep(\"0s\")])",
            false,
        ),
        (
            "Repeat(count: 18446744073709551615, steps: [Recv(1)])",
            false,
        ),
        (
            "Repeat(count: 18446744073709551615, steps: [Repeat(count: 3, steps: [Send(1)])])",
            false,
        ),
    ];
    for (steps, refused) in cases {
        let src = BASE.replacen(
            "Send(100), Close]",
            &format!("Send(100), {steps}, Close]"),
            1,
        );
        match netsim_scenario::parse(&src, "t.ron") {
            Ok(_) => assert!(!refused, "accepted {steps}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(refused, "refused {steps}: {msg}");
                assert!(
                    msg.starts_with("t.ron:7:") && msg.contains("at one instant, at most 10000"),
                    "{steps}: {msg}"
                );
            }
        }
    }
}

/// Follows Linux tcp_time_wait: a connection that finds the TIME_WAIT table full never enters
/// TIME_WAIT, so the peak the observer reports is the cap itself, not one more.
#[test]
fn time_wait_peak_stops_at_max_time_wait() {
    let src = r#"Scenario(
    name: "t",
    description: "test",
    seed: 1,
    end: "5s",
    tcp: (max_time_wait: 10),
    hosts: [
        Host(name: "client", addr: "10.0.0.1", app: [Spawn(count: 20, every: "10ms", steps: [
            Connect(to: "server", port: 80), Send(100), Close,
        ])]),
        Host(name: "server", addr: "10.0.0.2", app: [Serve(port: 80, steps: [Recv(100), RecvEof, Close])]),
    ],
    links: [Link(a: "client", b: "server", latency: "1ms")],
    expect: [
        Peak(host: "client", state: "TIME_WAIT", exactly: 10),
        Count(host: "client", counter: TimeWaitOverflows, exactly: 10),
    ],
)
"#;
    let s = netsim_scenario::parse(src, "t.ron").expect("valid");
    let (report, _) = s.run(s.file.seed, NullSink).unwrap();
    assert!(report.passed(), "{:#?}", report.checks);
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let err = netsim_scenario::load(std::path::Path::new("/nonexistent/x.ron")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/x.ron:1:1: cannot read the file")
    );
}

#[test]
fn garbage_input_is_an_error_not_a_panic() {
    for garbage in [
        "",
        "(",
        "Scenario(",
        "\u{0}\u{1}",
        "[1, 2, 3]",
        "Scenario(name: 5)",
    ] {
        assert!(
            netsim_scenario::parse(garbage, "g.ron").is_err(),
            "{garbage:?}"
        );
    }
}

#[test]
fn a_fault_that_never_fires_fails_the_run_unless_optional() {
    let never = BASE
        .replace("Nth(1)", "Nth(99)")
        .replace("exactly: 1)", "exactly: 0)");
    let s = netsim_scenario::parse(&never, "t.ron").unwrap();
    let (report, _) = s.run(1, NullSink).unwrap();
    assert_eq!(report.unfired, vec![netsim_engine::FaultId(0)]);
    assert!(!report.passed());
    assert!(
        report
            .failures()
            .any(|c| c.text.starts_with("fault 1 never matched"))
    );

    let optional = never.replace("action: Drop", "action: Drop, optional: true");
    let s = netsim_scenario::parse(&optional, "t.ron").unwrap();
    let (report, _) = s.run(1, NullSink).unwrap();
    assert!(report.passed(), "{:#?}", report.checks);
}

/// "The work happened" is checked by default: an error no `Error` expectation names fails the
/// run, and so does a task that has not reached its last step at the end (waiting, ended early
/// by EOF, or never spawned), unless an `Unfinished` expectation allows it.
#[test]
fn a_run_whose_work_did_not_happen_fails_unless_the_scenario_expects_it() {
    let verdict = |src: &str| {
        let s = netsim_scenario::parse(src, "t.ron").unwrap();
        let (report, _) = s.run(1, NullSink).unwrap();
        let failed: Vec<String> = report.failures().map(|c| c.text.clone()).collect();
        (report, failed)
    };
    let expect_none = |src: &str| {
        src.replace(
            "Count(host: \"client\", counter: Retransmits, exactly: 1),",
            "",
        )
    };
    // Nobody listens on port 81: the connect is refused.
    let refused = expect_none(&BASE.replace("port: 80), Send(100)", "port: 81), Send(100)"))
        .replace("Received(host: \"server\", exactly: 100),", "")
        .replace("action: Drop)", "action: Drop, optional: true)");
    let (_, failed) = verdict(&refused);
    assert_eq!(
        failed,
        [
            "applications: errors no Error expectation names: client ECONNREFUSED x1 (expect them if intended)"
        ]
    );
    let named = refused.replace(
        "expect: [",
        "expect: [Error(host: \"client\", errno: \"ECONNREFUSED\"),",
    );
    assert_eq!(verdict(&named).1, Vec::<String>::new());
    // An Error expectation of another host does not name it.
    let elsewhere = refused.replace(
        "expect: [",
        "expect: [Error(host: \"server\", errno: \"ECONNREFUSED\", at_least: 0),",
    );
    assert_eq!(verdict(&elsewhere).1.len(), 1);

    // The server waits for 200 bytes and gets 100 and the end of the stream; the client waits
    // for a reply that never comes (the run ends at 10 s).
    let stuck = BASE
        .replace("Send(100), Close]", "Send(100), Shutdown, Recv(1)]")
        .replace("Recv(100), RecvEof", "Recv(200), RecvEof")
        .replace(
            "Recv(1)]",
            "Recv(1), Spawn(count: 20, every: \"1s\", steps: [Sleep(\"1ms\")])]",
        );
    let (report, failed) = verdict(&stuck);
    assert_eq!(
        failed,
        [
            "applications: tasks that did not reach their end: client 1 (1 in recv); server 1 (1 in recv ended early by EOF) (an Unfinished expectation allows them)"
        ],
        "the client's Recv(1) never returns, so the Spawn never starts"
    );
    assert_eq!(report.hosts[0].app.not_done(), 1);
    // Without the Recv(1), the Spawn starts 20 tasks one a second once connected, at 1 s (the
    // fault drops the first SYN): nine start before the run ends at 10 s, eleven never do.
    let spawning = stuck.replace("Shutdown, Recv(1), Spawn", "Shutdown, Spawn");
    let (report, failed) = verdict(&spawning);
    assert_eq!(report.hosts[0].app.spawns_left, 11, "{failed:?}");
    assert!(
        failed[0].contains("client 11 (11 never spawned)"),
        "{failed:?}"
    );
    let allowed = stuck.replace(
        "expect: [",
        "expect: [Unfinished(host: \"client\", exactly: 1), Unfinished(host: \"server\"),",
    );
    assert_eq!(verdict(&allowed).1, Vec::<String>::new());
    let wrong = stuck.replace(
        "expect: [",
        "expect: [Unfinished(host: \"client\", exactly: 2), Unfinished(host: \"server\"),",
    );
    assert_eq!(
        verdict(&wrong).1,
        ["client tasks that did not reach their end = 2 (found 1)"]
    );
}

/// A run cut short (`--until`) decides what it can: a count past its upper bound fails, a
/// lower bound met passes, the rest (the end state, counts that may still grow, windows past
/// the cut) is "not reached", which fails nothing.
#[test]
fn a_run_cut_short_leaves_undecided_checks_not_reached() {
    let cut_at = |src: &str, ms: u64| {
        let mut s = netsim_scenario::parse(src, "t.ron").unwrap();
        s.compiled.limits.end = Some(netsim_core::SimTime::after(
            netsim_core::SimDuration::from_millis(ms),
        ));
        s.run(1, NullSink).unwrap().0
    };
    // At 0.5 s the dropped SYN is not yet retransmitted, nothing is received.
    let early = cut_at(BASE, 500);
    assert!(early.passed(), "{:#?}", early.checks);
    let open: Vec<&str> = early.not_reached().map(|c| c.text.as_str()).collect();
    assert_eq!(
        open,
        [
            "server receives bytes = 100 (not reached: the run was cut at 0.500000s; found 0 so far)",
            "client Retransmits = 1 (not reached: the run was cut at 0.500000s; found 0 so far)",
            "applications: every task reached its end (not reached: the run was cut at 0.500000s; some are still under way)",
        ]
    );
    let summary =
        netsim_scenario::summary(&netsim_scenario::parse(BASE, "t.ron").unwrap(), 1, &early);
    assert!(
        summary.contains("  --   client Retransmits = 1 (not reached")
            && summary.contains(
                "result:   PASS so far (3 of 7 checks not reached: the run was cut short)"
            ),
        "{summary}"
    );
    // At 1.5 s the retransmission has happened: an upper bound it breaks fails already, and a
    // lower bound it meets passes.
    let strict = BASE.replace("Retransmits, exactly: 1)", "Retransmits, at_most: 0)");
    let late = cut_at(&strict, 1500);
    let failed: Vec<&str> = late.failures().map(|c| c.text.as_str()).collect();
    assert_eq!(failed, ["client Retransmits <= 0 (found 1)"]);
    let loose = BASE.replace("Retransmits, exactly: 1)", "Retransmits, at_least: 1)");
    let late = cut_at(&loose, 1500);
    assert!(
        late.checks
            .iter()
            .any(|c| c.reached && c.passed && c.text == "client Retransmits >= 1 (found 1)")
    );
}

/// A long run can be watched: the tick comes every `TICK_EVENTS` events with the simulated
/// time so far, and watching changes nothing.
#[test]
fn a_long_run_ticks_as_it_goes_and_is_the_same_run() {
    let src = BASE.replace(
        "app: [Connect(to: \"server\", port: 80), Send(100), Close]",
        "app: [Connect(to: \"server\", port: 80), Send(100), Close, Spawn(count: 300000, every: \"10us\", steps: [])]",
    );
    let s = netsim_scenario::parse(&src, "t.ron").unwrap();
    let mut ticks = Vec::new();
    let all = vec![true; s.compiled.randomize.len()];
    let (watched, _) = s
        .run_observed(1, &all, NullSink, |now, events| ticks.push((now, events)))
        .unwrap();
    let (plain, _) = s.run(1, NullSink).unwrap();
    assert_eq!(watched.outcome.trace_hash, plain.outcome.trace_hash);
    let events = watched.outcome.events;
    assert!(events >= 300_000, "{events}");
    assert_eq!(ticks.len() as u64, events / netsim_engine::TICK_EVENTS);
    for (i, (now, n)) in ticks.iter().enumerate() {
        assert_eq!(*n, (i as u64 + 1) * netsim_engine::TICK_EVENTS);
        assert!(*now <= watched.outcome.end);
    }
    assert!(ticks.windows(2).all(|w| w[0].0 <= w[1].0));
}

/// An injection whose connection never appears, or whose time the run never reaches, fails
/// the run and says why; one that goes out counts in no `Sent` expectation of its host.
#[test]
fn an_injection_that_cannot_go_out_fails_the_run() {
    let with = |event: &str, expect: &str| {
        let src = BASE
            .replace(
                "    expect: [",
                &format!("    events: [{event}],\n    expect: [{expect}"),
            )
            .replace("Nth(1)", "Nth(1), optional: true");
        let s = netsim_scenario::parse(&src, "t.ron").unwrap();
        s.run(1, NullSink).unwrap().0
    };
    let r = with(
        "Inject(at: \"0.5s\", from: \"client\", to: \"server\", conn: 2, flags: \"R\", seq: SndNxt(\"client\", 0))",
        "",
    );
    let failures: Vec<&str> = r.failures().map(|c| c.text.as_str()).collect();
    assert_eq!(
        failures,
        ["injection 1 at 0.500000s not sent: connection 2 between the two hosts has not appeared"]
    );
    let r = with(
        "Inject(at: \"20s\", from: \"client\", to: \"server\", src_port: 1, dst_port: 2, flags: \"R\", seq: Abs(5))",
        "",
    );
    assert!(
        r.failures()
            .any(|c| c.text.ends_with("not sent: the run ended first")),
        "{:#?}",
        r.checks
    );
    // A stray RST to a port nobody uses: the server answers nothing (RFC 9293 §3.10.7.1), and
    // the injected segment is not the client's own.
    let r = with(
        "Inject(at: \"5s\", from: \"client\", to: \"server\", src_port: 1, dst_port: 2, flags: \"R\", seq: Abs(5))",
        "Sent(host: \"client\", between: (\"5s\", \"6s\"), exactly: 0), Sent(host: \"server\", between: (\"5s\", \"6s\"), exactly: 0),",
    );
    assert!(r.passed(), "{:#?}", r.checks);
    assert_eq!(r.sent, [0, 0]);
}

#[test]
fn a_failed_expectation_fails_the_run_and_says_what_was_found() {
    let wrong = BASE.replace(
        "Received(host: \"server\", exactly: 100)",
        "Received(host: \"server\", exactly: 101)",
    );
    let s = netsim_scenario::parse(&wrong, "t.ron").unwrap();
    let (report, _) = s.run(1, NullSink).unwrap();
    let failures: Vec<&str> = report.failures().map(|c| c.text.as_str()).collect();
    assert_eq!(failures, ["server receives bytes = 101 (found 100)"]);
}

/// Robustness: thousands of mutated versions of the catalogue's files are either refused with
/// a located error or run (briefly) without a panic.
#[test]
fn mutated_files_never_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Replacements that stay plausible, so mutants get past the parser often.
    let swaps: [&[u8]; 12] = [
        b"0",
        b"1",
        b"99999",
        b"-1",
        b"\"0s\"",
        b"\"1h\"",
        b"0.5",
        b"\"server\"",
        b"Close",
        b"Recv(0)",
        b"",
        b"Nth(2)",
    ];
    let (mut parsed, mut refused) = (0, 0);
    for path in &files {
        let src = std::fs::read(path).unwrap();
        for _ in 0..150 {
            let mut m = src.clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % m.len();
                let len = ((next() % 6) as usize).min(m.len() - at);
                let with = swaps[(next() % swaps.len() as u64) as usize];
                m.splice(at..at + len, with.iter().copied());
            }
            let Ok(text) = String::from_utf8(m) else {
                continue;
            };
            let outcome =
                std::panic::catch_unwind(|| match netsim_scenario::parse(&text, "m.ron") {
                    Ok(mut s) => {
                        s.compiled.limits.max_events = 20_000;
                        s.compiled.limits.end = Some(netsim_core::SimTime::after(
                            netsim_core::SimDuration::from_secs(5),
                        ));
                        let _ = s.run(1, NullSink);
                        true
                    }
                    Err(e) => {
                        assert!(e.to_string().starts_with("m.ron:"), "{e}");
                        false
                    }
                });
            match outcome {
                Ok(true) => parsed += 1,
                Ok(false) => refused += 1,
                Err(_) => panic!("a mutant of {} panicked:\n{text}", path.display()),
            }
        }
    }
    assert!(
        parsed > 100 && refused > 100,
        "parsed {parsed}, refused {refused}"
    );
}

/// The packet oracles are recomputed from the trace records, not taken from the engine's
/// counters: a network that breaks its promises (a test-only sabotage switch) makes them fire,
/// and the same run without the sabotage passes.
#[test]
fn the_packet_oracles_fire_when_the_network_breaks_its_promises() {
    // A 2 s lifetime, and a fault that delays the first data segment by 5 s.
    let src = BASE
        .replace("    seed: 1,", "    seed: 1,\n    lifetime: \"2s\",")
        .replace(
            "Fault(from: \"client\", occurrence: Nth(1), action: Drop)",
            "Fault(from: \"client\", payload: true, occurrence: Nth(1), action: Delay(\"5s\"))",
        )
        .replace(
            "Count(host: \"client\", counter: Retransmits, exactly: 1),",
            "",
        );
    let run = |sabotage: netsim_engine::Sabotage| {
        let mut s = netsim_scenario::parse(&src, "t.ron").unwrap();
        s.compiled.topology.sabotage = sabotage;
        let (report, _) = s.run(1, NullSink).unwrap();
        report
    };
    let oracle = |r: &netsim_scenario::Report, kind: &str| {
        r.checks
            .iter()
            .find(|c| c.kind == kind)
            .cloned()
            .expect("the oracle's check")
    };
    let honest = run(netsim_engine::Sabotage::default());
    assert!(honest.passed(), "{:#?}", honest.checks);
    assert_eq!(honest.outcome.stats.dropped(DropReason::LifetimeExpired), 1);

    let late = run(netsim_engine::Sabotage {
        ignore_lifetime: true,
        ..Default::default()
    });
    let check = oracle(&late, "oracle: packet lifetime");
    assert!(!check.passed, "{}", check.text);
    assert!(check.text.contains("found 1, first"), "{}", check.text);

    let lossy = run(netsim_engine::Sabotage {
        lose_without_record: true,
        ..Default::default()
    });
    let check = oracle(&lossy, "oracle: packet accounting");
    assert!(!check.passed, "{}", check.text);
    assert!(check.text.contains("the engine counted"), "{}", check.text);
}

/// The byte-stream and transition oracles fire on what they guard: bytes nobody sent
/// (a crafted data segment, injected exactly where the server's application reads next) are
/// CorruptData; a TCP model that takes a transition outside the diagram (a test-only switch:
/// ESTABLISHED -> TIME_WAIT on a FIN) is IllegalTransition.
#[test]
fn the_stream_and_transition_oracles_fire_on_what_they_guard() {
    let kind_of = |r: &netsim_scenario::Report| {
        r.checks
            .iter()
            .find(|c| {
                c.kind.starts_with("oracle: ")
                    && c.kind != "oracle: packet lifetime"
                    && c.kind != "oracle: packet accounting"
            })
            .cloned()
            .expect("the stream and transition oracle")
    };
    // Corrupt data: 10 crafted bytes at the server's RCV.NXT, before the client's second 50.
    let src = BASE
        .replace(
            "Connect(to: \"server\", port: 80), Send(100), Close",
            "Connect(to: \"server\", port: 80), Send(50), Sleep(\"3s\"), Send(50), Close",
        )
        .replace("Recv(100), RecvEof", "Recv(110), RecvEof")
        .replace(
            "    expect: [",
            "    events: [Inject(at: \"2s\", from: \"client\", to: \"server\", conn: 1, flags: \"P.\", seq: RcvNxt(\"server\", 0), ack: RcvNxt(\"client\", 0), len: 10, window: 500)],\n    expect: [",
        )
        .replace("exactly: 100", "exactly: 110");
    let s = netsim_scenario::parse(&src, "t.ron").unwrap();
    let (r, _) = s.run(1, NullSink).unwrap();
    let check = kind_of(&r);
    assert_eq!(check.kind, "oracle: CorruptData", "{:#?}", r.checks);
    assert!(!check.passed);

    // An illegal transition, from a deliberately broken server.
    let mut s = netsim_scenario::parse(BASE, "t.ron").unwrap();
    s.compiled.hosts[1].tcp.sabotage_illegal_transition = true;
    let (r, _) = s.run(1, NullSink).unwrap();
    let check = kind_of(&r);
    assert_eq!(check.kind, "oracle: IllegalTransition", "{:#?}", r.checks);
    assert!(
        check.text.contains("ESTABLISHED -> TIME_WAIT"),
        "{}",
        check.text
    );
    // Without the switch, the same run is clean.
    let s = netsim_scenario::parse(BASE, "t.ron").unwrap();
    assert!(s.run(1, NullSink).unwrap().0.passed());
}

/// A hold scheduled in the file keeps the client's data out of the link until its release;
/// holding a host against itself is refused with its place.
#[test]
fn a_scheduled_hold_delays_what_it_keeps_until_the_release() {
    let src = BASE
        .replace(
            "    faults: [\n        Fault(from: \"client\", occurrence: Nth(1), action: Drop),\n    ],\n",
            "    events: [\n        HoldOneWay(at: \"1ms\", from: \"client\", to: \"server\"),\n        ReleaseOneWay(at: \"500ms\", from: \"client\", to: \"server\"),\n    ],\n",
        )
        .replace("Count(host: \"client\", counter: Retransmits, exactly: 1)", "Count(host: \"client\", counter: Retransmits, at_least: 0)");
    assert!(src.contains("HoldOneWay"), "test setup: {src}");
    let s = netsim_scenario::parse(&src, "t.ron").unwrap();
    let (report, lines) = s.run(1, netsim_engine::TextLines::default()).unwrap();
    assert!(
        report.passed(),
        "{}",
        netsim_scenario::summary(&s, 1, &report)
    );
    let lines = lines.lines;
    let first_data = lines
        .iter()
        .position(|l| l.contains("server < ") && l.contains("len 100"))
        .expect("the data arrives");
    let release = lines
        .iter()
        .position(|l| l.contains("release client -> server"))
        .expect("the release is traced");
    assert!(lines.iter().any(|l| l.contains("hold (link)")));
    assert!(first_data > release, "{lines:#?}");
    assert!(
        lines[first_data].trim_start().starts_with("0.501000s"),
        "{}",
        lines[first_data]
    );
    let bad = BASE.replace(
        "    faults: [\n        Fault(from: \"client\", occurrence: Nth(1), action: Drop),\n    ],\n",
        "    events: [Hold(at: \"1s\", between: (\"client\", \"client\"))],\n",
    );
    let e = netsim_scenario::parse(&bad, "t.ron")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.ron:") && e.contains("two different hosts"),
        "{e}"
    );
}
