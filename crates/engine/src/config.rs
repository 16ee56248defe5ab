//! The plain data that describes a network before it runs: hosts, links and their knobs,
//! targeted fault rules, scheduled partitions and crashes, and the run's limits. Everything is
//! checked once by [`crate::Sim::new`]; a value that makes no sense is a [`BuildError`], never a
//! silent default.

use std::fmt;
use std::net::Ipv4Addr;

use netsim_core::{Packet, SimDuration, SimTime, TcpFlags};

use crate::inject::{InjectPorts, Injection, SeqRef};
use crate::rng::Probability;

/// Index of a host in the [`Topology`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct HostId(pub u32);

impl HostId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// A host: a name (used in traces and to derive its random stream) and one IPv4 address.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSpec {
    /// Unique name, e.g. `client`.
    pub name: String,
    /// Unique address.
    pub addr: Ipv4Addr,
}

/// Limit on packets waiting behind the one being serialised (drop-tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueLimit {
    /// At most this many packets wait.
    Packets(u32),
    /// At most this many bytes wait.
    Bytes(u64),
}

/// One direction of a link. The default is an ideal wire: no delay, infinite bandwidth, no
/// loss, no MTU.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LinkConfig {
    /// Propagation delay added to every packet.
    pub latency: SimDuration,
    /// Each packet gets an extra delay drawn uniformly from `[0, jitter]`, independently, so
    /// packets closer together than `jitter` can overtake each other.
    pub jitter: SimDuration,
    /// Bits per second; `None` is infinite (no serialisation delay, no queue).
    pub bandwidth_bps: Option<u64>,
    /// Drop-tail limit of the sender's queue; `None` is unbounded.
    pub queue: Option<QueueLimit>,
    /// Probability that a packet is lost on the wire.
    pub loss: Probability,
    /// Probability that the network delivers a second copy of a packet.
    pub duplicate: Probability,
    /// Probability that a packet is held back by `reorder_delay`, letting later ones pass.
    pub reorder: Probability,
    /// Extra delay of a reordered packet.
    pub reorder_delay: SimDuration,
    /// Largest packet (IPv4 total length) the link carries; larger ones are dropped.
    pub mtu_bytes: Option<u32>,
}

/// A duplex link between two hosts with settings per direction.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkSpec {
    /// One end.
    pub a: HostId,
    /// The other end.
    pub b: HostId,
    /// Settings for packets from `a` to `b`.
    pub a_to_b: LinkConfig,
    /// Settings for packets from `b` to `a`.
    pub b_to_a: LinkConfig,
}

/// How a filter compares TCP flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagMatch {
    /// The flags are exactly these.
    Exact(TcpFlags),
    /// The flags include all of these (and maybe others).
    Contains(TcpFlags),
}

/// Which packets a fault rule looks at. Every field that is `Some` must match.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PacketFilter {
    /// Sent by this host.
    pub from: Option<HostId>,
    /// Addressed to this host.
    pub to: Option<HostId>,
    /// TCP source port.
    pub src_port: Option<u16>,
    /// TCP destination port.
    pub dst_port: Option<u16>,
    /// TCP flags.
    pub flags: Option<FlagMatch>,
    /// `Some(true)`: carries data; `Some(false)`: carries none.
    pub payload: Option<bool>,
    /// Sequence number within this inclusive range (raw 32-bit values).
    pub seq: Option<(u32, u32)>,
    /// Acknowledgment number within this inclusive range (raw 32-bit values).
    pub ack: Option<(u32, u32)>,
    /// The sender's protocol state when it sent the packet, as the protocol layer labels it
    /// (e.g. `TIME_WAIT`).
    pub sender_state: Option<String>,
}

impl PacketFilter {
    /// True when `packet`, sent by `from` to `to` in `sender_state`, passes every condition.
    pub fn matches(&self, from: HostId, to: HostId, packet: &Packet, sender_state: &str) -> bool {
        let s = &packet.segment;
        let has_payload = !s.payload.is_empty();
        let in_range =
            |range: Option<(u32, u32)>, v: u32| range.is_none_or(|(lo, hi)| lo <= v && v <= hi);
        self.from.is_none_or(|h| h == from)
            && self.to.is_none_or(|h| h == to)
            && self.src_port.is_none_or(|p| p == s.src_port)
            && self.dst_port.is_none_or(|p| p == s.dst_port)
            && self.flags.is_none_or(|m| match m {
                FlagMatch::Exact(f) => s.flags == f,
                FlagMatch::Contains(f) => s.flags.contains(f),
            })
            && self.payload.is_none_or(|want| want == has_payload)
            && in_range(self.seq, s.seq.0)
            && in_range(self.ack, s.ack.0)
            && self
                .sender_state
                .as_deref()
                .is_none_or(|want| want == sender_state)
    }
}

/// Which of the matching packets a rule acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occurrence {
    /// Only the n-th match (counting from 1).
    Nth(u64),
    /// Every match.
    Every,
}

/// When a held packet is let go into its link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// At this instant (immediately if it has passed).
    At(SimTime),
    /// Right after this many further packets have entered the same link direction: the way to
    /// stage "this packet arrives after the next one".
    AfterPackets(u32),
}

/// What a rule does to the packet it picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Discard it.
    Drop,
    /// Deliver it this much later than the link would.
    Delay(SimDuration),
    /// Send a second copy through the link as well.
    Duplicate,
    /// Keep it out of the link until released.
    Hold(Release),
}

/// A targeted fault: "do `action` to the `occurrence`-th packet matching `filter`".
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    /// Which packets count.
    pub filter: PacketFilter,
    /// Which of them the action hits.
    pub occurrence: Occurrence,
    /// What happens to it.
    pub action: FaultAction,
}

/// Index of a fault rule in the [`Topology`]; prints 1-based, as users number them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FaultId(pub u32);

impl fmt::Display for FaultId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault {}", self.0 + 1)
    }
}

/// Which directions a partition cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Only packets from the first host to the second.
    OneWay,
    /// Both directions.
    Both,
}

/// A change to the network at a scheduled time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetChange {
    /// Cut the link(s) between two hosts; packets in flight across the cut are dropped.
    Partition(HostId, HostId, Direction),
    /// Restore what a partition cut.
    Heal(HostId, HostId, Direction),
    /// The host stops: its protocol state is lost, its timers are void, packets to it are
    /// dropped.
    Crash(HostId),
    /// The host comes back with fresh protocol state.
    Restart(HostId),
    /// Hold the link(s) between two hosts: packets that would enter it wait, in order, until
    /// released (packets already on the link go on). For test code that wants to choose when
    /// a packet arrives.
    Hold(HostId, HostId, Direction),
    /// Let what a hold kept enter the link, in the order it was sent, and stop holding.
    Release(HostId, HostId, Direction),
}

impl NetChange {
    /// The change in words, as the text trace writes it: `partition a <-> b`, `heal a -> b`
    /// (one way), `crash a`, `restart a`, `hold a <-> b`, `release a -> b`.
    pub fn describe<'a>(&self, name: impl Fn(HostId) -> &'a str) -> String {
        let what = self.name();
        match *self {
            NetChange::Crash(h) | NetChange::Restart(h) => format!("{what} {}", name(h)),
            NetChange::Partition(a, b, d)
            | NetChange::Heal(a, b, d)
            | NetChange::Hold(a, b, d)
            | NetChange::Release(a, b, d) => {
                let arrow = match d {
                    Direction::OneWay => "->",
                    Direction::Both => "<->",
                };
                format!("{what} {} {arrow} {}", name(a), name(b))
            }
        }
    }

    /// `partition`, `heal`, `crash`, `restart`, `hold` or `release`.
    pub fn name(&self) -> &'static str {
        match self {
            NetChange::Partition(..) => "partition",
            NetChange::Heal(..) => "heal",
            NetChange::Crash(_) => "crash",
            NetChange::Restart(_) => "restart",
            NetChange::Hold(..) => "hold",
            NetChange::Release(..) => "release",
        }
    }

    /// The hosts it touches: a crashed or restarted host, or a link's two ends.
    pub fn hosts(&self) -> Vec<HostId> {
        match *self {
            NetChange::Crash(h) | NetChange::Restart(h) => vec![h],
            NetChange::Partition(a, b, _)
            | NetChange::Heal(a, b, _)
            | NetChange::Hold(a, b, _)
            | NetChange::Release(a, b, _) => vec![a, b],
        }
    }
}

/// Everything about the network of one run.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Topology {
    /// Hosts, indexed by [`HostId`].
    pub hosts: Vec<HostSpec>,
    /// Links; at most one between a pair of hosts.
    pub links: Vec<LinkSpec>,
    /// Targeted faults, in the order they are tried.
    pub faults: Vec<FaultRule>,
    /// Scheduled changes.
    pub schedule: Vec<(SimTime, NetChange)>,
    /// Crafted segments, each put on its link at its time.
    pub injections: Vec<(SimTime, Injection)>,
    /// Deliberate bugs, for the tests that show an oracle fires when the network breaks its
    /// promises. Never set by a scenario file.
    #[doc(hidden)]
    pub sabotage: Sabotage,
    /// Maximum segment lifetime the network enforces: a packet that would arrive later than
    /// this after it was sent is discarded. `None` lets packets live forever. The scenario layer
    /// sets it to the MSL of the hosts' TCP profile unless told otherwise.
    pub lifetime: Option<SimDuration>,
}

/// Deliberate network bugs (see [`Topology::sabotage`]): each breaks one promise an oracle
/// checks from the trace.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sabotage {
    /// Deliver packets past the network lifetime instead of dropping them.
    pub ignore_lifetime: bool,
    /// Make every 5th packet vanish from its link with no record.
    pub lose_without_record: bool,
}

/// When a run ends, and the caps that stop a runaway one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLimits {
    /// The run ends normally at this instant (events after it are not processed).
    pub end: Option<SimTime>,
    /// The run fails once this many events have been processed.
    pub max_events: u64,
    /// The run fails if an event is due after this instant (only when `end` is not earlier).
    pub max_time: SimTime,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            end: None,
            max_events: 1_000_000_000,
            max_time: SimTime::after(SimDuration::from_mins(7 * 24 * 60)),
        }
    }
}

/// Why a network description was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuildError {
    /// Two hosts share a name.
    #[error("two hosts are named `{0}`")]
    DuplicateHostName(String),
    /// Two hosts share an address.
    #[error("hosts `{0}` and `{1}` have the same address {2}")]
    DuplicateAddress(String, String, Ipv4Addr),
    /// A reference to a host index that does not exist.
    #[error("{context} refers to host #{index}, but there are only {count} hosts")]
    UnknownHost {
        /// Where the reference is.
        context: String,
        /// The index given.
        index: u32,
        /// How many hosts exist.
        count: usize,
    },
    /// A link from a host to itself.
    #[error("link {0}: a link needs two different hosts (found `{1}` at both ends)")]
    SelfLink(usize, String),
    /// Two links between the same pair.
    #[error("link {0}: `{1}` and `{2}` are already linked")]
    DuplicateLink(usize, String, String),
    /// A knob with a value that cannot work.
    #[error("link {link} ({from} -> {to}): {problem}")]
    BadLink {
        /// Link index.
        link: usize,
        /// Sending host.
        from: String,
        /// Receiving host.
        to: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A fault rule that can never act.
    #[error("{id}: {problem}")]
    BadFault {
        /// The rule.
        id: FaultId,
        /// What is wrong.
        problem: String,
    },
    /// A crafted segment that cannot be built.
    #[error("injection {index}: {problem}")]
    BadInjection {
        /// Its number, from 1.
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// A zero or negative lifetime.
    #[error("network lifetime must be longer than zero")]
    ZeroLifetime,
    /// The number of implementations does not match the number of hosts.
    #[error("{given} host implementations given for {expected} hosts")]
    HostCountMismatch {
        /// Hosts in the topology.
        expected: usize,
        /// Implementations passed.
        given: usize,
    },
}

/// Smallest MTU IPv4 requires every link to carry (RFC 791, "Total Length").
pub const MIN_MTU_BYTES: u32 = 68;

impl Topology {
    /// Adds a host and returns its id.
    pub fn add_host(&mut self, name: &str, addr: Ipv4Addr) -> HostId {
        self.hosts.push(HostSpec {
            name: name.to_string(),
            addr,
        });
        HostId(self.hosts.len() as u32 - 1)
    }

    /// Adds a link with the same settings both ways.
    pub fn add_link(&mut self, a: HostId, b: HostId, config: LinkConfig) {
        self.links.push(LinkSpec {
            a,
            b,
            a_to_b: config.clone(),
            b_to_a: config,
        });
    }

    /// Checks every reference and value; the first problem found is returned.
    pub fn validate(&self) -> Result<(), BuildError> {
        let count = self.hosts.len();
        for (i, h) in self.hosts.iter().enumerate() {
            for other in &self.hosts[..i] {
                if other.name == h.name {
                    return Err(BuildError::DuplicateHostName(h.name.clone()));
                }
                if other.addr == h.addr {
                    return Err(BuildError::DuplicateAddress(
                        other.name.clone(),
                        h.name.clone(),
                        h.addr,
                    ));
                }
            }
        }
        // The context is put into words only for an error: a valid topology is checked at
        // the start of every run of a sweep.
        let check = |context: &dyn Fn() -> String, h: HostId| {
            if h.index() < count {
                Ok(())
            } else {
                Err(BuildError::UnknownHost {
                    context: context(),
                    index: h.0,
                    count,
                })
            }
        };
        let name = |h: HostId| self.hosts[h.index()].name.clone();
        for (i, link) in self.links.iter().enumerate() {
            check(&|| format!("link {i}"), link.a)?;
            check(&|| format!("link {i}"), link.b)?;
            if link.a == link.b {
                return Err(BuildError::SelfLink(i, name(link.a)));
            }
            let same_pair =
                |l: &LinkSpec| (l.a, l.b) == (link.a, link.b) || (l.a, l.b) == (link.b, link.a);
            if self.links[..i].iter().any(same_pair) {
                return Err(BuildError::DuplicateLink(i, name(link.a), name(link.b)));
            }
            for (from, to, cfg) in [
                (link.a, link.b, &link.a_to_b),
                (link.b, link.a, &link.b_to_a),
            ] {
                if let Some(problem) = cfg.problem() {
                    return Err(BuildError::BadLink {
                        link: i,
                        from: name(from),
                        to: name(to),
                        problem,
                    });
                }
            }
        }
        for (i, rule) in self.faults.iter().enumerate() {
            let id = FaultId(i as u32);
            let f = &rule.filter;
            for h in [f.from, f.to].into_iter().flatten() {
                check(&|| id.to_string(), h)?;
            }
            if rule.occurrence == Occurrence::Nth(0) {
                return Err(BuildError::BadFault {
                    id,
                    problem: "occurrences count from 1; the 0th packet never comes".into(),
                });
            }
            for (what, range) in [("seq", f.seq), ("ack", f.ack)] {
                if let Some((lo, hi)) = range {
                    if lo > hi {
                        return Err(BuildError::BadFault {
                            id,
                            problem: format!("{what} range {lo}..={hi} is empty"),
                        });
                    }
                }
            }
        }
        for (at, change) in &self.schedule {
            let context = || format!("the change at {at}");
            match *change {
                NetChange::Partition(a, b, _)
                | NetChange::Heal(a, b, _)
                | NetChange::Hold(a, b, _)
                | NetChange::Release(a, b, _) => {
                    check(&context, a)?;
                    check(&context, b)?;
                }
                NetChange::Crash(h) | NetChange::Restart(h) => check(&context, h)?,
            }
        }
        for (i, (at, inj)) in self.injections.iter().enumerate() {
            let context = || format!("injection {} at {at}", i + 1);
            check(&context, inj.from)?;
            check(&context, inj.to)?;
            let bad = |problem: &str| {
                Err(BuildError::BadInjection {
                    index: i + 1,
                    problem: problem.into(),
                })
            };
            if inj.from == inj.to {
                return bad("it goes from a host to itself");
            }
            for r in [inj.seq, inj.ack] {
                match r {
                    SeqRef::Abs(_) => {}
                    SeqRef::SndNxt(h, _) | SeqRef::RcvNxt(h, _) => {
                        if matches!(inj.ports, InjectPorts::Ports { .. }) {
                            return bad("numbers relative to a connection need `conn`");
                        }
                        if h != inj.from && h != inj.to {
                            return bad("a relative number names a host that is not an end of it");
                        }
                    }
                }
            }
            if inj.ports == InjectPorts::Conn(0) {
                return bad("connections count from 1");
            }
        }
        if self.lifetime == Some(SimDuration::ZERO) {
            return Err(BuildError::ZeroLifetime);
        }
        Ok(())
    }
}

impl LinkConfig {
    /// What makes these settings unusable, if anything.
    pub fn problem(&self) -> Option<String> {
        link_problem(self)
    }
}

fn link_problem(cfg: &LinkConfig) -> Option<String> {
    if cfg.bandwidth_bps == Some(0) {
        return Some("bandwidth must be more than 0 bit/s (leave it out for infinite)".into());
    }
    if let Some(mtu) = cfg.mtu_bytes {
        if mtu < MIN_MTU_BYTES {
            return Some(format!(
                "mtu {mtu} is below the IPv4 minimum of {MIN_MTU_BYTES} bytes (RFC 791)"
            ));
        }
    }
    if cfg.queue.is_some() && cfg.bandwidth_bps.is_none() {
        return Some(
            "a queue limit needs a bandwidth: with infinite bandwidth no queue ever forms".into(),
        );
    }
    if !cfg.reorder.is_never() && cfg.reorder_delay.is_zero() {
        return Some(
            "reorder probability is set but reorder_delay is 0, so nothing would reorder".into(),
        );
    }
    None
}
