//! The protocol over a clean link, as a snapshot: every segment of the exchange, the summary
//! and its checks. A change in the protocol or in netsim shows as a diff to review.

use netsim::{Link, SimDuration};

#[test]
fn three_requests_over_a_clean_link() {
    let link = Link::new().latency(SimDuration::from_millis(5));
    let (builder, seen) = netsim_example_reqresp::world(1, &["a", "b", "a"], link);
    let outcome = builder.build().unwrap().run().unwrap();
    outcome.assert_passed();
    let seen = seen.borrow();
    assert_eq!(seen.answers, vec![1, 1, 2]);
    assert!(seen.done && seen.errors.is_empty(), "{seen:?}");
    insta::assert_snapshot!(outcome.snapshot());
}

#[test]
fn stepping_shows_the_connection_open_mid_run() {
    let link = Link::new().latency(SimDuration::from_millis(5));
    let (builder, seen) = netsim_example_reqresp::world(1, &["a", "b", "a"], link);
    let mut sim = builder.build().unwrap();
    // After the handshake and the first answer (two round trips of 10 ms), before the last.
    sim.run_until(SimDuration::from_millis(25)).unwrap();
    assert_eq!(seen.borrow().answers, vec![1]);
    let states = sim.states("client").unwrap();
    assert_eq!(
        states.get(&netsim::State::Established),
        Some(&1),
        "{states:?}"
    );
    let sockets = sim.sockets("server").unwrap();
    assert_eq!(
        sockets.len(),
        2,
        "the listener and the connection: {sockets:?}"
    );
    assert!(sim.counters("client").unwrap().segments_sent >= 3);
    let outcome = sim.run().unwrap();
    outcome.assert_passed();
    assert_eq!(seen.borrow().answers, vec![1, 1, 2]);
}
