//! netsim's scenario files: the RON format ([`format`]), its units ([`units`]), and the
//! compilation of a file into an engine run ([`Compiled`]). Errors name the file, line and
//! column. This crate knows the engine's data types; it runs nothing itself beyond
//! [`Compiled::run`].

mod compile;
mod error;
pub mod format;
pub mod units;

use std::path::Path;

use netsim_engine::{FaultId, Probe, RunError, RunOutcome, Sim, TraceSink};

pub use compile::Compiled;
pub use error::ScenarioError;
pub use format::ScenarioFile;

use error::Locator;

/// A parsed and checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file as written.
    pub file: ScenarioFile,
    /// What the engine runs.
    pub compiled: Compiled,
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
    let file: ScenarioFile = options.from_str(src).map_err(|e| ScenarioError {
        path: path.to_string(),
        line: e.span.start.line,
        col: e.span.start.col,
        message: e.code.to_string(),
    })?;
    let compiled = compile::compile(&file, Locator { path, src })?;
    Ok(Scenario { file, compiled })
}

/// What a run of a scenario produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// The engine's outcome.
    pub outcome: RunOutcome,
    /// Packets each host received, in host order.
    pub received: Vec<usize>,
    /// Fault rules that never fired and are not marked optional: each makes the run fail,
    /// because a fault that never happened tested nothing.
    pub unfired: Vec<FaultId>,
}

impl Report {
    /// True when nothing failed.
    pub fn passed(&self) -> bool {
        self.unfired.is_empty()
    }
}

impl Scenario {
    /// Runs the scenario once with `seed`, sending trace records to `sink`.
    pub fn run<S: TraceSink<netsim_engine::NoEvent>>(
        &self,
        seed: u64,
        sink: S,
    ) -> Result<(Report, S), RunError> {
        let c = &self.compiled;
        let hosts = c.plans.iter().cloned().map(Probe::new).collect();
        let mut sim = Sim::new(c.topology.clone(), hosts, seed, c.limits, sink)
            .expect("compiled scenarios are valid");
        let outcome = sim.run()?;
        let received = sim.hosts().iter().map(|h| h.received.len()).collect();
        let unfired = outcome
            .faults
            .iter()
            .enumerate()
            .filter(|(i, count)| count.fired == 0 && !c.fault_optional[*i])
            .map(|(i, _)| FaultId(i as u32))
            .collect();
        Ok((
            Report {
                outcome,
                received,
                unfired,
            },
            sim.into_sink(),
        ))
    }
}
