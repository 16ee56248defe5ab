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
    /// What a TIME_WAIT entry answers and what restarts its timer.
    pub time_wait_rules: TimeWaitRules,
    /// ISN selection.
    pub isn: IsnMode,
}

impl TcpConfig {
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
    ///   one size keeps the model simple).
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
            close_wait_reset_is_epipe: true,
            fin_at_zero_window: true,
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
    ///   RFC 9293 options), no RFC 1337, no TIME_WAIT SYN acceptance or reuse.
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
            time_wait_rules: TimeWaitRules::Rfc9293,
            isn: IsnMode::Rfc6528,
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

    /// What makes this configuration unusable, if anything.
    pub fn problem(&self) -> Option<String> {
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
        if self.rcv_buf > 1 << 30 {
            return Some("rcv_buf is above the 1 GiB that window scaling can offer".into());
        }
        if self.initial_cwnd_segments == 0 {
            return Some("initial_cwnd_segments must be at least 1".into());
        }
        if self.msl.is_zero() {
            return Some("msl must be above 0 (use time_wait: \"0s\" to skip TIME_WAIT)".into());
        }
        None
    }
}
