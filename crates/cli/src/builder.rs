//! [`Builder`]: a world described in Rust, or loaded from a scenario file, before it runs.

use std::collections::BTreeMap;
use std::path::Path;

use netsim_core::SimDuration;
use netsim_engine::Probability;
use netsim_host::App;
use netsim_scenario::format::{
    EventDef, FaultDef, HostDef, KnobsDef, LinkDef, QueueDef, ScenarioFile, StepDef, TcpDef,
};
use netsim_scenario::units::{Bandwidth, Dur, Prob};

use crate::bytes::ByteOracle;
use crate::sim::{Error, Sim};

/// A world being described: hosts (each with an application of yours or a script), links,
/// faults, scheduled events, expectations and TCP settings, as a scenario file has them. The
/// world is checked as a scenario file is when it is built ([`Builder::build`]), with the same
/// errors; [`Builder::to_ron`] shows it as a file.
///
/// ```
/// use netsim::{Builder, Link, SimDuration};
///
/// let builder = Builder::new("two hosts")
///     .seed(7)
///     .end(SimDuration::from_secs(10))
///     .script_host("client", "10.0.0.1", r#"[Connect(to: "server", port: 80), Send(100), Close]"#)
///     .script_host("server", "10.0.0.2", "[Serve(port: 80, steps: [Recv(100), RecvEof, Close])]")
///     .link("client", "server", Link::new().latency(SimDuration::from_millis(5)).loss(0.01))
///     .faults(r#"[Fault(from: "client", flags: "F.", occurrence: Nth(1), action: Drop)]"#)
///     .expect(r#"[Count(host: "client", counter: FinRetransmits, exactly: 1)]"#);
/// assert!(builder.to_ron().contains("loss: 0.01"));
/// let outcome = builder.build().unwrap().run().unwrap();
/// assert!(outcome.passed(), "{}", outcome.summary());
/// ```
pub struct Builder {
    file: ScenarioFile,
    apps: BTreeMap<String, Box<dyn App>>,
    oracle: ByteOracle,
    problems: Vec<String>,
}

impl Builder {
    /// An empty world named `name`: seed 1, ending at 60 s of virtual time.
    pub fn new(name: &str) -> Builder {
        Builder::with_file(ScenarioFile {
            name: name.to_string(),
            description: String::new(),
            seed: 1,
            end: Dur(SimDuration::from_secs(60)),
            lifetime: None,
            limits: None,
            hosts: Vec::new(),
            links: Vec::new(),
            faults: Vec::new(),
            events: Vec::new(),
            tcp: None,
            expect: Vec::new(),
            randomize: None,
            kernel: None,
        })
    }

    /// The world of a scenario file (checked now: a bad file is an error with its place).
    /// Its hosts run their scripts unless [`Builder::app`] gives one another application.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Builder, Error> {
        let scenario = netsim_scenario::load(path.as_ref())?;
        Ok(Builder::with_file(scenario.file))
    }

    /// The world of scenario text (`path` names it in errors).
    pub fn from_ron(text: &str, path: &str) -> Result<Builder, Error> {
        let scenario = netsim_scenario::parse(text, path)?;
        Ok(Builder::with_file(scenario.file))
    }

    fn with_file(file: ScenarioFile) -> Builder {
        Builder {
            file,
            apps: BTreeMap::new(),
            oracle: ByteOracle::new(),
            problems: Vec::new(),
        }
    }

    /// The seed of every random choice (links, ISNs, ports).
    pub fn seed(mut self, seed: u64) -> Builder {
        self.file.seed = seed;
        self
    }

    /// When the run ends, in virtual time from its start.
    pub fn end(mut self, end: SimDuration) -> Builder {
        self.file.end = Dur(end);
        self
    }

    /// A sentence on what the world shows (in the summary).
    pub fn description(mut self, text: &str) -> Builder {
        self.file.description = text.to_string();
        self
    }

    /// The network's maximum segment lifetime: a packet older than this is discarded.
    pub fn lifetime(mut self, lifetime: SimDuration) -> Builder {
        self.file.lifetime = Some(Dur(lifetime));
        self
    }

    /// A run stops with an error after this many events (a runaway, not a result).
    pub fn max_events(mut self, events: u64) -> Builder {
        self.file.limits = Some(netsim_scenario::format::LimitsDef {
            max_events: Some(events),
        });
        self
    }

    /// A host at IPv4 address `addr` running `app`, an application of yours.
    pub fn host(mut self, name: &str, addr: &str, app: impl App + 'static) -> Builder {
        self = self.script_host(name, addr, "[]");
        self.apps.insert(name.to_string(), Box::new(app));
        self
    }

    /// A host running a script, written as a scenario file's `app: [...]`
    /// (scenarios/README.md).
    pub fn script_host(mut self, name: &str, addr: &str, script: &str) -> Builder {
        let Ok(addr) = addr.parse() else {
            self.problems
                .push(format!("host `{name}`: `{addr}` is not an IPv4 address"));
            return self;
        };
        let app: Vec<StepDef> = match ron_value(script) {
            Ok(steps) => steps,
            Err(e) => {
                self.problems
                    .push(format!("host `{name}`: its script: {e}"));
                Vec::new()
            }
        };
        self.file.hosts.push(HostDef {
            name: name.to_string(),
            addr,
            tcp: None,
            app,
        });
        self
    }

    /// Host `name` (of a loaded file, say) runs `app` instead of its script.
    pub fn app(mut self, name: &str, app: impl App + 'static) -> Builder {
        if !self.file.hosts.iter().any(|h| h.name == name) {
            self.problems
                .push(format!("app: there is no host `{name}`"));
        }
        self.apps.insert(name.to_string(), Box::new(app));
        self
    }

    /// TCP settings of every host, written as a scenario file's `tcp: (...)`, e.g.
    /// `(profile: "rfc", time_wait: "0s")`.
    pub fn tcp(mut self, settings: &str) -> Builder {
        match ron_value::<TcpDef>(settings) {
            Ok(tcp) => self.file.tcp = Some(tcp),
            Err(e) => self.problems.push(format!("tcp: {e}")),
        }
        self
    }

    /// TCP settings of host `name`, over the world's.
    pub fn host_tcp(mut self, name: &str, settings: &str) -> Builder {
        let parsed = ron_value::<TcpDef>(settings);
        match (self.file.hosts.iter_mut().find(|h| h.name == name), parsed) {
            (Some(host), Ok(tcp)) => host.tcp = Some(tcp),
            (None, _) => self
                .problems
                .push(format!("host_tcp: there is no host `{name}`")),
            (_, Err(e)) => self.problems.push(format!("host `{name}`: tcp: {e}")),
        }
        self
    }

    /// A link between hosts `a` and `b` with `link`'s knobs (both directions).
    pub fn link(mut self, a: &str, b: &str, link: Link) -> Builder {
        self.problems.extend(link.problems);
        let k = link.knobs;
        self.file.links.push(LinkDef {
            a: a.to_string(),
            b: b.to_string(),
            latency: k.latency,
            jitter: k.jitter,
            bandwidth: k.bandwidth,
            queue: k.queue,
            loss: k.loss,
            duplicate: k.duplicate,
            reorder: k.reorder,
            reorder_delay: k.reorder_delay,
            mtu: k.mtu,
            a_to_b: None,
            b_to_a: None,
        });
        self
    }

    /// A targeted fault (see scenarios/README.md, "Faults").
    pub fn fault(mut self, fault: FaultDef) -> Builder {
        self.file.faults.push(fault);
        self
    }

    /// Faults written as a scenario file's `faults: [...]`.
    pub fn faults(self, text: &str) -> Builder {
        self.extend("faults", text, |f| &mut f.faults)
    }

    /// A scheduled network change (partition, heal, crash, restart, a crafted segment).
    pub fn event(mut self, event: EventDef) -> Builder {
        self.file.events.push(event);
        self
    }

    /// Events written as a scenario file's `events: [...]`.
    pub fn events(self, text: &str) -> Builder {
        self.extend("events", text, |f| &mut f.events)
    }

    /// Expectations written as a scenario file's `expect: [...]`: checked after the run,
    /// with the default oracles.
    pub fn expect(self, text: &str) -> Builder {
        self.extend("expect", text, |f| &mut f.expect)
    }

    /// Reads the list `text` as the file's `field` writes it and appends it there.
    fn extend<T: serde::de::DeserializeOwned>(
        mut self,
        field: &str,
        text: &str,
        list: impl FnOnce(&mut ScenarioFile) -> &mut Vec<T>,
    ) -> Builder {
        match ron_value::<Vec<T>>(text) {
            Ok(items) => list(&mut self.file).extend(items),
            Err(e) => self.problems.push(format!("{field}: {e}")),
        }
        self
    }

    /// The byte-stream oracle of this world, for applications of yours to join their
    /// connections and check what they read (see [`ByteOracle`]); what it finds fails the
    /// run's "byte streams intact" check.
    pub fn oracle(&self) -> ByteOracle {
        self.oracle.clone()
    }

    /// The world as a scenario file says it (the applications of yours aside).
    pub fn file(&self) -> &ScenarioFile {
        &self.file
    }

    /// The world as scenario text.
    pub fn to_ron(&self) -> String {
        netsim_scenario::to_ron(&self.file)
    }

    /// Checks the world as a scenario file is checked and readies its run.
    pub fn build(self) -> Result<Sim, Error> {
        if let Some(first) = self.problems.first() {
            return Err(Error::Build(first.clone()));
        }
        let text = self.to_ron();
        let scenario = netsim_scenario::parse(&text, &format!("<{}>", self.file.name))?;
        let mut apps = self.apps;
        let hosts: Vec<Option<Box<dyn App>>> = scenario
            .file
            .hosts
            .iter()
            .map(|h| apps.remove(&h.name))
            .collect();
        if let Some(name) = apps.keys().next() {
            return Err(Error::Build(format!("app: there is no host `{name}`")));
        }
        Ok(Sim::new(scenario, hosts, self.oracle))
    }
}

/// A value of the scenario format read from RON text, with its line and column on error.
fn ron_value<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .map_err(|e| format!("{}:{}: {}", e.span.start.line, e.span.start.col, e.code))
}

/// A link's knobs, for both directions.
///
/// ```
/// use netsim::{Link, SimDuration};
/// let lossy = Link::new()
///     .latency(SimDuration::from_millis(20))
///     .jitter(SimDuration::from_millis(2))
///     .loss(0.02)
///     .reorder(0.05, SimDuration::from_millis(30))
///     .bandwidth_bps(10_000_000);
/// # let _ = lossy;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Link {
    knobs: KnobsDef,
    problems: Vec<String>,
}

impl Link {
    /// An ideal wire: no delay, no loss, no limit.
    pub fn new() -> Link {
        Link::default()
    }
    /// Propagation delay.
    pub fn latency(mut self, d: SimDuration) -> Link {
        self.knobs.latency = Some(Dur(d));
        self
    }
    /// Uniform extra delay in `[0, d]` per packet.
    pub fn jitter(mut self, d: SimDuration) -> Link {
        self.knobs.jitter = Some(Dur(d));
        self
    }
    /// Serialisation rate in bits per second.
    pub fn bandwidth_bps(mut self, bps: u64) -> Link {
        self.knobs.bandwidth = Some(Bandwidth(bps));
        self
    }
    /// Drop-tail queue of this many packets (with a bandwidth).
    pub fn queue_packets(mut self, n: u32) -> Link {
        self.knobs.queue = Some(QueueDef::Packets(n));
        self
    }
    /// Largest IPv4 packet in bytes.
    pub fn mtu(mut self, bytes: u32) -> Link {
        self.knobs.mtu = Some(bytes);
        self
    }
    /// Loss probability.
    pub fn loss(mut self, p: f64) -> Link {
        self.knobs.loss = self.prob("loss", p);
        self
    }
    /// Duplication probability.
    pub fn duplicate(mut self, p: f64) -> Link {
        self.knobs.duplicate = self.prob("duplicate", p);
        self
    }
    /// Reordering: probability `p` that a packet is held back by `delay` more.
    pub fn reorder(mut self, p: f64, delay: SimDuration) -> Link {
        self.knobs.reorder = self.prob("reorder", p);
        self.knobs.reorder_delay = Some(Dur(delay));
        self
    }

    fn prob(&mut self, knob: &str, p: f64) -> Option<Prob> {
        let prob = Probability::new(p).map(Prob);
        if prob.is_none() {
            self.problems
                .push(format!("link {knob}: {p} is not a probability (0 to 1)"));
        }
        prob
    }
}
