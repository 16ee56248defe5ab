//! netsim's short-connection workload next to its peers, turmoil 0.7 and smoltcp 0.14, in one
//! process: each round runs netsim through the command (`netsim run --quiet`, end to end),
//! netsim's bare TCP, turmoil and smoltcp one after the other, and the best round of each
//! gives the connections per wall second and the ratios.
//!
//! The workload is the same in all three: N sequential short connections; the client
//! connects, sends 64 bytes, the server reads them and answers 64 bytes, the client reads them
//! and closes, the server closes on end of file. Each run counts the connections its client
//! completed and its server served, and the benchmark stops with a message if any is short.
//!
//! Run: `cargo run --release --manifest-path bench/peers/Cargo.toml`.
//! `NETSIM_BENCH_CONNS` sets N (default 100 000), `NETSIM_BENCH_ROUNDS` the rounds (default 3),
//! `NETSIM_BENCH_ONLY` one peer alone (`command`, `netsim`, `turmoil` or `smoltcp`: for a
//! profiler).
//!
//! Wall time comes from `std::time::Instant`: allowed here, as nothing of it reaches a trace.

mod on_command;
mod on_netsim;
mod on_smoltcp;
mod on_turmoil;

use std::time::Duration;

/// Bytes of the request and of the response.
pub const MESSAGE_BYTES: usize = 64;

/// What one run of the workload did.
pub struct Outcome {
    /// Connections whose client got the whole response.
    pub completed: u64,
    /// Connections the server answered and closed.
    pub served: u64,
    /// Wall time of the run.
    pub wall: Duration,
    /// A per-connection fact of this simulator (segments, frames, simulated time).
    pub detail: String,
}

/// One simulator under test.
struct Peer {
    /// What `NETSIM_BENCH_ONLY` calls it.
    key: &'static str,
    name: &'static str,
    run: fn(u64) -> Outcome,
    best_per_s: f64,
    detail: String,
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
        Err(_) => default,
    }
}

fn main() {
    let n = env_u64("NETSIM_BENCH_CONNS", 100_000);
    let rounds = env_u64("NETSIM_BENCH_ROUNDS", 3);
    assert!(n > 0, "NETSIM_BENCH_CONNS must be at least 1");
    assert!(rounds > 0, "NETSIM_BENCH_ROUNDS must be at least 1");

    let mut peers = [
        Peer {
            key: "command",
            name: "netsim run",
            run: on_command::run,
            best_per_s: 0.0,
            detail: String::new(),
        },
        Peer {
            key: "netsim",
            name: "netsim tcp",
            run: on_netsim::run,
            best_per_s: 0.0,
            detail: String::new(),
        },
        Peer {
            key: "turmoil",
            name: "turmoil 0.7",
            run: on_turmoil::run,
            best_per_s: 0.0,
            detail: String::new(),
        },
        Peer {
            key: "smoltcp",
            name: "smoltcp 0.14",
            run: on_smoltcp::run,
            best_per_s: 0.0,
            detail: String::new(),
        },
    ];

    let only = std::env::var("NETSIM_BENCH_ONLY").ok();
    if let Some(only) = &only {
        assert!(
            peers.iter().any(|p| p.key == only),
            "NETSIM_BENCH_ONLY={only:?} names none of command, netsim, turmoil, smoltcp"
        );
    }
    println!(
        "short connections: {n} sequential, {MESSAGE_BYTES} bytes each way, client closes first; \
         best of {rounds} rounds, alternating"
    );
    for round in 1..=rounds {
        for peer in &mut peers {
            if only.as_ref().is_some_and(|o| peer.key != o) {
                continue;
            }
            let outcome = (peer.run)(n);
            assert_eq!(
                outcome.completed, n,
                "{}: the client completed {} of {n} connections",
                peer.name, outcome.completed
            );
            assert_eq!(
                outcome.served, n,
                "{}: the server served {} of {n} connections",
                peer.name, outcome.served
            );
            let per_s = n as f64 / outcome.wall.as_secs_f64();
            eprintln!(
                "  round {round}: {:<12} {:>10.0} connections/s ({:.2} s)",
                peer.name,
                per_s,
                outcome.wall.as_secs_f64()
            );
            peer.best_per_s = peer.best_per_s.max(per_s);
            peer.detail = outcome.detail;
        }
    }

    if only.is_some() {
        let peer = peers.iter().find(|p| p.best_per_s > 0.0).expect("one ran");
        println!(
            "  {:<12} {:>10.0} connections/s   {}",
            peer.name, peer.best_per_s, peer.detail
        );
        return;
    }
    for peer in &peers {
        println!(
            "  {:<12} {:>10.0} connections/s   {}",
            peer.name, peer.best_per_s, peer.detail
        );
    }
    let [command, netsim, turmoil, smoltcp] = peers.map(|p| p.best_per_s);
    println!(
        "  netsim run/turmoil: {:.2}x (the bar: 3.5x)",
        command / turmoil
    );
    println!(
        "  netsim tcp/smoltcp: {:.2}x (the bar: 1.0x)",
        netsim / smoltcp
    );
    println!("  netsim tcp/turmoil: {:.2}x", netsim / turmoil);
}
