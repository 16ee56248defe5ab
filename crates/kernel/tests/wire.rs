//! The plumbing on the real kernel: two namespaces joined by a wire over TUN devices carry a
//! TCP connection between real sockets, with the link's latency, and the wire captures every
//! packet. Needs root and /dev/net/tun, as CI has; it fails (never skips) without them.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use netsim_kernel::netns::Netns;
use netsim_kernel::tun::Tun;
use netsim_kernel::wire::{Fate, Wire};

/// TCP flags of a captured IPv4 packet (no IP options, as Linux sends).
fn tcp_flags(bytes: &[u8]) -> u8 {
    assert_eq!(bytes[0] >> 4, 4, "IPv4");
    assert_eq!(bytes[9], 6, "TCP");
    let ihl = usize::from(bytes[0] & 0x0f) * 4;
    bytes[ihl + 13]
}

fn host(prefix: &str, name: &str, addr: &str) -> (Netns, Tun) {
    let ns = Netns::create(&format!("{prefix}{name}")).expect("namespace");
    let tun = ns.inside("TUN", || Tun::open("tun0")).expect("TUN device");
    ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", "tun0"])
        .expect("address");
    ns.ip(&["link", "set", "tun0", "up"]).expect("link up");
    (ns, tun)
}

#[test]
fn a_tcp_connection_crosses_the_wire_with_its_latency_and_is_captured() {
    netsim_kernel::prerequisites().expect("the machine can run the kernel side");
    let _lock = netsim_kernel::states::exclusive().unwrap();
    let prefix = netsim_kernel::run_prefix();
    let trace = netsim_kernel::states::StateTrace::start(&prefix).unwrap();
    let (a, tun_a) = host(&prefix, "a", "10.0.0.1");
    let (b, tun_b) = host(&prefix, "b", "10.0.0.2");
    let start = Instant::now();
    let wire = Wire::start(
        tun_a,
        tun_b,
        Duration::from_millis(5),
        start,
        Box::new(|_: usize, _: &[u8]| Fate::PASS),
        std::sync::Arc::new(|_, _| false),
    );
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let b_ns = &b;
    let server = std::thread::scope(|s| {
        let server = s.spawn(move || {
            b_ns.enter().unwrap();
            let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80)).unwrap();
            bound_tx.send(()).unwrap();
            let (mut c, _) = l.accept().unwrap();
            let mut req = [0u8; 64];
            c.read_exact(&mut req).unwrap();
            c.write_all(&req).unwrap();
            let mut rest = Vec::new();
            c.read_to_end(&mut rest).unwrap();
            rest.len()
        });
        bound_rx.recv().unwrap(); // the listener is up
        let client = s.spawn(|| {
            a.enter().unwrap();
            let t0 = Instant::now();
            let mut c =
                TcpStream::connect(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80)).unwrap();
            let connect_took = t0.elapsed();
            c.write_all(&[7; 64]).unwrap();
            let mut reply = [0u8; 64];
            c.read_exact(&mut reply).unwrap();
            assert_eq!(reply, [7; 64]);
            connect_took
        });
        let connect_took = client.join().unwrap();
        assert!(
            connect_took >= Duration::from_millis(10),
            "a handshake takes a round trip of 2 x 5 ms, took {connect_took:?}"
        );
        server.join().unwrap()
    });
    assert_eq!(server, 0, "nothing after the request");
    std::thread::sleep(Duration::from_millis(30));
    let captured = wire.stop().unwrap();
    let flags: Vec<u8> = captured.iter().map(|c| tcp_flags(&c.bytes)).collect();
    // What the linux profile models: SYN, SYN-ACK, ACK; the request and its ACK at once
    // (quick-ACK mode), the reply and its ACK; FIN, FIN+ACK, ACK. Ten segments.
    assert_eq!(
        flags,
        [0x02, 0x12, 0x10, 0x18, 0x10, 0x18, 0x10, 0x11, 0x11, 0x10],
        "{flags:x?}"
    );
    assert!(captured.iter().all(|c| c.fate == Fate::PASS));
    let directions: Vec<usize> = captured.iter().map(|c| c.direction).collect();
    assert_eq!(directions, [0, 1, 0, 0, 1, 1, 0, 0, 1, 0]);
    // The state paths, from the kernel's own tracepoint: the client's is the active close,
    // FIN_WAIT_2 passed through as the FIN+ACK arrives (as the linux profile models it), the
    // server's the passive one. The tracepoint never shows TIME_WAIT: tcp_time_wait hands
    // the connection to a timewait socket and closes the full socket (tcp_done), so the
    // kernel reports FIN_WAIT_2 -> CLOSED where the connection enters TIME_WAIT.
    let changes = trace.stop().unwrap();
    let path = |local: &str| -> Vec<&str> {
        let local: SocketAddrV4 = local.parse().unwrap();
        let mut p = Vec::new();
        for c in changes
            .iter()
            .filter(|c| c.local.ip() == local.ip() && c.remote.port() != 0)
        {
            if c.local.port() != local.port() && local.port() != 0 {
                continue;
            }
            if p.is_empty() {
                p.push(c.from);
            }
            p.push(c.to);
        }
        p
    };
    assert_eq!(
        path("10.0.0.1:0"),
        [
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "CLOSED"
        ]
    );
    assert_eq!(
        path("10.0.0.2:80"),
        [
            "LISTEN",
            "SYN_RECEIVED",
            "ESTABLISHED",
            "CLOSE_WAIT",
            "LAST_ACK",
            "CLOSED"
        ]
    );
    drop((a, b));
}
