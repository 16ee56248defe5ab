//! netsim's TCP endpoint model, sans-IO. A [`TcpStack`] is one host's TCP: it is fed the
//! current time with an incoming packet ([`TcpStack::on_packet`]), a socket call
//! ([`TcpStack::connect`], [`TcpStack::send`], ...) or a timer expiry
//! ([`TcpStack::on_timer`]), and returns segments to send, trace events, socket events and
//! its next deadline. It never reads a clock, a link or a random source: the engine drives it.
//!
//! Behaviour follows RFC 9293 unless a comment says otherwise (RFC 5961, 6298, 5681, 6582,
//! 7323, 1122, 1337, 6191, 6528), or says it follows Linux. `docs/tcp-conformance.md` lists
//! each requirement with the test that proves it.

mod acks;
mod config;
mod errno;
mod event;
pub mod reassembly;
mod rtt;
mod scoreboard;
mod stack;
mod state;
mod tcb;
mod timers;
mod timewait;

pub use config::{AckPolicy, Congestion, IsnMode, RtoRules, TcpConfig, TimeWaitRules, WindowRules};
pub use errno::Errno;
pub use event::{ConnKey, Note, Resent, SocketEvent, SocketId, TcpEvent};
pub use stack::{
    Bind, KEEPALIVE_PROBES_MAX, KEEPALIVE_TIME_MAX, Listen, Produced, Received, TcpStack,
};
pub use state::State;
pub use tcb::{Counters, Outgoing, SocketRow, SocketTimer, TcpInfo};
