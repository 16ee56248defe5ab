//! What the TCP model reports: trace events (state changes, errors, retransmissions, notable
//! discards) and the socket events an application reacts to.

use std::fmt;
use std::net::SocketAddrV4;

use netsim_core::StableHasher;

use crate::errno::Errno;
use crate::state::State;

/// A connection's 4-tuple, as seen from its own host.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ConnKey {
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
}

impl ConnKey {
    /// Feeds both addresses into a stable hash.
    pub fn hash_into(&self, h: &mut StableHasher) {
        h.write_u64(u64::from(u32::from(*self.local.ip())) << 16 | u64::from(self.local.port()));
        h.write_u64(u64::from(u32::from(*self.remote.ip())) << 16 | u64::from(self.remote.port()));
    }
}

/// Which kind of segment was sent again.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Resent {
    /// Our SYN (connect).
    Syn,
    /// Our SYN-ACK.
    SynAck,
    /// Data.
    Data,
    /// Our FIN.
    Fin,
}

impl Resent {
    /// Lower-case name for traces and expectations.
    pub const fn name(self) -> &'static str {
        match self {
            Resent::Syn => "SYN",
            Resent::SynAck => "SYN-ACK",
            Resent::Data => "data",
            Resent::Fin => "FIN",
        }
    }
}

/// Why the model discarded or specially answered a segment.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Note {
    /// A SYN to a listener whose accept queue is full was dropped.
    ListenOverflow,
    /// The ACK completing a handshake found the accept queue full and was dropped (Linux).
    AcceptQueueFull,
    /// A segment for no connection was answered with RST (RFC 9293 §3.10.7.1).
    ResetNoConnection,
    /// A segment failed PAWS (RFC 7323 §5) and was answered with an ACK.
    PawsReject,
    /// An in-window RST or SYN not exactly at RCV.NXT got a challenge ACK (RFC 5961).
    ChallengeAck,
    /// A segment outside the receive window was answered with an ACK (RFC 9293 §3.10.7.4).
    OutOfWindow,
    /// RFC 1337: a RST in TIME_WAIT was ignored.
    Rfc1337IgnoredRst,
    /// A new SYN took over a TIME_WAIT 4-tuple (RFC 6191).
    TimeWaitReusedBySyn,
    /// connect() reused a TIME_WAIT 4-tuple (tcp_tw_reuse).
    TimeWaitReusedByConnect,
    /// The TIME_WAIT table was full: the connection closed without TIME_WAIT.
    TimeWaitOverflow,
    /// A retransmitted FIN reached TIME_WAIT; it was ACKed and the timer restarted.
    TimeWaitRestarted,
    /// Data arrived for a connection the application had closed: answered with RST
    /// (RFC 1122 §4.2.2.13).
    DataAfterClose,
    /// close() with unread data: RST instead of FIN (RFC 9293 §3.10.4, RFC 1122 §4.2.2.13).
    UnreadDataReset,
    /// An orphaned connection's FIN_WAIT_2 timed out (Linux tcp_fin_timeout).
    FinWait2Timeout,
    /// A zero-window probe was sent (RFC 9293 §3.8.6.1).
    WindowProbe,
    /// Three duplicate ACKs: fast retransmit (RFC 5681 §3.2).
    FastRetransmit,
    /// SACK blocks showed lost segments: fast recovery (RFC 6675, RFC 8985).
    SackRecovery,
    /// A tail loss probe was sent (RFC 8985 §7).
    TailLossProbe,
    /// A keep-alive probe was sent (RFC 1122 §4.2.3.6).
    KeepAliveProbe,
    /// Keep-alive probes went unanswered: RST, ETIMEDOUT.
    KeepAliveTimeout,
    /// The application aborted: RST, no TIME_WAIT (SO_LINGER 0).
    Abort,
    /// An invalid segment got no answer: one was sent too recently (Linux
    /// tcp_invalid_ratelimit), which is what ends an ACK war.
    AckRateLimited,
    /// The listener was closed: this connection of its, still in SYN_RECEIVED, was dropped
    /// without a word (Linux inet_csk_listen_stop, reqsk_timer_handler).
    ListenerClosed,
    /// A segment other than a FIN restarted the TIME_WAIT timer (Linux
    /// tcp_timewait_state_process).
    TimeWaitTimerRestarted,
}

impl Note {
    /// Text for traces.
    pub const fn text(self) -> &'static str {
        match self {
            Note::ListenOverflow => "listen queue full: SYN dropped",
            Note::AcceptQueueFull => "accept queue full: handshake ACK dropped",
            Note::ResetNoConnection => "no connection: RST sent",
            Note::PawsReject => "PAWS: old timestamp, segment dropped",
            Note::ChallengeAck => "challenge ACK sent",
            Note::OutOfWindow => "out of window",
            Note::Rfc1337IgnoredRst => "RFC 1337: RST ignored in TIME_WAIT",
            Note::TimeWaitReusedBySyn => "new SYN takes over TIME_WAIT",
            Note::TimeWaitReusedByConnect => "connect reuses TIME_WAIT 4-tuple",
            Note::TimeWaitOverflow => "TIME_WAIT table full: closed without TIME_WAIT",
            Note::TimeWaitRestarted => "FIN again in TIME_WAIT: ACK sent, timer restarted",
            Note::DataAfterClose => "data after close: RST sent",
            Note::UnreadDataReset => "close with unread data: RST sent",
            Note::FinWait2Timeout => "FIN_WAIT_2 timeout",
            Note::WindowProbe => "zero window probe",
            Note::FastRetransmit => "3 duplicate ACKs: fast retransmit",
            Note::SackRecovery => "SACK: lost segments found, fast recovery",
            Note::TailLossProbe => "tail loss probe",
            Note::KeepAliveProbe => "keep-alive probe",
            Note::KeepAliveTimeout => "keep-alive: no answer, connection dropped",
            Note::Abort => "abort: RST sent",
            Note::AckRateLimited => "invalid segment: answer rate-limited",
            Note::ListenerClosed => "listener closed: SYN_RECEIVED connection dropped",
            Note::TimeWaitTimerRestarted => "segment in TIME_WAIT: timer restarted",
        }
    }
}

/// A trace event of the TCP model.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TcpEvent {
    /// A connection changed state.
    State {
        /// Which connection.
        conn: ConnKey,
        /// Before.
        from: State,
        /// After.
        to: State,
    },
    /// A transition RFC 9293's diagram does not have: always a bug of the model.
    IllegalTransition {
        /// Which connection.
        conn: ConnKey,
        /// Before.
        from: State,
        /// After.
        to: State,
    },
    /// An error was reported on a connection.
    Error {
        /// Which connection.
        conn: ConnKey,
        /// The error.
        errno: Errno,
    },
    /// A segment was sent again after a timeout or fast retransmit.
    Retransmit {
        /// Which connection.
        conn: ConnKey,
        /// What was resent.
        what: Resent,
        /// Its sequence number.
        seq: u32,
        /// The how-many-th retransmission of it.
        attempt: u32,
    },
    /// Something notable about a segment or a connection.
    Note {
        /// The connection (or the segment's 4-tuple).
        conn: ConnKey,
        /// What happened.
        note: Note,
    },
}

impl TcpEvent {
    /// Feeds the event into a stable hash.
    pub fn hash_into(&self, h: &mut StableHasher) {
        match *self {
            TcpEvent::State { conn, from, to } => {
                h.write_u64(1 << 16 | (from as u64) << 8 | to as u64);
                conn.hash_into(h);
            }
            TcpEvent::IllegalTransition { conn, from, to } => {
                h.write_u64(2 << 16 | (from as u64) << 8 | to as u64);
                conn.hash_into(h);
            }
            TcpEvent::Error { conn, errno } => {
                h.write_u64(3 << 16 | errno as u64);
                conn.hash_into(h);
            }
            TcpEvent::Retransmit {
                conn,
                what,
                seq,
                attempt,
            } => {
                h.write_u64(4 << 16 | what as u64);
                h.write_u64(u64::from(seq) << 32 | u64::from(attempt));
                conn.hash_into(h);
            }
            TcpEvent::Note { conn, note } => {
                h.write_u64(5 << 16 | note as u64);
                conn.hash_into(h);
            }
        }
    }

    /// The connection the event is about.
    pub fn conn(&self) -> ConnKey {
        match *self {
            TcpEvent::State { conn, .. }
            | TcpEvent::IllegalTransition { conn, .. }
            | TcpEvent::Error { conn, .. }
            | TcpEvent::Retransmit { conn, .. }
            | TcpEvent::Note { conn, .. } => conn,
        }
    }
}

/// `10.0.0.1:49152 FIN_WAIT_1 -> FIN_WAIT_2 (peer 10.0.0.2:80)` and similar.
impl fmt::Display for TcpEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let conn = self.conn();
        match *self {
            TcpEvent::State { from, to, .. } => write!(f, "{} {from} -> {to}", conn.local)?,
            TcpEvent::IllegalTransition { from, to, .. } => {
                write!(f, "{} ILLEGAL TRANSITION {from} -> {to}", conn.local)?
            }
            TcpEvent::Error { errno, .. } => write!(f, "{} error {errno}", conn.local)?,
            // The segment line that follows shows its (relative) sequence number.
            TcpEvent::Retransmit { what, attempt, .. } => write!(
                f,
                "{} retransmit {} (attempt {attempt})",
                conn.local,
                what.name()
            )?,
            TcpEvent::Note { note, .. } => write!(f, "{} {}", conn.local, note.text())?,
        }
        write!(f, " (peer {})", conn.remote)
    }
}

/// A socket handle, like a file descriptor.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SocketId(pub u32);

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fd {}", self.0)
    }
}

/// What happened to a socket, for the application that owns it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SocketEvent {
    /// connect() completed: the connection is ESTABLISHED.
    Connected(SocketId),
    /// A listener has a connection waiting in its accept queue.
    Acceptable(SocketId),
    /// New data can be read.
    Readable(SocketId),
    /// The peer sent FIN: recv() returns 0 once the buffer is drained.
    PeerClosed(SocketId),
    /// Send buffer space freed up.
    Writable(SocketId),
    /// The connection failed (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...).
    Failed(SocketId, Errno),
}

/// The texts traces print and the stable hash of events: the catalogue's snapshots guard
/// them end to end, these guard them in this crate (cargo-mutants runs only this crate's
/// tests for a mutant of it).
#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(a: [u8; 4], ap: u16, b: [u8; 4], bp: u16) -> ConnKey {
        ConnKey {
            local: SocketAddrV4::new(Ipv4Addr::from(a), ap),
            remote: SocketAddrV4::new(Ipv4Addr::from(b), bp),
        }
    }

    fn hash(e: &TcpEvent) -> u64 {
        let mut h = StableHasher::new();
        e.hash_into(&mut h);
        h.finish()
    }

    #[test]
    fn every_field_of_an_event_changes_its_hash() {
        let k = key([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80);
        let state = |conn, from, to| TcpEvent::State { conn, from, to };
        let base = state(k, State::SynSent, State::Established);
        // Each address and port of the key changed in turn.
        let keys = [
            key([10, 0, 0, 3], 40000, [10, 0, 0, 2], 80),
            key([10, 0, 0, 1], 40001, [10, 0, 0, 2], 80),
            key([10, 0, 0, 1], 40000, [10, 0, 0, 4], 80),
            key([10, 0, 0, 1], 40000, [10, 0, 0, 2], 81),
            key([11, 0, 0, 1], 40000, [10, 0, 0, 2], 80),
        ];
        let variants = keys
            .into_iter()
            .map(|other| state(other, State::SynSent, State::Established))
            .chain([
                state(k, State::Listen, State::Established),
                state(k, State::SynSent, State::Closed),
                TcpEvent::IllegalTransition {
                    conn: k,
                    from: State::SynSent,
                    to: State::Established,
                },
            ]);
        for v in variants {
            assert_ne!(hash(&base), hash(&v), "{v:?}");
        }
        let rtx = |what, seq, attempt| TcpEvent::Retransmit {
            conn: k,
            what,
            seq,
            attempt,
        };
        let r = hash(&rtx(Resent::Data, 1000, 1));
        for v in [
            rtx(Resent::Fin, 1000, 1),
            rtx(Resent::Data, 1001, 1),
            rtx(Resent::Data, 1000, 2),
            rtx(Resent::Data, 1 << 20, 1),
        ] {
            assert_ne!(r, hash(&v), "{v:?}");
        }
    }

    /// One event of each kind, with the same small numbers in their fields, hashes apart
    /// from every other (the kind tags keep them apart), and each kind's own field changes
    /// its hash.
    #[test]
    fn each_kind_hashes_apart_and_by_its_fields() {
        let k = key([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80);
        let events = [
            TcpEvent::State {
                conn: k,
                from: State::Closed,
                to: State::Listen,
            },
            TcpEvent::IllegalTransition {
                conn: k,
                from: State::Closed,
                to: State::Listen,
            },
            TcpEvent::Error {
                conn: k,
                errno: Errno::ConnRefused,
            },
            TcpEvent::Retransmit {
                conn: k,
                what: Resent::Syn,
                seq: 0,
                attempt: 0,
            },
            TcpEvent::Note {
                conn: k,
                note: Note::ListenOverflow,
            },
        ];
        for (i, a) in events.iter().enumerate() {
            for b in &events[i + 1..] {
                assert_ne!(hash(a), hash(b), "{a:?} and {b:?}");
            }
        }
        let pairs = [
            (
                TcpEvent::IllegalTransition {
                    conn: k,
                    from: State::SynSent,
                    to: State::Listen,
                },
                TcpEvent::IllegalTransition {
                    conn: k,
                    from: State::SynSent,
                    to: State::Closed,
                },
            ),
            (
                TcpEvent::IllegalTransition {
                    conn: k,
                    from: State::SynSent,
                    to: State::Listen,
                },
                TcpEvent::IllegalTransition {
                    conn: k,
                    from: State::Established,
                    to: State::Listen,
                },
            ),
            (
                TcpEvent::Error {
                    conn: k,
                    errno: Errno::ConnReset,
                },
                TcpEvent::Error {
                    conn: k,
                    errno: Errno::TimedOut,
                },
            ),
            (
                TcpEvent::Note {
                    conn: k,
                    note: Note::ChallengeAck,
                },
                TcpEvent::Note {
                    conn: k,
                    note: Note::PawsReject,
                },
            ),
        ];
        for (a, b) in pairs {
            assert_ne!(hash(&a), hash(&b), "{a:?} and {b:?}");
        }
    }

    /// The trace hash is an interface: snapshots and sweep reports store it and compare it
    /// across builds and machines, so the hash of a fixed list of events is pinned. (A change
    /// of the hashing on purpose changes every snapshot's hash too, and this value with it.)
    #[test]
    fn the_hash_of_events_is_stable_across_builds() {
        let k = key([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80);
        let events = [
            TcpEvent::State {
                conn: k,
                from: State::Closed,
                to: State::SynSent,
            },
            TcpEvent::IllegalTransition {
                conn: k,
                from: State::Closed,
                to: State::TimeWait,
            },
            TcpEvent::Error {
                conn: k,
                errno: Errno::ConnReset,
            },
            TcpEvent::Retransmit {
                conn: k,
                what: Resent::Fin,
                seq: 7,
                attempt: 2,
            },
            TcpEvent::Note {
                conn: k,
                note: Note::ChallengeAck,
            },
        ];
        let mut h = StableHasher::new();
        for e in &events {
            e.hash_into(&mut h);
        }
        assert_eq!(h.finish(), PINNED, "{:#x}", h.finish());
    }

    const PINNED: u64 = 0x278b_43a0_a0c2_2fdf;

    #[test]
    fn events_and_sockets_print_as_the_trace_shows_them() {
        let k = key([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80);
        let e = TcpEvent::State {
            conn: k,
            from: State::FinWait1,
            to: State::FinWait2,
        };
        assert_eq!(
            e.to_string(),
            "10.0.0.1:40000 FIN_WAIT_1 -> FIN_WAIT_2 (peer 10.0.0.2:80)"
        );
        assert!(!SocketId(7).to_string().is_empty());
        assert!(SocketId(7).to_string().contains('7'));
    }

    #[test]
    fn traces_name_things_as_tcpdump_and_strerror_do() {
        assert_eq!(Resent::SynAck.name(), "SYN-ACK");
        assert_eq!(Resent::Data.name(), "data");
        assert_eq!(Note::ChallengeAck.text(), "challenge ACK sent");
        assert_eq!(Errno::ConnReset.message(), "connection reset");
        assert_eq!(
            Errno::TimedOut.to_string(),
            "ETIMEDOUT (connection timed out)"
        );
    }
}
