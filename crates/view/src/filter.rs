//! [`TraceFilter`]: which records of a trace to show (`--host`, `--conn`, `--state`,
//! `--from`, `--to`). A filter decides record by record as the trace streams past; it sees
//! every record (to follow the sockets' states) but keeps nothing per record.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;

use netsim_core::SimTime;
use netsim_engine::{ConnTag, HostId, HostSpec, NetChange, Tagged, TraceKind, TraceRecord};
use netsim_host::HostEvent;
use netsim_tcp::{State, TcpEvent};

/// Which connections `--conn` picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnSelector {
    /// The n-th connection of the run (as the JSON trace's `conn.number` and the ladder's
    /// titles number them).
    Number(u64),
    /// Every connection with this endpoint, or only its given incarnation (`ADDR:PORT#N`, as
    /// the text trace marks a reused 4-tuple).
    End(SocketAddrV4, Option<u32>),
}

impl FromStr for ConnSelector {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not a connection: give its number (3), an endpoint \
                 (10.0.0.1:40000) or an endpoint and incarnation (10.0.0.1:40000#2)"
            )
        };
        if let Ok(n) = text.parse::<u64>() {
            return if n == 0 {
                Err(format!("`{text}`: connections are numbered from 1"))
            } else {
                Ok(ConnSelector::Number(n))
            };
        }
        let (end, incarnation) = match text.split_once('#') {
            Some((_, "0")) => return Err(format!("`{text}`: incarnations are numbered from 1")),
            Some((end, n)) => (end, Some(n.parse::<u32>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let end = end.parse::<SocketAddrV4>().map_err(|_| bad())?;
        Ok(ConnSelector::End(end, incarnation))
    }
}

impl fmt::Display for ConnSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnSelector::Number(n) => write!(f, "connection {n}"),
            ConnSelector::End(end, None) => write!(f, "{end}"),
            ConnSelector::End(end, Some(n)) => write!(f, "{end}#{n}"),
        }
    }
}

/// A 4-tuple as the reporting host sees it.
type Pair = (SocketAddrV4, SocketAddrV4);

/// What to keep of a trace. Empty: everything.
#[derive(Clone, Debug, Default)]
pub struct TraceFilter {
    /// Only records of these hosts (their own actions, and what the network does to their
    /// packets).
    hosts: Vec<(HostId, Ipv4Addr)>,
    /// Only records of this connection.
    pub conn: Option<ConnSelector>,
    /// Only records of connections with a side in one of these states, and changes into or
    /// out of them.
    states: Vec<State>,
    /// Only records at or after this time.
    pub from: Option<SimTime>,
    /// Only records at or before this time.
    pub to: Option<SimTime>,
    /// The state of every socket not CLOSED, by (local, remote), when states are asked for.
    live: BTreeMap<Pair, State>,
    /// `--host` keeps a packet sent to the host as well as one it sends (a ladder draws the
    /// segments a host receives at their send); the trace keeps the host's own records.
    pub either_end: bool,
    /// Whether `--conn` has matched a record yet.
    conn_found: bool,
}

impl TraceFilter {
    /// Keeps only the named hosts (names as the scenario gives them).
    pub fn hosts(mut self, names: &[String], hosts: &[HostSpec]) -> Result<Self, String> {
        for name in names {
            let Some(i) = hosts.iter().position(|h| &h.name == name) else {
                let known: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                return Err(format!(
                    "--host {name}: no such host (the scenario has {})",
                    known.join(", ")
                ));
            };
            self.hosts.push((HostId(i as u32), hosts[i].addr));
        }
        Ok(self)
    }

    /// Keeps only connections in the named states (as the trace prints them).
    pub fn states(mut self, names: &[String]) -> Result<Self, String> {
        for name in names {
            let state = State::from_name(&name.to_ascii_uppercase()).ok_or_else(|| {
                let known: Vec<&str> = State::ALL.iter().map(|s| s.name()).collect();
                format!("--state {name}: no such state ({})", known.join(", "))
            })?;
            self.states.push(state);
        }
        Ok(self)
    }

    /// Keeps everything.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
            && self.conn.is_none()
            && self.states.is_empty()
            && self.from.is_none()
            && self.to.is_none()
    }

    /// Whether to show `record`, whose connection is `conn`. Every record of the run must
    /// come here, in order, shown or not.
    pub fn keep(&mut self, record: &TraceRecord<'_, HostEvent>, conn: Option<Tagged>) -> bool {
        let in_state = self.follow_states(record);
        let of_conn = self.conn_matches(record, conn);
        self.conn_found |= of_conn && self.conn.is_some();
        of_conn && self.in_window(record.at) && in_state && self.host_matches(record)
    }

    /// After a run: the `--conn` selector, if no record of the run matched it (whatever the
    /// other filters said).
    pub fn conn_not_found(&self) -> Option<ConnSelector> {
        self.conn.filter(|_| !self.conn_found)
    }

    /// Whether `at` lies in the window of `--from` and `--to`.
    pub fn in_window(&self, at: SimTime) -> bool {
        self.from.is_none_or(|t| at >= t) && self.to.is_none_or(|t| at <= t)
    }

    /// Notes state changes; whether the record is of a connection in an asked-for state.
    fn follow_states(&mut self, record: &TraceRecord<'_, HostEvent>) -> bool {
        if self.states.is_empty() {
            return true;
        }
        let asked = |s: State| self.states.contains(&s);
        match &record.kind {
            TraceKind::Protocol {
                event: HostEvent::Tcp(TcpEvent::State { conn, from, to }),
                ..
            } => {
                let pair = (conn.local, conn.remote);
                if *to == State::Closed {
                    self.live.remove(&pair);
                } else {
                    self.live.insert(pair, *to);
                }
                asked(*from) || asked(*to)
            }
            TraceKind::Protocol { event, .. } => match event {
                HostEvent::Tcp(e) => self.pair_in_state((e.conn().local, e.conn().remote)),
                HostEvent::BadRead(b) => self.pair_in_state((b.conn.local, b.conn.remote)),
                HostEvent::CallFailed { .. } => false,
            },
            TraceKind::Network(NetChange::Crash(_)) => false,
            kind => match packet_of(kind) {
                Some(p) => {
                    let src = SocketAddrV4::new(p.src, p.segment.src_port);
                    let dst = SocketAddrV4::new(p.dst, p.segment.dst_port);
                    self.pair_in_state((src, dst)) || self.pair_in_state((dst, src))
                }
                None => false,
            },
        }
    }

    fn pair_in_state(&self, pair: Pair) -> bool {
        self.live
            .get(&pair)
            .is_some_and(|s| self.states.contains(s))
    }

    fn host_matches(&self, record: &TraceRecord<'_, HostEvent>) -> bool {
        if self.hosts.is_empty() {
            return true;
        }
        let is = |h: &HostId| self.hosts.iter().any(|(id, _)| id == h);
        match &record.kind {
            TraceKind::Sent { host, packet, .. } if self.either_end => {
                is(host) || self.hosts.iter().any(|(_, addr)| *addr == packet.dst)
            }
            TraceKind::Sent { host, .. }
            | TraceKind::Delivered { host, .. }
            | TraceKind::Timer { host, .. }
            | TraceKind::Protocol { host, .. } => is(host),
            TraceKind::Network(change) => change.hosts().iter().any(is),
            kind => packet_of(kind).is_some_and(|p| {
                self.hosts
                    .iter()
                    .any(|(_, addr)| *addr == p.src || *addr == p.dst)
            }),
        }
    }

    fn conn_matches(&self, record: &TraceRecord<'_, HostEvent>, conn: Option<Tagged>) -> bool {
        let Some(selector) = self.conn else {
            return true;
        };
        let Some(tagged) = conn else {
            return false;
        };
        // A segment of another incarnation that lands in the chosen one (a delayed duplicate)
        // is shown with it: it is what hit the connection.
        let picks = |tag: ConnTag| match selector {
            ConnSelector::Number(n) => tag.number == n,
            ConnSelector::End(_, incarnation) => incarnation.is_none_or(|n| n == tag.incarnation),
        };
        let ends = match selector {
            ConnSelector::Number(_) => true,
            ConnSelector::End(end, _) => ends_of(record).is_some_and(|(a, b)| a == end || b == end),
        };
        ends && (picks(tagged.tag) || tagged.into.is_some_and(picks))
    }
}

/// The packet a record is about, if any.
pub fn packet_of<'a>(kind: &TraceKind<'a, HostEvent>) -> Option<&'a netsim_core::Packet> {
    match *kind {
        TraceKind::Sent { packet, .. }
        | TraceKind::Delivered { packet, .. }
        | TraceKind::Dropped { packet, .. }
        | TraceKind::Duplicated { packet, .. }
        | TraceKind::Delayed { packet, .. }
        | TraceKind::Held { packet, .. }
        | TraceKind::Released { packet, .. } => Some(packet),
        TraceKind::Timer { .. } | TraceKind::Protocol { .. } | TraceKind::Network(_) => None,
    }
}

/// The two endpoints a record is about: a packet's source and destination, or a protocol
/// event's local and remote end.
fn ends_of(record: &TraceRecord<'_, HostEvent>) -> Option<Pair> {
    if let Some(p) = packet_of(&record.kind) {
        return Some((
            SocketAddrV4::new(p.src, p.segment.src_port),
            SocketAddrV4::new(p.dst, p.segment.dst_port),
        ));
    }
    match &record.kind {
        TraceKind::Protocol { event, .. } => match event {
            HostEvent::Tcp(e) => Some((e.conn().local, e.conn().remote)),
            HostEvent::BadRead(b) => Some((b.conn.local, b.conn.remote)),
            HostEvent::CallFailed { .. } => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_picked_by_number_or_endpoint() {
        assert_eq!("3".parse(), Ok(ConnSelector::Number(3)));
        let end: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
        assert_eq!("10.0.0.1:40000".parse(), Ok(ConnSelector::End(end, None)));
        assert_eq!(
            "10.0.0.1:40000#2".parse(),
            Ok(ConnSelector::End(end, Some(2)))
        );
        for bad in [
            "0",
            "x",
            "10.0.0.1",
            "10.0.0.1:40000#",
            "10.0.0.1:40000#x",
            "10.0.0.1:40000#0",
            "-1",
        ] {
            assert!(bad.parse::<ConnSelector>().is_err(), "{bad}");
        }
    }
}
