//! The glue between the engine and the TCP model: [`TcpHost`] is an engine [`Host`] that owns
//! one [`TcpStack`] and one [`App`]. It feeds the stack packets and timer expiries, sends what
//! the stack produces, puts the stack's events in the trace, and hands socket events to the
//! application. Neither the engine nor the TCP crate knows the other; only this crate does.

use std::fmt;

use netsim_core::{Packet, SimTime, StableHasher};
use netsim_engine::{Ctx, EventConn, Host, TimerId, TraceEvent};
use std::net::SocketAddrV4;

use netsim_tcp::{
    Bind, Errno, Produced, Received, SocketEvent, SocketId, TcpConfig, TcpEvent, TcpStack,
};

pub mod apps;

pub use netsim_tcp;

/// What a host reports into the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// The TCP model's event.
    Tcp(TcpEvent),
    /// The byte-stream oracle caught a byte an application read that its peer did not send.
    BadRead(BadRead),
    /// A socket call of the application failed.
    CallFailed {
        /// Which call (`connect`, `listen`, `accept`, `send`, ...).
        call: &'static str,
        /// The error.
        errno: Errno,
    },
}

impl fmt::Display for HostEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostEvent::Tcp(e) => write!(f, "{e}"),
            HostEvent::CallFailed { call, errno } => write!(f, "app {call}() failed: {errno}"),
            HostEvent::BadRead(b) => write!(f, "{b}"),
        }
    }
}

impl TraceEvent for HostEvent {
    fn hash_into(&self, h: &mut StableHasher) {
        match self {
            HostEvent::Tcp(e) => e.hash_into(h),
            HostEvent::CallFailed { call, errno } => {
                h.write_u64(0xA5 << 16 | *errno as u64);
                h.write_str(call);
            }
            HostEvent::BadRead(b) => {
                h.write_u64(0xA6 << 16);
                b.conn.hash_into(h);
                h.write_u64(b.offset);
                h.write_u64(b.incarnation);
                h.write_u64(b.stale_from.map_or(0, |o| o + 1));
            }
        }
    }

    fn conn(&self) -> Option<EventConn> {
        use netsim_tcp::State;
        let (conn, joins, opens) = match *self {
            HostEvent::Tcp(TcpEvent::State { conn, from, to }) => {
                let new_socket = matches!(from, State::Closed | State::Listen)
                    || from == State::TimeWait && matches!(to, State::SynSent | State::SynReceived);
                (conn, new_socket, to == State::SynSent)
            }
            HostEvent::Tcp(e) => (e.conn(), false, false),
            HostEvent::BadRead(b) => (b.conn, false, false),
            HostEvent::CallFailed { .. } => return None,
        };
        Some(EventConn {
            local: conn.local,
            remote: conn.remote,
            joins,
            opens,
        })
    }
}

/// A byte an application read that its peer did not send at that offset of this
/// incarnation of the 4-tuple, as the byte-stream oracle reports it into the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRead {
    /// The reader's connection.
    pub conn: netsim_tcp::ConnKey,
    /// Offset of the first wrong byte in the stream.
    pub offset: u64,
    /// The incarnation the reader is on (the oracle counts them from 1 per run).
    pub incarnation: u64,
    /// The older incarnation whose bytes these are (stale data), or none (corrupt).
    pub stale_from: Option<u64>,
}

impl fmt::Display for BadRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (offset, incarnation) = (self.offset, self.incarnation);
        write!(f, "{} oracle: ", self.conn.local)?;
        match self.stale_from {
            Some(old) => write!(
                f,
                "stale data read at byte {offset} of incarnation #{incarnation}: the bytes of #{old}"
            )?,
            None => write!(
                f,
                "corrupt data read at byte {offset} of incarnation #{incarnation}: not what the peer sent"
            )?,
        }
        write!(f, " (peer {})", self.conn.remote)
    }
}

/// What an application can do when it is called: the socket API of its host's stack, its own
/// wake-ups, and reporting failed calls into the trace.
pub struct Api<'a> {
    now: SimTime,
    /// The host's TCP stack: listen, accept, connect, send, recv, shutdown, close, abort.
    pub tcp: &'a mut TcpStack,
    wakeups: &'a mut Vec<(SimTime, u64)>,
    failures: &'a mut Vec<HostEvent>,
}

impl Api<'_> {
    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }
    /// Asks to be called back with [`App::wake`] and `token` at `at`.
    pub fn wake_at(&mut self, at: SimTime, token: u64) {
        self.wakeups.push((at, token));
    }
    /// Records a failed call in the trace.
    pub fn failed(&mut self, call: &'static str, errno: Errno) {
        self.failures.push(HostEvent::CallFailed { call, errno });
    }
    /// Records something the application found (an oracle's verdict) in the trace.
    pub fn report(&mut self, event: HostEvent) {
        self.failures.push(event);
    }
    /// What the application recorded ([`Api::failed`], [`Api::report`]) that has not reached
    /// the trace yet, oldest first.
    pub fn reported(&self) -> &[HostEvent] {
        self.failures
    }

    // The socket calls at the current time, as a script makes them (`tcp` has the rest:
    // options, state, buffers).

    /// connect() to `remote` from an ephemeral port.
    pub fn connect(&mut self, remote: SocketAddrV4) -> Result<SocketId, Errno> {
        self.tcp.connect(self.now, remote, Bind::default())
    }
    /// connect() to `remote` from the port and with the options of `bind`.
    pub fn connect_from(&mut self, remote: SocketAddrV4, bind: Bind) -> Result<SocketId, Errno> {
        self.tcp.connect(self.now, remote, bind)
    }
    /// listen() on `port` with room for `backlog` connections.
    pub fn listen(&mut self, port: u16, backlog: u32) -> Result<SocketId, Errno> {
        self.tcp.listen(self.now, port, backlog)
    }
    /// accept(): a waiting connection and its peer, or `None`.
    pub fn accept(
        &mut self,
        listener: SocketId,
    ) -> Result<Option<(SocketId, SocketAddrV4)>, Errno> {
        self.tcp.accept(self.now, listener)
    }
    /// send(): how many bytes of `data` the send buffer took.
    pub fn send(&mut self, fd: SocketId, data: &[u8]) -> Result<usize, Errno> {
        self.tcp.send(self.now, fd, data)
    }
    /// recv(): appends up to `max` bytes to `out`.
    pub fn recv(&mut self, fd: SocketId, out: &mut Vec<u8>, max: usize) -> Result<Received, Errno> {
        self.tcp.recv(self.now, fd, out, max)
    }
    /// shutdown(SHUT_WR): a FIN after the data sent.
    pub fn shutdown(&mut self, fd: SocketId) -> Result<(), Errno> {
        self.tcp.shutdown(self.now, fd)
    }
    /// close().
    pub fn close(&mut self, fd: SocketId) -> Result<(), Errno> {
        self.tcp.close(self.now, fd)
    }
    /// close() with SO_LINGER zero: a RST, the connection gone at once.
    pub fn abort(&mut self, fd: SocketId) -> Result<(), Errno> {
        self.tcp.abort(self.now, fd)
    }
}

/// Any application behind a box is an application: hosts of one simulation can each run their
/// own type, as `Box<dyn App>`.
impl<A: App + ?Sized> App for Box<A> {
    fn start(&mut self, api: &mut Api<'_>) {
        (**self).start(api)
    }
    fn socket(&mut self, api: &mut Api<'_>, event: SocketEvent) {
        (**self).socket(api, event)
    }
    fn wake(&mut self, api: &mut Api<'_>, token: u64) {
        (**self).wake(api, token)
    }
    fn crash(&mut self) {
        (**self).crash()
    }
}

/// An application running on a host.
pub trait App {
    /// The host started (time zero) or restarted after a crash: everything is fresh.
    fn start(&mut self, api: &mut Api<'_>);
    /// Something happened on one of the application's sockets.
    fn socket(&mut self, api: &mut Api<'_>, event: SocketEvent);
    /// A wake-up the application asked for.
    fn wake(&mut self, api: &mut Api<'_>, token: u64);
    /// The host crashed: the application's state is lost with it.
    fn crash(&mut self) {}
}

/// Token of the stack's own timer; application tokens are shifted above it.
const STACK_TIMER: u64 = 0;

/// An engine host running a TCP stack and an application.
pub struct TcpHost<A> {
    config: TcpConfig,
    stack: Option<TcpStack>,
    app: A,
    /// The engine timer armed for the stack, and when it is due.
    armed: Option<(SimTime, TimerId)>,
    wakeups: Vec<(SimTime, u64)>,
    failures: Vec<HostEvent>,
    socket_events: Vec<SocketEvent>,
}

impl<A: App> TcpHost<A> {
    /// A host with this TCP configuration and application.
    pub fn new(config: TcpConfig, app: A) -> Self {
        TcpHost {
            config,
            stack: None,
            app,
            armed: None,
            wakeups: Vec::new(),
            failures: Vec::new(),
            socket_events: Vec::new(),
        }
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The TCP stack (absent before start and while crashed).
    pub fn stack(&self) -> Option<&TcpStack> {
        self.stack.as_ref()
    }

    fn boot(&mut self, ctx: &mut Ctx<'_, HostEvent>) {
        // The RFC 6528 secret comes from the host's own random stream.
        let secret = ctx.rng().next_u64();
        self.stack = Some(TcpStack::new(ctx.addr(), self.config.clone(), secret));
        self.armed = None;
        self.with_app(ctx, |app, api| app.start(api));
    }

    fn with_app(&mut self, ctx: &mut Ctx<'_, HostEvent>, f: impl FnOnce(&mut A, &mut Api<'_>)) {
        let Some(stack) = self.stack.as_mut() else {
            return;
        };
        let mut api = Api {
            now: ctx.now(),
            tcp: stack,
            wakeups: &mut self.wakeups,
            failures: &mut self.failures,
        };
        f(&mut self.app, &mut api);
        self.flush(ctx);
    }

    /// Sends what the stack produced, traces its events, hands socket events to the
    /// application (which may produce more), and arms the engine timer for the stack.
    fn flush(&mut self, ctx: &mut Ctx<'_, HostEvent>) {
        loop {
            let Some(stack) = self.stack.as_mut() else {
                return;
            };
            stack.drain_in_order(|produced| match produced {
                Produced::Event(event) => ctx.event(HostEvent::Tcp(event)),
                Produced::Segment(out) => ctx.send(out.packet, out.state),
            });
            // Most passes have none of these: the checks cost less than empty drains.
            if !self.failures.is_empty() {
                for failure in self.failures.drain(..) {
                    ctx.event(failure);
                }
            }
            if !self.wakeups.is_empty() {
                for (at, token) in self.wakeups.drain(..) {
                    ctx.set_named_timer(at, token + 1, "app");
                }
            }
            if !stack.has_socket_events() {
                break;
            }
            self.socket_events.extend(stack.drain_socket_events());
            let events = std::mem::take(&mut self.socket_events);
            for event in &events {
                let mut api = Api {
                    now: ctx.now(),
                    tcp: self.stack.as_mut().expect("checked"),
                    wakeups: &mut self.wakeups,
                    failures: &mut self.failures,
                };
                self.app.socket(&mut api, *event);
            }
            // Keep the buffer's allocation for next time.
            self.socket_events = events;
            self.socket_events.clear();
        }
        let deadline = self.stack.as_mut().and_then(TcpStack::next_deadline);
        if self.armed.map(|(at, _)| at) != deadline {
            self.armed = match (self.armed.take(), deadline) {
                // Moved: one step for the engine, the same as cancel and arm.
                (Some((_, id)), Some(at)) if ctx.reset_timer(id, at) => Some((at, id)),
                (old, Some(at)) => {
                    if let Some((_, id)) = old {
                        ctx.cancel_timer(id);
                    }
                    Some((at, ctx.set_named_timer(at, STACK_TIMER, "tcp")))
                }
                (Some((_, id)), None) => {
                    ctx.cancel_timer(id);
                    None
                }
                (None, None) => None,
            };
        }
    }
}

impl<A: App> Host for TcpHost<A> {
    type Event = HostEvent;

    fn start(&mut self, ctx: &mut Ctx<'_, HostEvent>) {
        self.boot(ctx);
    }

    fn packet(&mut self, ctx: &mut Ctx<'_, HostEvent>, packet: Packet) {
        if let Some(stack) = self.stack.as_mut() {
            stack.on_packet(ctx.now(), &packet);
            self.flush(ctx);
        }
    }

    fn timer(&mut self, ctx: &mut Ctx<'_, HostEvent>, token: u64) {
        if token == STACK_TIMER {
            self.armed = None;
            if let Some(stack) = self.stack.as_mut() {
                stack.on_timer(ctx.now());
                self.flush(ctx);
            }
        } else {
            self.with_app(ctx, |app, api| app.wake(api, token - 1));
        }
    }

    fn crash(&mut self) {
        self.stack = None;
        self.armed = None;
        self.wakeups.clear();
        self.failures.clear();
        self.socket_events.clear();
        self.app.crash();
    }

    fn restart(&mut self, ctx: &mut Ctx<'_, HostEvent>) {
        self.boot(ctx);
    }
}
