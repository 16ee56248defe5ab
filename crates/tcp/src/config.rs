//! Every tunable of the TCP model, and the two named profiles. Each number says where it
//! comes from.

use netsim_core::SimDuration;

/// How initial sequence numbers are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsnMode {
    /// RFC 6528 §3: ISN = M + F(local ip, local port, remote ip, remote port, secret), M a
    /// clock ticking every 4 µs, F a keyed hash.
    Rfc6528,
    /// Linux secure_tcp_seq: the same keyed hash of the 4-tuple plus a clock ticking every
    /// 64 ns (seq_scale: ktime_get_real_ns() >> 6, so it wraps every 274 s); here the clock
    /// is virtual time since the start of the run.
    Linux,
    /// RFC 793 §3.3: the 4 µs clock alone.
    Clock,
    /// The same value for every connection: how a scenario stages an old duplicate landing in
    /// a new incarnation's window.
    Fixed(u32),
}

/// How the retransmission timeout is computed, and when retransmitting gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtoRules {
    /// RFC 6298: RTO = max(rto_min, SRTT + max(G, 4·RTTVAR)), one timed segment per round
    /// trip (Karn's rule; with timestamps, every ACK of new data per RFC 7323 §4); a fixed
    /// number of retransmissions (`data_retries`).
    Rfc6298,
    /// Linux (tcp_rtt_estimator, __tcp_set_rto, tcp_ack_update_rtt, tcp_write_timeout): RTO =
    /// SRTT + max(mean deviation, rto_min), a sample from every ACK (from the echoed
    /// timestamp when the data was retransmitted), and giving up after the time that
    /// `data_retries` doublings from rto_min take (tcp_retries2 = 15: about 924.6 s).
    Linux,
}

/// When received data is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckPolicy {
    /// RFC 1122 §4.2.3.2, RFC 5681 §4.2: every second full-sized segment at once, otherwise
    /// within `delayed_ack`.
    Rfc1122,
    /// Linux: quick-ACK mode at the start and after duplicates, ping-pong (delayed ACKs on
    /// interactive connections), adaptive delay, SACK compression (see `acks.rs`).
    Linux,
}

/// How the congestion window grows and shrinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Congestion {
    /// RFC 5681: slow start by at most one SMSS per ACK, congestion avoidance by SMSS²/cwnd
    /// per ACK, ssthresh = max(FlightSize / 2, 2·SMSS) on loss.
    NewReno,
    /// Linux's tcp_reno: slow start by the segments each ACK covers, one segment per window
    /// of acknowledged data in congestion avoidance, ssthresh = max(cwnd / 2, 2) on loss.
    /// (Linux's default is CUBIC, which is not modelled.)
    LinuxReno,
}

/// How the offered receive window is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowRules {
    /// The free space of the receive buffer (RFC 9293 §3.8.6).
    Rfc,
    /// Linux: the SYN offers 65 535 rounded down to a multiple of the MSS (64 240), the
    /// window then grows by two segments per data segment received (tcp_grow_window) up to
    /// the buffer, and a scaled window is rounded up to its scale unit (__tcp_select_window).
    Linux,
}

/// How a TIME_WAIT entry answers segments and when its timer restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeWaitRules {
    /// RFC 9293 §3.10.7.4: only a retransmitted FIN restarts the timer (and is ACKed); an
    /// old duplicate is ACKed; anything else in the window is ignored.
    Rfc9293,
    /// Linux tcp_timewait_state_process: a bare segment (no data, no SYN or FIN) at RCV.NXT
    /// restarts the timer silently; any other segment but a RST is answered with an ACK,
    /// at most once per `invalid_ratelimit` unless it carries data or a FIN
    /// (tcp_timewait_check_oow_rate_limit), and restarts the timer if it has ACK or failed
    /// PAWS. A retransmitted FIN is such a segment: ACKed, timer restarted.
    Linux,
}

/// The TCP parameters of one host.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpConfig {
    /// Name of the profile these values started from.
    pub profile: &'static str,
    /// Maximum segment lifetime. TIME_WAIT lasts 2×MSL unless `time_wait` overrides it, and
    /// the network's packet lifetime defaults to this.
    pub msl: SimDuration,
    /// TIME_WAIT length override; `Some(0)` skips TIME_WAIT entirely (to show what goes wrong).
    pub time_wait: Option<SimDuration>,
    /// How long an orphaned connection (closed by the application) may sit in FIN_WAIT_2
    /// (Linux tcp_fin_timeout).
    pub fin_timeout: SimDuration,
    /// Ephemeral ports for connect(), inclusive.
    pub ephemeral_ports: (u16, u16),
    /// RTO before any RTT sample (RFC 6298 §2.1).
    pub rto_initial: SimDuration,
    /// Lower bound of the RTO (RFC 6298 §2.4).
    pub rto_min: SimDuration,
    /// Upper bound of the RTO (RFC 6298 §2.5).
    pub rto_max: SimDuration,
    /// SYN retransmissions before connect() fails with ETIMEDOUT.
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before an embryonic connection is dropped.
    pub synack_retries: u32,
    /// Retransmissions of one segment before the connection fails with ETIMEDOUT.
    pub data_retries: u32,
    /// MSS we announce (RFC 9293 §3.7.1); 1460 fits a 1500-byte MTU.
    pub mss: u16,
    /// Receive buffer in bytes: the largest window we offer.
    pub rcv_buf: u32,
    /// Send buffer in bytes: how much unacknowledged plus unsent data send() accepts.
    pub snd_buf: u32,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scale: bool,
    /// Offer timestamps (RFC 7323 §3), which enables PAWS (§5).
    pub timestamps: bool,
    /// Delayed ACK timeout (RFC 1122 §4.2.3.2); `None` acknowledges every segment at once.
    pub delayed_ack: Option<SimDuration>,
    /// Nagle's algorithm (RFC 1122 §4.2.3.4) for new sockets.
    pub nagle: bool,
    /// Minshall's variant of Nagle (Linux tcp_nagle_check, tcp_minshall_check): a short
    /// segment waits only while an earlier short segment is unacknowledged (Linux's snd_sml),
    /// not while any data is. `false`: classic RFC 1122 Nagle.
    pub nagle_minshall: bool,
    /// Initial congestion window in segments.
    pub initial_cwnd_segments: u32,
    /// RFC 1337: ignore RST in TIME_WAIT (protects against TIME_WAIT assassination).
    pub rfc1337: bool,
    /// Accept a new SYN for a 4-tuple in TIME_WAIT when its sequence number (or timestamp) is
    /// above the old connection's (RFC 1122 §4.2.2.13, RFC 6191; Linux does this).
    pub tw_accept_new_syn: bool,
    /// Reuse a TIME_WAIT 4-tuple for an outgoing connect when timestamps prove it safe (Linux
    /// tcp_tw_reuse).
    pub tw_reuse: bool,
    /// Most TIME_WAIT entries; beyond, connections close without TIME_WAIT and are counted
    /// (Linux tcp_max_tw_buckets). `None` is unlimited.
    pub max_time_wait: Option<u32>,
    /// Most sockets the host may hold (its file-descriptor limit); `None` is unlimited.
    pub max_sockets: Option<u32>,
    /// Count connections the application closed, TIME_WAIT included, against `max_sockets`
    /// until they reach CLOSED, as the article describes the server's connection table. Real
    /// Linux releases the descriptor at close(); set this to false to model that.
    pub closing_holds_socket: bool,
    /// Longest accept queue a listen() backlog may ask for (Linux net.core.somaxconn).
    pub somaxconn: u32,
    /// At most one ACK per this interval in answer to pure ACKs that are out of window or
    /// acknowledge unsent data, and to challenge-worthy segments (Linux tcp_invalid_ratelimit,
    /// RFC 5961 §7): what stops an ACK war between two endpoints that disagree on sequence
    /// numbers. `None` answers every one, as RFC 9293 alone says.
    pub invalid_ratelimit: Option<SimDuration>,
    /// A RST in CLOSE_WAIT is reported as EPIPE, not ECONNRESET, and once the peer's FIN is
    /// in, recv() on a reset connection returns end of stream rather than the error. Linux:
    /// tcp_reset sets sk_err to EPIPE in CLOSE_WAIT; tcp_recvmsg tests SOCK_DONE (set by the
    /// FIN, tcp_fin) before sk_err. `false`: ECONNRESET from every synchronised state, for
    /// recv() and send() alike, as RFC 9293 §3.10.7.4 ("connection reset") says.
    pub close_wait_reset_is_epipe: bool,
    /// Take a bare FIN (no data) that arrives at RCV.NXT while the receive window is zero,
    /// rather than dropping it as RFC 9293's acceptability test does (Linux tcp_data_queue,
    /// "some stacks are known to send bare FIN packets in a loop").
    pub fin_at_zero_window: bool,
    /// Linux tcp_sequence on the old side of RFC 9293's acceptability test: a segment without
    /// data that starts before RCV.NXT is acceptable while it is at or after what our last
    /// ACK acknowledged (rcv_wup), so a pure ACK that crosses our pending delayed ACK is
    /// processed, not answered.
    pub linux_sequence_check: bool,
    /// A deliberate bug, for the test that shows the transition oracle fires: a FIN received
    /// in ESTABLISHED moves straight to TIME_WAIT. Never set by a profile or a scenario file.
    #[doc(hidden)]
    pub sabotage_illegal_transition: bool,
    /// PAWS tolerates a TSval one tick older than TS.Recent and a reordered duplicate ACK
    /// (Linux tcp_paws_discard, TCP_PAWS_WINDOW, tcp_disordered_ack); `false` is RFC 7323
    /// §5.3 exactly.
    pub paws_linux_exemptions: bool,
    /// A FIN+ACK that acknowledges our FIN in FIN_WAIT_1 takes the ACK first: FIN_WAIT_1 ->
    /// FIN_WAIT_2 -> TIME_WAIT in one segment (Linux tcp_rcv_state_process, then tcp_fin).
    /// `false`: RFC 9293's diagram, FIN_WAIT_1 -> TIME_WAIT.
    pub fin_wait_1_acks_first: bool,
    /// What a TIME_WAIT entry answers and what restarts its timer.
    pub time_wait_rules: TimeWaitRules,
    /// ISN selection.
    pub isn: IsnMode,
    /// RTO computation and retry limits.
    pub rto_rules: RtoRules,
    /// SYN retransmissions sent at the initial RTO before back-off starts; they come on top
    /// of `syn_retries` (Linux tcp_syn_linear_timeouts, since 6.5).
    pub syn_linear_timeouts: u32,
    /// The largest receive buffer, which sets the window scale we offer (Linux tcp_rmem[2]).
    pub rcv_buf_max: u32,
    /// When to acknowledge.
    pub ack_policy: AckPolicy,
    /// Congestion window rules.
    pub congestion: Congestion,
    /// Receive window rules.
    pub window_rules: WindowRules,
    /// Offer and use selective acknowledgments (RFC 2018) with D-SACK (RFC 2883).
    pub sack: bool,
    /// With SACK, find lost segments by time (RACK, RFC 8985 §6; Linux tcp_recovery = 1)
    /// rather than by RFC 6675's count of three SACKed segments above a hole.
    pub rack: bool,
    /// With SACK, probe a lost tail after about two round trips instead of waiting for the
    /// RTO (RFC 8985 §7; Linux tcp_early_retrans = 3).
    pub tail_loss_probe: bool,
    /// Idle time before the first keep-alive probe (Linux tcp_keepalive_time).
    pub keepalive_time: SimDuration,
    /// Time between unanswered probes (tcp_keepalive_intvl).
    pub keepalive_interval: SimDuration,
    /// Unanswered probes before the connection fails with ETIMEDOUT (tcp_keepalive_probes).
    pub keepalive_probes: u32,
    /// Granularity of the host's timers: Linux's run on jiffies (1/HZ), so a timeout fires on
    /// the first tick at or after its due time. Zero: exact.
    pub timer_tick: SimDuration,
}

impl TcpConfig {
    /// The longest TCP duration a configuration may hold.
    pub const DURATION_MAX: SimDuration = SimDuration::from_secs(24 * 3600);
    /// The largest retry or probe count.
    pub const COUNT_MAX: u32 = 255;
    /// The largest initial congestion window, in segments.
    pub const INITIAL_CWND_MAX: u32 = 10_000;
    /// The largest buffer: 1 GiB, the most window scaling can offer.
    pub const BUF_MAX: u32 = 1 << 30;

    /// Linux defaults (values of a 6.x kernel):
    /// - TIME_WAIT 60 s: `TCP_TIMEWAIT_LEN` in include/net/tcp.h (so MSL = 30 s here);
    /// - tcp_fin_timeout 60 s; ip_local_port_range 32768–60999;
    /// - `TCP_TIMEOUT_INIT` 1 s, `TCP_RTO_MIN` 200 ms, `TCP_RTO_MAX` 120 s;
    /// - tcp_syn_retries 6, tcp_synack_retries 5, tcp_retries2 15;
    /// - delayed ACK `TCP_DELACK_MIN` 40 ms; Nagle on, Minshall's variant (tcp_nagle_check);
    ///   initial cwnd 10 (RFC 6928);
    /// - tcp_invalid_ratelimit 500 ms;
    /// - a RST in CLOSE_WAIT reports EPIPE (tcp_reset); a bare FIN is taken at a zero
    ///   window (tcp_data_queue); TIME_WAIT follows tcp_timewait_state_process;
    /// - ISNs from secure_tcp_seq's 64 ns clock plus a keyed hash;
    /// - window scaling and timestamps on; tcp_rfc1337 0; tcp_tw_reuse 2 (loopback only: off
    ///   here); tcp_max_tw_buckets 262 144 (a typical auto-sized value); somaxconn 4096;
    /// - receive/send buffers 131 072 bytes (tcp_rmem/tcp_wmem defaults are 131 072/16 384;
    ///   one size keeps the model simple); tcp_rmem[2] 6 MiB, so window scale 7;
    /// - Linux's RTO rules, quick/delayed ACKs, Reno window rules and receive window;
    ///   tcp_syn_linear_timeouts 4; tcp_sack 1 with RACK (tcp_recovery 1) and tail loss
    ///   probes (tcp_early_retrans 3); keep-alive 7200 s / 75 s / 9 probes;
    /// - timers on 4 ms jiffies (HZ = 250, the Debian and RHEL kernel configuration).
    pub fn linux() -> TcpConfig {
        TcpConfig {
            profile: "linux",
            msl: SimDuration::from_secs(30),
            time_wait: None,
            fin_timeout: SimDuration::from_secs(60),
            ephemeral_ports: (32768, 60999),
            rto_initial: SimDuration::from_secs(1),
            rto_min: SimDuration::from_millis(200),
            rto_max: SimDuration::from_secs(120),
            syn_retries: 6,
            synack_retries: 5,
            data_retries: 15,
            mss: 1460,
            rcv_buf: 131_072,
            snd_buf: 131_072,
            window_scale: true,
            timestamps: true,
            delayed_ack: Some(SimDuration::from_millis(40)),
            nagle: true,
            nagle_minshall: true,
            initial_cwnd_segments: 10,
            rfc1337: false,
            tw_accept_new_syn: true,
            tw_reuse: false,
            max_time_wait: Some(262_144),
            max_sockets: None,
            closing_holds_socket: true,
            somaxconn: 4096,
            invalid_ratelimit: Some(SimDuration::from_millis(500)),
            rto_rules: RtoRules::Linux,
            syn_linear_timeouts: 4,
            rcv_buf_max: 6 * 1024 * 1024,
            ack_policy: AckPolicy::Linux,
            congestion: Congestion::LinuxReno,
            window_rules: WindowRules::Linux,
            sack: true,
            rack: true,
            tail_loss_probe: true,
            keepalive_time: SimDuration::from_secs(7200),
            keepalive_interval: SimDuration::from_secs(75),
            keepalive_probes: 9,
            timer_tick: SimDuration::from_millis(4),
            close_wait_reset_is_epipe: true,
            fin_at_zero_window: true,
            linux_sequence_check: true,
            sabotage_illegal_transition: false,
            paws_linux_exemptions: true,
            fin_wait_1_acks_first: true,
            time_wait_rules: TimeWaitRules::Linux,
            isn: IsnMode::Linux,
        }
    }

    /// Strict RFC values:
    /// - MSL 2 min, so TIME_WAIT 4 min (RFC 9293 §3.4.2);
    /// - RTO initial 1 s, minimum 1 s, maximum 60 s (RFC 6298 §2.1, §2.4, §2.5);
    /// - SYN retries 8: 1+2+4+8+16+32+60+60 s = 183 s, at least the 3 minutes of RFC 1122
    ///   §4.2.3.5 (R2 for SYN); data retries 7: 127 s, at least its 100 s (R2);
    /// - delayed ACK 200 ms (RFC 1122 §4.2.3.2 allows up to 500 ms); initial cwnd 3 segments
    ///   for a 1460-byte MSS (RFC 5681 §3.1);
    /// - FIN_WAIT_2 timeout: the RFC has none; 10 min here so orphans cannot live forever;
    /// - ephemeral ports 49152–65535 (RFC 6335 §6); no window scaling or timestamps (plain
    ///   RFC 9293 options), no RFC 1337, no TIME_WAIT SYN acceptance or reuse;
    /// - RFC 6298 RTO, RFC 1122 delayed ACKs, RFC 5681 NewReno, no SACK, no linear SYN
    ///   timeouts; keep-alive per RFC 1122 §4.2.3.6 (at least two hours idle); exact timers.
    pub fn rfc() -> TcpConfig {
        TcpConfig {
            profile: "rfc",
            msl: SimDuration::from_mins(2),
            time_wait: None,
            fin_timeout: SimDuration::from_mins(10),
            ephemeral_ports: (49152, 65535),
            rto_initial: SimDuration::from_secs(1),
            rto_min: SimDuration::from_secs(1),
            rto_max: SimDuration::from_secs(60),
            syn_retries: 8,
            synack_retries: 8,
            data_retries: 7,
            mss: 1460,
            rcv_buf: 65_535,
            snd_buf: 65_535,
            window_scale: false,
            timestamps: false,
            delayed_ack: Some(SimDuration::from_millis(200)),
            nagle: true,
            nagle_minshall: false,
            initial_cwnd_segments: 3,
            rfc1337: false,
            tw_accept_new_syn: false,
            tw_reuse: false,
            max_time_wait: None,
            max_sockets: None,
            closing_holds_socket: true,
            somaxconn: 4096,
            invalid_ratelimit: None,
            close_wait_reset_is_epipe: false,
            fin_at_zero_window: false,
            linux_sequence_check: false,
            sabotage_illegal_transition: false,
            paws_linux_exemptions: false,
            fin_wait_1_acks_first: false,
            time_wait_rules: TimeWaitRules::Rfc9293,
            isn: IsnMode::Rfc6528,
            rto_rules: RtoRules::Rfc6298,
            syn_linear_timeouts: 0,
            rcv_buf_max: 65_535,
            ack_policy: AckPolicy::Rfc1122,
            congestion: Congestion::NewReno,
            window_rules: WindowRules::Rfc,
            sack: false,
            rack: false,
            tail_loss_probe: false,
            keepalive_time: SimDuration::from_secs(7200),
            keepalive_interval: SimDuration::from_secs(75),
            keepalive_probes: 9,
            timer_tick: SimDuration::ZERO,
        }
    }

    /// A profile by name.
    pub fn named(name: &str) -> Option<TcpConfig> {
        match name {
            "linux" => Some(TcpConfig::linux()),
            "rfc" => Some(TcpConfig::rfc()),
            _ => None,
        }
    }

    /// How long TIME_WAIT lasts: the override, or 2×MSL.
    pub fn time_wait_len(&self) -> SimDuration {
        self.time_wait.unwrap_or(self.msl * 2)
    }

    /// What makes this configuration unusable, if anything. Besides the rules between
    /// settings, every duration is at most [`TcpConfig::DURATION_MAX`] (a day: Linux's TCP
    /// timers are seconds to hours), every retry or probe count at most
    /// [`TcpConfig::COUNT_MAX`], buffers at most 1 GiB and the initial window at most
    /// [`TcpConfig::INITIAL_CWND_MAX`] segments: bounds no real stack reaches, that keep
    /// every timer and window computation far from overflow.
    pub fn problem(&self) -> Option<String> {
        let durations = [
            ("msl", Some(self.msl)),
            ("time_wait", self.time_wait),
            ("fin_timeout", Some(self.fin_timeout)),
            ("rto_initial", Some(self.rto_initial)),
            ("rto_min", Some(self.rto_min)),
            ("rto_max", Some(self.rto_max)),
            ("delayed_ack", self.delayed_ack),
            ("invalid_ratelimit", self.invalid_ratelimit),
            ("keepalive_time", Some(self.keepalive_time)),
            ("keepalive_interval", Some(self.keepalive_interval)),
        ];
        for (name, d) in durations {
            if let Some(d) = d.filter(|&d| d > Self::DURATION_MAX) {
                return Some(format!(
                    "{name} {d} is above the limit of {} for TCP durations",
                    Self::DURATION_MAX
                ));
            }
        }
        let counts = [
            ("syn_retries", self.syn_retries),
            ("synack_retries", self.synack_retries),
            ("data_retries", self.data_retries),
            ("syn_linear_timeouts", self.syn_linear_timeouts),
            ("keepalive_probes", self.keepalive_probes),
        ];
        for (name, n) in counts {
            if n > Self::COUNT_MAX {
                return Some(format!(
                    "{name} {n} is above the limit of {}",
                    Self::COUNT_MAX
                ));
            }
        }
        if self.initial_cwnd_segments > Self::INITIAL_CWND_MAX {
            return Some(format!(
                "initial_cwnd_segments {} is above the limit of {}",
                self.initial_cwnd_segments,
                Self::INITIAL_CWND_MAX
            ));
        }
        if self.snd_buf > Self::BUF_MAX || self.rcv_buf_max > Self::BUF_MAX {
            return Some("snd_buf and rcv_buf_max are at most 1 GiB".into());
        }
        let (lo, hi) = self.ephemeral_ports;
        if lo == 0 || lo > hi {
            return Some(format!(
                "ephemeral port range {lo}..={hi} is empty or starts at 0"
            ));
        }
        if self.rto_min.is_zero() || self.rto_min > self.rto_max {
            return Some("rto_min must be above 0 and at most rto_max".into());
        }
        if self.rto_initial < self.rto_min || self.rto_initial > self.rto_max {
            return Some("rto_initial must lie between rto_min and rto_max".into());
        }
        if self.mss < 64 {
            return Some(format!("mss {} is too small (at least 64)", self.mss));
        }
        if self.rcv_buf < u32::from(self.mss) || self.snd_buf < u32::from(self.mss) {
            return Some("buffers must hold at least one MSS".into());
        }
        if self.rcv_buf > Self::BUF_MAX {
            return Some("rcv_buf is above the 1 GiB that window scaling can offer".into());
        }
        if self.initial_cwnd_segments == 0 {
            return Some("initial_cwnd_segments must be at least 1".into());
        }
        if self.rcv_buf_max < self.rcv_buf {
            return Some("rcv_buf_max must be at least rcv_buf".into());
        }
        if self.keepalive_probes == 0 || self.keepalive_interval.is_zero() {
            return Some("keep-alive needs at least one probe and an interval above 0".into());
        }
        if self.msl.is_zero() {
            return Some("msl must be above 0 (use time_wait: \"0s\" to skip TIME_WAIT)".into());
        }
        None
    }
}

/// The validity rules of a configuration, each at its boundary (found unguarded by
/// cargo-mutants: the scenario crate's tests reach them only through files).
#[cfg(test)]
mod problem_tests {
    use super::*;

    fn with(edit: impl FnOnce(&mut TcpConfig)) -> Option<String> {
        let mut c = TcpConfig::linux();
        edit(&mut c);
        c.problem()
    }

    #[test]
    fn both_profiles_are_valid_and_named() {
        assert_eq!(TcpConfig::linux().problem(), None);
        assert_eq!(TcpConfig::rfc().problem(), None);
        assert_eq!(TcpConfig::named("rfc"), Some(TcpConfig::rfc()));
        assert_eq!(TcpConfig::named("linux"), Some(TcpConfig::linux()));
        assert_eq!(TcpConfig::named("bsd"), None);
    }

    #[test]
    fn each_rule_holds_at_its_boundary_and_fails_past_it() {
        fn ms(n: u64) -> SimDuration {
            SimDuration::from_millis(n)
        }
        // (a valid edge, an invalid one, a fragment of the message)
        type Edit = Box<dyn Fn(&mut TcpConfig)>;
        let cases: Vec<(Edit, Edit, &str)> = vec![
            (
                Box::new(|c| c.ephemeral_ports = (5, 5)),
                Box::new(|c| c.ephemeral_ports = (6, 5)),
                "ephemeral port range",
            ),
            (
                Box::new(|c| c.ephemeral_ports = (1, 9)),
                Box::new(|c| c.ephemeral_ports = (0, 9)),
                "ephemeral port range",
            ),
            (
                Box::new(|c| {
                    c.rto_min = ms(300);
                    c.rto_max = ms(300);
                    c.rto_initial = ms(300)
                }),
                Box::new(|c| {
                    c.rto_min = ms(301);
                    c.rto_max = ms(300)
                }),
                "rto_min",
            ),
            (
                Box::new(|c| {
                    c.rto_min = ms(1);
                    c.rto_initial = ms(1)
                }),
                Box::new(|c| c.rto_min = SimDuration::ZERO),
                "rto_min",
            ),
            (
                Box::new(|c| c.rto_initial = c.rto_min),
                Box::new(|c| c.rto_initial = c.rto_min - SimDuration::from_nanos(1)),
                "rto_initial",
            ),
            (
                Box::new(|c| c.rto_initial = c.rto_max),
                Box::new(|c| c.rto_initial = c.rto_max + SimDuration::from_nanos(1)),
                "rto_initial",
            ),
            (Box::new(|c| c.mss = 64), Box::new(|c| c.mss = 63), "mss 63"),
            (
                Box::new(|c| {
                    c.mss = 1000;
                    c.rcv_buf = 1000
                }),
                Box::new(|c| {
                    c.mss = 1000;
                    c.rcv_buf = 999
                }),
                "buffers",
            ),
            (
                Box::new(|c| {
                    c.mss = 1000;
                    c.snd_buf = 1000
                }),
                Box::new(|c| {
                    c.mss = 1000;
                    c.snd_buf = 999
                }),
                "buffers",
            ),
            (
                Box::new(|c| {
                    c.rcv_buf = 1 << 30;
                    c.rcv_buf_max = 1 << 30
                }),
                Box::new(|c| {
                    c.rcv_buf = (1 << 30) + 1;
                    c.rcv_buf_max = (1 << 30) + 1
                }),
                "1 GiB",
            ),
            (
                Box::new(|c| c.initial_cwnd_segments = 1),
                Box::new(|c| c.initial_cwnd_segments = 0),
                "initial_cwnd",
            ),
            (
                Box::new(|c| c.rcv_buf_max = c.rcv_buf),
                Box::new(|c| c.rcv_buf_max = c.rcv_buf - 1),
                "rcv_buf_max",
            ),
            (
                Box::new(|c| c.keepalive_probes = 1),
                Box::new(|c| c.keepalive_probes = 0),
                "keep-alive",
            ),
            (
                Box::new(|c| c.keepalive_interval = SimDuration::from_nanos(1)),
                Box::new(|c| c.keepalive_interval = SimDuration::ZERO),
                "keep-alive",
            ),
            (
                Box::new(|c| c.msl = SimDuration::from_nanos(1)),
                Box::new(|c| c.msl = SimDuration::ZERO),
                "msl",
            ),
            (
                Box::new(|c| c.initial_cwnd_segments = TcpConfig::INITIAL_CWND_MAX),
                Box::new(|c| c.initial_cwnd_segments = TcpConfig::INITIAL_CWND_MAX + 1),
                "initial_cwnd_segments 10001 is above the limit",
            ),
            (
                Box::new(|c| c.snd_buf = 1 << 30),
                Box::new(|c| c.snd_buf = (1 << 30) + 1),
                "at most 1 GiB",
            ),
            (
                Box::new(|c| c.rcv_buf_max = 1 << 30),
                Box::new(|c| c.rcv_buf_max = (1 << 30) + 1),
                "at most 1 GiB",
            ),
        ];
        // Every duration and every count at its limit, then one past it.
        let day = TcpConfig::DURATION_MAX;
        let past = day + SimDuration::from_nanos(1);
        type Set<T> = fn(&mut TcpConfig, T);
        let durations: [(&str, Set<SimDuration>); 10] = [
            ("msl", |c, d| c.msl = d),
            ("time_wait", |c, d| c.time_wait = Some(d)),
            ("fin_timeout", |c, d| c.fin_timeout = d),
            ("rto_initial", |c, d| c.rto_initial = d),
            ("rto_min", |c, d| {
                c.rto_initial = TcpConfig::DURATION_MAX;
                c.rto_min = d
            }),
            ("rto_max", |c, d| c.rto_max = d),
            ("delayed_ack", |c, d| c.delayed_ack = Some(d)),
            ("invalid_ratelimit", |c, d| c.invalid_ratelimit = Some(d)),
            ("keepalive_time", |c, d| c.keepalive_time = d),
            ("keepalive_interval", |c, d| c.keepalive_interval = d),
        ];
        for (name, set) in durations {
            let at = |d| {
                with(|c| {
                    c.rto_max = day;
                    set(c, d)
                })
            };
            assert_eq!(at(day), None, "{name} at a day");
            let e = at(past).unwrap_or_else(|| panic!("{name} past a day is refused"));
            assert!(e.starts_with(name) && e.contains("above the limit"), "{e}");
        }
        let counts: [(&str, Set<u32>); 5] = [
            ("syn_retries", |c, n| c.syn_retries = n),
            ("synack_retries", |c, n| c.synack_retries = n),
            ("data_retries", |c, n| c.data_retries = n),
            ("syn_linear_timeouts", |c, n| c.syn_linear_timeouts = n),
            ("keepalive_probes", |c, n| c.keepalive_probes = n),
        ];
        for (name, set) in counts {
            assert_eq!(with(|c| set(c, TcpConfig::COUNT_MAX)), None, "{name}");
            let e = with(|c| set(c, TcpConfig::COUNT_MAX + 1)).expect("refused");
            assert_eq!(e, format!("{name} 256 is above the limit of 255"));
        }
        for (i, (ok, bad, fragment)) in cases.iter().enumerate() {
            assert_eq!(with(|c| ok(c)), None, "case {i}: the edge is valid");
            let e =
                with(|c| bad(c)).unwrap_or_else(|| panic!("case {i}: past the edge is refused"));
            assert!(e.contains(fragment), "case {i}: {e}");
        }
    }
}
