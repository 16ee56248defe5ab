//! [`Interest`]: which connection of a run is the one to look at. A violation of an oracle
//! weighs most, then a drop of one of its segments, then a retransmission, then anything else
//! the TCP model remarks on; ties go to the earlier connection. Only connections with
//! something to remark on are kept.

use std::collections::BTreeMap;

use netsim_engine::{Connections, TraceKind, TraceRecord, TraceSink};
use netsim_host::HostEvent;
use netsim_tcp::TcpEvent;

/// Scores connections as the records stream past.
#[derive(Debug, Default)]
pub struct Interest {
    conns: Connections,
    /// Per connection with anything to remark on: violations, drops, retransmissions, notes.
    counts: BTreeMap<u64, Remarks>,
}

/// What was remarked on one connection.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Remarks {
    /// Oracle violations (stale or corrupt data read, illegal transitions).
    pub violations: u64,
    /// Its segments the network dropped.
    pub drops: u64,
    /// Retransmissions.
    pub retransmits: u64,
    /// Other notes and errors of the TCP model.
    pub notes: u64,
}

impl Remarks {
    fn score(&self) -> u64 {
        self.violations * VIOLATION
            + self.drops * DROP
            + self.retransmits * RETRANSMIT
            + self.notes * NOTE
    }
}

impl std::fmt::Display for Remarks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            (self.violations, "oracle violation"),
            (self.drops, "drop"),
            (self.retransmits, "retransmission"),
            (self.notes, "other remark"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}{}", if *n == 1 { "" } else { "s" }))
        .collect();
        if parts.is_empty() {
            f.write_str("nothing remarkable")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// What one remark of each kind weighs.
const VIOLATION: u64 = 1000;
const DROP: u64 = 10;
const RETRANSMIT: u64 = 5;
const NOTE: u64 = 1;

impl Interest {
    /// The connection to look at, with its score; the first connection of the run if none
    /// has anything to remark on; none if the run had no connection.
    pub fn best(&self) -> Option<(u64, Remarks)> {
        let best = self
            .counts
            .iter()
            .max_by(|a, b| a.1.score().cmp(&b.1.score()).then(b.0.cmp(a.0)))
            .map(|(n, r)| (*n, *r));
        best.or((self.conns.count() > 0).then_some((1, Remarks::default())))
    }
}

impl TraceSink<HostEvent> for Interest {
    fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        let Some(tagged) = self.conns.record(record) else {
            return;
        };
        let count: fn(&mut Remarks) -> &mut u64 = match &record.kind {
            TraceKind::Dropped { .. } => |r| &mut r.drops,
            TraceKind::Protocol { event, .. } => match event {
                HostEvent::BadRead(_) | HostEvent::Tcp(TcpEvent::IllegalTransition { .. }) => {
                    |r| &mut r.violations
                }
                HostEvent::Tcp(TcpEvent::Retransmit { .. }) => |r| &mut r.retransmits,
                HostEvent::Tcp(TcpEvent::Note { .. } | TcpEvent::Error { .. }) => |r| &mut r.notes,
                _ => return,
            },
            _ => return,
        };
        *count(self.counts.entry(tagged.tag.number).or_default()) += 1;
    }
}
