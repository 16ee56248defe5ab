//! TUN devices: the kernel hands this process every IP packet it routes to the device and
//! takes every packet this process writes as if it had arrived on it. Opened with IFF_TUN |
//! IFF_NO_PI (bare IPv4 packets, no packet-information header) and without IFF_VNET_HDR,
//! so the kernel segments before handing packets over: what is read is what a wire carries.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use crate::KernelError;

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags, padded to 40 bytes.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// A TUN device, open for reading and writing packets.
#[derive(Debug)]
pub struct Tun {
    file: File,
    name: String,
}

impl Tun {
    /// Creates (or attaches to) the TUN device `name` in the calling thread's network
    /// namespace. The file descriptor stays usable from any thread afterwards.
    pub fn open(name: &str) -> Result<Tun, KernelError> {
        if name.len() >= libc::IFNAMSIZ {
            return Err(KernelError::Setup(format!(
                "TUN name `{name}` is longer than {} bytes",
                libc::IFNAMSIZ - 1
            )));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| KernelError::Io {
                what: "open /dev/net/tun".into(),
                source: e,
            })?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads an ifreq of at least this size from a valid pointer.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if r != 0 {
            return Err(KernelError::Io {
                what: format!("TUNSETIFF {name}"),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(Tun {
            file,
            name: name.to_string(),
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits up to `timeout` for a packet; `Ok(None)` if none came.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, KernelError> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, a valid timespec, no signal mask.
        let n = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(None);
            }
            return Err(KernelError::Io {
                what: format!("poll {}", self.name),
                source: e,
            });
        }
        if n == 0 {
            return Ok(None);
        }
        let len = (&self.file).read(buf).map_err(|e| KernelError::Io {
            what: format!("read {}", self.name),
            source: e,
        })?;
        Ok(Some(len))
    }

    /// Hands `packet` to the kernel as if it had arrived on the device.
    pub fn send(&self, packet: &[u8]) -> Result<(), KernelError> {
        (&self.file).write_all(packet).map_err(|e| KernelError::Io {
            what: format!("write {}", self.name),
            source: e,
        })
    }
}
