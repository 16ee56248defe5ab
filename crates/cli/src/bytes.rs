//! [`ByteOracle`]: the byte-stream oracle, for applications of yours.

use std::cell::RefCell;
use std::net::SocketAddrV4;
use std::rc::Rc;

use netsim_host::Api;
use netsim_scenario::oracle::{self, BadByte, Oracle};
use netsim_tcp::SocketId;

/// The oracle that checks every byte a connection delivers: each end of each incarnation of a
/// 4-tuple sends its own known pattern, so a byte read is either the one the peer sent at that
/// offset, or stale (an older incarnation's byte at that offset) or corrupt. Scripts use it on
/// every read; an application of yours uses it by sending [`ByteOracle::payload`] and checking
/// what it reads with [`ByteOracle::check`]. A wrong byte fails the run's "byte streams intact"
/// check. One oracle serves one world ([`crate::Builder::oracle`]); clones share it.
///
/// ```
/// use netsim::{Builder, ByteOracle};
/// let builder = Builder::new("echo");
/// let oracle: ByteOracle = builder.oracle();
/// let a = oracle.join("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
/// let b = oracle.join("10.0.0.2:80".parse().unwrap(), "10.0.0.1:40000".parse().unwrap());
/// let sent = oracle.payload(a, 0, 16);
/// assert!(oracle.check(b, 0, &sent).is_ok());
/// assert!(oracle.check(b, 16, &sent).is_err(), "the bytes of offset 0 are not those of 16");
/// ```
#[derive(Clone, Default)]
pub struct ByteOracle(Rc<RefCell<Oracle>>);

/// One end of one incarnation of a connection, as the oracle knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamId(oracle::Stream);

impl ByteOracle {
    pub(crate) fn new() -> ByteOracle {
        ByteOracle::default()
    }

    pub(crate) fn shared(&self) -> Rc<RefCell<Oracle>> {
        self.0.clone()
    }

    /// An end joins at connect() or accept(), with its socket's own `local` and `remote`
    /// addresses: the second end of a 4-tuple joins the first's incarnation, a later first
    /// end starts a new one.
    pub fn join(&self, local: SocketAddrV4, remote: SocketAddrV4) -> StreamId {
        StreamId(self.0.borrow_mut().join(local, remote))
    }

    /// [`ByteOracle::join`] for socket `fd` of the calling host (`None` when it has no
    /// connection yet).
    pub fn join_socket(&self, api: &Api<'_>, fd: SocketId) -> Option<StreamId> {
        let key = api.tcp.conn_key(fd)?;
        Some(self.join(key.local, key.remote))
    }

    /// The `len` bytes end `me` sends at `offset` of its stream.
    pub fn payload(&self, me: StreamId, offset: u64, len: usize) -> Vec<u8> {
        oracle::pattern(me.0.uid, me.0.side, offset, len)
    }

    /// Checks `data` that end `me` read at `offset` of the peer's stream. The first wrong
    /// byte is recorded as a violation (stale or corrupt) and returned.
    pub fn check(&self, me: StreamId, offset: u64, data: &[u8]) -> Result<(), BadByte> {
        let bad = self.0.borrow_mut().check(me.0, offset, data, || {
            format!("incarnation #{} side {}", me.0.uid, me.0.side)
        });
        bad.map_or(Ok(()), Err)
    }
}
