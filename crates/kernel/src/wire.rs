//! A user-space wire between two TUN devices: one thread per direction reads the packets the
//! kernel of one namespace routes into its TUN device, records each with its time, asks a
//! judge what to do with it (deliver, drop), and writes the delivered ones into the other
//! namespace's TUN device once the link's latency has passed. It stands in for netsim's link:
//! the same latency, the same faults, and a capture of everything that crossed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::KernelError;
use crate::tun::Tun;

/// What the wire does with a packet (netsim's fault actions, combined as the engine combines
/// them: a drop wins, then a hold, then delay and duplication together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Deliver it after the latency plus `delay`, `copies` times (1, or 2 when duplicated).
    Deliver {
        /// Extra delay.
        delay: Duration,
        /// How many copies arrive.
        copies: u32,
    },
    /// Drop it (a fault).
    Drop,
    /// Keep it out of the link until this time since the start.
    HoldUntil(Duration),
    /// Keep it out of the link until this many further packets entered this direction.
    HoldForPackets(u32),
}

impl Fate {
    /// Delivered normally.
    pub const PASS: Fate = Fate::Deliver {
        delay: Duration::ZERO,
        copies: 1,
    };
}

/// One packet seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// When it left its sender, since the wire's start.
    pub at: Duration,
    /// Which direction: 0 is a to b, 1 is b to a.
    pub direction: usize,
    /// The IPv4 packet as the kernel wrote it.
    pub bytes: Vec<u8>,
    /// What the wire did with it.
    pub fate: Fate,
}

/// Decides each packet's fate; called in the order packets enter the wire.
pub type Judge = Box<dyn FnMut(usize, &[u8]) -> Fate + Send>;

/// Whether a direction is cut by a partition at a time since the start: a packet is dropped
/// when it enters a cut direction, or when the direction is cut as it would arrive.
pub type Cuts = std::sync::Arc<dyn Fn(usize, Duration) -> bool + Send + Sync>;

/// A running wire; stopping it (or dropping it) joins its threads.
pub struct Wire {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<(), KernelError>>>,
    capture: Arc<Mutex<Vec<Captured>>>,
}

/// Largest packet read from a TUN device (the MTU is 1500).
const BUF: usize = 65_536;
/// How long a direction thread sleeps at most before it checks the stop flag.
const TICK: Duration = Duration::from_millis(1);

impl Wire {
    /// Starts relaying between `a` and `b` with `latency` each way, from `start`.
    pub fn start(
        a: Tun,
        b: Tun,
        latency: Duration,
        start: Instant,
        judge: Judge,
        cuts: Cuts,
    ) -> Wire {
        let stop = Arc::new(AtomicBool::new(false));
        let capture = Arc::new(Mutex::new(Vec::new()));
        let judge = Arc::new(Mutex::new(judge));
        let a = Arc::new(a);
        let b = Arc::new(b);
        let mut threads = Vec::new();
        for (direction, from, to) in [(0, a.clone(), b.clone()), (1, b, a)] {
            let stop = stop.clone();
            let capture = capture.clone();
            let judge = judge.clone();
            let cuts = cuts.clone();
            threads.push(std::thread::spawn(move || {
                relay(
                    direction, &from, &to, latency, start, &stop, &capture, &judge, &cuts,
                )
            }));
        }
        Wire {
            stop,
            threads,
            capture,
        }
    }

    /// Stops the threads and returns everything captured, in the order it was seen.
    pub fn stop(mut self) -> Result<Vec<Captured>, KernelError> {
        self.stop_threads()?;
        let mut all = std::mem::take(&mut *self.capture.lock().expect("capture lock"));
        all.sort_by_key(|c| c.at);
        Ok(all)
    }

    fn stop_threads(&mut self) -> Result<(), KernelError> {
        self.stop.store(true, Ordering::SeqCst);
        let mut first_error = Ok(());
        for t in self.threads.drain(..) {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(KernelError::Setup("a wire thread panicked".into())));
            if first_error.is_ok() {
                first_error = r;
            }
        }
        first_error
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = self.stop_threads();
    }
}

#[allow(clippy::too_many_arguments)]
fn relay(
    direction: usize,
    from: &Tun,
    to: &Tun,
    latency: Duration,
    start: Instant,
    stop: &AtomicBool,
    capture: &Mutex<Vec<Captured>>,
    judge: &Mutex<Judge>,
    cuts: &Cuts,
) -> Result<(), KernelError> {
    let mut buf = vec![0u8; BUF];
    // Packets on the link, by due time (a delay can reorder them), then arrival order.
    let mut queue: Vec<(Instant, u64, Vec<u8>)> = Vec::new();
    let mut order = 0u64;
    // Packets held until that many more packets entered this direction.
    let mut held: VecDeque<(u32, Vec<u8>)> = VecDeque::new();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        queue.sort_by_key(|(due, n, _)| (*due, *n));
        while queue.first().is_some_and(|(due, _, _)| *due <= now) {
            let (_, _, bytes) = queue.remove(0);
            if !cuts(direction, now.saturating_duration_since(start)) {
                to.send(&bytes)?;
            }
        }
        let wait = queue.first().map_or(TICK, |(due, _, _)| {
            due.saturating_duration_since(now).min(TICK)
        });
        let Some(n) = from.recv(&mut buf, wait)? else {
            continue;
        };
        let seen = Instant::now();
        let bytes = buf[..n].to_vec();
        let fate = if cuts(direction, seen.saturating_duration_since(start)) {
            Fate::Drop
        } else {
            (judge.lock().expect("judge lock"))(direction, &bytes)
        };
        capture.lock().expect("capture lock").push(Captured {
            at: seen.saturating_duration_since(start),
            direction,
            bytes: bytes.clone(),
            fate,
        });
        // A packet entering the link counts for the packets held behind it.
        for h in held.iter_mut() {
            h.0 = h.0.saturating_sub(1);
        }
        let mut due_now = Vec::new();
        while held.front().is_some_and(|(left, _)| *left == 0) {
            due_now.push(held.pop_front().expect("front exists").1);
        }
        let mut enqueue = |due: Instant, bytes: Vec<u8>| {
            order += 1;
            queue.push((due, order, bytes));
        };
        match fate {
            Fate::Deliver { delay, copies } => {
                // The last copy takes the packet itself: one allocation fewer per packet.
                for copy in std::iter::repeat_n(bytes, copies as usize) {
                    enqueue(seen + latency + delay, copy);
                }
            }
            Fate::Drop => {}
            Fate::HoldUntil(t) => enqueue((start + t).max(seen) + latency, bytes),
            Fate::HoldForPackets(n) => held.push_back((n, bytes)),
        }
        for bytes in due_now {
            enqueue(seen + latency, bytes);
        }
    }
    Ok(())
}
