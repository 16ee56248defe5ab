//! The errors an application sees, named as POSIX names them.

use std::fmt;

/// An error returned by a socket call or reported on a connection.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Errno {
    /// The peer answered our SYN with a RST: nothing listens there.
    ConnRefused,
    /// The peer reset an established connection ("connection reset").
    ConnReset,
    /// Retransmissions ran out.
    TimedOut,
    /// The local port is taken.
    AddrInUse,
    /// No local port (or 4-tuple) is free for this destination.
    AddrNotAvail,
    /// The host's socket limit is reached.
    TooManyFiles,
    /// Writing after shutdown or after the connection closed.
    BrokenPipe,
    /// The socket is not connected.
    NotConn,
    /// The call makes no sense for this socket (e.g. accept on a connected socket).
    Invalid,
    /// No such socket.
    BadFd,
}

impl Errno {
    /// The POSIX name: `ECONNRESET`, ...
    pub const fn name(self) -> &'static str {
        match self {
            Errno::ConnRefused => "ECONNREFUSED",
            Errno::ConnReset => "ECONNRESET",
            Errno::TimedOut => "ETIMEDOUT",
            Errno::AddrInUse => "EADDRINUSE",
            Errno::AddrNotAvail => "EADDRNOTAVAIL",
            Errno::TooManyFiles => "EMFILE",
            Errno::BrokenPipe => "EPIPE",
            Errno::NotConn => "ENOTCONN",
            Errno::Invalid => "EINVAL",
            Errno::BadFd => "EBADF",
        }
    }

    /// What `strerror` says.
    pub const fn message(self) -> &'static str {
        match self {
            Errno::ConnRefused => "connection refused",
            Errno::ConnReset => "connection reset",
            Errno::TimedOut => "connection timed out",
            Errno::AddrInUse => "address already in use",
            Errno::AddrNotAvail => "cannot assign requested address",
            Errno::TooManyFiles => "too many open files",
            Errno::BrokenPipe => "broken pipe",
            Errno::NotConn => "socket is not connected",
            Errno::Invalid => "invalid argument",
            Errno::BadFd => "bad file descriptor",
        }
    }

    /// Parses a POSIX name.
    pub fn from_name(name: &str) -> Option<Errno> {
        [
            Errno::ConnRefused,
            Errno::ConnReset,
            Errno::TimedOut,
            Errno::AddrInUse,
            Errno::AddrNotAvail,
            Errno::TooManyFiles,
            Errno::BrokenPipe,
            Errno::NotConn,
            Errno::Invalid,
            Errno::BadFd,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.message())
    }
}

impl std::error::Error for Errno {}
