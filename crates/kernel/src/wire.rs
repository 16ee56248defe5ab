//! A user-space wire between two TUN devices: one thread per direction reads the packets the
//! kernel of one namespace routes into its TUN device, records each with its time, asks a
//! judge what to do with it (deliver, drop), and writes the delivered ones into the other
//! namespace's TUN device once the link's latency has passed. It stands in for netsim's link:
//! the same latency, the same faults, and a capture of everything that crossed.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netsim_core::{Packet, SimDuration, SimTime};
use netsim_engine::link::{LinkStreams, Serialiser};
use netsim_engine::{InjectOutcome, Injection, LinkConfig, WireWatch};

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
    /// The IPv4 packet as the kernel wrote it (or the wire built it, when injected).
    pub bytes: Vec<u8>,
    /// What the wire did with it.
    pub fate: Fate,
    /// The wire made it: a crafted segment of the scenario (an `Inject` event).
    pub injected: bool,
}

/// Decides each packet's fate (the scenario's faults), in the order packets enter the wire,
/// and hears of each delivery.
pub trait WireJudge: Send {
    /// The fate of `bytes` entering `direction`.
    fn fate(&mut self, direction: usize, bytes: &[u8]) -> Fate;
    /// `bytes` reached the other end.
    fn delivered(&mut self, _bytes: &[u8]) {}
}

impl<F: FnMut(usize, &[u8]) -> Fate + Send> WireJudge for F {
    fn fate(&mut self, direction: usize, bytes: &[u8]) -> Fate {
        self(direction, bytes)
    }
}

impl<J: WireJudge> WireJudge for Arc<Mutex<J>> {
    fn fate(&mut self, direction: usize, bytes: &[u8]) -> Fate {
        self.lock().expect("judge lock").fate(direction, bytes)
    }
    fn delivered(&mut self, bytes: &[u8]) {
        self.lock().expect("judge lock").delivered(bytes);
    }
}

/// The wire's judge.
pub type Judge = Box<dyn WireJudge>;

/// What one direction of the link does to each packet: the scenario's knobs (latency,
/// jitter, bandwidth, queue, loss, duplication, reordering) and the seeded streams they draw
/// from, the engine's own (`netsim_engine::link`).
pub struct LinkDirection {
    /// The knobs.
    pub config: LinkConfig,
    /// The streams, derived from the run's seed and the direction's name as the engine
    /// derives them.
    pub streams: LinkStreams,
}

impl LinkDirection {
    /// A direction with only a latency (nothing is drawn).
    pub fn plain(latency: Duration) -> LinkDirection {
        LinkDirection {
            config: LinkConfig {
                latency: SimDuration::from_nanos(latency.as_nanos() as u64),
                ..LinkConfig::default()
            },
            streams: LinkStreams::new(0, "a", "b"),
        }
    }
}

/// Whether a direction is cut by a partition at a time since the start: a packet is dropped
/// when it enters a cut direction, or when the direction is cut as it would arrive.
pub type Cuts = std::sync::Arc<dyn Fn(usize, Duration) -> bool + Send + Sync>;

/// The scenario's crafted segments for this wire, and what they are built from.
#[derive(Default)]
pub struct Crafting {
    /// (time since the start, direction, injection number, what to inject), in time order.
    pub injections: Vec<(Duration, usize, usize, Injection)>,
    /// Host addresses by `HostId`, to build the packets.
    pub addrs: Vec<Ipv4Addr>,
}

/// What the wire's injections came to, by injection number.
pub type Outcomes = BTreeMap<usize, InjectOutcome>;

/// A running wire; stopping it (or dropping it) joins its threads.
pub struct Wire {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<(), KernelError>>>,
    capture: Arc<Mutex<Vec<Captured>>>,
    outcomes: Arc<Mutex<Outcomes>>,
}

/// Largest packet read from a TUN device (the MTU is 1500).
const BUF: usize = 65_536;
/// How long a direction thread sleeps at most before it checks the stop flag.
const TICK: Duration = Duration::from_millis(1);

/// What both directions share.
struct Shared {
    start: Instant,
    stop: Arc<AtomicBool>,
    capture: Arc<Mutex<Vec<Captured>>>,
    judge: Mutex<Judge>,
    cuts: Cuts,
    /// Follows the connections, as the engine does, when there is something to inject.
    watch: Option<Mutex<WireWatch>>,
    addrs: Vec<Ipv4Addr>,
    outcomes: Arc<Mutex<Outcomes>>,
}

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
        let link = [LinkDirection::plain(latency), LinkDirection::plain(latency)];
        Wire::start_link(a, b, link, start, judge, cuts, Crafting::default())
    }

    /// Starts relaying between `a` and `b` from `start`, each direction (a to b first) with
    /// its knobs, and with crafted segments written into the wire at their times as if the
    /// sending side's kernel had sent them: judged, delayed, captured like the others.
    pub fn start_link(
        a: Tun,
        b: Tun,
        link: [LinkDirection; 2],
        start: Instant,
        judge: Judge,
        cuts: Cuts,
        crafting: Crafting,
    ) -> Wire {
        let stop = Arc::new(AtomicBool::new(false));
        let capture = Arc::new(Mutex::new(Vec::new()));
        let outcomes = Arc::new(Mutex::new(
            crafting
                .injections
                .iter()
                .map(|(_, _, i, _)| (*i, InjectOutcome::Pending))
                .collect(),
        ));
        let shared = Arc::new(Shared {
            start,
            stop: stop.clone(),
            capture: capture.clone(),
            judge: Mutex::new(judge),
            cuts,
            watch: (!crafting.injections.is_empty()).then(|| Mutex::new(WireWatch::default())),
            addrs: crafting.addrs,
            outcomes: outcomes.clone(),
        });
        let a = Arc::new(a);
        let b = Arc::new(b);
        let mut threads = Vec::new();
        for ((direction, from, to), link) in
            [(0, a.clone(), b.clone()), (1, b, a)].into_iter().zip(link)
        {
            let shared = shared.clone();
            let mine: Vec<_> = crafting
                .injections
                .iter()
                .filter(|(_, d, _, _)| *d == direction)
                .map(|(at, _, i, inj)| (*at, *i, inj.clone()))
                .collect();
            threads.push(std::thread::spawn(move || {
                Relay {
                    direction,
                    shared: &shared,
                    link,
                    serialiser: Serialiser::default(),
                    queue: Vec::new(),
                    order: 0,
                    held: VecDeque::new(),
                    held_until: Vec::new(),
                    injections: mine.into(),
                }
                .run(&from, &to)
            }));
        }
        Wire {
            stop,
            threads,
            capture,
            outcomes,
        }
    }

    /// Stops the threads and returns everything captured, in the order it was seen.
    pub fn stop(mut self) -> Result<Vec<Captured>, KernelError> {
        self.stop_threads()?;
        let mut all = std::mem::take(&mut *self.capture.lock().expect("capture lock"));
        all.sort_by_key(|c| c.at);
        Ok(all)
    }

    /// [`Wire::stop`], and what became of each injection, by number (those the wire never
    /// reached are pending).
    pub fn outcomes_after_stop(self) -> Result<(Vec<Captured>, Vec<InjectOutcome>), KernelError> {
        let outcomes = self.outcomes.clone();
        let captured = self.stop()?;
        let outcomes = outcomes.lock().expect("outcomes lock");
        let n = outcomes.keys().next_back().map_or(0, |k| k + 1);
        let list = (0..n)
            .map(|i| outcomes.get(&i).cloned().unwrap_or_default())
            .collect();
        Ok((captured, list))
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

/// One direction of the wire.
struct Relay<'a> {
    direction: usize,
    shared: &'a Shared,
    link: LinkDirection,
    serialiser: Serialiser,
    /// Packets on the link, by due time (a delay can reorder them), then arrival order.
    queue: Vec<(Instant, u64, Vec<u8>)>,
    order: u64,
    /// Packets held until that many more packets entered this direction's link.
    held: VecDeque<(u32, Vec<u8>)>,
    /// Packets held until a time.
    held_until: Vec<(Instant, Vec<u8>)>,
    /// This direction's injections still to come: (time, number, what).
    injections: VecDeque<(Duration, usize, Injection)>,
}

impl Relay<'_> {
    fn run(mut self, from: &Tun, to: &Tun) -> Result<(), KernelError> {
        let sh = self.shared;
        let mut buf = vec![0u8; BUF];
        while !sh.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            self.queue.sort_by_key(|(due, n, _)| (*due, *n));
            while self.queue.first().is_some_and(|(due, _, _)| *due <= now) {
                let (_, _, bytes) = self.queue.remove(0);
                if !(sh.cuts)(self.direction, now.saturating_duration_since(sh.start)) {
                    // Told before the write: the receiving kernel answers at once, and its
                    // answer must be judged knowing what it answers (a FIN received makes
                    // the final ACK a TIME_WAIT segment).
                    self.watch(&bytes, WireWatch::delivered);
                    sh.judge.lock().expect("judge lock").delivered(&bytes);
                    to.send(&bytes)?;
                }
            }
            // Held packets whose time came enter the link, in the order they were held.
            while let Some(i) = self.held_until.iter().position(|(due, _)| *due <= now) {
                let (_, bytes) = self.held_until.remove(i);
                self.transmit(bytes, now, Duration::ZERO);
            }
            while self
                .injections
                .front()
                .is_some_and(|(at, _, _)| sh.start + *at <= now)
            {
                let (_, number, inj) = self.injections.pop_front().expect("front exists");
                self.inject(number, &inj, now);
            }
            let next = [
                self.queue.first().map(|(due, _, _)| *due),
                self.held_until.iter().map(|(due, _)| *due).min(),
                self.injections.front().map(|(at, _, _)| sh.start + *at),
            ];
            let wait = next
                .into_iter()
                .flatten()
                .map(|due| due.saturating_duration_since(now))
                .fold(TICK, Duration::min);
            let Some(n) = from.recv(&mut buf, wait)? else {
                continue;
            };
            self.enter(buf[..n].to_vec(), Instant::now(), false);
        }
        Ok(())
    }

    /// Passes `bytes` to the connection watch, if there is one.
    fn watch(&self, bytes: &[u8], f: fn(&mut WireWatch, &Packet)) {
        if let Some(w) = &self.shared.watch {
            if let Ok(p) = netsim_core::codec::parse(bytes) {
                f(&mut w.lock().expect("watch lock"), &p);
            }
        }
    }

    /// Builds injection `number` from what the wire has shown and lets it enter the wire.
    fn inject(&mut self, number: usize, inj: &Injection, now: Instant) {
        let sh = self.shared;
        let built = {
            let w = sh
                .watch
                .as_ref()
                .expect("a watch when there are injections");
            let w = w.lock().expect("watch lock");
            w.resolve(inj, |h| sh.addrs[h.0 as usize])
        }
        .and_then(|p| netsim_core::codec::to_bytes(&p, 0).map_err(|e| e.to_string()));
        let outcome = match built {
            Ok(bytes) => {
                self.enter(bytes, now, true);
                InjectOutcome::Sent
            }
            Err(why) => InjectOutcome::Failed(why),
        };
        sh.outcomes
            .lock()
            .expect("outcomes lock")
            .insert(number, outcome);
    }

    /// A packet enters this direction at `seen`: captured, judged by the faults, then held
    /// or sent into the link (as the engine's `Net::send_packet` does).
    fn enter(&mut self, bytes: Vec<u8>, seen: Instant, injected: bool) {
        let sh = self.shared;
        self.watch(&bytes, WireWatch::sent);
        let fate = (sh.judge.lock().expect("judge lock")).fate(self.direction, &bytes);
        sh.capture.lock().expect("capture lock").push(Captured {
            at: seen.saturating_duration_since(sh.start),
            direction: self.direction,
            bytes: bytes.clone(),
            fate,
            injected,
        });
        match fate {
            Fate::Deliver { delay, copies } => {
                // The last copy takes the packet itself: one allocation fewer per packet.
                for copy in std::iter::repeat_n(bytes, copies as usize) {
                    self.transmit(copy, seen, delay);
                }
            }
            Fate::Drop => {}
            Fate::HoldUntil(t) => self.held_until.push(((sh.start + t).max(seen), bytes)),
            Fate::HoldForPackets(n) => self.held.push_back((n, bytes)),
        }
    }

    /// The packet goes into the link at `now` (the engine's `Net::transmit`): a partition
    /// drops it; the serialiser and its queue, then the link's draws (loss, jitter,
    /// reordering, duplication) decide when it arrives; `extra` is a fault's delay.
    fn transmit(&mut self, bytes: Vec<u8>, now: Instant, extra: Duration) {
        let sh = self.shared;
        let since = now.saturating_duration_since(sh.start);
        if !(sh.cuts)(self.direction, since) {
            let at = SimTime::after(SimDuration::from_nanos(since.as_nanos() as u64));
            let finish = self
                .serialiser
                .reserve(&self.link.config, at, bytes.len() as u64);
            if let Some(finish) = finish {
                let draw = self.link.streams.draw(&self.link.config);
                if !draw.lost {
                    let finish = sh.start + Duration::from_nanos(finish.as_nanos());
                    let nanos = |d: SimDuration| Duration::from_nanos(d.as_nanos());
                    if let Some(copy) = draw.copy {
                        self.enqueue(finish + nanos(copy) + extra, bytes.clone());
                    }
                    let reorder = draw.reorder.map_or(Duration::ZERO, nanos);
                    self.enqueue(finish + nanos(draw.base) + reorder + extra, bytes);
                }
            }
        }
        // A packet that went into the link counts for the packets held behind it.
        for h in self.held.iter_mut() {
            h.0 = h.0.saturating_sub(1);
        }
        while self.held.front().is_some_and(|(left, _)| *left == 0) {
            let bytes = self.held.pop_front().expect("front exists").1;
            self.transmit(bytes, now, Duration::ZERO);
        }
    }

    fn enqueue(&mut self, due: Instant, bytes: Vec<u8>) {
        self.order += 1;
        self.queue.push((due, self.order, bytes));
    }
}
