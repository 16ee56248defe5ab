//! The kernel side of `netsim kernel` (work in progress, issue 9): a scenario's hosts become
//! network namespaces of this machine, each link a user-space wire between TUN devices, so
//! the machine's own Linux TCP stack plays the scenario and its packets can be compared with
//! the model's. This crate holds the plumbing: namespaces ([`netns`]), TUN devices ([`tun`])
//! and the wire that relays, delays, drops and captures packets ([`wire`]). It knows nothing
//! of the TCP model; the comparison lives above it.
//!
//! Everything here needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), iproute2 and
//! /dev/net/tun; [`prerequisites`] says which is missing.

pub mod apps;
pub mod compare;
pub mod faults;
pub mod netns;
pub mod plan;
pub mod states;
pub mod tun;
pub mod wire;

use netsim_engine::InjectOutcome;
use thiserror::Error;

/// What went wrong on the kernel side.
#[derive(Debug, Error)]
pub enum KernelError {
    /// A system call or a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// Setting up the namespaces, devices or routes failed.
    #[error("{0}")]
    Setup(String),
    /// The machine cannot run the kernel side.
    #[error("the kernel side needs {0}")]
    Missing(String),
    /// Ctrl-C (SIGINT or SIGTERM) stopped the run; everything it made was removed.
    #[error("interrupted; the namespaces, devices and trace instance of the run were removed")]
    Interrupted,
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe. The run polls the flag and unwinds normally,
    // so the guards remove what it made.
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Turns SIGINT and SIGTERM into a flag the kernel run polls ([`interrupted`]), so Ctrl-C
/// ends a run through its guards instead of leaving namespaces behind.
pub fn catch_interrupts() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Whether Ctrl-C arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Removes what runs of processes that no longer exist left behind (a `kill -9` gives no
/// guard a chance): namespaces and tracefs instances named `nsk<pid>r<n>...`.
pub fn remove_leftovers() {
    let dead = |name: &str| -> bool {
        let Some(rest) = name.strip_prefix("nsk") else {
            return false;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    };
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead(&name) {
                let _ = netns::run_ip(&["netns", "del", &name]);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/sys/kernel/tracing/instances") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead(&name) {
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
}

/// Checks that this process can run the kernel side: root, /dev/net/tun and iproute2.
pub fn prerequisites() -> Result<(), KernelError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(KernelError::Missing(
            "root (network namespaces and TUN devices need CAP_NET_ADMIN)".into(),
        ));
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Err(KernelError::Missing(
            "/dev/net/tun (the tun kernel module: modprobe tun)".into(),
        ));
    }
    let ip = std::process::Command::new("ip").arg("-V").output();
    if !ip.is_ok_and(|o| o.status.success()) {
        return Err(KernelError::Missing(
            "iproute2's `ip` command (apt-get install iproute2)".into(),
        ));
    }
    Ok(())
}

/// A name prefix unique to this process and run, so that namespaces and devices of
/// concurrent runs never collide and leftovers can be recognised.
pub fn run_prefix() -> String {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("nsk{}r{run}", std::process::id())
}

/// Everything one kernel run recorded.
#[derive(Debug)]
pub struct KernelRun {
    /// Every packet on the wires, with the index of the host that sent it, in time order.
    pub packets: Vec<(usize, wire::Captured)>,
    /// What the applications saw.
    pub apps: apps::AppLog,
    /// Socket state changes, with times on the wire's clock.
    pub states: Vec<states::StateChange>,
    /// Per fault rule, how often it matched and fired on the kernel's wire.
    pub fault_counts: Vec<faults::Count>,
    /// Per injection, in declaration order: whether the wire sent it.
    pub injections: Vec<netsim_engine::InjectOutcome>,
}

/// Runs a planned scenario on this machine's kernel for `horizon` of real time: a namespace per
/// host with its sysctls, a wire per link (a TUN device at each end, a /32 route to the peer
/// through it), the applications on real sockets.
pub fn run(
    plan: &plan::KernelPlan,
    seed: u64,
    horizon: std::time::Duration,
) -> Result<KernelRun, KernelError> {
    prerequisites()?;
    let _lock = states::exclusive()?;
    remove_leftovers();
    let prefix = run_prefix();
    let mut namespaces = Vec::new();
    for (i, host) in plan.hosts.iter().enumerate() {
        let ns = netns::Netns::create(&format!("{prefix}h{i}"))?;
        for (key, value) in &host.sysctls {
            ns.sysctl(key, value)?;
        }
        namespaces.push(ns);
    }
    // One TUN device per end of each link: the host's address on it, the peer behind it.
    let open_end = |l: usize, me: usize, peer: usize| -> Result<tun::Tun, KernelError> {
        let ns = &namespaces[me];
        let dev = format!("tun{l}");
        let tun = ns.inside("TUN", || tun::Tun::open(&dev))?;
        ns.ip(&[
            "addr",
            "add",
            &format!("{}/32", plan.hosts[me].addr),
            "dev",
            &dev,
        ])?;
        ns.ip(&["link", "set", &dev, "up"])?;
        ns.ip(&[
            "route",
            "add",
            &format!("{}/32", plan.hosts[peer].addr),
            "dev",
            &dev,
        ])?;
        Ok(tun)
    };
    let mut ends = Vec::new();
    for (l, link) in plan.links.iter().enumerate() {
        ends.push((open_end(l, link.a, link.b)?, open_end(l, link.b, link.a)?));
    }
    let trace = states::StateTrace::start(&prefix)?;
    let start = std::time::Instant::now();
    let mono_start = states::monotonic_now();
    let mut wires = Vec::new();
    let fault_counts: faults::SharedCounts = std::sync::Arc::new(std::sync::Mutex::new(vec![
        faults::Count::default();
        plan.faults.len()
    ]));
    for (link, (a, b)) in plan.links.iter().zip(ends) {
        let judge = std::sync::Arc::new(std::sync::Mutex::new(faults::Judge::new(
            plan.faults.clone(),
            fault_counts.clone(),
            netsim_engine::HostId(link.a as u32),
            netsim_engine::HostId(link.b as u32),
        )));
        let cut_plan = plan.clone();
        let (ha, hb) = (link.a, link.b);
        let cuts: wire::Cuts = std::sync::Arc::new(move |d, at| {
            let (from, to) = if d == 0 { (ha, hb) } else { (hb, ha) };
            cut_plan.is_cut(from, to, at)
        });
        let mut injections: Vec<_> = plan
            .injections
            .iter()
            .enumerate()
            .filter_map(|(i, (at, inj))| {
                let (from, to) = (inj.from.0 as usize, inj.to.0 as usize);
                let direction = match (from, to) {
                    _ if (from, to) == (ha, hb) => 0,
                    _ if (from, to) == (hb, ha) => 1,
                    _ => return None,
                };
                Some((*at, direction, i, inj.clone()))
            })
            .collect();
        injections.sort_by_key(|(at, _, i, _)| (*at, *i));
        let direction =
            |from: usize, to: usize, config: &netsim_engine::LinkConfig| wire::LinkDirection {
                config: config.clone(),
                streams: netsim_engine::link::LinkStreams::new(
                    seed,
                    &plan.hosts[from].name,
                    &plan.hosts[to].name,
                ),
            };
        wires.push((
            (ha, hb),
            wire::Wire::start_link(
                a,
                b,
                [
                    direction(ha, hb, &link.a_to_b),
                    direction(hb, ha, &link.b_to_a),
                ],
                start,
                Box::new(judge),
                cuts,
                wire::Crafting {
                    injections,
                    addrs: plan.hosts.iter().map(|h| h.addr).collect(),
                },
            ),
        ));
    }
    let hosts: Vec<_> = plan
        .hosts
        .iter()
        .zip(&namespaces)
        .map(|(h, ns)| (ns, h.addr, h.nagle, h.program.clone()))
        .collect();
    let (apps, leftovers) = apps::run(&hosts, start, horizon)?;
    // The kernel plays the whole horizon, as the model's run is cut at it: timers (a
    // delayed ACK, a retransmission) still fire after the applications are done.
    let end = start + horizon;
    while !interrupted() {
        let Some(left) = end.checked_duration_since(std::time::Instant::now()) else {
            break;
        };
        std::thread::sleep(left.min(std::time::Duration::from_millis(20)));
    }
    let mut packets = Vec::new();
    let mut injections = vec![netsim_engine::InjectOutcome::Pending; plan.injections.len()];
    for ((ha, hb), wire) in wires {
        let (captured, outcomes) = wire.outcomes_after_stop()?;
        packets.extend(
            captured
                .into_iter()
                .map(|c| (if c.direction == 0 { ha } else { hb }, c)),
        );
        for (i, o) in outcomes.into_iter().enumerate() {
            if o != netsim_engine::InjectOutcome::Pending {
                injections[i] = o;
            }
        }
    }
    packets.sort_by_key(|(_, c)| c.at);
    drop(leftovers);
    let states = trace
        .stop()?
        .into_iter()
        .map(|mut c| {
            c.at = c.at.saturating_sub(mono_start);
            c
        })
        .collect();
    drop(namespaces);
    if interrupted() {
        return Err(KernelError::Interrupted);
    }
    let fault_counts = fault_counts.lock().expect("fault counts").clone();
    Ok(KernelRun {
        packets,
        apps,
        states,
        fault_counts,
        injections,
    })
}

/// The model's segments and state changes of a run cut at a horizon.
struct ModelSegments {
    cut: netsim_core::SimTime,
    seen: Vec<compare::Seen>,
    states: Vec<states::StateChange>,
}

impl netsim_engine::TraceSink<netsim_host::HostEvent> for ModelSegments {
    fn record(&mut self, r: &netsim_engine::TraceRecord<'_, netsim_host::HostEvent>) {
        if r.at > self.cut {
            return;
        }
        if let netsim_engine::TraceKind::Protocol {
            event: netsim_host::HostEvent::Tcp(netsim_tcp::TcpEvent::State { conn, from, to }),
            ..
        } = &r.kind
        {
            self.states.push(states::StateChange {
                at: std::time::Duration::from_nanos(r.at.as_nanos()),
                local: conn.local,
                remote: conn.remote,
                from: from.name(),
                to: to.name(),
            });
        }
        if let netsim_engine::TraceKind::Sent {
            host,
            packet,
            sender_state,
            ..
        } = &r.kind
        {
            self.seen.push(compare::Seen {
                at: std::time::Duration::from_nanos(r.at.as_nanos()),
                from: host.0 as usize,
                packet: (*packet).clone(),
                injected: *sender_state == netsim_engine::inject::INJECTED,
            });
        }
    }
}

/// The outcome of `netsim kernel`: per connection, and the applications' errors.
#[derive(Debug)]
pub struct Comparison {
    /// Host names, by index.
    pub hosts: Vec<String>,
    /// One verdict per connection of the longer side, matched by order of appearance.
    pub connections: Vec<compare::Verdict>,
    /// Errors the applications saw, per host, as (model, kernel) lists of errno names.
    pub errors: Vec<(Vec<String>, Vec<String>)>,
    /// Packets read from the kernel's wire that could not be decoded.
    pub undecodable: usize,
    /// Per host, rules of its profile the kernel cannot take (their effect shows as
    /// differences).
    pub model_only: Vec<Vec<String>>,
    /// The scenario's `Sent` expectations, checked in both worlds.
    pub sent: Vec<SentCheck>,
    /// Per injection: what became of it in the model and on the kernel.
    pub injections: Vec<(InjectOutcome, InjectOutcome)>,
    /// Per connection found in both worlds and per side, the states it went through.
    pub paths: Vec<compare::PathCheck>,
    /// Per fault rule: how often it matched and fired in the model and on the kernel (for
    /// the reader; a fault that acted differently shows in the segments).
    pub faults: Vec<(faults::Count, faults::Count)>,
}

/// A `Sent` expectation ("host sends [F.] in [1s, 1.1s], exactly 1") in both worlds: the
/// scenario pins the kernel's timing as a packetdrill script does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCheck {
    /// The expectation in words.
    pub text: String,
    /// Segments counted in the model.
    pub model: u64,
    /// Segments counted on the kernel.
    pub kernel: u64,
    /// Whether the model's count is within the bounds.
    pub model_ok: bool,
    /// Whether the kernel's count is within the bounds.
    pub kernel_ok: bool,
}

impl Comparison {
    /// True when every connection and every host's errors are the same, every injection
    /// went out in both worlds, and the kernel meets every `Sent` expectation the model meets.
    pub fn same(&self) -> bool {
        self.connections
            .iter()
            .all(|v| matches!(v, compare::Verdict::Same { .. }))
            && self.errors.iter().all(|(m, k)| m == k)
            && self.undecodable == 0
            && self.sent.iter().all(|c| c.kernel_ok == c.model_ok)
            && self.injections.iter().all(|(m, k)| m == k)
            && self.paths.iter().all(|p| p.same)
    }
}

/// Runs `scenario` in the model (seed `seed`) and on this machine's kernel for `horizon`, and
/// compares them.
pub fn compare_scenario(
    scenario: &netsim_scenario::Scenario,
    seed: u64,
    horizon: std::time::Duration,
) -> Result<Comparison, Box<dyn std::error::Error>> {
    let plan = plan::plan(scenario)?;
    let cut = netsim_core::SimTime::after(netsim_core::SimDuration::from_nanos(
        horizon.as_nanos() as u64
    ));
    // The model runs to the horizon too, so what its applications saw is cut there as well.
    let mut model_scenario = scenario.clone();
    let end = &mut model_scenario.compiled.limits.end;
    *end = Some(end.map_or(cut, |e| e.min(cut)));
    let (report, model) = model_scenario.run(
        seed,
        ModelSegments {
            cut,
            seen: Vec::new(),
            states: Vec::new(),
        },
    )?;
    let kernel = run(&plan, seed, horizon)?;

    let mut undecodable = 0;
    let mut seen = Vec::new();
    for (from, c) in &kernel.packets {
        match netsim_core::codec::parse(&c.bytes) {
            Ok(packet) => seen.push(compare::Seen {
                at: c.at,
                from: *from,
                packet,
                injected: c.injected,
            }),
            Err(_) => undecodable += 1,
        }
    }
    let hosts: Vec<String> = plan.hosts.iter().map(|h| h.name.clone()).collect();
    let m = compare::conversations(&model.seen);
    let k = compare::conversations(&seen);
    let empty = compare::Conversation {
        opener: 0,
        segments: Vec::new(),
    };
    let model_paths = compare::state_paths(&m, &model.states);
    // Sockets the run leaves open are closed after the horizon: not part of the comparison.
    let kernel_states: Vec<_> = kernel
        .states
        .iter()
        .filter(|c| c.at <= horizon)
        .cloned()
        .collect();
    let kernel_paths = compare::state_paths(&k, &kernel_states);
    let paths: Vec<compare::PathCheck> = (0..m.len().min(k.len()))
        .flat_map(|i| {
            let p = &m[i].segments[0].packet;
            let name = |addr: std::net::Ipv4Addr| {
                plan.hosts
                    .iter()
                    .find(|h| h.addr == addr)
                    .map_or_else(|| addr.to_string(), |h| h.name.clone())
            };
            let (lo, hi) = if p.src <= p.dst {
                (p.src, p.dst)
            } else {
                (p.dst, p.src)
            };
            let sides = [name(lo), name(hi)];
            compare::compare_paths(i, &model_paths[i], &kernel_paths[i], &sides, horizon)
        })
        .collect();
    let connections = (0..m.len().max(k.len()))
        .map(|i| {
            compare::compare(
                m.get(i).unwrap_or(&empty),
                k.get(i).unwrap_or(&empty),
                &hosts,
                horizon,
            )
        })
        .collect();
    let errors = report
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut model: Vec<String> = h
                .app
                .errors
                .iter()
                .flat_map(|(e, n)| std::iter::repeat_n(e.name().to_string(), *n as usize))
                .collect();
            let mut on_kernel: Vec<String> = kernel
                .apps
                .errors
                .iter()
                .filter(|e| e.host == i && e.errno != "EOF")
                .map(|e| e.errno.clone())
                .collect();
            on_kernel.sort();
            model.sort();
            (model, on_kernel)
        })
        .collect();
    let sent = scenario
        .compiled
        .expectations
        .iter()
        .filter_map(|e| match e {
            netsim_scenario::Expectation::Sent { window, bounds } => Some((window, bounds)),
            _ => None,
        })
        .zip(&report.sent)
        .map(|((window, bounds), model_count)| {
            let host = |addr: std::net::Ipv4Addr| {
                plan.hosts
                    .iter()
                    .position(|h| h.addr == addr)
                    .map(|i| netsim_engine::HostId(i as u32))
            };
            let kernel_count = seen
                .iter()
                .filter(|s| {
                    let at = netsim_core::SimTime::after(netsim_core::SimDuration::from_nanos(
                        s.at.as_nanos() as u64,
                    ));
                    let from = host(s.packet.src);
                    let to = host(s.packet.dst);
                    from.zip(to)
                        .is_some_and(|(f, t)| window.counts(at, f, t, &s.packet, s.injected))
                })
                .count() as u64;
            SentCheck {
                text: format!(
                    "{} {bounds}",
                    netsim_scenario::sent_text(window, &|h| hosts[h.0 as usize].clone())
                ),
                model: *model_count,
                kernel: kernel_count,
                model_ok: bounds.holds(*model_count),
                kernel_ok: bounds.holds(kernel_count),
            }
        })
        .collect();
    let injections = report
        .outcome
        .injections
        .iter()
        .cloned()
        .zip(kernel.injections.iter().cloned())
        .collect();
    Ok(Comparison {
        hosts,
        connections,
        errors,
        undecodable,
        model_only: plan.hosts.iter().map(|h| h.model_only.clone()).collect(),
        sent,
        injections,
        paths,
        faults: report
            .outcome
            .faults
            .iter()
            .copied()
            .zip(kernel.fault_counts.iter().copied())
            .collect(),
    })
}
