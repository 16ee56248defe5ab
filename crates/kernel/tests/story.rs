//! Catalogue stories on the real kernel, compared with the model connection by connection
//! (`netsim_kernel::compare_scenario`, what `netsim kernel` prints). Needs root, iproute2 and
//! /dev/net/tun, as CI has.
//!
//! Which stories run here is written in each scenario file (`kernel: Same("1s")`), the same
//! field `netsim list` shows, so the list, the docs' table and CI cannot drift apart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use netsim_scenario::KernelDef;

fn catalogue() -> Vec<(PathBuf, netsim_scenario::Scenario)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let s = netsim_scenario::load(&p).unwrap();
            (p, s)
        })
        .collect()
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Every story marked `Same`: every connection's segments (relative numbers, flags but PSH,
/// lengths, which options) at the same times within the tolerance, the same application
/// errors, the same injections and `Sent` verdicts, over the story's horizon.
#[test]
fn catalogue_stories_marked_same_compare_the_same_on_the_kernel() {
    let mut different = Vec::new();
    let mut ran = 0;
    for (path, scenario) in catalogue() {
        let Some(KernelDef::Same(until)) = &scenario.file.kernel else {
            continue;
        };
        let horizon = Duration::from_nanos(until.0.as_nanos());
        // The kernel's side runs in real time on a shared machine: a timer a few ms late
        // (a delayed ACK at 54 ms, not 48) or a thread scheduled late is not the model's
        // fault. A story gets three attempts; a real difference fails all three, and the
        // retries are printed.
        let mut attempts = 0;
        let c = loop {
            attempts += 1;
            let c = netsim_kernel::compare_scenario(&scenario, scenario.file.seed, horizon)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if c.same() || attempts == 3 {
                break c;
            }
        };
        if attempts > 1 {
            println!("{}: {attempts} attempts", stem(&path));
        }
        ran += 1;
        if !c.same() {
            let differing: Vec<_> = c
                .connections
                .iter()
                .filter(|v| !matches!(v, netsim_kernel::compare::Verdict::Same { .. }))
                .collect();
            different.push(format!(
                "{}: {:#?}\nstates: {:#?}\nsent: {:#?}\ninjections: {:?}\nerrors: {:?}",
                stem(&path),
                differing,
                c.paths.iter().filter(|p| !p.same).collect::<Vec<_>>(),
                c.sent,
                c.injections,
                c.errors
            ));
        }
    }
    assert!(
        ran >= 12,
        "only {ran} stories are marked to compare the same"
    );
    assert!(different.is_empty(), "{}", different.join("\n"));
}

/// docs/kernel-comparison.md has a row for every story, and its verdict agrees with the
/// story's `kernel` field (SAME (CI) exactly for the `Same` ones; refused exactly for those
/// the plan refuses).
#[test]
fn the_docs_table_agrees_with_the_scenario_files() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/kernel-comparison.md"),
    )
    .unwrap();
    let mut wrong = Vec::new();
    for (path, scenario) in catalogue() {
        let name = stem(&path);
        let Some(row) = docs.lines().find(|l| {
            l.starts_with('|')
                && l.split('|')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|n| n.trim() == name))
        }) else {
            wrong.push(format!("{name}: no row"));
            continue;
        };
        let verdict = row.split('|').nth(2).unwrap_or("").trim();
        let refused = netsim_kernel::plan::plan(&scenario).is_err();
        let ok = match &scenario.file.kernel {
            Some(KernelDef::Same(_)) => verdict.starts_with("SAME (CI"),
            Some(KernelDef::Differs(_)) => verdict.starts_with("DIFFERENT"),
            Some(KernelDef::NotInCi(_)) => verdict.starts_with("SAME") && !verdict.contains("(CI"),
            None if refused => verdict == "refused",
            None => false,
        };
        if !ok {
            wrong.push(format!("{name}: docs say `{verdict}`"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
