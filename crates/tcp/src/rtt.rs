//! Round-trip time estimation and the retransmission timeout, in two flavours: RFC 6298's
//! (RTO = max(RTO.min, SRTT + max(G, 4·RTTVAR))) and Linux's (tcp_rtt_estimator and
//! __tcp_set_rto: RTO = SRTT + RTTVAR where RTTVAR is the mean deviation term floored at
//! rto_min, so a fast path gets RTT + 200 ms). Back-off lives here too. No clock: samples
//! come in as durations measured by the caller.

use netsim_core::{Seq, SimDuration};

use crate::config::RtoRules;

/// Clock granularity G of RFC 6298 §2 (the timestamp clock ticks in milliseconds).
const CLOCK_GRANULARITY: SimDuration = SimDuration::from_millis(1);

/// The RTO after a handshake that timed out (RFC 6298 §5.7; Linux TCP_TIMEOUT_FALLBACK).
const TIMEOUT_FALLBACK: SimDuration = SimDuration::from_secs(3);

/// One connection's RTT estimator and timeout.
#[derive(Clone, Debug)]
pub(crate) struct Rtt {
    rules: RtoRules,
    rto_min: SimDuration,
    rto_max: SimDuration,
    /// 8 × SRTT in nanoseconds (Linux srtt_us keeps the same scale); 0 before any sample.
    srtt8: u64,
    /// RFC 6298: RTTVAR. Linux: mdev_us, 4 × the mean deviation.
    mdev4: u64,
    /// Linux mdev_max_us: the largest mdev of the current round trip.
    mdev_max: u64,
    /// Linux rttvar_us: the deviation term of the RTO, at least rto_min.
    rttvar: u64,
    /// Linux rtt_seq: the round trip ends when SND.UNA passes it.
    rtt_seq: Seq,
    /// Smallest sample seen (Linux tcp_min_rtt; its 5-minute window outlasts our runs).
    min_rtt: Option<SimDuration>,
    /// The timeout without back-off.
    base: SimDuration,
    /// Timeouts since the last valid sample (each doubles the RTO).
    backoff: u32,
}

impl Rtt {
    /// Before any sample: RTO = `initial` (RFC 6298 §2.1).
    pub(crate) fn new(
        rules: RtoRules,
        initial: SimDuration,
        rto_min: SimDuration,
        rto_max: SimDuration,
    ) -> Rtt {
        Rtt {
            rules,
            rto_min,
            rto_max,
            srtt8: 0,
            mdev4: 0,
            mdev_max: 0,
            rttvar: 0,
            rtt_seq: Seq(0),
            min_rtt: None,
            base: initial,
            backoff: 0,
        }
    }

    /// The smoothed RTT, once measured.
    pub(crate) fn srtt(&self) -> Option<SimDuration> {
        (self.srtt8 > 0).then(|| SimDuration::from_nanos(self.srtt8 >> 3))
    }

    /// The smallest RTT measured.
    pub(crate) fn min_rtt(&self) -> Option<SimDuration> {
        self.min_rtt
    }

    /// The current timeout, back-off included, within [.., rto_max].
    pub(crate) fn rto(&self) -> SimDuration {
        self.base
            .saturating_mul(1 << self.backoff.min(31))
            .min(self.rto_max)
    }

    /// Timeouts since the last valid sample.
    #[cfg(test)]
    fn backoff(&self) -> u32 {
        self.backoff
    }

    /// A timeout happened: double the RTO (RFC 6298 §5.5; Linux tcp_retransmit_timer).
    pub(crate) fn back_off(&mut self) {
        if self.rto() < self.rto_max {
            self.backoff += 1;
        }
    }

    /// The handshake is over (RFC 6298 §5.7): if the timer expired awaiting the ACK of our
    /// SYN or SYN-ACK (`resent`), the RTO becomes 3 s when data transmission begins. Linux
    /// (tcp_init_metrics) does it whenever the handshake gave no RTT sample, and sets the
    /// deviation to 3 s too (not kept here: the first sample replaces it, as Linux's does);
    /// the back-off of the handshake's timeouts ends either way.
    pub(crate) fn handshake_done(&mut self, resent: bool) {
        let fallback = match self.rules {
            RtoRules::Rfc6298 if resent => self.base.max(TIMEOUT_FALLBACK),
            RtoRules::Linux if self.srtt8 == 0 => TIMEOUT_FALLBACK,
            _ => return,
        };
        self.base = fallback.min(self.rto_max);
        self.backoff = 0;
    }

    /// A valid RTT sample `r`, taken when SND.UNA is `snd_una` and SND.NXT is `snd_nxt`.
    /// Resets the back-off (RFC 6298 §5.7's note; Linux tcp_ack_update_rtt).
    pub(crate) fn sample(&mut self, r: SimDuration, snd_una: Seq, snd_nxt: Seq) {
        let r = r.max(SimDuration::from_nanos(1));
        self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
        match self.rules {
            RtoRules::Rfc6298 => self.sample_rfc(r.as_nanos()),
            RtoRules::Linux => self.sample_linux(r.as_nanos(), snd_una, snd_nxt),
        }
        self.backoff = 0;
    }

    /// RFC 6298 §2.2-2.3 (K = 4, alpha = 1/8, beta = 1/4); `mdev4` holds RTTVAR.
    fn sample_rfc(&mut self, r: u64) {
        if self.srtt8 == 0 {
            self.srtt8 = r << 3;
            self.mdev4 = r / 2;
        } else {
            let srtt = self.srtt8 >> 3;
            self.mdev4 = (3 * self.mdev4 + srtt.abs_diff(r)) / 4;
            self.srtt8 = self.srtt8 - srtt + r;
        }
        let rto = SimDuration::from_nanos(
            (self.srtt8 >> 3) + CLOCK_GRANULARITY.as_nanos().max(4 * self.mdev4),
        );
        self.base = rto.max(self.rto_min).min(self.rto_max);
    }

    /// Linux tcp_rtt_estimator and __tcp_set_rto, with the same fixed-point scales (in
    /// nanoseconds instead of microseconds): the deviation term only shrinks once per round
    /// trip and never below rto_min.
    fn sample_linux(&mut self, r: u64, snd_una: Seq, snd_nxt: Seq) {
        let rto_min = self.rto_min.as_nanos();
        if self.srtt8 == 0 {
            self.srtt8 = r << 3;
            self.mdev4 = r << 1;
            self.rttvar = self.mdev4.max(rto_min);
            self.mdev_max = self.rttvar;
            self.rtt_seq = snd_nxt;
        } else {
            let mut m = r as i64 - (self.srtt8 >> 3) as i64; // error of the estimate
            self.srtt8 = (self.srtt8 as i64 + m) as u64;
            if m < 0 {
                m = -m - (self.mdev4 >> 2) as i64;
                if m > 0 {
                    m >>= 3; // a sample below SRTT moves the deviation 8 times less
                }
            } else {
                m -= (self.mdev4 >> 2) as i64;
            }
            self.mdev4 = (self.mdev4 as i64 + m).max(0) as u64;
            if self.mdev4 > self.mdev_max {
                self.mdev_max = self.mdev4;
                self.rttvar = self.rttvar.max(self.mdev_max);
            }
            if snd_una.gt(self.rtt_seq) {
                if self.mdev_max < self.rttvar {
                    self.rttvar -= (self.rttvar - self.mdev_max) >> 2;
                }
                self.rtt_seq = snd_nxt;
                self.mdev_max = rto_min;
            }
        }
        self.srtt8 = self.srtt8.max(1);
        let rto = SimDuration::from_nanos((self.srtt8 >> 3) + self.rttvar);
        self.base = rto.min(self.rto_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> SimDuration {
        SimDuration::from_millis(n)
    }

    #[test]
    fn linux_rto_is_rtt_plus_rto_min_on_a_fast_path() {
        let mut rtt = Rtt::new(RtoRules::Linux, ms(1000), ms(200), ms(120_000));
        rtt.sample(ms(2), Seq(1), Seq(100));
        assert_eq!(rtt.rto(), ms(202));
        rtt.sample(ms(10), Seq(101), Seq(200));
        // SRTT = 2 + (10 - 2) / 8 = 3 ms; the deviation term stays at its 200 ms floor.
        assert_eq!(rtt.rto(), ms(203));
        let mut rtt = Rtt::new(RtoRules::Linux, ms(1000), ms(200), ms(120_000));
        rtt.sample(ms(10), Seq(1), Seq(100));
        assert_eq!(rtt.rto(), ms(210));
    }

    #[test]
    fn linux_rto_follows_a_large_rtt_with_three_times_the_first_sample() {
        let mut rtt = Rtt::new(RtoRules::Linux, ms(1000), ms(200), ms(120_000));
        rtt.sample(ms(300), Seq(1), Seq(100));
        assert_eq!(
            rtt.rto(),
            ms(900),
            "SRTT + 2·RTT, as RFC 6298's first sample"
        );
    }

    #[test]
    fn rfc_rto_has_a_floor_not_an_offset() {
        let mut rtt = Rtt::new(RtoRules::Rfc6298, ms(1000), ms(200), ms(60_000));
        rtt.sample(ms(2), Seq(1), Seq(100));
        assert_eq!(rtt.rto(), ms(200));
        rtt.sample(ms(100), Seq(1), Seq(100));
        // SRTT = 14.25 ms, RTTVAR = (3 · 1 + 98) / 4 = 25.25 ms: 14.25 + 101 = 115.25 ms.
        assert_eq!(rtt.rto(), ms(200));
        rtt.sample(ms(400), Seq(1), Seq(100));
        // SRTT = 62.47 ms, RTTVAR = (3 · 25.25 + 385.75) / 4 = 115.375 ms.
        assert_eq!(
            rtt.rto(),
            SimDuration::from_nanos(62_468_750 + 4 * 115_375_000)
        );
    }

    #[test]
    fn back_off_doubles_until_the_cap_and_a_sample_resets_it() {
        let mut rtt = Rtt::new(RtoRules::Linux, ms(1000), ms(200), ms(120_000));
        rtt.sample(ms(2), Seq(1), Seq(100));
        for _ in 0..12 {
            rtt.back_off();
        }
        assert_eq!(rtt.rto(), ms(120_000));
        assert_eq!(rtt.backoff(), 10, "no more doubling once capped");
        rtt.sample(ms(2), Seq(1), Seq(100));
        assert_eq!((rtt.backoff(), rtt.rto()), (0, ms(202)));
    }
}
