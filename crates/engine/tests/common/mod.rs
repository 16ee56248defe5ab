//! Helpers shared by the engine's integration tests: two-host topologies, packet plans, and a
//! run that returns the outcome, the text trace and the hosts.

#![allow(dead_code)]

use std::net::Ipv4Addr;

use netsim_core::{Packet, Segment, Seq, SimDuration, SimTime, TcpFlags};
use netsim_engine::{
    HostId, LinkConfig, Planned, Probe, RunLimits, RunOutcome, Sim, TextLines, Topology,
};

pub const A: HostId = HostId(0);
pub const B: HostId = HostId(1);

pub fn addr(host: HostId) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, host.0 as u8 + 1)
}

pub fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

pub fn at_ms(n: u64) -> SimTime {
    SimTime::after(ms(n))
}

pub fn at_us(n: u64) -> SimTime {
    SimTime::after(SimDuration::from_micros(n))
}

/// A packet from `from` to `to` with sequence number `seq`, `flags` and `len` payload bytes.
pub fn packet(from: HostId, to: HostId, seq: u32, flags: TcpFlags, len: usize) -> Packet {
    Packet {
        src: addr(from),
        dst: addr(to),
        segment: Segment {
            src_port: 1000 + from.0 as u16,
            dst_port: 1000 + to.0 as u16,
            seq: Seq(seq),
            flags,
            window: 65535,
            payload: vec![0xab; len],
            ..Segment::default()
        },
    }
}

/// `count` packets from `from` to `to`, one every `gap`, starting at `start`; packet i has
/// sequence number i and `len` payload bytes.
pub fn stream(
    from: HostId,
    to: HostId,
    start: SimTime,
    gap: SimDuration,
    count: u32,
    len: usize,
) -> Vec<Planned> {
    (0..count)
        .map(|i| Planned {
            at: start + gap * u64::from(i),
            packet: packet(from, to, i, TcpFlags::ACK, len),
            label: "ESTABLISHED",
        })
        .collect()
}

/// Bare ACKs from `from` to `to`, one per `(ms, seq)`: sent at that millisecond with that
/// sequence number.
pub fn acks(from: HostId, to: HostId, sends: &[(u64, u32)]) -> Vec<Planned> {
    sends
        .iter()
        .map(|&(t, seq)| Planned {
            at: at_ms(t),
            packet: packet(from, to, seq, TcpFlags::ACK, 0),
            label: "",
        })
        .collect()
}

/// Hosts `a` (10.0.0.1) and `b` (10.0.0.2) joined by one link with `config` both ways.
pub fn two_hosts(config: LinkConfig) -> Topology {
    let mut t = Topology::default();
    let a = t.add_host("a", addr(A));
    let b = t.add_host("b", addr(B));
    t.add_link(a, b, config);
    t
}

pub struct Run {
    pub outcome: RunOutcome,
    pub lines: Vec<String>,
    pub hosts: Vec<Probe>,
}

/// Runs `topology` with one probe per host (plans given in host order) and returns everything.
pub fn run(topology: Topology, plans: Vec<Vec<Planned>>, seed: u64) -> Run {
    run_with(topology, plans, seed, RunLimits::default())
}

pub fn run_with(topology: Topology, plans: Vec<Vec<Planned>>, seed: u64, limits: RunLimits) -> Run {
    let hosts = plans.into_iter().map(Probe::new).collect();
    let mut sim = Sim::new(topology, hosts, seed, limits, TextLines::default()).expect("valid");
    let outcome = sim.run().expect("run ends");
    let stats = &outcome.stats;
    assert_eq!(
        stats.sent + stats.copies,
        stats.delivered + stats.dropped_total() + outcome.in_flight,
        "every packet is delivered, dropped with a reason, or still in flight"
    );
    let hosts = sim.hosts().to_vec();
    Run {
        outcome,
        lines: sim.into_sink().lines,
        hosts,
    }
}

/// Arrival times (ms, as floats for readable failures) of packets received by `host`.
pub fn arrivals(run: &Run, host: HostId) -> Vec<(SimTime, u32)> {
    run.hosts[host.0 as usize]
        .received
        .iter()
        .map(|(t, p)| (*t, p.segment.seq.0))
        .collect()
}

/// Trace lines that contain `needle`.
pub fn lines_with<'a>(run: &'a Run, needle: &str) -> Vec<&'a str> {
    run.lines
        .iter()
        .filter(|l| l.contains(needle))
        .map(String::as_str)
        .collect()
}
