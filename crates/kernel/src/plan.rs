//! What a scenario becomes on the kernel: a namespace per host with the sysctls its TCP
//! settings map to, a wire per link with its latency, and the application scripts. Anything
//! the kernel side cannot reproduce faithfully is refused here, with the setting or feature
//! named, before any namespace exists: a comparison with a silently different setup would
//! prove nothing. Pure: no root needed, unit-tested.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use netsim_engine::{LinkConfig, NetChange};
use netsim_scenario::Scenario;
use netsim_scenario::Step;
use netsim_tcp::{IsnMode, TcpConfig};

/// Why a scenario cannot run on the kernel.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot run on the kernel: {0}")]
pub struct Refusal(pub String);

/// Namespace sysctls: (`net.ipv4.tcp_sack`, `1`), in the order they are written.
pub type Sysctls = Vec<(String, String)>;

/// One host on the kernel side.
#[derive(Clone, Debug)]
pub struct KernelHost {
    /// The scenario's name for it.
    pub name: String,
    /// Its address.
    pub addr: Ipv4Addr,
    /// Namespace sysctls (`net.ipv4.tcp_sack` = `1`), in the order they are written.
    pub sysctls: Sysctls,
    /// Nagle on new sockets (otherwise TCP_NODELAY is set on each).
    pub nagle: bool,
    /// Rules of the host's profile that the kernel cannot take (it keeps Linux's).
    pub model_only: Vec<String>,
    /// Its application.
    pub program: Arc<[Step]>,
}

/// One link on the kernel side: a wire between two hosts' TUN devices.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelLink {
    /// Host indices.
    pub a: usize,
    /// Host indices.
    pub b: usize,
    /// The knobs from `a` to `b`.
    pub a_to_b: LinkConfig,
    /// The knobs from `b` to `a`.
    pub b_to_a: LinkConfig,
}

/// The whole kernel-side setup.
#[derive(Clone, Debug)]
pub struct KernelPlan {
    /// Hosts, in the scenario's order.
    pub hosts: Vec<KernelHost>,
    /// Links.
    pub links: Vec<KernelLink>,
    /// The targeted faults, judged on the wire.
    pub faults: Vec<netsim_engine::FaultRule>,
    /// Partitions and heals, in time order.
    pub cuts: Vec<Cut>,
    /// Crafted segments: (time since the start, what), in declaration order.
    pub injections: Vec<(Duration, netsim_engine::Injection)>,
}

/// A scheduled partition (or heal) between two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// When, since the start.
    pub at: Duration,
    /// From this host...
    pub from: usize,
    /// ...to this one.
    pub to: usize,
    /// Both directions (else only from -> to).
    pub both: bool,
    /// Cut (true) or healed (false).
    pub cut: bool,
}

impl KernelPlan {
    /// Whether packets from host `from` to host `to` are cut at `at` (the schedule's last
    /// change for that direction at or before `at`).
    pub fn is_cut(&self, from: usize, to: usize, at: Duration) -> bool {
        let mut cut = false;
        for c in self.cuts.iter().filter(|c| c.at <= at) {
            if (c.from == from && c.to == to) || (c.both && c.from == to && c.to == from) {
                cut = c.cut;
            }
        }
        cut
    }
}

/// Plans `scenario` for the kernel, or says why it cannot run there.
pub fn plan(scenario: &Scenario) -> Result<KernelPlan, Refusal> {
    let c = &scenario.compiled;
    if !c.randomize.is_empty() {
        return Err(Refusal(
            "randomised faults (`randomize`) are drawn by netsim's seeded streams; run one seed's \
             fixed schedule instead"
                .into(),
        ));
    }
    let on_seq =
        |rule: &netsim_engine::FaultRule| rule.filter.seq.is_some() || rule.filter.ack.is_some();
    if let Some(i) = c.topology.faults.iter().position(on_seq) {
        return Err(Refusal(format!(
            "fault {}: filters on sequence numbers (the kernel picks its own ISNs)",
            i + 1
        )));
    }
    let mut cuts = Vec::new();
    for (at, change) in &c.topology.schedule {
        let at = Duration::from_nanos(at.as_nanos());
        match *change {
            NetChange::Crash(_) | NetChange::Restart(_) => {
                return Err(Refusal(
                    "host crashes and restarts (the kernel's TCP state cannot be wiped on cue)"
                        .into(),
                ));
            }
            NetChange::Hold(..) | NetChange::Release(..) => {
                // Scenario files cannot schedule these (only test code, between steps), but a
                // compiled scenario could carry them: refuse by name rather than ignore.
                return Err(Refusal(
                    "links held and released (the kernel wire has no hold queue yet)".into(),
                ));
            }
            NetChange::Partition(a, b, dir) | NetChange::Heal(a, b, dir) => cuts.push(Cut {
                at,
                from: a.0 as usize,
                to: b.0 as usize,
                both: dir == netsim_engine::Direction::Both,
                cut: matches!(change, NetChange::Partition(..)),
            }),
        }
    }
    let mut hosts = Vec::new();
    for (spec, plan) in c.topology.hosts.iter().zip(&c.hosts) {
        let (sysctls, model_only) =
            settings(&plan.tcp).map_err(|e| Refusal(format!("host {}: {}", spec.name, e.0)))?;
        hosts.push(KernelHost {
            name: spec.name.clone(),
            addr: spec.addr,
            sysctls,
            model_only,
            nagle: plan.tcp.nagle,
            program: plan.program.clone(),
        });
    }
    let mut links = Vec::new();
    for l in &c.topology.links {
        let name = |i: usize| c.topology.hosts[i].name.as_str();
        let (a, b) = (l.a.0 as usize, l.b.0 as usize);
        for (from, to, cfg) in [(a, b, &l.a_to_b), (b, a, &l.b_to_a)] {
            if cfg.mtu_bytes.is_some() {
                return Err(Refusal(format!(
                    "link {} -> {}: an MTU below the TUN device's 1500 bytes would need ICMP \
                     \"fragmentation needed\" messages, which the model's network does not send",
                    name(from),
                    name(to)
                )));
            }
        }
        links.push(KernelLink {
            a,
            b,
            a_to_b: l.a_to_b.clone(),
            b_to_a: l.b_to_a.clone(),
        });
    }
    Ok(KernelPlan {
        hosts,
        links,
        faults: c.topology.faults.clone(),
        cuts,
        injections: c
            .topology
            .injections
            .iter()
            .map(|(at, inj)| (Duration::from_nanos(at.as_nanos()), inj.clone()))
            .collect(),
    })
}

/// The sysctls that give a namespace's kernel `cfg`, or the first setting no sysctl can
/// express. Settings equal to the Linux profile's defaults are written too, so a machine
/// whose defaults differ (a larger tcp_rmem, say) still matches the model.
pub fn sysctls(cfg: &TcpConfig) -> Result<Sysctls, Refusal> {
    Ok(settings(cfg)?.0)
}

/// A setting no sysctl reaches: its name, and how to read it from a configuration.
type Fixed = (&'static str, fn(&TcpConfig) -> String);

/// The sysctls for `cfg`, and the model-only rules its profile has where Linux has none
/// (the `rfc` profile's 1 s RTO floor, say): those the kernel cannot take, so the comparison
/// will show their effect. A setting the scenario itself changed from its profile and that
/// no sysctl can express is refused instead.
pub fn settings(cfg: &TcpConfig) -> Result<(Sysctls, Vec<String>), Refusal> {
    let linux = TcpConfig::linux();
    let profile = TcpConfig::named(cfg.profile).unwrap_or_else(TcpConfig::linux);
    let refuse = |what: &str, why: &str| Err(Refusal(format!("TCP setting `{what}`: {why}")));
    // Settings fixed in the kernel or that only the model has, each read as its debug form
    // here, in the profile and in Linux's.
    let fixed: [Fixed; 21] = [
        ("time_wait / msl", |c| format!("{:?}", c.time_wait_len())),
        ("rto_initial", |c| format!("{:?}", c.rto_initial)),
        ("rto_min", |c| format!("{:?}", c.rto_min)),
        ("rto_max", |c| format!("{:?}", c.rto_max)),
        ("mss", |c| format!("{:?}", c.mss)),
        ("delayed_ack", |c| format!("{:?}", c.delayed_ack)),
        ("initial_cwnd", |c| format!("{:?}", c.initial_cwnd_segments)),
        ("tw_accept_new_syn", |c| {
            format!("{:?}", c.tw_accept_new_syn)
        }),
        ("max_sockets", |c| format!("{:?}", c.max_sockets)),
        ("invalid_ratelimit", |c| {
            format!("{:?}", c.invalid_ratelimit)
        }),
        ("rto", |c| format!("{:?}", c.rto_rules)),
        ("acks", |c| format!("{:?}", c.ack_policy)),
        ("congestion", |c| format!("{:?}", c.congestion)),
        ("window", |c| format!("{:?}", c.window_rules)),
        ("timer_tick", |c| format!("{:?}", c.timer_tick)),
        ("rcv_buf_max", |c| format!("{:?}", c.rcv_buf_max)),
        ("time_wait_rules", |c| format!("{:?}", c.time_wait_rules)),
        ("nagle_minshall", |c| format!("{:?}", c.nagle_minshall)),
        ("fin_wait_1_acks_first", |c| {
            format!("{:?}", c.fin_wait_1_acks_first)
        }),
        ("close_wait_reset_is_epipe", |c| {
            format!("{:?}", c.close_wait_reset_is_epipe)
        }),
        ("sequence_check", |c| {
            format!("{:?}", c.linux_sequence_check)
        }),
    ];
    let mut model_only = Vec::new();
    for (what, value) in fixed {
        let here = value(cfg);
        if here != value(&profile) {
            return refuse(
                what,
                "Linux has no per-namespace sysctl for it (the kernel would keep its own value)",
            );
        }
        let lin = value(&linux);
        if here != lin {
            model_only.push(format!("{what} {here} (Linux: {lin})"));
        }
    }
    if matches!(cfg.isn, IsnMode::Fixed(_) | IsnMode::Clock) {
        return refuse(
            "isn",
            "the kernel always picks its ISNs with secure_tcp_seq",
        );
    }
    let secs = |d: netsim_core::SimDuration| (d.as_nanos() / 1_000_000_000).to_string();
    let flag = |b: bool| if b { "1" } else { "0" }.to_string();
    let out = vec![
        (
            "net.ipv4.tcp_fin_timeout".to_string(),
            secs(cfg.fin_timeout),
        ),
        (
            "net.ipv4.ip_local_port_range".into(),
            format!("{} {}", cfg.ephemeral_ports.0, cfg.ephemeral_ports.1),
        ),
        (
            "net.ipv4.tcp_syn_retries".into(),
            cfg.syn_retries.to_string(),
        ),
        (
            "net.ipv4.tcp_synack_retries".into(),
            cfg.synack_retries.to_string(),
        ),
        ("net.ipv4.tcp_retries2".into(), cfg.data_retries.to_string()),
        ("net.ipv4.tcp_window_scaling".into(), flag(cfg.window_scale)),
        ("net.ipv4.tcp_timestamps".into(), flag(cfg.timestamps)),
        ("net.ipv4.tcp_sack".into(), flag(cfg.sack)),
        ("net.ipv4.tcp_dsack".into(), flag(cfg.sack)),
        ("net.ipv4.tcp_recovery".into(), flag(cfg.rack)),
        (
            "net.ipv4.tcp_early_retrans".into(),
            if cfg.tail_loss_probe { "3" } else { "0" }.into(),
        ),
        (
            "net.ipv4.tcp_syn_linear_timeouts".into(),
            cfg.syn_linear_timeouts.to_string(),
        ),
        ("net.ipv4.tcp_rfc1337".into(), flag(cfg.rfc1337)),
        ("net.ipv4.tcp_tw_reuse".into(), flag(cfg.tw_reuse)),
        (
            "net.ipv4.tcp_max_tw_buckets".into(),
            cfg.max_time_wait.unwrap_or(i32::MAX as u32).to_string(),
        ),
        ("net.core.somaxconn".into(), cfg.somaxconn.to_string()),
        (
            "net.ipv4.tcp_keepalive_time".into(),
            secs(cfg.keepalive_time),
        ),
        (
            "net.ipv4.tcp_keepalive_intvl".into(),
            secs(cfg.keepalive_interval),
        ),
        (
            "net.ipv4.tcp_keepalive_probes".into(),
            cfg.keepalive_probes.to_string(),
        ),
        (
            "net.ipv4.tcp_rmem".into(),
            format!("4096 {} {}", cfg.rcv_buf, cfg.rcv_buf_max),
        ),
        (
            "net.ipv4.tcp_wmem".into(),
            format!("4096 {} 4194304", cfg.snd_buf),
        ),
        ("net.ipv4.tcp_invalid_ratelimit".into(), "500".into()),
    ];
    Ok((out, model_only))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(src: &str) -> Scenario {
        netsim_scenario::parse(src, "test.ron").expect("a valid scenario")
    }

    const BASE: &str = r#"Scenario(
        name: "t", description: "t", seed: 1, end: "10s",
        hosts: [
            Host(name: "client", addr: "10.0.0.1", app: [Connect(to: "server", port: 80), Close]),
            Host(name: "server", addr: "10.0.0.2", TCP app: [Listen(port: 80)]),
        ],
        links: [Link(a: "client", b: "server", latency: "1ms")],
    )"#;

    #[test]
    fn a_plain_two_host_story_plans_namespaces_sysctls_and_a_wire() {
        let p = plan(&scenario(&BASE.replace("TCP ", ""))).unwrap();
        assert_eq!(p.hosts.len(), 2);
        assert_eq!(p.hosts[1].addr, Ipv4Addr::new(10, 0, 0, 2));
        let one_ms = LinkConfig {
            latency: netsim_core::SimDuration::from_millis(1),
            ..LinkConfig::default()
        };
        assert_eq!(
            p.links,
            [KernelLink {
                a: 0,
                b: 1,
                a_to_b: one_ms.clone(),
                b_to_a: one_ms,
            }]
        );
        // The link's random knobs go to the wire, which draws them from the engine's streams.
        let lossy = plan(&scenario(&BASE.replace("TCP ", "").replace(
            r#"latency: "1ms")"#,
            r#"latency: "1ms", loss: 0.1, jitter: "2ms", bandwidth: "10Mbit")"#,
        )))
        .unwrap();
        assert_eq!(lossy.links[0].a_to_b.loss.get(), 0.1);
        assert_eq!(lossy.links[0].b_to_a.bandwidth_bps, Some(10_000_000));
        let get = |k: &str| {
            p.hosts[0]
                .sysctls
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("net.ipv4.tcp_sack"), Some("1"));
        assert_eq!(get("net.ipv4.tcp_syn_linear_timeouts"), Some("4"));
        assert_eq!(get("net.ipv4.ip_local_port_range"), Some("32768 60999"));
        assert_eq!(get("net.ipv4.tcp_rmem"), Some("4096 131072 6291456"));
    }

    #[test]
    fn settings_the_kernel_cannot_take_are_refused_by_name() {
        let cases = [
            ("tcp: (time_wait: \"1s\"), ", "time_wait"),
            ("tcp: (rto_min: \"1s\"), ", "rto_min"),
            ("tcp: (isn: Fixed(5)), ", "isn"),
            ("tcp: (delayed_ack: \"200ms\"), ", "delayed_ack"),
        ];
        for (tcp, named) in cases {
            let e = plan(&scenario(&BASE.replace("TCP ", tcp))).unwrap_err();
            assert!(e.0.contains(named), "{tcp}: {e}");
            assert!(e.0.contains("server"), "names the host: {e}");
        }
        let ok = plan(&scenario(
            &BASE.replace("TCP ", "tcp: (sack: false, fin_timeout: \"30s\"), "),
        ))
        .unwrap();
        let sysctls = &ok.hosts[1].sysctls;
        assert!(sysctls.contains(&("net.ipv4.tcp_sack".into(), "0".into())));
        assert!(sysctls.contains(&("net.ipv4.tcp_fin_timeout".into(), "30".into())));
    }

    #[test]
    fn partitions_become_a_cut_schedule_per_direction() {
        let src = BASE.replace("TCP ", "").replace(
            "links: [",
            r#"events: [PartitionOneWay(at: "1s", from: "client", to: "server"), Heal(at: "3s", between: ("client", "server"))], links: ["#,
        );
        let p = plan(&scenario(&src)).unwrap();
        let s = Duration::from_secs;
        assert!(!p.is_cut(0, 1, s(0)));
        assert!(p.is_cut(0, 1, s(2)), "client to server cut from 1 s");
        assert!(!p.is_cut(1, 0, s(2)), "one way only");
        assert!(!p.is_cut(0, 1, s(3)), "healed at 3 s");
    }

    #[test]
    fn network_features_the_wire_cannot_stage_are_refused() {
        let cases = [
            (
                r#"latency: "1ms")"#,
                r#"latency: "1ms", mtu: 576)"#,
                "fragmentation needed",
            ),
            (
                r#"links: ["#,
                r#"events: [Crash(at: "1s", host: "server"), Restart(at: "2s", host: "server")], links: ["#,
                "crashes",
            ),
            (
                r#"links: ["#,
                r#"faults: [Fault(from: "client", seq: (1, 2), occurrence: Nth(1), action: Drop)], links: ["#,
                "fault 1: filters on sequence numbers",
            ),
            (
                r#"links: ["#,
                r#"events: [Hold(at: "1s", between: ("client", "server"))], links: ["#,
                "links held and released",
            ),
        ];
        for (from, to, named) in cases {
            let src = BASE.replace("TCP ", "").replace(from, to);
            let e = plan(&scenario(&src)).unwrap_err();
            assert!(e.0.contains(named), "{e}");
        }
    }
}
