//! Sockets per TCP state over virtual time, and connections established and failed per second,
//! per host: [`StateTimeline`] counts them from the trace records as they stream past, in a
//! bounded number of time buckets; [`StateSink`] feeds it on the records' way to another sink.
//! The timeline writes itself as CSV ([`StateTimeline::csv`]) and as a chart
//! ([`StateTimeline::plot`]). It only watches: it never changes what a run does.
//!
//! **Counting.** A socket is counted from the `State` events alone: `from` loses one, `to`
//! gains one, CLOSED is not counted. LISTEN counts listening sockets only: a connection a
//! listener spawns reports `LISTEN -> SYN_RECEIVED` (and `SYN_RECEIVED -> LISTEN` when a RST
//! ends it), but it never was the listener, so those moves start from (or end in) nothing. A
//! host's crash zeroes its counts (its sockets are gone without a word).
//!
//! **Established** per second: transitions into ESTABLISHED, active and passive alike.
//!
//! **Failed** per second: attempts to open a connection that this host saw fail, which are
//! - a `connect()` call that failed, whatever the reason: at once (EADDRNOTAVAIL when the
//!   ephemeral ports are used up, EMFILE) or after its handshake (ETIMEDOUT when the SYN
//!   retries ran out, ECONNREFUSED on a RST). One per call, however many SYNs it sent;
//! - a passive connection that left SYN_RECEIVED for CLOSED or LISTEN without being
//!   established (its SYN-ACK retries ran out, a RST, its listener closed);
//! - a SYN turned away without a connection being made: dropped because the listen queue was
//!   full (`ListenOverflow`), or answered with a RST because no socket listens on its port.
//!   Every such SYN counts, retransmissions included, since the server cannot tell them apart
//!   (Linux's ListenDrops counts the same way): on a server this rate is SYNs refused per
//!   second, on a client `connect()` calls failed per second.
//!
//! Not failures: a handshake ACK dropped because the accept queue was full (the connection
//! stays in SYN_RECEIVED and counts when it completes or dies), an error on a connection
//! after it was established (a client whose handshake completed into a full accept queue and
//! is later reset sees ECONNRESET on an established connection; the server counts its
//! half-open side dying), and `accept()` failing (the application's call, not a peer's
//! attempt).
//!
//! **Memory.** Samples live in at most [`BUCKETS_MAX`] buckets of equal width, starting at
//! [`BUCKET_FIRST`]; when a record falls past the last one, neighbouring buckets merge in
//! pairs and the width doubles, so a run of any length (its end need not be known) costs a
//! bounded number of samples per host. Per connection, only passive connections in
//! SYN_RECEIVED are remembered (to tell their death from an active open's), and only while
//! they live.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use netsim_core::{SimDuration, SimTime, TcpFlags};
use netsim_engine::{HostId, NetChange, TraceKind, TraceRecord, TraceSink};
use netsim_host::HostEvent;
use netsim_tcp::{ConnKey, Note, State, TcpEvent};

use crate::chart::{self, LineChart, Series, Stroke};
use crate::svg::{Anchor, Svg};

/// Most buckets kept per host; more merge in pairs.
pub const BUCKETS_MAX: usize = 1000;

/// About how many points a rate's line has in a plot (fewer when the run has fewer buckets).
const RATE_BINS: usize = 200;

/// Width of a bucket until the first merge.
pub const BUCKET_FIRST: SimDuration = SimDuration::from_millis(1);

/// How many TCP states there are: the length of a count per state.
const STATE_COUNT: usize = State::ALL.len();

/// One host's numbers over one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Per state (indexed by `State as usize`), the most sockets in it at any instant of the
    /// bucket, counting those it held when the bucket began. CLOSED is always 0.
    pub peak: [u64; STATE_COUNT],
    /// Connections that reached ESTABLISHED during the bucket.
    pub established: u64,
    /// Connection attempts that failed during the bucket (see the module's documentation).
    pub failed: u64,
}

impl Sample {
    /// Both buckets of a pair as one: the higher peaks, the summed counts.
    fn merged(self, later: Sample) -> Sample {
        let mut peak = self.peak;
        for (p, q) in peak.iter_mut().zip(later.peak) {
            *p = (*p).max(q);
        }
        Sample {
            peak,
            established: self.established + later.established,
            failed: self.failed + later.failed,
        }
    }
}

/// What is counted of one host.
#[derive(Debug, Clone, Default)]
struct HostTimeline {
    /// Sockets per state now.
    now: [u64; STATE_COUNT],
    /// Passive connections in SYN_RECEIVED now.
    half_open: BTreeSet<ConnKey>,
    /// The last packet delivered to the host was a SYN without ACK (the `ResetNoConnection`
    /// note that may follow answers it).
    syn_delivered: bool,
    /// One per bucket, as many as the timeline has.
    samples: Vec<Sample>,
}

impl HostTimeline {
    /// The bucket being filled.
    fn current(&mut self) -> &mut Sample {
        self.samples
            .last_mut()
            .expect("the timeline reaches the record's time first")
    }

    fn on_state(&mut self, conn: ConnKey, from: State, to: State) {
        let listener = conn.remote.port() == 0;
        let counted = |s: State| s != State::Closed && (s != State::Listen || listener);
        if counted(from) {
            self.now[from as usize] = self.now[from as usize].saturating_sub(1);
        }
        if counted(to) {
            self.now[to as usize] += 1;
            let now = self.now[to as usize];
            let peak = &mut self.current().peak[to as usize];
            *peak = (*peak).max(now);
        }
        if to == State::Established {
            self.current().established += 1;
        }
        if from == State::Listen && to == State::SynReceived {
            self.half_open.insert(conn);
        } else if from == State::SynReceived
            && self.half_open.remove(&conn)
            && matches!(to, State::Closed | State::Listen)
        {
            self.current().failed += 1;
        }
    }

    fn crash(&mut self) {
        self.now = [0; STATE_COUNT];
        self.half_open.clear();
        self.syn_delivered = false;
    }
}

/// Sockets per state and connections per second, per host, over virtual time.
#[derive(Debug, Clone)]
pub struct StateTimeline {
    names: Vec<String>,
    hosts: Vec<HostTimeline>,
    /// Width of every bucket; bucket `i` covers `[i * width, (i + 1) * width)`.
    width: SimDuration,
    /// Buckets so far (each host has this many samples).
    len: usize,
    /// The end of the run, once known.
    end: Option<SimTime>,
}

impl Default for StateTimeline {
    fn default() -> Self {
        StateTimeline::new()
    }
}

impl StateTimeline {
    /// An empty timeline; hosts are named by [`StateTimeline::start`] (or numbered).
    pub fn new() -> StateTimeline {
        StateTimeline {
            names: Vec::new(),
            hosts: Vec::new(),
            width: BUCKET_FIRST,
            len: 0,
            end: None,
        }
    }

    /// Names the hosts, indexed by [`HostId`].
    pub fn start(&mut self, host_names: &[String]) {
        self.names = host_names.to_vec();
        self.grow(host_names.len());
    }

    /// Makes the timeline hold `n` hosts, a new one with a sample per bucket so far.
    fn grow(&mut self, n: usize) {
        let len = self.len;
        self.hosts.resize_with(n, || HostTimeline {
            samples: vec![Sample::default(); len],
            ..HostTimeline::default()
        });
    }

    /// Width of a bucket now.
    pub fn width(&self) -> SimDuration {
        self.width
    }

    /// Host names, in host order.
    pub fn host_names(&self) -> Vec<String> {
        (0..self.hosts.len()).map(|i| self.name(i)).collect()
    }

    fn name(&self, i: usize) -> String {
        self.names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("host{i}"))
    }

    /// One host's samples, a bucket each.
    pub fn samples(&self, host: HostId) -> &[Sample] {
        self.hosts
            .get(host.0 as usize)
            .map_or(&[], |h| &h.samples[..])
    }

    /// The end of the run, if [`StateTimeline::finish`] was called.
    pub fn end(&self) -> Option<SimTime> {
        self.end
    }

    fn host(&mut self, h: HostId) -> &mut HostTimeline {
        let i = h.0 as usize;
        if self.hosts.len() <= i {
            self.grow(i + 1);
        }
        &mut self.hosts[i]
    }

    /// Makes the last bucket the one holding `at`: merges pairs while `at` is past the
    /// [`BUCKETS_MAX`]-th bucket, then opens buckets up to it, each starting with the counts
    /// of its predecessor's end.
    fn reach(&mut self, at: SimTime) {
        let index = |width: SimDuration| (at.as_nanos() / width.as_nanos()) as usize;
        while index(self.width) >= BUCKETS_MAX {
            self.merge_pairs();
        }
        let last = index(self.width);
        debug_assert!(last + 1 >= self.len, "records come in time order");
        while self.len <= last {
            for h in &mut self.hosts {
                h.samples.push(Sample {
                    peak: h.now,
                    ..Sample::default()
                });
            }
            self.len += 1;
        }
    }

    /// Buckets `2i` and `2i + 1` become bucket `i` of twice the width.
    fn merge_pairs(&mut self) {
        for h in &mut self.hosts {
            let merged: Vec<Sample> = h
                .samples
                .chunks(2)
                .map(|pair| match *pair {
                    [a, b] => a.merged(b),
                    [a] => a,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            h.samples = merged;
        }
        self.len = self.len.div_ceil(2);
        self.width = self.width.saturating_mul(2);
    }

    /// Counts one trace record.
    pub fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        match &record.kind {
            TraceKind::Delivered { host, packet, .. } => {
                let flags = packet.segment.flags;
                self.host(*host).syn_delivered =
                    flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK);
            }
            TraceKind::Network(NetChange::Crash(host)) => {
                self.reach(record.at);
                self.host(*host).crash();
            }
            TraceKind::Protocol { host, event } => {
                let failed = match event {
                    HostEvent::Tcp(TcpEvent::State { conn, from, to }) => {
                        self.reach(record.at);
                        self.host(*host).on_state(*conn, *from, *to);
                        false
                    }
                    HostEvent::CallFailed { call, .. } => *call == "connect",
                    HostEvent::Tcp(TcpEvent::Note { note, .. }) => match note {
                        Note::ListenOverflow => true,
                        Note::ResetNoConnection => self.host(*host).syn_delivered,
                        _ => false,
                    },
                    _ => false,
                };
                if failed {
                    self.reach(record.at);
                    self.host(*host).current().failed += 1;
                }
            }
            _ => {}
        }
    }

    /// The run ended at `end`: buckets reach it (a run with no state change still has its
    /// time line).
    pub fn finish(&mut self, end: SimTime) {
        // The run covers [0, end): its last instant is in the bucket before `end`'s when
        // `end` starts a bucket.
        self.reach(SimTime::from_nanos(end.as_nanos().saturating_sub(1)));
        self.end = Some(end);
    }

    /// States some host had a socket in at some time, in the RFC's order.
    fn states_seen(&self, host: usize) -> Vec<State> {
        State::ALL
            .into_iter()
            .filter(|s| {
                self.hosts[host]
                    .samples
                    .iter()
                    .any(|x| x.peak[*s as usize] > 0)
            })
            .collect()
    }

    /// The timeline as CSV: a header, then one row per bucket per host (bucket by bucket,
    /// hosts in order): the bucket's start in seconds, the host, per state the most sockets
    /// in it during the bucket, then connections established and failed per second (the
    /// bucket's count over its width).
    pub fn csv(&self) -> String {
        let mut out = String::from("time_s,host");
        for s in &State::ALL[1..] {
            out.push(',');
            out.push_str(s.name());
        }
        out.push_str(",established_per_s,failed_per_s\n");
        let names: Vec<String> = self.host_names().iter().map(|n| csv_field(n)).collect();
        let width_s = self.width.as_secs_f64();
        for i in 0..self.len {
            let start = self.width.as_nanos() * i as u64;
            for (h, name) in self.hosts.iter().zip(&names) {
                let x = &h.samples[i];
                let _ = write!(
                    out,
                    "{}.{:06},{name}",
                    start / 1_000_000_000,
                    start % 1_000_000_000 / 1000
                );
                for s in &State::ALL[1..] {
                    let _ = write!(out, ",{}", x.peak[*s as usize]);
                }
                let _ = writeln!(
                    out,
                    ",{:.3},{:.3}",
                    x.established as f64 / width_s,
                    x.failed as f64 / width_s
                );
            }
        }
        out
    }

    /// Buckets per bin of the plotted rates (a power of two): enough for 100 to 200 bins over
    /// the run, and wide enough that each rate with events to speak of (10 or more) has
    /// about 8 events per bin over the span where they happen, so sparse steady events (one
    /// every 10 ms against 16 ms bins) do not alias into a comb of one and two; at least 10
    /// bins in any case.
    fn rate_bin(&self) -> usize {
        const EVENTS_PER_BIN: usize = 8;
        let mut per_bin = self.len.div_ceil(RATE_BINS).next_power_of_two().max(1);
        let counts: [fn(&Sample) -> u64; 2] = [|x| x.established, |x| x.failed];
        for host in &self.hosts {
            for count in counts {
                let at = |i: &usize| count(&host.samples[*i]) > 0;
                let mut busy = (0..host.samples.len()).filter(at);
                let Some(first) = busy.next() else { continue };
                let last = busy.next_back().unwrap_or(first);
                let total: u64 = host.samples[first..=last].iter().map(count).sum();
                if total < 10 {
                    continue;
                }
                let span = last - first + 1;
                let need = (EVENTS_PER_BIN * span).div_ceil(total as usize);
                per_bin = per_bin.max(need.next_power_of_two());
            }
        }
        let coarsest = (self.len / 10).max(1);
        while per_bin > coarsest && per_bin > 1 {
            per_bin /= 2;
        }
        per_bin
    }

    /// The timeline as an SVG picture: per host, one panel of sockets per state (the states
    /// the host ever had a socket in, with their peaks), then one of connections established
    /// per second and one of attempts failed per second, on the same time axis. The rates
    /// have a panel each: a server refusing a thousand SYNs a second would flatten its
    /// hundred connections a second on a shared scale.
    pub fn plot(&self, title: &str) -> String {
        const WIDTH: f64 = 960.0;
        const STATES: f64 = 260.0;
        const RATE: f64 = 200.0;
        const HOST: f64 = STATES + 2.0 * RATE + 20.0;
        const HEAD: f64 = 58.0;
        let hosts = self.hosts.len();
        let mut svg = Svg::new(WIDTH, HEAD + HOST * hosts.max(1) as f64);
        // Rates are drawn averaged over bins of buckets: a bucket of a few milliseconds
        // holds a connection or none, and a comb of spikes hides the rate.
        let per_bin = self.rate_bin();
        let bin = self.width.saturating_mul(per_bin as u64);
        svg.text(20.0, 26.0, title, 16.0, Anchor::Start, "#000", false);
        svg.text(
            20.0,
            46.0,
            &format!(
                "sockets: the most at once in each {} bucket; rates: averages over {}",
                describe(self.width),
                describe(bin)
            ),
            11.0,
            Anchor::Start,
            "#555",
            false,
        );
        let end = self
            .end
            .unwrap_or(SimTime::from_nanos(
                self.width.as_nanos().saturating_mul(self.len as u64),
            ))
            .as_nanos();
        let unit = chart::TimeUnit::for_span(end);
        let x_label = format!("virtual time ({})", unit.name());
        let x_end = unit.of(end);
        if hosts == 0 {
            svg.text(
                WIDTH / 2.0,
                HEAD + 40.0,
                "no host",
                14.0,
                Anchor::Middle,
                "#555",
                false,
            );
        }
        for h in 0..hosts {
            let name = self.name(h);
            let samples = &self.hosts[h].samples;
            let chart = |title: String, y_label: &str, y_step_min, series| LineChart {
                title,
                x_label: x_label.clone(),
                y_label: y_label.into(),
                x_max: x_end,
                y_step_min,
                series,
            };
            let states = chart(
                format!("{name}: sockets per state"),
                "sockets",
                1.0,
                self.states_seen(h)
                    .into_iter()
                    .map(|s| {
                        let peak = samples.iter().map(|x| x.peak[s as usize]).max();
                        Series {
                            name: format!("{} (peak {})", s.name(), peak.unwrap_or(0)),
                            colour: state_colour(s),
                            // Listeners are a background count, not connections.
                            stroke: if s == State::Listen {
                                Stroke::Dashed
                            } else {
                                Stroke::Solid
                            },
                            points: chart::steps(
                                samples.iter().map(|x| x.peak[s as usize] as f64),
                                unit.of(self.width.as_nanos()),
                                x_end,
                            ),
                        }
                    })
                    .collect(),
            );
            let rate = |what: &str, colour, count: fn(&Sample) -> u64| {
                let total: u64 = samples.iter().map(count).sum();
                let binned = rate_bins(samples, per_bin, self.width, count);
                chart(
                    format!("{name}: connections {what} per second"),
                    "connections / s",
                    0.0,
                    vec![Series {
                        name: format!("{what} ({total} in all)"),
                        colour,
                        stroke: Stroke::Solid,
                        points: chart::steps(binned, unit.of(bin.as_nanos()), x_end),
                    }],
                )
            };
            let top = HEAD + HOST * h as f64;
            states.draw(&mut svg, chart::Frame::new(0.0, top, WIDTH, STATES));
            rate("established", ESTABLISHED_COLOUR, |x| x.established)
                .draw(&mut svg, chart::Frame::new(0.0, top + STATES, WIDTH, RATE));
            rate("failed", FAILED_COLOUR, |x| x.failed).draw(
                &mut svg,
                chart::Frame::new(0.0, top + STATES + RATE, WIDTH, RATE),
            );
        }
        svg.finish()
    }
}

/// Per bin of `per_bin` buckets of width `width` (the last bin may hold fewer), the bin's
/// `count` per second.
fn rate_bins(
    samples: &[Sample],
    per_bin: usize,
    width: SimDuration,
    count: fn(&Sample) -> u64,
) -> Vec<f64> {
    samples
        .chunks(per_bin)
        .map(|bin| {
            let seconds = width.as_secs_f64() * bin.len() as f64;
            bin.iter().map(count).sum::<u64>() as f64 / seconds
        })
        .collect()
}

/// Colour of connections established.
pub const ESTABLISHED_COLOUR: &str = "#2ca02c";
/// Colour of failed attempts.
pub const FAILED_COLOUR: &str = "#d62728";

/// One colour per state, the same in every picture: ESTABLISHED green, TIME_WAIT red, the
/// handshake states blue, the closing states warm.
pub fn state_colour(state: State) -> &'static str {
    match state {
        State::Closed => "#000000",
        State::Listen => "#7f7f7f",
        State::SynSent => "#1f77b4",
        State::SynReceived => "#17becf",
        State::Established => ESTABLISHED_COLOUR,
        State::FinWait1 => "#bcbd22",
        State::FinWait2 => "#8c564b",
        State::Closing => "#e377c2",
        State::TimeWait => "#d62728",
        State::CloseWait => "#ff7f0e",
        State::LastAck => "#9467bd",
    }
}

/// A bucket width as people say it: `512 ms`, `2.048 s`.
fn describe(width: SimDuration) -> String {
    let ns = width.as_nanos();
    if ns < 1_000_000 {
        format!("{} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{} ms", ns as f64 / 1e6)
    } else {
        format!("{} s", ns as f64 / 1e9)
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A trace sink that counts sockets per state into a [`StateTimeline`] (when it has one) and
/// passes every record on to `inner`.
#[derive(Debug)]
pub struct StateSink<S> {
    /// The sink every record goes on to.
    pub inner: S,
    timeline: Option<StateTimeline>,
}

impl<S> StateSink<S> {
    /// Records go to `timeline` (none: only passed on) and then to `inner`.
    pub fn new(inner: S, timeline: Option<StateTimeline>) -> StateSink<S> {
        StateSink { inner, timeline }
    }

    /// The inner sink and the timeline, finished at the run's `end`.
    pub fn finish(self, end: SimTime) -> (S, Option<StateTimeline>) {
        let mut timeline = self.timeline;
        if let Some(t) = &mut timeline {
            t.finish(end);
        }
        (self.inner, timeline)
    }
}

impl<S: TraceSink<HostEvent>> TraceSink<HostEvent> for StateSink<S> {
    fn start(&mut self, host_names: &[String]) {
        if let Some(t) = &mut self.timeline {
            t.start(host_names);
        }
        self.inner.start(host_names);
    }

    fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        if let Some(t) = &mut self.timeline {
            t.record(record);
        }
        self.inner.record(record);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use netsim_core::{Packet, Segment};
    use netsim_tcp::Errno;

    use super::*;
    use State::*;

    /// A timeline fed one record at a time, at times in milliseconds.
    struct Feed {
        t: StateTimeline,
    }

    const CLIENT: HostId = HostId(0);
    const SERVER: HostId = HostId(1);

    fn at(ms: u64) -> SimTime {
        SimTime::from_nanos(ms * 1_000_000)
    }

    /// The client's connection from `port` to the server's port 80, as the client sees it.
    fn client_conn(port: u16) -> ConnKey {
        ConnKey {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), port),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
        }
    }

    /// The same connection as the server sees it.
    fn server_conn(port: u16) -> ConnKey {
        let c = client_conn(port);
        ConnKey {
            local: c.remote,
            remote: c.local,
        }
    }

    /// The server's listener on port 80 (the wildcard peer).
    fn listener() -> ConnKey {
        ConnKey {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
            remote: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
        }
    }

    impl Feed {
        fn new() -> Feed {
            let mut t = StateTimeline::new();
            t.start(&["client".into(), "server".into()]);
            Feed { t }
        }

        fn event(&mut self, ms: u64, host: HostId, event: HostEvent) -> &mut Feed {
            self.t.record(&TraceRecord {
                at: at(ms),
                kind: TraceKind::Protocol {
                    host,
                    event: &event,
                },
            });
            self
        }

        fn moves(&mut self, ms: u64, host: HostId, conn: ConnKey, path: &[State]) -> &mut Feed {
            for pair in path.windows(2) {
                let (from, to) = (pair[0], pair[1]);
                self.event(ms, host, HostEvent::Tcp(TcpEvent::State { conn, from, to }));
            }
            self
        }

        fn note(&mut self, ms: u64, host: HostId, conn: ConnKey, note: Note) -> &mut Feed {
            self.event(ms, host, HostEvent::Tcp(TcpEvent::Note { conn, note }))
        }

        fn delivered(&mut self, ms: u64, host: HostId, flags: TcpFlags) -> &mut Feed {
            let packet = Packet {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(10, 0, 0, 2),
                segment: Segment {
                    flags,
                    ..Segment::default()
                },
            };
            self.t.record(&TraceRecord {
                at: at(ms),
                kind: TraceKind::Delivered {
                    host,
                    id: netsim_engine::PacketId(0),
                    packet: &packet,
                },
            });
            self
        }

        fn crash(&mut self, ms: u64, host: HostId) -> &mut Feed {
            self.t.record(&TraceRecord {
                at: at(ms),
                kind: TraceKind::Network(NetChange::Crash(host)),
            });
            self
        }

        fn samples(&self, host: HostId) -> &[Sample] {
            self.t.samples(host)
        }

        /// The most sockets in `state` over every bucket.
        fn peak(&self, host: HostId, state: State) -> u64 {
            let s = self.samples(host).iter().map(|x| x.peak[state as usize]);
            s.max().unwrap_or(0)
        }

        fn total(&self, host: HostId, count: fn(&Sample) -> u64) -> u64 {
            self.samples(host).iter().map(count).sum()
        }
    }

    /// A handshake and an active close: every state the client passes through counts once,
    /// at its bucket; CLOSED is never counted; a bucket opened later starts with the counts
    /// the previous one ended with (TIME_WAIT held).
    #[test]
    fn a_connection_is_counted_in_each_state_it_passes_through() {
        let mut f = Feed::new();
        f.moves(0, CLIENT, client_conn(1), &[Closed, SynSent])
            .moves(2, CLIENT, client_conn(1), &[SynSent, Established])
            .moves(
                5,
                CLIENT,
                client_conn(1),
                &[Established, FinWait1, FinWait2],
            )
            .moves(6, CLIENT, client_conn(1), &[FinWait2, TimeWait])
            .moves(9, CLIENT, client_conn(1), &[TimeWait, Closed]);
        let s = f.samples(CLIENT);
        assert_eq!(
            s.len(),
            10,
            "one bucket per millisecond up to the last record"
        );
        assert_eq!(s[0].peak[SynSent as usize], 1);
        assert_eq!(s[1].peak[SynSent as usize], 1, "held through bucket 1");
        assert_eq!(
            s[2].peak[SynSent as usize], 1,
            "held at the start of bucket 2"
        );
        assert_eq!(s[3].peak[SynSent as usize], 0);
        assert_eq!(s[2].established, 1);
        assert_eq!(s[5].peak[FinWait1 as usize], 1);
        assert_eq!(s[5].peak[FinWait2 as usize], 1);
        assert_eq!(s[8].peak[TimeWait as usize], 1);
        assert_eq!(s[9].peak[TimeWait as usize], 1, "TIME_WAIT until its end");
        assert_eq!(s[9].peak[Closed as usize], 0, "CLOSED is not counted");
        assert_eq!(f.total(CLIENT, |x| x.failed), 0);
        assert_eq!(f.samples(SERVER).len(), 10, "every host has every bucket");
    }

    /// A listener counts once in LISTEN; the connections it spawns report LISTEN ->
    /// SYN_RECEIVED (and SYN_RECEIVED -> LISTEN when a RST ends them) without moving it.
    #[test]
    fn only_listeners_count_in_listen() {
        let mut f = Feed::new();
        f.moves(0, SERVER, listener(), &[Closed, Listen]);
        for port in 1..=3 {
            f.moves(1, SERVER, server_conn(port), &[Listen, SynReceived]);
        }
        f.moves(2, SERVER, server_conn(1), &[SynReceived, Established])
            .moves(2, SERVER, server_conn(2), &[SynReceived, Listen]);
        let s = f.samples(SERVER);
        assert_eq!(s[1].peak[Listen as usize], 1);
        assert_eq!(s[1].peak[SynReceived as usize], 3);
        assert_eq!(s[2].peak[Listen as usize], 1, "still one listener");
        assert_eq!(
            s[2].peak[SynReceived as usize], 3,
            "three at the bucket's start"
        );
        f.moves(3, SERVER, listener(), &[Listen, Closed]);
        assert_eq!(
            f.samples(SERVER)[3].peak[Listen as usize],
            1,
            "at the start"
        );
        f.moves(4, SERVER, server_conn(9), &[Closed, SynSent]);
        let s = f.samples(SERVER);
        assert_eq!(s[4].peak[Listen as usize], 0);
        assert_eq!(s[4].peak[SynReceived as usize], 1, "port 3's");
    }

    /// A crash zeroes the host's counts (its sockets vanish without transitions) and forgets
    /// its half-open connections; the other host keeps its own.
    #[test]
    fn a_crash_zeroes_the_hosts_counts() {
        let mut f = Feed::new();
        f.moves(0, SERVER, listener(), &[Closed, Listen])
            .moves(0, SERVER, server_conn(1), &[Listen, SynReceived])
            .moves(0, CLIENT, client_conn(1), &[Closed, SynSent])
            .crash(3, SERVER)
            .moves(4, CLIENT, client_conn(2), &[Closed, SynSent]);
        let server = f.samples(SERVER);
        assert_eq!(
            server[3].peak[SynReceived as usize], 1,
            "held until the crash"
        );
        assert_eq!(server[4].peak, [0; 11]);
        assert_eq!(f.samples(CLIENT)[4].peak[SynSent as usize], 2);
        // After the restart, the half-open connection lost in the crash is not a failure.
        f.moves(5, SERVER, server_conn(1), &[SynReceived, Closed]);
        assert_eq!(f.total(SERVER, |x| x.failed), 0);
    }

    /// What counts as a failed attempt, host by host: connect() failures (one per call, at
    /// once or after the handshake), passive connections dying before ESTABLISHED, SYNs a
    /// full listen queue dropped and SYNs answered with RST; not a handshake ACK dropped for
    /// a full accept queue, an RST answering a segment other than a SYN, another call
    /// failing, or an active open's SYN_RECEIVED dying (its connect() counts instead).
    #[test]
    fn failed_attempts_are_refused_handshakes_and_failed_connects() {
        let mut f = Feed::new();
        let call = |call, errno| HostEvent::CallFailed { call, errno };
        // The client: two connect() calls fail, one at once and one after its SYNs.
        f.event(1, CLIENT, call("connect", Errno::AddrNotAvail))
            .moves(1, CLIENT, client_conn(1), &[Closed, SynSent])
            .moves(3, CLIENT, client_conn(1), &[SynSent, Closed])
            .event(3, CLIENT, call("connect", Errno::TimedOut))
            .event(3, CLIENT, call("send", Errno::BrokenPipe))
            // A simultaneous open that dies: counted by its connect() alone.
            .moves(
                4,
                CLIENT,
                client_conn(2),
                &[Closed, SynSent, SynReceived, Closed],
            )
            .event(4, CLIENT, call("connect", Errno::ConnReset));
        assert_eq!(f.samples(CLIENT)[1].failed, 1);
        assert_eq!(f.samples(CLIENT)[3].failed, 1);
        assert_eq!(f.samples(CLIENT)[4].failed, 1);
        // The server: a SYN dropped on a full listen queue, a SYN to a closed port, a
        // half-open connection timing out, one reset back to LISTEN; not a handshake ACK
        // dropped on a full accept queue, nor a RST answering a stray ACK.
        f.moves(5, SERVER, listener(), &[Closed, Listen])
            .delivered(6, SERVER, TcpFlags::SYN)
            .note(6, SERVER, server_conn(3), Note::ListenOverflow)
            .delivered(7, SERVER, TcpFlags::SYN)
            .note(7, SERVER, server_conn(4), Note::ResetNoConnection)
            .delivered(8, SERVER, TcpFlags::ACK)
            .note(8, SERVER, server_conn(5), Note::ResetNoConnection)
            .delivered(8, SERVER, TcpFlags::SYN.union(TcpFlags::ACK))
            .note(8, SERVER, server_conn(5), Note::ResetNoConnection)
            .moves(9, SERVER, server_conn(6), &[Listen, SynReceived])
            .note(10, SERVER, server_conn(6), Note::AcceptQueueFull)
            .moves(11, SERVER, server_conn(6), &[SynReceived, Closed])
            .moves(12, SERVER, server_conn(7), &[Listen, SynReceived, Listen])
            .moves(
                13,
                SERVER,
                server_conn(8),
                &[Listen, SynReceived, Established],
            );
        let failed: Vec<u64> = f.samples(SERVER).iter().map(|x| x.failed).collect();
        assert_eq!(failed[6..], [1, 1, 0, 0, 0, 1, 1, 0]);
        assert_eq!(f.total(SERVER, |x| x.established), 1);
        assert!(f.t.hosts[1].half_open.is_empty(), "only live ones are kept");
    }

    /// Past BUCKETS_MAX buckets, pairs merge and the width doubles: peaks are the higher of
    /// the pair, counts their sum, and every record still lands in the bucket of its time.
    #[test]
    fn buckets_merge_in_pairs_keeping_peaks_and_sums() {
        let mut f = Feed::new();
        // A connection in SYN_SENT over [10 ms, 11 ms) only, and one established at 999 ms.
        let failed = || HostEvent::CallFailed {
            call: "connect",
            errno: Errno::TimedOut,
        };
        f.moves(10, CLIENT, client_conn(1), &[Closed, SynSent])
            .moves(11, CLIENT, client_conn(1), &[SynSent, Closed])
            .event(11, CLIENT, failed())
            .event(13, CLIENT, failed())
            .moves(999, CLIENT, client_conn(2), &[Closed, SynSent, Established]);
        assert_eq!(f.samples(CLIENT).len(), BUCKETS_MAX);
        assert_eq!(f.t.width(), BUCKET_FIRST);
        // 1000 ms is past bucket 999: one merge, 2 ms buckets.
        f.moves(1000, CLIENT, client_conn(3), &[Closed, SynSent]);
        assert_eq!(f.t.width(), SimDuration::from_millis(2));
        let s = f.samples(CLIENT);
        assert_eq!(s.len(), 501, "500 merged, and the one holding 1000 ms");
        assert_eq!(s[5].peak[SynSent as usize], 1, "[10, 12) ms");
        assert_eq!(s[4].peak[SynSent as usize], 0);
        assert_eq!(s[6].peak[SynSent as usize], 0);
        assert_eq!(
            (s[5].failed, s[6].failed),
            (1, 1),
            "[10, 12) and [12, 14) ms"
        );
        assert_eq!(s[499].established, 1, "999 ms is in [998, 1000) ms");
        assert_eq!(s[499].peak[Established as usize], 1);
        assert_eq!(s[500].peak[Established as usize], 1, "carried over");
        assert_eq!(s[500].peak[SynSent as usize], 1);
        // A record far later merges as often as needed at once: 10 s needs 16 ms buckets.
        f.moves(10_000, CLIENT, client_conn(4), &[Closed, SynSent]);
        assert_eq!(f.t.width(), SimDuration::from_millis(16));
        let s = f.samples(CLIENT);
        assert_eq!(s.len(), 626, "10 000 ms is in bucket 625");
        assert_eq!(s[0].peak[SynSent as usize], 1, "[0, 16) ms holds the first");
        assert_eq!(s[62].established, 1, "999 ms is in [992, 1008) ms");
        assert_eq!(f.total(CLIENT, |x| x.established), 1, "counts are kept");
        assert_eq!(s[0].failed, 2, "both in [0, 16) ms");
        assert_eq!(s[625].peak[SynSent as usize], 2);
    }

    /// A 100 000-connection run of two days keeps at most BUCKETS_MAX samples per host and
    /// no connection once it is closed; its totals and peaks survive every merge.
    #[test]
    fn memory_stays_bounded_for_a_long_run_of_many_connections() {
        let mut f = Feed::new();
        f.moves(0, SERVER, listener(), &[Closed, Listen]);
        // The expected peak, counted as the records come: a new TIME_WAIT, then the old one's
        // end.
        let (mut time_wait, mut peak_time_wait) = (0, 0);
        for i in 0..100_000u64 {
            let ms = i * 1_700; // one every 1.7 s: 170 000 s in all
            let port = (i % 60_000) as u16;
            f.moves(ms, SERVER, server_conn(port), &[Listen, SynReceived])
                .moves(
                    ms + 1,
                    SERVER,
                    server_conn(port),
                    &[SynReceived, Established],
                )
                .moves(ms + 1, SERVER, server_conn(port), &[Established, FinWait1])
                .moves(
                    ms + 2,
                    SERVER,
                    server_conn(port),
                    &[FinWait1, FinWait2, TimeWait],
                );
            time_wait += 1;
            peak_time_wait = peak_time_wait.max(time_wait);
            if i >= 36 {
                time_wait -= 1;
                // TIME_WAIT lasts 60 s: the one of 36 connections ago ends now.
                let old = ((i - 36) % 60_000) as u16;
                f.moves(ms + 2, SERVER, server_conn(old), &[TimeWait, Closed]);
            }
        }
        assert!(f.samples(SERVER).len() <= BUCKETS_MAX);
        assert_eq!(f.t.width(), SimDuration::from_millis(262_144));
        assert_eq!(f.total(SERVER, |x| x.established), 100_000);
        assert_eq!(f.peak(SERVER, TimeWait), peak_time_wait);
        assert_eq!(f.peak(SERVER, Listen), 1);
        assert!(f.t.hosts[1].half_open.is_empty());
    }

    /// The CSV: a header naming every state but CLOSED, then one row per bucket per host;
    /// rates are counts over the bucket's width; the end of the run closes the time line.
    #[test]
    fn csv_has_a_row_per_bucket_per_host() {
        let mut f = Feed::new();
        f.moves(0, SERVER, listener(), &[Closed, Listen])
            .moves(1, CLIENT, client_conn(1), &[Closed, SynSent])
            .moves(
                1,
                SERVER,
                server_conn(1),
                &[Listen, SynReceived, Established],
            )
            .moves(1, CLIENT, client_conn(1), &[SynSent, Established]);
        f.t.start(&["client".into(), "a, \"b\"".into()]);
        f.t.finish(at(3));
        assert_eq!(
            f.t.csv(),
            "time_s,host,LISTEN,SYN_SENT,SYN_RECEIVED,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,\
             CLOSING,TIME_WAIT,CLOSE_WAIT,LAST_ACK,established_per_s,failed_per_s\n\
             0.000000,client,0,0,0,0,0,0,0,0,0,0,0.000,0.000\n\
             0.000000,\"a, \"\"b\"\"\",1,0,0,0,0,0,0,0,0,0,0.000,0.000\n\
             0.001000,client,0,1,0,1,0,0,0,0,0,0,1000.000,0.000\n\
             0.001000,\"a, \"\"b\"\"\",1,0,1,1,0,0,0,0,0,0,1000.000,0.000\n\
             0.002000,client,0,0,0,1,0,0,0,0,0,0,0.000,0.000\n\
             0.002000,\"a, \"\"b\"\"\",1,0,0,1,0,0,0,0,0,0,0.000,0.000\n"
        );
    }

    /// The picture of a small run: a listener, two connections that close through TIME_WAIT
    /// on the client, a SYN refused by a full listen queue and a connect() that timed out.
    /// The snapshot is the SVG itself: review it by rendering it (rsvg-convert) as well.
    #[test]
    fn plot_of_a_small_run() {
        let mut f = Feed::new();
        let mut moves = vec![(0, SERVER, listener(), &[Closed, Listen][..])];
        for (start, port) in [(1, 1), (4, 2)] {
            let (client, server) = (client_conn(port), server_conn(port));
            moves.extend([
                (start, CLIENT, client, &[Closed, SynSent][..]),
                (start + 1, SERVER, server, &[Listen, SynReceived]),
                (start + 2, CLIENT, client, &[SynSent, Established]),
                (start + 3, SERVER, server, &[SynReceived, Established]),
                (start + 6, CLIENT, client, &[Established, FinWait1]),
                (
                    start + 7,
                    SERVER,
                    server,
                    &[Established, CloseWait, LastAck],
                ),
                (start + 8, CLIENT, client, &[FinWait1, FinWait2, TimeWait]),
                (start + 9, SERVER, server, &[LastAck, Closed]),
            ]);
        }
        moves.extend([
            (11, CLIENT, client_conn(3), &[Closed, SynSent][..]),
            (17, CLIENT, client_conn(3), &[SynSent, Closed]),
            (30, CLIENT, client_conn(1), &[TimeWait, Closed]),
        ]);
        moves.sort_by_key(|m| m.0);
        for (ms, host, conn, path) in moves {
            f.moves(ms, host, conn, path);
            if ms == 12 {
                f.delivered(12, SERVER, TcpFlags::SYN).note(
                    12,
                    SERVER,
                    server_conn(3),
                    Note::ListenOverflow,
                );
            }
            if ms == 17 {
                let failed = HostEvent::CallFailed {
                    call: "connect",
                    errno: Errno::TimedOut,
                };
                f.event(17, CLIENT, failed);
            }
        }
        f.t.finish(at(40));
        insta::assert_snapshot!(f.t.plot("small-run (seed 1): sockets per state"));
    }

    /// A host the timeline meets after some buckets (named late, or never named) gets a
    /// sample for every bucket so far, zeros, and a number for a name.
    #[test]
    fn a_host_met_late_has_every_bucket() {
        let mut t = StateTimeline::new();
        let event = HostEvent::CallFailed {
            call: "connect",
            errno: Errno::AddrNotAvail,
        };
        let record = |ms, host| TraceRecord {
            at: at(ms),
            kind: TraceKind::Protocol {
                host: HostId(host),
                event: &event,
            },
        };
        t.record(&record(3, 0));
        t.start(&["a".into(), "b".into()]);
        t.record(&record(5, 3));
        assert_eq!(t.host_names(), ["a", "b", "host2", "host3"]);
        for host in 0..4 {
            assert_eq!(t.samples(HostId(host)).len(), 6, "host {host}");
        }
        let failed = |h| -> Vec<u64> { t.samples(HostId(h)).iter().map(|x| x.failed).collect() };
        assert_eq!(failed(0), [0, 0, 0, 1, 0, 0]);
        assert_eq!(failed(1), [0; 6]);
        assert_eq!(failed(3), [0, 0, 0, 0, 0, 1]);
    }

    /// The plotted rates: each bin's count over its own length (a shorter last bin too).
    #[test]
    fn rates_are_counts_over_the_bins_length() {
        let samples: Vec<Sample> = [4, 0, 2, 2, 3]
            .into_iter()
            .map(|established| Sample {
                established,
                ..Sample::default()
            })
            .collect();
        let ms = SimDuration::from_millis(1);
        assert_eq!(
            rate_bins(&samples, 2, ms, |x| x.established),
            [2000.0, 2000.0, 3000.0]
        );
        assert_eq!(rate_bins(&samples, 1, ms, |x| x.failed), [0.0; 5]);
        assert_eq!(describe(ms), "1 ms");
        assert_eq!(describe(SimDuration::from_millis(512)), "512 ms");
        assert_eq!(describe(SimDuration::from_millis(2048)), "2.048 s");
        assert_eq!(describe(SimDuration::from_secs(1)), "1 s");
        assert_eq!(describe(SimDuration::from_micros(250)), "250 µs");
    }

    /// Sparse steady events widen the rate bins until each holds about 8 (one connection
    /// every 10 ms against 16 ms bins would draw a comb of 62 and 125 per second); dense ones
    /// keep 100 to 200 bins, and a handful of events changes nothing.
    #[test]
    fn rate_bins_are_wide_enough_for_sparse_events() {
        let timeline = |every: usize, events: usize| {
            let samples = (0..1000)
                .map(|i| Sample {
                    established: u64::from(i % every == 0 && i / every < events),
                    ..Sample::default()
                })
                .collect();
            StateTimeline {
                names: vec!["a".into()],
                hosts: vec![HostTimeline {
                    now: [0; STATE_COUNT],
                    half_open: BTreeSet::new(),
                    syn_delivered: false,
                    samples,
                }],
                width: SimDuration::from_millis(2),
                len: 1000,
                end: None,
            }
        };
        // 1000 buckets: 8 per bin gives 125 bins.
        assert_eq!(timeline(1, 1000).rate_bin(), 8);
        // 20 events 5 buckets apart: 8 events span 40 buckets, so bins of 64.
        let sparse = timeline(5, 20);
        assert_eq!(sparse.rate_bin(), 64);
        let rates = rate_bins(&sparse.hosts[0].samples, 64, sparse.width, |x| {
            x.established
        });
        // The busy span's first bin holds 13 of its events: within 2 % of 100 per second.
        assert_eq!(rates[0], 13.0 / 0.128);
        assert_eq!(
            timeline(5, 9).rate_bin(),
            8,
            "nine events are not worth wider bins"
        );
        // Never fewer than 10 bins: 12 events over the whole run would ask for 1024.
        assert_eq!(timeline(90, 12).rate_bin(), 64);
    }

    /// The sink passes every record on, and with no timeline only passes them on.
    #[test]
    fn the_sink_passes_every_record_on() {
        let mut seen = 0;
        let counter = |_: &TraceRecord<'_, HostEvent>| seen += 1;
        let mut sink = StateSink::new(counter, Some(StateTimeline::new()));
        sink.start(&["a".into()]);
        let event = HostEvent::Tcp(TcpEvent::State {
            conn: client_conn(1),
            from: Closed,
            to: SynSent,
        });
        let record = TraceRecord {
            at: at(2),
            kind: TraceKind::Protocol {
                host: HostId(0),
                event: &event,
            },
        };
        sink.record(&record);
        let (_, timeline) = sink.finish(at(5));
        let timeline = timeline.expect("asked for");
        assert_eq!(timeline.host_names(), ["a"]);
        assert_eq!(timeline.samples(HostId(0)).len(), 5);
        assert_eq!(timeline.end(), Some(at(5)));
        let mut passed = 0;
        let mut plain = StateSink::new(|_: &TraceRecord<'_, HostEvent>| passed += 1, None);
        plain.record(&record);
        plain.record(&record);
        assert!(plain.finish(at(5)).1.is_none());
        assert_eq!(seen, 1);
        assert_eq!(
            passed, 2,
            "the sink without a timeline passes every record on"
        );
    }
}
