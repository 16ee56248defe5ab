//! The whole simulator on small random scenarios. The input describes a scenario (a client
//! and a server, sometimes a second client; a link with every knob; TCP settings; scripts;
//! faults; network events with crafted segments; randomised faults; expectations), which is
//! written out as RON text and read back with `netsim_scenario::parse`, as `netsim check`
//! reads a file. Whatever it accepts is run with a seed from the input, capped at
//! `MAX_EVENTS` events, its trace rendered as text and its summary written. The contract:
//! whatever `check` accepts, `run` runs without a panic for any seed. A run that reaches a
//! cap is an error, not a bug. Some inputs run twice to check that the trace hash repeats.

#![no_main]

use std::fmt::Write;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netsim_core::TcpFlags;
use netsim_engine::TextWriter;

/// Events a run may take: small scenarios end well within it; a busy one stops at the cap.
const MAX_EVENTS: u64 = 20_000;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum HostPick {
    Client,
    Server,
    Other,
}

impl HostPick {
    fn name(self) -> &'static str {
        match self {
            HostPick::Client => "client",
            HostPick::Server => "server",
            HostPick::Other => "other",
        }
    }
}

/// A duration as the file writes it: mostly short, sometimes at an edge.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dur {
    Zero,
    Us(u16),
    Ms(u16),
    S(u8),
    Day,
    Max,
    Ns(u64),
}

impl Dur {
    fn text(self) -> String {
        match self {
            Dur::Zero => "0s".into(),
            Dur::Us(n) => format!("{n}us"),
            Dur::Ms(n) => format!("{n}ms"),
            Dur::S(n) => format!("{n}s"),
            Dur::Day => "24h".into(),
            Dur::Max => "18446744073709551615ns".into(),
            Dur::Ns(n) => format!("{n}ns"),
        }
    }
}

/// A count: mostly small, sometimes at an edge.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Count {
    Small(u8),
    Edge(u32),
}

impl Count {
    fn get(self) -> u64 {
        match self {
            Count::Small(n) => u64::from(n),
            Count::Edge(n) => u64::from(n),
        }
    }
}

/// A probability in 1/255 steps.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Prob(u8);

impl Prob {
    fn text(self) -> String {
        format!("{:?}", f64::from(self.0) / 255.0)
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Port {
    P80,
    P81,
    Any(u16),
}

impl Port {
    fn get(self) -> u16 {
        match self {
            Port::P80 => 80,
            Port::P81 => 81,
            Port::Any(n) => n,
        }
    }
}

/// A step that holds no other steps.
#[derive(Arbitrary, Debug)]
enum Leaf {
    Connect {
        port: Port,
        from_port: Option<Port>,
        reuse_addr: bool,
    },
    Listen {
        port: Port,
        backlog: Option<u8>,
        reuse_addr: bool,
    },
    Accept(Port),
    Send(Count),
    Recv(Count),
    RecvEof,
    Shutdown,
    Close,
    Abort,
    NoDelay,
    KeepAlive {
        idle: Option<Dur>,
        interval: Option<Dur>,
        probes: Option<u8>,
    },
    Sleep(Dur),
}

impl Leaf {
    fn text(&self, peer: &str) -> String {
        match self {
            Leaf::Connect {
                port,
                from_port,
                reuse_addr,
            } => {
                let from = from_port.map_or(String::new(), |p| format!(", from_port: {}", p.get()));
                format!(
                    "Connect(to: \"{peer}\", port: {}{from}, reuse_addr: {reuse_addr})",
                    port.get()
                )
            }
            Leaf::Listen {
                port,
                backlog,
                reuse_addr,
            } => {
                let backlog = backlog.map_or(String::new(), |b| format!(", backlog: {b}"));
                format!(
                    "Listen(port: {}{backlog}, reuse_addr: {reuse_addr})",
                    port.get()
                )
            }
            Leaf::Accept(p) => format!("Accept({})", p.get()),
            Leaf::Send(n) => format!("Send({})", n.get()),
            Leaf::Recv(n) => format!("Recv({})", n.get()),
            Leaf::RecvEof => "RecvEof".into(),
            Leaf::Shutdown => "Shutdown".into(),
            Leaf::Close => "Close".into(),
            Leaf::Abort => "Abort".into(),
            Leaf::NoDelay => "NoDelay".into(),
            Leaf::KeepAlive {
                idle,
                interval,
                probes,
            } => {
                let mut fields = Vec::new();
                if let Some(d) = idle {
                    fields.push(format!("idle: \"{}\"", d.text()));
                }
                if let Some(d) = interval {
                    fields.push(format!("interval: \"{}\"", d.text()));
                }
                if let Some(n) = probes {
                    fields.push(format!("probes: {n}"));
                }
                format!("KeepAlive({})", fields.join(", "))
            }
            Leaf::Sleep(d) => format!("Sleep(\"{}\")", d.text()),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Step {
    Leaf(Leaf),
    Repeat {
        count: Count,
        steps: Vec<Leaf>,
    },
    Spawn {
        count: Count,
        every: Dur,
        steps: Vec<Leaf>,
    },
    Serve {
        port: Port,
        backlog: Option<u8>,
        steps: Vec<Leaf>,
    },
}

/// At most `n` items of a list, so that one input stays a small scenario.
fn few<T>(items: &[T], n: usize) -> &[T] {
    &items[..items.len().min(n)]
}

fn leaves(steps: &[Leaf], peer: &str) -> String {
    let texts: Vec<String> = few(steps, 6).iter().map(|s| s.text(peer)).collect();
    texts.join(", ")
}

impl Step {
    fn text(&self, peer: &str) -> String {
        match self {
            Step::Leaf(l) => l.text(peer),
            Step::Repeat { count, steps } => format!(
                "Repeat(count: {}, steps: [{}])",
                count.get(),
                leaves(steps, peer)
            ),
            Step::Spawn {
                count,
                every,
                steps,
            } => format!(
                "Spawn(count: {}, every: \"{}\", steps: [{}])",
                count.get(),
                every.text(),
                leaves(steps, peer)
            ),
            Step::Serve {
                port,
                backlog,
                steps,
            } => {
                let backlog = backlog.map_or(String::new(), |b| format!(", backlog: {b}"));
                format!(
                    "Serve(port: {}{backlog}, steps: [{}])",
                    port.get(),
                    leaves(steps, peer)
                )
            }
        }
    }
}

/// TCP overrides; each `None` keeps the profile's value.
#[derive(Arbitrary, Debug)]
struct Tcp {
    rfc: Option<bool>,
    msl: Option<Dur>,
    time_wait: Option<Dur>,
    fin_timeout: Option<Dur>,
    ephemeral_ports: Option<(u16, u16)>,
    rto_initial: Option<Dur>,
    rto_min: Option<Dur>,
    rto_max: Option<Dur>,
    syn_retries: Option<u8>,
    data_retries: Option<u8>,
    mss: Option<u16>,
    rcv_buf: Option<u32>,
    snd_buf: Option<u32>,
    window_scale: Option<bool>,
    timestamps: Option<bool>,
    delayed_ack: Option<Dur>,
    nagle: Option<bool>,
    initial_cwnd: Option<u16>,
    rfc1337: Option<bool>,
    tw_reuse: Option<bool>,
    max_time_wait: Option<u8>,
    max_sockets: Option<u8>,
    isn_fixed: Option<u32>,
    sack: Option<bool>,
    rack: Option<bool>,
    tail_loss_probe: Option<bool>,
    keepalive_time: Option<Dur>,
    timer_tick: Option<Dur>,
}

impl Tcp {
    fn text(&self) -> String {
        let mut f = Vec::new();
        let dur = |f: &mut Vec<String>, name: &str, d: Option<Dur>| {
            if let Some(d) = d {
                f.push(format!("{name}: \"{}\"", d.text()));
            }
        };
        let val = |f: &mut Vec<String>, name: &str, v: Option<String>| {
            if let Some(v) = v {
                f.push(format!("{name}: {v}"));
            }
        };
        if let Some(rfc) = self.rfc {
            f.push(format!(
                "profile: \"{}\"",
                if rfc { "rfc" } else { "linux" }
            ));
        }
        dur(&mut f, "msl", self.msl);
        dur(&mut f, "time_wait", self.time_wait);
        dur(&mut f, "fin_timeout", self.fin_timeout);
        val(
            &mut f,
            "ephemeral_ports",
            self.ephemeral_ports.map(|(a, b)| format!("({a}, {b})")),
        );
        dur(&mut f, "rto_initial", self.rto_initial);
        dur(&mut f, "rto_min", self.rto_min);
        dur(&mut f, "rto_max", self.rto_max);
        val(
            &mut f,
            "syn_retries",
            self.syn_retries.map(|n| n.to_string()),
        );
        val(
            &mut f,
            "data_retries",
            self.data_retries.map(|n| n.to_string()),
        );
        val(&mut f, "mss", self.mss.map(|n| n.to_string()));
        val(&mut f, "rcv_buf", self.rcv_buf.map(|n| n.to_string()));
        val(&mut f, "snd_buf", self.snd_buf.map(|n| n.to_string()));
        val(
            &mut f,
            "window_scale",
            self.window_scale.map(|b| b.to_string()),
        );
        val(&mut f, "timestamps", self.timestamps.map(|b| b.to_string()));
        dur(&mut f, "delayed_ack", self.delayed_ack);
        val(&mut f, "nagle", self.nagle.map(|b| b.to_string()));
        val(
            &mut f,
            "initial_cwnd",
            self.initial_cwnd.map(|n| n.to_string()),
        );
        val(&mut f, "rfc1337", self.rfc1337.map(|b| b.to_string()));
        val(&mut f, "tw_reuse", self.tw_reuse.map(|b| b.to_string()));
        val(
            &mut f,
            "max_time_wait",
            self.max_time_wait.map(|n| n.to_string()),
        );
        val(
            &mut f,
            "max_sockets",
            self.max_sockets.map(|n| n.to_string()),
        );
        val(&mut f, "isn", self.isn_fixed.map(|n| format!("Fixed({n})")));
        val(&mut f, "sack", self.sack.map(|b| b.to_string()));
        val(&mut f, "rack", self.rack.map(|b| b.to_string()));
        val(
            &mut f,
            "tail_loss_probe",
            self.tail_loss_probe.map(|b| b.to_string()),
        );
        dur(&mut f, "keepalive_time", self.keepalive_time);
        dur(&mut f, "timer_tick", self.timer_tick);
        format!("({})", f.join(", "))
    }
}

#[derive(Arbitrary, Debug)]
enum Queue {
    Packets(u8),
    Bytes(u16),
}

#[derive(Arbitrary, Debug)]
struct Knobs {
    latency: Option<Dur>,
    jitter: Option<Dur>,
    bandwidth_kbit: Option<u16>,
    queue: Option<Queue>,
    loss: Option<Prob>,
    duplicate: Option<Prob>,
    reorder: Option<(Prob, Dur)>,
    mtu: Option<u16>,
}

impl Knobs {
    fn fields(&self) -> Vec<String> {
        let mut f = Vec::new();
        if let Some(d) = self.latency {
            f.push(format!("latency: \"{}\"", d.text()));
        }
        if let Some(d) = self.jitter {
            f.push(format!("jitter: \"{}\"", d.text()));
        }
        if let Some(k) = self.bandwidth_kbit {
            f.push(format!("bandwidth: \"{k}kbit\""));
        }
        match self.queue {
            Some(Queue::Packets(n)) => f.push(format!("queue: Packets({n})")),
            Some(Queue::Bytes(n)) => f.push(format!("queue: Bytes({n})")),
            None => {}
        }
        if let Some(p) = self.loss {
            f.push(format!("loss: {}", p.text()));
        }
        if let Some(p) = self.duplicate {
            f.push(format!("duplicate: {}", p.text()));
        }
        if let Some((p, d)) = self.reorder {
            f.push(format!(
                "reorder: {}, reorder_delay: \"{}\"",
                p.text(),
                d.text()
            ));
        }
        if let Some(m) = self.mtu {
            f.push(format!("mtu: {m}"));
        }
        f
    }
}

#[derive(Arbitrary, Debug)]
struct Link {
    knobs: Knobs,
    a_to_b: Option<Knobs>,
    b_to_a: Option<Knobs>,
}

impl Link {
    fn text(&self, a: &str, b: &str) -> String {
        let mut f = vec![format!("a: \"{a}\""), format!("b: \"{b}\"")];
        f.extend(self.knobs.fields());
        if let Some(k) = &self.a_to_b {
            f.push(format!("a_to_b: ({})", k.fields().join(", ")));
        }
        if let Some(k) = &self.b_to_a {
            f.push(format!("b_to_a: ({})", k.fields().join(", ")));
        }
        format!("Link({})", f.join(", "))
    }
}

#[derive(Arbitrary, Debug)]
enum Action {
    Drop,
    Delay(Dur),
    Duplicate,
    HoldUntil(Dur),
    HoldForPackets(u8),
}

#[derive(Arbitrary, Debug)]
enum StatePick {
    Named(u8),
    Injected,
}

/// The name of state `n` (mod the number of states), as scenario files write it.
fn state_name(n: u8) -> &'static str {
    let all = netsim_tcp::State::ALL;
    all[usize::from(n) % all.len()].name()
}

impl StatePick {
    fn text(&self) -> &'static str {
        match self {
            StatePick::Named(n) => state_name(*n),
            StatePick::Injected => "injected",
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Fault {
    from: Option<HostPick>,
    to: Option<HostPick>,
    dst_port: Option<Port>,
    flags: Option<u8>,
    flags_contain: Option<u8>,
    payload: Option<bool>,
    seq: Option<(u32, u32)>,
    state: Option<StatePick>,
    nth: Option<u8>,
    action: Action,
    optional: bool,
}

impl Fault {
    fn text(&self) -> String {
        let mut f = Vec::new();
        if let Some(h) = self.from {
            f.push(format!("from: \"{}\"", h.name()));
        }
        if let Some(h) = self.to {
            f.push(format!("to: \"{}\"", h.name()));
        }
        if let Some(p) = self.dst_port {
            f.push(format!("dst_port: {}", p.get()));
        }
        if let Some(flags) = self.flags {
            f.push(format!("flags: \"{}\"", TcpFlags(flags)));
        }
        if let Some(flags) = self.flags_contain {
            f.push(format!("flags_contain: \"{}\"", TcpFlags(flags)));
        }
        if let Some(b) = self.payload {
            f.push(format!("payload: {b}"));
        }
        if let Some((a, b)) = self.seq {
            f.push(format!("seq: ({a}, {b})"));
        }
        if let Some(s) = &self.state {
            f.push(format!("state: \"{}\"", s.text()));
        }
        f.push(match self.nth {
            Some(n) => format!("occurrence: Nth({n})"),
            None => "occurrence: Every".into(),
        });
        f.push(match &self.action {
            Action::Drop => "action: Drop".into(),
            Action::Delay(d) => format!("action: Delay(\"{}\")", d.text()),
            Action::Duplicate => "action: Duplicate".into(),
            Action::HoldUntil(d) => format!("action: HoldUntil(\"{}\")", d.text()),
            Action::HoldForPackets(n) => format!("action: HoldForPackets({n})"),
        });
        f.push(format!("optional: {}", self.optional));
        format!("Fault({})", f.join(", "))
    }
}

#[derive(Arbitrary, Debug)]
enum SeqPick {
    Abs(u32),
    SndNxt(HostPick, i32),
    RcvNxt(HostPick, i32),
}

impl SeqPick {
    fn text(&self) -> String {
        match self {
            SeqPick::Abs(n) => format!("Abs({n})"),
            SeqPick::SndNxt(h, d) => format!("SndNxt(\"{}\", {d})", h.name()),
            SeqPick::RcvNxt(h, d) => format!("RcvNxt(\"{}\", {d})", h.name()),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum InjectOption {
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    Timestamps(u32, u32),
}

#[derive(Arbitrary, Debug)]
enum Event {
    Partition(Dur, HostPick, HostPick),
    PartitionOneWay(Dur, HostPick, HostPick),
    Heal(Dur, HostPick, HostPick),
    HealOneWay(Dur, HostPick, HostPick),
    Crash(Dur, HostPick),
    Restart(Dur, HostPick),
    Inject {
        at: Dur,
        from: HostPick,
        to: HostPick,
        conn: Option<u8>,
        ports: (Port, Port),
        flags: u8,
        seq: SeqPick,
        ack: Option<SeqPick>,
        len: u16,
        window: u16,
        options: Vec<InjectOption>,
    },
}

impl Event {
    fn text(&self) -> String {
        match self {
            Event::Partition(at, a, b) => format!(
                "Partition(at: \"{}\", between: (\"{}\", \"{}\"))",
                at.text(),
                a.name(),
                b.name()
            ),
            Event::PartitionOneWay(at, a, b) => format!(
                "PartitionOneWay(at: \"{}\", from: \"{}\", to: \"{}\")",
                at.text(),
                a.name(),
                b.name()
            ),
            Event::Heal(at, a, b) => format!(
                "Heal(at: \"{}\", between: (\"{}\", \"{}\"))",
                at.text(),
                a.name(),
                b.name()
            ),
            Event::HealOneWay(at, a, b) => format!(
                "HealOneWay(at: \"{}\", from: \"{}\", to: \"{}\")",
                at.text(),
                a.name(),
                b.name()
            ),
            Event::Crash(at, h) => format!("Crash(at: \"{}\", host: \"{}\")", at.text(), h.name()),
            Event::Restart(at, h) => {
                format!("Restart(at: \"{}\", host: \"{}\")", at.text(), h.name())
            }
            Event::Inject {
                at,
                from,
                to,
                conn,
                ports,
                flags,
                seq,
                ack,
                len,
                window,
                options,
            } => {
                let mut f = vec![
                    format!("at: \"{}\"", at.text()),
                    format!("from: \"{}\"", from.name()),
                    format!("to: \"{}\"", to.name()),
                ];
                match conn {
                    Some(n) => f.push(format!("conn: {n}")),
                    None => f.push(format!(
                        "src_port: {}, dst_port: {}",
                        ports.0.get(),
                        ports.1.get()
                    )),
                }
                f.push(format!("flags: \"{}\"", TcpFlags(*flags)));
                f.push(format!("seq: {}", seq.text()));
                if let Some(a) = ack {
                    f.push(format!("ack: {}", a.text()));
                }
                f.push(format!("len: {}", len % 2000));
                f.push(format!("window: {window}"));
                let opts: Vec<String> = few(options, 5)
                    .iter()
                    .map(|o| match o {
                        InjectOption::Mss(n) => format!("Mss({n})"),
                        InjectOption::WindowScale(n) => format!("WindowScale({n})"),
                        InjectOption::SackPermitted => "SackPermitted".into(),
                        InjectOption::Timestamps(a, b) => format!("Timestamps({a}, {b})"),
                    })
                    .collect();
                f.push(format!("options: [{}]", opts.join(", ")));
                format!("Inject({})", f.join(", "))
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Randomize {
    loss: Option<(Prob, Prob)>,
    reorder: Option<(Prob, Prob)>,
    reorder_delay: Option<(Dur, Dur)>,
    latency: Option<(Dur, Dur)>,
    extra_delay: Option<(Dur, Dur)>,
    crash: Option<RandomCrash>,
}

#[derive(Arbitrary, Debug)]
struct RandomCrash {
    host: HostPick,
    between: (Dur, Dur),
    down_for: (Dur, Dur),
}

impl Randomize {
    fn text(&self) -> String {
        let mut f = vec!["a: \"client\"".to_string(), "b: \"server\"".to_string()];
        let pair = |f: &mut Vec<String>, name: &str, v: Option<(String, String)>| {
            if let Some((a, b)) = v {
                f.push(format!("{name}: ({a}, {b})"));
            }
        };
        let probs = |v: Option<(Prob, Prob)>| v.map(|(a, b)| (a.text(), b.text()));
        let durs = |v: Option<(Dur, Dur)>| {
            v.map(|(a, b)| (format!("\"{}\"", a.text()), format!("\"{}\"", b.text())))
        };
        pair(&mut f, "loss", probs(self.loss));
        pair(&mut f, "reorder", probs(self.reorder));
        pair(&mut f, "reorder_delay", durs(self.reorder_delay));
        pair(&mut f, "latency", durs(self.latency));
        pair(&mut f, "extra_delay", durs(self.extra_delay));
        let crash = self.crash.as_ref().map_or(String::new(), |c| {
            format!(
                ", crash: Crash(host: \"{}\", between: (\"{}\", \"{}\"), down_for: (\"{}\", \"{}\"))",
                c.host.name(),
                c.between.0.text(),
                c.between.1.text(),
                c.down_for.0.text(),
                c.down_for.1.text()
            )
        });
        format!("(links: [Link({})]{crash})", f.join(", "))
    }
}

#[derive(Arbitrary, Debug)]
enum Expect {
    Path(HostPick, u8, Vec<u8>),
    Error(HostPick, u8, u8),
    Received(HostPick, u16),
    Count(HostPick, u8, u8),
    Peak(HostPick, u8, u8),
    AtEnd(HostPick, u8, u8),
    Unfinished(HostPick, u8),
    Established(HostPick, Dur, Dur, u8),
    Sent(HostPick, Option<u8>, Option<bool>, Dur, Dur, u8),
    Violation(u8),
}

const ERRNOS: [&str; 6] = [
    "ECONNRESET",
    "ECONNREFUSED",
    "ETIMEDOUT",
    "EPIPE",
    "EADDRNOTAVAIL",
    "EADDRINUSE",
];
const COUNTERS: [&str; 5] = [
    "SegmentsSent",
    "Retransmits",
    "ResetsSent",
    "ChallengeAcks",
    "KeepaliveProbes",
];
const VIOLATIONS: [&str; 3] = ["StaleData", "CorruptData", "IllegalTransition"];

impl Expect {
    fn text(&self) -> String {
        let at = |v: &[&'static str], n: u8| v[usize::from(n) % v.len()];
        match self {
            Expect::Path(h, conn, states) => {
                let names: Vec<String> = few(states, 8)
                    .iter()
                    .map(|s| format!("\"{}\"", state_name(*s)))
                    .collect();
                format!(
                    "Path(host: \"{}\", conn: {conn}, states: [{}])",
                    h.name(),
                    names.join(", ")
                )
            }
            Expect::Error(h, e, n) => format!(
                "Error(host: \"{}\", errno: \"{}\", at_most: {n})",
                h.name(),
                at(&ERRNOS, *e)
            ),
            Expect::Received(h, n) => format!("Received(host: \"{}\", at_least: {n})", h.name()),
            Expect::Count(h, c, n) => format!(
                "Count(host: \"{}\", counter: {}, exactly: {n})",
                h.name(),
                at(&COUNTERS, *c)
            ),
            Expect::Peak(h, s, n) => format!(
                "Peak(host: \"{}\", state: \"{}\", at_least: {n})",
                h.name(),
                state_name(*s)
            ),
            Expect::AtEnd(h, s, n) => format!(
                "AtEnd(host: \"{}\", state: \"{}\", at_most: {n})",
                h.name(),
                state_name(*s)
            ),
            Expect::Unfinished(h, n) => {
                format!("Unfinished(host: \"{}\", at_most: {n})", h.name())
            }
            Expect::Established(h, from, to, n) => format!(
                "Established(host: \"{}\", from: \"{}\", to: \"{}\", at_least: {n})",
                h.name(),
                from.text(),
                to.text()
            ),
            Expect::Sent(h, flags, payload, from, to, n) => {
                let flags =
                    flags.map_or(String::new(), |f| format!(", flags: \"{}\"", TcpFlags(f)));
                let payload = payload.map_or(String::new(), |p| format!(", payload: {p}"));
                format!(
                    "Sent(host: \"{}\"{flags}{payload}, between: (\"{}\", \"{}\"), exactly: {n})",
                    h.name(),
                    from.text(),
                    to.text()
                )
            }
            Expect::Violation(v) => format!("Violation({})", at(&VIOLATIONS, *v)),
        }
    }
}

/// A scenario description. Its `Debug` (what libFuzzer prints with a crash, and `cargo fuzz
/// fmt simulate <input>` shows) is the scenario file itself, the input's seed in it: ready
/// to paste into a file and replay with `netsim run FILE`.
#[derive(Arbitrary)]
struct Desc {
    seed: u64,
    end: Dur,
    lifetime: Option<Dur>,
    tcp: Option<Tcp>,
    client_tcp: Option<Tcp>,
    server_tcp: Option<Tcp>,
    client: Vec<Step>,
    server: Vec<Step>,
    /// A second client, linked to the server, running this script.
    other: Option<Vec<Step>>,
    link: Link,
    faults: Vec<Fault>,
    events: Vec<Event>,
    randomize: Option<Randomize>,
    expect: Vec<Expect>,
    twice: bool,
}

impl Desc {
    fn text(&self) -> String {
        let mut s = String::new();
        let script = |steps: &[Step], peer: &str| {
            let texts: Vec<String> = few(steps, 8).iter().map(|st| st.text(peer)).collect();
            texts.join(", ")
        };
        let tcp = |t: &Option<Tcp>| {
            t.as_ref()
                .map_or(String::new(), |t| format!("tcp: {}, ", t.text()))
        };
        let _ = writeln!(
            s,
            "Scenario(name: \"fuzz\", description: \"Fuzz.\", seed: {},",
            self.seed
        );
        let _ = writeln!(s, "  end: \"{}\",", self.end.text());
        if let Some(d) = self.lifetime {
            let _ = writeln!(s, "  lifetime: \"{}\",", d.text());
        }
        if let Some(t) = &self.tcp {
            let _ = writeln!(s, "  tcp: {},", t.text());
        }
        let _ = writeln!(s, "  hosts: [");
        let _ = writeln!(
            s,
            "    Host(name: \"client\", addr: \"10.0.0.1\", {}app: [{}]),",
            tcp(&self.client_tcp),
            script(&self.client, "server")
        );
        let _ = writeln!(
            s,
            "    Host(name: \"server\", addr: \"10.0.0.2\", {}app: [{}]),",
            tcp(&self.server_tcp),
            script(&self.server, "client")
        );
        if let Some(steps) = &self.other {
            let _ = writeln!(
                s,
                "    Host(name: \"other\", addr: \"10.0.0.3\", app: [{}]),",
                script(steps, "server")
            );
        }
        let _ = writeln!(s, "  ],");
        let _ = write!(s, "  links: [{}", self.link.text("client", "server"));
        if self.other.is_some() {
            let _ = write!(s, ", Link(a: \"other\", b: \"server\", latency: \"1ms\")");
        }
        let _ = writeln!(s, "],");
        let faults: Vec<String> = few(&self.faults, 3).iter().map(Fault::text).collect();
        let _ = writeln!(s, "  faults: [{}],", faults.join(", "));
        let events: Vec<String> = few(&self.events, 4).iter().map(Event::text).collect();
        let _ = writeln!(s, "  events: [{}],", events.join(", "));
        if let Some(r) = &self.randomize {
            let _ = writeln!(s, "  randomize: {},", r.text());
        }
        let expect: Vec<String> = few(&self.expect, 4).iter().map(Expect::text).collect();
        let _ = writeln!(s, "  expect: [{}],", expect.join(", "));
        s.push(')');
        s
    }
}

impl std::fmt::Debug for Desc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runs = if self.twice { "twice" } else { "once" };
        writeln!(
            f,
            "// run {runs} with the file's seed, {} events at most",
            MAX_EVENTS
        )?;
        f.write_str(&self.text())
    }
}

fuzz_target!(|desc: Desc| {
    let src = desc.text();
    let Ok(mut scenario) = netsim_scenario::parse(&src, "fuzz.ron") else {
        return;
    };
    scenario.compiled.limits.max_events = MAX_EVENTS;
    let Ok((report, _)) = scenario.run(desc.seed, TextWriter::new(std::io::sink())) else {
        return;
    };
    let _ = netsim_scenario::summary(&scenario, desc.seed, &report);
    if desc.twice {
        let again = scenario
            .run(desc.seed, netsim_engine::NullSink)
            .expect("the same run stopped at a cap the first one did not reach");
        assert_eq!(
            report.outcome.trace_hash, again.0.outcome.trace_hash,
            "two runs of the same scenario and seed differ:\n{src}"
        );
    }
});
