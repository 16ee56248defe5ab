//! netsim as a library: a simulated network for your Rust tests.
//!
//! Build a world in Rust ([`Builder`]: hosts, links with their knobs, faults, scheduled
//! events, expectations) or load a scenario file ([`Builder::from_file`]), give any host an
//! application of your own (any type implementing [`App`], one type per host), then run it
//! ([`Sim::run`]) or drive it from the test ([`Sim::step`], [`Sim::run_until`], and between
//! steps [`Sim::partition`], [`Sim::heal`], [`Sim::crash`], [`Sim::restart`], [`Sim::hold`],
//! [`Sim::release`], a look at
//! [`Sim::sockets`], [`Sim::states`] and [`Sim::counters`]). The [`Outcome`] carries what
//! `netsim run` prints: the trace, the summary and its checks (the file's expectations and
//! every default oracle), and the snapshot form `netsim test` compares, ready for
//! `insta::assert_snapshot!`. Seeds come from the environment for loops over many
//! ([`seeds`], [`check_seeds`]), and a failing seed names the line that replays it.
//!
//! A run is a pure function of the world and the seed: the same test gives the same trace on
//! every machine.
//!
//! The TCP, network and byte-stream oracles judge every host, and so do the expectations. For
//! a host running an application of yours, the errors it saw are its sockets' failed
//! connections (`SocketEvent::Failed`) and the failed calls it records with [`Api::failed`]:
//! `Error` expectations count them, and an error no expectation names fails the run, as for
//! a script. Tasks and bytes received are a script's own account; for your application those
//! checks are yours to make (its summary line says "runs an application of its own").
//!
//! ```
//! use netsim::{Api, App, Builder, ByteOracle, Link, SimDuration, SocketEvent};
//!
//! /// Sends four bytes once connected and closes. The bytes are the byte-stream oracle's, so
//! /// the server's script can tell them from stale or corrupt ones.
//! struct Pinger {
//!     oracle: ByteOracle,
//! }
//! impl App for Pinger {
//!     fn start(&mut self, api: &mut Api<'_>) {
//!         api.connect("10.0.0.2:7".parse().unwrap()).unwrap();
//!     }
//!     fn socket(&mut self, api: &mut Api<'_>, event: SocketEvent) {
//!         if let SocketEvent::Connected(fd) = event {
//!             let stream = self.oracle.join_socket(api, fd).unwrap();
//!             api.send(fd, &self.oracle.payload(stream, 0, 4)).unwrap();
//!             api.close(fd).unwrap();
//!         }
//!     }
//!     fn wake(&mut self, _api: &mut Api<'_>, _token: u64) {}
//! }
//!
//! let builder = Builder::new("ping").end(SimDuration::from_secs(5));
//! let oracle = builder.oracle();
//! let outcome = builder
//!     .host("client", "10.0.0.1", Pinger { oracle })
//!     // A host with a script, as a scenario file writes it.
//!     .script_host("server", "10.0.0.2", "[Serve(port: 7, steps: [Recv(4), RecvEof, Close])]")
//!     .link("client", "server", Link::new().latency(SimDuration::from_millis(2)))
//!     .build()
//!     .unwrap()
//!     .run()
//!     .unwrap();
//! assert!(outcome.passed(), "{}", outcome.summary());
//! assert!(outcome.trace().contains("[P.] seq 1 ack 1"));
//! ```

mod builder;
mod bytes;
mod seeds;
mod sim;

pub use builder::{Builder, Link};
pub use bytes::{ByteOracle, StreamId};
pub use seeds::{check_seeds, parse_seed_range, replay_line, seeds, version};
pub use sim::{Error, Outcome, Sim};

pub use netsim_core::{SimDuration, SimTime};
pub use netsim_host::{Api, App};
pub use netsim_scenario::format;
pub use netsim_scenario::{Check, Report};
pub use netsim_tcp::{
    Bind, Counters, Errno, Received, SocketEvent, SocketId, SocketRow, State, TcpConfig,
};
