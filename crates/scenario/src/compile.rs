//! Turns a parsed [`ScenarioFile`] into what the engine runs: a [`Topology`], one traffic plan
//! per host and the run limits. Every name is resolved and every value checked here; a problem
//! is a [`ScenarioError`] pointing at the line and column of the offending text.

use netsim_core::{Packet, Segment, Seq, SimDuration, SimTime, TcpFlags};
use netsim_engine::{
    Direction, FaultAction, FaultRule, FlagMatch, HostId, LinkConfig, LinkSpec, NetChange,
    Occurrence, PacketFilter, Planned, QueueLimit, Release, RunLimits, Topology,
};

use crate::error::{Locator, ScenarioError};
use crate::format::{
    ActionDef, EventDef, FaultDef, KnobsDef, LinkDef, OccurrenceDef, ProbeDef, QueueDef,
    ScenarioFile,
};

/// A scenario ready to run any number of times, with any seed.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The network.
    pub topology: Topology,
    /// Per host, the raw packets it sends.
    pub plans: Vec<Vec<Planned>>,
    /// End time and caps.
    pub limits: RunLimits,
    /// Per fault rule: may it never fire without failing the run?
    pub fault_optional: Vec<bool>,
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
        topology.lifetime = f.lifetime.map(|l| l.0);
        for (i, link) in f.links.iter().enumerate() {
            topology.links.push(self.link(i, link, &topology.links)?);
        }
        let mut fault_optional = Vec::new();
        for (i, fault) in f.faults.iter().enumerate() {
            topology.faults.push(self.fault(i, fault)?);
            fault_optional.push(fault.optional);
        }
        for (i, event) in f.events.iter().enumerate() {
            topology.schedule.push(self.event(i, event)?);
        }
        let mut plans = vec![Vec::new(); f.hosts.len()];
        for (i, probe) in f.traffic.iter().enumerate() {
            let (from, planned) = self.probe(i, probe)?;
            plans[from.0 as usize].extend(planned);
        }
        // Everything the engine checks was checked above with a location; this is a backstop.
        topology
            .validate()
            .map_err(|e| self.at.key("hosts", e.to_string()))?;
        let limits = RunLimits {
            end: Some(SimTime::after(f.end.0)),
            max_events: f
                .limits
                .and_then(|l| l.max_events)
                .unwrap_or(RunLimits::default().max_events),
            ..RunLimits::default()
        };
        Ok(Compiled {
            topology,
            plans,
            limits,
            fault_optional,
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
        let flags = match (def.flags, def.flags_contain) {
            (Some(_), Some(_)) => {
                return Err(here(
                    "give either `flags` (exact) or `flags_contain`, not both",
                ));
            }
            (Some(f), None) => Some(FlagMatch::Exact(f.0)),
            (None, Some(f)) => Some(FlagMatch::Contains(f.0)),
            (None, None) => None,
        };
        for (what, range) in [("seq", def.seq), ("ack", def.ack)] {
            if let Some((lo, hi)) = range {
                if lo > hi {
                    return Err(here(&format!(
                        "{what} range ({lo}, {hi}) is empty: the first number must not exceed the second"
                    )));
                }
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
        let (at, change) = match def {
            EventDef::Partition { at, between } => (
                at,
                NetChange::Partition(host(&between.0)?, host(&between.1)?, Direction::Both),
            ),
            EventDef::PartitionOneWay { at, from, to } => (
                at,
                NetChange::Partition(host(from)?, host(to)?, Direction::OneWay),
            ),
            EventDef::Heal { at, between } => (
                at,
                NetChange::Heal(host(&between.0)?, host(&between.1)?, Direction::Both),
            ),
            EventDef::HealOneWay { at, from, to } => (
                at,
                NetChange::Heal(host(from)?, host(to)?, Direction::OneWay),
            ),
            EventDef::Crash { at, host: h } => (at, NetChange::Crash(host(h)?)),
            EventDef::Restart { at, host: h } => (at, NetChange::Restart(host(h)?)),
        };
        if let NetChange::Partition(a, b, _) | NetChange::Heal(a, b, _) = change {
            if a == b {
                return Err(self.at.item(
                    "events",
                    i,
                    "",
                    "a partition needs two different hosts".into(),
                ));
            }
        }
        Ok((SimTime::after(at.0), change))
    }

    fn probe(&self, i: usize, def: &ProbeDef) -> Result<(HostId, Vec<Planned>), ScenarioError> {
        let from = self.host("traffic", i, &def.from)?;
        let to = self.host("traffic", i, &def.to)?;
        if def.count == 0 {
            return Err(self
                .at
                .item("traffic", i, "count", "count must be at least 1".into()));
        }
        let hosts = &self.file.hosts;
        let flags = def.flags.map_or(TcpFlags::ACK, |f| f.0);
        let planned = (0..def.count)
            .map(|n| Planned {
                at: SimTime::after(def.start.0 + def.every.0 * u64::from(n)),
                packet: Packet {
                    src: hosts[from.0 as usize].addr,
                    dst: hosts[to.0 as usize].addr,
                    segment: Segment {
                        src_port: def.src_port.unwrap_or(1000),
                        dst_port: def.dst_port.unwrap_or(2000),
                        seq: Seq(n),
                        flags,
                        window: 65535,
                        payload: vec![0; def.payload as usize],
                        ..Segment::default()
                    },
                },
                label: "PROBE",
            })
            .collect();
        Ok((from, planned))
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
