//! The snapshot form of a run: what the catalogue and `netsim test` store and compare.
//!
//! A trace of up to [`WHOLE`] lines is kept whole, in the text format of `netsim run`. A
//! longer one is kept in a complete condensed form, so a change anywhere shows as a readable
//! diff: every connection (grouped when identical) with its state path, the segments it sent
//! and resent, and its last state; every host's connections per state at ten steps of the run;
//! and the summary, which carries the hash of the whole trace.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use netsim_core::SimTime;
use netsim_engine::{RunError, TextFormat, TraceKind, TraceRecord, TraceSink};
use netsim_host::HostEvent;
use netsim_scenario::{Report, Scenario};
use netsim_tcp::{ConnKey, State, TcpEvent};

/// A run as its snapshot shows it.
pub struct Snapshot {
    /// The run's report.
    pub report: Report,
    /// The summary `netsim run` prints after the trace.
    pub summary: String,
    /// The snapshot text: the trace's form (see [`Form`]), then the summary.
    pub text: String,
}

/// Runs `scenario` with `seed` and returns it as its snapshot shows it.
pub fn snapshot(scenario: &Scenario, seed: u64) -> Result<Snapshot, RunError> {
    let end = scenario.compiled.limits.end.unwrap_or(SimTime::ZERO);
    let (report, form) = scenario.run(seed, Form::new(end))?;
    let summary = netsim_scenario::summary(scenario, seed, &report);
    let text = format!("{}\n{summary}", form.text());
    Ok(Snapshot {
        report,
        summary,
        text,
    })
}

/// Traces up to this many lines are snapshotted whole.
pub const WHOLE: usize = 5_000;
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

/// A trace sink that keeps the trace as text while it is short, and its condensed form
/// always.
pub struct Form {
    format: TextFormat,
    names: Vec<String>,
    /// Whether this form writes the lines of a short trace itself (not when its owner keeps
    /// the whole text anyway: see [`Form::text_of`]).
    keep_lines: bool,
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

impl Form {
    /// A form for a run that ends at `end` (its steps are tenths of it).
    pub fn new(end: SimTime) -> Form {
        Form {
            format: TextFormat::default(),
            names: Vec::new(),
            keep_lines: true,
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
        if self.end == SimTime::ZERO {
            return; // a run with no end has no steps, only its last counts
        }
        let step = self.end.since_start() / STEPS;
        while (self.steps.len() as u64) < STEPS {
            let due = SimTime::after(step * (self.steps.len() as u64 + 1));
            if at < due {
                break;
            }
            self.steps.push((due, self.counts.clone()));
        }
    }

    /// A form for an owner that keeps the whole trace as text itself: it writes no lines of
    /// its own, and [`Form::text_of`] takes the owner's text.
    pub fn beside_text(end: SimTime) -> Form {
        Form {
            keep_lines: false,
            ..Form::new(end)
        }
    }

    /// The text: the whole trace, or its condensed form when longer than [`WHOLE`] lines.
    pub fn text(self) -> String {
        if self.total <= WHOLE {
            return self.lines.join("\n");
        }
        self.condensed()
    }

    /// [`Form::text`] for a form made with [`Form::beside_text`]: `whole` is the trace's text,
    /// a line per record each ending in a newline.
    pub fn text_of(self, whole: &str) -> String {
        if self.total <= WHOLE {
            return whole.strip_suffix('\n').unwrap_or(whole).to_string();
        }
        self.condensed()
    }

    fn condensed(mut self) -> String {
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

impl TraceSink<HostEvent> for Form {
    fn start(&mut self, host_names: &[String]) {
        self.format = TextFormat::new(host_names);
        self.names = host_names.to_vec();
        self.counts = vec![[0; 11]; host_names.len()];
    }

    fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        self.total += 1;
        self.last = record.at;
        if self.keep_lines && self.total <= WHOLE {
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
