//! Sweeps: the report does not depend on the thread count, shards merge into the whole
//! report, shrinking keeps the failure with no more faults, a panicking seed is a reported
//! failure and not the end of the sweep, and stop-after is deterministic too.

use std::path::Path;

use netsim_sweep::{SweepOptions, SweepReport, guarded, merge, run_seed, shrink, sweep, sweep_by};

fn scenario(name: &str) -> netsim_scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    netsim_scenario::load(&path).unwrap()
}

fn options(seeds: (u64, u64), jobs: usize) -> SweepOptions {
    SweepOptions {
        seeds,
        jobs,
        shard: None,
        stop_after: None,
        file: "scenarios/sweep_stale_data.ron".into(),
        version: "test".into(),
    }
}

fn run(s: &netsim_scenario::Scenario, o: &SweepOptions) -> SweepReport {
    sweep(s, o, |_, _| {}).unwrap()
}

#[test]
fn the_report_is_the_same_for_one_and_three_threads_and_finds_stale_data() {
    let s = scenario("sweep_stale_data.ron");
    let one = run(&s, &options((0, 600), 1));
    let three = run(&s, &options((0, 600), 3));
    assert_eq!(one.without_timing(), three.without_timing());
    assert_eq!(one.runs, 600);
    assert!(
        one.passed < one.runs,
        "some seeds of this scenario must fail"
    );
    assert_eq!(
        one.failures_by_kind.keys().collect::<Vec<_>>(),
        ["oracle: StaleData"]
    );
    let seeds: Vec<u64> = one.failing.iter().map(|f| f.seed).collect();
    let mut sorted = seeds.clone();
    sorted.sort();
    assert_eq!(seeds, sorted, "failing seeds are listed in seed order");
    let first = &one.failing[0];
    assert_eq!(
        first.replay,
        format!(
            "netsim run scenarios/sweep_stale_data.ron --seed {}",
            first.seed
        )
    );
    // The replay command reproduces the failure: the same run, the same verdict.
    assert_eq!(run_seed(&s, first.seed).failures, first.failures);
    // Repeating the sweep gives the same report.
    assert_eq!(
        run(&s, &options((0, 600), 2)).without_timing(),
        one.without_timing()
    );
}

#[test]
fn shards_merge_into_the_report_of_the_whole_range() {
    let s = scenario("sweep_stale_data.ron");
    let whole = run(&s, &options((100, 700), 2));
    let parts: Vec<SweepReport> = (1..=3)
        .map(|k| {
            let mut o = options((100, 700), 1);
            o.shard = Some((k, 3));
            run(&s, &o)
        })
        .collect();
    assert_eq!(parts.iter().map(|p| p.runs).sum::<u64>(), 600);
    // Through JSON, as batch jobs hand their reports over.
    let parts: Vec<SweepReport> = parts
        .iter()
        .map(|p| serde_json::from_str(&serde_json::to_string(p).unwrap()).unwrap())
        .collect();
    let merged = merge(&parts).unwrap();
    assert_eq!(merged.without_timing(), whole.without_timing());
    let e = merge(&parts[..2]).unwrap_err();
    assert!(
        e.contains("missing shards (2 of 3 given), first: [3]"),
        "{e}"
    );
    assert!(merge(&[parts[0].clone(), parts[0].clone(), parts[2].clone()]).is_err());

    // Reports read from files are checked before anything is folded: each edit below makes
    // one impossible, and merge names what is wrong (no panic, no hang).
    let edited = |edit: &dyn Fn(&mut SweepReport)| {
        let mut bad = parts.clone();
        edit(&mut bad[1]);
        merge(&bad).unwrap_err()
    };
    // (the edit, what the refusal must say)
    type Edit<'a> = &'a dyn Fn(&mut SweepReport);
    let cases: [(Edit, &str); 7] = [
        (
            &|p| p.stopped_after = Some(1),
            "a shard stopped early (--stop-after)",
        ),
        (
            &|p| p.shard = Some((7, 3)),
            "shard 7/3 is impossible for seeds 100..700",
        ),
        (&|p| p.shard = Some((0, 3)), "shard 0/3 is impossible"),
        (
            &|p| p.passed = p.runs + 1,
            "shard 2/3 says 201 passed of 200 runs",
        ),
        (
            &|p| p.runs += 1,
            "shard 2/3 covers seeds 300..500 (200 runs) but reports 201 runs",
        ),
        (
            &|p| p.shard = Some((2, 1_000_000_000_000_000)),
            "impossible for seeds 100..700",
        ),
        (
            &|p| p.passed = p.runs,
            "shard 2/3 lists more failures than its 0 failed runs",
        ),
    ];
    for (edit, says) in cases {
        let e = edited(edit);
        assert!(e.contains(says), "{e}");
    }
    // A trillion missing shards are named by the first ten, without walking them all.
    let mut big = parts[0].clone();
    big.seeds = (0, 1_000_000_000_000);
    big.shard = Some((1, 1_000_000_000_000));
    big.runs = 1;
    big.passed = 1;
    big.failing.clear();
    big.failures_by_kind.clear();
    let e = merge(&[big]).unwrap_err();
    assert!(e.contains("first: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]"), "{e}");
}

#[test]
fn shrinking_keeps_the_failure_with_no_more_faults() {
    let s = scenario("sweep_stale_data.ron");
    let report = run(&s, &options((0, 600), 2));
    let total = s.compiled.randomize.len();
    for failing in report.failing.iter().take(5) {
        let (text, left) = shrink(&s, failing.seed);
        assert!(left <= total && left >= 1, "{left} of {total}");
        assert!(text.contains("reorder"), "{text}");
        // The shrunk schedule still fails the same way: rebuild its mask from the text's
        // knobs and rerun.
        let enabled: Vec<bool> = s
            .compiled
            .randomize
            .iter()
            .map(|item| match item {
                netsim_scenario::randomize::RandomItem::Link { knob, .. } => {
                    let name = format!("{knob:?}").to_lowercase();
                    let field = match name.as_str() {
                        "reorderdelay" => "reorder_delay".to_string(),
                        other => other.to_string(),
                    };
                    text.contains(&format!("{field}: "))
                }
                _ => true,
            })
            .collect();
        assert_eq!(enabled.iter().filter(|e| **e).count(), left);
        let again = s
            .run_with(failing.seed, &enabled, netsim_engine::NullSink)
            .unwrap()
            .0;
        let kinds: Vec<String> = again.failures().map(|c| c.kind.clone()).collect();
        assert_eq!(kinds, failing.failures);
    }
}

#[test]
fn a_panicking_seed_is_a_reported_failure_and_the_sweep_goes_on() {
    let s = scenario("lost_final_ack.ron");
    let report = sweep_by(
        &s,
        &options((0, 50), 2),
        |seed| {
            guarded(seed, || {
                if seed == 7 {
                    panic!("injected fault in the model");
                }
                s.run(seed, netsim_engine::NullSink).map(|(r, _)| r)
            })
        },
        |_, _| {},
    )
    .unwrap();
    assert_eq!(report.runs, 50);
    assert_eq!(report.passed, 49);
    assert_eq!(report.failing.len(), 1);
    assert_eq!(report.failing[0].seed, 7);
    assert_eq!(
        report.failing[0].failures,
        ["panic: injected fault in the model"]
    );
}

#[test]
fn stop_after_stops_at_the_same_seed_whatever_the_threads() {
    let s = scenario("sweep_stale_data.ron");
    let mut o = options((0, 2000), 1);
    o.stop_after = Some(3);
    let one = run(&s, &o);
    o.jobs = 3;
    let three = run(&s, &o);
    assert_eq!(one.without_timing(), three.without_timing());
    assert_eq!(one.failing.len(), 3);
    assert_eq!(one.stopped_after, Some(one.failing[2].seed));
    assert_eq!(one.runs, one.failing[2].seed + 1);
}

#[test]
fn a_runaway_seed_is_stopped_by_the_event_cap() {
    let mut s = scenario("bulk_transfer_lossy.ron");
    s.compiled.limits.max_events = 500;
    let r = run_seed(&s, 1);
    assert_eq!(r.failures, ["run stopped: event cap"]);
}
