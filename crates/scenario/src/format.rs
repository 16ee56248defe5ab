//! The scenario file as written: serde types that mirror the RON text one to one. Unknown
//! fields are refused; values with units are checked as they are read (see [`crate::units`]).
//! Cross-references (a link to a host that does not exist) are checked by [`crate::compile`].

use std::net::Ipv4Addr;

use serde::Deserialize;

use crate::units::{Bandwidth, Dur, Flags, Prob};

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename = "Scenario")]
pub struct ScenarioFile {
    /// Short name, shown by `netsim list`.
    pub name: String,
    /// One or more sentences on what the scenario shows.
    pub description: String,
    /// The seed used unless `--seed` overrides it.
    pub seed: u64,
    /// Virtual time at which the run ends.
    pub end: Dur,
    /// Maximum segment lifetime enforced by the network; absent means packets never expire.
    #[serde(default)]
    pub lifetime: Option<Dur>,
    /// Caps that stop a runaway run with an error.
    #[serde(default)]
    pub limits: Option<LimitsDef>,
    /// The hosts.
    pub hosts: Vec<HostDef>,
    /// The links between them.
    #[serde(default)]
    pub links: Vec<LinkDef>,
    /// Targeted faults.
    #[serde(default)]
    pub faults: Vec<FaultDef>,
    /// Scheduled network changes.
    #[serde(default)]
    pub events: Vec<EventDef>,
    /// Raw packet streams (no protocol): for exercising links on their own.
    #[serde(default)]
    pub traffic: Vec<ProbeDef>,
}

/// Run caps.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename = "Limits")]
pub struct LimitsDef {
    /// Events after which the run fails.
    #[serde(default)]
    pub max_events: Option<u64>,
}

/// `Host(name: "client", addr: "10.0.0.1")`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename = "Host")]
pub struct HostDef {
    /// Unique name.
    pub name: String,
    /// Unique IPv4 address.
    pub addr: Ipv4Addr,
}

/// Link knobs. In a `Link` they apply both ways; in its `a_to_b` / `b_to_a` they override one
/// direction.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "Knobs")]
pub struct KnobsDef {
    /// Propagation delay.
    #[serde(default)]
    pub latency: Option<Dur>,
    /// Uniform extra delay in `[0, jitter]` per packet.
    #[serde(default)]
    pub jitter: Option<Dur>,
    /// Serialisation rate; absent is infinite.
    #[serde(default)]
    pub bandwidth: Option<Bandwidth>,
    /// Drop-tail queue limit.
    #[serde(default)]
    pub queue: Option<QueueDef>,
    /// Loss probability.
    #[serde(default)]
    pub loss: Option<Prob>,
    /// Duplication probability.
    #[serde(default)]
    pub duplicate: Option<Prob>,
    /// Reordering probability.
    #[serde(default)]
    pub reorder: Option<Prob>,
    /// Extra delay of a reordered packet.
    #[serde(default)]
    pub reorder_delay: Option<Dur>,
    /// Largest IPv4 packet in bytes.
    #[serde(default)]
    pub mtu: Option<u32>,
}

/// `Packets(100)` or `Bytes(64000)`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename = "Queue")]
pub enum QueueDef {
    /// Packets that may wait.
    Packets(u32),
    /// Bytes that may wait.
    Bytes(u64),
}

/// `Link(a: "client", b: "server", latency: "1ms", ..., b_to_a: (loss: 0.1))`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename = "Link")]
pub struct LinkDef {
    /// One end.
    pub a: String,
    /// The other end.
    pub b: String,
    /// Propagation delay.
    #[serde(default)]
    pub latency: Option<Dur>,
    /// Uniform extra delay in `[0, jitter]` per packet.
    #[serde(default)]
    pub jitter: Option<Dur>,
    /// Serialisation rate; absent is infinite.
    #[serde(default)]
    pub bandwidth: Option<Bandwidth>,
    /// Drop-tail queue limit.
    #[serde(default)]
    pub queue: Option<QueueDef>,
    /// Loss probability.
    #[serde(default)]
    pub loss: Option<Prob>,
    /// Duplication probability.
    #[serde(default)]
    pub duplicate: Option<Prob>,
    /// Reordering probability.
    #[serde(default)]
    pub reorder: Option<Prob>,
    /// Extra delay of a reordered packet.
    #[serde(default)]
    pub reorder_delay: Option<Dur>,
    /// Largest IPv4 packet in bytes.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Overrides for packets from `a` to `b`.
    #[serde(default)]
    pub a_to_b: Option<KnobsDef>,
    /// Overrides for packets from `b` to `a`.
    #[serde(default)]
    pub b_to_a: Option<KnobsDef>,
}

impl LinkDef {
    /// The knobs given for both directions.
    pub fn shared(&self) -> KnobsDef {
        KnobsDef {
            latency: self.latency,
            jitter: self.jitter,
            bandwidth: self.bandwidth,
            queue: self.queue,
            loss: self.loss,
            duplicate: self.duplicate,
            reorder: self.reorder,
            reorder_delay: self.reorder_delay,
            mtu: self.mtu,
        }
    }
}

/// Which matching packets a fault acts on.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename = "Occurrence")]
pub enum OccurrenceDef {
    /// The n-th match, counting from 1.
    Nth(u64),
    /// Every match.
    Every,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename = "Action")]
pub enum ActionDef {
    /// Discard the packet.
    Drop,
    /// Deliver it this much later.
    Delay(Dur),
    /// Deliver an extra copy.
    Duplicate,
    /// Keep it until this instant, then send it on.
    HoldUntil(Dur),
    /// Keep it until this many more packets have gone the same way, then send it on.
    HoldForPackets(u32),
}

/// `Fault(from: "client", flags: "F.", occurrence: Nth(1), action: Delay("5s"))`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename = "Fault")]
pub struct FaultDef {
    /// Sent by this host.
    #[serde(default)]
    pub from: Option<String>,
    /// Addressed to this host.
    #[serde(default)]
    pub to: Option<String>,
    /// TCP source port.
    #[serde(default)]
    pub src_port: Option<u16>,
    /// TCP destination port.
    #[serde(default)]
    pub dst_port: Option<u16>,
    /// Flags exactly these.
    #[serde(default)]
    pub flags: Option<Flags>,
    /// Flags include all of these.
    #[serde(default)]
    pub flags_contain: Option<Flags>,
    /// `true`: carries data; `false`: carries none.
    #[serde(default)]
    pub payload: Option<bool>,
    /// Sequence number in this inclusive range.
    #[serde(default)]
    pub seq: Option<(u32, u32)>,
    /// Acknowledgment number in this inclusive range.
    #[serde(default)]
    pub ack: Option<(u32, u32)>,
    /// The sender's protocol state when sending, e.g. `"TIME_WAIT"`.
    #[serde(default)]
    pub state: Option<String>,
    /// Which match to act on.
    pub occurrence: OccurrenceDef,
    /// What to do.
    pub action: ActionDef,
    /// If true, the run does not fail when this fault never fires.
    #[serde(default)]
    pub optional: bool,
}

/// A scheduled network change.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "Event")]
pub enum EventDef {
    /// Cut both directions between two hosts.
    Partition {
        /// When.
        at: Dur,
        /// The two hosts.
        between: (String, String),
    },
    /// Cut only packets from `from` to `to`.
    PartitionOneWay {
        /// When.
        at: Dur,
        /// Sender side of the cut.
        from: String,
        /// Receiver side of the cut.
        to: String,
    },
    /// Restore both directions.
    Heal {
        /// When.
        at: Dur,
        /// The two hosts.
        between: (String, String),
    },
    /// Restore packets from `from` to `to`.
    HealOneWay {
        /// When.
        at: Dur,
        /// Sender side.
        from: String,
        /// Receiver side.
        to: String,
    },
    /// The host crashes and loses its protocol state.
    Crash {
        /// When.
        at: Dur,
        /// Which host.
        host: String,
    },
    /// The host comes back.
    Restart {
        /// When.
        at: Dur,
        /// Which host.
        host: String,
    },
}

/// `Probe(from: "a", to: "b", count: 1000, every: "1ms")`: raw packets with sequence numbers
/// 0, 1, 2, ... and no protocol behind them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename = "Probe")]
pub struct ProbeDef {
    /// Sender.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// How many packets.
    pub count: u32,
    /// Gap between packets.
    pub every: Dur,
    /// First packet's send time.
    #[serde(default)]
    pub start: Dur,
    /// Payload bytes per packet.
    #[serde(default)]
    pub payload: u32,
    /// TCP flags carried (default `"."`, a bare ACK).
    #[serde(default)]
    pub flags: Option<Flags>,
    /// Source port (default 1000).
    #[serde(default)]
    pub src_port: Option<u16>,
    /// Destination port (default 2000).
    #[serde(default)]
    pub dst_port: Option<u16>,
}
