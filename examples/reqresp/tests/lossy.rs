//! The protocol over a lossy, reordering link, across seeds: every answer arrives, in order
//! and right, whatever the network does. `NETSIM_SEED=N` replays one seed, `NETSIM_SEEDS=A..B`
//! sweeps others; a failing seed prints the line that replays it.

use netsim::{Link, SimDuration, check_seeds};

#[test]
fn every_answer_arrives_over_a_lossy_link() {
    let keys = ["a", "b", "a", "c", "a", "b"];
    check_seeds(0..40, |seed| {
        let link = Link::new()
            .latency(SimDuration::from_millis(10))
            .jitter(SimDuration::from_millis(2))
            .loss(0.1)
            .reorder(0.05, SimDuration::from_millis(15));
        let (builder, seen) = netsim_example_reqresp::world(seed, &keys, link);
        let outcome = builder
            .build()
            .map_err(|e| e.to_string())?
            .run()
            .map_err(|e| e.to_string())?;
        if !outcome.passed() {
            return Err(outcome.summary().to_string());
        }
        let seen = seen.borrow();
        if seen.answers != [1, 1, 2, 1, 3, 2] || !seen.done {
            return Err(format!("the client saw {seen:?}"));
        }
        Ok(())
    });
}
