//! The `netsim` command. Thin by design: it parses arguments, calls the scenario library, and
//! turns results into output and exit codes (0 pass, 1 a check failed, 2 bad input or usage).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use netsim_core::SimDuration;

/// Writes to standard output like `print!`, but a reader that closed the pipe (`netsim run
/// … | head`) ends the process quietly instead of panicking; see [`stdout_failed`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

mod json;
mod report;
mod run;
mod suite;
mod sweep;

/// Which run of which scenario: what `run` and `report` both take.
#[derive(clap::Args)]
pub(crate) struct Target {
    /// The scenario file (.ron).
    file: PathBuf,
    /// Seed for every random choice (default: the scenario's own).
    #[arg(long)]
    seed: Option<u64>,
    /// End the run at this virtual time instead of the scenario's end (e.g. 500ms).
    #[arg(long, value_parser = crate::parse_duration)]
    until: Option<SimDuration>,
}

impl Target {
    /// The scenario (with `--until` applied) and the seed to run.
    pub(crate) fn load(&self) -> Result<(netsim_scenario::Scenario, u64), String> {
        let mut scenario = netsim_scenario::load(&self.file).map_err(|e| e.to_string())?;
        if let Some(until) = self.until {
            scenario.compiled.limits.end = Some(netsim_core::SimTime::after(until));
        }
        let seed = self.seed.unwrap_or(scenario.file.seed);
        Ok((scenario, seed))
    }

    pub(crate) fn file(&self) -> &Path {
        &self.file
    }

    /// What replays this run on a command line: `FILE --seed N [--until T]`, the file quoted
    /// for a shell where it needs to be.
    pub(crate) fn replay_args(&self, seed: u64) -> String {
        let file = self.file.to_string_lossy();
        let mut args = format!("{} --seed {seed}", netsim_sweep::shell_word(&file));
        if let Some(until) = self.until {
            args.push_str(&format!(" --until {until}"));
        }
        args
    }
}

/// The title of a run's pictures: the scenario and the seed.
pub(crate) fn run_title(scenario: &netsim_scenario::Scenario, seed: u64) -> String {
    format!("{} (seed {seed})", scenario.file.name)
}

/// The error of a `--conn` that matched nothing in the run.
pub(crate) fn conn_not_in_run(conn: netsim_view::ConnSelector) -> String {
    format!(
        "--conn: {conn} is not in this run (connections are numbered in order of first \
         appearance, as the JSON trace's conn.number; an endpoint must be one a connection \
         used)"
    )
}

/// Exit 0 when every check passed, 1 when one failed.
pub(crate) fn exit_for(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A ladder of what `filter` keeps in a run of `scenario` with `seed`, at most `cap`
/// segments, titled with the scenario and seed (`run --ladder` and `report` draw alike).
pub(crate) fn new_ladder(
    scenario: &netsim_scenario::Scenario,
    seed: u64,
    filter: netsim_view::TraceFilter,
    cap: usize,
) -> netsim_view::Ladder {
    let title = run_title(scenario, seed);
    let addrs: Vec<_> = scenario
        .compiled
        .topology
        .hosts
        .iter()
        .map(|h| h.addr)
        .collect();
    netsim_view::Ladder::new(filter, &title, &addrs, cap)
}

/// Writes `args` to standard output (see [`out!`]).
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        stdout_failed(e);
    }
}

pub(crate) use netsim_suite::file::{AtomicFile, check_writable, write_atomic};

/// Exit status of a run or sweep stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
pub(crate) const INTERRUPTED: u8 = 130;

/// For a command that writes its files at the end (`run`): SIGINT or SIGTERM (once or more)
/// removes the temporary files of the outputs under way and ends the process with exit 130;
/// once the outputs are being put in place, the command finishes them all instead. A watcher
/// thread does it, outside the signal handler, within 20 ms of the signal.
pub(crate) fn exit_cleanly_on_signals() -> Result<(), String> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, flag.clone())
            .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    std::thread::Builder::new()
        .name("netsim-signals".into())
        .spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // Once the run's outputs are being put in place, the run finishes instead.
            netsim_suite::file::abandon_outputs(
                i32::from(INTERRUPTED),
                "\nnetsim: interrupted: the run's output files were not written",
            );
        })
        .map_err(|e| format!("cannot start the signal watcher: {e}"))?;
    Ok(())
}

/// For a sweep: SIGINT and SIGTERM set the returned flag, which stops the sweep after the
/// runs under way; a second one ends the process at once (exit 130) for a user who does not
/// want to wait.
pub(crate) fn interrupt_on_signals() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>, String>
{
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(INTERRUPTED),
            flag.clone(),
        )
        .and_then(|_| signal_hook::flag::register(signal, flag.clone()))
        .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    Ok(flag)
}

/// Standard output failed. When the reader closed the pipe this is no error: the process ends
/// at once, silently, with the status of a process killed by SIGPIPE (141), as Unix tools do.
/// Any other failure (a full disk) is reported, exit 2.
pub(crate) fn stdout_failed(e: io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    eprintln!("netsim: cannot write to standard output: {e}");
    std::process::exit(2);
}

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
    /// Example: netsim run scenarios/lossy_link_handshake.ron --seed 7
    Run(run::Args),
    /// Write one self-contained HTML page about a run (summary and checks, the ladder of the
    /// connection most worth a look, sockets per state over time, the sockets left open);
    /// exits 1 when the run fails its checks, as run does.
    ///
    /// Example: netsim report scenarios/lost_final_ack.ron --out report/
    Report(report::Args),
    /// Check scenario files without running them.
    ///
    /// Example: netsim check scenarios/*.ron
    Check {
        /// The files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a scenario under a range of seeds on every core and report the failing seeds.
    ///
    /// Example: netsim sweep scenarios/sweep_stale_data.ron --seeds 0..10000 --jobs 2
    Sweep(sweep::Args),
    /// Run scenarios as regression tests: check each one's expectations and oracles and
    /// compare its trace with its stored snapshot; exit 1 if any failed or changed.
    ///
    /// New and changed runs are written beside their snapshot as NAME.snap.new (insta's
    /// format: accept with --accept, or review with `cargo insta review` inside a Cargo
    /// package); under CI=true nothing is written and a missing snapshot fails.
    ///
    /// Example: netsim test incidents/ --jobs 2
    Test(suite::Args),
    /// Combine the JSON reports of the shards of one sweep into its whole report.
    ///
    /// Example: netsim merge shard-*.json --json whole.json
    Merge {
        /// Shard reports (from sweep --shard K/N --json FILE).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also write the merged report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Run a scenario on this machine's Linux kernel too and compare it with the model,
    /// connection by connection (needs root, iproute2 and /dev/net/tun; work in progress:
    /// two-host worlds with plain-latency links, no faults yet).
    ///
    /// Example: sudo netsim kernel scenarios/handshake_and_client_close.ron --until 1s
    Kernel {
        /// The scenario file (.ron).
        file: PathBuf,
        /// Seed of the model's run (default: the scenario's own).
        #[arg(long)]
        seed: Option<u64>,
        /// How long both worlds run (the kernel in real time; default 2s).
        #[arg(long, value_parser = parse_duration)]
        until: Option<SimDuration>,
        /// Also write the comparison as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
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

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One readable line per event, then a readable summary.
    Text,
    /// One JSON object per event, then one for the summary.
    Json,
}

pub(crate) fn parse_seeds(text: &str) -> Result<(u64, u64), String> {
    netsim::parse_seed_range(text)
}

pub(crate) fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected a shard K/N with 1 <= K <= N, such as 3/8, found `{text}`");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let k: u64 = k.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

pub(crate) fn parse_duration(text: &str) -> Result<SimDuration, String> {
    text.parse().map_err(|e| format!("{e}"))
}

/// A panic in a sweep's run (or a test's) is caught and reported as that seed's failure: its default
/// message on stderr would only interleave with the progress bar and the report. Panics
/// anywhere else print as usual.
fn quiet_panics_of_sweep_runs() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        if !thread.name().is_some_and(|n| {
            n.starts_with(netsim_sweep::THREAD_PREFIX) || n.starts_with(netsim_suite::THREAD_PREFIX)
        }) {
            default(info);
        }
    }));
}

fn main() -> ExitCode {
    quiet_panics_of_sweep_runs();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Report(args) => report::report(args),
        Command::Check { files } => check(&files),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Test(args) => suite::test(args),
        Command::Merge { files, json } => sweep::merge(&files, json.as_deref()),
        Command::Kernel {
            file,
            seed,
            until,
            json,
        } => kernel(&file, seed, until, json.as_deref()),
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

/// Longest real time `netsim kernel` plays: the kernel side runs in real time.
const KERNEL_HORIZON_MAX: SimDuration = SimDuration::from_secs(120);

fn kernel(
    file: &Path,
    seed: Option<u64>,
    until: Option<SimDuration>,
    json: Option<&Path>,
) -> Result<ExitCode, String> {
    let scenario = netsim_scenario::load(file).map_err(|e| e.to_string())?;
    if let Some(path) = json {
        check_writable(path)?;
    }
    let horizon = until.unwrap_or(SimDuration::from_secs(2));
    if horizon > KERNEL_HORIZON_MAX {
        return Err(format!(
            "--until {horizon} is longer than the {KERNEL_HORIZON_MAX} the kernel side may run \
             (it runs in real time)"
        ));
    }
    netsim_kernel::prerequisites().map_err(|e| e.to_string())?;
    netsim_kernel::catch_interrupts();
    let seed = seed.unwrap_or(scenario.file.seed);
    let horizon = std::time::Duration::from_nanos(horizon.as_nanos());
    let c = netsim_kernel::compare_scenario(&scenario, seed, horizon)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let mut out = String::new();
    for (name, notes) in c.hosts.iter().zip(&c.model_only) {
        if !notes.is_empty() {
            out.push_str(&format!(
                "{name}: model-only rules the kernel cannot take: {}\n",
                notes.join("; ")
            ));
        }
    }
    for (i, v) in c.connections.iter().enumerate() {
        match v {
            netsim_kernel::compare::Verdict::Same { segments } => {
                out.push_str(&format!(
                    "connection {}: same ({segments} segments)\n",
                    i + 1
                ));
            }
            netsim_kernel::compare::Verdict::Differs {
                at,
                what,
                model,
                kernel,
            } => {
                out.push_str(&format!(
                    "connection {}: DIFFERS at segment {}: {what}\n{}",
                    i + 1,
                    at + 1,
                    netsim_kernel::compare::side_by_side(model, kernel)
                ));
            }
        }
    }
    for p in c.paths.iter().filter(|p| !p.same) {
        out.push_str(&format!(
            "connection {} {}: states DIFFER: model {}, kernel {}\n",
            p.connection,
            p.host,
            p.model.join(" -> "),
            p.kernel.join(" -> ")
        ));
    }
    for (name, (model, kernel)) in c.hosts.iter().zip(&c.errors) {
        let mark = if model == kernel { "same" } else { "DIFFERS" };
        out.push_str(&format!(
            "{name}: application errors {mark}: model {model:?}, kernel {kernel:?}\n"
        ));
    }
    for check in &c.sent {
        let verdict = |ok: bool| if ok { "ok" } else { "FAIL" };
        out.push_str(&format!(
            "expect {}: model {} (found {}), kernel {} (found {})\n",
            check.text,
            verdict(check.model_ok),
            check.model,
            verdict(check.kernel_ok),
            check.kernel
        ));
    }
    for (i, (model, kernel)) in c.faults.iter().enumerate() {
        out.push_str(&format!(
            "fault {}: model matched {} fired {}, kernel matched {} fired {}\n",
            i + 1,
            model.matched,
            model.fired,
            kernel.matched,
            kernel.fired
        ));
    }
    for (i, (model, kernel)) in c.injections.iter().enumerate() {
        let mark = if model == kernel { "same" } else { "DIFFERS" };
        out.push_str(&format!(
            "injection {}: {mark}: model {}, kernel {}\n",
            i + 1,
            model,
            kernel
        ));
    }
    if c.undecodable > 0 {
        out.push_str(&format!(
            "{} packets from the kernel could not be decoded\n",
            c.undecodable
        ));
    }
    let verdict = if c.same() { "SAME" } else { "DIFFERENT" };
    out.push_str(&format!(
        "result:   {verdict} (model seed {seed}, {horizon:?} on the kernel)\n"
    ));
    out!("{out}");
    if let Some(path) = json {
        write_kernel_json(path, file, &scenario.file.name, seed, horizon, &c)?;
    }
    Ok(if c.same() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The comparison of `netsim kernel` as JSON.
fn write_kernel_json(
    path: &Path,
    file: &Path,
    name: &str,
    seed: u64,
    horizon: std::time::Duration,
    c: &netsim_kernel::Comparison,
) -> Result<(), String> {
    use netsim_kernel::compare::Verdict;
    let connections: Vec<serde_json::Value> = c
        .connections
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Verdict::Same { segments } => serde_json::json!({
                "connection": i + 1, "verdict": "same", "segments": segments,
            }),
            Verdict::Differs {
                at,
                what,
                model,
                kernel,
            } => serde_json::json!({
                "connection": i + 1, "verdict": "differs", "segment": at + 1,
                "what": what, "model": model, "kernel": kernel,
            }),
        })
        .collect();
    let hosts: Vec<serde_json::Value> = c
        .hosts
        .iter()
        .zip(&c.errors)
        .zip(&c.model_only)
        .map(|((host, (model, kernel)), only)| {
            serde_json::json!({
                "host": host, "errors_model": model, "errors_kernel": kernel,
                "model_only_rules": only,
            })
        })
        .collect();
    let sent: Vec<serde_json::Value> = c
        .sent
        .iter()
        .map(|s| {
            serde_json::json!({
                "expectation": s.text, "model": s.model, "kernel": s.kernel,
                "model_ok": s.model_ok, "kernel_ok": s.kernel_ok,
            })
        })
        .collect();
    let injections: Vec<serde_json::Value> = c
        .injections
        .iter()
        .map(|(m, k)| serde_json::json!({ "model": m.to_string(), "kernel": k.to_string() }))
        .collect();
    let paths: Vec<serde_json::Value> = c
        .paths
        .iter()
        .map(|p| {
            serde_json::json!({
                "connection": p.connection, "host": p.host, "same": p.same,
                "model": p.model, "kernel": p.kernel,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "scenario": name,
        "file": file.display().to_string(),
        "seed": seed,
        "horizon_s": horizon.as_secs_f64(),
        "result": if c.same() { "same" } else { "different" },
        "connections": connections,
        "hosts": hosts,
        "undecodable": c.undecodable,
        "sent": sent,
        "injections": injections,
        "states": paths,
        "faults": c.faults.iter().map(|(m, k)| serde_json::json!({
            "model_matched": m.matched, "model_fired": m.fired,
            "kernel_matched": k.matched, "kernel_fired": k.fired,
        })).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    write_atomic(path, &(text + "\n"))
}

fn check(files: &[PathBuf]) -> Result<ExitCode, String> {
    let mut bad = 0;
    for file in files {
        match netsim_scenario::load(file) {
            Ok(s) => out!("ok: {} ({})\n", file.display(), s.file.name),
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

/// The `kernel` column of `netsim list`: how the story fares on the real kernel.
fn kernel_mark(s: &netsim_scenario::Scenario) -> String {
    match &s.file.kernel {
        Some(netsim_scenario::KernelDef::Same(until)) => format!("kernel: same {}", until.0),
        Some(netsim_scenario::KernelDef::Differs(_)) => "kernel: differs".into(),
        Some(netsim_scenario::KernelDef::NotInCi(_)) => "kernel: same, by hand".into(),
        None if netsim_kernel::plan::plan(s).is_err() => "kernel: refused".into(),
        None => "kernel: unchecked".into(),
    }
}

fn list(dir: &Path) -> Result<ExitCode, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    let name_of = |f: &PathBuf| {
        f.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    let width = files.iter().map(|f| name_of(f).len()).max().unwrap_or(0);
    for file in &files {
        let name = name_of(file);
        match netsim_scenario::load(file) {
            Ok(s) => {
                let first = s
                    .file
                    .description
                    .split(". ")
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('.');
                out!("{name:<width$}  {:<21}  {first}\n", kernel_mark(&s));
            }
            Err(e) => out!("{name:<width$}  (invalid: {e})\n"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
