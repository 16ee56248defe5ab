//! A catalogue story on the real kernel, compared with the model segment by segment (flags
//! and direction for now; the byte-level decoding of the full comparison comes with the
//! wire codec). Needs root and /dev/net/tun, as CI has.

use std::path::Path;
use std::time::Duration;

use netsim_engine::{TraceKind, TraceRecord, TraceSink};
use netsim_host::HostEvent;

/// The model's segments: (time, sending host index, tcpdump flags).
#[derive(Default)]
struct Segments(Vec<(netsim_core::SimTime, u32, String)>);

impl TraceSink<HostEvent> for Segments {
    fn record(&mut self, r: &TraceRecord<'_, HostEvent>) {
        if let TraceKind::Sent { host, packet, .. } = &r.kind {
            self.0
                .push((r.at, host.0, packet.segment.flags.to_string()));
        }
    }
}

/// tcpdump's letters for the flags byte of a captured IPv4 packet.
fn flags(bytes: &[u8]) -> String {
    let ihl = usize::from(bytes[0] & 0x0f) * 4;
    netsim_core::TcpFlags(bytes[ihl + 13]).to_string()
}

/// The model's segments of a run cut at `horizon`.
fn model(scenario: &netsim_scenario::Scenario, horizon: Duration) -> Vec<(u32, String)> {
    let (_, segments) = scenario
        .run(scenario.file.seed, Segments::default())
        .unwrap();
    let cut = netsim_core::SimTime::after(netsim_core::SimDuration::from_nanos(
        horizon.as_nanos() as u64
    ));
    segments
        .0
        .into_iter()
        .filter(|(at, _, _)| *at <= cut)
        .map(|(_, host, flags)| (host, flags))
        .collect()
}

/// The catalogue stories that run on the kernel and must compare the same: every
/// connection's segments (relative numbers, flags but PSH, lengths, which options) at the same
/// times within the tolerance, and the same application errors, over their first second.
const SAME_ON_THE_KERNEL: [&str; 10] = [
    "handshake_and_client_close",
    "abortive_close",
    "syn_to_closed_port",
    "close_wait_leak",
    "half_close",
    "new_syn_in_time_wait",
    "port_exhaustion",
    "port_exhaustion_server_closes",
    "port_exhaustion_wider_range",
    "tail_loss_probe_fin",
];

#[test]
fn catalogue_stories_compare_the_same_on_the_kernel() {
    let mut different = Vec::new();
    for name in SAME_ON_THE_KERNEL {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../scenarios/{name}.ron"));
        let scenario = netsim_scenario::load(&path).unwrap();
        let c =
            netsim_kernel::compare_scenario(&scenario, scenario.file.seed, Duration::from_secs(1))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        if !c.same() {
            different.push(format!("{name}: {:#?}", c.connections));
        }
    }
    assert!(different.is_empty(), "{}", different.join("\n"));
}
