//! A run as an object (`World`): stepped event by event or in slices of time it is the same
//! run as `run`; a change made between steps is the same as the file's scheduled change.

use std::borrow::Cow;
use std::path::Path;

use netsim_core::{SimDuration, SimTime};
use netsim_engine::{NetChange, NullSink, Stepped, Stop};
use netsim_scenario::{Scenario, World};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    netsim_scenario::load(&path).expect("a catalogue file")
}

fn world(s: &Scenario) -> World<'_, NullSink> {
    World::new(
        Cow::Borrowed(s),
        s.file.seed,
        &[],
        NullSink,
        Vec::new(),
        None,
    )
}

/// The whole run's hash and check texts, as `run` gives them.
fn whole(s: &Scenario) -> (u64, Vec<String>) {
    let (r, _) = s.run(s.file.seed, NullSink).unwrap();
    (
        r.outcome.trace_hash,
        r.checks.iter().map(|c| c.text.clone()).collect(),
    )
}

fn judged(w: World<'_, NullSink>) -> (u64, Vec<String>) {
    let (r, _) = w.finish();
    (
        r.outcome.trace_hash,
        r.checks.iter().map(|c| c.text.clone()).collect(),
    )
}

#[test]
fn stepping_event_by_event_is_the_same_run() {
    for name in [
        "lost_final_ack.ron",
        "server_crash_restart.ron",
        "bulk_transfer_lossy.ron",
    ] {
        let s = scenario(name);
        let mut w = world(&s);
        let mut steps = 0u64;
        let mut last = SimTime::ZERO;
        while let Stepped::Ran(at) = w.step().unwrap() {
            assert!(at >= last, "{name}: time went back");
            last = at;
            steps += 1;
        }
        assert!(steps > 10, "{name}: {steps} steps");
        // Stepping on after the end changes nothing.
        assert!(matches!(w.step().unwrap(), Stepped::Over(_)));
        assert_eq!(judged(w), whole(&s), "{name}");
    }
}

#[test]
fn running_in_slices_of_time_is_the_same_run() {
    let s = scenario("lost_final_ack.ron");
    let mut w = world(&s);
    let mut at = SimTime::ZERO;
    let stop = loop {
        at += SimDuration::from_millis(7);
        if let Some(stop) = w.run_until(at).unwrap() {
            break stop;
        }
        assert_eq!(w.sim().now(), at, "the clock stands at the slice's end");
    };
    assert_eq!(stop, Stop::EndTime);
    assert_eq!(judged(w), whole(&s));
}

#[test]
fn a_change_between_steps_is_the_files_scheduled_change() {
    // keepalive_peer_vanished partitions at 500ms; the same file without that event, with the
    // partition made by hand at 500ms, is the same run (no event falls on 500ms itself).
    let s = scenario("keepalive_peer_vanished.ron");
    let mut by_hand = s.clone();
    let (at, change) = by_hand.compiled.topology.schedule.remove(0);
    assert!(matches!(change, NetChange::Partition(..)));
    assert_eq!(at, SimTime::after(SimDuration::from_millis(500)));
    let mut w = world(&by_hand);
    assert_eq!(w.run_until(at).unwrap(), None);
    w.change(change);
    let (hash, checks) = judged_to_end(w);
    assert_eq!((hash, checks), whole(&s));
}

fn judged_to_end(mut w: World<'_, NullSink>) -> (u64, Vec<String>) {
    let end = w.scenario().compiled.limits.end.unwrap();
    assert_eq!(w.run_until(end).unwrap(), Some(Stop::EndTime));
    judged(w)
}

#[test]
fn a_run_stopped_early_is_judged_as_cut_short() {
    let s = scenario("lost_final_ack.ron");
    let mut w = world(&s);
    w.run_until(SimTime::after(SimDuration::from_millis(3)))
        .unwrap();
    let (r, _) = w.finish();
    assert!(r.passed(), "a prefix fails nothing it cannot decide");
    assert!(r.not_reached().count() > 0, "some checks wait for the end");
    assert_eq!(r.outcome.end, SimTime::after(SimDuration::from_millis(3)));
}
