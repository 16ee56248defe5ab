//! Every scenario of the catalogue (`scenarios/*.ron`) runs with its own seed, passes every
//! expectation and oracle, and matches its reviewed snapshot in `scenarios/snapshots/` (named
//! after the file), through the same code as `netsim test scenarios`. Adding a
//! scenario file adds a case here with no code change. Every failing or changed scenario is
//! reported in one run, with its diff; outside CI (and unless `INSTA_UPDATE=no`) the new
//! snapshot is written beside the old as `NAME.snap.new`, for `cargo insta review` or
//! `netsim test scenarios --accept`.

use std::path::Path;

use netsim_suite::{Options, Verdict};

#[test]
fn every_scenario_passes_and_matches_its_snapshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cases =
        netsim_suite::collect(&[root.join("scenarios")], None).expect("the catalogue is there");
    assert!(
        cases.len() >= 30,
        "the catalogue lost files: {}",
        cases.len()
    );
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = Options::from_env(false, jobs);
    let outcomes = netsim_suite::run(&cases, &options, |_| {}).expect("threads start");
    assert_eq!(outcomes.len(), cases.len());
    let mut wrong = String::new();
    for o in &outcomes {
        // The catalogue holds no known failures and no unreviewed files: only Passed counts.
        if o.verdict == Verdict::Passed {
            continue;
        }
        wrong.push_str(&format!(
            "\n{} {}",
            o.verdict.label(),
            o.case.scenario.display()
        ));
        if let Some(e) = &o.error {
            wrong.push_str(&format!(": {e}"));
        }
        if o.checks_passed == Some(false) {
            wrong.push_str(&format!("\n{}", o.summary));
        }
        if let Some(diff) = &o.diff {
            wrong.push_str(&format!("\n{diff}"));
        }
        if let Some(p) = &o.pending {
            wrong.push_str(&format!("\n(the new snapshot is in {})", p.display()));
        }
    }
    assert!(wrong.is_empty(), "scenarios that fail or changed:{wrong}");
}
