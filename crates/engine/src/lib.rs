//! netsim's discrete-event engine: virtual time, the event queue, seeded random streams, hosts
//! joined by links (latency, jitter, bandwidth, drop-tail queues, loss, duplication,
//! reordering, MTU), a network lifetime, scheduled partitions and crashes, targeted fault rules,
//! and the trace with its running hash.
//!
//! The engine knows nothing of TCP's rules: a host's behaviour comes in through the [`Host`]
//! trait, and the TCP header is only data it sizes packets by and matches filters against.

mod config;
pub mod conn;
pub mod inject;
pub mod link;
pub mod pcap;
pub mod probe;
mod queue;
pub mod rng;
mod sim;
mod slab;
pub mod trace;

pub use config::{
    BuildError, Direction, FaultAction, FaultId, FaultRule, FlagMatch, HostId, HostSpec,
    LinkConfig, LinkSpec, MIN_MTU_BYTES, NetChange, Occurrence, PacketFilter, QueueLimit, Release,
    RunLimits, Sabotage, Topology,
};
pub use conn::{ConnTag, Connections, EventConn, Tagged};
pub use inject::{InjectOutcome, InjectPorts, Injection, SeqRef, WireWatch};
pub use probe::{Planned, Probe};
pub use rng::{Probability, Stream};
pub use sim::{
    Ctx, FaultCount, FaultVerdict, Host, NetStats, RunError, RunOutcome, Sim, Stepped, Stop,
    TICK_EVENTS, TimerId, judge_faults,
};
pub use trace::{
    Cause, DropReason, NoEvent, NullSink, PacketId, TextFormat, TextLines, TextWriter, TraceEvent,
    TraceKind, TraceRecord, TraceSink,
};
