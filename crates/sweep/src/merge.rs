//! Merging reports of adjacent seed ranges (shards of one split, an interrupted sweep and its
//! resumption, or plain sweeps of neighbouring ranges) into the report of their union. Every
//! report read from a file is checked first: an impossible one is refused with what is wrong,
//! and no check walks anything as long as a range or a shard count (both may be huge).

use std::collections::BTreeSet;

use crate::report::{Distinct, KEPT_FAILING, KEPT_HASHES, SweepReport};

/// How a report is named in messages.
fn label(p: &SweepReport) -> String {
    match p.shard {
        Some((k, n)) => format!("shard {k}/{n}"),
        None => format!("the report of seeds {}..{}", p.seeds.0, p.seeds.1),
    }
}

/// Checks one report read from a file and returns the range it was asked to cover (its
/// shard's slice, or its seeds), or what makes it impossible or unmergeable.
fn check_report(p: &SweepReport) -> Result<(u64, u64), String> {
    let (start, end) = p.seeds;
    if start > end {
        return Err(format!("seed range {start}..{end} is reversed"));
    }
    if let Some((k, n)) = p.shard
        && (k == 0 || k > n || n > (end - start).max(1))
    {
        return Err(format!(
            "shard {k}/{n} is impossible for seeds {start}..{end} (1 <= K <= N <= the number of seeds)"
        ));
    }
    let name = label(p);
    if p.stopped_after.is_some() {
        return Err(format!(
            "{name} stopped early (--stop-after): its report does not cover its range"
        ));
    }
    let (lo, hi) = p.range();
    let (from, to) = p.done;
    if from != lo || to < from || to > hi {
        return Err(format!(
            "{name} says it ran seeds {from}..{to}, which is not the start of its range {lo}..{hi}"
        ));
    }
    if to < hi && !p.interrupted {
        return Err(format!(
            "{name} ran only seeds {from}..{to} of {lo}..{hi} but is not marked interrupted"
        ));
    }
    if p.runs != to - from {
        return Err(format!(
            "{name} covers seeds {from}..{to} ({} runs) but reports {} runs",
            to - from,
            p.runs
        ));
    }
    let failed = p
        .runs
        .checked_sub(p.passed)
        .ok_or_else(|| format!("{name} says {} passed of {} runs", p.passed, p.runs))?;
    let listed = p.failing.len() as u64;
    let by_kind_max = p.failures_by_kind.values().copied().max().unwrap_or(0);
    if listed > failed || by_kind_max > failed {
        return Err(format!(
            "{name} lists more failures than its {failed} failed runs"
        ));
    }
    if listed < failed && p.failing.len() != KEPT_FAILING {
        return Err(format!(
            "{name} lists {listed} of its {failed} failing seeds; a report keeps the first {KEPT_FAILING}"
        ));
    }
    if p.failing.iter().any(|f| f.seed < from || f.seed >= to)
        || p.failing.windows(2).any(|w| w[0].seed >= w[1].seed)
    {
        return Err(format!(
            "{name} lists failing seeds out of order or outside {from}..{to}"
        ));
    }
    let hex = |h: &String| h.len() == 16 && u64::from_str_radix(h, 16).is_ok();
    if p.hashes.len() > KEPT_HASHES
        || p.hashes.len() as u64 > p.runs
        || !p.hashes.iter().all(hex)
        || (p.hashes_sampled && p.hashes.len() != KEPT_HASHES)
    {
        return Err(format!(
            "{name} has an impossible set of trace hashes ({} kept, at most {KEPT_HASHES} of 16 hex digits)",
            p.hashes.len()
        ));
    }
    Ok((lo, hi))
}

/// When every report is a shard of one split: the shards missing from it, or a repeated one.
fn check_split(parts: &[SweepReport]) -> Result<(), String> {
    let first = &parts[0];
    let Some((_, n)) = first.shard else {
        return Ok(());
    };
    if parts
        .iter()
        .any(|p| p.seeds != first.seeds || p.shard.is_none_or(|(_, m)| m != n))
    {
        return Ok(());
    }
    let mut seen = BTreeSet::new();
    for p in parts {
        let (k, m) = p.shard.expect("checked above");
        if !seen.insert(k) {
            return Err(format!("shard {k}/{m} is given twice"));
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
    Ok(())
}

/// Folds reports of one scenario file, run by one netsim build, into the report of the union
/// of their ranges. The ranges run must be adjacent (no gap, no overlap), and the union must
/// hold every range a report was asked for (a shard's whole split, an interrupted sweep's
/// whole range). Refuses reports of other scenarios or builds, and impossible ones.
pub fn merge(parts: &[SweepReport]) -> Result<SweepReport, String> {
    let first = parts.first().ok_or("nothing to merge")?;
    let mut asked = Vec::with_capacity(parts.len());
    for p in parts {
        check_report(p)?;
        asked.push(p.seeds);
        if (p.scenario.as_str(), p.scenario_hash.as_str())
            != (first.scenario.as_str(), first.scenario_hash.as_str())
        {
            return Err(format!(
                "reports of different scenario files: {} (content {}) and {} (content {})",
                first.scenario, first.scenario_hash, p.scenario, p.scenario_hash
            ));
        }
        if p.version != first.version {
            return Err(format!(
                "reports of different netsim builds: {} and {} (a seed replays only with its own model)",
                first.version, p.version
            ));
        }
    }
    check_split(parts)?;
    let mut order: Vec<&SweepReport> = parts.iter().filter(|p| p.runs > 0).collect();
    order.sort_by_key(|p| p.done.0);
    let Some(lowest) = order.first() else {
        return Err("no report ran any seed".into());
    };
    let mut union = lowest.done;
    for p in &order[1..] {
        let (from, to) = p.done;
        if from < union.1 {
            return Err(format!(
                "seeds {from}..{} are in two reports",
                to.min(union.1)
            ));
        }
        if from > union.1 {
            return Err(format!("seeds {}..{from} are missing", union.1));
        }
        union.1 = to;
    }
    for (lo, hi) in asked {
        if lo < union.0 || hi > union.1 {
            let gap = if lo < union.0 {
                (lo, union.0)
            } else {
                (union.1, hi)
            };
            return Err(format!(
                "seeds {}..{} are missing (asked for by a report of seeds {lo}..{hi})",
                gap.0, gap.1
            ));
        }
    }
    let identity = (
        lowest.scenario.clone(),
        lowest.file.clone(),
        lowest.scenario_hash.clone(),
        lowest.version.clone(),
    );
    let mut merged = SweepReport::empty(identity, union, None);
    merged.done = union;
    let mut distinct = Distinct::default();
    for p in order {
        merged.runs += p.runs;
        merged.passed += p.passed;
        for (map, from) in [
            (&mut merged.failures_by_kind, &p.failures_by_kind),
            (&mut merged.final_states, &p.final_states),
            (&mut merged.errors, &p.errors),
        ] {
            for (k, v) in from {
                let sum = map.entry(k.clone()).or_insert(0);
                *sum = sum.saturating_add(*v);
            }
        }
        distinct.absorb(&p.hashes, p.hashes_sampled);
        let room = KEPT_FAILING - merged.failing.len();
        merged.failing.extend(p.failing.iter().take(room).cloned());
        merged.timing.wall_seconds += p.timing.wall_seconds;
        merged.timing.jobs = merged.timing.jobs.max(p.timing.jobs);
    }
    distinct.store(&mut merged);
    Ok(merged)
}

#[cfg(test)]
pub(crate) fn empty_for_tests(runs: u64) -> SweepReport {
    let name = || "test".to_string();
    let mut report = SweepReport::empty((name(), name(), name(), name()), (0, runs), None);
    report.done = (0, runs);
    report.runs = runs;
    report.passed = runs;
    report
}
