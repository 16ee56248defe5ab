//! netsim's scenario files: the RON format ([`mod@format`]), its units ([`units`]), the
//! compilation of a file into an engine run ([`Compiled`]), and the run itself ([`World`]:
//! scripts or applications of the caller's on every host, the observer and the oracles, the
//! verdict). Errors name the file, line and column. Files are written back too ([`to_ron`],
//! [`Scenario::pinned`]).

mod compile;
mod emit;
mod error;
pub mod format;
mod observe;
pub mod oracle;
pub mod randomize;
mod script;
pub mod units;
pub mod world;

use std::borrow::Cow;
use std::path::Path;

use netsim_engine::{FaultId, RunError, RunOutcome, TraceSink};
use netsim_host::HostEvent;
use netsim_tcp::Counters;

pub use compile::{Bounds, Compiled, Expectation, HostPlan, SentWindow};
pub use emit::to_ron;
pub use error::ScenarioError;
pub use format::{CounterDef, KernelDef, ScenarioFile, ViolationDef};
pub use observe::{HostView, Observer};
pub use oracle::{Oracle, Violation};
pub use script::{Script, ScriptStats, Step};
pub use world::{HostApp, UserApp, World};

use error::Locator;

/// A parsed and checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file as written.
    pub file: ScenarioFile,
    /// What the engine runs.
    pub compiled: Compiled,
    /// Stable hash of the file's text as read (sweep reports carry it, so shards of an edited
    /// file are not merged with those of the original).
    pub source_hash: u64,
}

/// Reads, parses and checks the scenario at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let shown = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        path: shown.clone(),
        line: 1,
        col: 1,
        message: format!("cannot read the file: {e}"),
    })?;
    parse(&src, &shown)
}

/// Parses and checks scenario text; `path` is only used in error messages.
pub fn parse(src: &str, path: &str) -> Result<Scenario, ScenarioError> {
    let options =
        ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    let file: ScenarioFile = options.from_str(src).map_err(|e| {
        // ron can point at the blank before the offending value (`latency: 5` at the space):
        // move to the value itself.
        let (line, mut col) = (e.span.start.line, e.span.start.col);
        if let Some(text) = src.lines().nth(line.saturating_sub(1)) {
            let blanks = text
                .chars()
                .skip(col.saturating_sub(1))
                .take_while(|c| *c == ' ' || *c == '\t')
                .count();
            if col.saturating_sub(1) + blanks < text.chars().count() {
                col += blanks;
            }
        }
        ScenarioError {
            path: path.to_string(),
            line,
            col,
            message: e.code.to_string(),
        }
    })?;
    let compiled = compile::compile(&file, Locator { path, src })?;
    Ok(Scenario {
        file,
        compiled,
        source_hash: netsim_core::hash::hash_str(src),
    })
}

/// What one host did, for the summary.
#[derive(Debug, Clone)]
pub struct HostReport {
    /// Host name.
    pub name: String,
    /// Connections per state at the end (LISTEN counts listeners), like `State::ALL`.
    pub at_end: [u32; 11],
    /// The sockets still open at the end, as `ss -tan -o` lists them.
    pub sockets: Vec<netsim_tcp::SocketRow>,
    /// Most connections per state at once.
    pub peaks: [u64; 11],
    /// TCP counters.
    pub counters: Counters,
    /// What the applications saw. For an application of the caller's only its errors are
    /// known (failed connections, and failed calls it recorded with `Api::failed`).
    pub app: ScriptStats,
    /// Whether the host ran its script (not an application of the caller's).
    pub scripted: bool,
}

/// One verdict: an expectation, an oracle, or a fault that had to fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, and what was found.
    pub text: String,
    /// What was checked, without what was found: the same for every run of the scenario, so
    /// failures can be counted by kind across seeds.
    pub kind: String,
    /// Whether it held (false when not reached).
    pub passed: bool,
    /// False when the run was cut short (`--until`) before the check could be decided: a
    /// count below its lower bound that might still grow, a state at the end that is not the
    /// end. Such a check neither passes nor fails.
    pub reached: bool,
}

/// What a run of a scenario produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// The engine's outcome.
    pub outcome: RunOutcome,
    /// Per host, in host order.
    pub hosts: Vec<HostReport>,
    /// Every verdict, expectations first, then oracles, then faults.
    pub checks: Vec<Check>,
    /// Violations the oracles found.
    pub violations: Vec<Violation>,
    /// Fault rules that never fired and are not optional.
    pub unfired: Vec<FaultId>,
    /// Per `Sent` expectation, in order: the segments it counted.
    pub sent: Vec<u64>,
}

impl Report {
    /// True when no check failed (checks not reached, in a run cut short, do not fail it).
    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.reached && !c.passed)
    }

    /// The checks a run cut short could not decide.
    pub fn not_reached(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.reached)
    }

    /// The verdict: a failed check fails the run; otherwise a check left undecided by a cut
    /// makes it a pass so far.
    pub fn verdict(&self) -> Verdict {
        if !self.passed() {
            Verdict::Fail
        } else if self.not_reached().next().is_some() {
            Verdict::PassSoFar
        } else {
            Verdict::Pass
        }
    }
}

/// A run's verdict (see [`Report::verdict`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed.
    Pass,
    /// No check failed, but a run cut short (`--until`) left some undecided.
    PassSoFar,
    /// A check failed.
    Fail,
}

impl Verdict {
    /// `pass`, `pass so far` or `fail`, as the JSON summary writes it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::PassSoFar => "pass so far",
            Verdict::Fail => "fail",
        }
    }
}

impl Scenario {
    /// Runs the scenario once with `seed`, sending trace records to `sink`.
    pub fn run<S: TraceSink<HostEvent>>(
        &self,
        seed: u64,
        sink: S,
    ) -> Result<(Report, S), RunError> {
        let all = vec![true; self.compiled.randomize.len()];
        self.run_with(seed, &all, sink)
    }

    /// The randomised fault schedule `seed` draws, with only the `enabled` items, as text.
    pub fn schedule_text(&self, seed: u64, enabled: &[bool]) -> String {
        let c = &self.compiled;
        let drawn = randomize::draw(&c.randomize, seed);
        let hosts: Vec<String> = self.file.hosts.iter().map(|h| h.name.clone()).collect();
        let links: Vec<(String, String)> = c
            .topology
            .links
            .iter()
            .map(|l| (hosts[l.a.0 as usize].clone(), hosts[l.b.0 as usize].clone()))
            .collect();
        randomize::Schedule {
            items: &c.randomize,
            drawn: &drawn,
            enabled,
            hosts: &hosts,
            links: &links,
        }
        .to_string()
    }

    /// Runs with `seed`, applying only the `enabled` randomised faults (shrinking turns some
    /// off; the others keep the values `seed` draws for them).
    pub fn run_with<S: TraceSink<HostEvent>>(
        &self,
        seed: u64,
        enabled: &[bool],
        sink: S,
    ) -> Result<(Report, S), RunError> {
        self.run_observed(seed, enabled, sink, |_, _| {})
    }

    /// [`Scenario::run_with`], calling `tick(now, events)` now and then as the run goes (see
    /// `netsim_engine::Sim::run_observed`): for a progress display.
    pub fn run_observed<S: TraceSink<HostEvent>>(
        &self,
        seed: u64,
        enabled: &[bool],
        sink: S,
        tick: impl FnMut(netsim_core::SimTime, u64),
    ) -> Result<(Report, S), RunError> {
        self.run_inner(seed, enabled, sink, tick, report::Describe::All)
    }

    /// A run for its verdict alone, as a sweep wants it: the same run, but the checks that
    /// pass carry no text and the hosts no socket table (the failing checks are described
    /// in full, so failures still count by kind).
    pub fn verdict(&self, seed: u64, enabled: &[bool]) -> Result<Report, RunError> {
        self.run_inner(
            seed,
            enabled,
            netsim_engine::NullSink,
            |_, _| {},
            report::Describe::Failures,
        )
        .map(|(report, _)| report)
    }

    fn run_inner<S: TraceSink<HostEvent>>(
        &self,
        seed: u64,
        enabled: &[bool],
        sink: S,
        tick: impl FnMut(netsim_core::SimTime, u64),
        describe: report::Describe,
    ) -> Result<(Report, S), RunError> {
        let mut world = World::new(Cow::Borrowed(self), seed, enabled, sink, Vec::new(), None);
        let outcome = world.run(tick)?;
        // Cut short (`--until` before the file's end) unless the run fell idle first: then
        // nothing more would have happened, and every check is decided.
        let cut = match outcome.stop {
            netsim_engine::Stop::EndTime => world.cut_short(outcome.end),
            netsim_engine::Stop::Idle => None,
        };
        Ok(world.judge(outcome, cut, describe))
    }
}

mod report;

pub use report::{sent_text, socket_table, stop_reason, summary};
