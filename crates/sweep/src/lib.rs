//! Seed sweeps: one compiled scenario run under a range of seeds on a pool of threads, each
//! run checked by the scenario's oracles and expectations, folded into a [`SweepReport`] that
//! is the same whatever the number of threads (results are folded in seed order, never in
//! order of arrival) and whose size does not grow with the number of seeds (the first
//! [`KEPT_FAILING`] failing seeds in full, counts for the rest, a bounded sketch of the
//! distinct trace hashes). A sweep can be interrupted from another thread (a signal handler):
//! it then reports the contiguous range of seeds it finished.
//! Reports of adjacent ranges, shards among them, [`merge`] into the report of their union.
//! [`shrink`] turns off the randomised faults of a failing seed one at a time while it keeps
//! failing the same way.
//!
//! Panics inside a run are caught and reported as a failure of the seed. Runs happen on
//! threads named `netsim-sweep-…`, so a program that does not want the default panic message
//! on stderr can install a panic hook that ignores those threads (the `netsim` command does);
//! this library never touches the process-wide hook.
//!
//! Nothing here renders traces: runs use a null sink (the trace hash is still computed).

mod merge;
mod report;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netsim_scenario::Scenario;
use rayon::prelude::*;

pub use merge::merge;
use report::Distinct;
pub use report::{
    FailingSeed, KEPT_FAILING, KEPT_HASHES, SeedResult, SweepReport, Timing, human_rate,
};

/// Prefix of the names of the threads that run seeds.
pub const THREAD_PREFIX: &str = "netsim-sweep";

/// `text` as one word for a POSIX shell: as it is when it holds only characters no shell
/// treats specially, else in single quotes (a quote inside written `'\''`).
pub fn shell_word(text: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=+@,%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(format!("'{}'", text.replace('\'', r"'\''")))
    }
}

/// Runs one seed; a panic or a runaway run is reported as a failure of that seed.
pub fn run_seed(scenario: &Scenario, seed: u64) -> SeedResult {
    guarded(seed, || {
        let all = vec![true; scenario.compiled.randomize.len()];
        scenario.verdict(seed, &all)
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
    /// Set (from any thread, a signal handler among them) to stop the sweep: runs under way
    /// finish, no new one starts, and the report covers the seeds done without a gap.
    pub interrupt: Arc<AtomicBool>,
}

impl SweepOptions {
    /// A sweep of `seeds` of `file` on one thread, whole range, no early stop.
    pub fn new(seeds: (u64, u64), file: &str, version: &str) -> SweepOptions {
        SweepOptions {
            seeds,
            jobs: 1,
            shard: None,
            stop_after: None,
            file: file.into(),
            version: version.into(),
            interrupt: Arc::default(),
        }
    }

    /// The seeds this sweep runs: the range, or its shard's slice.
    pub fn range(&self) -> (u64, u64) {
        self.shard
            .map_or(self.seeds, |shard| shard_range(self.seeds, shard))
    }
}

/// Where a sweep is, for a progress display: counted per seed as runs finish (in any order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Seeds run.
    pub done: u64,
    /// Of those, seeds that failed.
    pub failed: u64,
    /// Seeds to run in all.
    pub total: u64,
}

/// How often [`sweep`] reports progress.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The seeds of shard `k` of `n` of `[start, end)`: contiguous slices of near-equal length.
pub fn shard_range((start, end): (u64, u64), (k, n): (u64, u64)) -> (u64, u64) {
    let len = end - start;
    let at = |i: u64| start + (u128::from(len) * u128::from(i) / u128::from(n)) as u64;
    (at(k - 1), at(k))
}

/// Wall time a batch of seeds handed to the pool should take: long enough that the wait for
/// the batch's slowest run costs little (with 4 096-seed batches of a 10 µs scenario, two
/// threads gave 1.94x one), short enough that an early stop wastes little.
const BATCH_TARGET: Duration = Duration::from_millis(250);
/// Largest batch: bounds the results held before they are folded.
const BATCH_MAX: u64 = 4096;

/// The report of no runs yet: what a sweep of `options` prints as its header.
pub fn empty_report(scenario: &Scenario, options: &SweepOptions) -> SweepReport {
    SweepReport::empty(
        (
            scenario.file.name.clone(),
            options.file.clone(),
            format!("{:016x}", scenario.source_hash),
            options.version.clone(),
        ),
        options.seeds,
        options.shard,
    )
}

/// Runs the sweep. `progress` is called from a helper thread at least every
/// [`PROGRESS_EVERY`] while it runs, and once at the end.
pub fn sweep(
    scenario: &Scenario,
    options: &SweepOptions,
    progress: impl Fn(Progress) + Sync,
) -> Result<SweepReport, String> {
    sweep_by(scenario, options, |seed| run_seed(scenario, seed), progress)
}

/// [`sweep`] with the run of one seed given by the caller (tests use it to make a seed panic).
pub fn sweep_by(
    scenario: &Scenario,
    options: &SweepOptions,
    run: impl Fn(u64) -> SeedResult + Sync,
    progress: impl Fn(Progress) + Sync,
) -> Result<SweepReport, String> {
    let (start, end) = options.range();
    let jobs = options.jobs.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("{THREAD_PREFIX}-{i}"))
        .build()
        .map_err(|e| format!("cannot start {jobs} threads: {e}"))?;
    let started = Instant::now();
    let done = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let now = || Progress {
        done: done.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        total: end - start,
    };
    let mut fold = Fold::new(scenario, options);
    std::thread::scope(|s| {
        let (finished, ticks) = std::sync::mpsc::channel::<()>();
        let progress = &progress;
        let now = &now;
        s.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                ticks.recv_timeout(PROGRESS_EVERY)
            {
                progress(now());
            }
        });
        let mut next = start;
        let mut batch = (4 * jobs as u64).min(BATCH_MAX);
        while next < end && !fold.stopped() && !options.interrupt.load(Ordering::Relaxed) {
            let batch_end = end.min(next.saturating_add(batch));
            let clock = Instant::now();
            let results: Vec<Option<SeedResult>> = pool.install(|| {
                (next..batch_end)
                    .into_par_iter()
                    .map(|seed| {
                        if options.interrupt.load(Ordering::Relaxed) {
                            return None;
                        }
                        let r = run(seed);
                        done.fetch_add(1, Ordering::Relaxed);
                        if !r.failures.is_empty() {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(r)
                    })
                    .collect()
            });
            for r in results {
                // An interrupted run leaves a gap: what follows it is not reported.
                let Some(r) = r else { break };
                fold.add(&r);
                if fold.stopped() {
                    break;
                }
            }
            // Size the next batch to take about BATCH_TARGET, growing at most fourfold.
            let took = clock.elapsed().as_secs_f64().max(1e-6);
            let per_target = ((batch_end - next) as f64 * BATCH_TARGET.as_secs_f64() / took) as u64;
            batch = per_target.clamp(jobs as u64, batch.saturating_mul(4).min(BATCH_MAX));
            next = batch_end;
        }
        drop(finished);
    });
    progress(now());
    let mut report = fold.finish(end);
    report.timing = Timing {
        wall_seconds: started.elapsed().as_secs_f64(),
        jobs,
    };
    Ok(report)
}

/// A report being built, one seed at a time in seed order.
struct Fold<'a> {
    scenario: &'a Scenario,
    options: &'a SweepOptions,
    report: SweepReport,
    distinct: Distinct,
    all_faults: Vec<bool>,
}

impl<'a> Fold<'a> {
    fn new(scenario: &'a Scenario, options: &'a SweepOptions) -> Fold<'a> {
        Fold {
            scenario,
            options,
            report: empty_report(scenario, options),
            distinct: Distinct::default(),
            all_faults: vec![true; scenario.compiled.randomize.len()],
        }
    }

    fn stopped(&self) -> bool {
        self.report.stopped_after.is_some()
    }

    /// Folds the next seed's result (the seed after `done`).
    fn add(&mut self, r: &SeedResult) {
        let report = &mut self.report;
        debug_assert_eq!(r.seed, report.done.1, "results are folded in seed order");
        report.done.1 = r.seed + 1;
        report.runs += 1;
        if r.hash != 0 {
            self.distinct.insert(r.hash);
        }
        for (map, from) in [
            (&mut report.final_states, &r.final_states),
            (&mut report.errors, &r.errors),
        ] {
            for (k, n) in from {
                // The key is copied only the first time it is seen, not once per seed.
                match map.get_mut(k) {
                    Some(total) => *total += n,
                    None => {
                        map.insert(k.clone(), *n);
                    }
                }
            }
        }
        if r.failures.is_empty() {
            report.passed += 1;
            return;
        }
        let mut kinds: Vec<&String> = r.failures.iter().collect();
        kinds.sort();
        kinds.dedup();
        for k in kinds {
            *report.failures_by_kind.entry(k.clone()).or_insert(0) += 1;
        }
        if report.failing.len() < KEPT_FAILING {
            report.failing.push(FailingSeed {
                seed: r.seed,
                failures: r.failures.clone(),
                replay: format!(
                    "netsim run {} --seed {}",
                    shell_word(&self.options.file),
                    r.seed
                ),
                schedule: self.scenario.schedule_text(r.seed, &self.all_faults),
                shrunk: None,
            });
        }
        if self
            .options
            .stop_after
            .is_some_and(|k| report.failed() >= k)
        {
            report.stopped_after = Some(r.seed);
        }
    }

    /// The report; `end` is the end of the range it was to cover.
    fn finish(mut self, end: u64) -> SweepReport {
        self.distinct.store(&mut self.report);
        self.report.interrupted = self.report.done.1 < end && !self.stopped();
        self.report
    }
}

/// The smallest set of randomised faults (starting from all the seed drew) under which the
/// seed still fails with the same failure kinds: each fault is turned off in turn and left off
/// if the failure stays, until a full pass removes nothing. Returns which faults, their text and how
/// many faults remain (see [`Shrunk`]). Runs on a thread of its own named like the sweep's.
pub fn shrink(scenario: &Scenario, seed: u64) -> Shrunk {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(format!("{THREAD_PREFIX}-shrink"))
            .spawn_scoped(s, || shrink_here(scenario, seed))
            .expect("a thread for shrinking")
            .join()
            .expect("shrinking catches the runs' panics")
    })
}

fn shrink_here(scenario: &Scenario, seed: u64) -> Shrunk {
    let n = scenario.compiled.randomize.len();
    let mut enabled = vec![true; n];
    let target = run_seed(scenario, seed).failures;
    let same = |enabled: &[bool]| -> bool {
        let failures = catch_unwind(AssertUnwindSafe(|| scenario.verdict(seed, enabled)))
            .ok()
            .and_then(Result::ok)
            .map(|report| {
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
    Shrunk {
        schedule: scenario.schedule_text(seed, &enabled),
        left: enabled.iter().filter(|e| **e).count(),
        enabled,
    }
}

/// What shrinking a failing seed left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrunk {
    /// Which of the scenario's randomised faults are still on (in `randomize` order).
    pub enabled: Vec<bool>,
    /// How many.
    pub left: usize,
    /// The schedule they draw, as text.
    pub schedule: String,
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_a_shell_would_split_or_expand_them() {
        let plain = "scenarios/lost_final_ack.ron";
        assert_eq!(shell_word(plain), plain);
        assert_eq!(shell_word("my dir/a b's.ron"), r"'my dir/a b'\''s.ron'");
        assert_eq!(shell_word("$HOME/x*.ron"), "'$HOME/x*.ron'");
        assert_eq!(shell_word(""), "''");
    }
}
