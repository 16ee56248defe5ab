//! TCP benchmarks: short connections per second through the whole simulator, and the memory
//! one TIME_WAIT entry and one idle ESTABLISHED connection take.
//!
//! Run: `cargo bench -p netsim-host --bench tcp` (prints figures; no assertions).
//! `NETSIM_BENCH_CONNS` sets the number of connections (default 100 000).
//!
//! Cost model of one short connection (connect, 64 bytes each way, client closes, TIME_WAIT
//! expires) on the linux profile: 10 segments, Linux's own sequence (SYN, SYN-ACK, ACK,
//! request, quick ACK of it, response, ACK of it, FIN, FIN, last ACK), so 10 sends and 10
//! arrivals, plus the TIME_WAIT expiry: 11 engine events (arrivals and timers; a send is not
//! an event) and, through the scenario layer, 32 trace records (measured with
//! `netsim run scenarios/bench_short_connections.ron`: 1 100 000 events and 3 200 001 records
//! for 100 000 connections). The figure printed below counts the events of this benchmark's
//! own run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use netsim_core::{SimDuration, SimTime};
use netsim_engine::{NullSink, RunLimits, Sim};
use netsim_host::apps::{Responder, SequentialClient};
use netsim_tcp::{Bind, TcpConfig, TcpStack};

/// Tracks live heap bytes, to measure what connections cost.
struct CountingAlloc;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

type Side = netsim_host::apps::Either<SequentialClient, Responder>;

/// N sequential short connections over a 1 ms link, every segment simulated, no trace sink.
fn short_connections(n: u64) -> (f64, u64, u64, SimTime) {
    let (topology, hosts) = netsim_host::apps::short_connections(n, SimDuration::from_millis(1));
    let limits = RunLimits {
        max_events: u64::MAX,
        ..RunLimits::default()
    };
    let mut sim = Sim::new(topology, hosts, 1, limits, NullSink).expect("valid");
    let start = Instant::now();
    let outcome = sim.run().expect("runs to idle");
    let wall = start.elapsed().as_secs_f64();
    let Side::Left(client) = sim.hosts()[0].app() else {
        unreachable!()
    };
    assert_eq!(client.completed, n, "every connection completes");
    (
        n as f64 / wall,
        outcome.events,
        outcome.stats.sent,
        outcome.end,
    )
}

/// Delivers segments between two stacks until both are quiet.
fn pump(now: SimTime, a: &mut TcpStack, b: &mut TcpStack) {
    loop {
        let to_b: Vec<_> = a.drain_output().map(|o| o.packet).collect();
        let to_a: Vec<_> = b.drain_output().map(|o| o.packet).collect();
        a.drain_events().for_each(drop);
        b.drain_events().for_each(drop);
        if to_a.is_empty() && to_b.is_empty() {
            return;
        }
        for p in &to_b {
            b.on_packet(now, p);
        }
        for p in &to_a {
            a.on_packet(now, p);
        }
    }
}

fn live() -> i64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Heap bytes per idle ESTABLISHED connection (one end) and per TIME_WAIT entry, measured
/// with `k` of each.
fn memory(k: u32) -> (f64, f64) {
    let cfg = TcpConfig {
        ephemeral_ports: (1024, 65535),
        ..TcpConfig::linux()
    };
    let server = SocketAddrV4::new(SERVER, 80);
    let now = SimTime::ZERO;

    // Idle ESTABLISHED: k connections open at once; both ends hold one block each.
    let mut c = TcpStack::new(CLIENT, cfg.clone(), 1);
    let mut s = TcpStack::new(SERVER, cfg.clone(), 2);
    let listener = s.listen(now, 80, 65535).expect("listen");
    let before = live();
    let mut fds = Vec::with_capacity(k as usize);
    for _ in 0..k {
        let fd = c.connect(now, server, Bind::default()).expect("port");
        pump(now, &mut c, &mut s);
        let (sfd, _) = s.accept(now, listener).expect("accept").expect("queued");
        fds.push((fd, sfd));
        c.drain_socket_events().for_each(drop);
        s.drain_socket_events().for_each(drop);
    }
    let fd_bytes = (fds.capacity()
        * std::mem::size_of::<(netsim_tcp::SocketId, netsim_tcp::SocketId)>())
        as i64;
    let established = (live() - before - fd_bytes) as f64 / (2.0 * f64::from(k));
    black_box(&fds);
    drop((c, s, fds));

    // TIME_WAIT: k sequential connections the client closes first, each leaving one entry.
    let mut c = TcpStack::new(CLIENT, cfg.clone(), 1);
    let mut s = TcpStack::new(SERVER, cfg, 2);
    let listener = s.listen(now, 80, 65535).expect("listen");
    // Warm up one connection so per-stack tables exist before measuring.
    let before = live();
    for _ in 0..k {
        let fd = c.connect(now, server, Bind::default()).expect("port");
        pump(now, &mut c, &mut s);
        let (sfd, _) = s.accept(now, listener).expect("accept").expect("queued");
        c.close(now, fd).expect("close");
        pump(now, &mut c, &mut s);
        s.close(now, sfd).expect("close");
        pump(now, &mut c, &mut s);
        c.drain_socket_events().for_each(drop);
        s.drain_socket_events().for_each(drop);
    }
    assert_eq!(c.table_sizes(), (0, k));
    let time_wait = (live() - before) as f64 / f64::from(k);
    black_box((&c, &s));
    (established, time_wait)
}

fn main() {
    let n: u64 = std::env::var("NETSIM_BENCH_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut best = 0.0f64;
    let mut last = (0, 0, SimTime::ZERO);
    for _ in 0..3 {
        let (rate, events, segments, end) = short_connections(n);
        best = best.max(rate);
        last = (events, segments, end);
    }
    println!("short connections: {n} sequential over a 1 ms link (best of 3)");
    println!(
        "  {:.0} connections/s; {} engine events, {} segments, simulated {}",
        best, last.0, last.1, last.2
    );
    println!(
        "  per connection: {:.1} events, {:.1} segments",
        last.0 as f64 / n as f64,
        last.1 as f64 / n as f64
    );
    let (established, time_wait) = memory(20_000);
    println!("memory (20 000 of each, heap bytes incl. tables and timer queue):");
    println!("  idle ESTABLISHED connection, one end: {established:.0} bytes");
    println!("  TIME_WAIT entry: {time_wait:.0} bytes");
}
