//! Socket state changes on the kernel side, from the `sock:inet_sock_set_state` tracepoint:
//! a tracefs instance of our own (so other tracing on the machine is left alone) with that
//! one event enabled and the monotonic trace clock, read from its `trace_pipe` by a thread.
//! The tracepoint is not per namespace: callers keep one kernel run at a time on the machine
//! ([`exclusive`]) and tell connections apart by their addresses and ports.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use netsim_tcp::State;

use crate::KernelError;

/// One state change of one socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// CLOCK_MONOTONIC time of the change.
    pub at: Duration,
    /// The socket's own address and port.
    pub local: SocketAddrV4,
    /// Its peer's (0.0.0.0:0 for a listener).
    pub remote: SocketAddrV4,
    /// State names as netsim prints them (`SYN_SENT`, `TIME_WAIT`, ...).
    pub from: &'static str,
    /// The new state.
    pub to: &'static str,
}

/// The kernel's state names in netsim's spelling; Linux's request-socket state
/// TCP_NEW_SYN_RECV is netsim's SYN_RECEIVED, its TCP_CLOSE is CLOSED.
fn state_name(kernel: &str) -> Option<&'static str> {
    let state = match kernel {
        "TCP_ESTABLISHED" => State::Established,
        "TCP_SYN_SENT" => State::SynSent,
        "TCP_SYN_RECV" | "TCP_NEW_SYN_RECV" => State::SynReceived,
        "TCP_FIN_WAIT1" => State::FinWait1,
        "TCP_FIN_WAIT2" => State::FinWait2,
        "TCP_TIME_WAIT" => State::TimeWait,
        "TCP_CLOSE" => State::Closed,
        "TCP_CLOSE_WAIT" => State::CloseWait,
        "TCP_LAST_ACK" => State::LastAck,
        "TCP_LISTEN" => State::Listen,
        "TCP_CLOSING" => State::Closing,
        _ => return None,
    };
    Some(state.name())
}

/// Parses one `trace_pipe` line of the event; `None` for anything else.
pub fn parse_line(line: &str) -> Option<StateChange> {
    let (head, fields) = line.split_once(": inet_sock_set_state: ")?;
    let stamp = head.rsplit(' ').next()?.trim_end_matches(':');
    let (secs, micros) = stamp.split_once('.')?;
    let at = Duration::from_secs(secs.parse().ok()?) + Duration::from_micros(micros.parse().ok()?);
    let field = |name: &str| {
        fields
            .split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    if field("family")? != "AF_INET" || field("protocol")? != "IPPROTO_TCP" {
        return None;
    }
    let addr = |a: &str, p: &str| -> Option<SocketAddrV4> {
        Some(SocketAddrV4::new(
            field(a)?.parse::<Ipv4Addr>().ok()?,
            field(p)?.parse().ok()?,
        ))
    };
    Some(StateChange {
        at,
        local: addr("saddr", "sport")?,
        remote: addr("daddr", "dport")?,
        from: state_name(field("oldstate")?)?,
        to: state_name(field("newstate")?)?,
    })
}

/// Where tracefs is mounted (mounted here if it is not yet).
fn tracefs() -> Result<PathBuf, KernelError> {
    let root = PathBuf::from("/sys/kernel/tracing");
    if !root.join("instances").exists() {
        let out = std::process::Command::new("mount")
            .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
            .output()
            .map_err(|e| KernelError::Io {
                what: "mount tracefs".into(),
                source: e,
            })?;
        if !out.status.success() || !root.join("instances").exists() {
            return Err(KernelError::Missing(
                "tracefs at /sys/kernel/tracing for the sock:inet_sock_set_state tracepoint".into(),
            ));
        }
    }
    Ok(root)
}

/// A tracefs instance recording state changes until stopped.
pub struct StateTrace {
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<Result<(), KernelError>>>,
    changes: Arc<Mutex<Vec<StateChange>>>,
}

fn write(path: PathBuf, value: &str) -> Result<(), KernelError> {
    std::fs::write(&path, value).map_err(|e| KernelError::Io {
        what: format!("write {value:?} to {}", path.display()),
        source: e,
    })
}

impl StateTrace {
    /// Creates the instance `name` and starts recording.
    pub fn start(name: &str) -> Result<StateTrace, KernelError> {
        let dir = tracefs()?.join("instances").join(name);
        std::fs::create_dir(&dir).map_err(|e| KernelError::Io {
            what: format!("create tracefs instance {}", dir.display()),
            source: e,
        })?;
        // The guard exists from here on, so a failure below removes the instance.
        let mut trace = StateTrace {
            dir,
            stop: Arc::new(AtomicBool::new(false)),
            reader: None,
            changes: Arc::new(Mutex::new(Vec::new())),
        };
        write(trace.dir.join("trace_clock"), "mono")?;
        write(
            trace.dir.join("events/sock/inet_sock_set_state/enable"),
            "1",
        )?;
        let pipe: File = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(trace.dir.join("trace_pipe"))
            .map_err(|e| KernelError::Io {
                what: "open trace_pipe".into(),
                source: e,
            })?;
        let stop = trace.stop.clone();
        let changes = trace.changes.clone();
        trace.reader = Some(std::thread::spawn(move || read_pipe(pipe, &stop, &changes)));
        Ok(trace)
    }

    /// Stops recording, removes the instance and returns the changes in time order.
    pub fn stop(mut self) -> Result<Vec<StateChange>, KernelError> {
        // Let the last events reach the pipe before the reader stops.
        std::thread::sleep(Duration::from_millis(20));
        self.finish()?;
        let mut all = std::mem::take(&mut *self.changes.lock().expect("changes lock"));
        all.sort_by_key(|c| c.at);
        Ok(all)
    }

    fn finish(&mut self) -> Result<(), KernelError> {
        self.stop.store(true, Ordering::SeqCst);
        let r = match self.reader.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(KernelError::Setup("trace reader panicked".into()))),
            None => Ok(()),
        };
        let _ = std::fs::write(self.dir.join("events/sock/inet_sock_set_state/enable"), "0");
        let _ = std::fs::remove_dir(&self.dir);
        r
    }
}

impl Drop for StateTrace {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn read_pipe(
    pipe: File,
    stop: &AtomicBool,
    changes: &Mutex<Vec<StateChange>>,
) -> Result<(), KernelError> {
    let fd = pipe.as_raw_fd();
    let mut lines = BufReader::new(pipe);
    let mut line = String::new();
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 5) };
        if n <= 0 {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            continue;
        }
        loop {
            line.clear();
            match lines.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {
                    if let Some(c) = parse_line(line.trim_end()) {
                        changes.lock().expect("changes lock").push(c);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    return Err(KernelError::Io {
                        what: "read trace_pipe".into(),
                        source: e,
                    });
                }
            }
        }
    }
}

/// The monotonic clock now (the trace clock `mono`), to align state changes with packets.
pub fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Holds the machine-wide kernel-run lock while it lives: the tracepoint sees every
/// namespace, so two runs with the same addresses must not overlap (flock on a file in
/// /run, which covers other processes too).
pub fn exclusive() -> Result<File, KernelError> {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/netsim-kernel.lock")
        .map_err(|e| KernelError::Io {
            what: "open /run/netsim-kernel.lock".into(),
            source: e,
        })?;
    // SAFETY: flock on a valid descriptor.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(KernelError::Io {
            what: "lock /run/netsim-kernel.lock".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    let _ = writeln!(f, "{}", std::process::id());
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_pipe_line_becomes_a_state_change() {
        let line = "          <idle>-0       [001] ..s2.  4521.012345: inet_sock_set_state: \
                    family=AF_INET protocol=IPPROTO_TCP sport=80 dport=40000 saddr=10.0.0.2 \
                    daddr=10.0.0.1 saddrv6=::ffff:10.0.0.2 daddrv6=::ffff:10.0.0.1 \
                    oldstate=TCP_NEW_SYN_RECV newstate=TCP_ESTABLISHED";
        let c = parse_line(line).unwrap();
        assert_eq!(c.at, Duration::from_micros(4_521_012_345));
        assert_eq!(c.local, "10.0.0.2:80".parse().unwrap());
        assert_eq!(c.remote, "10.0.0.1:40000".parse().unwrap());
        assert_eq!((c.from, c.to), ("SYN_RECEIVED", "ESTABLISHED"));
        assert_eq!(parse_line("some other event"), None);
        assert_eq!(parse_line(&line.replace("AF_INET ", "AF_INET6 ")), None);
    }
}
