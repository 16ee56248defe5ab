//! The retransmission queue and its scoreboard: every segment sent and not yet cumulatively
//! acknowledged, in sequence order, with when it was last sent and what the peer's SACK blocks
//! (RFC 2018) and the loss detectors say of it: RACK (RFC 8985 §6; Linux tcp_recovery.c),
//! RFC 6675's DupThresh rule, or NewReno's head-of-queue rule (RFC 6582). Sequence-space
//! bookkeeping only: no timers, no sending, no congestion window.

use std::collections::VecDeque;

use netsim_core::{Seq, SimDuration, SimTime};

/// Segments SACKed above a hole before RFC 6675 or Linux call it lost (DupThresh, Linux
/// tp->reordering's default).
pub(crate) const DUP_THRESH: u32 = 3;

/// One segment in flight or awaiting retransmission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sent {
    /// First sequence number.
    pub seq: Seq,
    /// One past the last sequence number (a FIN counts one).
    pub end: Seq,
    /// Carries our FIN.
    pub fin: bool,
    /// When it was last (re)transmitted.
    pub xmit_at: SimTime,
    /// Ever retransmitted (Karn's rule; Linux TCPCB_EVER_RETRANS).
    pub ever_retrans: bool,
    /// A retransmission is in flight (Linux TCPCB_SACKED_RETRANS).
    pub retrans: bool,
    /// Covered by a SACK block.
    pub sacked: bool,
    /// Judged lost (Linux TCPCB_LOST): due for retransmission unless `retrans`.
    pub lost: bool,
}

impl Sent {
    /// Sequence space it occupies.
    pub(crate) fn len(&self) -> u32 {
        self.end.diff(self.seq) as u32
    }

    /// Counts in the pipe: sent, not SACKed, not lost unless retransmitted (RFC 6675 §4's
    /// pipe; Linux tcp_packets_in_flight).
    fn in_pipe(&self) -> bool {
        !self.sacked && (!self.lost || self.retrans)
    }

    /// Due for retransmission: lost, not SACKed, not resent since.
    fn due(&self) -> bool {
        self.lost && !self.retrans && !self.sacked
    }
}

/// What the RACK loss detector remembers (RFC 8985 §6.1; Linux tp->rack).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rack {
    /// Send time and end of the most recently sent segment known delivered.
    last: Option<(SimTime, Seq)>,
    /// Its round-trip time.
    rtt: SimDuration,
    /// New delivery information since the last detection run.
    advanced: bool,
    /// Reordering was seen on this connection (RACK then waits min_rtt/4 even in recovery).
    pub reordering_seen: bool,
}

/// RFC 8985 §6.2 step 1 / Linux tcp_rack_sent_after: sent later, or at the same time but
/// ending later.
fn sent_after(t1: SimTime, seq1: Seq, t2: SimTime, seq2: Seq) -> bool {
    t1 > t2 || (t1 == t2 && seq1.gt(seq2))
}

impl Rack {
    /// A segment sent at `xmit_at` and ending at `end` was delivered (acknowledged or
    /// SACKed) at `now` (Linux tcp_rack_advance): an ambiguous delivery of a retransmission
    /// faster than the minimum RTT is ignored.
    fn advance(&mut self, seg: &Sent, now: SimTime, min_rtt: Option<SimDuration>) {
        let rtt = now.saturating_since(seg.xmit_at);
        if seg.ever_retrans && min_rtt.is_some_and(|m| rtt < m) {
            return;
        }
        self.advanced = true;
        self.rtt = rtt;
        if self
            .last
            .is_none_or(|(t, s)| sent_after(seg.xmit_at, seg.end, t, s))
        {
            self.last = Some((seg.xmit_at, seg.end));
        }
    }
}

/// What one ACK told us.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Delivered {
    /// Sequence space newly cumulatively acknowledged.
    pub acked: u32,
    /// Sequence space newly SACKed.
    pub sacked: u32,
    /// Sequence space newly delivered: acknowledged without an earlier SACK, or SACKed
    /// (Linux tp->delivered; what PRR counts).
    pub delivered: u32,
    /// Send time of the earliest newly acknowledged segment never retransmitted, unless
    /// retransmitted data was acknowledged too (Linux first_ackt: a Karn-safe RTT sample).
    pub rtt_from: Option<SimTime>,
    /// Retransmitted data was acknowledged.
    pub retrans_acked: bool,
    /// Send time of the earliest newly SACKed segment never retransmitted (Linux sack_rtt).
    pub sack_rtt_from: Option<SimTime>,
    /// The first block was a D-SACK (RFC 2883 §4).
    pub dsack: bool,
}

/// The retransmission queue.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scoreboard {
    segs: VecDeque<Sent>,
    pub rack: Rack,
}

impl Scoreboard {
    /// Nothing outstanding.
    pub(crate) fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Segments outstanding.
    pub(crate) fn len(&self) -> usize {
        self.segs.len()
    }

    /// Segment `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&Sent> {
        self.segs.get(i)
    }

    /// The last segment sent (highest sequence).
    pub(crate) fn last_index(&self) -> Option<usize> {
        self.segs.len().checked_sub(1)
    }

    /// A new segment went out.
    pub(crate) fn push(&mut self, seq: Seq, end: Seq, fin: bool, now: SimTime) {
        debug_assert!(
            self.segs.back().is_none_or(|s| s.end == seq),
            "queue has a gap"
        );
        self.segs.push_back(Sent {
            seq,
            end,
            fin,
            xmit_at: now,
            ever_retrans: false,
            retrans: false,
            sacked: false,
            lost: false,
        });
    }

    /// Segment `i` was sent again.
    pub(crate) fn retransmitted(&mut self, i: usize, now: SimTime) {
        let s = &mut self.segs[i];
        s.xmit_at = now;
        s.ever_retrans = true;
        s.retrans = true;
    }

    /// Bytes in the pipe (RFC 6675 §4; Linux tcp_packets_in_flight, in bytes).
    pub(crate) fn pipe(&self) -> u32 {
        self.segs
            .iter()
            .filter(|s| s.in_pipe())
            .map(Sent::len)
            .sum()
    }

    /// Segments SACKed.
    pub(crate) fn sacked_out(&self) -> u32 {
        self.segs.iter().filter(|s| s.sacked).count() as u32
    }

    /// Segments marked lost and not retransmitted since.
    pub(crate) fn lost_out(&self) -> u32 {
        self.segs.iter().filter(|s| s.due()).count() as u32
    }

    /// The first segment due for retransmission (lost, not SACKed, not resent since).
    pub(crate) fn next_lost(&self) -> Option<usize> {
        self.segs.iter().position(Sent::due)
    }

    /// The cumulative acknowledgment moved to `ack`: drop what it covers (trim a segment it
    /// covers in part) and report it.
    pub(crate) fn ack(
        &mut self,
        ack: Seq,
        now: SimTime,
        min_rtt: Option<SimDuration>,
        d: &mut Delivered,
    ) {
        let highest_sacked = self.highest_sacked();
        while let Some(head) = self.segs.front_mut() {
            if head.end.le(ack) {
                let s = self.segs.pop_front().expect("front exists");
                d.acked += s.len();
                if !s.sacked {
                    d.delivered += s.len();
                    self.note_delivery(&s, now, min_rtt, highest_sacked, d, Via::Ack);
                }
            } else {
                if head.seq.lt(ack) {
                    // The peer took part of it (a window cut it short).
                    d.acked += ack.diff(head.seq) as u32;
                    d.delivered += ack.diff(head.seq) as u32;
                    head.seq = ack;
                }
                break;
            }
        }
    }

    fn note_delivery(
        &mut self,
        s: &Sent,
        now: SimTime,
        min_rtt: Option<SimDuration>,
        highest_sacked: Option<Seq>,
        d: &mut Delivered,
        via: Via,
    ) {
        self.rack.advance(s, now, min_rtt);
        // RFC 8985 §6.2 / Linux tcp_check_sack_reordering: an original transmission
        // delivered below data already SACKed arrived out of order.
        if !s.ever_retrans && highest_sacked.is_some_and(|h| s.end.lt(h)) {
            self.rack.reordering_seen = true;
        }
        let first = match via {
            Via::Ack => &mut d.rtt_from,
            Via::Sack => &mut d.sack_rtt_from,
        };
        if s.ever_retrans {
            if via == Via::Ack {
                d.retrans_acked = true;
            }
        } else if first.is_none_or(|t| s.xmit_at < t) {
            *first = Some(s.xmit_at);
        }
    }

    /// End of the highest SACKed segment.
    pub(crate) fn highest_sacked(&self) -> Option<Seq> {
        self.segs.iter().rev().find(|s| s.sacked).map(|s| s.end)
    }

    /// Applies the SACK blocks of an ACK whose cumulative point is `snd_una` (RFC 2018 §3,
    /// D-SACK per RFC 2883 §4: a first block below SND.UNA or inside the second block).
    pub(crate) fn sack(
        &mut self,
        blocks: &[(Seq, Seq)],
        snd_una: Seq,
        snd_nxt: Seq,
        now: SimTime,
        min_rtt: Option<SimDuration>,
        d: &mut Delivered,
    ) {
        let mut blocks = blocks;
        if let Some(&(l0, r0)) = blocks.first() {
            let inside_second = blocks
                .get(1)
                .is_some_and(|&(l1, r1)| l0.ge(l1) && r0.le(r1));
            if r0.le(snd_una) || inside_second {
                d.dsack = true;
                blocks = &blocks[1..];
            }
        }
        let highest_sacked = self.highest_sacked();
        for &(left, right) in blocks {
            // A block must lie within what was sent (RFC 2018 leaves invalid blocks ignored).
            if !(left.lt(right) && left.ge(snd_una) && right.le(snd_nxt)) {
                continue;
            }
            for i in 0..self.segs.len() {
                let s = self.segs[i];
                if s.sacked || s.seq.lt(left) || s.end.gt(right) {
                    continue;
                }
                self.segs[i].sacked = true;
                d.sacked += s.len();
                d.delivered += s.len();
                self.note_delivery(&s, now, min_rtt, highest_sacked, d, Via::Sack);
            }
        }
    }

    /// A retransmission timeout: everything not SACKed is lost, nothing is in flight (RFC
    /// 6675 §5.1; Linux tcp_timeout_mark_lost).
    pub(crate) fn mark_all_lost(&mut self) {
        for s in self.segs.iter_mut().filter(|s| !s.sacked) {
            s.lost = true;
            s.retrans = false;
        }
    }

    /// NewReno (RFC 6582 §3.2; Linux tcp_newreno_mark_lost): the first segment is lost.
    /// Without SACK nothing is ever SACKed, and marking a lost segment again changes nothing.
    pub(crate) fn mark_head_lost(&mut self) {
        if let Some(head) = self.segs.front_mut() {
            head.lost = true;
        }
    }

    /// RFC 6675 §4 IsLost: a segment with at least DupThresh SACKed segments above it is lost.
    /// Returns how many segments were newly marked.
    pub(crate) fn mark_lost_by_dupthresh(&mut self) -> u32 {
        let mut above = 0;
        let mut marked = 0;
        for s in self.segs.iter_mut().rev() {
            if s.sacked {
                above += 1;
            } else if above >= DUP_THRESH && !s.lost {
                s.lost = true;
                marked += 1;
            }
        }
        marked
    }

    /// RACK loss detection (RFC 8985 §6.2; Linux tcp_rack_detect_loss): a segment sent
    /// before the most recently delivered one is lost once `reo_wnd` has passed beyond that
    /// delivery's RTT. Returns (segments newly marked, the time until the next one can be
    /// judged).
    pub(crate) fn rack_detect(
        &mut self,
        now: SimTime,
        reo_wnd: SimDuration,
    ) -> (u32, Option<SimDuration>) {
        self.rack.advanced = false;
        let Some((last_at, last_end)) = self.rack.last else {
            return (0, None);
        };
        let mut marked = 0;
        let mut wait: Option<SimDuration> = None;
        let deadline = self.rack.rtt.saturating_add(reo_wnd);
        for s in self.segs.iter_mut() {
            if s.sacked || (s.lost && !s.retrans) {
                continue;
            }
            if !sent_after(last_at, last_end, s.xmit_at, s.end) {
                continue;
            }
            let waited = now.saturating_since(s.xmit_at);
            if waited >= deadline {
                s.lost = true;
                s.retrans = false;
                marked += 1;
            } else {
                let left = deadline.saturating_sub(waited);
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
        (marked, wait)
    }

    /// RACK has news since its last run.
    pub(crate) fn rack_advanced(&self) -> bool {
        self.rack.advanced
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Ack,
    Sack,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> SimTime {
        SimTime::after(SimDuration::from_millis(ms))
    }

    /// SACK `blocks` on [`ten`]'s queue (SND.UNA 1000, SND.NXT 2000), no minimum RTT yet.
    fn sack(sb: &mut Scoreboard, blocks: &[(Seq, Seq)], now: SimTime, d: &mut Delivered) {
        sb.sack(blocks, Seq(1000), Seq(2000), now, None, d);
    }

    /// Ten 100-byte segments from 1000, sent 1 ms apart.
    fn ten() -> Scoreboard {
        let mut sb = Scoreboard::default();
        for i in 0..10 {
            sb.push(
                Seq(1000 + i * 100),
                Seq(1100 + i * 100),
                false,
                t(u64::from(i)),
            );
        }
        sb
    }

    #[test]
    fn sack_marks_covered_segments_and_pipe_leaves_them_out() {
        let mut sb = ten();
        assert_eq!(sb.pipe(), 1000);
        let mut d = Delivered::default();
        sack(&mut sb, &[(Seq(1300), Seq(1500))], t(20), &mut d);
        assert_eq!((d.sacked, sb.sacked_out(), sb.pipe()), (200, 2, 800));
        assert!(!d.dsack);
        assert_eq!(d.sack_rtt_from, Some(t(3)));
    }

    #[test]
    fn a_first_block_below_snd_una_is_a_dsack() {
        let mut sb = ten();
        let mut d = Delivered::default();
        sack(&mut sb, &[(Seq(900), Seq(1000))], t(20), &mut d);
        assert!(d.dsack);
        assert_eq!(sb.sacked_out(), 0);
    }

    #[test]
    fn dupthresh_marks_a_hole_with_three_sacked_segments_above() {
        let mut sb = ten();
        let mut d = Delivered::default();
        sack(&mut sb, &[(Seq(1200), Seq(1400))], t(20), &mut d);
        assert_eq!(sb.mark_lost_by_dupthresh(), 0, "two above: not yet");
        sack(&mut sb, &[(Seq(1200), Seq(1500))], t(21), &mut d);
        assert_eq!(sb.mark_lost_by_dupthresh(), 2, "1000 and 1100 are holes");
        assert_eq!(sb.next_lost(), Some(0));
        assert_eq!(sb.lost_out(), 2);
        assert_eq!(sb.pipe(), 1000 - 300 - 200);
    }

    #[test]
    fn rack_marks_what_was_sent_before_a_delivered_segment_after_its_rtt_plus_reo_wnd() {
        let mut sb = ten();
        let mut d = Delivered::default();
        // Segment 5 (sent at 5 ms) is SACKed at 25 ms: RACK RTT 20 ms.
        sack(&mut sb, &[(Seq(1500), Seq(1600))], t(25), &mut d);
        assert!(sb.rack_advanced());
        let (marked, wait) = sb.rack_detect(t(25), SimDuration::from_millis(5));
        // Segments 0..=4 were sent 25..21 ms ago and each needs 25 ms: segment 0 is lost,
        // segment 4 is judged in 4 ms.
        assert_eq!((marked, wait), (1, Some(SimDuration::from_millis(4))));
        let (marked, wait) = sb.rack_detect(t(27), SimDuration::from_millis(5));
        assert_eq!((marked, wait), (2, Some(SimDuration::from_millis(2))));
        let (marked, _) = sb.rack_detect(t(27), SimDuration::ZERO);
        assert_eq!(marked, 2, "with no reordering window the rest go at once");
        assert!(!sb.rack_advanced(), "RACK runs again only with news");
        let mut d = Delivered::default();
        sack(&mut sb, &[(Seq(900), Seq(1000))], t(28), &mut d);
        assert!(d.dsack);
        assert!(!sb.rack_advanced(), "a D-SACK delivers nothing new");
        assert!(sb.get(5).is_some_and(|s| s.sacked && !s.lost));
        assert!(
            sb.get(6).is_some_and(|s| !s.lost),
            "sent after the delivered one"
        );
        assert_eq!(sb.lost_out(), 5);
    }

    #[test]
    fn cumulative_ack_trims_and_reports_a_karn_safe_rtt_source() {
        let mut sb = ten();
        sb.retransmitted(2, t(30));
        let mut d = Delivered::default();
        sb.ack(Seq(1200), t(40), None, &mut d);
        assert_eq!(
            (d.acked, d.rtt_from, d.retrans_acked),
            (200, Some(t(0)), false)
        );
        let mut d = Delivered::default();
        sb.ack(Seq(1350), t(41), None, &mut d);
        assert_eq!((d.acked, d.delivered), (150, 150));
        assert!(d.retrans_acked, "the resent segment 1200 was acknowledged");
        assert_eq!(sb.get(0).map(|s| s.seq), Some(Seq(1350)));
    }

    /// RFC 8985 §6.2 / Linux tcp_check_sack_reordering: an original transmission delivered
    /// below data already SACKed arrived out of order; a retransmission delivered there did
    /// not (it was sent later), and nothing is reordering without a SACK.
    #[test]
    fn an_original_delivered_below_sacked_data_is_reordering() {
        let mut sb = ten();
        let mut d = Delivered::default();
        sb.ack(Seq(1200), t(20), None, &mut d);
        assert!(!sb.rack.reordering_seen, "no SACK: in order");
        let mut sb = ten();
        sb.retransmitted(0, t(10));
        sack(&mut sb, &[(Seq(1500), Seq(1600))], t(20), &mut d);
        sb.ack(Seq(1100), t(21), None, &mut d);
        assert!(!sb.rack.reordering_seen, "a retransmission");
        sb.ack(Seq(1300), t(22), None, &mut d);
        assert!(sb.rack.reordering_seen, "originals below the SACKed 1500");
    }

    /// The RTT source of a SACK is the earliest newly SACKed segment, whatever the order of
    /// the blocks (the newest comes first, RFC 2018 §4); blocks outside [SND.UNA, SND.NXT]
    /// are ignored (RFC 2018 leaves invalid blocks to the receiver of the SACK).
    #[test]
    fn sack_rtt_comes_from_the_earliest_segment_and_invalid_blocks_are_ignored() {
        let mut sb = ten();
        let mut d = Delivered::default();
        sack(
            &mut sb,
            &[(Seq(1700), Seq(1800)), (Seq(1300), Seq(1400))],
            t(20),
            &mut d,
        );
        assert_eq!((d.sacked, d.sack_rtt_from), (200, Some(t(3))));
        for block in [(Seq(1500), Seq(2100)), (Seq(900), Seq(1200))] {
            let mut sb = ten();
            let mut d = Delivered::default();
            sack(&mut sb, &[block], t(20), &mut d);
            assert_eq!((d.sacked, d.dsack), (0, false), "{block:?}");
        }
    }

    #[test]
    fn timeout_marks_everything_but_sacked_lost() {
        let mut sb = ten();
        let mut d = Delivered::default();
        sack(&mut sb, &[(Seq(1900), Seq(2000))], t(20), &mut d);
        sb.mark_all_lost();
        assert_eq!((sb.lost_out(), sb.pipe()), (9, 0));
        sb.retransmitted(0, t(30));
        assert_eq!(
            (sb.lost_out(), sb.pipe(), sb.next_lost()),
            (8, 100, Some(1))
        );
    }
}
