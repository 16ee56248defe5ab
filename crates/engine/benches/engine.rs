//! Engine throughput, in events per second, against a bare `BinaryHeap` pop/push loop.
//!
//! Run: `cargo bench -p netsim-engine --bench engine` (prints a table; no assertions).
//!
//! Cost model, per event of the timer workload: one heap pop and one push (O(log n) moves of a
//! 24-byte entry, `queue.rs`), one slab remove and one insert (no allocation once the slab and
//! the heap have grown to the pending count: the allocations printed are over the whole run,
//! that growth included; there is no separate warm-up run), one generation
//! check, three words into the trace hash, and one call into the host through `Ctx`. The bare
//! loop does only the pop and push of a 16-byte entry, so the engine should stay within about
//! 2x of it. The packet workload adds per event a route lookup, the fault loop (empty here),
//! one ChaCha draw for jitter and a packet move into and out of the flight slab.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use netsim_core::{Packet, Segment, SimDuration};
use netsim_engine::{Ctx, Host, LinkConfig, NoEvent, NullSink, RunLimits, Sim, Topology};

/// Counts heap allocations, to check that the engine does not allocate per event once warm.
struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// A tiny xorshift for delays: the benchmark's own randomness, outside the simulation.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Mean delay between an event and the one it schedules.
const MEAN_DELAY_NS: u64 = 1_000_000;

fn bare_heap(pending: usize, events: u64) -> f64 {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut heap = BinaryHeap::with_capacity(pending + 1);
    let mut seq = 0u64;
    for _ in 0..pending {
        heap.push(Reverse((rng.next() % (2 * MEAN_DELAY_NS), seq)));
        seq += 1;
    }
    let start = Instant::now();
    for _ in 0..events {
        let Reverse((at, _)) = heap.pop().expect("never empty");
        heap.push(Reverse((at + rng.next() % (2 * MEAN_DELAY_NS), seq)));
        seq += 1;
    }
    black_box(&heap);
    events as f64 / start.elapsed().as_secs_f64()
}

/// Keeps `pending` timers armed: each firing arms one more.
struct Timers {
    pending: usize,
    rng: XorShift,
}

impl Host for Timers {
    type Event = NoEvent;
    fn start(&mut self, ctx: &mut Ctx<'_, NoEvent>) {
        for token in 0..self.pending as u64 {
            let at = ctx.now() + SimDuration::from_nanos(self.rng.next() % (2 * MEAN_DELAY_NS));
            ctx.set_timer(at, token);
        }
    }
    fn packet(&mut self, _: &mut Ctx<'_, NoEvent>, _: Packet) {}
    fn timer(&mut self, ctx: &mut Ctx<'_, NoEvent>, token: u64) {
        let at = ctx.now() + SimDuration::from_nanos(self.rng.next() % (2 * MEAN_DELAY_NS));
        ctx.set_timer(at, token);
    }
    fn crash(&mut self) {}
    fn restart(&mut self, _: &mut Ctx<'_, NoEvent>) {}
}

fn engine_timers(pending: usize, events: u64) -> f64 {
    let mut topology = Topology::default();
    topology.add_host("h", Ipv4Addr::new(10, 0, 0, 1));
    let host = Timers {
        pending,
        rng: XorShift(0x9E37_79B9_7F4A_7C15),
    };
    let limits = RunLimits {
        max_events: events,
        ..RunLimits::default()
    };
    let mut sim = Sim::new(topology, vec![host], 1, limits, NullSink).expect("valid");
    let start = Instant::now();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    // The run ends at the event cap: that is how this benchmark bounds it.
    let err = sim.run().expect_err("stops at the event cap");
    report_allocations("timers", allocations, events);
    black_box(err);
    events as f64 / start.elapsed().as_secs_f64()
}

/// Sends `burst` packets at start and bounces every packet it receives back to its sender.
struct Bouncer {
    burst: usize,
    peer: Ipv4Addr,
}

impl Host for Bouncer {
    type Event = NoEvent;
    fn start(&mut self, ctx: &mut Ctx<'_, NoEvent>) {
        for i in 0..self.burst {
            let packet = Packet {
                src: ctx.addr(),
                dst: self.peer,
                segment: Segment {
                    src_port: 1,
                    dst_port: 2,
                    seq: netsim_core::Seq(i as u32),
                    ..Segment::default()
                },
            };
            ctx.send(packet, "ESTABLISHED");
        }
    }
    fn packet(&mut self, ctx: &mut Ctx<'_, NoEvent>, mut packet: Packet) {
        std::mem::swap(&mut packet.src, &mut packet.dst);
        ctx.send(packet, "ESTABLISHED");
    }
    fn timer(&mut self, _: &mut Ctx<'_, NoEvent>, _: u64) {}
    fn crash(&mut self) {}
    fn restart(&mut self, _: &mut Ctx<'_, NoEvent>) {}
}

fn engine_packets(pending: usize, events: u64) -> f64 {
    let mut topology = Topology::default();
    let (a_addr, b_addr) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let a = topology.add_host("a", a_addr);
    let b = topology.add_host("b", b_addr);
    topology.add_link(
        a,
        b,
        LinkConfig {
            latency: SimDuration::from_millis(1),
            jitter: SimDuration::from_millis(1),
            ..LinkConfig::default()
        },
    );
    let hosts = vec![
        Bouncer {
            burst: pending / 2,
            peer: b_addr,
        },
        Bouncer {
            burst: pending / 2,
            peer: a_addr,
        },
    ];
    let limits = RunLimits {
        max_events: events,
        ..RunLimits::default()
    };
    let mut sim = Sim::new(topology, hosts, 1, limits, NullSink).expect("valid");
    let start = Instant::now();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let err = sim.run().expect_err("stops at the event cap");
    report_allocations("packets", allocations, events);
    black_box(err);
    events as f64 / start.elapsed().as_secs_f64()
}

/// Remembers the allocations per event of the last run of each workload, for the table.
static LAST_ALLOCS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

fn report_allocations(workload: &str, before: u64, events: u64) {
    let during = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let slot = usize::from(workload == "packets");
    // Stored as allocations per million events, to keep an integer.
    LAST_ALLOCS[slot].store(during * 1_000_000 / events.max(1), Ordering::Relaxed);
}

fn best_of(runs: usize, f: impl Fn() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(0.0, f64::max)
}

fn main() {
    let events: u64 = std::env::var("NETSIM_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    println!("events per run: {events} (best of 3 runs; set NETSIM_BENCH_EVENTS to change)");
    println!(
        "{:>9}  {:>14}  {:>14}  {:>7}  {:>14}  {:>7}",
        "pending", "bare heap/s", "engine timer/s", "ratio", "engine pkt/s", "ratio"
    );
    for pending in [1_000usize, 100_000] {
        let bare = best_of(3, || bare_heap(pending, events));
        let timers = best_of(3, || engine_timers(pending, events));
        let packets = best_of(3, || engine_packets(pending, events));
        println!(
            "{:>9}  {:>12.2} M  {:>12.2} M  {:>6.2}x  {:>12.2} M  {:>6.2}x",
            pending,
            bare / 1e6,
            timers / 1e6,
            bare / timers,
            packets / 1e6,
            bare / packets
        );
        println!(
            "{:>9}  allocations per event (whole run, including warm-up): timers {:.4}, packets {:.4}",
            "",
            LAST_ALLOCS[0].load(Ordering::Relaxed) as f64 / 1e6,
            LAST_ALLOCS[1].load(Ordering::Relaxed) as f64 / 1e6
        );
    }
}
