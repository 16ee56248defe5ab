//! The scenario file as written: serde types that mirror the RON text one to one. Unknown
//! fields are refused; values with units are checked as they are read (see [`crate::units`]).
//! Cross-references (a link to a host that does not exist) are checked when the file is
//! compiled.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::units::{Bandwidth, Dur, Flags, Prob};

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<Dur>,
    /// Caps that stop a runaway run with an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsDef>,
    /// The hosts.
    pub hosts: Vec<HostDef>,
    /// The links between them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkDef>,
    /// Targeted faults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultDef>,
    /// Scheduled network changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventDef>,
    /// TCP settings for every host (a host's own `tcp` overrides them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpDef>,
    /// What the run must show; checked after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<ExpectDef>,
    /// Faults drawn from each run's seed, so that every seed of a sweep is a different fault
    /// schedule (applied by `netsim run --seed N` too, so a seed replays exactly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomize: Option<RandomizeDef>,
    /// How the scenario fares on the real Linux kernel (`netsim kernel`): shown by `netsim
    /// list`; the catalogue's `Same` stories are compared with the kernel on every CI run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelDef>,
}

/// A scenario's standing against the real kernel.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename = "Kernel")]
pub enum KernelDef {
    /// `netsim kernel --until T` compares the same (checked in CI for the catalogue).
    Same(Dur),
    /// It runs on the kernel but differs, for this reason.
    Differs(String),
    /// It runs on the kernel and compares the same, but not in CI, for this reason (a race of
    /// real threads, a run too long for CI).
    NotInCi(String),
}

/// Randomised faults: each value is drawn uniformly from its range with the run's seed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Randomize")]
pub struct RandomizeDef {
    /// Per link, ranges for its knobs (both directions get the same draw).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<RandomLinkDef>,
    /// A crash of one host at a random time, and its restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<RandomCrashDef>,
}

/// `Link(a: "client", b: "server", loss: (0.0, 0.1), latency: ("1ms", "10ms"))`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Link")]
pub struct RandomLinkDef {
    /// One end of an existing link.
    pub a: String,
    /// The other end.
    pub b: String,
    /// Loss probability range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<(Prob, Prob)>,
    /// Duplication probability range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<(Prob, Prob)>,
    /// Reordering probability range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<(Prob, Prob)>,
    /// Reordering delay range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_delay: Option<(Dur, Dur)>,
    /// Latency range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<(Dur, Dur)>,
    /// Jitter range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<(Dur, Dur)>,
    /// Extra delay of every packet, range (on top of latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_delay: Option<(Dur, Dur)>,
}

/// `Crash(host: "server", between: ("1s", "10s"), down_for: ("100ms", "2s"))`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Crash")]
pub struct RandomCrashDef {
    /// Which host.
    pub host: String,
    /// When it crashes.
    pub between: (Dur, Dur),
    /// How long it stays down.
    pub down_for: (Dur, Dur),
}

/// Run caps.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Limits")]
pub struct LimitsDef {
    /// Events after which the run fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u64>,
}

/// `Host(name: "client", addr: "10.0.0.1")`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Host")]
pub struct HostDef {
    /// Unique name.
    pub name: String,
    /// Unique IPv4 address.
    pub addr: Ipv4Addr,
    /// TCP settings of this host, over the scenario's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpDef>,
    /// The application script the host runs from time zero (and again after a restart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app: Vec<StepDef>,
}

/// Link knobs. In a `Link` they apply both ways; in its `a_to_b` / `b_to_a` they override one
/// direction.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Knobs")]
pub struct KnobsDef {
    /// Propagation delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Dur>,
    /// Uniform extra delay in `[0, jitter]` per packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Dur>,
    /// Serialisation rate; absent is infinite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<Bandwidth>,
    /// Drop-tail queue limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueDef>,
    /// Loss probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Prob>,
    /// Duplication probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<Prob>,
    /// Reordering probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<Prob>,
    /// Extra delay of a reordered packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_delay: Option<Dur>,
    /// Largest IPv4 packet in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

/// `Packets(100)` or `Bytes(64000)`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename = "Queue")]
pub enum QueueDef {
    /// Packets that may wait.
    Packets(u32),
    /// Bytes that may wait.
    Bytes(u64),
}

/// `Link(a: "client", b: "server", latency: "1ms", ..., b_to_a: (loss: 0.1))`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Link")]
pub struct LinkDef {
    /// One end.
    pub a: String,
    /// The other end.
    pub b: String,
    /// Propagation delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Dur>,
    /// Uniform extra delay in `[0, jitter]` per packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Dur>,
    /// Serialisation rate; absent is infinite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<Bandwidth>,
    /// Drop-tail queue limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueDef>,
    /// Loss probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Prob>,
    /// Duplication probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<Prob>,
    /// Reordering probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<Prob>,
    /// Extra delay of a reordered packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_delay: Option<Dur>,
    /// Largest IPv4 packet in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Overrides for packets from `a` to `b`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_to_b: Option<KnobsDef>,
    /// Overrides for packets from `b` to `a`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename = "Occurrence")]
pub enum OccurrenceDef {
    /// The n-th match, counting from 1.
    Nth(u64),
    /// Every match.
    Every,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Fault")]
pub struct FaultDef {
    /// Sent by this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Addressed to this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// TCP source port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    /// TCP destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// Flags exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Flags>,
    /// Flags include all of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags_contain: Option<Flags>,
    /// `true`: carries data; `false`: carries none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<bool>,
    /// Sequence number in this inclusive range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<(u32, u32)>,
    /// Acknowledgment number in this inclusive range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<(u32, u32)>,
    /// The sender's protocol state when sending, e.g. `"TIME_WAIT"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Event")]
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
    /// Hold both directions: packets that would enter the link wait until released.
    Hold {
        /// When.
        at: Dur,
        /// The two hosts.
        between: (String, String),
    },
    /// Hold only packets from `from` to `to`.
    HoldOneWay {
        /// When.
        at: Dur,
        /// Sender side.
        from: String,
        /// Receiver side.
        to: String,
    },
    /// Let what a hold kept (both directions) enter the link, in order, and stop holding.
    Release {
        /// When.
        at: Dur,
        /// The two hosts.
        between: (String, String),
    },
    /// Release packets held from `from` to `to`.
    ReleaseOneWay {
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
    /// A crafted segment (a stray RST, an old SYN, data of a previous incarnation), put on
    /// the link from `from` to `to` as if `from` had sent it: latency, faults and partitions
    /// apply to it. Its numbers are absolute or relative to connection `conn` as the wire has
    /// shown it so far.
    Inject {
        /// When.
        at: Dur,
        /// The host whose address it carries.
        from: String,
        /// The host it is addressed to.
        to: String,
        /// The n-th connection between the two hosts (from 1, in order of first appearance on
        /// the wire); gives the ports and the base of relative numbers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<u32>,
        /// TCP source port, when no `conn` is named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        src_port: Option<u16>,
        /// TCP destination port, when no `conn` is named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dst_port: Option<u16>,
        /// Control bits, tcpdump's letters (`"R"`, `"S"`, `"R."`, `"P."`).
        flags: Flags,
        /// Sequence number.
        seq: SeqDef,
        /// Acknowledgment number; required with the ACK flag, refused without it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ack: Option<SeqDef>,
        /// Payload bytes (each `!`), at most 1460.
        #[serde(default)]
        len: u32,
        /// The raw window field (default 0).
        #[serde(default)]
        window: u16,
        /// TCP options.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        options: Vec<OptionDef>,
    },
}

/// A sequence or acknowledgment number of an injected segment.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename = "Seq")]
pub enum SeqDef {
    /// This 32-bit value.
    Abs(u32),
    /// The next sequence number the named host will send on the connection (its SND.NXT as
    /// the wire shows it), plus an offset (which may be negative).
    SndNxt(String, i64),
    /// The next sequence number the named host expects from its peer (its RCV.NXT as the
    /// wire shows it: the in-order bytes delivered to it), plus an offset.
    RcvNxt(String, i64),
}

/// A TCP option of an injected segment.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename = "Option")]
pub enum OptionDef {
    /// Maximum segment size.
    Mss(u16),
    /// Window scale shift (0 to 14).
    WindowScale(u8),
    /// SACK permitted.
    SackPermitted,
    /// Timestamps: TSval, TSecr.
    Timestamps(u32, u32),
}

/// TCP settings: a named profile and any overrides (see `TcpConfig` for each one's meaning).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Tcp")]
pub struct TcpDef {
    /// `"linux"` (default) or `"rfc"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Maximum segment lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msl: Option<Dur>,
    /// TIME_WAIT length (`"0s"` skips it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_wait: Option<Dur>,
    /// Orphaned FIN_WAIT_2 timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fin_timeout: Option<Dur>,
    /// Ephemeral port range, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_ports: Option<(u16, u16)>,
    /// Initial RTO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_initial: Option<Dur>,
    /// RTO floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_min: Option<Dur>,
    /// RTO ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_max: Option<Dur>,
    /// SYN retransmissions before ETIMEDOUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syn_retries: Option<u32>,
    /// SYN-ACK retransmissions before giving up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synack_retries: Option<u32>,
    /// Data retransmissions before ETIMEDOUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_retries: Option<u32>,
    /// MSS announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mss: Option<u16>,
    /// Receive buffer bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcv_buf: Option<u32>,
    /// Send buffer bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snd_buf: Option<u32>,
    /// Offer window scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_scale: Option<bool>,
    /// Offer timestamps (and so PAWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamps: Option<bool>,
    /// Delayed ACK timeout; `"0s"` turns delayed ACKs off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delayed_ack: Option<Dur>,
    /// Nagle's algorithm on new sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nagle: Option<bool>,
    /// Initial congestion window in segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_cwnd: Option<u32>,
    /// Ignore RST in TIME_WAIT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rfc1337: Option<bool>,
    /// Accept a newer SYN in TIME_WAIT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tw_accept_new_syn: Option<bool>,
    /// Reuse TIME_WAIT 4-tuples for connect (timestamps required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tw_reuse: Option<bool>,
    /// Cap on TIME_WAIT entries; `0` means no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_time_wait: Option<u32>,
    /// Socket limit; `0` means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sockets: Option<u32>,
    /// Closing and TIME_WAIT connections count against `max_sockets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing_holds_socket: Option<bool>,
    /// Cap on listen backlogs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub somaxconn: Option<u32>,
    /// ISN choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isn: Option<IsnDef>,
    /// RTO computation: `Linux` or `Rfc6298`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto: Option<RtoRulesDef>,
    /// SYN retransmissions at the initial RTO before back-off (Linux tcp_syn_linear_timeouts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syn_linear_timeouts: Option<u32>,
    /// Largest receive buffer, which sets the window scale (Linux `tcp_rmem[2]`); a smaller
    /// `rcv_buf` alone sets it too, as SO_RCVBUF does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcv_buf_max: Option<u32>,
    /// When to ACK: `Linux` (quick-ACK and ping-pong modes) or `Rfc1122`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acks: Option<AckPolicyDef>,
    /// Congestion window rules: `LinuxReno` or `NewReno`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub congestion: Option<CongestionDef>,
    /// Receive window rules: `Linux` or `Rfc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowRulesDef>,
    /// Offer and use SACK (and D-SACK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sack: Option<bool>,
    /// With SACK, RACK loss detection (else RFC 6675's three SACKed segments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<bool>,
    /// With SACK, tail loss probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_loss_probe: Option<bool>,
    /// Keep-alive idle time before the first probe (tcp_keepalive_time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_time: Option<Dur>,
    /// Keep-alive interval between probes (tcp_keepalive_intvl).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_interval: Option<Dur>,
    /// Keep-alive probes before ETIMEDOUT (tcp_keepalive_probes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_probes: Option<u32>,
    /// Timer granularity (Linux: 1/HZ, "4ms"); `"0s"` makes timers exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_tick: Option<Dur>,
}

/// How the RTO is computed.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename = "Rto")]
pub enum RtoRulesDef {
    /// RFC 6298.
    Rfc6298,
    /// Linux.
    Linux,
}

/// When to acknowledge.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename = "Acks")]
pub enum AckPolicyDef {
    /// RFC 1122 delayed ACKs.
    Rfc1122,
    /// Linux quick-ACK and ping-pong modes.
    Linux,
}

/// Congestion window rules.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename = "Congestion")]
pub enum CongestionDef {
    /// RFC 5681.
    NewReno,
    /// Linux tcp_reno.
    LinuxReno,
}

/// Receive window rules.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename = "Window")]
pub enum WindowRulesDef {
    /// The free buffer.
    Rfc,
    /// Linux's initial window and growth.
    Linux,
}

/// How ISNs are chosen.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename = "Isn")]
pub enum IsnDef {
    /// RFC 6528: 4 µs clock plus keyed hash (the rfc profile's).
    Rfc6528,
    /// Linux secure_tcp_seq: 64 ns clock plus keyed hash (the linux profile's).
    Linux,
    /// RFC 793: the clock alone.
    Clock,
    /// Always this value.
    Fixed(u32),
}

/// One step of an application script. Steps run in order; a blocking step (connect, accept,
/// recv, send into a full buffer, sleep) waits for its event. A failed call records the error
/// and ends the task that made it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Step")]
pub enum StepDef {
    /// Open a listening socket (it never accepts unless `Accept` or `Serve` does).
    Listen {
        /// Port.
        port: u16,
        /// Accept-queue length (default 128).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backlog: Option<u32>,
        /// SO_REUSEADDR before bind (default false).
        #[serde(default)]
        reuse_addr: bool,
    },
    /// Listen and, for every accepted connection, run `steps` in a task of its own.
    Serve {
        /// Port.
        port: u16,
        /// Accept-queue length (default 128).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backlog: Option<u32>,
        /// SO_REUSEADDR before bind (default false).
        #[serde(default)]
        reuse_addr: bool,
        /// What each connection does.
        steps: Vec<StepDef>,
    },
    /// Wait for one connection on a listening port; it becomes this task's socket.
    Accept(u16),
    /// Connect to a host's port; waits until ESTABLISHED or failed.
    Connect {
        /// Host name.
        to: String,
        /// Port.
        port: u16,
        /// Bind this local port first (default: an ephemeral one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_port: Option<u16>,
        /// SO_REUSEADDR for that bind.
        #[serde(default)]
        reuse_addr: bool,
    },
    /// Send this many bytes (of a pattern the oracle can check).
    Send(u64),
    /// Receive exactly this many bytes.
    Recv(u64),
    /// Receive until the peer's FIN (end of stream).
    RecvEof,
    /// Half-close: no more sending.
    Shutdown,
    /// Close the socket (FIN, or RST if unread data remains).
    Close,
    /// Abortive close: RST, no TIME_WAIT (SO_LINGER 0).
    Abort,
    /// Turn Nagle off on this socket (TCP_NODELAY).
    NoDelay,
    /// Turn keep-alive on for this socket (SO_KEEPALIVE), with TCP_KEEPIDLE, TCP_KEEPINTVL
    /// and TCP_KEEPCNT; each left out takes the host's `keepalive_*` setting.
    KeepAlive {
        /// Idle time before the first probe.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idle: Option<Dur>,
        /// Time between unanswered probes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<Dur>,
        /// Unanswered probes before the connection fails with ETIMEDOUT.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        probes: Option<u32>,
    },
    /// Do nothing for this long.
    Sleep(Dur),
    /// Run `steps` `count` times in a row.
    Repeat {
        /// How many times.
        count: u64,
        /// What.
        steps: Vec<StepDef>,
    },
    /// Start `count` tasks running `steps`, one every `every` (the first now), and go on.
    Spawn {
        /// How many.
        count: u64,
        /// Interval between starts.
        every: Dur,
        /// What each task does.
        steps: Vec<StepDef>,
    },
}

/// A TCP counter of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename = "Counter")]
pub enum CounterDef {
    /// Segments sent.
    SegmentsSent,
    /// Retransmissions of any kind.
    Retransmits,
    /// FIN retransmissions.
    FinRetransmits,
    /// SYNs dropped by a full accept queue.
    ListenOverflows,
    /// Connections that skipped TIME_WAIT because the table was full.
    TimeWaitOverflows,
    /// RSTs sent.
    ResetsSent,
    /// Segments dropped by PAWS.
    PawsRejects,
    /// Challenge ACKs sent.
    ChallengeAcks,
    /// Connections that reached ESTABLISHED.
    Established,
    /// Connections accepted by the application.
    Accepted,
    /// TIME_WAIT entries ended early by a newer SYN (RFC 6191).
    TimeWaitReopened,
    /// TIME_WAIT 4-tuples taken over by connect() (tcp_tw_reuse).
    TimeWaitReused,
    /// Fast recoveries (duplicate ACKs, SACK or RACK).
    Recoveries,
    /// Fast recoveries started from SACK blocks.
    SackRecoveries,
    /// Tail loss probes sent.
    LossProbes,
    /// Retransmission timeouts.
    Timeouts,
    /// Keep-alive probes sent.
    KeepaliveProbes,
}

/// Something the run must show.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Expect")]
pub enum ExpectDef {
    /// The n-th connection of a host (counting from 1, in order of first appearance; a
    /// 4-tuple reused after CLOSED is a new connection) passes through exactly these states.
    Path {
        /// Host.
        host: String,
        /// Which connection.
        conn: u32,
        /// State names, from the first (CLOSED or LISTEN) to the last.
        states: Vec<String>,
    },
    /// The host's applications saw this error a number of times (default: at least once).
    /// Without an `Error` expectation naming it, an error an application sees fails the run.
    Error {
        /// Host.
        host: String,
        /// POSIX name, e.g. `"ECONNRESET"`.
        errno: String,
        /// At least this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<u64>,
        /// At most this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<u64>,
        /// Exactly this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exactly: Option<u64>,
    },
    /// Tasks of the host's script that had not reached their last step when the run ended
    /// (still waiting in connect, accept, recv, send or sleep, a read ended early by the end of
    /// the stream, or a `Spawn` task never started); default: at least one. Without this
    /// expectation every task must reach its end.
    Unfinished {
        /// Host.
        host: String,
        /// At least this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<u64>,
        /// At most this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<u64>,
        /// Exactly this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exactly: Option<u64>,
    },
    /// Bytes the host's applications received, in total.
    Received {
        /// Host.
        host: String,
        /// At least this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<u64>,
        /// At most this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<u64>,
        /// Exactly this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exactly: Option<u64>,
    },
    /// A TCP counter of the host.
    Count {
        /// Host.
        host: String,
        /// Which counter.
        counter: CounterDef,
        /// At least this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<u64>,
        /// At most this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<u64>,
        /// Exactly this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exactly: Option<u64>,
    },
    /// The most connections the host held in a state at once.
    Peak {
        /// Host.
        host: String,
        /// State name.
        state: String,
        /// At least this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<u64>,
        /// At most this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<u64>,
        /// Exactly this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exactly: Option<u64>,
    },
    /// Connections the host holds in a state when the run ends.
    AtEnd {
        /// Host.
        host: String,
        /// State name.
        state: String,
        /// At least this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<u64>,
        /// At most this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<u64>,
        /// Exactly this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exactly: Option<u64>,
    },
    /// Connections of the host that reached ESTABLISHED in `[from, to)`: throughput over a
    /// window of time.
    Established {
        /// Host.
        host: String,
        /// Start of the window.
        from: Dur,
        /// End of the window.
        to: Dur,
        /// At least this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<u64>,
        /// At most this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<u64>,
        /// Exactly this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exactly: Option<u64>,
    },
    /// The host sends segments matching a filter within a window of time (injected segments
    /// do not count): pins timing as a packetdrill script does, and is checked on the kernel
    /// by `netsim kernel` as well.
    Sent {
        /// Sender.
        host: String,
        /// Addressed to this host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        /// Flags exactly these (tcpdump letters; PSH is compared too).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flags: Option<Flags>,
        /// Flags include all of these.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flags_contain: Option<Flags>,
        /// `true`: carries data; `false`: carries none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<bool>,
        /// The window, inclusive at both ends: `("1s", "1.1s")`.
        between: (Dur, Dur),
        /// At least this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_least: Option<u64>,
        /// At most this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_most: Option<u64>,
        /// Exactly this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exactly: Option<u64>,
    },
    /// This oracle violation occurs (for scenarios that demonstrate a hazard); without it,
    /// any violation fails the run.
    Violation(ViolationDef),
}

/// Kinds of oracle violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename = "Violation")]
pub enum ViolationDef {
    /// An application read bytes sent by an older incarnation of its 4-tuple.
    StaleData,
    /// An application read bytes nobody sent on its connection.
    CorruptData,
    /// A connection took a transition outside RFC 9293's diagram.
    IllegalTransition,
}
