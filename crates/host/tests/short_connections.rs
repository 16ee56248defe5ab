//! TCP hosts on the engine: short connections over a 1 ms link, end to end.

use netsim_core::{SimDuration, SimTime};
use netsim_engine::{NullSink, RunLimits, Sim, Stop, TextLines, Topology};
use netsim_host::TcpHost;
use netsim_host::apps::{Responder, SequentialClient};
use netsim_tcp::State;

type Either = netsim_host::apps::Either<SequentialClient, Responder>;

fn world(count: u64) -> (Topology, Vec<TcpHost<Either>>) {
    netsim_host::apps::short_connections(count, SimDuration::from_millis(1))
}

#[test]
fn sequential_short_connections_complete_and_leave_time_wait_on_the_client() {
    let (topology, hosts) = world(50);
    let limits = RunLimits {
        end: Some(SimTime::after(SimDuration::from_secs(10))),
        ..RunLimits::default()
    };
    let mut sim = Sim::new(topology, hosts, 1, limits, NullSink).unwrap();
    let outcome = sim.run().unwrap();
    assert_eq!(outcome.stop, Stop::EndTime);
    let Either::Left(client) = sim.hosts()[0].app() else {
        panic!()
    };
    assert_eq!(client.completed, 50);
    assert!(client.errors.is_empty(), "{:?}", client.errors);
    let counts = sim.hosts()[0].stack().unwrap().state_counts();
    assert_eq!(
        counts[State::TimeWait as usize],
        50,
        "the client closed first"
    );
    let server_counts = sim.hosts()[1].stack().unwrap().state_counts();
    assert_eq!(server_counts[State::TimeWait as usize], 0);
    assert_eq!(server_counts[State::Listen as usize], 1);
    assert_eq!(sim.hosts()[1].stack().unwrap().table_sizes(), (0, 0));
    // Every packet delivered: nothing is lost on an ideal link.
    assert_eq!(outcome.stats.dropped_total(), 0);
}

#[test]
fn time_wait_entries_expire_after_sixty_seconds() {
    let (topology, hosts) = world(5);
    let mut sim = Sim::new(topology, hosts, 1, RunLimits::default(), NullSink).unwrap();
    let outcome = sim.run().unwrap();
    assert_eq!(outcome.stop, Stop::Idle);
    assert_eq!(sim.hosts()[0].stack().unwrap().table_sizes(), (0, 0));
    // The last connection ends around 25 ms; its TIME_WAIT 60 s later.
    let end = outcome.end.since_start();
    assert!(
        end > SimDuration::from_secs(60) && end < SimDuration::from_secs(61),
        "{end}"
    );
}

#[test]
fn one_connection_traces_its_states_and_the_server_closes_with_fin_ack() {
    let (topology, hosts) = world(1);
    let mut sim = Sim::new(
        topology,
        hosts,
        1,
        RunLimits::default(),
        TextLines::default(),
    )
    .unwrap();
    sim.run().unwrap();
    let lines = sim.into_sink().lines;
    let transitions = |host: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| {
                l.contains(&format!(" {host} ")) && l.contains(" -> ") && !l.contains("0.0.0.0:0")
            })
            .map(|l| {
                l.split(" -> ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    // The server closes as soon as it reads EOF, before its delayed ACK of the client's FIN
    // is due, so one segment carries its FIN and that ACK: Linux takes the ACK first,
    // FIN_WAIT_1 -> FIN_WAIT_2, then the FIN, -> TIME_WAIT.
    assert_eq!(
        transitions("client"),
        [
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT",
            "CLOSED"
        ]
    );
    assert_eq!(
        transitions("server"),
        [
            "SYN_RECEIVED",
            "ESTABLISHED",
            "CLOSE_WAIT",
            "LAST_ACK",
            "CLOSED"
        ]
    );
}
