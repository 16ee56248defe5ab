//! netsim as a library: a world from a file runs as `netsim run` runs it; a world built in
//! Rust is checked as a file is; hosts of different types run side by side; test code steps
//! the run and changes the network between steps.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use netsim::{Api, App, Builder, Error, Link, SimDuration, SocketEvent, State};

fn scenario(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", "..", "scenarios", name]
        .iter()
        .collect()
}

#[test]
fn a_file_run_as_a_library_is_the_run_of_the_command() {
    for name in [
        "lost_final_ack.ron",
        "server_crash_restart.ron",
        "delayed_duplicate_paws.ron",
    ] {
        let outcome = Builder::from_file(scenario(name))
            .unwrap()
            .build()
            .unwrap()
            .run()
            .unwrap();
        let s = netsim_scenario::load(&scenario(name)).unwrap();
        let netsim_suite::form::Snapshot {
            report, text: form, ..
        } = netsim_suite::form::snapshot(&s, s.file.seed).unwrap();
        assert!(outcome.passed(), "{name}");
        assert_eq!(outcome.snapshot(), form, "{name}");
        assert_eq!(
            form.starts_with("condensed:"),
            name.starts_with("server_time_wait"),
            "{name}"
        );
        assert_eq!(
            outcome.report().outcome.trace_hash,
            report.outcome.trace_hash
        );
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_netsim"))
            .args(["run", &scenario(name).to_string_lossy()])
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&o.stdout);
        assert!(
            printed.starts_with(outcome.trace()),
            "{name}: the trace is the command's"
        );
        assert!(
            printed.contains(outcome.summary()),
            "{name}: so is the summary"
        );
    }
}

#[test]
fn a_world_built_in_rust_is_checked_as_a_file_is() {
    let bad = |b: Builder| match b.build() {
        Ok(_) => panic!("a bad world was built"),
        Err(e) => e.to_string(),
    };
    let base = || {
        Builder::new("t")
            .script_host("a", "10.0.0.1", "[]")
            .script_host("b", "10.0.0.2", "[]")
    };
    assert!(bad(base().script_host("c", "10.0.0.300", "[]")).contains("not an IPv4 address"));
    assert!(bad(base().link("a", "nobody", Link::new())).contains("nobody"));
    assert!(bad(base().link("a", "b", Link::new().loss(1.5))).contains("not a probability"));
    assert!(bad(base().script_host("c", "10.0.0.3", "[Sned(1)]")).contains("its script: 1:2"));
    assert!(bad(base().expect("[Peak(host: \"a\")]")).contains("expect"));
    assert!(bad(base().app("nobody", Quiet)).contains("no host `nobody`"));
    assert!(bad(base().tcp("(profile: \"bsd\")")).contains("bsd"));
    // And what is good builds, shown as a file.
    let good = base().link("a", "b", Link::new().latency(SimDuration::from_millis(1)));
    assert!(
        good.to_ron().contains("latency: \"1ms\""),
        "{}",
        good.to_ron()
    );
    assert!(good.build().is_ok());
}

/// An application that does nothing.
struct Quiet;
impl App for Quiet {
    fn start(&mut self, _api: &mut Api<'_>) {}
    fn socket(&mut self, _api: &mut Api<'_>, _event: SocketEvent) {}
    fn wake(&mut self, _api: &mut Api<'_>, _token: u64) {}
}

/// Connects, and counts what happens to it.
struct Dialer {
    log: Rc<RefCell<Vec<String>>>,
}
impl App for Dialer {
    fn start(&mut self, api: &mut Api<'_>) {
        api.connect("10.0.0.2:80".parse().unwrap()).unwrap();
        api.wake_at(api.now() + SimDuration::from_secs(2), 1);
    }
    fn socket(&mut self, _api: &mut Api<'_>, event: SocketEvent) {
        self.log.borrow_mut().push(format!("{event:?}"));
    }
    fn wake(&mut self, api: &mut Api<'_>, token: u64) {
        self.log
            .borrow_mut()
            .push(format!("woke {token} at {}", api.now()));
    }
}

#[test]
fn hosts_of_different_types_run_and_test_code_steps_and_cuts() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut sim = Builder::new("mixed")
        .end(SimDuration::from_secs(300))
        .host("client", "10.0.0.1", Dialer { log: log.clone() })
        .script_host(
            "server",
            "10.0.0.2",
            "[Serve(port: 80, steps: [RecvEof, Close])]",
        )
        .link(
            "client",
            "server",
            Link::new().latency(SimDuration::from_millis(10)),
        )
        .expect(r#"[Unfinished(host: "server")]"#)
        .build()
        .unwrap();
    // Step by step through the handshake.
    let mut times = Vec::new();
    while let Some(at) = sim.step().unwrap() {
        times.push(at);
        if log.borrow().iter().any(|l| l.starts_with("Connected")) {
            break;
        }
    }
    assert_eq!(*times.last().unwrap(), sim.now());
    assert_eq!(
        sim.now(),
        netsim::SimTime::after(SimDuration::from_millis(20))
    );
    assert_eq!(
        sim.states("client").unwrap().get(&State::Established),
        Some(&1)
    );
    assert_eq!(sim.sockets("server").unwrap().len(), 2);
    // Cut, crash and restart the server between steps.
    assert!(!sim.run_until(SimDuration::from_secs(1)).unwrap());
    sim.partition("client", "server").unwrap();
    sim.crash("server").unwrap();
    assert!(
        sim.states("server").unwrap().is_empty(),
        "a crashed host holds nothing"
    );
    sim.restart("server").unwrap();
    sim.heal("client", "server").unwrap();
    assert!(matches!(sim.crash("nobody"), Err(Error::NoHost(_))));
    let trace = sim.trace().to_string();
    for line in [
        "partition client <-> server",
        "crash server",
        "restart server",
        "heal client <-> server",
    ] {
        assert!(trace.contains(line), "{line} is not in the trace:\n{trace}");
    }
    let outcome = sim.run().unwrap();
    assert!(
        log.borrow().iter().any(|l| l == "woke 1 at 2.000000s"),
        "{:?}",
        log.borrow()
    );
    // The client's connection meets the restarted server's reset when it next speaks, or
    // stays open: either way the run ends and is judged.
    assert!(
        outcome.summary().contains("client:")
            && outcome.summary().contains("runs an application of its own")
    );
}

#[test]
fn a_world_without_a_link_between_two_hosts_cannot_be_cut_there() {
    let mut sim = Builder::new("apart")
        .script_host("a", "10.0.0.1", "[]")
        .script_host("b", "10.0.0.2", "[]")
        .script_host("c", "10.0.0.3", "[]")
        .link("a", "b", Link::new())
        .build()
        .unwrap();
    assert!(matches!(sim.partition("a", "c"), Err(Error::NoLink(..))));
    assert!(sim.partition("b", "a").is_ok());
}

#[test]
fn a_held_link_keeps_packets_until_released_in_order() {
    let build = || {
        Builder::new("held")
            .end(SimDuration::from_secs(60))
            .script_host(
                "client",
                "10.0.0.1",
                r#"[Connect(to: "server", port: 80), Sleep("100ms"), Send(100), Send(100), Close]"#,
            )
            .script_host(
                "server",
                "10.0.0.2",
                "[Serve(port: 80, steps: [Recv(200), RecvEof, Close])]",
            )
            .link(
                "client",
                "server",
                Link::new().latency(SimDuration::from_millis(10)),
            )
            .build()
            .unwrap()
    };
    let mut sim = build();
    sim.run_until(SimDuration::from_millis(50)).unwrap();
    sim.hold_one_way("client", "server").unwrap();
    // The client sends at 100 ms; nothing reaches the server while the hold lasts, however
    // long: its retransmissions wait too.
    sim.run_until(SimDuration::from_millis(900)).unwrap();
    let during = sim.trace().to_string();
    assert!(during.contains("hold client -> server"), "{during}");
    assert!(during.contains("hold (link)"), "{during}");
    assert!(
        !during
            .lines()
            .any(|l| l.contains("server < ") && l.contains("len 100")),
        "{during}"
    );
    assert_eq!(sim.counters("server").unwrap().established, 1);
    sim.release_one_way("client", "server").unwrap();
    let outcome = sim.run().unwrap();
    outcome.assert_passed();
    let trace = outcome.trace();
    let released = trace
        .find("release client -> server")
        .expect("the release is traced");
    // The line where the 100 bytes of data reach the server.
    let data_arrives = |trace: &str| -> String {
        let line = trace
            .lines()
            .find(|l| l.contains("server < ") && l.contains("len 100"));
        line.expect("the data arrives").to_string()
    };
    let first_data = data_arrives(trace);
    assert!(
        first_data.trim_start().starts_with("0.910000s"),
        "{first_data}"
    );
    assert!(trace.find(first_data.as_str()).unwrap() > released);
    // Without the hold the data (sent 100 ms after the handshake at 20 ms) arrives at 130 ms.
    let plain = build().run().unwrap();
    let plain_first = data_arrives(plain.trace());
    assert!(
        plain_first.trim_start().starts_with("0.130000s"),
        "{plain_first}"
    );
}

/// Connects to a port nobody listens on, and records a failed call of its own.
struct Refused;
impl App for Refused {
    fn start(&mut self, api: &mut Api<'_>) {
        api.connect("10.0.0.2:81".parse().unwrap()).unwrap();
        api.failed("lookup", netsim::Errno::Invalid);
    }
    fn socket(&mut self, _api: &mut Api<'_>, _event: SocketEvent) {}
    fn wake(&mut self, _api: &mut Api<'_>, _token: u64) {}
}

#[test]
fn errors_an_application_of_yours_saw_are_judged_as_a_scripts() {
    let world = |expect: &str| {
        Builder::new("refused")
            .end(SimDuration::from_secs(5))
            .host("client", "10.0.0.1", Refused)
            .script_host("server", "10.0.0.2", "[]")
            .link(
                "client",
                "server",
                Link::new().latency(SimDuration::from_millis(1)),
            )
            .expect(expect)
            .build()
            .unwrap()
            .run()
            .unwrap()
    };
    let bare = world("[]");
    assert!(!bare.passed());
    let failed: Vec<String> = bare.failures().iter().map(|c| c.text.clone()).collect();
    assert!(
        failed
            .iter()
            .any(|t| t.contains("client ECONNREFUSED") && t.contains("client EINVAL")),
        "{failed:?}"
    );
    let named = world(
        r#"[Error(host: "client", errno: "ECONNREFUSED", exactly: 1),
            Error(host: "client", errno: "EINVAL", exactly: 1)]"#,
    );
    named.assert_passed();
    assert!(named.summary().contains("client: ") && named.summary().contains("ECONNREFUSED x1"));
}
