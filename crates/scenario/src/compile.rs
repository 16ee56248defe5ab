//! Turns a parsed [`ScenarioFile`] into what the engine runs: a [`Topology`], each host's TCP
//! configuration and script, the expectations and the run limits. Every name is resolved and
//! every value checked here; a problem is a [`ScenarioError`] pointing at the line and column
//! of the offending text.

use std::fmt;
use std::net::SocketAddrV4;
use std::sync::Arc;

use netsim_core::{Packet, SimDuration, SimTime, TcpFlags, TcpOptions, Timestamps};
use netsim_engine::{
    Direction, FaultAction, FaultRule, FlagMatch, HostId, InjectPorts, Injection, LinkConfig,
    LinkSpec, NetChange, Occurrence, PacketFilter, QueueLimit, Release, RunLimits, SeqRef,
    Topology,
};
use netsim_tcp::{
    AckPolicy, Bind, Congestion, Errno, IsnMode, Listen, RtoRules, State, TcpConfig, WindowRules,
};

use crate::error::{Locator, ScenarioError};
use crate::format::{
    AckPolicyDef, ActionDef, CongestionDef, CounterDef, EventDef, ExpectDef, FaultDef, IsnDef,
    KnobsDef, LinkDef, OccurrenceDef, OptionDef, QueueDef, RtoRulesDef, ScenarioFile, SeqDef,
    StepDef, TcpDef, ViolationDef, WindowRulesDef,
};
use crate::randomize::{Knob, RandomItem, Range};
use crate::script::Step;
use crate::units::Flags;

/// Bounds on a number: at least, at most, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bounds {
    /// Lower bound.
    pub at_least: Option<u64>,
    /// Upper bound.
    pub at_most: Option<u64>,
    /// Exact value.
    pub exactly: Option<u64>,
}

impl Bounds {
    /// True when `v` is within every bound given.
    pub fn holds(&self, v: u64) -> bool {
        self.at_least.is_none_or(|b| v >= b)
            && self.at_most.is_none_or(|b| v <= b)
            && self.exactly.is_none_or(|b| v == b)
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(b) = self.exactly {
            parts.push(format!("= {b}"));
        }
        if let Some(b) = self.at_least {
            parts.push(format!(">= {b}"));
        }
        if let Some(b) = self.at_most {
            parts.push(format!("<= {b}"));
        }
        f.write_str(&parts.join(" and "))
    }
}

/// A checked expectation.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// Connection `conn` (1-based) of `host` passes through exactly `states`.
    Path {
        /// Host.
        host: HostId,
        /// Which connection.
        conn: u32,
        /// The states.
        states: Vec<State>,
    },
    /// The host's applications saw `errno` this often.
    Error {
        /// Host.
        host: HostId,
        /// Error.
        errno: Errno,
        /// How often.
        bounds: Bounds,
    },
    /// Tasks of the host's script that did not reach their end.
    Unfinished {
        /// Host.
        host: HostId,
        /// How many.
        bounds: Bounds,
    },
    /// Bytes received by the host's applications.
    Received {
        /// Host.
        host: HostId,
        /// How many.
        bounds: Bounds,
    },
    /// A TCP counter of the host.
    Count {
        /// Host.
        host: HostId,
        /// Counter.
        counter: CounterDef,
        /// Value.
        bounds: Bounds,
    },
    /// Peak number of connections in a state.
    Peak {
        /// Host.
        host: HostId,
        /// State.
        state: State,
        /// Value.
        bounds: Bounds,
    },
    /// Connections in a state at the end.
    AtEnd {
        /// Host.
        host: HostId,
        /// State.
        state: State,
        /// Value.
        bounds: Bounds,
    },
    /// Connections reaching ESTABLISHED in a window of time.
    Established {
        /// Host.
        host: HostId,
        /// Window start.
        from: SimTime,
        /// Window end (exclusive).
        to: SimTime,
        /// How many.
        bounds: Bounds,
    },
    /// Segments a host sends in a window of time.
    Sent {
        /// Which segments count.
        window: SentWindow,
        /// How many.
        bounds: Bounds,
    },
    /// This violation must occur.
    Violation(ViolationDef),
}

/// The segments a `Sent` expectation counts: sent by `filter.from`, matching the filter, in
/// `[from, to]`, not injected.
#[derive(Debug, Clone, PartialEq)]
pub struct SentWindow {
    /// Sender, receiver, flags, payload.
    pub filter: PacketFilter,
    /// Window start.
    pub from: SimTime,
    /// Window end (inclusive).
    pub to: SimTime,
}

impl SentWindow {
    /// Whether a segment sent at `at` by `from` to `to` counts (injected ones never do).
    pub fn counts(
        &self,
        at: SimTime,
        from: HostId,
        to: HostId,
        packet: &Packet,
        injected: bool,
    ) -> bool {
        !injected && at >= self.from && at <= self.to && self.filter.matches(from, to, packet, "")
    }
}

/// A host as compiled: its TCP configuration and its script.
#[derive(Debug, Clone)]
pub struct HostPlan {
    /// TCP parameters.
    pub tcp: TcpConfig,
    /// The application.
    pub program: Arc<[Step]>,
}

/// A scenario ready to run any number of times, with any seed.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The network.
    pub topology: Topology,
    /// Per host, its TCP and its application.
    pub hosts: Vec<HostPlan>,
    /// End time and caps.
    pub limits: RunLimits,
    /// Per fault rule: may it never fire without failing the run?
    pub fault_optional: Vec<bool>,
    /// What the run must show.
    pub expectations: Vec<Expectation>,
    /// Faults drawn from each run's seed.
    pub randomize: Vec<RandomItem>,
}

struct Compiler<'a> {
    file: &'a ScenarioFile,
    at: Locator<'a>,
}

pub(crate) fn compile(file: &ScenarioFile, at: Locator<'_>) -> Result<Compiled, ScenarioError> {
    Compiler { file, at }.run()
}

impl Compiler<'_> {
    fn run(&self) -> Result<Compiled, ScenarioError> {
        let f = self.file;
        let mut topology = Topology::default();
        if f.hosts.is_empty() {
            return Err(self.at.key("hosts", "a scenario needs at least one host"));
        }
        for (i, h) in f.hosts.iter().enumerate() {
            if let Some(first) = f.hosts[..i].iter().find(|o| o.name == h.name) {
                return Err(self.at.item(
                    "hosts",
                    i,
                    &quoted(&h.name),
                    format!(
                        "host name `{}` is used twice (first by host at {})",
                        h.name, first.addr
                    ),
                ));
            }
            if let Some(first) = f.hosts[..i].iter().find(|o| o.addr == h.addr) {
                return Err(self.at.item(
                    "hosts",
                    i,
                    &quoted(&h.addr.to_string()),
                    format!(
                        "address {} is used twice (first by host `{}`)",
                        h.addr, first.name
                    ),
                ));
            }
            topology.add_host(&h.name, h.addr);
        }
        if f.end.0.is_zero() {
            return Err(self.at.key("end", "end must be later than 0s"));
        }
        if f.lifetime.is_some_and(|l| l.0.is_zero()) {
            return Err(self.at.key("lifetime", "lifetime must be longer than 0s"));
        }
        let base = self.tcp(&TcpConfig::linux(), f.tcp.as_ref(), None)?;
        // The network's lifetime defaults to the MSL of the scenario's TCP profile.
        topology.lifetime = Some(f.lifetime.map_or(base.msl, |l| l.0));
        for (i, link) in f.links.iter().enumerate() {
            topology.links.push(self.link(i, link, &topology.links)?);
        }
        let mut fault_optional = Vec::new();
        for (i, fault) in f.faults.iter().enumerate() {
            topology.faults.push(self.fault(i, fault)?);
            fault_optional.push(fault.optional);
        }
        for (i, event) in f.events.iter().enumerate() {
            if let EventDef::Inject { at, .. } = event {
                topology
                    .injections
                    .push((SimTime::after(at.0), self.injection(i, event)?));
            } else {
                topology.schedule.push(self.event(i, event)?);
            }
        }
        let mut hosts = Vec::with_capacity(f.hosts.len());
        for (i, h) in f.hosts.iter().enumerate() {
            hosts.push(HostPlan {
                tcp: self.tcp(&base, h.tcp.as_ref(), Some(i))?,
                program: self.steps(i, &h.app)?,
            });
        }
        let expectations = f
            .expect
            .iter()
            .enumerate()
            .map(|(i, e)| self.expectation(i, e))
            .collect::<Result<_, _>>()?;
        // Everything the engine checks was checked above with a location; this is a backstop.
        topology
            .validate()
            .map_err(|e| self.at.key("hosts", e.to_string()))?;
        // A scenario always has an end, and the end bounds virtual time: the engine's time cap
        // (for runs without an end) is the end itself, however far it lies.
        let end = SimTime::after(f.end.0);
        let limits = RunLimits {
            end: Some(end),
            max_events: f
                .limits
                .and_then(|l| l.max_events)
                .unwrap_or(RunLimits::default().max_events),
            max_time: end,
        };
        let randomize = self.randomize(&topology)?;
        Ok(Compiled {
            topology,
            hosts,
            limits,
            fault_optional,
            expectations,
            randomize,
        })
    }

    /// Resolves a host name written in item `index` of `section`.
    fn host(&self, section: &str, index: usize, name: &str) -> Result<HostId, ScenarioError> {
        match self.file.hosts.iter().position(|h| h.name == name) {
            Some(i) => Ok(HostId(i as u32)),
            None => {
                let known: Vec<&str> = self.file.hosts.iter().map(|h| h.name.as_str()).collect();
                Err(self.at.item(
                    section,
                    index,
                    &quoted(name),
                    format!("unknown host `{name}` (hosts are: {})", known.join(", ")),
                ))
            }
        }
    }

    fn link(
        &self,
        i: usize,
        def: &LinkDef,
        earlier: &[LinkSpec],
    ) -> Result<LinkSpec, ScenarioError> {
        let a = self.host("links", i, &def.a)?;
        let b = self.host("links", i, &def.b)?;
        let here = |msg: String| self.at.item("links", i, "Link", msg);
        if a == b {
            return Err(here(format!(
                "a link needs two different hosts, found `{}` at both ends",
                def.a
            )));
        }
        if earlier
            .iter()
            .any(|l| (l.a, l.b) == (a, b) || (l.a, l.b) == (b, a))
        {
            return Err(here(format!(
                "`{}` and `{}` are already linked",
                def.a, def.b
            )));
        }
        let shared = def.shared();
        let mut configs = Vec::with_capacity(2);
        for (from, to, over) in [(&def.a, &def.b, &def.a_to_b), (&def.b, &def.a, &def.b_to_a)] {
            let config = knobs(&shared, over.as_ref());
            if let Some(problem) = config.problem() {
                return Err(here(format!("{from} -> {to}: {problem}")));
            }
            configs.push(config);
        }
        let b_to_a = configs.pop().expect("two directions");
        let a_to_b = configs.pop().expect("two directions");
        Ok(LinkSpec {
            a,
            b,
            a_to_b,
            b_to_a,
        })
    }

    fn fault(&self, i: usize, def: &FaultDef) -> Result<FaultRule, ScenarioError> {
        let here = |msg: &str| self.at.item("faults", i, "Fault", msg.to_string());
        let resolve = |name: &Option<String>| {
            name.as_deref()
                .map(|n| self.host("faults", i, n))
                .transpose()
        };
        let flags = flag_match(def.flags, def.flags_contain).map_err(&here)?;
        for (what, range) in [("seq", def.seq), ("ack", def.ack)] {
            if let Some((lo, hi)) = range {
                if lo > hi {
                    return Err(here(&format!(
                        "{what} range ({lo}, {hi}) is empty: the first number must not exceed the second"
                    )));
                }
            }
        }
        // The sender's state is a TCP state name, or the label of an injected segment.
        if let Some(name) = def.state.as_deref() {
            if State::from_name(name).is_none() && name != netsim_engine::inject::INJECTED {
                return Err(here(&format!(
                    "unknown state `{name}` (expected one of {}, or `{}`)",
                    state_names(),
                    netsim_engine::inject::INJECTED
                )));
            }
        }
        let occurrence = match def.occurrence {
            OccurrenceDef::Nth(0) => {
                return Err(here("occurrences count from 1: Nth(0) would never fire"));
            }
            OccurrenceDef::Nth(n) => Occurrence::Nth(n),
            OccurrenceDef::Every => Occurrence::Every,
        };
        let action = match def.action {
            ActionDef::Drop => FaultAction::Drop,
            ActionDef::Delay(d) => FaultAction::Delay(d.0),
            ActionDef::Duplicate => FaultAction::Duplicate,
            ActionDef::HoldUntil(d) => FaultAction::Hold(Release::At(SimTime::after(d.0))),
            ActionDef::HoldForPackets(0) => {
                return Err(here("HoldForPackets(0) holds nothing; use at least 1"));
            }
            ActionDef::HoldForPackets(n) => FaultAction::Hold(Release::AfterPackets(n)),
        };
        Ok(FaultRule {
            filter: PacketFilter {
                from: resolve(&def.from)?,
                to: resolve(&def.to)?,
                src_port: def.src_port,
                dst_port: def.dst_port,
                flags,
                payload: def.payload,
                seq: def.seq,
                ack: def.ack,
                sender_state: def.state.clone(),
            },
            occurrence,
            action,
        })
    }

    fn event(&self, i: usize, def: &EventDef) -> Result<(SimTime, NetChange), ScenarioError> {
        let host = |name: &str| self.host("events", i, name);
        type Pairwise = fn(HostId, HostId, Direction) -> NetChange;
        let both =
            |change: Pairwise, (a, b): &(String, String)| -> Result<NetChange, ScenarioError> {
                Ok(change(host(a)?, host(b)?, Direction::Both))
            };
        let one_way =
            |change: Pairwise, from: &str, to: &str| -> Result<NetChange, ScenarioError> {
                Ok(change(host(from)?, host(to)?, Direction::OneWay))
            };
        let (at, change) = match def {
            EventDef::Partition { at, between } => (at, both(NetChange::Partition, between)?),
            EventDef::PartitionOneWay { at, from, to } => {
                (at, one_way(NetChange::Partition, from, to)?)
            }
            EventDef::Heal { at, between } => (at, both(NetChange::Heal, between)?),
            EventDef::HealOneWay { at, from, to } => (at, one_way(NetChange::Heal, from, to)?),
            EventDef::Hold { at, between } => (at, both(NetChange::Hold, between)?),
            EventDef::HoldOneWay { at, from, to } => (at, one_way(NetChange::Hold, from, to)?),
            EventDef::Release { at, between } => (at, both(NetChange::Release, between)?),
            EventDef::ReleaseOneWay { at, from, to } => {
                (at, one_way(NetChange::Release, from, to)?)
            }
            EventDef::Crash { at, host: h } => (at, NetChange::Crash(host(h)?)),
            EventDef::Restart { at, host: h } => (at, NetChange::Restart(host(h)?)),
            EventDef::Inject { .. } => unreachable!("injections are compiled by `injection`"),
        };
        if let NetChange::Partition(a, b, _)
        | NetChange::Heal(a, b, _)
        | NetChange::Hold(a, b, _)
        | NetChange::Release(a, b, _) = change
        {
            if a == b {
                return Err(self.at.item(
                    "events",
                    i,
                    "",
                    "a partition or hold needs two different hosts".into(),
                ));
            }
        }
        Ok((SimTime::after(at.0), change))
    }
}

impl Compiler<'_> {
    fn injection(&self, i: usize, def: &EventDef) -> Result<Injection, ScenarioError> {
        let EventDef::Inject {
            from,
            to,
            conn,
            src_port,
            dst_port,
            flags,
            seq,
            ack,
            len,
            window,
            options,
            ..
        } = def
        else {
            unreachable!("called for Inject events only");
        };
        let here = |needle: &str, msg: &str| self.at.item("events", i, needle, msg.to_string());
        let from_id = self.host("events", i, from)?;
        let to_id = self.host("events", i, to)?;
        if from_id == to_id {
            return Err(here("Inject", "a segment needs two different hosts"));
        }
        let ports = match (conn, src_port, dst_port) {
            (Some(0), _, _) => return Err(here("conn", "connections count from 1")),
            (Some(n), None, None) => InjectPorts::Conn(*n),
            (Some(_), _, _) => {
                return Err(here(
                    "conn",
                    "give `conn` or the ports (`src_port`, `dst_port`), not both: a connection has its ports",
                ));
            }
            (None, Some(src), Some(dst)) => InjectPorts::Ports {
                src: *src,
                dst: *dst,
            },
            (None, _, _) => {
                return Err(here(
                    "Inject",
                    "name a connection (`conn: 1`) or give both `src_port` and `dst_port`",
                ));
            }
        };
        let number = |what: &str, d: &SeqDef| -> Result<SeqRef, ScenarioError> {
            let (name, plus, relative): (&str, i64, fn(HostId, i64) -> SeqRef) = match d {
                SeqDef::Abs(v) => return Ok(SeqRef::Abs(*v)),
                SeqDef::SndNxt(n, plus) => (n, *plus, SeqRef::SndNxt),
                SeqDef::RcvNxt(n, plus) => (n, *plus, SeqRef::RcvNxt),
            };
            if conn.is_none() {
                return Err(here(what, "a number relative to a connection needs `conn`"));
            }
            let h = self.host("events", i, name)?;
            if h != from_id && h != to_id {
                return Err(here(
                    &quoted(name),
                    &format!("`{name}` is not an end of the segment (`{from}` -> `{to}`)"),
                ));
            }
            if plus.unsigned_abs() >= 1 << 31 {
                return Err(here(
                    what,
                    "the offset must lie within ±2^31 (sequence space is 2^32 around)",
                ));
            }
            Ok(relative(h, plus))
        };
        let has_ack = flags.0.contains(TcpFlags::ACK);
        let ack = match (ack, has_ack) {
            (Some(a), true) => number("ack", a)?,
            (None, false) => SeqRef::Abs(0),
            (None, true) => {
                return Err(here("flags", "the ACK flag (`.`) needs an `ack` number"));
            }
            (Some(_), false) => {
                return Err(here(
                    "ack",
                    "an `ack` number without the ACK flag (`.`) is not sent; add `.` to the flags",
                ));
            }
        };
        if *len > 1460 {
            return Err(here(
                "len",
                "a payload of at most 1460 bytes (one segment on a 1500-byte MTU)",
            ));
        }
        let mut opts = TcpOptions::default();
        for o in options {
            match *o {
                OptionDef::Mss(v) => opts.mss = Some(v),
                OptionDef::WindowScale(v) if v > 14 => {
                    return Err(here(
                        "WindowScale",
                        "a window scale shift of at most 14 (RFC 7323 §2.3)",
                    ));
                }
                OptionDef::WindowScale(v) => opts.window_scale = Some(v),
                OptionDef::SackPermitted => opts.sack_permitted = true,
                OptionDef::Timestamps(val, ecr) => opts.timestamps = Some(Timestamps { val, ecr }),
            }
        }
        Ok(Injection {
            from: from_id,
            to: to_id,
            ports,
            flags: flags.0,
            seq: number("seq", seq)?,
            ack,
            len: *len,
            window: *window,
            options: opts,
        })
    }
}

/// A filter's flags: `flags` (exact) or `flags_contain` (at least these), not both.
fn flag_match(
    exact: Option<Flags>,
    contain: Option<Flags>,
) -> Result<Option<FlagMatch>, &'static str> {
    match (exact, contain) {
        (Some(_), Some(_)) => Err("give either `flags` (exact) or `flags_contain`, not both"),
        (Some(f), None) => Ok(Some(FlagMatch::Exact(f.0))),
        (None, Some(f)) => Ok(Some(FlagMatch::Contains(f.0))),
        (None, None) => Ok(None),
    }
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// The settings of one direction: its override where given, else the shared value, else the
/// engine's ideal-wire default.
fn knobs(shared: &KnobsDef, over: Option<&KnobsDef>) -> LinkConfig {
    let pick = |f: fn(&KnobsDef) -> bool| over.filter(|o| f(o)).unwrap_or(shared);
    LinkConfig {
        latency: pick(|k| k.latency.is_some())
            .latency
            .map_or(SimDuration::ZERO, |d| d.0),
        jitter: pick(|k| k.jitter.is_some())
            .jitter
            .map_or(SimDuration::ZERO, |d| d.0),
        bandwidth_bps: pick(|k| k.bandwidth.is_some()).bandwidth.map(|b| b.0),
        queue: pick(|k| k.queue.is_some()).queue.map(|q| match q {
            QueueDef::Packets(n) => QueueLimit::Packets(n),
            QueueDef::Bytes(n) => QueueLimit::Bytes(n),
        }),
        loss: pick(|k| k.loss.is_some())
            .loss
            .map(|p| p.0)
            .unwrap_or_default(),
        duplicate: pick(|k| k.duplicate.is_some())
            .duplicate
            .map(|p| p.0)
            .unwrap_or_default(),
        reorder: pick(|k| k.reorder.is_some())
            .reorder
            .map(|p| p.0)
            .unwrap_or_default(),
        reorder_delay: pick(|k| k.reorder_delay.is_some())
            .reorder_delay
            .map_or(SimDuration::ZERO, |d| d.0),
        mtu_bytes: pick(|k| k.mtu.is_some()).mtu,
    }
}

/// Marker the locator finds a host's item by.
const HOSTS: &str = "hosts";

impl Compiler<'_> {
    /// TCP settings: `over` applied on top of `base` (host `host`'s, or the scenario's).
    fn tcp(
        &self,
        base: &TcpConfig,
        over: Option<&TcpDef>,
        host: Option<usize>,
    ) -> Result<TcpConfig, ScenarioError> {
        let here = |needle: &str, msg: String| match host {
            Some(i) => self.at.item(HOSTS, i, needle, msg),
            None => self.at.key("tcp", msg),
        };
        let Some(d) = over else {
            return Ok(base.clone());
        };
        let mut c = match &d.profile {
            Some(name) => TcpConfig::named(name).ok_or_else(|| {
                here(
                    &quoted(name),
                    format!("unknown TCP profile `{name}` (expected \"linux\" or \"rfc\")"),
                )
            })?,
            None => base.clone(),
        };
        macro_rules! set {
            ($field:ident) => {
                if let Some(v) = d.$field {
                    c.$field = v;
                }
            };
            ($field:ident, dur) => {
                if let Some(v) = d.$field {
                    c.$field = v.0;
                }
            };
        }
        set!(msl, dur);
        set!(fin_timeout, dur);
        set!(rto_initial, dur);
        set!(rto_min, dur);
        set!(rto_max, dur);
        set!(ephemeral_ports);
        set!(syn_retries);
        set!(synack_retries);
        set!(data_retries);
        set!(mss);
        set!(rcv_buf);
        set!(snd_buf);
        set!(window_scale);
        set!(timestamps);
        set!(nagle);
        set!(rfc1337);
        set!(tw_accept_new_syn);
        set!(tw_reuse);
        set!(closing_holds_socket);
        set!(somaxconn);
        if let Some(tw) = d.time_wait {
            c.time_wait = Some(tw.0);
        }
        if let Some(delay) = d.delayed_ack {
            c.delayed_ack = (!delay.0.is_zero()).then_some(delay.0);
        }
        if let Some(n) = d.initial_cwnd {
            c.initial_cwnd_segments = n;
        }
        if let Some(n) = d.max_time_wait {
            c.max_time_wait = (n > 0).then_some(n);
        }
        if let Some(n) = d.max_sockets {
            c.max_sockets = (n > 0).then_some(n);
        }
        if let Some(isn) = d.isn {
            c.isn = match isn {
                IsnDef::Rfc6528 => IsnMode::Rfc6528,
                IsnDef::Linux => IsnMode::Linux,
                IsnDef::Clock => IsnMode::Clock,
                IsnDef::Fixed(v) => IsnMode::Fixed(v),
            };
        }
        set!(syn_linear_timeouts);
        set!(sack);
        set!(rack);
        set!(tail_loss_probe);
        set!(keepalive_probes);
        set!(keepalive_time, dur);
        set!(keepalive_interval, dur);
        set!(timer_tick, dur);
        match (d.rcv_buf, d.rcv_buf_max) {
            (_, Some(max)) => c.rcv_buf_max = max,
            // A buffer set alone also sets the window scale, as SO_RCVBUF does on Linux.
            (Some(buf), None) => c.rcv_buf_max = buf,
            (None, None) => {}
        }
        if let Some(r) = d.rto {
            c.rto_rules = match r {
                RtoRulesDef::Rfc6298 => RtoRules::Rfc6298,
                RtoRulesDef::Linux => RtoRules::Linux,
            };
        }
        if let Some(a) = d.acks {
            c.ack_policy = match a {
                AckPolicyDef::Rfc1122 => AckPolicy::Rfc1122,
                AckPolicyDef::Linux => AckPolicy::Linux,
            };
        }
        if let Some(cc) = d.congestion {
            c.congestion = match cc {
                CongestionDef::NewReno => Congestion::NewReno,
                CongestionDef::LinuxReno => Congestion::LinuxReno,
            };
        }
        if let Some(w) = d.window {
            c.window_rules = match w {
                WindowRulesDef::Rfc => WindowRules::Rfc,
                WindowRulesDef::Linux => WindowRules::Linux,
            };
        }
        if let Some(problem) = c.problem() {
            return Err(here("tcp", format!("TCP settings: {problem}")));
        }
        Ok(c)
    }

    /// Compiles the script of host `host`.
    fn steps(&self, host: usize, defs: &[StepDef]) -> Result<Arc<[Step]>, ScenarioError> {
        defs.iter().map(|d| self.step(host, d)).collect()
    }

    fn step(&self, host: usize, def: &StepDef) -> Result<Step, ScenarioError> {
        let here = |needle: &str, msg: String| self.at.item(HOSTS, host, needle, msg);
        let port_ok = |port: u16, what: &str| {
            if port == 0 {
                Err(here(
                    what,
                    format!("{what}: port 0 is not a port (1..=65535)"),
                ))
            } else {
                Ok(port)
            }
        };
        Ok(match def {
            StepDef::Listen {
                port,
                backlog,
                reuse_addr,
            } => Step::Listen {
                port: port_ok(*port, "Listen")?,
                opts: Listen {
                    backlog: backlog.unwrap_or(128),
                    reuse_addr: *reuse_addr,
                },
            },
            StepDef::Serve {
                port,
                backlog,
                reuse_addr,
                steps,
            } => Step::Serve {
                port: port_ok(*port, "Serve")?,
                opts: Listen {
                    backlog: backlog.unwrap_or(128),
                    reuse_addr: *reuse_addr,
                },
                steps: self.steps(host, steps)?,
            },
            StepDef::Accept(port) => Step::Accept(port_ok(*port, "Accept")?),
            StepDef::Connect {
                to,
                port,
                from_port,
                reuse_addr,
            } => {
                let Some(peer) = self.file.hosts.iter().find(|h| &h.name == to) else {
                    let known: Vec<&str> =
                        self.file.hosts.iter().map(|h| h.name.as_str()).collect();
                    return Err(here(
                        &quoted(to),
                        format!(
                            "Connect: unknown host `{to}` (hosts are: {})",
                            known.join(", ")
                        ),
                    ));
                };
                Step::Connect {
                    to: SocketAddrV4::new(peer.addr, port_ok(*port, "Connect")?),
                    bind: Bind {
                        port: *from_port,
                        reuse_addr: *reuse_addr,
                    },
                }
            }
            StepDef::Send(n) => Step::Send(*n),
            StepDef::Recv(n) => Step::Recv(*n),
            StepDef::RecvEof => Step::RecvEof,
            StepDef::Shutdown => Step::Shutdown,
            StepDef::Close => Step::Close,
            StepDef::Abort => Step::Abort,
            StepDef::NoDelay => Step::NoDelay,
            StepDef::KeepAlive {
                idle,
                interval,
                probes,
            } => {
                let zero = idle.is_some_and(|d| d.0.is_zero())
                    || interval.is_some_and(|d| d.0.is_zero())
                    || *probes == Some(0);
                if zero {
                    return Err(here(
                        "KeepAlive",
                        "keep-alive needs an idle time and an interval above 0 and at least one probe".into(),
                    ));
                }
                let max = netsim_tcp::KEEPALIVE_TIME_MAX;
                if idle.is_some_and(|d| d.0 > max)
                    || interval.is_some_and(|d| d.0 > max)
                    || probes.is_some_and(|p| p > netsim_tcp::KEEPALIVE_PROBES_MAX)
                {
                    return Err(here(
                        "KeepAlive",
                        format!(
                            "keep-alive idle and interval are at most {max} and probes at most {} (Linux MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT)",
                            netsim_tcp::KEEPALIVE_PROBES_MAX
                        ),
                    ));
                }
                Step::KeepAlive {
                    idle: idle.map(|d| d.0),
                    interval: interval.map(|d| d.0),
                    probes: *probes,
                }
            }
            StepDef::Sleep(d) => Step::Sleep(d.0),
            StepDef::Repeat { count, steps } => {
                let step = Step::Repeat {
                    count: *count,
                    steps: self.steps(host, steps)?,
                };
                let max = crate::script::INSTANT_STEPS_MAX;
                if let Some(n) = Step::instant_steps(std::slice::from_ref(&step)) {
                    if n > max {
                        return Err(here(
                            "Repeat",
                            format!(
                                "Repeat: {count} passes of steps that never wait (no Sleep, Connect, Accept, or Send or Recv of at least one byte) would run {n} steps at one instant, at most {max}"
                            ),
                        ));
                    }
                }
                step
            }
            StepDef::Spawn {
                count,
                every,
                steps,
            } => {
                if *count > 1 && every.0.is_zero() {
                    return Err(here("Spawn", "Spawn: `every` must be above 0s when count > 1 (use Repeat for a burst in one task)".into()));
                }
                Step::Spawn {
                    count: *count,
                    every: every.0,
                    steps: self.steps(host, steps)?,
                }
            }
        })
    }

    fn expectation(&self, i: usize, def: &ExpectDef) -> Result<Expectation, ScenarioError> {
        let here = |needle: &str, msg: String| self.at.item("expect", i, needle, msg);
        let host = |name: &str| self.host("expect", i, name);
        let state = |name: &str| {
            State::from_name(name).ok_or_else(|| {
                here(
                    &quoted(name),
                    format!("unknown state `{name}` (expected one of {})", state_names()),
                )
            })
        };
        let bounds = |at_least: Option<u64>,
                      at_most: Option<u64>,
                      exactly: Option<u64>,
                      default: Option<Bounds>| {
            let b = Bounds {
                at_least,
                at_most,
                exactly,
            };
            if b == Bounds::default() {
                return default.ok_or_else(|| here("", "give at_least, at_most or exactly".into()));
            }
            Ok(b)
        };
        Ok(match def {
            ExpectDef::Path { host: h, conn, states } => {
                if *conn == 0 {
                    return Err(here("conn", "connections count from 1".into()));
                }
                Expectation::Path {
                    host: host(h)?,
                    conn: *conn,
                    states: states.iter().map(|s| state(s)).collect::<Result<_, _>>()?,
                }
            }
            ExpectDef::Error {
                host: h,
                errno,
                at_least,
                at_most,
                exactly,
            } => Expectation::Error {
                host: host(h)?,
                errno: Errno::from_name(errno).ok_or_else(|| {
                    here(&quoted(errno), format!("unknown error `{errno}` (expected a name such as ECONNRESET, ECONNREFUSED, ETIMEDOUT, EADDRINUSE, EADDRNOTAVAIL, EMFILE, EPIPE)"))
                })?,
                bounds: bounds(*at_least, *at_most, *exactly, Some(Bounds {
                    at_least: Some(1),
                    ..Bounds::default()
                }))?,
            },
            ExpectDef::Unfinished {
                host: h,
                at_least,
                at_most,
                exactly,
            } => Expectation::Unfinished {
                host: host(h)?,
                bounds: bounds(
                    *at_least,
                    *at_most,
                    *exactly,
                    Some(Bounds {
                        at_least: Some(1),
                        ..Bounds::default()
                    }),
                )?,
            },
            ExpectDef::Received {
                host: h,
                at_least,
                at_most,
                exactly,
            } => Expectation::Received {
                host: host(h)?,
                bounds: bounds(*at_least, *at_most, *exactly, None)?,
            },
            ExpectDef::Count {
                host: h,
                counter,
                at_least,
                at_most,
                exactly,
            } => Expectation::Count {
                host: host(h)?,
                counter: *counter,
                bounds: bounds(*at_least, *at_most, *exactly, None)?,
            },
            ExpectDef::Peak {
                host: h,
                state: s,
                at_least,
                at_most,
                exactly,
            } => Expectation::Peak {
                host: host(h)?,
                state: state(s)?,
                bounds: bounds(*at_least, *at_most, *exactly, None)?,
            },
            ExpectDef::AtEnd {
                host: h,
                state: s,
                at_least,
                at_most,
                exactly,
            } => Expectation::AtEnd {
                host: host(h)?,
                state: state(s)?,
                bounds: bounds(*at_least, *at_most, *exactly, None)?,
            },
            ExpectDef::Established {
                host: h,
                from,
                to,
                at_least,
                at_most,
                exactly,
            } => {
                if to.0 <= from.0 {
                    return Err(here("to", "the window is empty: `to` must be later than `from`".into()));
                }
                Expectation::Established {
                    host: host(h)?,
                    from: SimTime::after(from.0),
                    to: SimTime::after(to.0),
                    bounds: bounds(*at_least, *at_most, *exactly, None)?,
                }
            }
            ExpectDef::Sent {
                host: h,
                to,
                flags,
                flags_contain,
                payload,
                between: (from, until),
                at_least,
                at_most,
                exactly,
            } => {
                if until.0 < from.0 {
                    return Err(here("between", "the window is empty: its end is earlier than its start".into()));
                }
                let flags = flag_match(*flags, *flags_contain).map_err(|m| here("flags", m.into()))?;
                Expectation::Sent {
                    window: SentWindow {
                        filter: PacketFilter {
                            from: Some(host(h)?),
                            to: to.as_deref().map(host).transpose()?,
                            flags,
                            payload: *payload,
                            ..PacketFilter::default()
                        },
                        from: SimTime::after(from.0),
                        to: SimTime::after(until.0),
                    },
                    bounds: bounds(*at_least, *at_most, *exactly, None)?,
                }
            }
            ExpectDef::Violation(v) => Expectation::Violation(*v),
        })
    }
}

impl Compiler<'_> {
    fn randomize(&self, topology: &Topology) -> Result<Vec<RandomItem>, ScenarioError> {
        let Some(def) = &self.file.randomize else {
            return Ok(Vec::new());
        };
        let mut items = Vec::new();
        for (i, l) in def.links.iter().enumerate() {
            let here = |msg: String| self.at.item("randomize", i, "Link", msg);
            let a = self.host("randomize", i, &l.a)?;
            let b = self.host("randomize", i, &l.b)?;
            let Some(link) = topology
                .links
                .iter()
                .position(|s| (s.a, s.b) == (a, b) || (s.a, s.b) == (b, a))
            else {
                return Err(here(format!(
                    "there is no link between `{}` and `{}` to randomise",
                    l.a, l.b
                )));
            };
            let probs = [
                (Knob::Loss, l.loss),
                (Knob::Duplicate, l.duplicate),
                (Knob::Reorder, l.reorder),
            ];
            for (knob, range) in probs {
                if let Some((lo, hi)) = range {
                    let (lo, hi) = (lo.0.get(), hi.0.get());
                    if lo > hi {
                        return Err(here(format!("{knob:?} range ({lo}, {hi}) is empty")));
                    }
                    items.push(RandomItem::Link {
                        link,
                        knob,
                        range: Range::Prob(lo, hi),
                    });
                }
            }
            let durs = [
                (Knob::ReorderDelay, l.reorder_delay),
                (Knob::Latency, l.latency),
                (Knob::Jitter, l.jitter),
                (Knob::ExtraDelay, l.extra_delay),
            ];
            for (knob, range) in durs {
                if let Some((lo, hi)) = range {
                    if lo.0 > hi.0 {
                        return Err(here(format!(
                            "{knob:?} range ({}, {}) is empty",
                            lo.0, hi.0
                        )));
                    }
                    items.push(RandomItem::Link {
                        link,
                        knob,
                        range: Range::Dur(lo.0, hi.0),
                    });
                }
            }
            let reorders = l.reorder.is_some_and(|(_, hi)| !hi.0.is_never());
            let has_delay =
                l.reorder_delay.is_some() || !topology.links[link].a_to_b.reorder_delay.is_zero();
            if reorders && !has_delay {
                return Err(here(
                    "a reorder probability needs a reorder_delay (on the link or here)".into(),
                ));
            }
        }
        if let Some(c) = &def.crash {
            let host = self.host("randomize", 0, &c.host)?;
            if c.between.0.0 > c.between.1.0 || c.down_for.0.0 > c.down_for.1.0 {
                return Err(self
                    .at
                    .key("crash", "crash ranges must go from low to high"));
            }
            items.push(RandomItem::Crash {
                host,
                between: (c.between.0.0, c.between.1.0),
                down_for: (c.down_for.0.0, c.down_for.1.0),
            });
        }
        Ok(items)
    }
}

/// The TCP state names a scenario may use, as the trace prints them.
fn state_names() -> String {
    State::ALL.map(State::name).join(", ")
}
