//! Turns a finished run into verdicts: each expectation, the oracles (byte streams, legal
//! transitions, packet lifetime, packet accounting), and the faults that had to fire.

use netsim_engine::{FaultId, RunOutcome};
use netsim_tcp::{Counters, State};

use crate::compile::{Bounds, Expectation};
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
    }
}

fn bounded(what: String, value: u64, bounds: Bounds) -> Check {
    Check {
        passed: bounds.holds(value),
        text: format!("{what} {bounds} (found {value})"),
    }
}

fn path_text(states: &[State]) -> String {
    states
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(" -> ")
}

pub(crate) fn checks(
    scenario: &Scenario,
    outcome: &RunOutcome,
    hosts: &[HostReport],
    views: &[HostView],
    violations: &[Violation],
    unfired: &[FaultId],
) -> Vec<Check> {
    let mut out = Vec::new();
    let mut expected_violations = Vec::new();
    for e in &scenario.compiled.expectations {
        let name = |h: netsim_engine::HostId| hosts[h.0 as usize].name.as_str();
        out.push(match e {
            Expectation::Path { host, conn, states } => {
                let found = views[host.0 as usize].paths.get(*conn as usize - 1);
                Check {
                    passed: found.is_some_and(|p| p == states),
                    text: format!(
                        "{} connection {conn}: {} (found {})",
                        name(*host),
                        path_text(states),
                        found.map_or("no such connection".into(), |p| path_text(p))
                    ),
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
                bounded(format!("{} sees {}", name(*host), errno.name()), n, *bounds)
            }
            Expectation::Received { host, bounds } => bounded(
                format!("{} receives bytes", name(*host)),
                hosts[host.0 as usize].app.bytes_received,
                *bounds,
            ),
            Expectation::Count {
                host,
                counter: which,
                bounds,
            } => bounded(
                format!("{} {which:?}", name(*host)),
                counter(&hosts[host.0 as usize].counters, *which),
                *bounds,
            ),
            Expectation::Peak {
                host,
                state,
                bounds,
            } => bounded(
                format!("{} peak {}", name(*host), state.name()),
                hosts[host.0 as usize].peaks[*state as usize],
                *bounds,
            ),
            Expectation::AtEnd {
                host,
                state,
                bounds,
            } => bounded(
                format!("{} at the end in {}", name(*host), state.name()),
                u64::from(hosts[host.0 as usize].at_end[*state as usize]),
                *bounds,
            ),
            Expectation::Violation(kind) => {
                expected_violations.push(*kind);
                let n = violations.iter().filter(|v| v.kind == *kind).count();
                Check {
                    passed: n > 0,
                    text: format!("oracle violation {kind:?} occurs (found {n})"),
                }
            }
        });
    }
    let unexpected: Vec<&Violation> = violations
        .iter()
        .filter(|v| !expected_violations.contains(&v.kind))
        .collect();
    out.push(Check {
        passed: unexpected.is_empty(),
        text: match unexpected.first() {
            None => "oracle: byte streams intact, transitions legal".into(),
            Some(v) => format!(
                "oracle: {} violation(s), first {:?}: {}",
                unexpected.len(),
                v.kind,
                v.detail
            ),
        },
    });
    let s = &outcome.stats;
    out.push(Check {
        passed: s.late_deliveries == 0,
        text: format!(
            "oracle: no packet delivered past its lifetime (found {})",
            s.late_deliveries
        ),
    });
    let accounted = s.delivered + s.dropped_total() + outcome.in_flight;
    out.push(Check {
        passed: s.sent + s.copies == accounted,
        text: format!(
            "oracle: every packet delivered, dropped with a reason or in flight ({} sent + {} copies = {} delivered + {} dropped + {} in flight)",
            s.sent,
            s.copies,
            s.delivered,
            s.dropped_total(),
            outcome.in_flight
        ),
    });
    for id in unfired {
        out.push(Check {
            passed: false,
            text: format!("{id} never matched (a fault that never fires tests nothing; mark it optional: true if intended)"),
        });
    }
    out
}
