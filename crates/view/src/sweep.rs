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
/// connections open at the end per host and state (a host's together, states in the RFC's
/// order), coloured as in the state plots.
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
    // Listeners are left open by design and would dwarf the connections: they are counted
    // in the title instead. Connections go host by host, states in the RFC's order.
    let mut listeners = 0;
    let mut left: Vec<(&str, Option<State>, &str, u64)> = Vec::new();
    for (label, n) in &counts.final_states {
        let (host, state) = label.rsplit_once(' ').unwrap_or(("", label));
        let state = State::from_name(state);
        if state == Some(State::Listen) {
            listeners += n;
        } else {
            left.push((host, state, label, *n));
        }
    }
    left.sort();
    let states = BarChart {
        title: format!(
            "connections open at the end of the runs, summed over runs ({listeners} listening \
             sockets not shown)"
        ),
        value_label: "sockets".into(),
        empty: "no connection was left open".into(),
        bars: left
            .into_iter()
            .map(|(_, state, label, value)| Bar {
                label: label.to_string(),
                value,
                colour: state.map_or("#7f7f7f", state_colour),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Failure kinds by count, most first; connections host by host in the RFC's state order,
    /// coloured by state; the listeners left out and counted in the title.
    #[test]
    fn plot_of_a_small_sweep() {
        let svg = plot(&SweepCounts {
            title: "sweep of small-sweep, seeds 0..100".into(),
            runs: 100,
            failed: 9,
            failures_by_kind: vec![
                ("applications: unexpected errors (client ECONNRESET)", 3),
                ("oracle: StaleData", 7),
            ],
            final_states: vec![
                ("client ESTABLISHED", 4),
                ("client SYN_SENT", 2),
                ("server LISTEN", 100),
                ("server TIME_WAIT", 12),
            ],
        });
        insta::assert_snapshot!(svg);
    }
}
