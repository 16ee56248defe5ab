//! The `netsim` command. Thin by design: it parses arguments, calls the scenario library, and
//! turns results into output and exit codes (0 pass, 1 a check failed, 2 bad input or usage).

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use netsim_core::{SimDuration, SimTime};
use netsim_engine::{NullSink, Stop, TextWriter};
use netsim_scenario::{HostReport, Report, Scenario};
use netsim_tcp::State;

/// Deterministic network simulator: replays a scenario file exactly from its seed.
#[derive(Parser)]
#[command(name = "netsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: print its trace, then a summary.
    ///
    /// Example: netsim run scenarios/lossy_link.ron --seed 7
    Run {
        /// The scenario file (.ron).
        file: PathBuf,
        /// Seed for every random choice (default: the scenario's own).
        #[arg(long)]
        seed: Option<u64>,
        /// End the run at this virtual time instead of the scenario's end (e.g. 500ms).
        #[arg(long, value_parser = parse_duration)]
        until: Option<SimDuration>,
        /// Print only the summary, not the trace.
        #[arg(long)]
        quiet: bool,
    },
    /// Check scenario files without running them.
    ///
    /// Example: netsim check scenarios/*.ron
    Check {
        /// The files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the scenarios in a folder with their descriptions.
    ///
    /// Example: netsim list scenarios
    List {
        /// The folder (default: scenarios).
        #[arg(default_value = "scenarios")]
        dir: PathBuf,
    },
}

fn parse_duration(text: &str) -> Result<SimDuration, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            file,
            seed,
            until,
            quiet,
        } => run(&file, seed, until, quiet),
        Command::Check { files } => check(&files),
        Command::List { dir } => list(&dir),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("netsim: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(
    file: &Path,
    seed: Option<u64>,
    until: Option<SimDuration>,
    quiet: bool,
) -> Result<ExitCode, String> {
    let mut scenario = netsim_scenario::load(file).map_err(|e| e.to_string())?;
    if let Some(until) = until {
        scenario.compiled.limits.end = Some(SimTime::after(until));
    }
    let seed = seed.unwrap_or(scenario.file.seed);
    let started = Instant::now();
    let failed_run = |e| format!("{}: {e}", file.display());
    let report = if quiet {
        scenario.run(seed, NullSink).map_err(failed_run)?.0
    } else {
        let sink = TextWriter::new(BufWriter::new(io::stdout().lock()));
        let (report, sink) = scenario.run(seed, sink).map_err(failed_run)?;
        sink.finish()
            .map_err(|e| format!("cannot write the trace: {e}"))?;
        report
    };
    let wall = started.elapsed();
    let mut out = io::stdout().lock();
    let text = summary(&scenario, seed, &report, wall);
    out.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write the summary: {e}"))?;
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn summary(scenario: &Scenario, seed: u64, report: &Report, wall: std::time::Duration) -> String {
    let o = &report.outcome;
    let s = &o.stats;
    let mut lines = vec![format!("== {} (seed {seed}) ==", scenario.file.name)];
    let why = match o.stop {
        Stop::EndTime => "end time reached",
        Stop::Idle => "no events left",
    };
    lines.push(format!("end:      {} ({why})", o.end));
    lines.push(format!(
        "packets:  {} sent, {} copies, {} delivered, {} dropped, {} in flight",
        s.sent,
        s.copies,
        s.delivered,
        s.dropped_total(),
        o.in_flight
    ));
    if !s.dropped.is_empty() {
        let drops: Vec<String> = s.dropped.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        lines.push(format!("drops:    {}", drops.join(", ")));
    }
    for (i, count) in o.faults.iter().enumerate() {
        lines.push(format!(
            "fault {}:  matched {}, fired {}",
            i + 1,
            count.matched,
            count.fired
        ));
    }
    for h in &report.hosts {
        lines.push(host_line(h));
    }
    lines.push("checks:".into());
    for c in &report.checks {
        lines.push(format!(
            "  {} {}",
            if c.passed { "ok  " } else { "FAIL" },
            c.text
        ));
    }
    let failed = report.failures().count();
    lines.push(if failed == 0 {
        "result:   PASS".into()
    } else {
        format!(
            "result:   FAIL ({failed} of {} checks failed)",
            report.checks.len()
        )
    });
    lines.push(format!(
        "trace:    {} records, hash {:016x}",
        o.trace_records, o.trace_hash
    ));
    let secs = wall.as_secs_f64();
    lines.push(format!(
        "stats:    {} events, {} segments sent, simulated {}, wall {:.3}s, {:.0} events/s",
        o.events,
        s.sent,
        o.end,
        secs,
        o.events as f64 / secs.max(1e-9)
    ));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// One host's line: sockets per state at the end (and peaks that differ), errors,
/// retransmissions, bytes received.
fn host_line(h: &HostReport) -> String {
    let mut parts = Vec::new();
    let states: Vec<String> = State::ALL
        .iter()
        .filter(|st| h.at_end[**st as usize] > 0 || h.peaks[**st as usize] > 0)
        .map(|st| {
            let (now, peak) = (h.at_end[*st as usize], h.peaks[*st as usize]);
            if peak > u64::from(now) {
                format!("{} {now} (peak {peak})", st.name())
            } else {
                format!("{} {now}", st.name())
            }
        })
        .collect();
    parts.push(if states.is_empty() {
        "no sockets".to_string()
    } else {
        states.join(", ")
    });
    if !h.app.errors.is_empty() {
        let errors: Vec<String> = h
            .app
            .errors
            .iter()
            .map(|(e, n)| format!("{} x{n}", e.name()))
            .collect();
        parts.push(format!("errors {}", errors.join(" ")));
    }
    if h.counters.retransmits > 0 {
        parts.push(format!(
            "retransmits {} (FIN {})",
            h.counters.retransmits, h.counters.fin_retransmits
        ));
    }
    parts.push(format!("received {} bytes", h.app.bytes_received));
    format!("{}: {}", h.name, parts.join("; "))
}

fn check(files: &[PathBuf]) -> Result<ExitCode, String> {
    let mut bad = 0;
    for file in files {
        match netsim_scenario::load(file) {
            Ok(s) => println!("ok: {} ({})", file.display(), s.file.name),
            Err(e) => {
                eprintln!("{e}");
                bad += 1;
            }
        }
    }
    if bad > 0 {
        return Err(format!("{bad} of {} files have errors", files.len()));
    }
    Ok(ExitCode::SUCCESS)
}

fn list(dir: &Path) -> Result<ExitCode, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    for file in files {
        let name = file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match netsim_scenario::load(&file) {
            Ok(s) => {
                let first = s
                    .file
                    .description
                    .split(". ")
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('.');
                println!("{name:<32} {}: {first}", s.file.name);
            }
            Err(e) => println!("{name:<32} (invalid: {e})"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
