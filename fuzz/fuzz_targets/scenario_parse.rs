//! The scenario parser and checker on arbitrary bytes: what `netsim check` does with a file.
//! Text that is not UTF-8 is skipped (`load` refuses it before parsing). A refused file must
//! come back as an error that names `fuzz.ron`, a line and a column inside the text; an
//! accepted one goes on through what `netsim check` and `netsim list` do with it (the kernel
//! plan, the randomised schedule) and into the engine, stopped after a few events: a file
//! `check` accepts must never make a run panic at its start.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netsim_engine::NullSink;

/// Events a run of an accepted file gets here: enough to build the world and start the
/// scripts, cheap enough to keep the parser the hot path.
const MAX_EVENTS: u64 = 100;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match netsim_scenario::parse(src, "fuzz.ron") {
        Ok(mut scenario) => {
            // `netsim list`: the first sentence of the description and the kernel column.
            let _ = scenario.file.description.split(". ").next();
            let _ = netsim_kernel::plan::plan(&scenario);
            let enabled = vec![true; scenario.compiled.randomize.len()];
            let _ = scenario.schedule_text(scenario.file.seed, &enabled);
            scenario.compiled.limits.max_events = MAX_EVENTS;
            let _ = scenario.run(scenario.file.seed, NullSink);
        }
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.starts_with("fuzz.ron:"),
                "an error without its file: {text}"
            );
            // The place is in the text: a line that exists (or the one after a final
            // newline) and a column at most one past its end.
            let lines: Vec<&str> = src.split('\n').collect();
            assert!(
                e.line >= 1 && e.line <= lines.len(),
                "line {} of a text of {} lines: {text}",
                e.line,
                lines.len()
            );
            let width = lines[e.line - 1].chars().count();
            assert!(
                e.col >= 1 && e.col <= width + 1,
                "column {} of a line of {width} characters: {text}",
                e.col
            );
        }
    }
});
