//! Scenario folders as regression tests: `netsim test` and the catalogue's own snapshot test.
//!
//! Each scenario file is a case: it runs with its own seed, its expectations and oracles are
//! checked, and its trace (in the [`form`] the catalogue uses) with its summary is compared
//! with a stored snapshot in insta's format ([`snap`]). Every case is run and reported, in the
//! order given, whatever the number of threads:
//!
//! | the run | the snapshot | verdict | fails the suite |
//! |---|---|---|---|
//! | passes | the same | [`Verdict::Passed`] | no |
//! | fails its checks | the same (it records the failure) | [`Verdict::KnownFailure`] | no |
//! | passes | none yet | [`Verdict::New`] | only under CI |
//! | passes | differs | [`Verdict::Changed`] | yes |
//! | fails its checks | none, or differs | [`Verdict::Failed`] | yes |
//! | does not load or run | — | [`Verdict::Error`] | yes |
//!
//! A new or changed snapshot is written beside the old as `NAME.snap.new` for review (not
//! under CI), and a stale `.snap.new` of a case that matches again is removed. With
//! [`Options::accept`], the run's snapshot replaces the old ([`Verdict::Accepted`]): that is
//! also how a scenario that reproduces a failure (`netsim sweep --emit`) becomes a regression
//! test: its snapshot records the failure, and the suite fails when the behaviour changes.
//! Every file is written whole or not at all ([`mod@file`]).

pub mod file;
pub mod form;
pub mod snap;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

/// What `netsim test` writes in a snapshot's `source:` field.
pub const SOURCE: &str = "netsim test";

/// Prefix of the names of the threads that run cases.
pub const THREAD_PREFIX: &str = "netsim-test";

/// Lines of a unified diff shown for one case before the rest is cut.
pub const DIFF_LINES: usize = 400;

/// One scenario file and where its snapshot lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Its snapshot: `NAME.snap` in the snapshot directory.
    pub snapshot: PathBuf,
}

/// The cases named by `paths`: a directory gives its `*.ron` files (not those of its
/// subdirectories), a file itself. Snapshots go to `snapshots` when given, otherwise to a
/// `snapshots/` directory beside each scenario file; each is named after its scenario
/// (`lost_final_ack.ron` -> `lost_final_ack.snap`). Two scenarios that would share a snapshot,
/// an empty directory or a missing path are errors.
pub fn collect(paths: &[PathBuf], snapshots: Option<&Path>) -> Result<Vec<Case>, String> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            found.retain(|p| p.extension().is_some_and(|x| x == "ron") && p.is_file());
            if found.is_empty() {
                return Err(format!(
                    "{}: no scenario files (*.ron) in this directory",
                    path.display()
                ));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut cases: Vec<Case> = Vec::new();
    let mut owners: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for scenario in files {
        if cases.iter().any(|c| c.scenario == scenario) {
            continue; // named twice
        }
        let stem = scenario
            .file_stem()
            .ok_or_else(|| format!("{}: not a file name", scenario.display()))?;
        let dir = match snapshots {
            Some(dir) => dir.to_path_buf(),
            None => scenario
                .parent()
                .unwrap_or_else(|| Path::new(""))
                .join("snapshots"),
        };
        let mut name = stem.to_os_string();
        name.push(".snap");
        let snapshot = dir.join(name);
        if let Some(other) = owners.insert(snapshot.clone(), scenario.clone()) {
            return Err(format!(
                "{} and {} would share the snapshot {}: rename one",
                other.display(),
                scenario.display(),
                snapshot.display()
            ));
        }
        cases.push(Case { scenario, snapshot });
    }
    Ok(cases)
}

/// How a suite runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Replace each differing or missing snapshot with the run's.
    pub accept: bool,
    /// A missing snapshot fails the suite (as under `CI=true`).
    pub ci: bool,
    /// Write `NAME.snap.new` beside a differing or missing snapshot, for review.
    pub write_pending: bool,
    /// Threads.
    pub jobs: usize,
}

impl Options {
    /// Options for this environment: under `CI` (set and not `false` or `0`) a missing
    /// snapshot fails and nothing is written; elsewhere pending snapshots are written, unless
    /// `INSTA_UPDATE=no`, as insta does.
    pub fn from_env(accept: bool, jobs: usize) -> Options {
        let set = |name: &str, off: &[&str]| {
            std::env::var(name).is_ok_and(|v| !v.is_empty() && !off.contains(&v.as_str()))
        };
        let ci = set("CI", &["false", "0"]);
        let no_update = std::env::var("INSTA_UPDATE").is_ok_and(|v| v == "no");
        Options {
            accept,
            ci,
            write_pending: !ci && !no_update,
            jobs,
        }
    }
}

/// What became of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Its checks passed and its snapshot is the same.
    Passed,
    /// Its checks fail, exactly as its accepted snapshot records.
    KnownFailure,
    /// Its checks passed; it has no snapshot yet.
    New,
    /// Its checks passed; its snapshot differs.
    Changed,
    /// Its checks fail, and its snapshot (if any) does not record that run.
    Failed,
    /// Its snapshot was missing or differed and was replaced (`accept`).
    Accepted,
    /// It did not load or run, or its snapshot could not be read or written.
    Error,
}

impl Verdict {
    /// Whether this verdict fails the suite.
    pub fn fails(self, options: &Options) -> bool {
        match self {
            Verdict::Passed | Verdict::KnownFailure | Verdict::Accepted => false,
            Verdict::New => options.ci,
            Verdict::Changed | Verdict::Failed | Verdict::Error => true,
        }
    }

    /// A short word for reports.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "ok",
            Verdict::KnownFailure => "known failure",
            Verdict::New => "NEW",
            Verdict::Changed => "CHANGED",
            Verdict::Failed => "FAILED",
            Verdict::Accepted => "accepted",
            Verdict::Error => "ERROR",
        }
    }
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub case: Case,
    pub verdict: Verdict,
    /// Whether the run's checks passed (`None` when it did not run).
    pub checks_passed: Option<bool>,
    /// The run's summary, as `netsim run` prints it (empty when it did not run).
    pub summary: String,
    /// The unified diff from the stored snapshot to this run, cut at [`DIFF_LINES`].
    pub diff: Option<String>,
    /// Where the run's snapshot was written for review.
    pub pending: Option<PathBuf>,
    /// Why it did not load or run.
    pub error: Option<String>,
}

/// Runs every case on `options.jobs` threads and calls `each` with each outcome in the order of
/// `cases`, as soon as it and those before it are done; returns them all in that order.
pub fn run(
    cases: &[Case],
    options: &Options,
    mut each: impl FnMut(&Outcome),
) -> Result<Vec<Outcome>, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.max(1))
        .thread_name(|i| format!("{THREAD_PREFIX}-{i}"))
        .build()
        .map_err(|e| format!("cannot start {} threads: {e}", options.jobs))?;
    let mut done: Vec<Option<Outcome>> = vec![None; cases.len()];
    let mut next = 0;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        s.spawn(move || {
            pool.install(|| {
                cases
                    .par_iter()
                    .enumerate()
                    .for_each_with(tx, |tx, (i, case)| {
                        let _ = tx.send((i, check_guarded(case, options)));
                    });
            });
        });
        for (i, outcome) in rx {
            done[i] = Some(outcome);
            while let Some(Some(outcome)) = done.get(next) {
                each(outcome);
                next += 1;
            }
        }
    });
    Ok(done.into_iter().flatten().collect())
}

/// [`check`], with a panic inside the model reported as the case's error.
fn check_guarded(case: &Case, options: &Options) -> Outcome {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case, options))).unwrap_or_else(
        |panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with no message".into());
            errored(case, format!("netsim panicked running it: {message}"))
        },
    )
}

fn errored(case: &Case, error: String) -> Outcome {
    Outcome {
        case: case.clone(),
        verdict: Verdict::Error,
        checks_passed: None,
        summary: String::new(),
        diff: None,
        pending: None,
        error: Some(error),
    }
}

/// Runs one case and settles its snapshot.
pub fn check(case: &Case, options: &Options) -> Outcome {
    let scenario = match netsim_scenario::load(&case.scenario) {
        Ok(s) => s,
        Err(e) => return errored(case, e.to_string()),
    };
    let seed = scenario.file.seed;
    let form::Snapshot {
        report,
        summary,
        text,
    } = match form::snapshot(&scenario, seed) {
        Ok(r) => r,
        Err(e) => return errored(case, format!("{}: {e}", case.scenario.display())),
    };
    let passed = report.passed();
    let new = snap::normalize(&text);
    let old = match snap::read(&case.snapshot) {
        Ok(old) => old.map(|old| snap::normalize(&old)),
        Err(e) => return errored(case, e),
    };
    let pending = snap::pending_path(&case.snapshot);
    let mut outcome = Outcome {
        case: case.clone(),
        verdict: Verdict::Passed,
        checks_passed: Some(passed),
        summary,
        diff: None,
        pending: None,
        error: None,
    };
    let written = |path: &Path| -> Result<(), String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let description = format!("netsim run {}", case.scenario.display());
        file::write_atomic(path, &snap::render(SOURCE, &description, &new))
    };
    if old.as_deref() == Some(new.as_str()) {
        remove_stale(&pending);
        outcome.verdict = if passed {
            Verdict::Passed
        } else {
            Verdict::KnownFailure
        };
        return outcome;
    }
    outcome.diff = old
        .as_deref()
        .map(|old| unified_diff(old, &new, &case.snapshot.display().to_string()));
    if options.accept {
        if let Err(e) = written(&case.snapshot) {
            return errored(case, e);
        }
        remove_stale(&pending);
        outcome.verdict = Verdict::Accepted;
        return outcome;
    }
    if options.write_pending {
        if let Err(e) = written(&pending) {
            return errored(case, e);
        }
        outcome.pending = Some(pending);
    }
    outcome.verdict = match (passed, old.is_some()) {
        (false, _) => Verdict::Failed,
        (true, false) => Verdict::New,
        (true, true) => Verdict::Changed,
    };
    outcome
}

/// Removes a `.snap.new` left from an earlier run (if any).
fn remove_stale(pending: &Path) {
    let _ = std::fs::remove_file(pending);
}

/// The unified diff from `old` (the stored snapshot at `name`) to `new`, three lines of
/// context, cut after [`DIFF_LINES`] lines with a note of how many more there were.
pub fn unified_diff(old: &str, new: &str, name: &str) -> String {
    let (old, new) = (format!("{old}\n"), format!("{new}\n"));
    let diff = similar::TextDiff::from_lines(&old, &new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(name, "this run")
        .missing_newline_hint(false)
        .to_string();
    let total = text.lines().count();
    if total <= DIFF_LINES {
        return text;
    }
    let mut cut: String = text
        .split_inclusive('\n')
        .take(DIFF_LINES)
        .collect::<String>();
    cut.push_str(&format!(
        "… {} more lines of diff (the whole run is in the pending snapshot)\n",
        total - DIFF_LINES
    ));
    cut
}
