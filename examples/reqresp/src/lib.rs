//! A small request/response protocol, written the way a user of netsim writes one, and the
//! world it runs in.
//!
//! The protocol: a client opens one connection and sends requests one at a time, each a line
//! `INCR <key>\n`; the server keeps a counter per key and answers each request with a line
//! holding the key's new count, `<n>\n`. The client sends the next request when the whole
//! answer has arrived, and closes after the last one. Lines can arrive in pieces or several at
//! once (TCP is a byte stream), so both ends keep what they read until a newline completes it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::rc::Rc;

use netsim::{Api, App, Builder, Link, Received, SimDuration, SocketEvent, SocketId};

/// The port the server listens on.
pub const PORT: u16 = 7000;

/// What the client saw, shared with the test that built it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Each answer, in order.
    pub answers: Vec<u64>,
    /// Errors the socket reported.
    pub errors: Vec<String>,
    /// Whether the client got every answer and closed.
    pub done: bool,
}

/// The client: sends `INCR key` for each key in turn.
pub struct Client {
    server: SocketAddrV4,
    keys: Vec<String>,
    next: usize,
    fd: Option<SocketId>,
    inbox: Vec<u8>,
    seen: Rc<RefCell<Seen>>,
}

impl Client {
    /// A client of `server` asking for `keys`, reporting into `seen`.
    pub fn new(server: SocketAddrV4, keys: &[&str], seen: Rc<RefCell<Seen>>) -> Client {
        Client {
            server,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            next: 0,
            fd: None,
            inbox: Vec::new(),
            seen,
        }
    }

    fn ask(&mut self, api: &mut Api<'_>, fd: SocketId) {
        let Some(key) = self.keys.get(self.next) else {
            self.seen.borrow_mut().done = true;
            let _ = api.close(fd);
            return;
        };
        let request = format!("INCR {key}\n");
        // The send buffer is far larger than a line: it takes the whole request.
        let taken = api
            .send(fd, request.as_bytes())
            .expect("the connection is open");
        assert_eq!(taken, request.len(), "a request fits the send buffer");
    }

    fn read(&mut self, api: &mut Api<'_>, fd: SocketId) {
        loop {
            match api.recv(fd, &mut self.inbox, 4096) {
                Ok(Received::Data(_)) => {}
                Ok(Received::Eof) => {
                    let _ = api.close(fd);
                    return;
                }
                Ok(Received::WouldBlock) => break,
                Err(e) => {
                    self.seen.borrow_mut().errors.push(format!("recv: {e:?}"));
                    return;
                }
            }
        }
        while let Some(end) = self.inbox.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.inbox.drain(..=end).collect();
            let count = std::str::from_utf8(&line[..end])
                .ok()
                .and_then(|t| t.parse().ok())
                .expect("the server answers with a number");
            self.seen.borrow_mut().answers.push(count);
            self.next += 1;
            self.ask(api, fd);
        }
    }
}

impl App for Client {
    fn start(&mut self, api: &mut Api<'_>) {
        match api.connect(self.server) {
            Ok(fd) => self.fd = Some(fd),
            Err(e) => self
                .seen
                .borrow_mut()
                .errors
                .push(format!("connect: {e:?}")),
        }
    }

    fn socket(&mut self, api: &mut Api<'_>, event: SocketEvent) {
        match event {
            SocketEvent::Connected(fd) => self.ask(api, fd),
            SocketEvent::Readable(fd) | SocketEvent::PeerClosed(fd) => self.read(api, fd),
            SocketEvent::Failed(_, e) => self.seen.borrow_mut().errors.push(format!("{e:?}")),
            SocketEvent::Acceptable(_) | SocketEvent::Writable(_) => {}
        }
    }

    fn wake(&mut self, _api: &mut Api<'_>, _token: u64) {}

    fn crash(&mut self) {
        self.fd = None;
        self.inbox.clear();
    }
}

/// The server: counts per key, answers each request line.
#[derive(Default)]
pub struct Server {
    counts: BTreeMap<String, u64>,
    inboxes: BTreeMap<SocketId, Vec<u8>>,
}

impl Server {
    fn serve(&mut self, api: &mut Api<'_>, fd: SocketId) {
        let inbox = self.inboxes.entry(fd).or_default();
        let mut eof = false;
        loop {
            match api.recv(fd, inbox, 4096) {
                Ok(Received::Data(_)) => {}
                Ok(Received::Eof) => {
                    eof = true;
                    break;
                }
                Ok(Received::WouldBlock) | Err(_) => break,
            }
        }
        while let Some(end) = inbox.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = inbox.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]).into_owned();
            let Some(key) = text.strip_prefix("INCR ") else {
                let _ = api.abort(fd); // not our protocol
                return;
            };
            let count = self.counts.entry(key.to_string()).or_insert(0);
            *count += 1;
            let _ = api.send(fd, format!("{count}\n").as_bytes());
        }
        if eof {
            self.inboxes.remove(&fd);
            let _ = api.close(fd);
        }
    }
}

impl App for Server {
    fn start(&mut self, api: &mut Api<'_>) {
        api.listen(PORT, 16).expect("the port is free");
    }

    fn socket(&mut self, api: &mut Api<'_>, event: SocketEvent) {
        match event {
            SocketEvent::Acceptable(listener) => {
                while let Ok(Some((fd, _peer))) = api.accept(listener) {
                    self.inboxes.insert(fd, Vec::new());
                }
            }
            SocketEvent::Readable(fd) | SocketEvent::PeerClosed(fd) => self.serve(api, fd),
            SocketEvent::Failed(fd, _) => {
                self.inboxes.remove(&fd);
            }
            SocketEvent::Connected(_) | SocketEvent::Writable(_) => {}
        }
    }

    fn wake(&mut self, _api: &mut Api<'_>, _token: u64) {}

    fn crash(&mut self) {
        *self = Server::default();
    }
}

/// The world: a client asking for `keys` and the server, over `link`, with `seed`.
pub fn world(seed: u64, keys: &[&str], link: Link) -> (Builder, Rc<RefCell<Seen>>) {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let server: SocketAddrV4 = format!("10.0.0.2:{PORT}").parse().expect("an address");
    let builder = Builder::new("reqresp")
        .description("A user's request/response protocol: INCR lines answered with counts.")
        .seed(seed)
        .end(SimDuration::from_secs(120))
        .host(
            "client",
            "10.0.0.1",
            Client::new(server, keys, seen.clone()),
        )
        .host("server", "10.0.0.2", Server::default())
        .link("client", "server", link);
    (builder, seen)
}
