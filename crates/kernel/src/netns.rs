//! Network namespaces for the kernel side of a run: each is created under a run-unique name,
//! entered by a thread with setns(2), and deleted when its guard drops (on every exit path,
//! panics included). Configuration goes through iproute2 (`ip -n NAME ...`) and sysctl
//! files read and written from a thread inside the namespace.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

use crate::KernelError;

/// A network namespace that exists as long as this value does.
#[derive(Debug)]
pub struct Netns {
    name: String,
    file: File,
}

impl Netns {
    /// Creates the namespace `name` (`ip netns add`) with its loopback up and IPv6 off.
    pub fn create(name: &str) -> Result<Netns, KernelError> {
        run_ip(&["netns", "add", name])?;
        let path = format!("/run/netns/{name}");
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = run_ip(&["netns", "del", name]);
                return Err(KernelError::Io {
                    what: format!("open {path}"),
                    source: e,
                });
            }
        };
        let ns = Netns {
            name: name.to_string(),
            file,
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        // netsim's world is IPv4: no IPv6 neighbour discovery on the wires.
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves the calling thread into this namespace (setns(2) with CLONE_NEWNET): sockets
    /// and TUN devices it opens from now on belong here.
    pub fn enter(&self) -> Result<(), KernelError> {
        setns(&self.file).map_err(|e| KernelError::Io {
            what: format!("setns into {}", self.name),
            source: e,
        })
    }

    /// A way into this namespace for a thread that does not borrow this value (a duplicate
    /// of its descriptor); it is only good while this value lives.
    pub fn entry(&self) -> Result<Entry, KernelError> {
        let file = self.file.try_clone().map_err(|e| KernelError::Io {
            what: format!("duplicate the descriptor of {}", self.name),
            source: e,
        })?;
        Ok(Entry(file))
    }

    /// Runs `ip -n NAME args...`.
    pub fn ip(&self, args: &[&str]) -> Result<(), KernelError> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ip(&all)
    }

    /// Runs `f` on a thread that enters this namespace first, and returns what it returns:
    /// sockets, TUN devices and /proc/sys files it opens are this namespace's. `what` names
    /// the thread in the error if it panics.
    pub fn inside<T: Send>(
        &self,
        what: &str,
        f: impl FnOnce() -> Result<T, KernelError> + Send,
    ) -> Result<T, KernelError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter()?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(KernelError::Setup(format!("{what} thread panicked"))))
        })
    }

    /// Sets a sysctl of this namespace (`key` as in `net.ipv4.tcp_sack`), from a thread that
    /// enters the namespace, so the write reaches this namespace's copy.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), KernelError> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.inside("sysctl", || {
            std::fs::write(&path, value).map_err(|e| KernelError::Io {
                what: format!("sysctl {key}={value} in {}", self.name),
                source: e,
            })
        })
    }
}

/// A namespace's descriptor, for threads that outlive a borrow of its [`Netns`].
#[derive(Debug)]
pub struct Entry(File);

impl Entry {
    /// Moves the calling thread into the namespace, as [`Netns::enter`] does.
    pub fn enter(&self) -> std::io::Result<()> {
        setns(&self.0)
    }
}

/// setns(2) with CLONE_NEWNET: moves the calling thread (only it) into `ns`.
fn setns(ns: &File) -> std::io::Result<()> {
    // SAFETY: setns on a valid namespace file descriptor only changes the calling thread's
    // network namespace.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_ip(&["netns", "del", &self.name]);
    }
}

/// Runs `ip` with `args`, turning a failure into an error that quotes its output.
pub(crate) fn run_ip(args: &[&str]) -> Result<(), KernelError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| KernelError::Io {
            what: "run `ip` (iproute2)".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(KernelError::Setup(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
