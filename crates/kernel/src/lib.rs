//! The kernel side of `netsim kernel` (work in progress, issue 9): a scenario's hosts become
//! network namespaces of this machine, each link a user-space wire between TUN devices, so
//! the machine's own Linux TCP stack plays the scenario and its packets can be compared with
//! the model's. This crate holds the plumbing: namespaces ([`netns`]), TUN devices ([`tun`])
//! and the wire that relays, delays, drops and captures packets ([`wire`]). It knows nothing
//! of the TCP model; the comparison lives above it.
//!
//! Everything here needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), iproute2 and
//! /dev/net/tun; [`prerequisites`] says which is missing.

pub mod netns;
pub mod plan;
pub mod states;
pub mod tun;
pub mod wire;

use thiserror::Error;

/// What went wrong on the kernel side.
#[derive(Debug, Error)]
pub enum KernelError {
    /// A system call or a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// Setting up the namespaces, devices or routes failed.
    #[error("{0}")]
    Setup(String),
    /// The machine cannot run the kernel side.
    #[error("the kernel side needs {0}")]
    Missing(String),
}

/// Checks that this process can run the kernel side: root, /dev/net/tun and iproute2.
pub fn prerequisites() -> Result<(), KernelError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(KernelError::Missing(
            "root (network namespaces and TUN devices need CAP_NET_ADMIN)".into(),
        ));
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Err(KernelError::Missing(
            "/dev/net/tun (the tun kernel module: modprobe tun)".into(),
        ));
    }
    let ip = std::process::Command::new("ip").arg("-V").output();
    if !ip.is_ok_and(|o| o.status.success()) {
        return Err(KernelError::Missing(
            "iproute2's `ip` command (apt-get install iproute2)".into(),
        ));
    }
    Ok(())
}

/// A name prefix unique to this process and run, so that namespaces and devices of
/// concurrent runs never collide and leftovers can be recognised.
pub fn run_prefix() -> String {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("nsk{}r{run}", std::process::id())
}
