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
        jobs,
        ..SweepOptions::new(seeds, "scenarios/sweep_stale_data.ron", "test")
    }
}

fn run(s: &netsim_scenario::Scenario, o: &SweepOptions) -> SweepReport {
    sweep(s, o, |_| {}).unwrap()
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
    // Old segments do their damage three ways (see the scenario's comment): stale data, a
    // reset, a hang. Nothing else fails.
    assert!(one.failures_by_kind.contains_key("oracle: StaleData"));
    for kind in one.failures_by_kind.keys() {
        assert!(
            kind == "oracle: StaleData"
                || kind.starts_with("applications: unexpected errors (")
                    && kind.contains("ECONNRESET")
                    && !kind.contains("EADDRNOTAVAIL")
                || kind.starts_with("applications: tasks did not reach their end ("),
            "{kind}"
        );
    }
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
    let cases: [(Edit, &str); 13] = [
        (
            &|p| p.scenario_hash = "0123456789abcdef".into(),
            "reports of different scenario files",
        ),
        (
            &|p| p.version = "netsim 0.0.1 (commit other)".into(),
            "reports of different netsim builds",
        ),
        (
            &|p| p.done.1 -= 1,
            "shard 2/3 ran only seeds 300..499 of 300..500 but is not marked interrupted",
        ),
        (
            &|p| p.done.0 += 1,
            "shard 2/3 says it ran seeds 301..500, which is not the start of its range 300..500",
        ),
        (
            &|p| p.failing.reverse(),
            "shard 2/3 lists failing seeds out of order or outside 300..500",
        ),
        (
            &|p| {
                p.hashes.insert("not hex".into());
            },
            "shard 2/3 has an impossible set of trace hashes",
        ),
        (
            &|p| p.stopped_after = Some(1),
            "shard 2/3 stopped early (--stop-after)",
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
    big.done = (0, 1);
    big.runs = 1;
    big.passed = 1;
    big.hashes.clear();
    big.failing.clear();
    big.failures_by_kind.clear();
    let e = merge(&[big]).unwrap_err();
    assert!(e.contains("first: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]"), "{e}");
}

/// Runs of a sweep whose every third seed fails (no TCP: the verdict is all that matters).
fn every_third_fails(seed: u64) -> netsim_sweep::SeedResult {
    netsim_sweep::SeedResult {
        seed,
        failures: if seed % 3 == 0 {
            vec!["oracle: made up".into()]
        } else {
            Vec::new()
        },
        hash: netsim_core::hash::hash_str(&(seed % 50).to_string()),
        final_states: vec![("a CLOSED".into(), 1)],
        errors: Vec::new(),
    }
}

#[test]
fn a_report_keeps_the_first_failing_seeds_and_counts_the_rest_and_shards_agree() {
    let s = scenario("lost_final_ack.ron");
    let by = |o: &SweepOptions| sweep_by(&s, o, every_third_fails, |_| {}).unwrap();
    let whole = by(&options((0, 3000), 2));
    assert_eq!((whole.runs, whole.failed()), (3000, 1000));
    assert_eq!(whole.failing.len(), netsim_sweep::KEPT_FAILING);
    assert_eq!(whole.failing.last().unwrap().seed, 297);
    assert_eq!(whole.failures_by_kind["oracle: made up"], 1000);
    assert_eq!(whole.final_states["a CLOSED"], 3000);
    assert_eq!(whole.distinct_hashes(), (50, true));
    assert!(
        whole
            .text(20)
            .contains("failing seeds (first 20 of 1000, in seed order):"),
        "{}",
        whole.text(20)
    );
    let parts: Vec<SweepReport> = (1..=7)
        .map(|k| {
            let mut o = options((0, 3000), 1);
            o.shard = Some((k, 7));
            by(&o)
        })
        .collect();
    assert_eq!(
        merge(&parts).unwrap().without_timing(),
        whole.without_timing()
    );
    // A report that lists fewer failing seeds than it failed, short of the kept number, has
    // lost some.
    let mut short = parts.clone();
    short[3].failing.pop();
    let e = merge(&short).unwrap_err();
    assert!(
        e.contains("lists 99 of its 143 failing seeds; a report keeps the first 100"),
        "{e}"
    );
}

#[test]
fn an_interrupted_sweep_reports_what_it_finished_and_the_rest_resumes_it() {
    let s = scenario("sweep_stale_data.ron");
    let o = options((0, 2000), 1);
    let interrupt = o.interrupt.clone();
    let partial = sweep_by(
        &s,
        &o,
        |seed| {
            if seed == 300 {
                interrupt.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            run_seed(&s, seed)
        },
        |_| {},
    )
    .unwrap();
    assert!(partial.interrupted);
    let (from, to) = partial.done;
    assert_eq!(from, 0);
    assert!((301..2000).contains(&to), "{to}");
    assert_eq!(partial.runs, to);
    let text = partial.text(5);
    assert!(
        text.contains(&format!(
            "INTERRUPTED: partial report of seeds 0..{to}; resume with --seeds {to}..2000"
        )),
        "{text}"
    );
    // Alone it cannot stand for the whole range it was asked for.
    let e = merge(std::slice::from_ref(&partial)).unwrap_err();
    assert!(
        e.contains(&format!(
            "seeds {to}..2000 are missing (asked for by a report of seeds 0..2000)"
        )),
        "{e}"
    );
    let rest = run(&s, &options((to, 2000), 2));
    let whole = run(&s, &options((0, 2000), 2));
    let merged = merge(&[rest.clone(), partial.clone()]).unwrap();
    assert_eq!(merged.without_timing(), whole.without_timing());
    // Adjacent plain ranges merge; a gap or an overlap is named.
    let a = run(&s, &options((0, 100), 1));
    let b = run(&s, &options((100, 250), 1));
    let c = run(&s, &options((300, 400), 1));
    assert_eq!(
        merge(&[a.clone(), b.clone()]).unwrap().without_timing(),
        run(&s, &options((0, 250), 1)).without_timing()
    );
    let e = merge(&[a.clone(), c]).unwrap_err();
    assert!(e.contains("seeds 100..300 are missing"), "{e}");
    let e = merge(&[a, merged]).unwrap_err();
    assert!(e.contains("seeds 0..100 are in two reports"), "{e}");
    // Interrupted before the first seed: nothing run, and nothing to merge.
    let o = options((0, 50), 2);
    o.interrupt
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let none = run(&s, &o);
    assert!(none.interrupted);
    assert_eq!((none.runs, none.done), (0, (0, 0)));
    assert!(
        merge(&[none])
            .unwrap_err()
            .contains("no report ran any seed")
    );
}

#[test]
fn progress_is_counted_per_seed_and_ends_at_the_total() {
    let s = scenario("lost_final_ack.ron");
    let seen = std::sync::Mutex::new(Vec::new());
    sweep_by(
        &s,
        &options((0, 60), 2),
        |seed| {
            // Slow enough that the ticker reports while the sweep runs.
            std::thread::sleep(std::time::Duration::from_millis(10));
            every_third_fails(seed)
        },
        |p| seen.lock().unwrap().push(p),
    )
    .unwrap();
    let seen = seen.into_inner().unwrap();
    let last = *seen.last().unwrap();
    assert_eq!((last.done, last.failed, last.total), (60, 20, 60));
    assert!(seen.len() >= 2, "a tick while running, and one at the end");
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
    assert!(seen.iter().any(|p| p.done > 0 && p.done < 60), "{seen:?}");
}

#[test]
fn shrinking_keeps_the_failure_with_no_more_faults() {
    let s = scenario("sweep_stale_data.ron");
    let report = run(&s, &options((0, 600), 2));
    let total = s.compiled.randomize.len();
    for failing in report.failing.iter().take(5) {
        let shrunk = shrink(&s, failing.seed);
        let (text, left) = (shrunk.schedule, shrunk.left);
        assert!(left <= total && left >= 1, "{left} of {total}");
        assert!(text.contains("reorder"), "{text}");
        // The shrunk schedule still fails the same way: its mask, as the text's knobs show
        // it, is the one returned, and rerun it fails alike.
        let from_text: Vec<bool> = s
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
        assert_eq!(from_text, shrunk.enabled);
        let enabled = shrunk.enabled;
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
        |_| {},
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

/// A sweep judges each seed with `Scenario::verdict`, which leaves passing checks without
/// words: it must pass and fail exactly the runs the full run does, with the same failing
/// checks, kinds and texts alike.
#[test]
fn a_verdict_fails_what_the_full_run_fails_with_the_same_words() {
    let s = scenario("sweep_stale_data.ron");
    let all = vec![true; s.compiled.randomize.len()];
    let mut failing = 0;
    for seed in 0..300 {
        let full = s.run(seed, netsim_engine::NullSink).unwrap().0;
        let quick = s.verdict(seed, &all).unwrap();
        assert_eq!(full.passed(), quick.passed(), "seed {seed}");
        assert_eq!(
            full.outcome.trace_hash, quick.outcome.trace_hash,
            "seed {seed}"
        );
        let words = |r: &netsim_scenario::Report| -> Vec<(String, String)> {
            r.failures()
                .map(|c| (c.kind.clone(), c.text.clone()))
                .collect()
        };
        assert_eq!(words(&full), words(&quick), "seed {seed}");
        assert!(quick.checks.iter().all(|c| !c.passed || c.text.is_empty()));
        failing += usize::from(!full.passed());
    }
    assert!(failing > 5, "the range must hold failing seeds: {failing}");
}
