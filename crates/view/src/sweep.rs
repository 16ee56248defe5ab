//! The picture of a sweep: its failing runs by kind and the sockets its runs left open, as bar
//! charts. It takes the sweep report's counts as plain pairs, so this crate does not depend on
//! the sweep's.

use netsim_tcp::State;

use crate::chart::{Bar, BarChart};
use crate::states::{FAILED_COLOUR, state_colour};
use crate::svg::{Anchor, Svg};

/// The counts of a sweep that the picture shows.
#[derive(Debug, Clone, Default)]
pub struct SweepCounts<'a> {
    /// Above both charts: the scenario and the seeds.
    pub title: String,
    /// Runs done.
    pub runs: u64,
    /// Runs that failed.
    pub failed: u64,
    /// Failing runs per failure kind.
    pub failures_by_kind: Vec<(&'a str, u64)>,
    /// Sockets left per "host STATE", summed over runs.
    pub final_states: Vec<(&'a str, u64)>,
}

/// Width of the picture.
const WIDTH: f64 = 960.0;

/// Two bar charts, one above the other: failing runs per kind (most frequent first), and the
/// sockets open at the end per host and state (in the report's order, which groups a host's
/// states), coloured as in the state plots.
pub fn plot(counts: &SweepCounts<'_>) -> String {
    let mut kinds = counts.failures_by_kind.clone();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let failures = BarChart {
        title: format!(
            "failing runs by kind ({} of {} runs failed; a run can fail in several ways)",
            counts.failed, counts.runs
        ),
        value_label: "runs".into(),
        empty: "no run failed".into(),
        bars: kinds
            .into_iter()
            .map(|(label, value)| Bar {
                label: label.to_string(),
                value,
                colour: FAILED_COLOUR,
            })
            .collect(),
    };
    let states = BarChart {
        title: "sockets open at the end of the runs, summed over runs".into(),
        value_label: "sockets".into(),
        empty: "no socket was left open".into(),
        bars: counts
            .final_states
            .iter()
            .map(|(label, value)| Bar {
                label: label.to_string(),
                value: *value,
                colour: label
                    .rsplit(' ')
                    .next()
                    .and_then(State::from_name)
                    .map_or("#7f7f7f", state_colour),
            })
            .collect(),
    };
    const HEAD: f64 = 40.0;
    let mut svg = Svg::new(WIDTH, HEAD + failures.height() + states.height() + 10.0);
    svg.text(
        20.0,
        26.0,
        &counts.title,
        16.0,
        Anchor::Start,
        "#000",
        false,
    );
    failures.draw(&mut svg, 0.0, HEAD, WIDTH);
    states.draw(&mut svg, 0.0, HEAD + failures.height() + 10.0, WIDTH);
    svg.finish()
}
