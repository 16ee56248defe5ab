//! `netsim sweep` and `netsim merge`: argument handling, the progress bar and output around
//! the netsim-sweep library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use netsim_sweep::{SweepOptions, SweepReport};

/// Failing seeds shown in the text report (all of them go to the JSON report).
const SHOWN: usize = 20;

/// Run a scenario under a range of seeds on every core and report the failing seeds.
///
/// Example: netsim sweep scenarios/sweep_stale_data.ron --seeds 0..10000 --jobs 2
#[derive(clap::Args)]
pub struct Args {
    /// The scenario file (.ron).
    file: PathBuf,
    /// Seed range, `A..B` (B excluded) or `A..=B`.
    #[arg(long, value_parser = crate::parse_seeds)]
    seeds: (u64, u64),
    /// Threads, at least 1 (default: every core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Run only the K-th of N slices of the range, e.g. 3/8 (for batch schedulers).
    #[arg(long, value_parser = crate::parse_shard)]
    shard: Option<(u64, u64)>,
    /// Stop after this many failing seeds (counted in seed order).
    #[arg(long)]
    stop_after: Option<u64>,
    /// Event cap per run, so one runaway seed cannot hang the sweep.
    #[arg(long)]
    max_events: Option<u64>,
    /// For each failing seed shown, find the fewest randomised faults that still fail.
    #[arg(long)]
    shrink: bool,
    /// Write each failing seed shown (shrunk with --shrink) as a scenario file of its own in
    /// this folder: its randomised faults fixed as link knobs and events, its seed pinned.
    /// `netsim test DIR --accept` then keeps them as regression tests.
    #[arg(long, value_name = "DIR")]
    emit: Option<PathBuf>,
    /// With --emit: write only the first K failing seeds.
    #[arg(long, value_name = "K", requires = "emit")]
    emit_first: Option<usize>,
    /// Also write the full report as JSON (every failing seed) to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also draw failing runs by kind and the sockets left open at the end as SVG bar charts.
    #[arg(long, value_name = "PATH.svg")]
    plot: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// The version line every report carries (see [`netsim::version`]).
pub fn version() -> String {
    netsim::version()
}

pub fn sweep(args: Args) -> Result<ExitCode, String> {
    let mut scenario = netsim_scenario::load(&args.file).map_err(|e| e.to_string())?;
    for path in args.json.iter().chain(&args.plot) {
        crate::check_writable(path)?;
    }
    if let Some(dir) = &args.emit {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        crate::check_writable(&dir.join("probe"))?;
    }
    if let Some(cap) = args.max_events {
        scenario.compiled.limits.max_events = cap;
    }
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let options = SweepOptions {
        jobs,
        shard: args.shard,
        stop_after: args.stop_after,
        interrupt: crate::interrupt_on_signals()?,
        ..SweepOptions::new(args.seeds, &args.file.display().to_string(), &version())
    };
    out!(
        "{}",
        netsim_sweep::empty_report(&scenario, &options).header()
    );
    let (start, end) = options.range();
    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(end - start);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg}, eta {eta}")
                .expect("a valid template"),
        );
        bar
    };
    let started = Instant::now();
    let mut report = netsim_sweep::sweep(&scenario, &options, |p| {
        let rate = p.done as f64 / started.elapsed().as_secs_f64().max(1e-3);
        bar.set_position(p.done);
        bar.set_message(format!(
            "{} seeds/s, {} failed",
            netsim_sweep::human_rate(rate),
            p.failed
        ));
    })?;
    bar.finish_and_clear();
    let all = vec![true; scenario.compiled.randomize.len()];
    let mut masks = Vec::new();
    if args.shrink && !report.interrupted {
        for failing in report.failing.iter_mut().take(SHOWN) {
            let shrunk = netsim_sweep::shrink(&scenario, failing.seed);
            failing.shrunk = Some(shrunk.schedule);
            masks.push(shrunk.enabled);
        }
    }
    let mut emitted = Vec::new();
    if let Some(dir) = &args.emit {
        let first = args.emit_first.unwrap_or(SHOWN);
        for (i, failing) in report.failing.iter().take(first).enumerate() {
            let enabled = masks.get(i).unwrap_or(&all);
            emitted.push(emit(&scenario, &args, dir, failing, enabled)?);
        }
    }
    write_json(&report, args.json.as_deref())?;
    if let Some(path) = &args.plot {
        crate::write_atomic(path, &plot(&report))?;
    }
    out!("{}", report.body(SHOWN));
    if let Some(dir) = &args.emit {
        if emitted.is_empty() {
            out!("no failing seed to write to {}\n", dir.display());
        } else {
            out!("\nregression files, each replaying its failure exactly:\n");
            for line in &emitted {
                out!("  {line}\n");
            }
            out!(
                "keep them as regression tests: netsim test {} --accept\n",
                dir.display()
            );
        }
    }
    Ok(if report.interrupted {
        ExitCode::from(crate::INTERRUPTED)
    } else if report.passed == report.runs {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes `failing` as a scenario file of its own in `dir` (see `Scenario::pinned`), after
/// checking that the file reads back and fails exactly as the seed failed in the sweep.
/// Returns the line that reports it.
fn emit(
    scenario: &netsim_scenario::Scenario,
    args: &Args,
    dir: &Path,
    failing: &netsim_sweep::FailingSeed,
    enabled: &[bool],
) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let seed = failing.seed;
    let stem = args
        .file
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    let path = dir.join(format!("{stem}-seed{seed}.ron"));
    let kinds = failing.failures.join("; ");
    let (on, total) = (enabled.iter().filter(|e| **e).count(), enabled.len());
    let which = if args.shrink {
        format!("shrunk to the {on} of {total} that still fail the same way")
    } else {
        format!("all {total} as drawn")
    };
    let name = format!("{}-seed{seed}", scenario.file.name);
    let description = format!(
        "Seed {seed} of {}, pinned: it failed with {kinds}. {}",
        args.file.display(),
        scenario.file.description
    );
    let (a, b) = args.seeds;
    let header = format!(
        "// A regression test from a sweep: seed {seed} of {file} failed ({kinds}).\n\
         // Its randomised faults ({which}) are fixed below as link knobs and events and the seed\n\
         // is pinned, so `netsim run {path}` replays the failing run exactly.\n\
         // Written by `netsim sweep {file} --seeds {a}..{b}{shrink} --emit {dir}`, {version}.\n\
         // Keep it as a regression test: netsim test {dir} --accept\n",
        file = args.file.display(),
        path = path.display(),
        shrink = if args.shrink { " --shrink" } else { "" },
        dir = dir.display(),
        version = version(),
    );
    let text = header + &scenario.pinned(seed, enabled, &name, &description);
    // The promise of the file, checked before it is written.
    let pinned = netsim_scenario::parse(&text, &path.display().to_string())
        .map_err(|e| format!("seed {seed}: the pinned file does not read back: {e}"))?;
    let again = netsim_sweep::run_seed(&pinned, seed);
    if again.failures != failing.failures {
        return Err(format!(
            "seed {seed}: the pinned file fails with [{}], not [{kinds}] as in the sweep",
            again.failures.join("; ")
        ));
    }
    crate::write_atomic(&path, &text)?;
    Ok(format!("{} (fails with {kinds})", path.display()))
}

pub fn merge(files: &[PathBuf], json: Option<&Path>) -> Result<ExitCode, String> {
    if let Some(path) = json {
        crate::check_writable(path)?;
    }
    let mut parts = Vec::with_capacity(files.len());
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let report: SweepReport = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a sweep report: {e}", f.display()))?;
        parts.push(report);
    }
    let merged = netsim_sweep::merge(&parts)?;
    write_json(&merged, json)?;
    out!("{}", merged.text(SHOWN));
    Ok(if merged.passed == merged.runs {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The sweep's bar charts (see `netsim_view::sweep`).
fn plot(report: &SweepReport) -> String {
    fn pairs(map: &std::collections::BTreeMap<String, u64>) -> Vec<(&str, u64)> {
        map.iter().map(|(k, n)| (k.as_str(), *n)).collect()
    }
    let (start, end) = report.done;
    netsim_view::sweep::plot(&netsim_view::sweep::SweepCounts {
        title: if report.interrupted {
            format!(
                "sweep of {}, seeds {start}..{end} (INTERRUPTED: a partial sweep of {}..{})",
                report.scenario, report.seeds.0, report.seeds.1
            )
        } else {
            format!("sweep of {}, seeds {start}..{end}", report.scenario)
        },
        runs: report.runs,
        failed: report.failed(),
        failures_by_kind: pairs(&report.failures_by_kind),
        final_states: pairs(&report.final_states),
    })
}

fn write_json(report: &SweepReport, path: Option<&Path>) -> Result<(), String> {
    let Some(path) = path else {
        return Ok(());
    };
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    crate::write_atomic(path, &(text + "\n"))
}
