//! [`Sim`]: a world running, driven from test code; [`Outcome`]: what it showed.

use std::borrow::Cow;
use std::collections::BTreeMap;

use netsim_core::{SimDuration, SimTime};
use netsim_engine::{
    Direction, HostId, NetChange, RunError, Stepped, TextFormat, TraceRecord, TraceSink,
};
use netsim_host::{App, HostEvent};
use netsim_scenario::{Check, Report, Scenario, ScenarioError, World};
use netsim_suite::form::Form;
use netsim_tcp::{Counters, SocketRow, State, TcpStack};

use crate::bytes::ByteOracle;

/// What can go wrong building or running a world.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The world, as a scenario file, is not valid (with the place and what was expected).
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// A run hit a cap: a runaway, not a result.
    #[error("{0}")]
    Run(#[from] RunError),
    /// Something given to the builder is not valid.
    #[error("{0}")]
    Build(String),
    /// No host has this name.
    #[error("there is no host `{0}`")]
    NoHost(String),
    /// The two hosts have no link between them.
    #[error("there is no link between `{0}` and `{1}`")]
    NoLink(String, String),
}

/// The trace as text, and its snapshot form.
struct Recorder {
    format: TextFormat,
    text: String,
    form: Form,
}

impl TraceSink<HostEvent> for Recorder {
    fn start(&mut self, host_names: &[String]) {
        self.format = TextFormat::new(host_names);
        self.form.start(host_names);
    }

    fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        self.format.write(record, &mut self.text);
        self.text.push('\n');
        self.form.record(record);
    }
}

/// A world ready to run or running: step it, run it to a time, change its network between
/// steps (partition, heal, crash, restart, hold, release), look at its hosts, and finish it
/// for its [`Outcome`].
///
/// ```
/// use netsim::{Builder, Link, SimDuration, State};
///
/// let mut sim = Builder::new("cut")
///     .end(SimDuration::from_secs(30))
///     .script_host("client", "10.0.0.1", r#"[Connect(to: "server", port: 80), Send(100), Sleep("20s"), Close]"#)
///     .script_host("server", "10.0.0.2", "[Serve(port: 80, steps: [Recv(100), RecvEof, Close])]")
///     .link("client", "server", Link::new().latency(SimDuration::from_millis(10)))
///     .expect(r#"[Error(host: "client", errno: "ETIMEDOUT"), Unfinished(host: "server")]"#)
///     .build()
///     .unwrap();
/// sim.run_until(SimDuration::from_secs(1)).unwrap();
/// assert_eq!(sim.states("client").unwrap().get(&State::Established), Some(&1));
/// sim.partition("client", "server").unwrap();
/// sim.crash("server").unwrap();
/// let outcome = sim.run().unwrap();
/// assert!(outcome.trace().contains("partition client <-> server"), "{}", outcome.trace());
/// ```
pub struct Sim {
    world: World<'static, Recorder>,
}

impl Sim {
    pub(crate) fn new(
        scenario: Scenario,
        apps: Vec<Option<Box<dyn App>>>,
        oracle: ByteOracle,
    ) -> Sim {
        let seed = scenario.file.seed;
        let all = vec![true; scenario.compiled.randomize.len()];
        let end = scenario.compiled.limits.end.unwrap_or(SimTime::ZERO);
        let recorder = Recorder {
            format: TextFormat::default(),
            text: String::new(),
            form: Form::beside_text(end),
        };
        let world = World::new(
            Cow::Owned(scenario),
            seed,
            &all,
            recorder,
            apps,
            Some(oracle.shared()),
        );
        Sim { world }
    }

    /// The seed of the run.
    pub fn seed(&self) -> u64 {
        self.world.scenario().file.seed
    }

    /// Virtual time now.
    pub fn now(&self) -> SimTime {
        self.world.sim().now()
    }

    /// Runs the next event; returns its time, or `None` when the run is over.
    pub fn step(&mut self) -> Result<Option<SimTime>, Error> {
        Ok(match self.world.step()? {
            Stepped::Ran(at) => Some(at),
            Stepped::Over(_) => None,
        })
    }

    /// Runs every event up to `at` (virtual time from the start) and stands the clock there,
    /// so a change made next happens at `at`. Returns whether the run reached its end.
    pub fn run_until(&mut self, at: SimDuration) -> Result<bool, Error> {
        Ok(self.world.run_until(SimTime::after(at))?.is_some())
    }

    /// Runs to the end and gives the verdict.
    pub fn run(mut self) -> Result<Outcome, Error> {
        self.world.run(|_, _| {})?;
        Ok(self.finish())
    }

    /// The verdict on the run as far as it got: stopped before its end (and not idle), it
    /// is judged as cut short, as `netsim run --until` judges it.
    pub fn finish(self) -> Outcome {
        // The summary names the scenario, which the verdict consumes with the world.
        let scenario = self.world.scenario().clone();
        let seed = scenario.file.seed;
        let (report, recorder) = self.world.finish();
        let summary = netsim_scenario::summary(&scenario, seed, &report);
        let snapshot = format!("{}\n{summary}", recorder.form.text_of(&recorder.text));
        Outcome {
            seed,
            report,
            summary,
            trace: recorder.text,
            snapshot,
        }
    }

    /// The trace so far, as `netsim run` prints it.
    pub fn trace(&self) -> &str {
        &self.world.sim().sink().inner.text
    }

    fn host(&self, name: &str) -> Result<HostId, Error> {
        self.world
            .scenario()
            .file
            .hosts
            .iter()
            .position(|h| h.name == name)
            .map(|i| HostId(i as u32))
            .ok_or_else(|| Error::NoHost(name.to_string()))
    }

    fn pair(&self, a: &str, b: &str) -> Result<(HostId, HostId), Error> {
        let (ha, hb) = (self.host(a)?, self.host(b)?);
        let linked = self
            .world
            .scenario()
            .compiled
            .topology
            .links
            .iter()
            .any(|l| (l.a, l.b) == (ha, hb) || (l.a, l.b) == (hb, ha));
        if !linked {
            return Err(Error::NoLink(a.to_string(), b.to_string()));
        }
        Ok((ha, hb))
    }

    /// Applies `change` (`Partition`, `Heal`, `Hold` or `Release`) between two linked hosts
    /// now.
    fn between(
        &mut self,
        a: &str,
        b: &str,
        change: fn(HostId, HostId, Direction) -> NetChange,
        direction: Direction,
    ) -> Result<(), Error> {
        let (a, b) = self.pair(a, b)?;
        self.world.change(change(a, b, direction));
        Ok(())
    }

    /// Cuts both directions between `a` and `b` now; packets on the link are dropped.
    pub fn partition(&mut self, a: &str, b: &str) -> Result<(), Error> {
        self.between(a, b, NetChange::Partition, Direction::Both)
    }

    /// Cuts packets from `from` to `to` now.
    pub fn partition_one_way(&mut self, from: &str, to: &str) -> Result<(), Error> {
        self.between(from, to, NetChange::Partition, Direction::OneWay)
    }

    /// Restores both directions between `a` and `b` now.
    pub fn heal(&mut self, a: &str, b: &str) -> Result<(), Error> {
        self.between(a, b, NetChange::Heal, Direction::Both)
    }

    /// Restores packets from `from` to `to` now.
    pub fn heal_one_way(&mut self, from: &str, to: &str) -> Result<(), Error> {
        self.between(from, to, NetChange::Heal, Direction::OneWay)
    }

    /// Holds both directions between `a` and `b` now: packets that would enter the link wait
    /// (in the trace as `hold (link)`) until [`Sim::release`]; those already on it go on.
    pub fn hold(&mut self, a: &str, b: &str) -> Result<(), Error> {
        self.between(a, b, NetChange::Hold, Direction::Both)
    }

    /// Holds packets from `from` to `to` now.
    pub fn hold_one_way(&mut self, from: &str, to: &str) -> Result<(), Error> {
        self.between(from, to, NetChange::Hold, Direction::OneWay)
    }

    /// Lets what a hold between `a` and `b` kept enter the link now, in the order it was
    /// sent, and stops holding.
    pub fn release(&mut self, a: &str, b: &str) -> Result<(), Error> {
        self.between(a, b, NetChange::Release, Direction::Both)
    }

    /// Releases what was held from `from` to `to`.
    pub fn release_one_way(&mut self, from: &str, to: &str) -> Result<(), Error> {
        self.between(from, to, NetChange::Release, Direction::OneWay)
    }

    /// The host stops now: its connections and timers are lost, packets to it dropped.
    pub fn crash(&mut self, host: &str) -> Result<(), Error> {
        let h = self.host(host)?;
        self.world.change(NetChange::Crash(h));
        Ok(())
    }

    /// The host comes back now with fresh TCP state; its application starts again.
    pub fn restart(&mut self, host: &str) -> Result<(), Error> {
        let h = self.host(host)?;
        self.world.change(NetChange::Restart(h));
        Ok(())
    }

    fn stack(&self, host: &str) -> Result<Option<&TcpStack>, Error> {
        let h = self.host(host)?;
        Ok(self.world.sim().hosts()[h.0 as usize].stack())
    }

    /// The host's open sockets now, as `ss -tan -o` lists them (none while it is down).
    pub fn sockets(&self, host: &str) -> Result<Vec<SocketRow>, Error> {
        Ok(self
            .stack(host)?
            .map(|s| s.sockets(self.now()))
            .unwrap_or_default())
    }

    /// The host's connections per state now (LISTEN counts listeners; states with none are
    /// left out).
    pub fn states(&self, host: &str) -> Result<BTreeMap<State, u32>, Error> {
        let counts = self
            .stack(host)?
            .map(|s| s.state_counts())
            .unwrap_or_default();
        Ok(State::ALL
            .iter()
            .map(|s| (*s, counts[*s as usize]))
            .filter(|(_, n)| *n > 0)
            .collect())
    }

    /// The host's TCP counters now (zero while it is down).
    pub fn counters(&self, host: &str) -> Result<Counters, Error> {
        Ok(self
            .stack(host)?
            .map(|s| s.counters().clone())
            .unwrap_or_default())
    }
}

/// What a run showed: its report (checks, counters, sockets left open), the summary and the
/// trace as `netsim run` prints them, and the snapshot `netsim test` compares.
#[derive(Debug)]
pub struct Outcome {
    seed: u64,
    report: Report,
    summary: String,
    trace: String,
    snapshot: String,
}

impl Outcome {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.report.passed()
    }
    /// The seed of the run.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Every check: the expectations, then the default oracles, then the faults that had to
    /// fire.
    pub fn checks(&self) -> &[Check] {
        &self.report.checks
    }
    /// The checks that failed.
    pub fn failures(&self) -> Vec<&Check> {
        self.report.failures().collect()
    }
    /// The whole report.
    pub fn report(&self) -> &Report {
        &self.report
    }
    /// The summary as `netsim run` prints it after the trace.
    pub fn summary(&self) -> &str {
        &self.summary
    }
    /// The whole trace as `netsim run` prints it, a line per record.
    pub fn trace(&self) -> &str {
        &self.trace
    }
    /// The trace in the form `netsim test` and the catalogue snapshot (whole up to 5 000
    /// lines, condensed beyond), then the summary: for `insta::assert_snapshot!`.
    pub fn snapshot(&self) -> &str {
        &self.snapshot
    }
    /// Panics with the summary and the line that replays this seed unless every check passed.
    pub fn assert_passed(&self) {
        if !self.passed() {
            panic!("{}\n{}", self.summary, crate::replay_line(self.seed));
        }
    }
}
