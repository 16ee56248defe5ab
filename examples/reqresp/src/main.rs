//! Runs the example protocol once over a lossy link and prints what netsim saw.
//!
//! `cargo run -p netsim-example-reqresp -- [SEED]`

use netsim::{Link, SimDuration};

fn main() {
    let seed = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("a seed is a number"))
        .unwrap_or(1);
    let link = Link::new().latency(SimDuration::from_millis(10)).loss(0.05);
    let (builder, seen) = netsim_example_reqresp::world(seed, &["a", "b", "a", "c", "a"], link);
    let outcome = builder
        .build()
        .expect("a valid world")
        .run()
        .expect("the run ends");
    print!("{}", outcome.trace());
    println!("{}", outcome.summary());
    println!("client saw: {:?}", seen.borrow());
    std::process::exit(if outcome.passed() { 0 } else { 1 });
}
