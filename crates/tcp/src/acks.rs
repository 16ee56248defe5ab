//! When to acknowledge received data: at once, after the delayed-ACK timer, or (for SACKs
//! beyond the third) after a short compression delay. Two policies:
//!
//! - `Rfc1122`: RFC 1122 §4.2.3.2 and RFC 5681 §4.2: every second full-sized segment at
//!   once, any other segment within the delay, out-of-order data and a filled gap at once.
//! - `Linux`: the kernel's icsk_ack state (tcp_input.c, tcp_output.c, tcp_timer.c): a
//!   connection starts in quick-ACK mode (each segment ACKed at once, a quota of up to 16
//!   that grows with the window: tcp_incr_quickack), falls back to delayed ACKs once the
//!   quota is spent, goes "ping-pong" (delayed ACKs piggybacked on replies) when it answers
//!   data within the ACK timeout (tcp_event_data_sent), leaves it when the delayed-ACK timer
//!   fires anyway (tcp_delack_timer_handler), and returns to quick-ACK mode on a duplicate
//!   segment or after a long silence. The delay (ato) adapts to the gaps between arrivals
//!   (tcp_event_data_recv) and is bounded by the RTT (tcp_send_delayed_ack). SACKs after the
//!   third for one RCV.NXT are compressed (tcp_comp_sack_*).
//!
//! Sans-IO: the caller passes the time and reads the deadlines.

use netsim_core::{SimDuration, SimTime};

use crate::config::AckPolicy;

/// TCP_DELACK_MAX: 200 ms.
const DELACK_MAX: SimDuration = SimDuration::from_millis(200);
/// The delay bound when not interactive (HZ / 2).
const DELACK_MAX_BULK: SimDuration = SimDuration::from_millis(500);
/// TCP_MAX_QUICKACKS.
const MAX_QUICKACKS: u32 = 16;
/// TCP_MSS_DEFAULT: the receive MSS assumed before a segment says otherwise.
const MSS_DEFAULT: u32 = 536;
/// Duplicate ACKs for one RCV.NXT sent at once before SACK compression starts
/// (TCP_FASTRETRANS_THRESH).
const DUPACKS_UNCOMPRESSED: u32 = 3;
/// tcp_comp_sack_delay_ns: the longest a compressed SACK waits.
const COMP_SACK_DELAY_MAX: SimDuration = SimDuration::from_millis(1);

/// What the receiver should do about an ACK it owes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckNow {
    /// Send it now.
    Send,
    /// Send it when the delayed-ACK (or SACK-compression) timer fires.
    Later,
}

/// One connection's acknowledgment state.
#[derive(Clone, Debug)]
pub(crate) struct Acks {
    policy: AckPolicy,
    /// The configured delay: RFC 1122's timeout, or Linux's TCP_ATO_MIN (40 ms).
    delay: SimDuration,
    /// An ACK is owed (Linux ICSK_ACK_SCHED).
    pub pending: bool,
    /// It must go at once (Linux ICSK_ACK_NOW).
    now: bool,
    /// The delayed-ACK timer.
    pub timer: Option<SimTime>,
    /// The SACK-compression timer.
    pub comp_timer: Option<SimTime>,
    // RFC 1122 policy.
    unacked_full: u32,
    // Linux policy.
    quick: u32,
    pingpong: bool,
    ato: SimDuration,
    lrcvtime: SimTime,
    rcv_mss: u32,
    /// Small segments seen since the last ACK: 0, 1 or 2 (ICSK_ACK_PUSHED, _PUSHED2).
    pushed: u8,
    /// Duplicate ACKs sent for the current RCV.NXT (tp->dup_ack_counter) and that RCV.NXT.
    dupacks: (u32, u32),
}

impl Acks {
    /// A new connection; `delay` is the configured delayed-ACK timeout (zero: never delay).
    pub(crate) fn new(policy: AckPolicy, delay: SimDuration, advmss: u32) -> Acks {
        Acks {
            policy,
            delay,
            pending: false,
            now: false,
            timer: None,
            comp_timer: None,
            unacked_full: 0,
            quick: 0,
            pingpong: false,
            ato: SimDuration::ZERO,
            lrcvtime: SimTime::ZERO,
            rcv_mss: MSS_DEFAULT.min(advmss),
            pushed: 0,
            dupacks: (0, 0),
        }
    }

    /// The earliest of the two timers.
    pub(crate) fn deadline(&self) -> Option<SimTime> {
        match (self.timer, self.comp_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Linux tcp_in_quickack_mode.
    fn in_quickack(&self) -> bool {
        self.quick > 0 && !self.pingpong
    }

    /// Linux tcp_incr_quickack: a quota of window / (2 · receive MSS), at least 2, at most 16.
    fn incr_quickack(&mut self, rcv_wnd: u32) {
        let quota = (rcv_wnd / (2 * self.rcv_mss.max(1))).clamp(2, MAX_QUICKACKS);
        self.quick = self.quick.max(quota);
    }

    /// Linux tcp_enter_quickack_mode: after a duplicate or out-of-window segment.
    pub(crate) fn enter_quickack(&mut self, rcv_wnd: u32) {
        if self.policy == AckPolicy::Linux {
            self.incr_quickack(rcv_wnd);
            self.pingpong = false;
            self.ato = self.delay;
        }
        self.schedule_now();
    }

    /// The ACK must go out with the next segment, or on its own at once.
    pub(crate) fn schedule_now(&mut self) {
        self.pending = true;
        self.now = true;
    }

    /// Something owes an ACK, sent now or later as [`Acks::decide`] says (Linux
    /// inet_csk_schedule_ack).
    pub(crate) fn schedule(&mut self) {
        self.pending = true;
    }

    /// `len` bytes of in-order or out-of-order data arrived at `now` (Linux
    /// tcp_measure_rcv_mss and tcp_event_data_recv; RFC 1122: count full segments).
    pub(crate) fn data_received(
        &mut self,
        now: SimTime,
        len: u32,
        advmss: u32,
        rto: SimDuration,
        rcv_wnd: u32,
    ) {
        self.pending = true;
        match self.policy {
            AckPolicy::Rfc1122 => {
                if len >= advmss {
                    self.unacked_full += 1;
                }
            }
            AckPolicy::Linux => {
                if len >= self.rcv_mss {
                    self.rcv_mss = len.min(advmss);
                } else {
                    self.pushed = (self.pushed + 1).min(2);
                }
                if self.ato.is_zero() {
                    // The first data: start in quick-ACK mode.
                    self.incr_quickack(rcv_wnd);
                    self.ato = self.delay;
                } else {
                    let gap = now.saturating_since(self.lrcvtime);
                    if gap <= self.delay / 2 {
                        self.ato = self.ato / 2 + self.delay / 2;
                    } else if gap < self.ato {
                        self.ato = (self.ato / 2 + gap).min(rto);
                    } else if gap > rto {
                        // A long silence: the sender restarts, ACK quickly again.
                        self.incr_quickack(rcv_wnd);
                    }
                }
                self.lrcvtime = now;
            }
        }
    }

    /// The peer's FIN arrived in ESTABLISHED: Linux tcp_fin enters ping-pong mode, so the
    /// FIN's ACK waits for the application's reply (its own FIN, typically).
    pub(crate) fn fin_received(&mut self) {
        self.pending = true;
        if self.policy == AckPolicy::Linux {
            self.pingpong = true;
        }
    }

    /// We sent data at `now`: a reply within the ACK timeout of the last arrival makes the
    /// connection interactive (Linux tcp_event_data_sent, tcp_pingpong_thresh 1).
    pub(crate) fn data_sent(&mut self, now: SimTime) {
        if self.policy == AckPolicy::Linux
            && !self.ato.is_zero()
            && now.saturating_since(self.lrcvtime) < self.ato
        {
            self.pingpong = true;
        }
    }

    /// Decides about an owed ACK after a segment was processed (Linux __tcp_ack_snd_check;
    /// RFC 5681 §4.2). `since_last_ack` is RCV.NXT minus what the last ACK acknowledged;
    /// `gap` says out-of-order data is queued.
    pub(crate) fn decide(
        &mut self,
        now: SimTime,
        since_last_ack: u32,
        gap: bool,
        sack: bool,
        rcv_nxt: u32,
        srtt: Option<SimDuration>,
    ) -> AckNow {
        if !self.pending {
            return AckNow::Later;
        }
        if self.delay.is_zero() || self.now {
            return AckNow::Send;
        }
        match self.policy {
            AckPolicy::Rfc1122 => {
                if gap || self.unacked_full >= 2 {
                    return AckNow::Send;
                }
                self.timer.get_or_insert(now + self.delay);
                AckNow::Later
            }
            AckPolicy::Linux => {
                if since_last_ack > self.rcv_mss || self.in_quickack() {
                    return AckNow::Send;
                }
                if !gap {
                    return self.delay_ack(now, srtt);
                }
                if !sack {
                    return AckNow::Send;
                }
                // SACK compression: the first three duplicates for one RCV.NXT go at once.
                if self.dupacks.1 != rcv_nxt {
                    self.dupacks = (0, rcv_nxt);
                }
                if self.dupacks.0 < DUPACKS_UNCOMPRESSED {
                    self.dupacks.0 += 1;
                    return AckNow::Send;
                }
                if self.comp_timer.is_none() {
                    // 5 % of the RTT, at most 1 ms.
                    let rtt = srtt.unwrap_or(COMP_SACK_DELAY_MAX * 20);
                    let delay = (rtt / 20).min(COMP_SACK_DELAY_MAX);
                    self.comp_timer = Some(now + delay);
                }
                AckNow::Later
            }
        }
    }

    /// Linux tcp_send_delayed_ack: the delay is ato, bounded by 200 ms when interactive (or
    /// 500 ms) and by the RTT; an earlier pending timer is kept unless it is already close.
    fn delay_ack(&mut self, now: SimTime, srtt: Option<SimDuration>) -> AckNow {
        // Before any data arrived ato is zero (Linux sets it on the first data): the timer is
        // due now, which the timer wheel turns into the next tick (tcp_send_delayed_ack:
        // timeout = jiffies + ato).
        let mut ato = self.ato;
        if ato > self.delay {
            let mut max_ato = if self.pingpong || self.pushed > 0 {
                DELACK_MAX
            } else {
                DELACK_MAX_BULK
            };
            if let Some(rtt) = srtt {
                max_ato = max_ato.min(rtt.max(self.delay));
            }
            ato = ato.min(max_ato);
        }
        ato = ato.min(DELACK_MAX);
        let mut at = now + ato;
        if let Some(pending) = self.timer {
            if pending <= now + ato / 4 {
                return AckNow::Send;
            }
            at = at.min(pending);
        }
        self.timer = Some(at);
        AckNow::Later
    }

    /// The application read data and emptied the receive buffer: Linux tcp_cleanup_rbuf
    /// sends the owed ACK at once if small segments came in and the connection is not
    /// interactive, or more than one full segment is unacknowledged.
    pub(crate) fn after_read(&self, since_last_ack: u32, emptied: bool) -> AckNow {
        if self.policy != AckPolicy::Linux || !self.pending {
            return AckNow::Later;
        }
        let small = emptied && (self.pushed >= 2 || (self.pushed == 1 && !self.pingpong));
        if since_last_ack > self.rcv_mss || small {
            AckNow::Send
        } else {
            AckNow::Later
        }
    }

    /// An ACK went out (Linux tcp_event_ack_sent and tcp_dec_quickack_mode): one quick ACK
    /// of the quota is spent if an ACK was owed.
    pub(crate) fn sent(&mut self) {
        if self.quick > 0 && self.pending {
            self.quick -= 1;
            if self.quick == 0 {
                self.ato = self.delay;
            }
        }
        self.pending = false;
        self.now = false;
        self.pushed = 0;
        self.unacked_full = 0;
        self.timer = None;
        self.comp_timer = None;
    }

    /// The delayed-ACK timer fired with an ACK owed (Linux tcp_delack_timer_handler): a
    /// missed delayed ACK inflates ato, or ends ping-pong mode.
    pub(crate) fn timer_fired(&mut self, rto: SimDuration) {
        self.timer = None;
        self.comp_timer = None;
        if self.policy == AckPolicy::Linux && self.pending {
            if self.pingpong {
                self.pingpong = false;
                self.ato = self.delay;
            } else {
                self.ato = self.ato.saturating_mul(2).min(rto);
            }
        }
    }
}

/// The ACK scheduler's own arithmetic, rule by rule: what `cargo mutants` found unguarded by
/// the stack-level tests (docs/mutation-testing.md). Each test names the Linux code it
/// follows.
#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> SimDuration {
        SimDuration::from_millis(n)
    }

    fn at(n: u64) -> SimTime {
        SimTime::after(ms(n))
    }

    const RTO: SimDuration = SimDuration::from_millis(1000);
    const MSS: u32 = 1448;

    fn linux() -> Acks {
        Acks::new(AckPolicy::Linux, ms(40), 1460)
    }

    /// Spends the quick-ACK quota: full segments, each ACKed at once.
    fn leave_quickack(a: &mut Acks, from_ms: u64) -> u64 {
        let mut t = from_ms;
        loop {
            a.data_received(at(t), MSS, 1460, RTO, 65_160);
            a.sent();
            t += 1;
            if !a.in_quickack() {
                return t;
            }
        }
    }

    /// The delayed-ACK timer `decide` arms for one small in-order segment at `t`.
    fn delay_after(a: &mut Acks, t: u64, srtt: Option<SimDuration>) -> Option<SimDuration> {
        a.data_received(at(t), 100, 1460, RTO, 65_160);
        match a.decide(at(t), 100, false, true, 0, srtt) {
            AckNow::Send => None,
            AckNow::Later => a.timer.map(|x| x.saturating_since(at(t))),
        }
    }

    /// tcp_incr_quickack: window / (2 · rcv_mss), at least 2, at most 16.
    #[test]
    fn the_quick_ack_quota_is_the_window_over_two_segments_clamped_to_2_and_16() {
        for (wnd, quota) in [(20_000, 6), (65_160, 16), (1_000, 2), (2 * 2 * MSS, 2)] {
            let mut a = linux();
            a.rcv_mss = MSS;
            a.incr_quickack(wnd);
            assert_eq!(a.quick, quota, "window {wnd}");
        }
    }

    /// tcp_event_data_recv: arrivals closer than ato/2 (TCP_ATO_MIN / 2) pull ato towards
    /// TCP_ATO_MIN; arrivals within ato move it to ato/2 + gap (bounded by the RTO); a gap
    /// over the RTO restarts quick-ACK mode.
    #[test]
    fn ato_adapts_to_the_gaps_between_arrivals() {
        let mut a = linux();
        let t = leave_quickack(&mut a, 0) - 1; // the last arrival
        assert_eq!(a.ato, ms(40));
        // A gap of 30 ms (over 20, under ato 40): ato = 40 / 2 + 30 = 50.
        a.data_received(at(t + 30), 100, 1460, RTO, 65_160);
        assert_eq!(a.ato, ms(50));
        // A gap of 10 ms (at most 20): ato = 50 / 2 + 40 / 2 = 45.
        a.data_received(at(t + 40), 100, 1460, RTO, 65_160);
        assert_eq!(a.ato, ms(45));
        // Bounded by the RTO.
        let mut b = linux();
        let t = leave_quickack(&mut b, 0) - 1;
        b.ato = ms(1900);
        b.data_received(at(t + 1000), 100, 1460, ms(1200), 65_160);
        assert_eq!(b.ato, ms(1200));
        // A gap over the RTO: quick ACKs again.
        let mut c = linux();
        let t = leave_quickack(&mut c, 0);
        assert!(!c.in_quickack());
        c.data_received(at(t + 1500), 100, 1460, RTO, 65_160);
        assert!(c.in_quickack());
        // A gap between ato and the RTO changes nothing; nor does one of exactly ato, or
        // exactly the RTO (the comparisons are strict, as in tcp_event_data_recv).
        for gap in [500, 40, 1000] {
            let mut d = linux();
            let t = leave_quickack(&mut d, 0) - 1;
            d.data_received(at(t + gap), 100, 1460, RTO, 65_160);
            assert_eq!((d.ato, d.in_quickack()), (ms(40), false), "gap {gap} ms");
        }
    }

    /// SACK compression (tcp_sack_compress_send_ack, tcp_comp_sack_delay_ns): the first
    /// three duplicate ACKs for one RCV.NXT go at once, later ones wait 5 % of the RTT (at
    /// most 1 ms); a new RCV.NXT starts the count again.
    #[test]
    fn sack_compression_counts_per_rcv_nxt_and_waits_five_percent_of_the_rtt() {
        let mut a = linux();
        leave_quickack(&mut a, 0);
        let decide = |a: &mut Acks, t: u64, rcv_nxt: u32| {
            a.schedule();
            let d = a.decide(at(t), 0, true, true, rcv_nxt, Some(ms(10)));
            if d == AckNow::Send {
                a.sent();
            }
            d
        };
        for _ in 0..3 {
            assert_eq!(decide(&mut a, 100, 7), AckNow::Send);
        }
        assert_eq!(decide(&mut a, 100, 7), AckNow::Later);
        assert_eq!(a.comp_timer, Some(at(100) + SimDuration::from_micros(500)));
        a.sent();
        // RCV.NXT moved: three at once again.
        assert_eq!(decide(&mut a, 101, 9), AckNow::Send);
    }

    /// tcp_measure_rcv_mss: a full segment sets rcv_mss (bounded by advmss); a smaller one
    /// counts as pushed (once, twice, no more).
    #[test]
    fn rcv_mss_follows_full_segments_and_small_ones_count_as_pushed() {
        let mut a = linux();
        a.data_received(at(0), 1000, 1460, RTO, 65_160);
        assert_eq!(a.rcv_mss, 1000);
        a.data_received(at(1), 5000, 1460, RTO, 65_160);
        assert_eq!(a.rcv_mss, 1460, "bounded by advmss");
        for (len, pushed) in [(100, 1), (100, 2), (100, 2)] {
            a.data_received(at(2), len, 1460, RTO, 65_160);
            assert_eq!(a.pushed, pushed);
        }
    }

    /// tcp_event_data_sent: a reply within ato of the last arrival makes the connection
    /// interactive; a later one does not.
    #[test]
    fn a_reply_within_ato_enters_ping_pong_mode() {
        for (reply_after, pingpong) in [(39, true), (40, false), (100, false)] {
            let mut a = linux();
            a.data_received(at(0), 100, 1460, RTO, 65_160);
            a.data_sent(at(reply_after));
            assert_eq!(a.pingpong, pingpong, "reply after {reply_after} ms");
        }
    }

    /// __tcp_ack_snd_check: more than one full segment unacknowledged is ACKed at once; one
    /// is delayed.
    #[test]
    fn more_than_one_segment_unacknowledged_is_acked_at_once() {
        let mut a = linux();
        leave_quickack(&mut a, 0);
        a.data_received(at(100), MSS, 1460, RTO, 65_160);
        assert_eq!(a.decide(at(100), MSS, false, true, 0, None), AckNow::Later);
        a.data_received(at(101), MSS, 1460, RTO, 65_160);
        assert_eq!(
            a.decide(at(101), 2 * MSS, false, true, 0, None),
            AckNow::Send
        );
    }

    /// tcp_send_delayed_ack: ato above TCP_ATO_MIN is bounded by 200 ms when interactive or
    /// pushed, 500 ms otherwise, and by the RTT (no less than TCP_ATO_MIN); never above
    /// 200 ms. A pending timer due within a quarter of ato sends at once.
    #[test]
    fn the_delayed_ack_timeout_is_ato_within_linux_bounds() {
        let mut a = linux();
        let t = leave_quickack(&mut a, 0);
        assert_eq!(delay_after(&mut a, t + 100, None), Some(ms(40)));
        a.sent();
        // ato 120 ms, a small segment (pushed): min(120, 200) = 120; with an RTT of 60 ms,
        // 60; with an RTT of 10 ms, TCP_ATO_MIN.
        for (srtt, expect) in [(None, 120), (Some(ms(60)), 60), (Some(ms(10)), 40)] {
            // The last arrival 500 ms ago: between ato and the RTO, ato stays.
            a.ato = ms(120);
            a.pushed = 0;
            a.lrcvtime = at(9_500);
            let got = delay_after(&mut a, 10_000, srtt);
            assert_eq!(got, Some(ms(expect)), "srtt {srtt:?}");
            a.sent();
        }
        // ato 300 ms: 200 at most, pushed or not.
        a.ato = ms(300);
        a.lrcvtime = at(19_500);
        assert_eq!(delay_after(&mut a, 20_000, None), Some(ms(200)));
        a.sent();
        // A pending timer due within ato / 4: send now.
        a.ato = ms(40);
        a.lrcvtime = at(29_500);
        a.timer = Some(at(30_005));
        a.data_received(at(30_000), 100, 1460, RTO, 65_160);
        assert_eq!(
            a.decide(at(30_000), 100, false, true, 0, None),
            AckNow::Send
        );
    }

    /// tcp_cleanup_rbuf: after a read that empties the buffer, small segments are ACKed at
    /// once unless the connection is interactive (two small ones even then); more than one
    /// full segment unacknowledged always is.
    #[test]
    fn a_read_that_empties_the_buffer_acks_small_segments() {
        let mut a = linux();
        leave_quickack(&mut a, 0);
        a.data_received(at(100), 100, 1460, RTO, 65_160);
        assert_eq!(
            a.after_read(100, true),
            AckNow::Send,
            "one small, not ping-pong"
        );
        assert_eq!(a.after_read(100, false), AckNow::Later, "not emptied");
        a.pingpong = true;
        assert_eq!(
            a.after_read(100, true),
            AckNow::Later,
            "one small, ping-pong"
        );
        a.data_received(at(101), 100, 1460, RTO, 65_160);
        assert_eq!(
            a.after_read(200, true),
            AckNow::Send,
            "two small, even ping-pong"
        );
        assert_eq!(
            a.after_read(2 * MSS, false),
            AckNow::Send,
            "two full segments"
        );
        a.sent();
        assert_eq!(a.after_read(2 * MSS, true), AckNow::Later, "nothing owed");
    }

    /// tcp_cleanup_rbuf: exactly one full segment unacknowledged is not yet "more than one".
    #[test]
    fn one_full_segment_unacknowledged_waits_after_a_read() {
        let mut a = linux();
        leave_quickack(&mut a, 0);
        a.data_received(at(100), MSS, 1460, RTO, 65_160);
        assert_eq!(a.after_read(MSS, false), AckNow::Later);
        assert_eq!(a.after_read(MSS + 1, false), AckNow::Send);
    }

    /// tcp_dec_quickack_mode: the last quick ACK of the quota resets ato to TCP_ATO_MIN;
    /// earlier ones leave it.
    #[test]
    fn the_last_quick_ack_resets_ato() {
        for (quick, ato) in [(1, 40), (3, 100)] {
            let mut a = linux();
            a.quick = quick;
            a.ato = ms(100);
            a.pending = true;
            a.sent();
            assert_eq!(a.ato, ms(ato), "quick {quick}");
        }
    }

    /// tcp_delack_timer_handler: the timer changes ato or ping-pong only if an ACK was owed
    /// (in ping-pong it ends ping-pong; otherwise it doubles ato, bounded by the RTO).
    #[test]
    fn a_delayed_ack_timer_with_nothing_owed_changes_nothing() {
        let mut a = linux();
        a.ato = ms(100);
        a.pingpong = true;
        a.timer_fired(RTO);
        assert_eq!((a.ato, a.pingpong), (ms(100), true));
        a.pending = true;
        a.timer_fired(RTO);
        assert_eq!((a.ato, a.pingpong), (ms(40), false));
        a.pending = true;
        a.timer_fired(RTO);
        assert_eq!(a.ato, ms(80));
        a.pending = true;
        a.timer_fired(ms(100));
        assert_eq!(a.ato, ms(100), "bounded by the RTO");
    }

    /// The earliest of the delayed-ACK and SACK-compression timers.
    #[test]
    fn the_deadline_is_the_earlier_timer() {
        let mut a = linux();
        assert_eq!(a.deadline(), None);
        a.timer = Some(at(50));
        assert_eq!(a.deadline(), Some(at(50)));
        a.comp_timer = Some(at(10));
        assert_eq!(a.deadline(), Some(at(10)));
        a.timer = None;
        assert_eq!(a.deadline(), Some(at(10)));
    }
}
