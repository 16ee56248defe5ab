//! The workload on smoltcp 0.14: a client and a server TCP socket on one `Interface` over
//! smoltcp's `Loopback` device (medium IP), driven by a poll loop with a virtual clock that
//! jumps to whatever `Interface::poll_at` asks for. This is the bare TCP state machine: no
//! links, no event queue, no application layer beyond the few lines below.
//!
//! TIME_WAIT: we let it run its course. The client's socket sits in TIME_WAIT for smoltcp's
//! 10 s close delay and the loop jumps the virtual clock to its expiry, so the connection
//! ends the way netsim's does (netsim also arms and fires a TIME_WAIT timer per connection)
//! and costs no extra frame. Aborting instead would send a RST, a frame netsim does not send.
//! The client's port still changes per connection, so that the next SYN never meets an old
//! incarnation of the same 4-tuple.
//!
//! Cost model: 9 frames a connection, all at one virtual instant (SYN, SYN-ACK, ACK, request,
//! response, client FIN, its ACK, server FIN, last ACK), then one jump of the clock to the
//! TIME_WAIT expiry: about a dozen polls. The figure printed counts the frames.

use std::time::Instant as WallInstant;

use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Loopback, Medium};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use crate::{MESSAGE_BYTES, Outcome};

const SERVER_PORT: u16 = 80;
const CLIENT_PORTS_FIRST: u16 = 1024;
const SOCKET_BUFFER_BYTES: usize = 1024;
/// Polls one connection may take before the loop calls it stalled (it needs about a dozen).
const POLLS_PER_CONNECTION_MAX: u32 = 1000;

/// smoltcp's loopback device, counting the frames it carries.
struct CountingLoopback {
    inner: Loopback,
    frames: u64,
}

impl Device for CountingLoopback {
    type RxToken<'a> = <Loopback as Device>::RxToken<'a>;
    type TxToken<'a> = <Loopback as Device>::TxToken<'a>;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let tokens = self.inner.receive(timestamp);
        self.frames += u64::from(tokens.is_some());
        tokens
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.inner.transmit(timestamp)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER_BYTES]),
        tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER_BYTES]),
    )
}

/// Where one connection's exchange stands, from the applications' side.
#[derive(Default)]
struct Exchange {
    request_sent: bool,
    request_bytes: usize,
    response_sent: bool,
    response_bytes: usize,
    client_closed: bool,
    server_closed: bool,
}

impl Exchange {
    /// Does what the client can do now: send the request, read the response, close first.
    fn client(&mut self, client: &mut tcp::Socket) {
        if !self.request_sent && client.may_send() {
            let sent = client
                .send_slice(&[b'c'; MESSAGE_BYTES])
                .expect("client send");
            assert_eq!(
                sent, MESSAGE_BYTES,
                "smoltcp: the request fits the send buffer"
            );
            self.request_sent = true;
        }
        if client.can_recv() {
            let mut buf = [0u8; MESSAGE_BYTES];
            self.response_bytes += client.recv_slice(&mut buf).expect("client receive");
            assert!(
                self.response_bytes <= MESSAGE_BYTES,
                "smoltcp: response too long"
            );
        }
        if !self.client_closed && self.response_bytes == MESSAGE_BYTES {
            client.close();
            self.client_closed = true;
        }
    }

    /// Does what the server can do now: read the request, answer, close on end of file.
    fn server(&mut self, server: &mut tcp::Socket) {
        if server.can_recv() {
            let mut buf = [0u8; MESSAGE_BYTES];
            self.request_bytes += server.recv_slice(&mut buf).expect("server receive");
            assert!(
                self.request_bytes <= MESSAGE_BYTES,
                "smoltcp: request too long"
            );
        }
        if !self.response_sent && self.request_bytes == MESSAGE_BYTES {
            let sent = server
                .send_slice(&[b's'; MESSAGE_BYTES])
                .expect("server send");
            assert_eq!(
                sent, MESSAGE_BYTES,
                "smoltcp: the response fits the send buffer"
            );
            self.response_sent = true;
        }
        // End of file: the client's FIN moved the server to CLOSE_WAIT.
        if !self.server_closed && self.response_sent && server.state() == State::CloseWait {
            server.close();
            self.server_closed = true;
        }
    }
}

/// Runs `n` sequential short connections and reports what was done.
pub fn run(n: u64) -> Outcome {
    let mut now = Instant::from_millis(0);
    let mut device = CountingLoopback {
        inner: Loopback::new(Medium::Ip),
        frames: 0,
    };
    let mut config = Config::new(HardwareAddress::Ip);
    config.random_seed = 1;
    let mut iface = Interface::new(config, &mut device, now);
    let local = IpAddress::v4(127, 0, 0, 1);
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(local, 8))
            .expect("room for one address");
    });
    let mut sockets = SocketSet::new(Vec::with_capacity(2));
    let client_handle: SocketHandle = sockets.add(tcp_socket());
    let server_handle: SocketHandle = sockets.add(tcp_socket());

    let ports = u64::from(u16::MAX - CLIENT_PORTS_FIRST) + 1;
    let mut completed = 0u64;
    let mut served = 0u64;
    let start = WallInstant::now();
    for i in 0..n {
        let client_port = CLIENT_PORTS_FIRST + (i % ports) as u16;
        sockets
            .get_mut::<tcp::Socket>(server_handle)
            .listen(SERVER_PORT)
            .expect("smoltcp: the server socket is CLOSED between connections");
        sockets
            .get_mut::<tcp::Socket>(client_handle)
            .connect(iface.context(), (local, SERVER_PORT), client_port)
            .expect("smoltcp: the client socket is CLOSED between connections");
        let mut exchange = Exchange::default();
        let mut polls = 0u32;
        loop {
            let polled = iface.poll(now, &mut device, &mut sockets);
            let client = sockets.get_mut::<tcp::Socket>(client_handle);
            exchange.client(client);
            let client_state = client.state();
            let server = sockets.get_mut::<tcp::Socket>(server_handle);
            exchange.server(server);
            let server_state = server.state();
            if client_state == State::Closed && server_state == State::Closed {
                break;
            }
            polls += 1;
            assert!(
                polls < POLLS_PER_CONNECTION_MAX,
                "smoltcp: connection {i} stalled (client {client_state}, server {server_state})"
            );
            // A poll that sent frames left them on the loopback queue: take them in at the
            // same instant. Only a quiet interface lets the clock jump to its next timer.
            if polled == PollResult::None
                && let Some(at) = iface.poll_at(now, &sockets)
            {
                now = now.max(at);
            }
        }
        completed += u64::from(exchange.response_bytes == MESSAGE_BYTES);
        served += u64::from(exchange.request_bytes == MESSAGE_BYTES && exchange.server_closed);
    }
    let wall = start.elapsed();
    Outcome {
        completed,
        served,
        wall,
        detail: format!("{:.1} frames a connection", device.frames as f64 / n as f64),
    }
}
