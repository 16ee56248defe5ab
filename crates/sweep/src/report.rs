//! The report of a sweep and how it is folded: one seed's result at a time, in seed order, into
//! state whose size does not grow with the number of seeds.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Failing seeds a report keeps in full (the first ones, in seed order); the rest are counted.
pub const KEPT_FAILING: usize = 100;

/// Distinct trace hashes a report keeps: the smallest ones. Up to this many distinct hashes
/// the count is exact; beyond it, it is estimated from the largest kept one (a "k minimum
/// values" sketch: trace hashes are uniform 64-bit values, so the k-th smallest of n distinct
/// ones lies near k/n of the range; the relative error is about 1/sqrt(k), 1.6 %). The sketch
/// of a union is the sketch of the parts' sketches, so shards merge into exactly the sketch of
/// the whole range.
pub const KEPT_HASHES: usize = 4096;

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

/// The aggregate of a sweep. Everything but `timing` is a function of (scenario, model, seeds
/// done); its size is bounded whatever the number of seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file as given.
    pub file: String,
    /// Stable hash of the scenario file's text (hex): reports of an edited file do not merge
    /// with those of the original.
    pub scenario_hash: String,
    /// netsim version, commit and source fingerprint that produced it: a seed replays exactly
    /// only with the same model.
    pub version: String,
    /// The seed range asked for, `[start, end)` (a shard's is the whole split range).
    pub seeds: (u64, u64),
    /// Which shard this is (`K` of `N`), or `None` for a whole range or a merge.
    pub shard: Option<(u64, u64)>,
    /// The seeds actually run, `[start, end)`: the range asked for (or the shard's slice of
    /// it), or its beginning when the sweep was interrupted or stopped early.
    pub done: (u64, u64),
    /// The sweep was interrupted (a signal) before the end of its range: `done` says which
    /// seeds it covers, and `--seeds` from `done.1` resumes the rest.
    pub interrupted: bool,
    /// Runs done (the size of `done`).
    pub runs: u64,
    /// Runs that passed.
    pub passed: u64,
    /// Failing runs per failure kind.
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Sockets left per "host STATE", summed over runs.
    pub final_states: BTreeMap<String, u64>,
    /// Errors seen per "host ERRNO", summed over runs.
    pub errors: BTreeMap<String, u64>,
    /// The smallest distinct trace hashes (hex), at most [`KEPT_HASHES`].
    pub hashes: BTreeSet<String>,
    /// More distinct hashes were seen than `hashes` keeps: their count is an estimate.
    pub hashes_sampled: bool,
    /// The first [`KEPT_FAILING`] failing seeds, in seed order (the rest are counted in
    /// `runs - passed` and `failures_by_kind`).
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

/// The smallest [`KEPT_HASHES`] distinct hashes seen, and whether any was left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Distinct {
    kept: BTreeSet<u64>,
    sampled: bool,
}

impl Distinct {
    pub(crate) fn insert(&mut self, hash: u64) {
        if self.kept.len() == KEPT_HASHES && self.kept.last().is_some_and(|&max| hash > max) {
            self.sampled = true;
            return;
        }
        if self.kept.insert(hash) && self.kept.len() > KEPT_HASHES {
            self.kept.pop_last();
            self.sampled = true;
        }
    }

    /// Folds in a report's kept hashes (checked to be hex by the caller).
    pub(crate) fn absorb(&mut self, hashes: &BTreeSet<String>, sampled: bool) {
        for h in hashes {
            if let Ok(h) = u64::from_str_radix(h, 16) {
                self.insert(h);
            }
        }
        self.sampled |= sampled;
    }

    pub(crate) fn store(&self, report: &mut SweepReport) {
        report.hashes = self.kept.iter().map(|h| format!("{h:016x}")).collect();
        report.hashes_sampled = self.sampled;
    }
}

impl SweepReport {
    /// A report of no runs yet of `seeds` (or its `shard`), with its identity: the
    /// scenario's name, file, content hash, and the netsim version.
    pub(crate) fn empty(
        (scenario, file, scenario_hash, version): (String, String, String, String),
        seeds: (u64, u64),
        shard: Option<(u64, u64)>,
    ) -> SweepReport {
        let start = shard.map_or(seeds, |k| crate::shard_range(seeds, k)).0;
        SweepReport {
            scenario,
            file,
            scenario_hash,
            version,
            seeds,
            shard,
            done: (start, start),
            interrupted: false,
            runs: 0,
            passed: 0,
            failures_by_kind: BTreeMap::new(),
            final_states: BTreeMap::new(),
            errors: BTreeMap::new(),
            hashes: BTreeSet::new(),
            hashes_sampled: false,
            failing: Vec::new(),
            stopped_after: None,
            timing: Timing::default(),
        }
    }

    /// The seeds this report was asked to cover: its shard's slice, or its seeds.
    pub fn range(&self) -> (u64, u64) {
        self.shard
            .map_or(self.seeds, |k| crate::shard_range(self.seeds, k))
    }

    /// The count of distinct trace hashes: exact, or estimated when more than
    /// [`KEPT_HASHES`] were seen (then `false`).
    pub fn distinct_hashes(&self) -> (u64, bool) {
        if !self.hashes_sampled {
            return (self.hashes.len() as u64, true);
        }
        let largest = self
            .hashes
            .last()
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or(u64::MAX);
        let k = self.hashes.len() as f64;
        // (k - 1) / U_k, with U_k the k-th smallest as a fraction of the hash range.
        let fraction = (largest as f64 + 1.0) / 18_446_744_073_709_551_616.0;
        let estimate = ((k - 1.0) / fraction).round() as u64;
        (estimate.clamp(self.hashes.len() as u64, self.runs), false)
    }

    /// Runs that failed.
    pub fn failed(&self) -> u64 {
        self.runs - self.passed
    }

    /// The first line of the text report: what is swept, with which model.
    pub fn header(&self) -> String {
        let shard = self
            .shard
            .map_or(String::new(), |(k, n)| format!(", shard {k}/{n}"));
        format!(
            "sweep of {} ({}), seeds {}..{}{shard}, {}\n",
            self.scenario, self.file, self.seeds.0, self.seeds.1, self.version
        )
    }

    /// The report as text after its header: counts, failure kinds, final states, errors, and
    /// the first `show` failing seeds with their replay commands.
    pub fn body(&self, show: usize) -> String {
        let mut out = Vec::new();
        if self.interrupted {
            let end = self.range().1;
            out.push(format!(
                "INTERRUPTED: partial report of seeds {}..{}; resume with --seeds {}..{}",
                self.done.0, self.done.1, self.done.1, end
            ));
        }
        out.push(format!(
            "runs: {}, passed: {}, failed: {}",
            self.runs,
            self.passed,
            self.failed()
        ));
        if let Some(seed) = self.stopped_after {
            out.push(format!("stopped after seed {seed} (--stop-after)"));
        }
        for (title, map) in [
            ("failures by kind (runs):", &self.failures_by_kind),
            ("sockets at the end, summed over runs:", &self.final_states),
            (
                "errors seen by applications, summed over runs:",
                &self.errors,
            ),
        ] {
            if !map.is_empty() {
                out.push(title.into());
                for (k, n) in map {
                    out.push(format!("  {n:>8}  {k}"));
                }
            }
        }
        out.push(match self.distinct_hashes() {
            (n, true) => format!("distinct trace hashes: {n}"),
            (n, false) => format!(
                "distinct trace hashes: about {n} (estimated from the {} smallest; standard error 1.6 %)",
                self.hashes.len()
            ),
        });
        if !self.failing.is_empty() {
            let shown = show.min(self.failing.len());
            out.push(format!(
                "failing seeds (first {shown} of {}, in seed order):",
                self.failed()
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
            "runs/s: {} (wall {:.3} s, {} jobs)",
            human_rate(rate),
            self.timing.wall_seconds,
            self.timing.jobs
        ));
        let mut text = out.join("\n");
        text.push('\n');
        text
    }

    /// The whole text report: header and body.
    pub fn text(&self, show: usize) -> String {
        self.header() + &self.body(show)
    }

    /// The report without its timing, for comparing two sweeps.
    pub fn without_timing(&self) -> SweepReport {
        SweepReport {
            timing: Timing::default(),
            ..self.clone()
        }
    }
}

/// A rate as people read it: digits grouped by thousands, one decimal below 100.
pub fn human_rate(rate: f64) -> String {
    if !rate.is_finite() || rate < 0.0 {
        return "-".into();
    }
    if rate < 100.0 {
        return format!("{rate:.1}");
    }
    let digits = format!("{:.0}", rate);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_people_read_them() {
        for (rate, text) in [
            (0.25, "0.2"),
            (54.26, "54.3"),
            (99.94, "99.9"),
            (100.4, "100"),
            (65_290.050_9, "65,290"),
            (1_234_567.0, "1,234,567"),
            (f64::INFINITY, "-"),
        ] {
            assert_eq!(human_rate(rate), text, "{rate}");
        }
    }

    #[test]
    fn the_hash_sketch_is_exact_up_to_its_size_and_close_beyond() {
        // Uniform 64-bit values, as trace hashes are.
        let value = |i: u64| netsim_core::hash::hash_str(&i.to_string());
        let mut small = Distinct::default();
        for i in 0..KEPT_HASHES as u64 {
            small.insert(value(i));
            small.insert(value(i));
        }
        assert!(!small.sampled);
        let mut big = Distinct::default();
        for i in 0..200_000u64 {
            big.insert(value(i));
        }
        assert!(big.sampled);
        assert_eq!(big.kept.len(), KEPT_HASHES);
        let mut report = crate::merge::empty_for_tests(200_000);
        big.store(&mut report);
        let (n, exact) = report.distinct_hashes();
        assert!(!exact);
        assert!((190_000..=210_000).contains(&n), "{n}");
        // The sketch of a union is the sketch of the two halves' sketches.
        let (mut a, mut b) = (Distinct::default(), Distinct::default());
        for i in 0..100_000u64 {
            a.insert(value(i));
            b.insert(value(i + 100_000));
        }
        let (mut ra, mut rb) = (report.clone(), report.clone());
        a.store(&mut ra);
        b.store(&mut rb);
        let mut union = Distinct::default();
        union.absorb(&ra.hashes, ra.hashes_sampled);
        union.absorb(&rb.hashes, rb.hashes_sampled);
        assert_eq!(union.kept, big.kept);
        assert!(union.sampled);
    }
}
