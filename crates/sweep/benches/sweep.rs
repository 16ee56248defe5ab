//! Sweep throughput: seeds per second for a small close scenario (lost final ACK) and for the
//! lossy sweep scenario, with 1 and 2 threads.
//!
//! Run: `cargo bench -p netsim-sweep --bench sweep` (prints a table; no assertions).
//!
//! Cost model: a seed builds its world from the compiled scenario (topology clone, two TCP
//! stacks, two script interpreters, the oracle) and runs ~10 engine events for the lost final
//! ACK, ~40-100 for the lossy scenario; runs share nothing, so two threads should come close to
//! twice one.

use std::path::Path;

use netsim_sweep::{SweepOptions, sweep};

fn rate(file: &str, seeds: u64, jobs: usize) -> f64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(file);
    let scenario = netsim_scenario::load(&path).expect("a catalogue scenario");
    let options = SweepOptions {
        jobs,
        ..SweepOptions::new((0, seeds), file, "bench")
    };
    let report = sweep(&scenario, &options, |_| {}).expect("runs");
    report.runs as f64 / report.timing.wall_seconds
}

fn best_of(runs: usize, f: impl Fn() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(0.0, f64::max)
}

fn main() {
    println!(
        "{:<28} {:>8} {:>14} {:>14} {:>8}",
        "scenario", "seeds", "1 job seeds/s", "2 jobs seeds/s", "speedup"
    );
    for (file, seeds) in [
        ("lost_final_ack.ron", 200_000u64),
        ("sweep_stale_data.ron", 20_000),
    ] {
        let one = best_of(3, || rate(file, seeds, 1));
        let two = best_of(3, || rate(file, seeds, 2));
        println!(
            "{file:<28} {seeds:>8} {one:>14.0} {two:>14.0} {:>7.2}x",
            two / one
        );
    }
}
