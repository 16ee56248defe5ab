//! The application-script interpreter: [`Script`] is a netsim-host [`App`] that runs a
//! scenario's steps as cooperative tasks. A step that must wait (connect, accept, recv, a send
//! into a full buffer, sleep) parks its task until the socket event or wake-up it needs.
//! `Serve` and `Spawn` start more tasks, one per connection or per tick.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::sync::Arc;

use netsim_core::SimDuration;
use netsim_host::{Api, App, BadRead, HostEvent};
use netsim_tcp::{Bind, Errno, Listen, Received, SocketEvent, SocketId};

use crate::oracle::{Oracle, Stream, pattern_into};

/// A compiled script step (see [`crate::format::StepDef`] for each one's meaning).
#[derive(Debug, Clone)]
pub enum Step {
    /// Open a listener.
    Listen {
        /// Port.
        port: u16,
        /// Backlog and SO_REUSEADDR.
        opts: Listen,
    },
    /// Open a listener whose every connection runs `steps`.
    Serve {
        /// Port.
        port: u16,
        /// Backlog and SO_REUSEADDR.
        opts: Listen,
        /// Per-connection steps.
        steps: Arc<[Step]>,
    },
    /// Wait for one connection on a port.
    Accept(u16),
    /// Connect.
    Connect {
        /// Where.
        to: SocketAddrV4,
        /// How to bind.
        bind: Bind,
    },
    /// Send bytes.
    Send(u64),
    /// Receive bytes.
    Recv(u64),
    /// Receive until end of stream.
    RecvEof,
    /// Half-close.
    Shutdown,
    /// Close.
    Close,
    /// Abort.
    Abort,
    /// TCP_NODELAY.
    NoDelay,
    /// SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT (`None`: the host's value).
    KeepAlive {
        /// Idle time before the first probe.
        idle: Option<SimDuration>,
        /// Time between probes.
        interval: Option<SimDuration>,
        /// Unanswered probes before ETIMEDOUT.
        probes: Option<u32>,
    },
    /// Wait.
    Sleep(SimDuration),
    /// Loop.
    Repeat {
        /// Times.
        count: u64,
        /// Body.
        steps: Arc<[Step]>,
    },
    /// Start tasks at intervals.
    Spawn {
        /// How many.
        count: u64,
        /// Interval.
        every: SimDuration,
        /// Body.
        steps: Arc<[Step]>,
    },
}

/// The most steps a `Repeat` whose steps never wait may run: all its passes run at one
/// instant, inside one event, where the event cap cannot stop them.
pub(crate) const INSTANT_STEPS_MAX: u64 = 10_000;

impl Step {
    /// How many steps running `steps` once takes at one instant (each pass of a loop counts,
    /// an empty one too), or `None` when one of them waits: Sleep, Connect, Accept, or a Send
    /// or Recv of at least one byte, each of which blocks or uses up something finite (buffer
    /// space, data, queued connections) before it returns. RecvEof waits only for the FIN:
    /// after it, it returns at once, so it does not count as waiting.
    pub(crate) fn instant_steps(steps: &[Step]) -> Option<u64> {
        let mut total: u64 = 0;
        for step in steps {
            let n = match step {
                Step::Sleep(_) | Step::Connect { .. } | Step::Accept(_) => return None,
                Step::Send(bytes) | Step::Recv(bytes) if *bytes > 0 => return None,
                Step::Repeat { count, steps } if *count > 0 => {
                    count.saturating_mul(Step::instant_steps(steps)?.max(1))
                }
                _ => 1,
            };
            total = total.saturating_add(n);
        }
        Some(total)
    }
}

/// What an application saw, for the summary and the expectations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptStats {
    /// Bytes read by the host's applications.
    pub bytes_received: u64,
    /// Errors returned to the applications, by kind.
    pub errors: BTreeMap<Errno, u64>,
    /// Reads that found the end of the stream before the bytes they waited for.
    pub early_eofs: u64,
    /// Tasks that ran to their last step.
    pub tasks_done: u64,
    /// Tasks that had not reached their last step when the run ended (a read ended early by
    /// the end of the stream counts here too), by what they were doing: `"recv"`,
    /// `"connect"`, … Filled in by [`Script::stats_at_end`].
    pub unfinished: BTreeMap<&'static str, u64>,
    /// Tasks a `Spawn` step had still to start when the run ended.
    pub spawns_left: u64,
}

impl ScriptStats {
    /// Tasks that did not reach their end: unfinished, ended early by EOF, never spawned.
    pub fn not_done(&self) -> u64 {
        self.unfinished.values().sum::<u64>() + self.spawns_left
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Ready,
    Connect,
    Accept(u16),
    Recv { until: u64 },
    Eof,
    Send { left: u64 },
    Sleep,
}

#[derive(Debug, Clone)]
struct Frame {
    steps: Arc<[Step]>,
    pc: usize,
    repeats_left: u64,
}

#[derive(Debug, Clone)]
struct Task {
    frames: Vec<Frame>,
    sock: Option<SocketId>,
    stream: Option<Stream>,
    sent: u64,
    received: u64,
    wait: Wait,
}

#[derive(Debug, Clone)]
struct ListenerState {
    fd: SocketId,
    serve: Option<Arc<[Step]>>,
    acceptors: VecDeque<usize>,
    retry_armed: bool,
}

#[derive(Debug, Clone, Copy)]
enum WakeFor {
    Task(usize),
    Spawner(usize),
    AcceptRetry(u16),
}

#[derive(Debug, Clone)]
struct Spawner {
    left: u64,
    every: SimDuration,
    steps: Arc<[Step]>,
}

/// How a step ended.
enum Outcome {
    Done,
    Blocked,
    Pushed,
    Failed(&'static str, Errno),
    EarlyEof,
}

/// Time an application waits before trying accept() again after EMFILE (a server backing
/// off, as real ones do).
const ACCEPT_RETRY: SimDuration = SimDuration::from_millis(10);

/// Largest chunk a script hands to one send() or recv().
const CHUNK: u64 = 64 * 1024;

/// A host's application, interpreting its script.
#[derive(Debug)]
pub struct Script {
    host: String,
    program: Arc<[Step]>,
    oracle: Rc<RefCell<Oracle>>,
    tasks: Vec<Option<Task>>,
    free: Vec<usize>,
    by_socket: BTreeMap<SocketId, usize>,
    listeners: BTreeMap<u16, ListenerState>,
    spawners: Vec<Spawner>,
    wakes: BTreeMap<u64, WakeFor>,
    next_token: u64,
    buf: Vec<u8>,
    /// The bytes of the send under way (kept to reuse its memory).
    send_buf: Vec<u8>,
    /// What the application saw.
    pub stats: ScriptStats,
}

impl Script {
    /// A script for host `host`, checked by `oracle`.
    pub fn new(host: &str, program: Arc<[Step]>, oracle: Rc<RefCell<Oracle>>) -> Script {
        Script {
            host: host.to_string(),
            program,
            oracle,
            tasks: Vec::new(),
            free: Vec::new(),
            by_socket: BTreeMap::new(),
            listeners: BTreeMap::new(),
            spawners: Vec::new(),
            wakes: BTreeMap::new(),
            next_token: 0,
            buf: Vec::new(),
            send_buf: Vec::new(),
            stats: ScriptStats::default(),
        }
    }

    /// What the application saw, with the work it had not done when the run ended: tasks
    /// still waiting, reads that found the end of the stream early, spawns not started.
    pub fn stats_at_end(&self) -> ScriptStats {
        let mut stats = self.stats.clone();
        for task in self.tasks.iter().flatten() {
            let doing = match task.wait {
                Wait::Ready => "run",
                Wait::Connect => "connect",
                Wait::Accept(_) => "accept",
                Wait::Recv { .. } | Wait::Eof => "recv",
                Wait::Send { .. } => "send",
                Wait::Sleep => "sleep",
            };
            *stats.unfinished.entry(doing).or_insert(0) += 1;
        }
        if stats.early_eofs > 0 {
            stats
                .unfinished
                .insert("recv ended early by EOF", stats.early_eofs);
        }
        stats.spawns_left = self.spawners.iter().map(|s| s.left).sum();
        stats
    }

    fn spawn(&mut self, api: &mut Api<'_>, steps: Arc<[Step]>, sock: Option<SocketId>) {
        let task = Task {
            frames: vec![Frame {
                steps,
                pc: 0,
                repeats_left: 1,
            }],
            sock,
            stream: None,
            sent: 0,
            received: 0,
            wait: Wait::Ready,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.tasks[id] = Some(task);
                id
            }
            None => {
                self.tasks.push(Some(task));
                self.tasks.len() - 1
            }
        };
        if let Some(fd) = sock {
            self.adopt(api, id, fd);
        }
        self.drive(api, id);
    }

    /// Gives socket `fd` to task `id` and registers its stream with the oracle.
    fn adopt(&mut self, api: &mut Api<'_>, id: usize, fd: SocketId) {
        self.by_socket.insert(fd, id);
        let stream = api
            .tcp
            .conn_key(fd)
            .map(|k| self.oracle.borrow_mut().join(k.local, k.remote));
        let task = self.tasks[id].as_mut().expect("live task");
        task.sock = Some(fd);
        task.stream = stream;
        task.sent = 0;
        task.received = 0;
    }

    fn end(&mut self, id: usize) {
        if let Some(task) = self.tasks[id].take() {
            if let Some(fd) = task.sock {
                // A socket the script did not close stays open (a CLOSE_WAIT leak is
                // written exactly so); its events go nowhere now.
                self.by_socket.remove(&fd);
            }
            self.free.push(id);
        }
    }

    fn token(&mut self, target: WakeFor) -> u64 {
        self.next_token += 1;
        self.wakes.insert(self.next_token, target);
        self.next_token
    }

    /// The step task `id` is at, after finishing loops and frames that ran out.
    fn current(&mut self, id: usize) -> Option<Step> {
        let task = self.tasks[id].as_mut()?;
        loop {
            let frame = task.frames.last_mut()?;
            if frame.pc < frame.steps.len() {
                return Some(frame.steps[frame.pc].clone());
            }
            if frame.repeats_left > 1 {
                frame.repeats_left -= 1;
                frame.pc = 0;
                continue;
            }
            task.frames.pop();
            if let Some(parent) = task.frames.last_mut() {
                parent.pc += 1;
            }
        }
    }

    /// Runs task `id` until it blocks or ends.
    fn drive(&mut self, api: &mut Api<'_>, id: usize) {
        loop {
            let Some(step) = self.current(id) else {
                self.stats.tasks_done += 1;
                self.end(id);
                return;
            };
            match self.exec(api, id, &step) {
                Outcome::Done => self.advance(id),
                Outcome::Pushed => {}
                Outcome::Blocked => return,
                Outcome::Failed(call, errno) => {
                    api.failed(call, errno);
                    *self.stats.errors.entry(errno).or_insert(0) += 1;
                    self.end(id);
                    return;
                }
                Outcome::EarlyEof => {
                    self.stats.early_eofs += 1;
                    self.end(id);
                    return;
                }
            }
        }
    }

    fn advance(&mut self, id: usize) {
        if let Some(task) = self.tasks[id].as_mut() {
            task.wait = Wait::Ready;
            if let Some(frame) = task.frames.last_mut() {
                frame.pc += 1;
            }
        }
    }

    fn task(&mut self, id: usize) -> &mut Task {
        self.tasks[id].as_mut().expect("live task")
    }

    fn exec(&mut self, api: &mut Api<'_>, id: usize, step: &Step) -> Outcome {
        let now = api.now();
        let sock = self.task(id).sock;
        let need_sock = || sock.ok_or(Errno::NotConn);
        match step {
            Step::Listen { port, opts } | Step::Serve { port, opts, .. } => {
                match api.tcp.listen_with(now, *port, *opts) {
                    Ok(fd) => {
                        let serve = match step {
                            Step::Serve { steps, .. } => Some(steps.clone()),
                            _ => None,
                        };
                        self.listeners.insert(
                            *port,
                            ListenerState {
                                fd,
                                serve,
                                acceptors: VecDeque::new(),
                                retry_armed: false,
                            },
                        );
                        Outcome::Done
                    }
                    Err(e) => Outcome::Failed("listen", e),
                }
            }
            Step::Accept(port) => {
                let Some(listener) = self.listeners.get(port) else {
                    return Outcome::Failed("accept", Errno::Invalid);
                };
                match api.tcp.accept(now, listener.fd) {
                    Ok(Some((fd, _))) => {
                        self.adopt(api, id, fd);
                        Outcome::Done
                    }
                    Ok(None) => {
                        self.listeners
                            .get_mut(port)
                            .expect("checked")
                            .acceptors
                            .push_back(id);
                        self.task(id).wait = Wait::Accept(*port);
                        Outcome::Blocked
                    }
                    Err(e) => Outcome::Failed("accept", e),
                }
            }
            Step::Connect { to, bind } => match api.tcp.connect(now, *to, *bind) {
                Ok(fd) => {
                    self.adopt(api, id, fd);
                    self.task(id).wait = Wait::Connect;
                    Outcome::Blocked
                }
                Err(e) => Outcome::Failed("connect", e),
            },
            Step::Send(n) => {
                let task = self.task(id);
                task.wait = Wait::Send { left: *n };
                self.try_send(api, id)
            }
            Step::Recv(n) => {
                let task = self.task(id);
                task.wait = Wait::Recv {
                    until: task.received + n,
                };
                self.try_recv(api, id)
            }
            Step::RecvEof => {
                self.task(id).wait = Wait::Eof;
                self.try_recv(api, id)
            }
            Step::Shutdown => match need_sock().and_then(|fd| api.tcp.shutdown(now, fd)) {
                Ok(()) => Outcome::Done,
                Err(e) => Outcome::Failed("shutdown", e),
            },
            Step::Close | Step::Abort => {
                let Ok(fd) = need_sock() else {
                    return Outcome::Failed("close", Errno::BadFd);
                };
                let r = if matches!(step, Step::Close) {
                    api.tcp.close(now, fd)
                } else {
                    api.tcp.abort(now, fd)
                };
                self.by_socket.remove(&fd);
                self.task(id).sock = None;
                match r {
                    Ok(()) => Outcome::Done,
                    Err(e) => Outcome::Failed("close", e),
                }
            }
            Step::NoDelay => match need_sock().and_then(|fd| api.tcp.set_nodelay(fd, true)) {
                Ok(()) => Outcome::Done,
                Err(e) => Outcome::Failed("setsockopt", e),
            },
            Step::KeepAlive {
                idle,
                interval,
                probes,
            } => match need_sock().and_then(|fd| {
                api.tcp
                    .set_keepalive(now, fd, true, *idle, *interval, *probes)
            }) {
                Ok(()) => Outcome::Done,
                Err(e) => Outcome::Failed("setsockopt", e),
            },
            Step::Sleep(d) => {
                let token = self.token(WakeFor::Task(id));
                api.wake_at(now + *d, token);
                self.task(id).wait = Wait::Sleep;
                Outcome::Blocked
            }
            Step::Repeat { count, steps } => {
                if *count == 0 {
                    return Outcome::Done;
                }
                self.task(id).frames.push(Frame {
                    steps: steps.clone(),
                    pc: 0,
                    repeats_left: *count,
                });
                Outcome::Pushed
            }
            Step::Spawn {
                count,
                every,
                steps,
            } => {
                if *count > 0 {
                    self.spawners.push(Spawner {
                        left: *count,
                        every: *every,
                        steps: steps.clone(),
                    });
                    let index = self.spawners.len() - 1;
                    // The first task starts now, after this one moves on.
                    let token = self.token(WakeFor::Spawner(index));
                    api.wake_at(now, token);
                }
                Outcome::Done
            }
        }
    }

    fn try_send(&mut self, api: &mut Api<'_>, id: usize) -> Outcome {
        let now = api.now();
        let task = self.task(id);
        let (Some(fd), Some(stream)) = (task.sock, task.stream) else {
            return Outcome::Failed("send", Errno::NotConn);
        };
        loop {
            let task = self.task(id);
            let Wait::Send { left } = task.wait else {
                return Outcome::Done;
            };
            if left == 0 {
                return Outcome::Done;
            }
            let chunk = left.min(CHUNK) as usize;
            let offset = task.sent;
            // Only the bytes the send buffer can take are made: the rest would be made again
            // at the next try. The call is the same either way (it takes what fits).
            let fits = chunk.min(api.tcp.send_room(fd));
            let mut data = std::mem::take(&mut self.send_buf);
            data.clear();
            pattern_into(stream.uid, stream.side, offset, fits, &mut data);
            let sent = api.tcp.send(now, fd, &data);
            self.send_buf = data;
            match sent {
                Ok(k) => {
                    let task = self.task(id);
                    task.sent += k as u64;
                    task.wait = Wait::Send {
                        left: left - k as u64,
                    };
                    if k < chunk {
                        return Outcome::Blocked;
                    }
                }
                Err(e) => return Outcome::Failed("send", e),
            }
        }
    }

    fn try_recv(&mut self, api: &mut Api<'_>, id: usize) -> Outcome {
        let now = api.now();
        let task = self.task(id);
        let (Some(fd), Some(stream)) = (task.sock, task.stream) else {
            return Outcome::Failed("recv", Errno::NotConn);
        };
        loop {
            let task = self.task(id);
            let max = match task.wait {
                Wait::Recv { until } if task.received >= until => return Outcome::Done,
                Wait::Recv { until } => (until - task.received).min(CHUNK),
                Wait::Eof => CHUNK,
                _ => return Outcome::Done,
            };
            let offset = task.received;
            self.buf.clear();
            match api.tcp.recv(now, fd, &mut self.buf, max as usize) {
                Ok(Received::Data(k)) => {
                    let host = &self.host;
                    let key = api.tcp.conn_key(fd);
                    let bad =
                        self.oracle
                            .borrow_mut()
                            .check(stream, offset, &self.buf, || match key {
                                Some(k) => format!("{host} {} (peer {})", k.local, k.remote),
                                None => format!("{host} {fd}"),
                            });
                    // The violation goes into the trace too, at the moment of the read.
                    if let (Some(bad), Some(conn)) = (bad, key) {
                        api.report(HostEvent::BadRead(BadRead {
                            conn,
                            offset: bad.offset,
                            incarnation: stream.uid,
                            stale_from: bad.stale_from,
                        }));
                    }
                    self.stats.bytes_received += k as u64;
                    self.task(id).received += k as u64;
                }
                Ok(Received::Eof) => {
                    return match self.task(id).wait {
                        Wait::Eof => Outcome::Done,
                        _ => Outcome::EarlyEof,
                    };
                }
                Ok(Received::WouldBlock) => return Outcome::Blocked,
                Err(e) => return Outcome::Failed("recv", e),
            }
        }
    }

    /// Accepts what a listener has queued: into new tasks (Serve) or for waiting Accept steps.
    fn accept_pending(&mut self, api: &mut Api<'_>, port: u16) {
        loop {
            let Some(l) = self.listeners.get(&port) else {
                return;
            };
            if l.serve.is_none() && l.acceptors.is_empty() {
                return;
            }
            let fd = l.fd;
            match api.tcp.accept(api.now(), fd) {
                Ok(Some((conn, _))) => {
                    let l = self.listeners.get_mut(&port).expect("checked");
                    if let Some(steps) = l.serve.clone() {
                        self.spawn(api, steps, Some(conn));
                    } else if let Some(id) = l.acceptors.pop_front() {
                        self.adopt(api, id, conn);
                        self.advance(id);
                        self.drive(api, id);
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    api.failed("accept", e);
                    *self.stats.errors.entry(e).or_insert(0) += 1;
                    let l = self.listeners.get_mut(&port).expect("checked");
                    if !l.retry_armed {
                        l.retry_armed = true;
                        let token = self.token(WakeFor::AcceptRetry(port));
                        api.wake_at(api.now() + ACCEPT_RETRY, token);
                    }
                    return;
                }
            }
        }
    }

    fn resume(&mut self, api: &mut Api<'_>, id: usize) {
        let outcome = match self.tasks[id].as_ref().map(|t| t.wait) {
            Some(Wait::Recv { .. } | Wait::Eof) => self.try_recv(api, id),
            Some(Wait::Send { .. }) => self.try_send(api, id),
            _ => return,
        };
        self.settle(api, id, outcome);
    }

    fn settle(&mut self, api: &mut Api<'_>, id: usize, outcome: Outcome) {
        match outcome {
            Outcome::Done => {
                self.advance(id);
                self.drive(api, id);
            }
            Outcome::Blocked | Outcome::Pushed => {}
            Outcome::Failed(call, errno) => {
                api.failed(call, errno);
                *self.stats.errors.entry(errno).or_insert(0) += 1;
                self.end(id);
            }
            Outcome::EarlyEof => {
                self.stats.early_eofs += 1;
                self.end(id);
            }
        }
    }
}

impl App for Script {
    fn start(&mut self, api: &mut Api<'_>) {
        let program = self.program.clone();
        self.spawn(api, program, None);
    }

    fn socket(&mut self, api: &mut Api<'_>, event: SocketEvent) {
        match event {
            SocketEvent::Acceptable(listener) => {
                let port = self
                    .listeners
                    .iter()
                    .find(|(_, l)| l.fd == listener)
                    .map(|(p, _)| *p);
                if let Some(port) = port {
                    self.accept_pending(api, port);
                }
            }
            SocketEvent::Connected(fd) => {
                if let Some(&id) = self.by_socket.get(&fd) {
                    if self.tasks[id]
                        .as_ref()
                        .is_some_and(|t| t.wait == Wait::Connect)
                    {
                        self.advance(id);
                        self.drive(api, id);
                    }
                }
            }
            SocketEvent::Readable(fd) | SocketEvent::PeerClosed(fd) | SocketEvent::Writable(fd) => {
                if let Some(&id) = self.by_socket.get(&fd) {
                    self.resume(api, id);
                }
            }
            SocketEvent::Failed(fd, errno) => {
                let Some(&id) = self.by_socket.get(&fd) else {
                    return;
                };
                let call = match self.tasks[id].as_ref().map(|t| t.wait) {
                    Some(Wait::Connect) => "connect",
                    Some(Wait::Recv { .. } | Wait::Eof) => "recv",
                    Some(Wait::Send { .. }) => "send",
                    // Not waiting on the socket: the next call on it returns the error.
                    _ => return,
                };
                let _ = api.tcp.close(api.now(), fd);
                self.by_socket.remove(&fd);
                if let Some(task) = self.tasks[id].as_mut() {
                    task.sock = None;
                }
                self.settle(api, id, Outcome::Failed(call, errno));
            }
        }
    }

    fn wake(&mut self, api: &mut Api<'_>, token: u64) {
        match self.wakes.remove(&token) {
            Some(WakeFor::Task(id))
                if self.tasks[id]
                    .as_ref()
                    .is_some_and(|t| t.wait == Wait::Sleep) =>
            {
                self.advance(id);
                self.drive(api, id);
            }
            Some(WakeFor::Spawner(index)) => {
                let spawner = &mut self.spawners[index];
                spawner.left -= 1;
                let steps = spawner.steps.clone();
                if spawner.left > 0 {
                    let at = api.now() + spawner.every;
                    let token = self.token(WakeFor::Spawner(index));
                    api.wake_at(at, token);
                }
                self.spawn(api, steps, None);
            }
            Some(WakeFor::AcceptRetry(port)) => {
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.retry_armed = false;
                }
                self.accept_pending(api, port);
            }
            Some(WakeFor::Task(_)) | None => {}
        }
    }

    fn crash(&mut self) {
        let fresh = Script::new(&self.host, self.program.clone(), self.oracle.clone());
        let stats = std::mem::take(&mut self.stats);
        *self = fresh;
        // What the application saw before the crash still counts in the report.
        self.stats = stats;
    }
}
