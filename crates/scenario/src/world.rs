//! A scenario's run as an object: built from a compiled scenario and a seed, stepped or run
//! to its end, changed between steps, and judged at the end by the same checks and oracles as
//! `netsim run`. Every host runs its script, or an application of the caller's
//! ([`HostApp::User`]), each host its own type behind one box.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use netsim_core::SimTime;
use netsim_engine::{FaultId, NetChange, RunError, RunOutcome, Sim, Stepped, Stop, TraceSink};
use netsim_host::{Api, App, HostEvent, TcpHost};
use netsim_tcp::{Errno, SocketEvent};

use crate::compile::Expectation;
use crate::format::ViolationDef;
use crate::observe::{self, Observer};
use crate::oracle::Oracle;
use crate::script::Script;
use crate::{HostReport, Report, Scenario, randomize, report};

/// What runs on a host: its script from the scenario, or an application of the caller's.
// One per host, never in a large collection: the script stays inline (no allocation per run,
// no indirection per call on the hot path of sweeps).
#[allow(clippy::large_enum_variant)]
pub enum HostApp {
    /// The host's script.
    Script(Script),
    /// An application written in Rust.
    User(UserApp),
}

/// An application of the caller's, and the errors it saw: each failed connection its sockets
/// reported (`SocketEvent::Failed`) and each failed call it recorded with `Api::failed`, so
/// that `Error` expectations and the "every error seen is named" check judge it as a script.
pub struct UserApp {
    app: Box<dyn App>,
    errors: BTreeMap<Errno, u64>,
}

impl UserApp {
    /// Runs `call` on the application and counts the failed calls it recorded meanwhile.
    fn counted(&mut self, api: &mut Api<'_>, call: impl FnOnce(&mut dyn App, &mut Api<'_>)) {
        let before = api.reported().len();
        call(&mut *self.app, api);
        for event in &api.reported()[before..] {
            if let HostEvent::CallFailed { errno, .. } = event {
                *self.errors.entry(*errno).or_insert(0) += 1;
            }
        }
    }
}

impl App for HostApp {
    fn start(&mut self, api: &mut Api<'_>) {
        match self {
            HostApp::Script(s) => s.start(api),
            HostApp::User(u) => u.counted(api, |a, api| a.start(api)),
        }
    }
    fn socket(&mut self, api: &mut Api<'_>, event: SocketEvent) {
        match self {
            HostApp::Script(s) => s.socket(api, event),
            HostApp::User(u) => {
                if let SocketEvent::Failed(_, errno) = event {
                    *u.errors.entry(errno).or_insert(0) += 1;
                }
                u.counted(api, |a, api| a.socket(api, event));
            }
        }
    }
    fn wake(&mut self, api: &mut Api<'_>, token: u64) {
        match self {
            HostApp::Script(s) => s.wake(api, token),
            HostApp::User(u) => u.counted(api, |a, api| a.wake(api, token)),
        }
    }
    fn crash(&mut self) {
        match self {
            HostApp::Script(s) => s.crash(),
            HostApp::User(u) => u.app.crash(),
        }
    }
}

/// The engine's simulation of a scenario: its hosts and the observer over the caller's sink.
pub type WorldSim<S> = Sim<TcpHost<HostApp>, Observer<S>>;

/// One run of a scenario, from its start to its verdict.
pub struct World<'a, S: TraceSink<HostEvent>> {
    scenario: Cow<'a, Scenario>,
    sim: WorldSim<S>,
    oracle: Rc<RefCell<Oracle>>,
}

impl<'a, S: TraceSink<HostEvent>> World<'a, S> {
    /// A run of `scenario` with `seed`, its `enabled` randomised faults applied, records
    /// going to `sink`. `apps[i]`, when given, runs on host `i` instead of its script. The
    /// byte-stream oracle is `oracle` when given (applications made before the world may hold
    /// it), a fresh one otherwise.
    pub fn new(
        scenario: Cow<'a, Scenario>,
        seed: u64,
        enabled: &[bool],
        sink: S,
        apps: Vec<Option<Box<dyn App>>>,
        oracle: Option<Rc<RefCell<Oracle>>>,
    ) -> World<'a, S> {
        let c = &scenario.compiled;
        let mut topology = c.topology.clone();
        if !c.randomize.is_empty() {
            let drawn = randomize::draw(&c.randomize, seed);
            randomize::apply(&c.randomize, &drawn, enabled, &mut topology);
        }
        let oracle = oracle.unwrap_or_default();
        let mut apps = apps.into_iter();
        let hosts = c
            .hosts
            .iter()
            .zip(&scenario.file.hosts)
            .map(|(plan, def)| {
                let app = match apps.next().flatten() {
                    Some(app) => HostApp::User(UserApp {
                        app,
                        errors: BTreeMap::new(),
                    }),
                    None => HostApp::Script(Script::new(
                        &def.name,
                        plan.program.clone(),
                        oracle.clone(),
                    )),
                };
                TcpHost::new(plan.tcp.clone(), app)
            })
            .collect();
        let windows = c
            .expectations
            .iter()
            .filter_map(|e| match e {
                Expectation::Sent { window, .. } => Some(window.clone()),
                _ => None,
            })
            .collect();
        let addrs: Vec<_> = topology.hosts.iter().map(|h| h.addr).collect();
        let lifetime = topology.lifetime;
        let mut wanted = observe::Wanted::default();
        for e in &c.expectations {
            match e {
                Expectation::Path { host, conn, .. } => wanted.paths.push((*host, *conn)),
                Expectation::Established { host, from, to, .. } => {
                    wanted.established.push((*host, *from, *to));
                }
                _ => {}
            }
        }
        let observer = Observer::new(sink, windows, &addrs, lifetime, wanted);
        let sim = Sim::new(topology, hosts, seed, c.limits, observer)
            .expect("compiled scenarios are valid");
        World {
            scenario,
            sim,
            oracle,
        }
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The byte-stream oracle the scripts report to; applications of the caller may use it
    /// too (join a stream at connect or accept, check what they read).
    pub fn oracle(&self) -> Rc<RefCell<Oracle>> {
        self.oracle.clone()
    }

    /// The engine's simulation, to look at (hosts, stacks, sockets, the sink).
    pub fn sim(&self) -> &WorldSim<S> {
        &self.sim
    }

    /// Runs to the end; see [`netsim_engine::Sim::run_observed`].
    pub fn run(&mut self, tick: impl FnMut(SimTime, u64)) -> Result<RunOutcome, RunError> {
        self.sim.run_observed(tick)
    }

    /// Runs one event; see [`netsim_engine::Sim::step`].
    pub fn step(&mut self) -> Result<Stepped, RunError> {
        self.sim.step()
    }

    /// Runs up to `at`; see [`netsim_engine::Sim::run_until`].
    pub fn run_until(&mut self, at: SimTime) -> Result<Option<Stop>, RunError> {
        self.sim.run_until(at)
    }

    /// Applies a network change now; see [`netsim_engine::Sim::change`].
    pub fn change(&mut self, change: NetChange) {
        self.sim.change(change)
    }

    /// The verdict on the run as it stands, every check decided as far as the run got: a
    /// run stopped before its end time (and not idle) is judged as cut short there, as
    /// `netsim run --until` judges it.
    pub fn finish(mut self) -> (Report, S) {
        let now = self.sim.now();
        let end = self.scenario.compiled.limits.end;
        let (stop, cut_at) = if end.is_some_and(|end| now >= end) {
            (Stop::EndTime, self.cut_short(now))
        } else if self.sim.next_event_time().is_none() {
            (Stop::Idle, None)
        } else {
            (Stop::EndTime, Some(now))
        };
        let outcome = self.sim.outcome(stop);
        self.judge(outcome, cut_at, report::Describe::All)
    }

    /// Where a run that reached its end time `at` was cut short: nowhere when that is the
    /// file's own end, `at` when `--until` moved the end earlier.
    pub(crate) fn cut_short(&self, at: SimTime) -> Option<SimTime> {
        let natural = SimTime::after(self.scenario.file.end.0);
        self.scenario
            .compiled
            .limits
            .end
            .is_some_and(|end| end < natural)
            .then_some(at)
    }

    /// The verdict after [`World::run`] returned `outcome`.
    pub(crate) fn judge(
        mut self,
        outcome: RunOutcome,
        cut_at: Option<SimTime>,
        describe: report::Describe,
    ) -> (Report, S) {
        let scenario = &*self.scenario;
        let c = &scenario.compiled;
        let views = std::mem::take(&mut self.sim.sink_mut().hosts);
        let sent: Vec<u64> = self.sim.sink().sent.iter().map(|(_, n)| *n).collect();
        let ledger = std::mem::take(&mut self.sim.sink_mut().packets);
        let hosts: Vec<HostReport> = self
            .sim
            .hosts()
            .iter()
            .zip(&scenario.file.hosts)
            .zip(&views)
            .map(|((h, def), view)| HostReport {
                name: def.name.clone(),
                at_end: h.stack().map_or([0; 11], |s| s.state_counts()),
                sockets: match (describe, h.stack()) {
                    (report::Describe::All, Some(s)) => s.sockets(outcome.end),
                    _ => Vec::new(),
                },
                peaks: view.peaks,
                counters: h.stack().map(|s| s.counters().clone()).unwrap_or_default(),
                app: match h.app() {
                    HostApp::Script(s) => s.stats_at_end(),
                    HostApp::User(u) => crate::ScriptStats {
                        errors: u.errors.clone(),
                        ..Default::default()
                    },
                },
                scripted: matches!(h.app(), HostApp::Script(_)),
            })
            .collect();
        let sink = self.sim.into_sink().inner;
        let mut oracle = Rc::try_unwrap(self.oracle)
            .map(RefCell::into_inner)
            .unwrap_or_else(|rc| std::mem::take(&mut *rc.borrow_mut()));
        for (view, h) in views.iter().zip(&hosts) {
            for text in &view.illegal {
                oracle.record(
                    ViolationDef::IllegalTransition,
                    format!("{}: {text}", h.name),
                );
            }
        }
        let unfired: Vec<FaultId> = outcome
            .faults
            .iter()
            .enumerate()
            .filter(|(i, count)| count.fired == 0 && !c.fault_optional[*i])
            .map(|(i, _)| FaultId(i as u32))
            .collect();
        let checks = report::checks(
            scenario,
            &outcome,
            &hosts,
            &report::Observed {
                views: &views,
                sent: &sent,
                ledger: &ledger,
                violations: &oracle.violations,
            },
            &unfired,
            cut_at,
            describe,
        );
        (
            Report {
                outcome,
                hosts,
                checks,
                violations: oracle.violations,
                unfired,
                sent,
            },
            sink,
        )
    }
}
