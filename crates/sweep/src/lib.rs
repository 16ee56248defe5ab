//! Seed sweeps: one compiled scenario run under a range of seeds on a pool of threads, each
//! run checked by the scenario's oracles and expectations, folded into a [`SweepReport`] that
//! is the same whatever the number of threads (results are ordered by seed, never by arrival).
//! Shards of a range give reports that [`merge`] folds back into the report of the whole range.
//! [`shrink`] turns off the randomised faults of a failing seed one at a time while it keeps
//! failing the same way.
//!
//! Nothing here renders traces: runs use a null sink (the trace hash is still computed).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use netsim_engine::NullSink;
use netsim_scenario::Scenario;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// While alive, panics print nothing: a panicking run is caught and reported as a failure of
/// its seed, and its default message on stderr would only interleave with the report.
struct Silence(Option<PanicHook>);

/// What `std::panic::take_hook` gives back.
type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

impl Silence {
    fn new() -> Silence {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        Silence(Some(previous))
    }
}

impl Drop for Silence {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            std::panic::set_hook(previous);
        }
    }
}

/// What one seed gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Kinds of the checks that failed (empty: passed). A panic or a cap is a kind too.
    pub failures: Vec<String>,
    /// Trace hash of the run (0 if it did not finish).
    pub hash: u64,
    /// Sockets per (host, state) at the end, nonzero only.
    pub final_states: Vec<(String, u64)>,
    /// Errors applications saw, per (host, errno).
    pub errors: Vec<(String, u64)>,
}

/// Runs one seed; a panic or a runaway run is reported as a failure of that seed.
pub fn run_seed(scenario: &Scenario, seed: u64) -> SeedResult {
    guarded(seed, || {
        scenario.run(seed, NullSink).map(|(report, _)| report)
    })
}

/// Turns one run into a [`SeedResult`], catching a panic as a failure of the seed.
pub fn guarded(
    seed: u64,
    run: impl FnOnce() -> Result<netsim_scenario::Report, netsim_engine::RunError>,
) -> SeedResult {
    let outcome = catch_unwind(AssertUnwindSafe(run));
    let mut result = SeedResult {
        seed,
        failures: Vec::new(),
        hash: 0,
        final_states: Vec::new(),
        errors: Vec::new(),
    };
    match outcome {
        Ok(Ok(report)) => {
            result.hash = report.outcome.trace_hash;
            result.failures = report.failures().map(|c| c.kind.clone()).collect();
            for h in &report.hosts {
                for state in netsim_tcp::State::ALL {
                    let n = h.at_end[state as usize];
                    if n > 0 {
                        result
                            .final_states
                            .push((format!("{} {}", h.name, state.name()), u64::from(n)));
                    }
                }
                for (errno, n) in &h.app.errors {
                    result
                        .errors
                        .push((format!("{} {}", h.name, errno.name()), *n));
                }
            }
        }
        Ok(Err(e)) => result.failures.push(match e {
            netsim_engine::RunError::EventCap { .. } => "run stopped: event cap".to_string(),
            netsim_engine::RunError::TimeCap { .. } => "run stopped: time cap".to_string(),
        }),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "(no message)".into());
            result.failures.push(format!("panic: {message}"));
        }
    }
    result
}

/// A failing seed, with how to replay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingSeed {
    /// The seed.
    pub seed: u64,
    /// What failed.
    pub failures: Vec<String>,
    /// The command that replays it with the full trace.
    pub replay: String,
    /// The randomised fault schedule it drew.
    pub schedule: String,
    /// The smallest schedule that still fails the same way, if shrinking was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<String>,
}

/// The aggregate of a sweep. Everything but `timing` is a function of (scenario, model, seeds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file as given.
    pub file: String,
    /// netsim version and commit that produced it: a seed replays exactly only with the same
    /// model.
    pub version: String,
    /// The whole seed range, `[start, end)`.
    pub seeds: (u64, u64),
    /// Which shard this is (`K` of `N`), or `None` for a whole range or a merge.
    pub shard: Option<(u64, u64)>,
    /// Runs done.
    pub runs: u64,
    /// Runs that passed.
    pub passed: u64,
    /// Failing runs per failure kind.
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Sockets left per "host STATE", summed over runs.
    pub final_states: BTreeMap<String, u64>,
    /// Errors seen per "host ERRNO", summed over runs.
    pub errors: BTreeMap<String, u64>,
    /// Every distinct trace hash (hex).
    pub hashes: BTreeSet<String>,
    /// Every failing seed, in seed order.
    pub failing: Vec<FailingSeed>,
    /// With `--stop-after`: the sweep stopped after this seed.
    pub stopped_after: Option<u64>,
    /// Wall time and rate (differ between runs; not part of the comparison).
    pub timing: Timing,
}

/// How long a sweep took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Timing {
    /// Wall seconds.
    pub wall_seconds: f64,
    /// Threads used.
    pub jobs: usize,
}

/// What to sweep and how.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// The whole range, `[start, end)`.
    pub seeds: (u64, u64),
    /// Threads.
    pub jobs: usize,
    /// Run only shard `K` of `N` (1-based).
    pub shard: Option<(u64, u64)>,
    /// Stop once this many seeds failed (in seed order).
    pub stop_after: Option<u64>,
    /// Scenario file as given (for replay commands).
    pub file: String,
    /// Version string for the report.
    pub version: String,
}

/// The seeds of shard `k` of `n` of `[start, end)`: contiguous slices of near-equal length.
pub fn shard_range((start, end): (u64, u64), (k, n): (u64, u64)) -> (u64, u64) {
    let len = end - start;
    let at = |i: u64| start + (u128::from(len) * u128::from(i) / u128::from(n)) as u64;
    (at(k - 1), at(k))
}

/// Seeds handed to the pool at a time: small enough for a live progress count and an early
/// stop, large enough that the pause between chunks costs little (512 gave 1.80x on two
/// threads, 4096 gives 1.94x; see benches/sweep.rs).
const CHUNK: u64 = 4096;

/// Runs the sweep. `progress` is called after each chunk with (runs done, failures so far).
pub fn sweep(
    scenario: &Scenario,
    options: &SweepOptions,
    progress: impl FnMut(u64, u64),
) -> Result<SweepReport, String> {
    sweep_by(scenario, options, |seed| run_seed(scenario, seed), progress)
}

/// [`sweep`] with the run of one seed given by the caller (tests use it to make a seed panic).
pub fn sweep_by(
    scenario: &Scenario,
    options: &SweepOptions,
    run: impl Fn(u64) -> SeedResult + Sync,
    mut progress: impl FnMut(u64, u64),
) -> Result<SweepReport, String> {
    let (start, end) = match options.shard {
        Some(shard) => shard_range(options.seeds, shard),
        None => options.seeds,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.max(1))
        .build()
        .map_err(|e| format!("cannot start {} threads: {e}", options.jobs))?;
    let started = std::time::Instant::now();
    let mut results: Vec<SeedResult> = Vec::with_capacity((end - start).min(1 << 20) as usize);
    let mut failures = 0;
    let mut stopped_after = None;
    let silence = Silence::new();
    let mut next = start;
    while next < end {
        let chunk_end = end.min(next + CHUNK);
        let chunk: Vec<SeedResult> =
            pool.install(|| (next..chunk_end).into_par_iter().map(&run).collect());
        for r in chunk {
            if !r.failures.is_empty() {
                failures += 1;
            }
            let seed = r.seed;
            results.push(r);
            if options.stop_after.is_some_and(|k| failures >= k) {
                stopped_after = Some(seed);
                break;
            }
        }
        progress(results.len() as u64, failures);
        if stopped_after.is_some() {
            break;
        }
        next = chunk_end;
    }
    drop(silence);
    let mut report = fold(scenario, options, &results);
    report.stopped_after = stopped_after;
    report.timing = Timing {
        wall_seconds: started.elapsed().as_secs_f64(),
        jobs: options.jobs.max(1),
    };
    Ok(report)
}

fn fold(scenario: &Scenario, options: &SweepOptions, results: &[SeedResult]) -> SweepReport {
    let mut report = SweepReport {
        scenario: scenario.file.name.clone(),
        file: options.file.clone(),
        version: options.version.clone(),
        seeds: options.seeds,
        shard: options.shard,
        runs: results.len() as u64,
        passed: 0,
        failures_by_kind: BTreeMap::new(),
        final_states: BTreeMap::new(),
        errors: BTreeMap::new(),
        hashes: BTreeSet::new(),
        failing: Vec::new(),
        stopped_after: None,
        timing: Timing::default(),
    };
    let all = vec![true; scenario.compiled.randomize.len()];
    for r in results {
        if r.hash != 0 {
            report.hashes.insert(format!("{:016x}", r.hash));
        }
        for (k, n) in &r.final_states {
            *report.final_states.entry(k.clone()).or_insert(0) += n;
        }
        for (k, n) in &r.errors {
            *report.errors.entry(k.clone()).or_insert(0) += n;
        }
        if r.failures.is_empty() {
            report.passed += 1;
            continue;
        }
        let mut kinds: Vec<&String> = r.failures.iter().collect();
        kinds.dedup();
        for k in kinds {
            *report.failures_by_kind.entry(k.clone()).or_insert(0) += 1;
        }
        report.failing.push(FailingSeed {
            seed: r.seed,
            failures: r.failures.clone(),
            replay: format!("netsim run {} --seed {}", options.file, r.seed),
            schedule: scenario.schedule_text(r.seed, &all),
            shrunk: None,
        });
    }
    report
}

/// The smallest set of randomised faults (starting from all the seed drew) under which the
/// seed still fails with the same failure kinds: each fault is turned off in turn and left off
/// if the failure stays, until a full pass removes nothing. Returns the schedule text and how
/// many faults remain.
pub fn shrink(scenario: &Scenario, seed: u64) -> (String, usize) {
    let n = scenario.compiled.randomize.len();
    let mut enabled = vec![true; n];
    let _silence = Silence::new();
    let target = run_seed(scenario, seed).failures;
    let same = |enabled: &[bool]| -> bool {
        let failures = catch_unwind(AssertUnwindSafe(|| {
            scenario.run_with(seed, enabled, NullSink)
        }))
        .ok()
        .and_then(Result::ok)
        .map(|(report, _)| {
            report
                .failures()
                .map(|c| c.kind.clone())
                .collect::<Vec<_>>()
        });
        failures.is_some_and(|f| f == target)
    };
    loop {
        let mut removed = false;
        for i in 0..n {
            if !enabled[i] {
                continue;
            }
            enabled[i] = false;
            if same(&enabled) {
                removed = true;
            } else {
                enabled[i] = true;
            }
        }
        if !removed {
            break;
        }
    }
    let left = enabled.iter().filter(|e| **e).count();
    (scenario.schedule_text(seed, &enabled), left)
}

/// A shard report read from a file, checked: returns its (K, N), or what makes it
/// impossible or unmergeable: no shard, a shard number outside 1..=N, more shards than seeds,
/// an early stop, a run count other than its slice's size, more passes than runs, or more
/// failures than failed runs.
fn check_shard_report(p: &SweepReport) -> Result<(u64, u64), String> {
    let (start, end) = p.seeds;
    if start > end {
        return Err(format!("seed range {start}..{end} is reversed"));
    }
    let Some((k, n)) = p.shard else {
        return Err("a report that is not a shard cannot be merged".into());
    };
    if p.stopped_after.is_some() {
        return Err(
            "a shard stopped early (--stop-after): its report does not cover its range".into(),
        );
    }
    if k == 0 || k > n || n > (end - start).max(1) {
        return Err(format!(
            "shard {k}/{n} is impossible for seeds {start}..{end} (1 <= K <= N <= the number of seeds)"
        ));
    }
    let (lo, hi) = shard_range(p.seeds, (k, n));
    let failed = p
        .runs
        .checked_sub(p.passed)
        .ok_or_else(|| format!("shard {k}/{n} says {} passed of {} runs", p.passed, p.runs))?;
    if p.runs != hi - lo {
        return Err(format!(
            "shard {k}/{n} covers seeds {lo}..{hi} ({} runs) but reports {} runs",
            hi - lo,
            p.runs
        ));
    }
    let by_kind_max = p.failures_by_kind.values().copied().max().unwrap_or(0);
    if p.failing.len() as u64 > failed || by_kind_max > failed {
        return Err(format!(
            "shard {k}/{n} lists more failures than its {failed} failed runs"
        ));
    }
    if p.failing.iter().any(|f| f.seed < lo || f.seed >= hi) {
        return Err(format!(
            "shard {k}/{n} lists a failing seed outside {lo}..{hi}"
        ));
    }
    Ok((k, n))
}

/// Folds shard reports of one sweep into the report of the whole range. Refuses reports of
/// other scenarios, versions or ranges, and missing or repeated shards.
pub fn merge(parts: &[SweepReport]) -> Result<SweepReport, String> {
    let first = parts.first().ok_or("nothing to merge")?;
    let n = first
        .shard
        .map(|(_, n)| n)
        .ok_or("the first report is not a shard (it has no --shard K/N)")?;
    let mut seen = BTreeSet::new();
    for p in parts {
        let (k, m) = check_shard_report(p)?;
        if (p.scenario.as_str(), p.version.as_str(), p.seeds)
            != (first.scenario.as_str(), first.version.as_str(), first.seeds)
        {
            return Err(format!(
                "shard reports disagree: {} / {} / seeds {:?} vs {} / {} / seeds {:?}",
                p.scenario, p.version, p.seeds, first.scenario, first.version, first.seeds
            ));
        }
        if m != n || !seen.insert(k) {
            return Err(format!("shard {k}/{m} is repeated or from another split"));
        }
    }
    if seen.len() as u64 != n {
        // The first few missing ones, found without walking all of 1..=n (n may be huge).
        let mut missing = Vec::new();
        let mut want = 1;
        for &k in seen.iter().chain(std::iter::once(&(n + 1))) {
            while want < k && missing.len() < 10 {
                missing.push(want);
                want += 1;
            }
            want = k + 1;
        }
        return Err(format!(
            "missing shards ({} of {n} given), first: {missing:?}",
            seen.len()
        ));
    }
    let mut merged = SweepReport {
        shard: None,
        runs: 0,
        passed: 0,
        failures_by_kind: BTreeMap::new(),
        final_states: BTreeMap::new(),
        errors: BTreeMap::new(),
        hashes: BTreeSet::new(),
        failing: Vec::new(),
        timing: Timing::default(),
        ..first.clone()
    };
    for p in parts {
        merged.runs += p.runs;
        merged.passed += p.passed;
        for (map, from) in [
            (&mut merged.failures_by_kind, &p.failures_by_kind),
            (&mut merged.final_states, &p.final_states),
            (&mut merged.errors, &p.errors),
        ] {
            for (k, v) in from {
                *map.entry(k.clone()).or_insert(0) += v;
            }
        }
        merged.hashes.extend(p.hashes.iter().cloned());
        merged.failing.extend(p.failing.iter().cloned());
        merged.timing.wall_seconds += p.timing.wall_seconds;
        merged.timing.jobs = merged.timing.jobs.max(p.timing.jobs);
    }
    merged.failing.sort_by_key(|f| f.seed);
    Ok(merged)
}

impl SweepReport {
    /// The report as text: counts, failure kinds, final states, errors, and the first
    /// `show` failing seeds with their replay commands.
    pub fn text(&self, show: usize) -> String {
        let mut out = Vec::new();
        let shard = self
            .shard
            .map_or(String::new(), |(k, n)| format!(", shard {k}/{n}"));
        out.push(format!(
            "sweep of {} ({}), seeds {}..{}{shard}, {}",
            self.scenario, self.file, self.seeds.0, self.seeds.1, self.version
        ));
        let failed = self.runs - self.passed;
        out.push(format!(
            "runs: {}, passed: {}, failed: {failed}",
            self.runs, self.passed
        ));
        if let Some(seed) = self.stopped_after {
            out.push(format!("stopped after seed {seed} (--stop-after)"));
        }
        if !self.failures_by_kind.is_empty() {
            out.push("failures by kind (runs):".into());
            for (k, n) in &self.failures_by_kind {
                out.push(format!("  {n:>8}  {k}"));
            }
        }
        if !self.final_states.is_empty() {
            out.push("sockets at the end, summed over runs:".into());
            for (k, n) in &self.final_states {
                out.push(format!("  {n:>8}  {k}"));
            }
        }
        if !self.errors.is_empty() {
            out.push("errors seen by applications, summed over runs:".into());
            for (k, n) in &self.errors {
                out.push(format!("  {n:>8}  {k}"));
            }
        }
        out.push(format!("distinct trace hashes: {}", self.hashes.len()));
        if !self.failing.is_empty() {
            out.push(format!(
                "failing seeds (first {} of {}, in seed order):",
                show.min(self.failing.len()),
                self.failing.len()
            ));
            for f in self.failing.iter().take(show) {
                out.push(format!("  seed {}: {}", f.seed, f.failures.join("; ")));
                out.push(format!("    replay: {}", f.replay));
                if let Some(shrunk) = &f.shrunk {
                    out.push("    smallest fault schedule that still fails this way:".into());
                    for line in shrunk.lines() {
                        out.push(format!("      {line}"));
                    }
                }
            }
        }
        let rate = self.runs as f64 / self.timing.wall_seconds.max(1e-9);
        out.push(format!(
            "runs/s: {rate:.0} (wall {:.3} s, {} jobs)",
            self.timing.wall_seconds, self.timing.jobs
        ));
        let mut text = out.join("\n");
        text.push('\n');
        text
    }

    /// The report without its timing, for comparing two sweeps.
    pub fn without_timing(&self) -> SweepReport {
        SweepReport {
            timing: Timing::default(),
            ..self.clone()
        }
    }
}
