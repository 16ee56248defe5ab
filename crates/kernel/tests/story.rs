//! Catalogue stories on the real kernel, compared with the model connection by connection
//! (`netsim_kernel::compare_scenario`, what `netsim kernel` prints). Needs root, iproute2 and
//! /dev/net/tun, as CI has.

use std::path::Path;
use std::time::Duration;

/// The catalogue stories that run on the kernel and must compare the same: every
/// connection's segments (relative numbers, flags but PSH, lengths, which options) at the same
/// times within the tolerance, and the same application errors, over their first second
/// (and the keep-alive story over the six seconds its probes take).
const SAME_ON_THE_KERNEL: [&str; 14] = [
    "handshake_and_client_close",
    "abortive_close",
    "syn_to_closed_port",
    "close_wait_leak",
    "half_close",
    "new_syn_in_time_wait",
    "port_exhaustion",
    "port_exhaustion_server_closes",
    "port_exhaustion_wider_range",
    "port_exhaustion_tw_reuse",
    "tail_loss_probe_fin",
    "lost_final_ack",
    "time_wait_assassination",
    "time_wait_assassination_rfc1337",
];

#[test]
fn catalogue_stories_compare_the_same_on_the_kernel() {
    let mut different = Vec::new();
    let stories = SAME_ON_THE_KERNEL
        .iter()
        .map(|name| (*name, Duration::from_secs(1)))
        .chain([("keepalive_peer_vanished", Duration::from_secs(6))]);
    for (name, horizon) in stories {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../scenarios/{name}.ron"));
        let scenario = netsim_scenario::load(&path).unwrap();
        let c = netsim_kernel::compare_scenario(&scenario, scenario.file.seed, horizon)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if !c.same() {
            different.push(format!("{name}: {:#?}", c.connections));
        }
    }
    assert!(different.is_empty(), "{}", different.join("\n"));
}
