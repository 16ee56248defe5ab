//! Randomised faults: a scenario's `randomize` section, drawn from each run's seed into a
//! concrete fault schedule (link knobs, a crash) and applied to that run's topology. Every item
//! is always drawn, in declaration order, from the run's own `randomize` stream, so disabling
//! one item (as shrinking does) leaves the others' values unchanged.

use std::fmt;

use netsim_core::{SimDuration, SimTime};
use netsim_engine::{HostId, NetChange, Probability, Stream, Topology};

/// A link knob that can be randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    /// Loss probability.
    Loss,
    /// Duplication probability.
    Duplicate,
    /// Reordering probability.
    Reorder,
    /// Reordering delay.
    ReorderDelay,
    /// Latency.
    Latency,
    /// Jitter.
    Jitter,
    /// Extra delay added to the latency.
    ExtraDelay,
}

impl Knob {
    fn field(self) -> &'static str {
        match self {
            Knob::Loss => "loss",
            Knob::Duplicate => "duplicate",
            Knob::Reorder => "reorder",
            Knob::ReorderDelay => "reorder_delay",
            Knob::Latency => "latency",
            Knob::Jitter => "jitter",
            Knob::ExtraDelay => "latency (extra)",
        }
    }
}

/// The range one item is drawn from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Range {
    /// Probabilities.
    Prob(f64, f64),
    /// Durations.
    Dur(SimDuration, SimDuration),
}

/// One randomised fault of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum RandomItem {
    /// A knob of link `link` (both directions).
    Link {
        /// Index in the topology's links.
        link: usize,
        /// Which knob.
        knob: Knob,
        /// Its range.
        range: Range,
    },
    /// A crash of `host` at a time in `between`, down for a time in `down_for`.
    Crash {
        /// The host.
        host: HostId,
        /// When it crashes.
        between: (SimDuration, SimDuration),
        /// How long it is down.
        down_for: (SimDuration, SimDuration),
    },
}

/// A drawn value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Drawn {
    /// A probability.
    Prob(f64),
    /// A duration.
    Dur(SimDuration),
    /// A crash and its restart.
    Crash(SimTime, SimTime),
}

fn draw_dur(rng: &mut Stream, (lo, hi): (SimDuration, SimDuration)) -> SimDuration {
    lo + rng.duration_up_to(hi.saturating_sub(lo))
}

/// Draws every item with `seed`, in order.
pub fn draw(items: &[RandomItem], seed: u64) -> Vec<Drawn> {
    let mut rng = Stream::derive(seed, "randomize");
    items
        .iter()
        .map(|item| match item {
            RandomItem::Link { range, .. } => match *range {
                Range::Prob(lo, hi) => Drawn::Prob(lo + rng.unit() * (hi - lo)),
                Range::Dur(lo, hi) => Drawn::Dur(draw_dur(&mut rng, (lo, hi))),
            },
            RandomItem::Crash {
                between, down_for, ..
            } => {
                let at = SimTime::after(draw_dur(&mut rng, *between));
                let restart = at + draw_dur(&mut rng, *down_for);
                Drawn::Crash(at, restart)
            }
        })
        .collect()
}

/// Applies the drawn values of the enabled items to `topology`.
pub fn apply(items: &[RandomItem], drawn: &[Drawn], enabled: &[bool], topology: &mut Topology) {
    for ((item, value), on) in items.iter().zip(drawn).zip(enabled) {
        if !on {
            continue;
        }
        match (item, *value) {
            (RandomItem::Link { link, knob, .. }, value) => {
                let spec = &mut topology.links[*link];
                for cfg in [&mut spec.a_to_b, &mut spec.b_to_a] {
                    match (knob, value) {
                        (Knob::Loss, Drawn::Prob(p)) => cfg.loss = prob(p),
                        (Knob::Duplicate, Drawn::Prob(p)) => cfg.duplicate = prob(p),
                        (Knob::Reorder, Drawn::Prob(p)) => cfg.reorder = prob(p),
                        (Knob::ReorderDelay, Drawn::Dur(d)) => cfg.reorder_delay = d,
                        (Knob::Latency, Drawn::Dur(d)) => cfg.latency = d,
                        (Knob::Jitter, Drawn::Dur(d)) => cfg.jitter = d,
                        (Knob::ExtraDelay, Drawn::Dur(d)) => cfg.latency += d,
                        _ => unreachable!("a knob is drawn with its own kind of range"),
                    }
                }
            }
            (RandomItem::Crash { host, .. }, Drawn::Crash(at, restart)) => {
                topology.schedule.push((at, NetChange::Crash(*host)));
                topology.schedule.push((restart, NetChange::Restart(*host)));
            }
            _ => unreachable!("a crash is drawn as a crash"),
        }
    }
    // With some items turned off (shrinking), a reorder probability can be left without a
    // reorder delay: nothing can reorder then, so the probability goes too.
    for spec in &mut topology.links {
        for cfg in [&mut spec.a_to_b, &mut spec.b_to_a] {
            if cfg.reorder_delay.is_zero() {
                cfg.reorder = Probability::NEVER;
            }
        }
    }
}

fn prob(p: f64) -> Probability {
    Probability::new(p.clamp(0.0, 1.0)).expect("clamped")
}

/// The drawn schedule of the enabled items, written as scenario text a user can paste.
pub struct Schedule<'a> {
    /// Items.
    pub items: &'a [RandomItem],
    /// Their values.
    pub drawn: &'a [Drawn],
    /// Which are on.
    pub enabled: &'a [bool],
    /// Host names.
    pub hosts: &'a [String],
    /// Link ends by link index.
    pub links: &'a [(String, String)],
}

impl fmt::Display for Schedule<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enabled = || {
            self.items
                .iter()
                .zip(self.drawn)
                .zip(self.enabled)
                .filter(|(_, on)| **on)
                .map(|(pair, _)| pair)
        };
        let mut any = false;
        for (index, (a, b)) in self.links.iter().enumerate() {
            let knobs: Vec<String> = enabled()
                .filter_map(|(item, value)| match (item, value) {
                    (RandomItem::Link { link, knob, .. }, v) if *link == index => Some(match v {
                        Drawn::Prob(p) => format!("{}: {p:.4}", knob.field()),
                        Drawn::Dur(d) => format!("{}: \"{d}\"", knob.field()),
                        Drawn::Crash(..) => unreachable!("links draw knobs"),
                    }),
                    _ => None,
                })
                .collect();
            if !knobs.is_empty() {
                any = true;
                writeln!(
                    f,
                    "links: on Link(a: \"{a}\", b: \"{b}\") set {}",
                    knobs.join(", ")
                )?;
            }
        }
        for (item, value) in enabled() {
            if let (RandomItem::Crash { host, .. }, Drawn::Crash(at, restart)) = (item, value) {
                any = true;
                let name = &self.hosts[host.0 as usize];
                writeln!(
                    f,
                    "events: Crash(at: \"{}\", host: \"{name}\"), Restart(at: \"{}\", host: \"{name}\"),",
                    at.since_start(),
                    restart.since_start()
                )?;
            }
        }
        if !any {
            writeln!(f, "(no randomised fault)")?;
        }
        Ok(())
    }
}
