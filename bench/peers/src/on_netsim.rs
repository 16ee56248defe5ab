//! The workload on netsim itself: the same setup as `crates/host/benches/tcp.rs`, a client
//! and a responder on the Linux profile over a 1 ms link, every segment simulated, no trace
//! sink.
//!
//! Cost model (from that benchmark): 10 segments and 11 engine events a connection (the
//! arrivals plus the TIME_WAIT expiry; a send is not an event).

use std::time::Instant;

use netsim_core::SimDuration;
use netsim_engine::{NullSink, RunLimits, Sim};
use netsim_host::apps::{Either, Responder, SequentialClient};

use crate::Outcome;

/// Runs `n` sequential short connections and reports what was done.
pub fn run(n: u64) -> Outcome {
    let (topology, hosts) = netsim_host::apps::short_connections(n, SimDuration::from_millis(1));
    let limits = RunLimits {
        max_events: u64::MAX,
        ..RunLimits::default()
    };
    let mut sim = Sim::new(topology, hosts, 1, limits, NullSink).expect("a valid topology");
    let start = Instant::now();
    let outcome = sim.run().expect("netsim runs to idle");
    let wall = start.elapsed();
    let Either::<SequentialClient, Responder>::Left(client) = sim.hosts()[0].app() else {
        panic!("netsim: host 0 of short_connections is not the client");
    };
    let Either::<SequentialClient, Responder>::Right(server) = sim.hosts()[1].app() else {
        panic!("netsim: host 1 of short_connections is not the responder");
    };
    Outcome {
        completed: client.completed,
        served: server.accepted,
        wall,
        detail: format!(
            "{:.1} segments, {:.1} engine events a connection",
            outcome.stats.sent as f64 / n as f64,
            outcome.events as f64 / n as f64
        ),
    }
}
