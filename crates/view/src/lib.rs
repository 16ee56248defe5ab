//! Pictures of a run, drawn from its trace records as they stream past (nothing holds the
//! whole trace): ladder diagrams of connections, sockets per state over time, charts of a
//! sweep, and one self-contained HTML page that gathers them. Every picture is plain SVG or
//! text written by hand: no fonts, scripts or fetches, so it opens from disk anywhere and its
//! bytes are stable enough to snapshot.

pub mod chart;
pub mod filter;
pub mod html;
pub mod interest;
pub mod ladder;
pub mod states;
pub mod svg;
pub mod sweep;

pub use filter::{ConnSelector, TraceFilter};
pub use interest::Interest;
pub use ladder::{Ladder, LadderSink};
