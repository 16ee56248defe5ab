//! Small ready-made applications: a client that opens short connections one after another and
//! a server that answers each request. The benchmark and tests use them; scenario scripts are
//! the general way to write applications.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use netsim_core::SimDuration;
use netsim_engine::{LinkConfig, Topology};
use netsim_tcp::{Bind, Errno, Received, SocketEvent, SocketId, TcpConfig};

use crate::{Api, App, TcpHost};

/// Opens `count` connections to `server`, one at a time: connect, send `request` bytes, read
/// `response` bytes, close (the client closes first), then the next.
#[derive(Debug, Clone)]
pub struct SequentialClient {
    server: SocketAddrV4,
    count: u64,
    request: Vec<u8>,
    response: usize,
    current: Option<(SocketId, usize)>,
    buf: Vec<u8>,
    /// Connections that completed their exchange.
    pub completed: u64,
    /// Attempts started.
    pub started: u64,
    /// Errors seen, by kind.
    pub errors: BTreeMap<Errno, u64>,
}

impl SequentialClient {
    /// A client for `count` exchanges of `request` bytes out and `response` bytes back.
    pub fn new(server: SocketAddrV4, count: u64, request: usize, response: usize) -> Self {
        SequentialClient {
            server,
            count,
            request: vec![b'q'; request],
            response,
            current: None,
            buf: Vec::with_capacity(response.max(64)),
            completed: 0,
            started: 0,
            errors: BTreeMap::new(),
        }
    }

    fn next(&mut self, api: &mut Api<'_>) {
        while self.started < self.count {
            self.started += 1;
            match api.tcp.connect(api.now(), self.server, Bind::default()) {
                Ok(fd) => {
                    self.current = Some((fd, 0));
                    return;
                }
                Err(e) => {
                    api.failed("connect", e);
                    *self.errors.entry(e).or_insert(0) += 1;
                }
            }
        }
    }

    fn failed(&mut self, api: &mut Api<'_>, fd: SocketId, e: Errno) {
        *self.errors.entry(e).or_insert(0) += 1;
        let _ = api.tcp.close(api.now(), fd);
        self.current = None;
        self.next(api);
    }
}

impl App for SequentialClient {
    fn start(&mut self, api: &mut Api<'_>) {
        self.current = None;
        self.next(api);
    }

    fn socket(&mut self, api: &mut Api<'_>, event: SocketEvent) {
        let Some((fd, got)) = self.current else {
            return;
        };
        match event {
            SocketEvent::Connected(s) if s == fd => {
                if let Err(e) = api.tcp.send(api.now(), fd, &self.request) {
                    self.failed(api, fd, e);
                }
            }
            SocketEvent::Readable(s) | SocketEvent::PeerClosed(s) if s == fd => {
                self.buf.clear();
                match api.tcp.recv(api.now(), fd, &mut self.buf, usize::MAX) {
                    Ok(Received::Data(n)) => {
                        let got = got + n;
                        self.current = Some((fd, got));
                        if got >= self.response {
                            let _ = api.tcp.close(api.now(), fd);
                            self.current = None;
                            self.completed += 1;
                            self.next(api);
                        }
                    }
                    Ok(Received::Eof) => self.failed(api, fd, Errno::ConnReset),
                    Ok(Received::WouldBlock) => {}
                    Err(e) => self.failed(api, fd, e),
                }
            }
            SocketEvent::Failed(s, e) if s == fd => self.failed(api, fd, e),
            _ => {}
        }
    }

    fn wake(&mut self, _api: &mut Api<'_>, _token: u64) {}
}

/// Listens on `port`; for each connection reads `request` bytes, answers `response` bytes,
/// and closes when the client has closed.
#[derive(Debug, Clone)]
pub struct Responder {
    port: u16,
    request: usize,
    response: Vec<u8>,
    listener: Option<SocketId>,
    received: BTreeMap<SocketId, usize>,
    buf: Vec<u8>,
    /// Connections accepted.
    pub accepted: u64,
    /// Errors seen, by kind.
    pub errors: BTreeMap<Errno, u64>,
}

impl Responder {
    /// A server on `port` answering `request` bytes with `response` bytes.
    pub fn new(port: u16, request: usize, response: usize) -> Self {
        Responder {
            port,
            request,
            response: vec![b'r'; response],
            listener: None,
            received: BTreeMap::new(),
            buf: Vec::with_capacity(request.max(64)),
            accepted: 0,
            errors: BTreeMap::new(),
        }
    }
}

impl App for Responder {
    fn start(&mut self, api: &mut Api<'_>) {
        self.received.clear();
        match api.tcp.listen(api.now(), self.port, 4096) {
            Ok(l) => self.listener = Some(l),
            Err(e) => api.failed("listen", e),
        }
    }

    fn socket(&mut self, api: &mut Api<'_>, event: SocketEvent) {
        match event {
            SocketEvent::Acceptable(l) if Some(l) == self.listener => loop {
                match api.tcp.accept(api.now(), l) {
                    Ok(Some((fd, _))) => {
                        self.accepted += 1;
                        self.received.insert(fd, 0);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        api.failed("accept", e);
                        *self.errors.entry(e).or_insert(0) += 1;
                        break;
                    }
                }
            },
            SocketEvent::Readable(fd) | SocketEvent::PeerClosed(fd) => {
                let Some(&got) = self.received.get(&fd) else {
                    return;
                };
                self.buf.clear();
                match api.tcp.recv(api.now(), fd, &mut self.buf, usize::MAX) {
                    Ok(Received::Data(n)) => {
                        let now_got = got + n;
                        self.received.insert(fd, now_got);
                        if got < self.request && now_got >= self.request {
                            let _ = api.tcp.send(api.now(), fd, &self.response);
                        }
                        if matches!(event, SocketEvent::PeerClosed(_)) {
                            self.received.remove(&fd);
                            let _ = api.tcp.close(api.now(), fd);
                        }
                    }
                    Ok(Received::Eof) | Err(_) => {
                        self.received.remove(&fd);
                        let _ = api.tcp.close(api.now(), fd);
                    }
                    Ok(Received::WouldBlock) => {}
                }
            }
            SocketEvent::Failed(fd, e) => {
                *self.errors.entry(e).or_insert(0) += 1;
                if self.received.remove(&fd).is_some() {
                    let _ = api.tcp.close(api.now(), fd);
                }
            }
            _ => {}
        }
    }

    fn wake(&mut self, _api: &mut Api<'_>, _token: u64) {}
}

/// Either of two applications: lets hosts of one simulation run different apps (the engine
/// wants one host type).
#[derive(Debug, Clone)]
pub enum Either<A, B> {
    /// The first kind.
    Left(A),
    /// The second kind.
    Right(B),
}

impl<A: App, B: App> App for Either<A, B> {
    fn start(&mut self, api: &mut Api<'_>) {
        match self {
            Either::Left(a) => a.start(api),
            Either::Right(b) => b.start(api),
        }
    }
    fn socket(&mut self, api: &mut Api<'_>, event: SocketEvent) {
        match self {
            Either::Left(a) => a.socket(api, event),
            Either::Right(b) => b.socket(api, event),
        }
    }
    fn wake(&mut self, api: &mut Api<'_>, token: u64) {
        match self {
            Either::Left(a) => a.wake(api, token),
            Either::Right(b) => b.wake(api, token),
        }
    }
    fn crash(&mut self) {
        match self {
            Either::Left(a) => a.crash(),
            Either::Right(b) => b.crash(),
        }
    }
}

/// The short-connection workload of the TCP benchmark: a client (10.0.0.1) that opens `count`
/// connections one after another to a server (10.0.0.2:80) over a link of `latency`, 64 bytes
/// each way, the client closing first; both on the Linux profile.
pub fn short_connections(
    count: u64,
    latency: SimDuration,
) -> (Topology, Vec<TcpHost<Either<SequentialClient, Responder>>>) {
    let client = std::net::Ipv4Addr::new(10, 0, 0, 1);
    let server = std::net::Ipv4Addr::new(10, 0, 0, 2);
    let mut topology = Topology::default();
    let c = topology.add_host("client", client);
    let s = topology.add_host("server", server);
    topology.add_link(
        c,
        s,
        LinkConfig {
            latency,
            ..LinkConfig::default()
        },
    );
    let hosts = vec![
        TcpHost::new(
            TcpConfig::linux(),
            Either::Left(SequentialClient::new(
                SocketAddrV4::new(server, 80),
                count,
                64,
                64,
            )),
        ),
        TcpHost::new(
            TcpConfig::linux(),
            Either::Right(Responder::new(80, 64, 64)),
        ),
    ];
    (topology, hosts)
}
