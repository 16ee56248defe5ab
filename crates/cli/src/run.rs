//! `netsim run`: one run of a scenario, its trace on stdout as text or JSON lines, its
//! summary, and the files it can write beside them (packet captures, socket-state timelines).

use std::io::{self, BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use netsim_core::{SimDuration, SimTime};
use netsim_engine::pcap::PcapSink;
use netsim_engine::{NullSink, TextLines, TextWriter, TraceRecord, TraceSink};
use netsim_host::HostEvent;
use netsim_scenario::{Report, Scenario};
use netsim_view::ladder::DEFAULT_SEGMENTS;
use netsim_view::states::{StateSink, StateTimeline};
use netsim_view::{ConnSelector, Ladder, LadderSink, TraceFilter};

use crate::{AtomicFile, Format, json, stdout_failed};

/// Run a scenario: print its trace, then a summary.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: crate::Target,
    /// Print only the summary, not the trace.
    #[arg(long)]
    quiet: bool,
    /// Output format of the trace and summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Run twice and compare the trace hashes; on a difference, show the first differing
    /// line of each run.
    #[arg(long)]
    verify_determinism: bool,
    /// Print only the table of the sockets open at the end, as `ss -tan -o` does (every
    /// socket; the summary shows the first 20 of each host).
    #[arg(long, conflicts_with_all = ["quiet", "format", "verify_determinism"])]
    sockets: bool,
    /// Write the packets as pcap files for Wireshark: PATH as the senders sent them, and
    /// PATH with `.delivered` before its extension as the receivers got them (what is only in
    /// the first was dropped). Virtual time is the timestamp.
    #[arg(long, value_name = "PATH")]
    pcap: Option<PathBuf>,
    /// Show only the records of this host (repeat for several): what it does, and what the
    /// network does to its packets.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// Show only one connection: its number in the run (the JSON trace's `conn.number`), an
    /// endpoint (10.0.0.1:40000) or an endpoint and incarnation (10.0.0.1:40000#2).
    #[arg(long, value_name = "CONN")]
    conn: Option<ConnSelector>,
    /// Show only the records of connections with a side in this state, and the changes into
    /// or out of it (repeat for several; e.g. TIME_WAIT).
    #[arg(long = "state", value_name = "STATE")]
    in_states: Vec<String>,
    /// Show only records at or after this virtual time (e.g. 1.5s).
    #[arg(long, value_parser = crate::parse_duration, value_name = "TIME")]
    from: Option<SimDuration>,
    /// Show only records at or before this virtual time.
    #[arg(long, value_parser = crate::parse_duration, value_name = "TIME")]
    to: Option<SimDuration>,
    /// Draw a ladder (sequence) diagram of the connections that --conn, --from/--to, --host
    /// and --state pick (all of them by default; at most 1000 segments): PATH.svg as a
    /// picture, any other PATH as text, `-` as text on the terminal in place of the trace.
    #[arg(long, value_name = "PATH")]
    ladder: Option<PathBuf>,
    /// Write, per host, the sockets in each TCP state and the connections established and
    /// failed per second over virtual time as CSV: one row per time bucket per host (at most
    /// 1000 buckets, 1 ms wide or wider for a long run).
    #[arg(long, value_name = "PATH.csv", conflicts_with = "verify_determinism")]
    states: Option<PathBuf>,
    /// Draw the same as an SVG chart: per host, sockets per state and connections per
    /// second over virtual time.
    #[arg(long, value_name = "PATH.svg", conflicts_with = "verify_determinism")]
    plot: Option<PathBuf>,
}

/// Where `--ladder` goes.
enum LadderTarget {
    Terminal,
    Svg(PathBuf),
    Text(PathBuf),
}

impl LadderTarget {
    /// `-` for the terminal; a path ending in `.svg` for a picture, any other for text
    /// (checked writable before the run).
    fn for_path(path: &Path) -> Result<LadderTarget, String> {
        if path == Path::new("-") {
            return Ok(LadderTarget::Terminal);
        }
        crate::check_writable(path)?;
        Ok(match path.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("svg") => LadderTarget::Svg(path.to_path_buf()),
            _ => LadderTarget::Text(path.to_path_buf()),
        })
    }
}

impl Args {
    /// The trace filter the options ask for.
    fn filter(&self, scenario: &Scenario) -> Result<TraceFilter, String> {
        let mut filter = TraceFilter::default()
            .hosts(&self.hosts, &scenario.compiled.topology.hosts)?
            .states(&self.in_states)?;
        filter.conn = self.conn;
        filter.from = self.from.map(SimTime::after);
        filter.to = self.to.map(SimTime::after);
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from > to {
                return Err(format!("--from {from} is after --to {to}"));
            }
        }
        Ok(filter)
    }
}

/// The text trace, filtered.
struct Shown<W: io::Write> {
    writer: TextWriter<W>,
    filter: TraceFilter,
}

impl<W: io::Write> TraceSink<HostEvent> for Shown<W> {
    fn start(&mut self, host_names: &[String]) {
        TraceSink::<HostEvent>::start(&mut self.writer, host_names);
    }

    fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        let filter = &mut self.filter;
        self.writer
            .record_if(record, |conn| filter.keep(record, conn));
    }
}

/// The files of `--states` and `--plot`, checked writable before the run.
struct StateFiles {
    csv: Option<PathBuf>,
    svg: Option<PathBuf>,
}

impl StateFiles {
    fn new(csv: Option<&Path>, svg: Option<&Path>) -> Result<Option<StateFiles>, String> {
        if csv.is_none() && svg.is_none() {
            return Ok(None);
        }
        for path in csv.iter().chain(&svg) {
            crate::check_writable(path)?;
        }
        Ok(Some(StateFiles {
            csv: csv.map(Path::to_path_buf),
            svg: svg.map(Path::to_path_buf),
        }))
    }

    fn write(&self, timeline: &StateTimeline, title: &str) -> Result<(), String> {
        if let Some(path) = &self.csv {
            crate::write_atomic(path, &timeline.csv())?;
        }
        if let Some(path) = &self.svg {
            crate::write_atomic(path, &timeline.plot(title))?;
        }
        Ok(())
    }
}

/// The two capture files of `--pcap`, checked writable before the run.
struct PcapFiles {
    sent: PathBuf,
    delivered: PathBuf,
}

impl PcapFiles {
    fn new(path: &Path) -> Result<PcapFiles, String> {
        let stem = path
            .file_stem()
            .ok_or_else(|| format!("{}: not a file name", path.display()))?
            .to_string_lossy();
        let delivered = match path.extension() {
            Some(ext) => path.with_file_name(format!("{stem}.delivered.{}", ext.to_string_lossy())),
            None => path.with_file_name(format!("{stem}.delivered")),
        };
        crate::check_writable(path)?;
        crate::check_writable(&delivered)?;
        Ok(PcapFiles {
            sent: path.to_path_buf(),
            delivered,
        })
    }
}

/// What a run draws or writes beside its trace, when asked.
struct Views<'a> {
    ladder: Option<Ladder>,
    pcap: Option<PcapFiles>,
    states: Option<&'a StateFiles>,
}

/// Runs the scenario into `sink`, drawing the ladder and writing the capture and state files
/// too when asked; the files are written whole or not at all.
fn run_into<S: TraceSink<HostEvent>>(
    scenario: &Scenario,
    seed: u64,
    enabled: &[bool],
    sink: S,
    views: Views<'_>,
    tick: impl FnMut(SimTime, u64),
) -> Result<(Report, S, Option<Ladder>), String> {
    let Views {
        ladder,
        pcap,
        states,
    } = views;
    let sink = LadderSink {
        ladder,
        inner: StateSink::new(sink, states.map(|_| StateTimeline::new())),
    };
    let (report, sink) = capture_into(scenario, seed, enabled, sink, pcap, tick)?;
    let LadderSink { ladder, inner } = sink;
    let (sink, timeline) = inner.finish(report.outcome.end);
    if let (Some(files), Some(timeline)) = (states, timeline) {
        let title = format!(
            "{}: sockets per state, connections per second",
            crate::run_title(scenario, seed)
        );
        files.write(&timeline, &title)?;
    }
    Ok((report, sink, ladder))
}

/// Runs the scenario into `sink`, and into the capture files too when asked.
fn capture_into<S: TraceSink<HostEvent>>(
    scenario: &Scenario,
    seed: u64,
    enabled: &[bool],
    sink: S,
    pcap: Option<PcapFiles>,
    tick: impl FnMut(SimTime, u64),
) -> Result<(Report, S), String> {
    let Some(files) = pcap else {
        let run = scenario.run_observed(seed, enabled, sink, tick);
        netsim_suite::file::placing_outputs();
        return run.map_err(|e| e.to_string());
    };
    let sent = AtomicFile::create(&files.sent)?;
    let delivered = AtomicFile::create(&files.delivered)?;
    let capture = PcapSink::new(sink, sent, delivered)
        .map_err(|e| format!("{}: {e}", files.sent.display()))?;
    let run = scenario.run_observed(seed, enabled, capture, tick);
    // From here the outputs go into place, all of them, whatever signal comes.
    netsim_suite::file::placing_outputs();
    let (report, capture) = run.map_err(|e| e.to_string())?;
    let (sink, sent, delivered) = capture
        .finish()
        .map_err(|e| format!("{}: {e}", files.sent.display()))?;
    sent.commit()?;
    delivered.commit()?;
    Ok((report, sink))
}

pub fn run(args: Args) -> Result<ExitCode, String> {
    let file = args.target.file();
    let (scenario, seed) = args.target.load()?;
    if args.verify_determinism {
        return verify(file, &scenario, seed);
    }
    let pcap = args.pcap.as_deref().map(PcapFiles::new).transpose()?;
    let filter = args.filter(&scenario)?;
    let ladder = match args.ladder.as_deref() {
        None => None,
        Some(path) => {
            let target = LadderTarget::for_path(path)?;
            let ladder = crate::new_ladder(&scenario, seed, filter.clone(), DEFAULT_SEGMENTS);
            let ladder = match target {
                LadderTarget::Svg(_) => ladder.for_picture(),
                _ => ladder,
            };
            Some((target, ladder))
        }
    };
    // `--ladder -` prints the diagram in place of the trace.
    let ladder_on_terminal = matches!(ladder, Some((LadderTarget::Terminal, _)));
    if ladder_on_terminal && matches!(args.format, Format::Json) {
        return Err(
            "--ladder - prints a text diagram in place of the trace, which \
                    --format json would mix into its JSON lines: write the ladder to a file \
                    (--ladder PATH or PATH.svg)"
                .into(),
        );
    }
    let states = StateFiles::new(args.states.as_deref(), args.plot.as_deref())?;
    let states = states.as_ref();
    let (quiet, format) = (
        args.quiet || args.sockets || ladder_on_terminal,
        args.format,
    );
    let started = Instant::now();
    let failed_run = |e| format!("{}: {e}", file.display());
    let stdout = || BufWriter::new(io::stdout().lock());
    let all = vec![true; scenario.compiled.randomize.len()];
    // On a terminal that the trace is not scrolling through, a long run shows how far it is.
    let shown = io::stderr().is_terminal() && (quiet || !io::stdout().is_terminal());
    let end = scenario.compiled.limits.end.unwrap_or(SimTime::ZERO);
    let mut progress = RunProgress::new(shown, end);
    // SIGINT or SIGTERM ends the run with no output file written and none left half-written:
    // the files being made are temporary until the end.
    crate::exit_cleanly_on_signals()?;
    let tick = |now, events| progress.tick(now, events);
    let (target, ladder) = ladder.unzip();
    let views = Views {
        ladder,
        pcap,
        states,
    };
    let (report, ladder, missing) = match (quiet, format) {
        (true, _) => {
            let (report, _, ladder) =
                run_into(&scenario, seed, &all, NullSink, views, tick).map_err(failed_run)?;
            let missing = ladder.as_ref().and_then(|l| l.filter().conn_not_found());
            (report, ladder, missing)
        }
        (false, Format::Text) => {
            let shown = Shown {
                writer: TextWriter::new(stdout()),
                filter,
            };
            let (report, sink, ladder) =
                run_into(&scenario, seed, &all, shown, views, tick).map_err(failed_run)?;
            let missing = sink.filter.conn_not_found();
            sink.writer.finish().unwrap_or_else(|e| stdout_failed(e));
            (report, ladder, missing)
        }
        (false, Format::Json) => {
            let json = json::JsonLines::new(stdout(), filter);
            let (report, sink, ladder) =
                run_into(&scenario, seed, &all, json, views, tick).map_err(failed_run)?;
            let missing = sink.filter().conn_not_found();
            sink.finish().unwrap_or_else(|e| stdout_failed(e));
            (report, ladder, missing)
        }
    };
    if let Some(conn) = missing {
        progress.finish();
        return Err(crate::conn_not_in_run(conn));
    }
    if let (Some(target), Some(ladder)) = (target, ladder) {
        match target {
            LadderTarget::Terminal => out!("{}", ladder.text()),
            LadderTarget::Svg(path) => crate::write_atomic(&path, &ladder.svg())?,
            LadderTarget::Text(path) => crate::write_atomic(&path, &ladder.text())?,
        }
    }
    progress.finish();
    if args.sockets {
        for line in netsim_scenario::socket_table(&report.hosts, None) {
            out!("{line}\n");
        }
        return Ok(crate::exit_for(report.passed()));
    }
    let wall = started.elapsed();
    let text = match format {
        Format::Text => summary(&scenario, seed, &report, wall),
        Format::Json => format!(
            "{}\n",
            json::summary(&scenario, seed, &report, wall.as_secs_f64())
        ),
    };
    out!("{text}");
    Ok(crate::exit_for(report.passed()))
}

/// A progress bar for a long run: simulated time against the end, shown on stderr once the
/// run has taken a second of wall time (short runs print nothing). Display only: the wall
/// clock read here never reaches the run.
struct RunProgress {
    shown: bool,
    started: Instant,
    end: SimTime,
    bar: Option<indicatif::ProgressBar>,
}

impl RunProgress {
    fn new(shown: bool, end: SimTime) -> RunProgress {
        RunProgress {
            shown,
            started: Instant::now(),
            end,
            bar: None,
        }
    }

    fn tick(&mut self, now: SimTime, events: u64) {
        if !self.shown || (self.bar.is_none() && self.started.elapsed().as_secs() < 1) {
            return;
        }
        let millis = |t: SimTime| t.as_nanos() / 1_000_000;
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(millis(self.end).max(1));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {msg}, eta {eta}")
                    .expect("a valid template"),
            );
            bar
        });
        bar.set_position(millis(now));
        let seconds = |t: SimTime| t.as_nanos() as f64 / 1e9;
        bar.set_message(format!(
            "simulated {:.1} s of {:.1} s, {} events",
            seconds(now),
            seconds(self.end),
            events
        ));
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Runs the scenario twice and compares; exit 1 with the first differing line if they differ.
fn verify(file: &Path, scenario: &Scenario, seed: u64) -> Result<ExitCode, String> {
    let failed_run = |e| format!("{}: {e}", file.display());
    let first = scenario.run(seed, NullSink).map_err(failed_run)?.0;
    let second = scenario.run(seed, NullSink).map_err(failed_run)?.0;
    let (a, b) = (first.outcome.trace_hash, second.outcome.trace_hash);
    if a == b {
        out!(
            "deterministic: 2 runs of {} with seed {seed}, {} trace records each, hash {a:016x}\n",
            scenario.file.name,
            first.outcome.trace_records
        );
        return Ok(ExitCode::SUCCESS);
    }
    // Run again with the text kept to show where the runs part.
    let lines_a = scenario
        .run(seed, TextLines::default())
        .map_err(failed_run)?
        .1
        .lines;
    let lines_b = scenario
        .run(seed, TextLines::default())
        .map_err(failed_run)?
        .1
        .lines;
    let at = lines_a
        .iter()
        .zip(&lines_b)
        .position(|(x, y)| x != y)
        .unwrap_or(lines_a.len().min(lines_b.len()));
    out!("NOT deterministic: trace hashes {a:016x} and {b:016x} differ\n");
    out!("first difference at trace line {}:\n", at + 1);
    out!(
        "  run 1: {}\n",
        lines_a.get(at).map_or("(end of trace)", String::as_str)
    );
    out!(
        "  run 2: {}\n",
        lines_b.get(at).map_or("(end of trace)", String::as_str)
    );
    Ok(ExitCode::from(1))
}

fn summary(scenario: &Scenario, seed: u64, report: &Report, wall: std::time::Duration) -> String {
    let o = &report.outcome;
    let secs = wall.as_secs_f64();
    format!(
        "{}stats:    {} events, {} segments sent, simulated {}, wall {:.3}s, {:.0} events/s\n",
        netsim_scenario::summary(scenario, seed, report),
        o.events,
        o.stats.sent,
        o.end,
        secs,
        o.events as f64 / secs.max(1e-9)
    )
}
