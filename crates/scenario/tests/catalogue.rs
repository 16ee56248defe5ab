//! Every scenario of the catalogue (`scenarios/*.ron`): it runs with its own seed, every
//! expectation and oracle holds, and its trace matches the reviewed snapshot in `snapshots/`
//! (named after the file). Adding a scenario file adds a case here with no code change.
//!
//! Long traces are snapshotted as their first and last lines; the summary, which always goes
//! in, carries the hash of the whole trace, so any change anywhere still shows.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use netsim_engine::{TextFormat, TraceRecord, TraceSink};
use netsim_host::HostEvent;

/// Lines kept from the start and from the end of a long trace.
const HEAD: usize = 400;
const TAIL: usize = 100;

/// Keeps the first HEAD and the last TAIL lines of a trace, and counts the rest.
#[derive(Default)]
struct Excerpt {
    format: TextFormat,
    head: Vec<String>,
    tail: VecDeque<String>,
    total: usize,
}

impl TraceSink<HostEvent> for Excerpt {
    fn start(&mut self, host_names: &[String]) {
        self.format = TextFormat::new(host_names);
    }

    fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        self.total += 1;
        let mut line = String::new();
        self.format.write(record, &mut line);
        if self.head.len() < HEAD {
            self.head.push(line);
            return;
        }
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

impl Excerpt {
    fn text(&self) -> String {
        let mut out = self.head.join("\n");
        let skipped = self.total - self.head.len() - self.tail.len();
        if skipped > 0 {
            out.push_str(&format!("\n... {skipped} lines left out ...\n"));
        } else if !self.tail.is_empty() {
            out.push('\n');
        }
        out.push_str(&self.tail.iter().cloned().collect::<Vec<_>>().join("\n"));
        out
    }
}

fn catalogue() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_passes_and_matches_its_snapshot() {
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../snapshots");
    let files = catalogue();
    assert!(!files.is_empty(), "the catalogue is empty");
    let mut failed = Vec::new();
    for path in &files {
        let scenario = netsim_scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        let seed = scenario.file.seed;
        let (report, excerpt) = scenario
            .run(seed, Excerpt::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let summary = netsim_scenario::summary(&scenario, seed, &report);
        if !report.passed() {
            failed.push(format!("{}:\n{summary}", path.display()));
            continue;
        }
        let name = path
            .file_stem()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        let text = format!("{}\n{summary}", excerpt.text());
        insta::with_settings!({
            snapshot_path => &snapshots,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("netsim run scenarios/{name}.ron"),
        }, {
            insta::assert_snapshot!(name, text);
        });
    }
    assert!(
        failed.is_empty(),
        "scenarios that failed:\n{}",
        failed.join("\n")
    );
}
