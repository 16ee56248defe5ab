//! Scenario files written back: a file as RON text ([`to_ron`]), and one seed's drawn fault
//! schedule fixed into a file of its own ([`Scenario::pinned`]), for turning a sweep's failing
//! seed into a regression test.

use crate::Scenario;
use crate::format::{EventDef, KnobsDef, ScenarioFile};
use crate::randomize::{self, Drawn, RandomItem};
use crate::units::{Dur, Prob};

/// `file` as scenario text that reads back to the same file. Fields left at their defaults
/// are left out; comments of the original are not kept (RON's data model has none).
pub fn to_ron(file: &ScenarioFile) -> String {
    let pretty = ron::ser::PrettyConfig::new()
        .struct_names(true)
        .indentor("    ".to_string())
        .extensions(ron::extensions::Extensions::IMPLICIT_SOME);
    ron::Options::default()
        .to_string_pretty(file, pretty)
        .expect("a scenario file is plain data: strings, numbers, lists and structs")
}

impl Scenario {
    /// The scenario as a file that runs `seed` with its `enabled` randomised faults fixed:
    /// the seed pinned, the `randomize` section gone, each drawn link knob written into both
    /// directions of its link (`a_to_b` and `b_to_a`, as the draw sets both), a drawn crash
    /// and restart appended to `events`. Run, it gives the same trace as
    /// `run_with(seed, enabled, …)` on this scenario. `name` and `description` replace the
    /// file's own.
    pub fn pinned(&self, seed: u64, enabled: &[bool], name: &str, description: &str) -> String {
        let c = &self.compiled;
        let mut file = self.file.clone();
        file.seed = seed;
        file.randomize = None;
        file.name = name.to_string();
        file.description = description.to_string();
        let drawn = randomize::draw(&c.randomize, seed);
        let mut topology = c.topology.clone();
        randomize::apply(&c.randomize, &drawn, enabled, &mut topology);
        let mut touched = vec![false; topology.links.len()];
        for ((item, value), on) in c.randomize.iter().zip(&drawn).zip(enabled) {
            if !on {
                continue;
            }
            match (item, value) {
                (RandomItem::Link { link, .. }, _) => touched[*link] = true,
                (RandomItem::Crash { host, .. }, Drawn::Crash(at, restart)) => {
                    let host = self.file.hosts[host.0 as usize].name.clone();
                    file.events.push(EventDef::Crash {
                        at: Dur(at.since_start()),
                        host: host.clone(),
                    });
                    file.events.push(EventDef::Restart {
                        at: Dur(restart.since_start()),
                        host,
                    });
                }
                (RandomItem::Crash { .. }, _) => unreachable!("a crash is drawn as a crash"),
            }
        }
        // Every knob a draw can set, as the draw left it, in each direction: the direction's
        // override wins over the link's shared value, so the file compiles to the drawn
        // topology exactly (an extra delay already added to each direction's latency, a
        // reordering probability without a delay already cleared).
        for (index, def) in file.links.iter_mut().enumerate() {
            if !touched[index] {
                continue;
            }
            let spec = &topology.links[index];
            for (config, over) in [
                (&spec.a_to_b, &mut def.a_to_b),
                (&spec.b_to_a, &mut def.b_to_a),
            ] {
                let knobs = over.get_or_insert_with(KnobsDef::default);
                knobs.latency = Some(Dur(config.latency));
                knobs.jitter = Some(Dur(config.jitter));
                knobs.loss = Some(Prob(config.loss));
                knobs.duplicate = Some(Prob(config.duplicate));
                knobs.reorder = Some(Prob(config.reorder));
                knobs.reorder_delay = Some(Dur(config.reorder_delay));
            }
        }
        to_ron(&file)
    }
}
