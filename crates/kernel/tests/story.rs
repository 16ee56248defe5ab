//! A catalogue story on the real kernel, compared with the model segment by segment (flags
//! and direction for now; the byte-level decoding of the full comparison comes with the
//! wire codec). Needs root and /dev/net/tun, as CI has.

use std::path::Path;
use std::time::Duration;

use netsim_engine::{TraceKind, TraceRecord, TraceSink};
use netsim_host::HostEvent;

/// The model's segments: (sending host index, tcpdump flags).
#[derive(Default)]
struct Segments(Vec<(u32, String)>);

impl TraceSink<HostEvent> for Segments {
    fn record(&mut self, r: &TraceRecord<'_, HostEvent>) {
        if let TraceKind::Sent { host, packet, .. } = &r.kind {
            self.0.push((host.0, packet.segment.flags.to_string()));
        }
    }
}

/// tcpdump's letters for the flags byte of a captured IPv4 packet.
fn flags(bytes: &[u8]) -> String {
    let ihl = usize::from(bytes[0] & 0x0f) * 4;
    netsim_core::TcpFlags(bytes[ihl + 13]).to_string()
}

#[test]
fn handshake_and_client_close_sends_the_same_segments_on_the_kernel_as_in_the_model() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/handshake_and_client_close.ron");
    let scenario = netsim_scenario::load(&path).unwrap();
    let (_, model) = scenario
        .run(scenario.file.seed, Segments::default())
        .unwrap();
    let plan = netsim_kernel::plan::plan(&scenario).unwrap();
    let kernel = netsim_kernel::run(&plan, Duration::from_secs(2)).unwrap();
    assert!(kernel.apps.errors.is_empty(), "{:?}", kernel.apps.errors);
    assert_eq!(kernel.apps.received, [100, 100]);
    let on_kernel: Vec<(u32, String)> = kernel
        .packets
        .iter()
        .map(|c| (c.direction as u32, flags(&c.bytes)))
        .collect();
    assert_eq!(on_kernel, model.0, "kernel vs model (host, flags)");
}
