//! Scenario files written back: every file of the catalogue reads back from its RON text to
//! the same compiled scenario, and a seed's drawn faults pinned into a file of their own
//! replay that seed's run exactly.

use std::path::{Path, PathBuf};

use netsim_engine::NullSink;

fn catalogue() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    files
}

fn scenario(name: &str) -> netsim_scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    netsim_scenario::load(&path).expect("a catalogue file")
}

#[test]
fn every_catalogue_file_reads_back_from_its_ron_text_unchanged() {
    let files = catalogue();
    assert!(files.len() >= 30);
    for path in files {
        let original = netsim_scenario::load(&path).unwrap();
        let text = netsim_scenario::to_ron(&original.file);
        let again = netsim_scenario::parse(&text, "written.ron").unwrap_or_else(|e| {
            panic!(
                "{}: its text does not read back: {e}\n{text}",
                path.display()
            )
        });
        // Debug shows every compiled value: topology, programs, settings, expectations.
        assert_eq!(
            format!("{:?}", again.compiled),
            format!("{:?}", original.compiled),
            "{}: the written file compiles differently:\n{text}",
            path.display()
        );
        // And the text is stable: written again, it is the same.
        assert_eq!(
            netsim_scenario::to_ron(&again.file),
            text,
            "{}",
            path.display()
        );
    }
}

/// A run's trace hash and failure kinds.
type Ran = (u64, Vec<String>);

/// The run of `seed` with `enabled` randomised faults, and of its pinned file (and its text).
fn both_runs(s: &netsim_scenario::Scenario, seed: u64, enabled: &[bool]) -> (Ran, Ran, String) {
    let text = s.pinned(seed, enabled, "pinned", "a pinned seed");
    let pinned = netsim_scenario::parse(&text, "pinned.ron")
        .unwrap_or_else(|e| panic!("seed {seed}: the pinned file does not read: {e}\n{text}"));
    assert!(pinned.file.randomize.is_none());
    assert_eq!(pinned.file.seed, seed);
    let fold = |r: netsim_scenario::Report| {
        let kinds = r.failures().map(|c| c.kind.clone()).collect();
        (r.outcome.trace_hash, kinds)
    };
    let (a, _) = s.run_with(seed, enabled, NullSink).unwrap();
    let (b, _) = pinned.run(seed, NullSink).unwrap();
    (fold(a), fold(b), text)
}

#[test]
fn a_pinned_seed_replays_its_run_exactly() {
    let s = scenario("sweep_stale_data.ron");
    let n = s.compiled.randomize.len();
    assert!(n >= 4, "the file randomises four knobs");
    let mut failing = 0;
    for seed in 0..40 {
        let (a, b, text) = both_runs(&s, seed, &vec![true; n]);
        assert_eq!(
            a, b,
            "seed {seed}: the pinned file runs differently:\n{text}"
        );
        failing += usize::from(!a.1.is_empty());
    }
    assert!(
        failing > 0,
        "no seed of 40 failed: the test shows nothing about failures"
    );
    // Some knobs turned off, as shrinking leaves them: the reorder probability without its
    // delay (cleared by the draw), and the delay alone.
    for enabled in [
        [true, false, true, false],
        [false, false, false, true],
        [false; 4],
    ] {
        for seed in 0..10 {
            let (a, b, text) = both_runs(&s, seed, &enabled);
            assert_eq!(a, b, "seed {seed}, {enabled:?}:\n{text}");
        }
    }
}

#[test]
fn a_pinned_crash_replays_at_its_drawn_time() {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/sweep_stale_data.ron"),
    )
    .unwrap()
    .replace(
        "    randomize: (\n",
        "    randomize: (\n        crash: Crash(host: \"server\", between: (\"50ms\", \"500ms\"), down_for: (\"10ms\", \"200ms\")),\n",
    );
    let s = netsim_scenario::parse(&src, "crash.ron").unwrap();
    assert_eq!(s.compiled.randomize.len(), 5);
    for seed in 0..10 {
        let (a, b, text) = both_runs(&s, seed, &[true; 5]);
        assert!(
            text.contains("Crash(") && text.contains("Restart("),
            "{text}"
        );
        assert_eq!(a, b, "seed {seed}:\n{text}");
    }
}
