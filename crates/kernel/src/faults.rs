//! The scenario's targeted faults on the kernel wire, judged as netsim's network judges them
//! (`Net::send_packet`): every rule, in declaration order, counts the packets its filter
//! matches; the rules that fire combine (a drop wins, then a hold, then delay and
//! duplication). Filters on sequence numbers (absolute in the scenario, while the kernel
//! picks its own ISNs) and on the sender's TCP state (not visible on the wire) are refused by
//! the plan, so every filter here can be decided from the packet alone.

use std::time::Duration;

use netsim_engine::{FaultAction, FaultRule, HostId, Occurrence, Release};

use crate::wire::Fate;

/// How often a rule matched and fired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Packets its filter matched.
    pub matched: u64,
    /// Packets it acted on.
    pub fired: u64,
}

/// The fault rules of one link, with their counts.
#[derive(Debug)]
pub struct Judge {
    rules: Vec<FaultRule>,
    /// Per direction of the link: (sender, receiver).
    ends: [(HostId, HostId); 2],
    /// Per rule.
    pub counts: Vec<Count>,
}

impl Judge {
    /// The judge of the link between hosts `a` and `b` (direction 0 is a to b).
    pub fn new(rules: Vec<FaultRule>, a: HostId, b: HostId) -> Judge {
        let counts = vec![Count::default(); rules.len()];
        Judge {
            rules,
            ends: [(a, b), (b, a)],
            counts,
        }
    }

    /// What happens to this IPv4 packet in this direction. Bytes the codec cannot read pass
    /// untouched (the comparison reports them).
    pub fn fate(&mut self, direction: usize, bytes: &[u8]) -> Fate {
        let Ok(packet) = netsim_core::codec::parse(bytes) else {
            return Fate::PASS;
        };
        let (from, to) = self.ends[direction.min(1)];
        let (mut drop, mut hold, mut delay, mut copies) = (false, None, Duration::ZERO, 1);
        for (rule, count) in self.rules.iter().zip(&mut self.counts) {
            if !rule.filter.matches(from, to, &packet, "") {
                continue;
            }
            count.matched += 1;
            let fires = match rule.occurrence {
                Occurrence::Nth(n) => count.matched == n,
                Occurrence::Every => true,
            };
            if !fires {
                continue;
            }
            count.fired += 1;
            match rule.action {
                FaultAction::Drop => drop = true,
                FaultAction::Hold(release) => {
                    hold = hold.or(Some(release));
                }
                FaultAction::Delay(d) => delay += Duration::from_nanos(d.as_nanos()),
                FaultAction::Duplicate => copies = 2,
            }
        }
        if drop {
            return Fate::Drop;
        }
        match hold {
            Some(Release::At(t)) => Fate::HoldUntil(Duration::from_nanos(t.as_nanos())),
            Some(Release::AfterPackets(n)) => Fate::HoldForPackets(n),
            None => Fate::Deliver { delay, copies },
        }
    }
}
