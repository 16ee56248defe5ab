//! A scenario's application scripts on real sockets: each task is a thread inside its host's
//! namespace making the same calls the script interpreter makes on the model (socket, bind,
//! listen, accept, connect, send, recv, shutdown, close, SO_LINGER 0, TCP_NODELAY,
//! SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT), with the script's timing in real time. Sockets
//! are made with libc directly, not std::net, because std sets SO_REUSEADDR on every
//! listener and a script must be able to show what happens without it. Every socket asks for
//! Reno congestion control (TCP_CONGESTION), which the linux profile models (the kernel's
//! default may be CUBIC or BBR).

use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netsim_scenario::Step;
use netsim_tcp::Errno;

use crate::KernelError;
use crate::netns::Netns;

/// What an application call returned, with the errno name when it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppError {
    /// When, since the run's start.
    pub at: Duration,
    /// Which host.
    pub host: usize,
    /// The call (`connect`, `recv`, ...).
    pub call: &'static str,
    /// `ECONNRESET`, ... (`EOF` for an early end of stream).
    pub errno: String,
}

/// Everything the applications saw.
#[derive(Debug, Default)]
pub struct AppLog {
    /// Failed calls, in the order they happened.
    pub errors: Vec<AppError>,
    /// Bytes received per host.
    pub received: Vec<u64>,
}

/// An owned TCP socket.
struct Sock(OwnedFd);

fn last(call: &'static str) -> (&'static str, i32) {
    (
        call,
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    )
}

/// Not an errno: a `Recv` that met the end of the stream before its bytes.
const EOF: i32 = -1;

/// The model's name for an errno (`ECONNRESET`, ...), `EOF` for [`EOF`].
fn errno_name(e: i32) -> String {
    let known = match e {
        EOF => return "EOF".into(),
        libc::ECONNREFUSED => Errno::ConnRefused,
        libc::ECONNRESET => Errno::ConnReset,
        libc::ETIMEDOUT => Errno::TimedOut,
        libc::EADDRINUSE => Errno::AddrInUse,
        libc::EADDRNOTAVAIL => Errno::AddrNotAvail,
        libc::EMFILE => Errno::TooManyFiles,
        libc::EPIPE => Errno::BrokenPipe,
        libc::ENOTCONN => Errno::NotConn,
        libc::EINVAL => Errno::Invalid,
        libc::EBADF => Errno::BadFd,
        other => return format!("errno {other}"),
    };
    known.name().into()
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

type CallResult<T> = Result<T, (&'static str, i32)>;

impl Sock {
    fn new() -> CallResult<Sock> {
        // SAFETY: plain socket(2); the descriptor is owned from here on.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(last("socket"));
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let s = Sock(unsafe { OwnedFd::from_raw_fd(fd) });
        s.set_bytes(libc::IPPROTO_TCP, libc::TCP_CONGESTION, b"reno")?;
        Ok(s)
    }

    fn fd(&self) -> i32 {
        self.0.as_raw_fd()
    }

    fn set_int(&self, level: i32, name: i32, value: i32) -> CallResult<()> {
        self.set_bytes(level, name, &value.to_ne_bytes())
    }

    fn set_bytes(&self, level: i32, name: i32, value: &[u8]) -> CallResult<()> {
        // SAFETY: setsockopt reads `value.len()` bytes from a valid slice.
        let r = unsafe {
            libc::setsockopt(
                self.fd(),
                level,
                name,
                value.as_ptr().cast(),
                value.len() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(last("setsockopt"));
        }
        Ok(())
    }

    /// bind(2) or connect(2), which take the same arguments: `call` names the failure.
    fn with_addr(
        &self,
        call: &'static str,
        f: unsafe extern "C" fn(i32, *const libc::sockaddr, libc::socklen_t) -> i32,
        a: SocketAddrV4,
    ) -> CallResult<()> {
        let sa = sockaddr(a);
        // SAFETY: a valid sockaddr_in of the size given.
        let r = unsafe {
            f(
                self.fd(),
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(last(call));
        }
        Ok(())
    }

    fn bind(&self, a: SocketAddrV4) -> CallResult<()> {
        self.with_addr("bind", libc::bind, a)
    }

    fn listen(&self, backlog: u32) -> CallResult<()> {
        // SAFETY: listen on an owned socket.
        if unsafe { libc::listen(self.fd(), backlog as i32) } != 0 {
            return Err(last("listen"));
        }
        Ok(())
    }

    fn accept(&self) -> CallResult<Sock> {
        // SAFETY: accept4 without an address.
        let fd = unsafe {
            libc::accept4(
                self.fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(last("accept"));
        }
        // SAFETY: a fresh descriptor.
        Ok(Sock(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn connect(&self, a: SocketAddrV4) -> CallResult<()> {
        self.with_addr("connect", libc::connect, a)
    }

    fn send_all(&self, mut n: u64) -> CallResult<()> {
        let chunk = [0x5au8; 16384];
        while n > 0 {
            let len = (n as usize).min(chunk.len());
            // SAFETY: send from a valid buffer; MSG_NOSIGNAL so EPIPE is an error, not a signal.
            let r =
                unsafe { libc::send(self.fd(), chunk.as_ptr().cast(), len, libc::MSG_NOSIGNAL) };
            if r < 0 {
                return Err(last("send"));
            }
            n -= r as u64;
        }
        Ok(())
    }

    /// Reads up to `want` bytes (all of them unless EOF comes first); returns how many.
    fn recv(&self, want: Option<u64>) -> CallResult<u64> {
        let mut buf = [0u8; 16384];
        let mut got = 0u64;
        loop {
            if want.is_some_and(|w| got >= w) {
                return Ok(got);
            }
            let len = want.map_or(buf.len(), |w| ((w - got) as usize).min(buf.len()));
            // SAFETY: recv into a valid buffer.
            let r = unsafe { libc::recv(self.fd(), buf.as_mut_ptr().cast(), len, 0) };
            if r < 0 {
                return Err(last("recv"));
            }
            if r == 0 {
                return Ok(got);
            }
            got += r as u64;
        }
    }

    fn shutdown(&self) -> CallResult<()> {
        // SAFETY: shutdown on an owned socket.
        if unsafe { libc::shutdown(self.fd(), libc::SHUT_WR) } != 0 {
            return Err(last("shutdown"));
        }
        Ok(())
    }

    /// SO_LINGER with a zero timeout, so close() sends RST.
    fn linger_zero(&self) -> CallResult<()> {
        let l = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a linger struct as the option's value.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&l as *const libc::linger).cast::<u8>(),
                std::mem::size_of::<libc::linger>(),
            )
        };
        self.set_bytes(libc::SOL_SOCKET, libc::SO_LINGER, bytes)
    }
}

/// Shared state of one host's tasks.
struct HostRun {
    host: usize,
    addr: std::net::Ipv4Addr,
    nagle: bool,
    start: Instant,
    listeners: Mutex<Vec<(u16, Arc<Sock>)>>,
    log: Arc<Mutex<AppLog>>,
    /// Tasks still running, on every host (accept loops do not count).
    live: Arc<std::sync::atomic::AtomicUsize>,
    /// Sockets of tasks that ended without closing them: they stay open until the run ends,
    /// as the model keeps them (a CLOSE_WAIT leak must leak here too).
    leaked: Mutex<Vec<Sock>>,
}

impl HostRun {
    fn fail(&self, (call, errno): (&'static str, i32)) {
        let at = self.start.elapsed();
        self.log.lock().expect("log").errors.push(AppError {
            at,
            host: self.host,
            call,
            errno: errno_name(errno),
        });
    }
}

/// The sockets the applications left open: they stay open until this is dropped, after the
/// wire has stopped, so closing them at the end of a run puts nothing on the wire.
pub struct Leftovers(#[allow(dead_code)] Vec<Arc<HostRun>>);

/// Runs every host's program on the kernel, each task in a thread inside its host's
/// namespace, until every task has finished or `horizon` has passed (threads still blocked
/// then are abandoned with their sockets, and the log says so by what is missing).
pub fn run(
    hosts: &[(&Netns, std::net::Ipv4Addr, bool, Arc<[Step]>)],
    start: Instant,
    horizon: Duration,
) -> Result<(AppLog, Leftovers), KernelError> {
    let log = Arc::new(Mutex::new(AppLog {
        errors: Vec::new(),
        received: vec![0; hosts.len()],
    }));
    let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let entries = hosts
        .iter()
        .map(|(ns, ..)| ns.entry())
        .collect::<Result<Vec<_>, _>>()?;
    let mut runs = Vec::new();
    for (host, ((_, addr, nagle, program), entry)) in hosts.iter().zip(entries).enumerate() {
        let run = Arc::new(HostRun {
            host,
            addr: *addr,
            nagle: *nagle,
            start,
            listeners: Mutex::new(Vec::new()),
            log: log.clone(),
            live: live.clone(),
            leaked: Mutex::new(Vec::new()),
        });
        runs.push(run.clone());
        let program = program.clone();
        live.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // The host's first task enters its namespace; every thread it spawns starts there, as
        // a new thread starts in the namespace of the thread that spawns it.
        std::thread::spawn(move || match entry.enter() {
            Ok(()) => run_task(&run, &program, None),
            Err(e) => {
                run.fail(("setns", e.raw_os_error().unwrap_or(0)));
                run.live.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    let deadline = start + horizon;
    while live.load(std::sync::atomic::Ordering::SeqCst) > 0
        && Instant::now() < deadline
        && !crate::interrupted()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Wake the accept loops so their threads end with the run.
    for run in &runs {
        for (_, l) in run.listeners.lock().expect("listeners").iter() {
            // SAFETY: shutdown on a listening socket we own makes a blocked accept return.
            unsafe { libc::shutdown(l.fd(), libc::SHUT_RDWR) };
        }
    }
    let out = std::mem::take(&mut *log.lock().expect("log"));
    Ok((out, Leftovers(runs)))
}

/// A whole task: its steps, then its socket kept open if it never closed it.
fn run_task(run: &Arc<HostRun>, steps: &[Step], sock: Option<Sock>) {
    if let Some(s) = task(run, steps, sock) {
        run.leaked.lock().expect("leaked").push(s);
    }
    run.live.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
}

/// Runs `steps` as one task; `sock` is the task's socket (given to a served connection).
fn task(run: &Arc<HostRun>, steps: &[Step], mut sock: Option<Sock>) -> Option<Sock> {
    for step in steps {
        let r: CallResult<()> = match step {
            Step::Listen { port, opts } | Step::Serve { port, opts, .. } => {
                let l = listen(run, *port, opts.backlog, opts.reuse_addr);
                match l {
                    Err(e) => Err(e),
                    Ok(l) => {
                        let l = Arc::new(l);
                        run.listeners
                            .lock()
                            .expect("listeners")
                            .push((*port, l.clone()));
                        if let Step::Serve { steps, .. } = step {
                            serve(run, &l, steps.clone());
                        }
                        Ok(())
                    }
                }
            }
            Step::Accept(port) => {
                let l = run
                    .listeners
                    .lock()
                    .expect("listeners")
                    .iter()
                    .find(|(p, _)| p == port)
                    .map(|(_, l)| l.clone());
                match l.map(|l| l.accept()) {
                    Some(Ok(s)) => {
                        sock = Some(s);
                        Ok(())
                    }
                    Some(Err(e)) => Err(e),
                    None => Err(("accept", libc::EINVAL)),
                }
            }
            Step::Connect { to, bind } => {
                let s = Sock::new().and_then(|s| {
                    if !run.nagle {
                        s.set_int(libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
                    }
                    if bind.reuse_addr {
                        s.set_int(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
                    }
                    if let Some(port) = bind.port {
                        s.bind(SocketAddrV4::new(run.addr, port))?;
                    }
                    s.connect(*to)?;
                    Ok(s)
                });
                s.map(|s| sock = Some(s))
            }
            Step::Send(n) => with(&sock, |s| s.send_all(*n)),
            Step::Recv(n) => with(&sock, |s| {
                let got = s.recv(Some(*n))?;
                run.log.lock().expect("log").received[run.host] += got;
                if got < *n { Err(("recv", EOF)) } else { Ok(()) }
            }),
            Step::RecvEof => with(&sock, |s| {
                let got = s.recv(None)?;
                run.log.lock().expect("log").received[run.host] += got;
                Ok(())
            }),
            Step::Shutdown => with(&sock, Sock::shutdown),
            Step::Close => {
                sock = None;
                Ok(())
            }
            Step::Abort => {
                let r = with(&sock, Sock::linger_zero);
                sock = None;
                r
            }
            Step::NoDelay => with(&sock, |s| {
                s.set_int(libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
            }),
            Step::KeepAlive {
                idle,
                interval,
                probes,
            } => with(&sock, |s| {
                s.set_int(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
                let secs = |d: netsim_core::SimDuration| (d.as_nanos() / 1_000_000_000) as i32;
                if let Some(d) = idle {
                    s.set_int(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(*d))?;
                }
                if let Some(d) = interval {
                    s.set_int(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs(*d))?;
                }
                if let Some(n) = probes {
                    s.set_int(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, *n as i32)?;
                }
                Ok(())
            }),
            Step::Sleep(d) => {
                std::thread::sleep(Duration::from_nanos(d.as_nanos()));
                Ok(())
            }
            Step::Repeat { count, steps } => {
                for _ in 0..*count {
                    sock = task(run, steps, sock.take());
                }
                Ok(())
            }
            Step::Spawn {
                count,
                every,
                steps,
            } => {
                for i in 0..*count {
                    if i > 0 {
                        std::thread::sleep(Duration::from_nanos(every.as_nanos()));
                    }
                    let run = run.clone();
                    let steps = steps.clone();
                    run.live.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    std::thread::spawn(move || run_task(&run, &steps, None));
                }
                Ok(())
            }
        };
        if let Err(e) = r {
            run.fail(e);
            return None;
        }
    }
    sock
}

fn with(sock: &Option<Sock>, f: impl FnOnce(&Sock) -> CallResult<()>) -> CallResult<()> {
    match sock {
        Some(s) => f(s),
        None => Err(("use", libc::EBADF)),
    }
}

fn listen(run: &HostRun, port: u16, backlog: u32, reuse: bool) -> CallResult<Sock> {
    let s = Sock::new()?;
    if reuse {
        s.set_int(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    }
    s.bind(SocketAddrV4::new(run.addr, port))?;
    s.listen(backlog)?;
    Ok(s)
}

/// Accepts connections forever, one task thread each (the listener thread lives until the
/// run is abandoned, as a server's accept loop does).
fn serve(run: &Arc<HostRun>, l: &Arc<Sock>, steps: Arc<[Step]>) {
    let run = run.clone();
    let l = l.clone();
    std::thread::spawn(move || {
        while let Ok(c) = l.accept() {
            let run = run.clone();
            let steps = steps.clone();
            run.live.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::spawn(move || run_task(&run, &steps, Some(c)));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_named_as_the_model_names_them() {
        assert_eq!(errno_name(libc::ECONNRESET), Errno::ConnReset.name());
        assert_eq!(errno_name(libc::EMFILE), "EMFILE");
        assert_eq!(errno_name(EOF), "EOF");
        assert_eq!(errno_name(libc::EBADF), "EBADF");
        assert_eq!(errno_name(libc::EIO), format!("errno {}", libc::EIO));
    }
}
