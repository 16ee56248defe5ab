//! The simulation loop and the network model. [`Sim`] owns virtual time, the event queue, the
//! links and the packets in flight; each host's behaviour is a [`Host`] implementation that the
//! loop calls with a [`Ctx`] through which it sends packets, arms timers and reports events.
//! The engine knows the TCP header only as data to size packets and match fault filters; it
//! knows nothing of TCP's rules.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use netsim_core::{Packet, SimDuration, SimTime, StableHasher};

use crate::config::{
    BuildError, Direction, FaultAction, FaultId, FaultRule, HostId, LinkConfig, NetChange,
    Occurrence, Release, RunLimits, Topology,
};
use crate::inject::{INJECTED, InjectOutcome, WireWatch};
use crate::link::{LinkDraw, LinkStreams, Serialiser};
use crate::queue::{Ev, EventQueue};
use crate::rng::Stream;
use crate::slab::{Key, Slab};
use crate::trace::{Cause, DropReason, PacketId, TraceEvent, TraceKind, TraceRecord, TraceSink};

/// Events between two calls of [`Sim::run_observed`]'s tick.
pub const TICK_EVENTS: u64 = 1 << 16;

/// The behaviour running on one host: its protocol stack and applications. The engine calls
/// these methods; the host answers through the [`Ctx`].
pub trait Host {
    /// What the host reports in the trace.
    type Event: TraceEvent;

    /// Called once at time zero, in host order.
    fn start(&mut self, ctx: &mut Ctx<'_, Self::Event>);
    /// A packet addressed to this host arrived.
    fn packet(&mut self, ctx: &mut Ctx<'_, Self::Event>, packet: Packet);
    /// A timer armed with `token` fired.
    fn timer(&mut self, ctx: &mut Ctx<'_, Self::Event>, token: u64);
    /// The host crashed: forget all protocol state. Timers armed before are already void.
    fn crash(&mut self);
    /// The host came back after a crash.
    fn restart(&mut self, ctx: &mut Ctx<'_, Self::Event>);
}

/// A timer armed by a host; pass it to [`Ctx::cancel_timer`] to cancel it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TimerId(Key);

/// Counters of everything the network did with packets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Packets handed to the network by hosts.
    pub sent: u64,
    /// Extra copies the network made (link duplication and fault rules).
    pub copies: u64,
    /// Packets (originals and copies) delivered to a host.
    pub delivered: u64,
    /// Packets dropped, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
    /// Timers that fired.
    pub timers_fired: u64,
}

impl NetStats {
    /// All drops, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }
}

/// How often a fault rule saw a matching packet and how often it acted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCount {
    /// Packets that passed the filter.
    pub matched: u64,
    /// Times the action was applied.
    pub fired: u64,
}

/// What the targeted faults do to one packet: each field names the first rule that asked for
/// it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultVerdict {
    /// Drop it (wins over everything else).
    pub drop: Option<FaultId>,
    /// Hold it until released (wins over delay and duplication).
    pub hold: Option<(FaultId, Release)>,
    /// Extra delay, summed over the rules that fired.
    pub delay: SimDuration,
    /// The first rule that delayed it.
    pub delay_by: Option<FaultId>,
    /// The first rule that duplicated it.
    pub duplicate_by: Option<FaultId>,
}

/// Targeted faults, tried in declaration order: every rule counts the packets its filter
/// matches (in `counts`, one per rule); the actions of all rules that fire combine (drop wins,
/// then hold, then delay and duplication). The network uses this for every packet, and so
/// does the kernel comparison's wire, so both worlds judge faults the same way.
pub fn judge_faults(
    rules: &[FaultRule],
    counts: &mut [FaultCount],
    from: HostId,
    to: HostId,
    packet: &Packet,
    sender_state: &str,
) -> FaultVerdict {
    let mut v = FaultVerdict::default();
    for (i, (rule, count)) in rules.iter().zip(counts.iter_mut()).enumerate() {
        if !rule.filter.matches(from, to, packet, sender_state) {
            continue;
        }
        count.matched += 1;
        let fires = match rule.occurrence {
            Occurrence::Nth(n) => count.matched == n,
            Occurrence::Every => true,
        };
        if !fires {
            continue;
        }
        count.fired += 1;
        let fault = FaultId(i as u32);
        match rule.action {
            FaultAction::Drop => v.drop = v.drop.or(Some(fault)),
            FaultAction::Hold(release) => v.hold = v.hold.or(Some((fault, release))),
            FaultAction::Delay(d) => {
                v.delay = v.delay.saturating_add(d);
                v.delay_by = v.delay_by.or(Some(fault));
            }
            FaultAction::Duplicate => v.duplicate_by = v.duplicate_by.or(Some(fault)),
        }
    }
    v
}

/// What [`Sim::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stepped {
    /// It ran an event at this time.
    Ran(SimTime),
    /// The run is over.
    Over(Stop),
}

/// One turn of the run loop.
enum Advance {
    Ran,
    Stale,
    Stopped(Stop),
}

/// Why a run ended normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The configured end time was reached.
    EndTime,
    /// No event was left.
    Idle,
}

/// The result of a run that ended normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// Why it ended.
    pub stop: Stop,
    /// Virtual time at the end.
    pub end: SimTime,
    /// Events processed (stale, cancelled entries not counted).
    pub events: u64,
    /// Hash of every trace record, in order.
    pub trace_hash: u64,
    /// Trace records emitted.
    pub trace_records: u64,
    /// Packet counters.
    pub stats: NetStats,
    /// Per fault rule, in declaration order.
    pub faults: Vec<FaultCount>,
    /// Packets still in links or held by faults at the end.
    pub in_flight: u64,
    /// Per crafted segment, in declaration order: whether it went on its link.
    pub injections: Vec<InjectOutcome>,
}

/// A run stopped by one of its caps: a runaway, not a result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Too many events.
    #[error(
        "run stopped at {at} after {events} events: the event cap was reached \
         (raise max_events if the run is meant to be this long, or look for a loop)"
    )]
    EventCap {
        /// Events processed.
        events: u64,
        /// Virtual time then.
        at: SimTime,
    },
    /// An event was due after the time cap.
    #[error(
        "run stopped at {at}: the next event is due at {next}, after the time cap of {cap} \
         (set an end time, or raise max_time)"
    )]
    TimeCap {
        /// Virtual time then.
        at: SimTime,
        /// When the next event was due.
        next: SimTime,
        /// The cap.
        cap: SimTime,
    },
}

/// A packet in the network: in a link, or held by a fault.
#[derive(Debug)]
struct Flight {
    id: PacketId,
    packet: Packet,
    to: HostId,
    /// The link direction it travels on.
    dir: u32,
    /// When the sender handed it over; its lifetime counts from here.
    sent_at: SimTime,
    /// `Held` until a fault lets it go; `Expiring` when its arrival event is the end of its
    /// lifetime rather than its delivery.
    state: FlightState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlightState {
    InLink,
    Expiring,
    /// Kept out of its link by a fault rule or a hold of the link.
    Held,
}

/// Runtime state of one link direction.
#[derive(Debug)]
struct LinkDir {
    config: LinkConfig,
    rng: LinkStreams,
    /// Cut by a partition.
    cut: bool,
    /// Bandwidth and the drop-tail queue.
    serialiser: Serialiser,
    /// Packets held by `Release::AfterPackets`, with how many more packets they wait for.
    held_after: Vec<(Key, u32)>,
    /// While the direction is held (`NetChange::Hold`): the packets kept out, in the order
    /// they came, with the fault delay each was to get.
    on_hold: Option<Vec<(Key, SimDuration, Option<FaultId>)>>,
}

#[derive(Debug)]
struct HostMeta {
    name: String,
    addr: Ipv4Addr,
    up: bool,
    /// Bumped at each crash; timers armed in an earlier epoch are void.
    epoch: u32,
    rng: Stream,
}

#[derive(Debug, Clone, Copy)]
struct TimerEntry {
    host: HostId,
    epoch: u32,
    token: u64,
    label: &'static str,
}

/// Everything but the host implementations, so a host can be called with a borrow of it.
struct Net<E, S> {
    now: SimTime,
    queue: EventQueue,
    timers: Slab<TimerEntry>,
    flights: Slab<Flight>,
    hosts: Vec<HostMeta>,
    dirs: Vec<LinkDir>,
    /// `routes[from * n + to]` is the link direction from `from` to `to`, or `NO_ROUTE`.
    routes: Vec<u32>,
    by_addr: BTreeMap<Ipv4Addr, HostId>,
    topology: Topology,
    fault_counts: Vec<FaultCount>,
    /// Follows the connections on the wire, only when there are injections to resolve.
    watch: Option<WireWatch>,
    injections: Vec<InjectOutcome>,
    next_packet: u64,
    stats: NetStats,
    hasher: StableHasher,
    records: u64,
    sink: S,
    _event: std::marker::PhantomData<fn(E)>,
}

const NO_ROUTE: u32 = u32::MAX;

/// A deterministic simulation of hosts `H` on a network, tracing into `S`.
pub struct Sim<H: Host, S: TraceSink<H::Event>> {
    hosts: Vec<H>,
    net: Net<H::Event, S>,
    limits: RunLimits,
    events: u64,
    started: bool,
}

/// What a host can do when the engine calls it.
pub struct Ctx<'a, E> {
    net: &'a mut dyn NetApi<E>,
    host: HostId,
}

/// The part of `Net` a host reaches, as a trait so `Ctx` need not carry the sink type.
trait NetApi<E> {
    fn now(&self) -> SimTime;
    fn addr(&self, host: HostId) -> Ipv4Addr;
    fn send(&mut self, host: HostId, packet: Packet, sender_state: &'static str);
    fn set_timer(&mut self, host: HostId, at: SimTime, token: u64, label: &'static str) -> TimerId;
    fn cancel_timer(&mut self, id: TimerId) -> bool;
    fn reset_timer(&mut self, id: TimerId, at: SimTime) -> bool;
    fn event(&mut self, host: HostId, event: &E);
    fn rng(&mut self, host: HostId) -> &mut Stream;
}

impl<E> Ctx<'_, E> {
    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.net.now()
    }
    /// The host being called.
    pub fn host(&self) -> HostId {
        self.host
    }
    /// The host's own address.
    pub fn addr(&self) -> Ipv4Addr {
        self.net.addr(self.host)
    }
    /// Hands a packet to the network. `sender_state` is the protocol's label for the state it
    /// sent from (e.g. `TIME_WAIT`); fault filters can match on it.
    pub fn send(&mut self, packet: Packet, sender_state: &'static str) {
        self.net.send(self.host, packet, sender_state)
    }
    /// Arms a timer that calls [`Host::timer`] with `token` at `at` (or now, if `at` is past).
    pub fn set_timer(&mut self, at: SimTime, token: u64) -> TimerId {
        self.net.set_timer(self.host, at, token, "")
    }
    /// [`Ctx::set_timer`] with a label the trace shows when it fires (`timer tcp`).
    pub fn set_named_timer(&mut self, at: SimTime, token: u64, label: &'static str) -> TimerId {
        self.net.set_timer(self.host, at, token, label)
    }
    /// Cancels a timer; returns false if it already fired or was cancelled. O(1).
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.net.cancel_timer(id)
    }
    /// Moves a live timer to `at` (or now, if `at` is past), keeping its token and label:
    /// the same as cancelling it and arming a new one, in one step and under the same id.
    /// Returns false, and does nothing, if the timer already fired or was cancelled.
    pub fn reset_timer(&mut self, id: TimerId, at: SimTime) -> bool {
        self.net.reset_timer(id, at)
    }
    /// Reports a protocol event into the trace.
    pub fn event(&mut self, event: E) {
        self.net.event(self.host, &event)
    }
    /// The host's own random stream.
    pub fn rng(&mut self) -> &mut Stream {
        self.net.rng(self.host)
    }
}

impl<E: TraceEvent, S: TraceSink<E>> Net<E, S> {
    fn emit(&mut self, kind: TraceKind<'_, E>) {
        let record = TraceRecord { at: self.now, kind };
        record.hash_into(&mut self.hasher);
        self.records += 1;
        self.sink.record(&record);
    }

    fn new_packet_id(&mut self) -> PacketId {
        self.next_packet += 1;
        PacketId(self.next_packet)
    }

    fn drop_packet(&mut self, id: PacketId, packet: &Packet, reason: DropReason) {
        *self.stats.dropped.entry(reason).or_insert(0) += 1;
        self.emit(TraceKind::Dropped { id, packet, reason });
    }

    fn route(&self, from: HostId, to: HostId) -> Option<u32> {
        let dir = self.routes[from.index() * self.hosts.len() + to.index()];
        (dir != NO_ROUTE).then_some(dir)
    }

    fn send_packet(&mut self, from: HostId, packet: Packet, sender_state: &'static str) {
        let id = self.new_packet_id();
        self.stats.sent += 1;
        self.emit(TraceKind::Sent {
            host: from,
            id,
            packet: &packet,
            sender_state,
        });
        if let Some(watch) = &mut self.watch {
            watch.sent(&packet);
        }
        let Some(to) = self.by_addr.get(&packet.dst).copied() else {
            return self.drop_packet(id, &packet, DropReason::NoRoute);
        };
        let Some(dir) = self.route(from, to) else {
            return self.drop_packet(id, &packet, DropReason::NoRoute);
        };

        let FaultVerdict {
            drop,
            hold,
            delay,
            delay_by,
            duplicate_by,
        } = judge_faults(
            &self.topology.faults,
            &mut self.fault_counts,
            from,
            to,
            &packet,
            sender_state,
        );
        if let Some(fault) = drop {
            return self.drop_packet(id, &packet, DropReason::Fault(fault));
        }
        let flight = Flight {
            id,
            packet,
            to,
            dir,
            sent_at: self.now,
            state: FlightState::InLink,
        };
        if let Some((fault, release)) = hold {
            return self.hold(flight, fault, release);
        }
        if let Some(fault) = duplicate_by {
            let copy = self.copy_of(&flight, Cause::Fault(fault));
            self.transmit(flight, delay, delay_by);
            self.transmit(copy, delay, delay_by);
        } else {
            self.transmit(flight, delay, delay_by);
        }
    }

    fn copy_of(&mut self, flight: &Flight, cause: Cause) -> Flight {
        let copy = self.new_packet_id();
        self.stats.copies += 1;
        self.emit(TraceKind::Duplicated {
            id: flight.id,
            copy,
            packet: &flight.packet,
            cause,
        });
        Flight {
            id: copy,
            packet: flight.packet.clone(),
            ..*flight
        }
    }

    fn hold(&mut self, mut flight: Flight, fault: FaultId, release: Release) {
        flight.state = FlightState::Held;
        self.emit(TraceKind::Held {
            id: flight.id,
            packet: &flight.packet,
            cause: Cause::Fault(fault),
        });
        let dir = flight.dir;
        let key = self.flights.insert(flight);
        match release {
            Release::At(at) => self.queue.push(at.max(self.now), Ev::Release(key)),
            Release::AfterPackets(0) => self.release(key),
            Release::AfterPackets(n) => self.dirs[dir as usize].held_after.push((key, n)),
        }
    }

    fn release(&mut self, key: Key) {
        let Some(flight) = self.flights.remove(key) else {
            return;
        };
        self.let_in(flight, SimDuration::ZERO, None);
    }

    /// A held packet enters its link, with the fault delay it was to get.
    fn let_in(&mut self, flight: Flight, delay: SimDuration, delay_by: Option<FaultId>) {
        debug_assert!(matches!(flight.state, FlightState::Held));
        self.emit(TraceKind::Released {
            id: flight.id,
            packet: &flight.packet,
        });
        let flight = Flight {
            state: FlightState::InLink,
            ..flight
        };
        self.transmit(flight, delay, delay_by);
    }

    /// Keeps `flight` out of its held link direction until the hold ends.
    fn keep_on_hold(&mut self, mut flight: Flight, delay: SimDuration, delay_by: Option<FaultId>) {
        flight.state = FlightState::Held;
        self.emit(TraceKind::Held {
            id: flight.id,
            packet: &flight.packet,
            cause: Cause::Link,
        });
        let dir = flight.dir as usize;
        let key = self.flights.insert(flight);
        if let Some(kept) = &mut self.dirs[dir].on_hold {
            kept.push((key, delay, delay_by));
        }
    }

    /// Ends the hold of direction `d`: what it kept enters the link, in order.
    fn end_hold(&mut self, d: u32) {
        let Some(kept) = self.dirs[d as usize].on_hold.take() else {
            return;
        };
        for (key, delay, delay_by) in kept {
            if let Some(flight) = self.flights.remove(key) {
                self.let_in(flight, delay, delay_by);
            }
        }
    }

    /// Puts a packet on its link direction: partition, MTU and queue checks, serialisation,
    /// random loss, latency and jitter, reordering, duplication, lifetime. The random draws
    /// happen in that fixed order and only for knobs that are set.
    fn transmit(&mut self, flight: Flight, extra: SimDuration, extra_by: Option<FaultId>) {
        let d = flight.dir as usize;
        if self.dirs[d].on_hold.is_some() {
            return self.keep_on_hold(flight, extra, extra_by);
        }
        if self.dirs[d].cut {
            self.drop_packet(flight.id, &flight.packet, DropReason::Partition);
            return self.after_transmit(d);
        }
        let bytes = flight.packet.wire_len() as u64;
        if self.dirs[d]
            .config
            .mtu_bytes
            .is_some_and(|mtu| bytes > u64::from(mtu))
        {
            self.drop_packet(flight.id, &flight.packet, DropReason::Mtu);
            return self.after_transmit(d);
        }
        let Some(finish) = self.serialise(d, bytes) else {
            self.drop_packet(flight.id, &flight.packet, DropReason::QueueFull);
            return self.after_transmit(d);
        };
        let dir = &mut self.dirs[d];
        let LinkDraw {
            lost,
            base,
            reorder,
            copy: copy_delay,
        } = dir.rng.draw(&dir.config);
        if lost {
            self.drop_packet(flight.id, &flight.packet, DropReason::Loss);
            return self.after_transmit(d);
        }

        if let Some(by) = reorder {
            self.emit(TraceKind::Delayed {
                id: flight.id,
                packet: &flight.packet,
                by,
                cause: Cause::Link,
            });
        }
        if let Some(fault) = extra_by {
            self.emit(TraceKind::Delayed {
                id: flight.id,
                packet: &flight.packet,
                by: extra,
                cause: Cause::Fault(fault),
            });
        }
        if let Some(copy_base) = copy_delay {
            let copy = self.copy_of(&flight, Cause::Link);
            self.schedule_arrival(copy, finish + copy_base + extra);
        }
        let delay = base + reorder.unwrap_or(SimDuration::ZERO) + extra;
        self.schedule_arrival(flight, finish + delay);
        self.after_transmit(d);
    }

    /// Reserves the serialiser of direction `d` for `bytes` and returns when the last bit is
    /// out, or `None` when the drop-tail queue is full.
    fn serialise(&mut self, d: usize, bytes: u64) -> Option<SimTime> {
        let dir = &mut self.dirs[d];
        dir.serialiser.reserve(&dir.config, self.now, bytes)
    }

    /// Counts a packet against those held "until N more packets pass" on direction `d`, and
    /// releases the ones whose wait is over.
    fn after_transmit(&mut self, d: usize) {
        if self.dirs[d].held_after.is_empty() {
            return;
        }
        let mut due = Vec::new();
        self.dirs[d].held_after.retain_mut(|(key, left)| {
            *left -= 1;
            if *left == 0 {
                due.push(*key);
            }
            *left > 0
        });
        for key in due {
            self.release(key);
        }
    }

    fn schedule_arrival(&mut self, mut flight: Flight, at: SimTime) {
        let mut due = at;
        if self.topology.sabotage.lose_without_record && flight.id.0 % 5 == 4 {
            return; // the deliberate bug: gone, and nothing says so
        }
        if let Some(lifetime) = self
            .topology
            .lifetime
            .filter(|_| !self.topology.sabotage.ignore_lifetime)
        {
            let deadline = flight.sent_at.saturating_add(lifetime);
            if at > deadline {
                flight.state = FlightState::Expiring;
                due = deadline.max(self.now);
            }
        }
        let key = self.flights.insert(flight);
        self.queue.push(due, Ev::Arrival(key));
    }

    fn set_timer_at(
        &mut self,
        host: HostId,
        at: SimTime,
        token: u64,
        label: &'static str,
    ) -> TimerId {
        let epoch = self.hosts[host.index()].epoch;
        let key = self.timers.insert(TimerEntry {
            host,
            epoch,
            token,
            label,
        });
        self.queue.push(at.max(self.now), Ev::Timer(key));
        TimerId(key)
    }

    fn apply(&mut self, change: NetChange) -> Option<(HostId, bool)> {
        self.emit(TraceKind::Network(change));
        match change {
            NetChange::Partition(a, b, dir) => {
                for d in self.cut_dirs(a, b, dir) {
                    self.dirs[d as usize].cut = true;
                    self.drop_in_flight(d);
                }
                None
            }
            NetChange::Heal(a, b, dir) => {
                for d in self.cut_dirs(a, b, dir) {
                    self.dirs[d as usize].cut = false;
                }
                None
            }
            NetChange::Crash(h) => {
                let meta = &mut self.hosts[h.index()];
                let was_up = meta.up;
                meta.up = false;
                meta.epoch = meta.epoch.wrapping_add(1);
                was_up.then_some((h, false))
            }
            NetChange::Restart(h) => {
                let meta = &mut self.hosts[h.index()];
                let was_down = !meta.up;
                meta.up = true;
                was_down.then_some((h, true))
            }
            NetChange::Hold(a, b, dir) => {
                for d in self.cut_dirs(a, b, dir) {
                    let on_hold = &mut self.dirs[d as usize].on_hold;
                    if on_hold.is_none() {
                        *on_hold = Some(Vec::new());
                    }
                }
                None
            }
            NetChange::Release(a, b, dir) => {
                for d in self.cut_dirs(a, b, dir) {
                    self.end_hold(d);
                }
                None
            }
        }
    }

    /// Builds injection `i` from what the wire has shown and sends it as its host would.
    fn inject(&mut self, i: usize) {
        let (_, inj) = &self.topology.injections[i];
        let watch = self
            .watch
            .as_ref()
            .expect("a watch when there are injections");
        let hosts = &self.hosts;
        match watch.resolve(inj, |h| hosts[h.index()].addr) {
            Ok(packet) => {
                self.injections[i] = InjectOutcome::Sent;
                let from = inj.from;
                self.send_packet(from, packet, INJECTED);
            }
            Err(why) => self.injections[i] = InjectOutcome::Failed(why),
        }
    }

    fn cut_dirs(&self, a: HostId, b: HostId, dir: Direction) -> Vec<u32> {
        let mut dirs = vec![self.route(a, b)];
        if dir == Direction::Both {
            dirs.push(self.route(b, a));
        }
        dirs.into_iter().flatten().collect()
    }

    /// Drops every packet travelling on direction `d` (not those held by faults: they meet
    /// the cut when released), in the order they were sent.
    fn drop_in_flight(&mut self, d: u32) {
        let mut doomed: Vec<(PacketId, Key)> = self
            .flights
            .iter()
            .filter(|(_, f)| f.dir == d && !matches!(f.state, FlightState::Held))
            .map(|(k, f)| (f.id, k))
            .collect();
        doomed.sort_unstable_by_key(|&(id, _)| id);
        for (_, key) in doomed {
            if let Some(f) = self.flights.remove(key) {
                self.drop_packet(f.id, &f.packet, DropReason::Partition);
            }
        }
    }
}

impl<E: TraceEvent, S: TraceSink<E>> NetApi<E> for Net<E, S> {
    fn now(&self) -> SimTime {
        self.now
    }
    fn addr(&self, host: HostId) -> Ipv4Addr {
        self.hosts[host.index()].addr
    }
    fn send(&mut self, host: HostId, packet: Packet, sender_state: &'static str) {
        self.send_packet(host, packet, sender_state)
    }
    fn set_timer(&mut self, host: HostId, at: SimTime, token: u64, label: &'static str) -> TimerId {
        self.set_timer_at(host, at, token, label)
    }
    fn cancel_timer(&mut self, id: TimerId) -> bool {
        let live = self.timers.remove(id.0).is_some();
        if live {
            self.queue.cancel_timer(id.0);
        }
        live
    }
    fn reset_timer(&mut self, id: TimerId, at: SimTime) -> bool {
        let Some(timer) = self.timers.get_mut(id.0) else {
            return false;
        };
        // As a timer armed now: of the host as it is now, queued after everything before it.
        timer.epoch = self.hosts[timer.host.index()].epoch;
        self.queue.reschedule_timer(id.0, at.max(self.now))
    }
    fn event(&mut self, host: HostId, event: &E) {
        self.emit(TraceKind::Protocol { host, event });
    }
    fn rng(&mut self, host: HostId) -> &mut Stream {
        &mut self.hosts[host.index()].rng
    }
}

impl<H: Host, S: TraceSink<H::Event>> Sim<H, S> {
    /// Builds a simulation of `topology` with one host implementation per host (in
    /// [`HostId`] order), randomness from `seed`, and trace records going to `sink`.
    pub fn new(
        topology: Topology,
        hosts: Vec<H>,
        seed: u64,
        limits: RunLimits,
        mut sink: S,
    ) -> Result<Self, BuildError> {
        topology.validate()?;
        if hosts.len() != topology.hosts.len() {
            return Err(BuildError::HostCountMismatch {
                expected: topology.hosts.len(),
                given: hosts.len(),
            });
        }
        let n = topology.hosts.len();
        let mut routes = vec![NO_ROUTE; n * n];
        let mut dirs = Vec::with_capacity(topology.links.len() * 2);
        for link in &topology.links {
            for (from, to, config) in [
                (link.a, link.b, &link.a_to_b),
                (link.b, link.a, &link.b_to_a),
            ] {
                routes[from.index() * n + to.index()] = dirs.len() as u32;
                dirs.push(LinkDir {
                    config: config.clone(),
                    rng: LinkStreams::new(
                        seed,
                        &topology.hosts[from.index()].name,
                        &topology.hosts[to.index()].name,
                    ),
                    cut: false,
                    serialiser: Serialiser::default(),
                    held_after: Vec::new(),
                    on_hold: None,
                });
            }
        }
        let metas: Vec<HostMeta> = topology
            .hosts
            .iter()
            .map(|h| HostMeta {
                name: h.name.clone(),
                addr: h.addr,
                up: true,
                epoch: 0,
                rng: Stream::derive(seed, &format!("host:{}", h.name)),
            })
            .collect();
        let names: Vec<String> = metas.iter().map(|m| m.name.clone()).collect();
        sink.start(&names);
        let mut queue = EventQueue::default();
        // Scheduled changes, then injections, share one index space.
        let changes = topology.schedule.iter().map(|(at, _)| at);
        let injections = topology.injections.iter().map(|(at, _)| at);
        for (i, at) in changes.chain(injections).enumerate() {
            queue.push(*at, Ev::Net(i as u32));
        }
        let watch = (!topology.injections.is_empty()).then(WireWatch::default);
        let injections = vec![InjectOutcome::Pending; topology.injections.len()];
        let by_addr = metas
            .iter()
            .enumerate()
            .map(|(i, m)| (m.addr, HostId(i as u32)))
            .collect();
        let fault_counts = vec![FaultCount::default(); topology.faults.len()];
        Ok(Sim {
            hosts,
            net: Net {
                now: SimTime::ZERO,
                queue,
                timers: Slab::default(),
                flights: Slab::default(),
                hosts: metas,
                dirs,
                routes,
                by_addr,
                topology,
                fault_counts,
                watch,
                injections,
                next_packet: 0,
                stats: NetStats::default(),
                hasher: StableHasher::new(),
                records: 0,
                sink,
                _event: std::marker::PhantomData,
            },
            limits,
            events: 0,
            started: false,
        })
    }

    /// Runs until the end time, until no event is left, or until a cap stops it.
    pub fn run(&mut self) -> Result<RunOutcome, RunError> {
        self.run_observed(|_, _| {})
    }

    /// [`Sim::run`], calling `tick(now, events)` every [`TICK_EVENTS`] events: a progress
    /// display for long runs (the caller owns any wall clock; nothing here reads one, and
    /// `tick` cannot change the run).
    pub fn run_observed(
        &mut self,
        mut tick: impl FnMut(SimTime, u64),
    ) -> Result<RunOutcome, RunError> {
        loop {
            if let Advance::Stopped(stop) = self.advance(&mut tick)? {
                return Ok(self.outcome(stop));
            }
        }
    }

    /// Runs the next event (entries gone stale, cancelled timers and dropped packets, are
    /// passed over without being events). Returns the time of the event it ran, or why the run
    /// is over; stepping on after the end changes nothing.
    pub fn step(&mut self) -> Result<Stepped, RunError> {
        loop {
            match self.advance(&mut |_, _| {})? {
                Advance::Ran => return Ok(Stepped::Ran(self.net.now)),
                Advance::Stale => {}
                Advance::Stopped(stop) => return Ok(Stepped::Over(stop)),
            }
        }
    }

    /// Runs every event due up to and including `at`, then moves the clock to `at` (to the
    /// end time if `at` is past it), so that what the caller does next happens at `at`.
    /// Returns why the run is over if it reached its end time; an empty queue does not end
    /// it, since a change made between steps can start work again.
    pub fn run_until(&mut self, at: SimTime) -> Result<Option<Stop>, RunError> {
        self.start_hosts();
        loop {
            match self.next_event_time() {
                Some(next) if next <= at => {
                    if let Advance::Stopped(stop) = self.advance(&mut |_, _| {})? {
                        return Ok(Some(stop));
                    }
                }
                _ => break,
            }
        }
        match self.limits.end {
            Some(end) if at >= end => {
                self.net.now = self.net.now.max(end);
                Ok(Some(Stop::EndTime))
            }
            _ => {
                self.net.now = self.net.now.max(at);
                Ok(None)
            }
        }
    }

    /// Applies `change` now, as a scheduled change would be applied (traced, and a crash or
    /// restart reaches its host at once): for test code that steps a run.
    pub fn change(&mut self, change: NetChange) {
        self.start_hosts();
        self.apply_change(change);
    }

    /// Applies `change` to the network and tells the host a crash or restart concerns.
    fn apply_change(&mut self, change: NetChange) {
        let net = &mut self.net;
        match net.apply(change) {
            Some((host, false)) => self.hosts[host.index()].crash(),
            Some((host, true)) => {
                let mut ctx = Ctx { net, host };
                self.hosts[host.index()].restart(&mut ctx);
            }
            None => {}
        }
    }

    /// One step of a run: an event run, a stale entry passed over, or the end.
    fn advance(&mut self, tick: &mut impl FnMut(SimTime, u64)) -> Result<Advance, RunError> {
        self.start_hosts();
        let Some(next) = self.net.queue.peek_time() else {
            return Ok(Advance::Stopped(Stop::Idle));
        };
        if let Some(end) = self.limits.end {
            if next > end {
                // Cancelled timers and dropped packets left in the queue are not events:
                // a run with only those left ended because nothing was left to do.
                if self.drop_stale_top() {
                    return Ok(Advance::Stale);
                }
                self.net.now = end;
                return Ok(Advance::Stopped(Stop::EndTime));
            }
        }
        if next > self.limits.max_time {
            return Err(RunError::TimeCap {
                at: self.net.now,
                next,
                cap: self.limits.max_time,
            });
        }
        if self.events >= self.limits.max_events {
            return Err(RunError::EventCap {
                events: self.events,
                at: self.net.now,
            });
        }
        let (at, ev) = self.net.queue.pop().expect("peeked an entry");
        debug_assert!(at >= self.net.now, "time went backwards");
        let before = std::mem::replace(&mut self.net.now, at);
        if self.dispatch(ev) {
            self.events += 1;
            if self.events % TICK_EVENTS == 0 {
                tick(self.net.now, self.events);
            }
            Ok(Advance::Ran)
        } else {
            // A stale entry (cancelled timer, dropped packet) is not an event: time does
            // not move for it.
            self.net.now = before;
            Ok(Advance::Stale)
        }
    }

    fn start_hosts(&mut self) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        for (i, host) in self.hosts.iter_mut().enumerate() {
            let mut ctx = Ctx {
                net: &mut self.net,
                host: HostId(i as u32),
            };
            host.start(&mut ctx);
        }
    }

    /// Pops the first queue entry if it is stale (a cancelled timer, a timer of a host that
    /// restarted, a packet no longer in flight); returns whether it did.
    fn drop_stale_top(&mut self) -> bool {
        let net = &self.net;
        let stale = match net.queue.peek() {
            Some((_, Ev::Timer(key))) => net
                .timers
                .get(key)
                .is_none_or(|t| t.epoch != net.hosts[t.host.index()].epoch),
            Some((_, Ev::Arrival(key) | Ev::Release(key))) => net.flights.get(key).is_none(),
            Some((_, Ev::Net(_))) | None => false,
        };
        if stale {
            self.net.queue.pop();
        }
        stale
    }

    /// Handles one due entry; false if it was stale (cancelled timer, dropped packet). The
    /// staleness rules are [`Self::drop_stale_top`]'s.
    fn dispatch(&mut self, ev: Ev) -> bool {
        let net = &mut self.net;
        match ev {
            Ev::Timer(key) => {
                let Some(timer) = net.timers.remove(key) else {
                    return false;
                };
                let host = timer.host;
                if timer.epoch != net.hosts[host.index()].epoch {
                    return false;
                }
                net.stats.timers_fired += 1;
                net.emit(TraceKind::Timer {
                    host,
                    token: timer.token,
                    label: timer.label,
                });
                let mut ctx = Ctx { net, host };
                self.hosts[host.index()].timer(&mut ctx, timer.token);
            }
            Ev::Arrival(key) => {
                let Some(flight) = net.flights.remove(key) else {
                    return false;
                };
                if flight.state == FlightState::Expiring {
                    net.drop_packet(flight.id, &flight.packet, DropReason::LifetimeExpired);
                } else if !net.hosts[flight.to.index()].up {
                    net.drop_packet(flight.id, &flight.packet, DropReason::HostDown);
                } else {
                    net.stats.delivered += 1;
                    net.emit(TraceKind::Delivered {
                        host: flight.to,
                        id: flight.id,
                        packet: &flight.packet,
                    });
                    if let Some(watch) = &mut net.watch {
                        watch.delivered(&flight.packet);
                    }
                    let host = flight.to;
                    let mut ctx = Ctx { net, host };
                    self.hosts[host.index()].packet(&mut ctx, flight.packet);
                }
            }
            Ev::Release(key) => {
                if net.flights.get(key).is_none() {
                    return false;
                }
                net.release(key);
            }
            Ev::Net(index) if index as usize >= net.topology.schedule.len() => {
                net.inject(index as usize - net.topology.schedule.len());
            }
            Ev::Net(index) => {
                let change = net.topology.schedule[index as usize].1;
                self.apply_change(change);
            }
        }
        true
    }

    /// The outcome as it stands: what [`Sim::run`] returns at its end, or, for a run stepped by
    /// hand, the figures so far with the `stop` the caller names.
    pub fn outcome(&self, stop: Stop) -> RunOutcome {
        let in_flight = self.net.flights.len() as u64;
        let stats = self.net.stats.clone();
        debug_assert!(
            self.net.topology.sabotage.lose_without_record
                || stats.sent + stats.copies == stats.delivered + stats.dropped_total() + in_flight,
            "a packet went missing: every packet must be delivered, dropped or in flight"
        );
        RunOutcome {
            stop,
            end: self.net.now,
            events: self.events,
            trace_hash: self.net.hasher.finish(),
            trace_records: self.net.records,
            stats,
            faults: self.net.fault_counts.clone(),
            in_flight,
            injections: self.net.injections.clone(),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.net.now
    }
    /// When the next event is due (entries gone stale are passed over); `None` when no event
    /// is left.
    pub fn next_event_time(&mut self) -> Option<SimTime> {
        while self.drop_stale_top() {}
        self.net.queue.peek_time()
    }
    /// The host implementations, in [`HostId`] order.
    pub fn hosts(&self) -> &[H] {
        &self.hosts
    }
    /// The trace sink.
    pub fn sink(&self) -> &S {
        &self.net.sink
    }
    /// The trace sink, to read or change what it gathered.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.net.sink
    }
    /// Gives the sink back, ending the simulation.
    pub fn into_sink(self) -> S {
        self.net.sink
    }
}
