//! Turns a finished run into verdicts: each expectation, the oracles (byte streams, legal
//! transitions, packet lifetime, packet accounting), and the faults that had to fire.

use netsim_core::SimTime;
use netsim_engine::{FaultId, FlagMatch, InjectOutcome, RunOutcome, Stop};
use netsim_tcp::{Counters, State};

use crate::compile::{Bounds, Expectation, SentWindow};
use crate::format::CounterDef;
use crate::observe::HostView;
use crate::oracle::Violation;
use crate::{Check, HostReport, Scenario};

fn counter(c: &Counters, which: CounterDef) -> u64 {
    match which {
        CounterDef::SegmentsSent => c.segments_sent,
        CounterDef::Retransmits => c.retransmits,
        CounterDef::FinRetransmits => c.fin_retransmits,
        CounterDef::ListenOverflows => c.listen_overflows,
        CounterDef::TimeWaitOverflows => c.time_wait_overflows,
        CounterDef::ResetsSent => c.resets_sent,
        CounterDef::PawsRejects => c.paws_rejects,
        CounterDef::ChallengeAcks => c.challenge_acks,
        CounterDef::Established => c.established,
        CounterDef::Accepted => c.accepted,
        CounterDef::TimeWaitReopened => c.time_wait_reopened,
        CounterDef::TimeWaitReused => c.time_wait_reused,
        CounterDef::Recoveries => c.recoveries,
        CounterDef::SackRecoveries => c.sack_recoveries,
        CounterDef::LossProbes => c.loss_probes,
        CounterDef::Timeouts => c.timeouts,
        CounterDef::KeepaliveProbes => c.keepalive_probes,
    }
}

fn bounded(what: String, value: u64, bounds: Bounds) -> Check {
    Check {
        reached: true,
        passed: bounds.holds(value),
        kind: format!("{what} {bounds}"),
        text: format!("{what} {bounds} (found {value})"),
    }
}

/// How much of a run's checks to put into words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Describe {
    /// Every check, as the summary prints them.
    All,
    /// Only the checks that fail or are not reached: a passing check keeps empty texts. A
    /// sweep counts failures by kind and needs nothing else, and formatting the passing
    /// checks of every seed cost it a sixth of its time.
    Failures,
}

/// A passing check without words (see [`Describe::Failures`]).
fn quiet_pass() -> Check {
    Check {
        reached: true,
        passed: true,
        kind: String::new(),
        text: String::new(),
    }
}

/// `make()`, unless it would pass and only failures are to be described.
fn described(describe: Describe, passes: bool, make: impl FnOnce() -> Check) -> Check {
    if passes && describe == Describe::Failures {
        quiet_pass()
    } else {
        make()
    }
}

/// A bound on a count that can only grow, in a run cut short before the count's window ended:
/// past an upper bound is a failure already, a lower bound met with no upper one is a pass,
/// anything else is not decided yet.
fn bounded_so_far(what: String, value: u64, bounds: Bounds, cut: SimTime) -> Check {
    let upper = bounds.at_most.into_iter().chain(bounds.exactly).min();
    if upper.is_some_and(|b| value > b) {
        return bounded(what, value, bounds);
    }
    if upper.is_none() && bounds.holds(value) {
        return bounded(what, value, bounds);
    }
    not_reached(
        format!("{what} {bounds}"),
        format!("found {value} so far"),
        cut,
    )
}

/// A bound on what the run leaves at its end: not reached in a run cut short.
fn at_end(
    what: &dyn Fn() -> String,
    value: u64,
    bounds: Bounds,
    cut: Option<SimTime>,
    describe: Describe,
) -> Check {
    match cut {
        Some(cut) => not_reached(format!("{} {bounds}", what()), format!("{value} now"), cut),
        None => described(describe, bounds.holds(value), || {
            bounded(what(), value, bounds)
        }),
    }
}

/// A check the run, cut short at `cut`, did not get far enough to decide.
fn not_reached(kind: String, found: String, cut: SimTime) -> Check {
    Check {
        reached: false,
        passed: false,
        text: format!("{kind} (not reached: the run was cut at {cut}; {found})"),
        kind,
    }
}

/// `client sends [F.] to server in [1s, 1.1s]`.
pub fn sent_text(w: &SentWindow, name: &dyn Fn(netsim_engine::HostId) -> String) -> String {
    let f = &w.filter;
    let mut text = format!("{} sends", f.from.map_or("?".into(), name));
    match f.flags {
        Some(FlagMatch::Exact(flags)) => text += &format!(" [{flags}]"),
        Some(FlagMatch::Contains(flags)) => text += &format!(" [{flags}+]"),
        None => text += " segments",
    }
    match f.payload {
        Some(true) => text += " with data",
        Some(false) => text += " without data",
        None => {}
    }
    if let Some(to) = f.to {
        text += &format!(" to {}", name(to));
    }
    text + &format!(" in [{}, {}]", w.from, w.to)
}

fn path_text(states: &[State]) -> String {
    states
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// What the observer and the oracle saw of a run.
pub(crate) struct Observed<'a> {
    /// Per host.
    pub views: &'a [HostView],
    /// Per `Sent` expectation, its count.
    pub sent: &'a [u64],
    /// The packets, from the trace records.
    pub ledger: &'a crate::observe::PacketLedger,
    /// Byte-stream and transition violations.
    pub violations: &'a [Violation],
}

pub(crate) fn checks(
    scenario: &Scenario,
    outcome: &RunOutcome,
    hosts: &[HostReport],
    observed: &Observed<'_>,
    unfired: &[FaultId],
    cut: Option<SimTime>,
    describe: Describe,
) -> Vec<Check> {
    let Observed {
        views,
        sent,
        ledger,
        violations,
    } = *observed;
    // The expectations, the two "work happened" checks and the three oracles, at least.
    let mut out = Vec::with_capacity(scenario.compiled.expectations.len() + 5);
    let mut sent = sent.iter();
    let mut expected_violations = Vec::new();
    // A count whose window (ending at `to`, or the run's end) lies past the cut is decided
    // only as far as it can be.
    let count =
        |what: &dyn Fn() -> String, value: u64, bounds: Bounds, to: Option<SimTime>| match cut {
            Some(cut) if to.is_none_or(|to| to >= cut) => {
                bounded_so_far(what(), value, bounds, cut)
            }
            _ => described(describe, bounds.holds(value), || {
                bounded(what(), value, bounds)
            }),
        };
    for e in &scenario.compiled.expectations {
        let name = |h: netsim_engine::HostId| hosts[h.0 as usize].name.as_str();
        out.push(match e {
            Expectation::Path { host, conn, states } => {
                let found = views[host.0 as usize].paths.get(conn);
                let passed = found.is_some_and(|p| p == states);
                if passed && describe == Describe::Failures {
                    out.push(quiet_pass());
                    continue;
                }
                let text = format!("{} connection {conn}: {}", name(*host), path_text(states));
                let found_text = found.map_or("no such connection".into(), |p| path_text(p));
                // Cut short, a path still on its way (a beginning of the one expected, not
                // yet CLOSED again) may yet become it.
                let on_its_way = found.is_none_or(|p| {
                    states.starts_with(p) && !(p.len() > 1 && p.last() == Some(&State::Closed))
                });
                if let Some(cut) = cut.filter(|_| on_its_way) {
                    not_reached(text, format!("found {found_text}"), cut)
                } else {
                    Check {
                        reached: true,
                        passed,
                        kind: text.clone(),
                        text: if passed {
                            text
                        } else {
                            format!("{text} (found {found_text})")
                        },
                    }
                }
            }
            Expectation::Error {
                host,
                errno,
                bounds,
            } => {
                let n = hosts[host.0 as usize]
                    .app
                    .errors
                    .get(errno)
                    .copied()
                    .unwrap_or(0);
                count(
                    &|| format!("{} sees {}", name(*host), errno.name()),
                    n,
                    *bounds,
                    None,
                )
            }
            Expectation::Unfinished { host, bounds } => at_end(
                &|| format!("{} tasks that did not reach their end", name(*host)),
                hosts[host.0 as usize].app.not_done(),
                *bounds,
                cut,
                describe,
            ),
            Expectation::Received { host, bounds } => count(
                &|| format!("{} receives bytes", name(*host)),
                hosts[host.0 as usize].app.bytes_received,
                *bounds,
                None,
            ),
            Expectation::Count {
                host,
                counter: which,
                bounds,
            } => count(
                &|| format!("{} {which:?}", name(*host)),
                counter(&hosts[host.0 as usize].counters, *which),
                *bounds,
                None,
            ),
            Expectation::Peak {
                host,
                state,
                bounds,
            } => count(
                &|| format!("{} peak {}", name(*host), state.name()),
                hosts[host.0 as usize].peaks[*state as usize],
                *bounds,
                None,
            ),
            Expectation::AtEnd {
                host,
                state,
                bounds,
            } => at_end(
                &|| format!("{} at the end in {}", name(*host), state.name()),
                u64::from(hosts[host.0 as usize].at_end[*state as usize]),
                *bounds,
                cut,
                describe,
            ),
            Expectation::Established {
                host,
                from,
                to,
                bounds,
            } => {
                let n = views[host.0 as usize].established_in(*from, *to);
                count(
                    &|| format!("{} connections established in [{from}, {to})", name(*host)),
                    n,
                    *bounds,
                    Some(*to),
                )
            }
            Expectation::Sent { window, bounds } => count(
                &|| sent_text(window, &|h| name(h).to_string()),
                *sent.next().expect("one count per Sent expectation"),
                *bounds,
                Some(window.to),
            ),
            Expectation::Violation(kind) => {
                expected_violations.push(*kind);
                let n = violations.iter().filter(|v| v.kind == *kind).count();
                if n > 0 && describe == Describe::Failures {
                    out.push(quiet_pass());
                    continue;
                }
                let what = format!("oracle violation {kind:?} occurs");
                match cut {
                    Some(cut) if n == 0 => not_reached(what, "none so far".into(), cut),
                    _ => described(describe, n > 0, || Check {
                        reached: true,
                        passed: n > 0,
                        kind: what.clone(),
                        text: format!("{what} (found {n})"),
                    }),
                }
            }
        });
    }
    out.extend(work_happened(scenario, hosts, cut, describe));
    let unexpected: Vec<&Violation> = violations
        .iter()
        .filter(|v| !expected_violations.contains(&v.kind))
        .collect();
    out.push(described(describe, unexpected.is_empty(), || Check {
        reached: true,
        passed: unexpected.is_empty(),
        kind: match unexpected.first() {
            None => "oracle: byte streams and transitions".into(),
            Some(v) => format!("oracle: {:?}", v.kind),
        },
        text: match unexpected.first() {
            None => "oracle: byte streams intact, transitions legal".into(),
            Some(v) => format!(
                "oracle: {} violation(s), first {:?}: {}",
                unexpected.len(),
                v.kind,
                v.detail
            ),
        },
    }));
    // The packet oracles, from the trace records (the observer's ledger), not from the
    // engine's counters; the engine's must agree with them.
    let l = ledger;
    out.push(described(describe, l.late.is_empty(), || Check {
        reached: true,
        passed: l.late.is_empty(),
        kind: "oracle: packet lifetime".into(),
        text: match l.late.first() {
            None => "oracle: no packet delivered past its lifetime (found 0)".into(),
            Some(first) => format!(
                "oracle: no packet delivered past its lifetime (found {}, first {first})",
                l.late.len()
            ),
        },
    }));
    let s = &outcome.stats;
    let records_in_flight = l.in_flight.len();
    let engine_agrees = (
        s.sent,
        s.copies,
        s.delivered,
        s.dropped_total(),
        outcome.in_flight,
    ) == (l.sent, l.copies, l.delivered, l.dropped, records_in_flight);
    let accounted = l.anomalies.is_empty() && engine_agrees;
    out.push(described(describe, accounted, || Check {
        reached: true,
        passed: accounted,
        kind: "oracle: packet accounting".into(),
        text: match (l.anomalies.first(), engine_agrees) {
            (None, true) => format!(
                "oracle: every packet delivered, dropped with a reason or in flight ({} sent + {} copies = {} delivered + {} dropped + {} in flight)",
                l.sent, l.copies, l.delivered, l.dropped, records_in_flight
            ),
            (Some(first), _) => format!(
                "oracle: every packet delivered, dropped with a reason or in flight ({} records that do not fit, first {first})",
                l.anomalies.len()
            ),
            (None, false) => format!(
                "oracle: every packet delivered, dropped with a reason or in flight (the trace shows {} sent, {} copies, {} delivered, {} dropped, {} in flight; the engine counted {}, {}, {}, {}, {})",
                l.sent, l.copies, l.delivered, l.dropped, records_in_flight,
                s.sent, s.copies, s.delivered, s.dropped_total(), outcome.in_flight
            ),
        },
    }));
    for (i, o) in outcome.injections.iter().enumerate() {
        if *o == InjectOutcome::Sent {
            continue;
        }
        let at = scenario.compiled.topology.injections[i].0;
        if let Some(cut) = cut.filter(|cut| at >= *cut) {
            out.push(not_reached(
                format!("injection {} sent", i + 1),
                format!("it was due at {at}"),
                cut,
            ));
            continue;
        }
        out.push(Check {
            reached: true,
            passed: false,
            kind: format!("injection {} not sent", i + 1),
            text: format!("injection {} at {at} {o}", i + 1),
        });
    }
    for id in unfired {
        if let Some(cut) = cut {
            out.push(not_reached(
                format!("{id} matched"),
                "not matched so far".into(),
                cut,
            ));
            continue;
        }
        out.push(Check {
            reached: true,
            passed: false,
            kind: format!("{id} never matched"),
            text: format!("{id} never matched (a fault that never fires tests nothing; mark it optional: true if intended)"),
        });
    }
    out
}

/// The default oracle "the work happened": every error an application saw is named by an
/// `Error` expectation of its host, and every task of a host without an `Unfinished`
/// expectation reached its last step. Without it a run in which a connect failed at once
/// would pass having tested nothing.
/// In a run cut short at `cut`, tasks still under way are not reached, not failed.
fn work_happened(
    scenario: &Scenario,
    hosts: &[HostReport],
    cut: Option<SimTime>,
    describe: Describe,
) -> [Check; 2] {
    let expectations = &scenario.compiled.expectations;
    let mut unexpected = Vec::new();
    let mut unfinished = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let id = netsim_engine::HostId(i as u32);
        for (errno, n) in &h.app.errors {
            let named = expectations.iter().any(|e| {
                matches!(e, Expectation::Error { host, errno: named, .. } if *host == id && named == errno)
            });
            if !named {
                unexpected.push((format!("{} {}", h.name, errno.name()), *n));
            }
        }
        let allowed = expectations
            .iter()
            .any(|e| matches!(e, Expectation::Unfinished { host, .. } if *host == id));
        if !allowed && h.app.not_done() > 0 {
            let mut doing: Vec<String> = h
                .app
                .unfinished
                .iter()
                .map(|(what, n)| format!("{n} in {what}"))
                .collect();
            if h.app.spawns_left > 0 {
                doing.push(format!("{} never spawned", h.app.spawns_left));
            }
            unfinished.push((h.name.clone(), h.app.not_done(), doing.join(", ")));
        }
    }
    let errors = if unexpected.is_empty() {
        described(describe, true, || Check {
            reached: true,
            passed: true,
            kind: "applications: every error expected".into(),
            text: "applications: every error seen is named by an Error expectation".into(),
        })
    } else {
        let names: Vec<&str> = unexpected.iter().map(|(k, _)| k.as_str()).collect();
        let counts: Vec<String> = unexpected
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        Check {
            reached: true,
            passed: false,
            kind: format!("applications: unexpected errors ({})", names.join(", ")),
            text: format!(
                "applications: errors no Error expectation names: {} (expect them if intended)",
                counts.join(", ")
            ),
        }
    };
    let tasks = if let Some(cut) = cut.filter(|_| !unfinished.is_empty()) {
        not_reached(
            "applications: every task reached its end".into(),
            "some are still under way".into(),
            cut,
        )
    } else if unfinished.is_empty() {
        described(describe, true, || Check {
            reached: true,
            passed: true,
            kind: "applications: every task reached its end".into(),
            text: "applications: every task reached its end".into(),
        })
    } else {
        let names: Vec<&str> = unfinished.iter().map(|(h, _, _)| h.as_str()).collect();
        let details: Vec<String> = unfinished
            .iter()
            .map(|(h, n, doing)| format!("{h} {n} ({doing})"))
            .collect();
        Check {
            reached: true,
            passed: false,
            kind: format!(
                "applications: tasks did not reach their end ({})",
                names.join(", ")
            ),
            text: format!(
                "applications: tasks that did not reach their end: {} (an Unfinished expectation allows them)",
                details.join("; ")
            ),
        }
    };
    [errors, tasks]
}

/// Why a run ended, in the summary's words (text and JSON alike).
pub fn stop_reason(stop: Stop) -> &'static str {
    match stop {
        Stop::EndTime => "end time reached",
        Stop::Idle => "no events left",
    }
}

/// The closing summary of a run, without anything that varies between runs (no wall time):
/// network counters, each host's sockets and errors, and every check with its verdict.
pub fn summary(scenario: &Scenario, seed: u64, report: &crate::Report) -> String {
    let o = &report.outcome;
    let s = &o.stats;
    let mut lines = vec![format!("== {} (seed {seed}) ==", scenario.file.name)];
    lines.push(format!("end:      {} ({})", o.end, stop_reason(o.stop)));
    lines.push(format!(
        "packets:  {} sent, {} copies, {} delivered, {} dropped, {} in flight",
        s.sent,
        s.copies,
        s.delivered,
        s.dropped_total(),
        o.in_flight
    ));
    if !s.dropped.is_empty() {
        let drops: Vec<String> = s.dropped.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        lines.push(format!("drops:    {}", drops.join(", ")));
    }
    for (i, count) in o.faults.iter().enumerate() {
        lines.push(format!(
            "fault {}:  matched {}, fired {}",
            i + 1,
            count.matched,
            count.fired
        ));
    }
    for h in &report.hosts {
        lines.push(host_line(h));
    }
    let open: usize = report.hosts.iter().map(|h| h.sockets.len()).sum();
    if open == 0 {
        lines.push("sockets:  none open at the end".into());
    } else {
        lines.push(format!(
            "sockets:  {open} open at the end, as ss -tan -o lists them:"
        ));
        for line in socket_table(&report.hosts, Some(SOCKETS_SHOWN)) {
            lines.push(format!("  {line}"));
        }
    }
    lines.push("checks:".into());
    for c in &report.checks {
        let mark = match (c.reached, c.passed) {
            (false, _) => "--  ",
            (true, true) => "ok  ",
            (true, false) => "FAIL",
        };
        lines.push(format!("  {mark} {}", c.text));
    }
    let total = report.checks.len();
    lines.push(match report.verdict() {
        crate::Verdict::PassSoFar => format!(
            "result:   PASS so far ({} of {total} checks not reached: the run was cut short)",
            report.not_reached().count()
        ),
        crate::Verdict::Pass => "result:   PASS".into(),
        crate::Verdict::Fail => format!(
            "result:   FAIL ({} of {total} checks failed)",
            report.failures().count()
        ),
    });
    lines.push(format!(
        "trace:    {} records, hash {:016x}",
        o.trace_records, o.trace_hash
    ));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// One host's line: sockets per state at the end (with the peak where higher), errors,
/// retransmissions, bytes received.
/// Rows of the summary's socket table per host; the rest are counted.
const SOCKETS_SHOWN: usize = 20;

/// A time left as `ss -o` prints it: `200ms`, `59sec`, `2min3sec`.
fn ss_time(d: netsim_core::SimDuration) -> String {
    let ms = d.as_nanos() / 1_000_000;
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{}sec", ms / 1_000),
        _ => format!("{}min{}sec", ms / 60_000, ms / 1_000 % 60),
    }
}

/// The sockets open at the end of a run, as `ss -tan -o` prints them, with the host in front:
/// a header line and a line per socket, at most `limit` per host (the rest counted).
pub fn socket_table(hosts: &[HostReport], limit: Option<usize>) -> Vec<String> {
    let mut rows: Vec<[String; 7]> = vec![[
        "Host".into(),
        "State".into(),
        "Recv-Q".into(),
        "Send-Q".into(),
        "Local Address:Port".into(),
        "Peer Address:Port".into(),
        "Timer".into(),
    ]];
    let mut more = Vec::new();
    for h in hosts {
        let shown = limit.unwrap_or(usize::MAX).min(h.sockets.len());
        for s in &h.sockets[..shown] {
            rows.push([
                h.name.clone(),
                s.state.ss_name().into(),
                s.recv_q.to_string(),
                s.send_q.to_string(),
                s.local.to_string(),
                s.peer.map_or("*:*".into(), |p| p.to_string()),
                s.timer.map_or(String::new(), |t| {
                    format!("timer:({},{},{})", t.kind, ss_time(t.left), t.retries)
                }),
            ]);
        }
        if shown < h.sockets.len() {
            more.push(format!(
                "{}: {} more sockets (netsim run --sockets lists them all)",
                h.name,
                h.sockets.len() - shown
            ));
        }
    }
    let mut widths = [0; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut lines: Vec<String> = rows
        .iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (cell, w))| match i {
                    // Queue lengths right-aligned, as ss prints them.
                    2 | 3 => format!("{cell:>w$}"),
                    _ => format!("{cell:<w$}"),
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect();
    lines.extend(more);
    lines
}

fn host_line(h: &HostReport) -> String {
    let mut parts = Vec::new();
    let states: Vec<String> = State::ALL
        .iter()
        .filter(|st| h.at_end[**st as usize] > 0 || h.peaks[**st as usize] > 0)
        .map(|st| {
            let (now, peak) = (h.at_end[*st as usize], h.peaks[*st as usize]);
            if peak > u64::from(now) {
                format!("{} {now} (peak {peak})", st.name())
            } else {
                format!("{} {now}", st.name())
            }
        })
        .collect();
    parts.push(if states.is_empty() {
        "no sockets".to_string()
    } else {
        states.join(", ")
    });
    if !h.app.errors.is_empty() {
        let errors: Vec<String> = h
            .app
            .errors
            .iter()
            .map(|(e, n)| format!("{} x{n}", e.name()))
            .collect();
        parts.push(format!("errors {}", errors.join(" ")));
    }
    if h.app.early_eofs > 0 {
        parts.push(format!("early EOF x{}", h.app.early_eofs));
    }
    let c = &h.counters;
    if c.retransmits > 0 {
        parts.push(format!(
            "retransmits {} (FIN {}; timeouts {}, recoveries {} (SACK {}), loss probes {})",
            c.retransmits,
            c.fin_retransmits,
            c.timeouts,
            c.recoveries,
            c.sack_recoveries,
            c.loss_probes
        ));
    }
    if c.keepalive_probes > 0 {
        parts.push(format!("keep-alive probes {}", c.keepalive_probes));
    }
    if h.scripted {
        parts.push(format!("received {} bytes", h.app.bytes_received));
    } else {
        parts.push("runs an application of its own".to_string());
    }
    format!("{}: {}", h.name, parts.join("; "))
}
