//! The scenario's targeted faults on the kernel wire, judged as netsim's network judges them
//! (`Net::send_packet`): every rule, in declaration order, counts the packets its filter
//! matches; the rules that fire combine (a drop wins, then a hold, then delay and
//! duplication). Filters on sequence numbers (absolute in the scenario, while the kernel
//! picks its own ISNs) are refused by the plan. The sender's TCP state is not on the wire: it
//! is inferred from the segments of the connection seen so far (which side sent and had
//! acknowledged a FIN, which received one), the way the model labels a segment with its
//! sender's state after the call that sent it.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::time::Duration;

use netsim_core::{Packet, Seq, TcpFlags};
use netsim_engine::{FaultCount, FaultRule, HostId, Release, judge_faults};

use crate::wire::Fate;

/// How often a rule matched and fired (the engine's own count).
pub type Count = FaultCount;

/// The counts of every rule, one per rule, shared by the judges of all links: the model
/// counts a rule's `Nth` and `Every` over the whole network, not per link.
pub type SharedCounts = std::sync::Arc<std::sync::Mutex<Vec<Count>>>;

/// The fault rules of one link, with their counts.
#[derive(Debug)]
pub struct Judge {
    rules: Vec<FaultRule>,
    /// Per direction of the link: (sender, receiver).
    ends: [(HostId, HostId); 2],
    /// Per rule, shared with the other links' judges.
    counts: SharedCounts,
    /// What each endpoint of each connection has done with FINs, by endpoint.
    ends_seen: BTreeMap<SocketAddrV4, EndSeen>,
}

/// One endpoint's close, as seen on the wire.
#[derive(Clone, Copy, Debug, Default)]
struct EndSeen {
    /// Sequence number of its FIN, once sent.
    fin: Option<Seq>,
    /// Its FIN was acknowledged by the peer.
    fin_acked: bool,
    /// It received the peer's FIN before sending its own.
    peer_fin_first: bool,
    /// It received the peer's FIN.
    peer_fin: bool,
}

/// The state label the model gives a segment from `me`: the state after the call that sent
/// it (a FIN leaves FIN_WAIT_1 or LAST_ACK behind).
fn label(me: &EndSeen, flags: TcpFlags) -> &'static str {
    if flags.contains(TcpFlags::SYN) {
        return if flags.contains(TcpFlags::ACK) {
            "SYN_RECEIVED"
        } else {
            "SYN_SENT"
        };
    }
    match (me.fin.is_some(), me.peer_fin) {
        (false, false) => "ESTABLISHED",
        (false, true) => "CLOSE_WAIT",
        (true, false) if me.fin_acked => "FIN_WAIT_2",
        (true, false) => "FIN_WAIT_1",
        (true, true) if me.peer_fin_first => "LAST_ACK",
        (true, true) if me.fin_acked => "TIME_WAIT",
        (true, true) => "CLOSING",
    }
}

impl Judge {
    /// The judge of the link between hosts `a` and `b` (direction 0 is a to b), counting
    /// into `counts` (one per rule).
    pub fn new(rules: Vec<FaultRule>, counts: SharedCounts, a: HostId, b: HostId) -> Judge {
        Judge {
            rules,
            ends: [(a, b), (b, a)],
            counts,
            ends_seen: BTreeMap::new(),
        }
    }

    /// What happens to this IPv4 packet in this direction. Bytes the codec cannot read pass
    /// untouched (the comparison reports them).
    fn judge(&mut self, direction: usize, bytes: &[u8]) -> Fate {
        let Ok(packet) = netsim_core::codec::parse(bytes) else {
            return Fate::PASS;
        };
        let (from, to) = self.ends[direction.min(1)];
        let state = self.sender_state(&packet);
        let v = {
            let mut counts = self.counts.lock().expect("fault counts");
            judge_faults(&self.rules, &mut counts, from, to, &packet, state)
        };
        if v.drop.is_some() {
            return Fate::Drop;
        }
        match v.hold.map(|(_, release)| release) {
            Some(Release::At(t)) => Fate::HoldUntil(Duration::from_nanos(t.as_nanos())),
            Some(Release::AfterPackets(n)) => Fate::HoldForPackets(n),
            None => Fate::Deliver {
                delay: Duration::from_nanos(v.delay.as_nanos()),
                copies: if v.duplicate_by.is_some() { 2 } else { 1 },
            },
        }
    }

    /// The sender's state label for `p`, updating what its own FIN did.
    fn sender_state(&mut self, p: &Packet) -> &'static str {
        let s = &p.segment;
        let me = SocketAddrV4::new(p.src, s.src_port);
        let end = self.ends_seen.entry(me).or_default();
        if s.flags.contains(TcpFlags::SYN) && !s.flags.contains(TcpFlags::ACK) {
            *end = EndSeen::default(); // a new incarnation
        }
        if s.flags.contains(TcpFlags::FIN) && end.fin.is_none() {
            end.fin = Some(s.seq.add(s.payload.len() as u32));
            end.peer_fin_first = end.peer_fin;
        }
        label(end, s.flags)
    }

    /// `p` reached its receiver: its FIN and its acknowledgment count there.
    fn on_delivery(&mut self, p: &Packet) {
        let s = &p.segment;
        let peer = SocketAddrV4::new(p.dst, s.dst_port);
        let end = self.ends_seen.entry(peer).or_default();
        if s.flags.contains(TcpFlags::FIN) {
            end.peer_fin = true;
        }
        if let Some(fin) = end.fin {
            if s.flags.contains(TcpFlags::ACK) && s.ack.gt(fin) {
                end.fin_acked = true;
            }
        }
    }
}

impl crate::wire::WireJudge for Judge {
    fn fate(&mut self, direction: usize, bytes: &[u8]) -> Fate {
        self.judge(direction, bytes)
    }

    /// Only what reached the peer changes what the peer has seen: a segment a fault dropped
    /// or the link lost never counts there.
    fn delivered(&mut self, bytes: &[u8]) {
        if let Ok(p) = netsim_core::codec::parse(bytes) {
            self.on_delivery(&p);
        }
    }
}
