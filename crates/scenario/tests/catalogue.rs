//! Every scenario of the catalogue (`scenarios/*.ron`): it runs with its own seed, every
//! expectation and oracle holds, and its trace matches the reviewed snapshot in `snapshots/`
//! (named after the file). Adding a scenario file adds a case here with no code change. Every
//! failing or changed scenario is reported in one run.
//!
//! A trace of up to [`WHOLE`] lines is snapshotted whole. A longer one is snapshotted in a
//! complete condensed form, so a change anywhere shows as a readable diff: every connection
//! (grouped when identical) with its state path, the segments it sent and resent, and its
//! last state; every host's connections per state at ten steps of the run; and the summary,
//! which carries the hash of the whole trace.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use netsim_core::SimTime;
use netsim_engine::{TextFormat, TraceKind, TraceRecord, TraceSink};
use netsim_host::HostEvent;
use netsim_tcp::{ConnKey, State, TcpEvent};

/// Traces up to this many lines are snapshotted whole.
const WHOLE: usize = 5_000;
/// Steps of the run (its configured end divided in ten) at which the condensed form counts
/// each host's connections per state; and once more at the last record.
const STEPS: u64 = 10;

/// One connection as the condensed form tells it.
#[derive(Default)]
struct Conn {
    path: Vec<State>,
    sent: u64,
    resent: u64,
}

/// The trace as text while it is short, and its condensed form always.
struct Snapshot {
    format: TextFormat,
    names: Vec<String>,
    lines: Vec<String>,
    total: usize,
    end: SimTime,
    /// The time of the last record.
    last: SimTime,
    /// Live connections, by host and 4-tuple.
    live: BTreeMap<(u32, ConnKey), Conn>,
    /// Finished (or, at the end, still open) connections, grouped: (host, path, sent,
    /// resent) -> how many.
    groups: BTreeMap<(u32, String, u64, u64), u64>,
    /// Per host, connections per state now (listeners and CLOSED not counted).
    counts: Vec<[u64; 11]>,
    /// Per step, the counts then.
    steps: Vec<(SimTime, Vec<[u64; 11]>)>,
}

impl Snapshot {
    fn new(end: SimTime) -> Snapshot {
        Snapshot {
            format: TextFormat::default(),
            names: Vec::new(),
            lines: Vec::new(),
            total: 0,
            end,
            last: SimTime::ZERO,
            live: BTreeMap::new(),
            groups: BTreeMap::new(),
            counts: Vec::new(),
            steps: Vec::new(),
        }
    }

    fn finish(&mut self, host: u32, conn: Conn) {
        let path: Vec<&str> = conn.path.iter().map(|s| s.name()).collect();
        *self
            .groups
            .entry((host, path.join(" -> "), conn.sent, conn.resent))
            .or_insert(0) += 1;
    }

    fn sample_until(&mut self, at: SimTime) {
        let step = self.end.since_start() / STEPS;
        while (self.steps.len() as u64) < STEPS {
            let due = SimTime::after(step * (self.steps.len() as u64 + 1));
            if at < due {
                break;
            }
            self.steps.push((due, self.counts.clone()));
        }
    }

    fn text(mut self) -> String {
        if self.total <= WHOLE {
            return self.lines.join("\n");
        }
        // The steps the run reached, and its end.
        self.steps.push((self.last, self.counts.clone()));
        for ((host, _), conn) in std::mem::take(&mut self.live) {
            self.finish(host, conn);
        }
        let mut out = format!(
            "condensed: the trace has {} lines (more than {WHOLE})\nconnections (host: states | segments sent, resent | how many):\n",
            self.total
        );
        for ((host, path, sent, resent), n) in &self.groups {
            let _ = writeln!(
                out,
                "  {}: {path} | {sent} sent, {resent} resent | x{n}",
                self.names[*host as usize]
            );
        }
        out.push_str("connections per state:\n");
        for (at, counts) in &self.steps {
            for (h, c) in counts.iter().enumerate() {
                let states: Vec<String> = State::ALL
                    .iter()
                    .filter(|s| c[**s as usize] > 0)
                    .map(|s| format!("{} {}", s.name(), c[*s as usize]))
                    .collect();
                let _ = writeln!(
                    out,
                    "  {at} {}: {}",
                    self.names[h],
                    if states.is_empty() {
                        "none".into()
                    } else {
                        states.join(", ")
                    }
                );
            }
        }
        out.truncate(out.trim_end().len());
        out
    }
}

impl TraceSink<HostEvent> for Snapshot {
    fn start(&mut self, host_names: &[String]) {
        self.format = TextFormat::new(host_names);
        self.names = host_names.to_vec();
        self.counts = vec![[0; 11]; host_names.len()];
    }

    fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        self.total += 1;
        self.last = record.at;
        if self.total <= WHOLE {
            let mut line = String::new();
            self.format.write(record, &mut line);
            self.lines.push(line);
        } else if !self.lines.is_empty() {
            self.lines = Vec::new();
        }
        self.sample_until(record.at);
        match &record.kind {
            TraceKind::Sent { host, packet, .. } => {
                let key = ConnKey {
                    local: std::net::SocketAddrV4::new(packet.src, packet.segment.src_port),
                    remote: std::net::SocketAddrV4::new(packet.dst, packet.segment.dst_port),
                };
                if let Some(c) = self.live.get_mut(&(host.0, key)) {
                    c.sent += 1;
                }
            }
            TraceKind::Network(netsim_engine::NetChange::Crash(host)) => {
                // The host's connections end without a word.
                let gone: Vec<_> = self
                    .live
                    .keys()
                    .filter(|(h, _)| *h == host.0)
                    .copied()
                    .collect();
                for k in gone {
                    let conn = self.live.remove(&k).expect("listed");
                    self.finish(k.0, conn);
                }
                self.counts[host.0 as usize] = [0; 11];
            }
            TraceKind::Protocol { host, event } => match event {
                HostEvent::Tcp(TcpEvent::State { conn, from, to }) => {
                    let c = &mut self.counts[host.0 as usize];
                    if *from != State::Closed && conn.remote.port() != 0 {
                        c[*from as usize] = c[*from as usize].saturating_sub(1);
                    }
                    if *to != State::Closed && conn.remote.port() != 0 {
                        c[*to as usize] += 1;
                    }
                    if conn.remote.port() == 0 {
                        return; // a listener
                    }
                    let entry = self.live.entry((host.0, *conn)).or_default();
                    if entry.path.is_empty() {
                        entry.path.push(*from);
                    }
                    entry.path.push(*to);
                    if matches!(to, State::Closed | State::Listen) {
                        let done = self.live.remove(&(host.0, *conn)).expect("present");
                        self.finish(host.0, done);
                    }
                }
                HostEvent::Tcp(TcpEvent::Retransmit { conn, .. }) => {
                    if let Some(c) = self.live.get_mut(&(host.0, *conn)) {
                        c.resent += 1;
                    }
                }
                _ => {}
            },
            _ => {}
        }
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
    let mut changed = Vec::new();
    for path in &files {
        let scenario = netsim_scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        let seed = scenario.file.seed;
        let end = scenario.compiled.limits.end.expect("scenarios end");
        let (report, snapshot) = scenario
            .run(seed, Snapshot::new(end))
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
        let text = format!("{}\n{summary}", snapshot.text());
        // A mismatch is reported with the others at the end (insta prints its diff as it
        // goes and writes a `.snap.new` to review outside CI).
        let matched = std::panic::catch_unwind(|| {
            insta::with_settings!({
                snapshot_path => &snapshots,
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => format!("netsim run scenarios/{name}.ron"),
            }, {
                insta::assert_snapshot!(name.as_str(), text.as_str());
            });
        });
        if matched.is_err() {
            changed.push(name);
        }
    }
    assert!(
        failed.is_empty() && changed.is_empty(),
        "scenarios that failed:\n{}\nscenarios whose snapshot changed (see the diffs above): {}",
        failed.join("\n"),
        changed.join(", ")
    );
}
