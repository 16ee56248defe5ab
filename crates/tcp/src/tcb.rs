//! One connection's transmission control block (RFC 9293 §3.3.1) and the event processing of
//! §3.10: segment arrival, user calls, timeouts. Sans-IO: each entry point gets the current
//! time and a [`Cx`] to write segments and events into; nothing here reads a clock, a link or
//! a random source. Every state change goes through [`Tcb::set_state`], which checks it
//! against the RFC's diagram.
//!
//! TIME_WAIT is not kept here: the stack turns a block that reaches TIME_WAIT into a compact
//! [`crate::timewait::TimeWait`] entry.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use netsim_core::{
    Packet, SackBlocks, Segment, Seq, SimDuration, SimTime, TcpFlags, TcpOptions, Timestamps,
};

use crate::acks::{AckNow, Acks};
use crate::config::{Congestion, RtoRules, TcpConfig, WindowRules};
use crate::errno::Errno;
use crate::event::{ConnKey, Note, Resent, SocketEvent, SocketId, TcpEvent};
use crate::reassembly::Reassembly;
use crate::rtt::Rtt;
use crate::scoreboard::{DUP_THRESH, Delivered, Scoreboard, Sent};
use crate::state::State;

/// A segment on its way out, with the sender's state label for fault filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The packet.
    pub packet: Packet,
    /// The state of the connection that sent it (`CLOSED` for answers from no connection).
    pub state: &'static str,
    /// How many trace events were pending when it was sent: it comes after those and before
    /// any later ones (see `TcpStack::drain_in_order`).
    pub after_events: usize,
}

/// Counters the stack keeps across connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Segments sent.
    pub segments_sent: u64,
    /// Retransmissions (timeouts and fast retransmits).
    pub retransmits: u64,
    /// FIN retransmissions.
    pub fin_retransmits: u64,
    /// SYNs dropped because a listener's queue was full.
    pub listen_overflows: u64,
    /// Connections that skipped TIME_WAIT because the table was full.
    pub time_wait_overflows: u64,
    /// RSTs sent.
    pub resets_sent: u64,
    /// Segments dropped by PAWS.
    pub paws_rejects: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Connections established (both directions).
    pub established: u64,
    /// Connections accepted by applications.
    pub accepted: u64,
    /// TIME_WAIT entries ended early by a newer SYN (RFC 6191).
    pub time_wait_reopened: u64,
    /// TIME_WAIT 4-tuples taken over by connect() (tcp_tw_reuse).
    pub time_wait_reused: u64,
    /// Fast recoveries entered (by duplicate ACKs, SACK or RACK).
    pub recoveries: u64,
    /// Fast recoveries started from SACK information.
    pub sack_recoveries: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub loss_probes: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Keep-alive probes sent.
    pub keepalive_probes: u64,
}

/// What a block is given to act: the time, the host's configuration, and where to put what
/// it produces.
pub(crate) struct Cx<'a> {
    pub cfg: &'a TcpConfig,
    pub now: SimTime,
    /// The stack's TIME_WAIT table is at `max_time_wait`: a connection cannot enter it.
    pub time_wait_full: bool,
    pub out: &'a mut Vec<Outgoing>,
    pub events: &'a mut Vec<TcpEvent>,
    pub app: &'a mut Vec<SocketEvent>,
    pub counters: &'a mut Counters,
}

impl Cx<'_> {
    pub(crate) fn note(&mut self, conn: ConnKey, note: Note) {
        self.events.push(TcpEvent::Note { conn, note });
    }

    /// Linux __tcp_oow_rate_limited (tcp_invalid_ratelimit, RFC 5961 §7): an answer to an
    /// invalid segment goes at most once per interval; `last` is the connection's (or the
    /// TIME_WAIT entry's) time of its last one.
    pub(crate) fn may_answer_invalid(&mut self, conn: ConnKey, last: &mut Option<SimTime>) -> bool {
        let Some(interval) = self.cfg.invalid_ratelimit else {
            return true;
        };
        if last.is_some_and(|t| self.now < t + interval) {
            self.note(conn, Note::AckRateLimited);
            return false;
        }
        *last = Some(self.now);
        true
    }

    /// Sends `segment` on the 4-tuple `key` (addresses and ports come from it), labelled with
    /// the sender's `state`, after the events produced so far.
    pub(crate) fn send(&mut self, key: &ConnKey, mut segment: Segment, state: &'static str) {
        segment.src_port = key.local.port();
        segment.dst_port = key.remote.port();
        self.counters.segments_sent += 1;
        self.out.push(Outgoing {
            after_events: self.events.len(),
            packet: Packet {
                src: *key.local.ip(),
                dst: *key.remote.ip(),
                segment,
            },
            state,
        });
    }
}

/// The default MSS when the peer sends none (RFC 9293 §3.7.1).
const DEFAULT_MSS: u16 = 536;
/// Bytes the timestamps option takes in every segment once negotiated (10, padded to 12).
const TS_OPTION_LEN: u16 = 12;
/// Largest window scale shift (RFC 7323 §2.3).
const MAX_WSCALE: u8 = 14;

/// The TCP timestamp clock: milliseconds, like Linux's.
pub(crate) fn ts_clock(now: SimTime) -> u32 {
    (now.as_nanos() / 1_000_000) as u32
}

/// The smallest shift that lets a 16-bit window field express `buf` bytes.
pub(crate) fn wscale_for(buf: u32) -> u8 {
    let mut shift = 0;
    while shift < MAX_WSCALE && (buf >> shift) > 0xFFFF {
        shift += 1;
    }
    shift
}

/// What the sender's congestion state is, as Linux's TCP_INFO reports it (tcpi_snd_cwnd,
/// tcpi_snd_ssthresh, tcpi_ca_state, tcpi_rto, tcpi_rtt): for tests and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow-start threshold, bytes (u32::MAX until the first loss).
    pub ssthresh: u32,
    /// The MSS segments are cut to, bytes.
    pub snd_mss: u16,
    /// In fast recovery (Linux TCP_CA_Recovery).
    pub in_recovery: bool,
    /// After a retransmission timeout, until what was outstanding then is acknowledged
    /// (Linux TCP_CA_Loss).
    pub in_loss: bool,
    /// The retransmission timeout now, back-off included.
    pub rto: SimDuration,
    /// The smoothed RTT, once measured.
    pub srtt: Option<SimDuration>,
}

/// One socket as `ss -tan -o` shows it: the socket table at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketRow {
    /// Its state.
    pub state: State,
    /// Local address and port.
    pub local: SocketAddrV4,
    /// The peer, or none for a listener.
    pub peer: Option<SocketAddrV4>,
    /// Bytes received and not read yet; for a listener, connections waiting for accept().
    pub recv_q: u64,
    /// Bytes sent and not acknowledged, or not sent yet; for a listener, its backlog.
    pub send_q: u64,
    /// The timer that runs, as `ss -o` names it.
    pub timer: Option<SocketTimer>,
}

/// A running timer of a socket: `on` (retransmission, loss probe, reordering), `persist`
/// (zero-window probe), `keepalive`, or `timewait` (TIME_WAIT, and the FIN_WAIT_2 timeout,
/// which Linux runs as a TIME_WAIT socket), with the time left and the retries so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketTimer {
    /// Which timer.
    pub kind: &'static str,
    /// Time until it fires.
    pub left: SimDuration,
    /// Retransmissions or probes so far.
    pub retries: u32,
}

/// Loss-recovery state of the sender (Linux icsk_ca_state; Disorder is Open here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum CaState {
    /// No loss suspected.
    Open,
    /// Fast recovery (RFC 6582, RFC 6675; Linux TCP_CA_Recovery), until `high_seq` is ACKed.
    Recovery,
    /// After a retransmission timeout (Linux TCP_CA_Loss), until `high_seq` is ACKed.
    Loss,
}

/// What the retransmission timer slot is armed for (Linux icsk_pending: one timer, three
/// uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RtxTimer {
    /// Retransmission timeout.
    Rto,
    /// Tail loss probe (RFC 8985 §7).
    Probe,
    /// RACK reordering window (RFC 8985 §6.3).
    Reorder,
}

/// A connection.
#[derive(Debug, Clone)]
pub(crate) struct Tcb {
    pub key: ConnKey,
    pub state: State,
    /// Created by a listener (a passive open): an RST in SYN_RECEIVED returns it to LISTEN.
    pub passive: bool,
    /// The application's handle, if it has one (none before accept, none after close).
    pub socket: Option<SocketId>,
    /// The application closed it: it lives on only to finish the close.
    pub orphan: bool,
    /// Set once when a passive connection reaches ESTABLISHED, for the stack to queue it.
    pub just_established: bool,
    /// The local port was bound explicitly (connect with a fixed port).
    pub bound_port: bool,
    nagle: bool,

    // Send sequence space (RFC 9293 §3.3.1). SND.NXT never moves back: what a timeout
    // resends is marked on the scoreboard.
    pub iss: Seq,
    snd_una: Seq,
    pub snd_nxt: Seq,
    /// End of the last short (< MSS) segment of new data sent (Linux snd_sml, for Nagle).
    snd_sml: Seq,
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: Seq,
    snd_wl2: Seq,
    /// Bytes from `data_base` on that are unacknowledged or unsent.
    snd_buf: VecDeque<u8>,
    data_base: Seq,
    /// The application has no more data (shutdown or close): a FIN follows the data.
    fin_queued: bool,
    fin_sent: bool,
    /// Segments sent and not yet acknowledged, with their SACK and loss marks.
    rtx: Scoreboard,

    // Receive sequence space.
    pub irs: Seq,
    pub rcv_nxt: Seq,
    rcv_buf: VecDeque<u8>,
    ooo: Reassembly,
    /// Sequence number of a FIN that arrived ahead of a gap.
    ooo_fin: Option<Seq>,
    pub fin_received: bool,
    /// RCV.NXT our last ACK carried (Linux rcv_wup).
    last_ack_sent: Seq,
    /// The right edge of the window we advertised last (RCV.NXT + RCV.WND then; Linux
    /// rcv_wup + rcv_wnd).
    rcv_adv: Seq,
    /// The most we offer (Linux rcv_ssthresh): grows with the data received.
    rcv_wnd_limit: u32,
    /// SACK blocks we report, most recent first (RFC 2018 §4; Linux selective_acks).
    rcv_sacks: Vec<(Seq, Seq)>,
    /// A D-SACK block for the next ACK (RFC 2883 §4).
    dsack: Option<(Seq, Seq)>,

    // Options.
    snd_mss: u16,
    snd_wscale: u8,
    rcv_wscale: u8,
    /// Both SYNs carried the window scale option (RFC 7323 §2.2), whatever the shifts.
    ws_ok: bool,
    pub ts_on: bool,
    pub ts_recent: u32,
    pub ts_recent_at: SimTime,
    pub ts_offset: u32,
    /// Both sides offered SACK.
    sack_ok: bool,

    // Retransmission (RFC 6298, or Linux).
    rtt: Rtt,
    /// RFC 6298 §3's one timed segment: (end, send time).
    rtt_timed: Option<(Seq, SimTime)>,
    /// When the block was made: an active open sends its SYN then, a passive one its
    /// SYN-ACK (the handshake's RTT sample is timed from it).
    syn_sent_at: SimTime,
    /// Timeouts since the last forward progress (Linux icsk_retransmits).
    retransmits: u32,
    /// First send time of the oldest data resent by a timeout (Linux retrans_stamp).
    retrans_stamp: Option<SimTime>,

    // Congestion control and loss recovery (RFC 5681, 6582, 6675, 6937, 8985).
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged towards the next congestion-avoidance increase.
    cwnd_acked: u32,
    ca: CaState,
    /// SND.NXT when recovery or loss began (RFC 6582 recover; Linux high_seq).
    high_seq: Seq,
    /// Duplicate ACKs in a row (without SACK).
    dupacks: u32,
    /// Without SACK, each duplicate ACK stands for one segment that left the network (Linux
    /// tcp_add_reno_sack; RFC 5681's window inflation says the same).
    reno_sacked: u32,
    /// PRR (RFC 6937): cwnd when recovery began, bytes delivered and sent since.
    prior_cwnd: u32,
    prr_delivered: u32,
    prr_out: u32,
    /// SND.NXT when a tail loss probe went out, while its outcome is open.
    tlp_high_seq: Option<Seq>,
    /// That probe resent old data (rather than sending new data).
    tlp_retrans: bool,

    // Acknowledgments.
    acks: Acks,
    /// An ACK must go out at the end of this call.
    ack_now: bool,
    /// When the last answer to an invalid segment went out (Linux last_oow_ack_time).
    last_oow_ack: Option<SimTime>,

    // Timers: when each is due, if armed.
    rtx_at: Option<SimTime>,
    rtx_kind: RtxTimer,
    persist_at: Option<SimTime>,
    persist_backoff: u32,
    fin_wait_2_at: Option<SimTime>,
    /// Keep-alive: (idle, interval, probes) when SO_KEEPALIVE is on.
    keepalive: Option<(SimDuration, SimDuration, u32)>,
    keepalive_at: Option<SimTime>,
    keepalive_sent: u32,
    /// When the last segment arrived (the keep-alive idle clock).
    last_rcv_at: SimTime,

    /// An error the application has not seen yet.
    pub error: Option<Errno>,
}

/// Whether a send may ignore cwnd for one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Push {
    /// Within the windows.
    Normal,
    /// A tail loss probe: one segment even if cwnd is full (Linux tcp_write_xmit push_one 2).
    Probe,
}

/// The Linux initial receive window (tcp_select_initial_window): 65 535 rounded down to a
/// multiple of `mss`, within the buffer; RFC rules offer the whole buffer.
fn initial_window(cfg: &TcpConfig, mss: u16) -> u32 {
    match cfg.window_rules {
        WindowRules::Rfc => cfg.rcv_buf,
        WindowRules::Linux => {
            let mss = u32::from(mss.max(1));
            let space = cfg.rcv_buf.min(0xFFFF);
            (space / mss * mss).max(mss)
        }
    }
}

/// When a timer armed at `now` for `after` fires. With a `timer_tick` this is Linux's timer
/// wheel (kernel/time/timer.c calc_index): the timeout becomes whole jiffies (rounded up)
/// from the current jiffy, then the expiry is rounded up to the granularity of the wheel
/// level it lands in (1 jiffy below 63 jiffies, 8 below 504, 64 below 4032, 512 below
/// 32 256, ...) plus one granule, so a timer never fires early and at most one granule late.
/// A timeout beyond the wheel's last level (WHEEL_TIMEOUT_CUTOFF, 63 << 24 jiffies: 48.5
/// days at HZ 250) is cut to WHEEL_TIMEOUT_MAX (62 << 24 jiffies) as calc_wheel_index does.
pub(crate) fn timer_at(cfg: &TcpConfig, now: SimTime, after: SimDuration) -> SimTime {
    let tick = cfg.timer_tick.as_nanos();
    if tick == 0 {
        return now.saturating_add(after);
    }
    let jiffies = now.as_nanos() / tick;
    let delta = after.as_nanos().div_ceil(tick);
    let delta = if delta >= 63 << 24 { 62 << 24 } else { delta };
    // The level: the first whose range (below 63 granules of 8^level jiffies) holds delta;
    // the cut above keeps it at most 8, the last of LVL_DEPTH 9 (HZ > 100).
    let mut level = 0;
    while delta >= 63u64 << (3 * level) {
        level += 1;
    }
    let shift = 3 * level;
    let expires = ((jiffies.saturating_add(delta) >> shift) + 1) << shift;
    SimTime::from_nanos(expires.saturating_mul(tick))
}

impl Tcb {
    fn blank(key: ConnKey, cfg: &TcpConfig, iss: Seq, ts_offset: u32, now: SimTime) -> Tcb {
        Tcb {
            key,
            state: State::Closed,
            passive: false,
            socket: None,
            orphan: false,
            just_established: false,
            bound_port: false,
            nagle: cfg.nagle,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_sml: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: Seq(0),
            snd_buf: VecDeque::new(),
            data_base: iss.add(1),
            fin_queued: false,
            fin_sent: false,
            rtx: Scoreboard::default(),
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_buf: VecDeque::new(),
            ooo: Reassembly::default(),
            ooo_fin: None,
            fin_received: false,
            last_ack_sent: Seq(0),
            rcv_adv: Seq(0),
            rcv_wnd_limit: cfg.rcv_buf,
            rcv_sacks: Vec::new(),
            dsack: None,
            snd_mss: DEFAULT_MSS,
            snd_wscale: 0,
            rcv_wscale: 0,
            ws_ok: false,
            ts_on: false,
            ts_recent: 0,
            ts_recent_at: now,
            ts_offset,
            sack_ok: false,
            rtt: Rtt::new(cfg.rto_rules, cfg.rto_initial, cfg.rto_min, cfg.rto_max),
            rtt_timed: None,
            syn_sent_at: now,
            retransmits: 0,
            retrans_stamp: None,
            cwnd: 0,
            ssthresh: u32::MAX,
            cwnd_acked: 0,
            ca: CaState::Open,
            high_seq: iss,
            dupacks: 0,
            reno_sacked: 0,
            prior_cwnd: 0,
            prr_delivered: 0,
            prr_out: 0,
            tlp_high_seq: None,
            tlp_retrans: false,
            acks: Acks::new(
                cfg.ack_policy,
                cfg.delayed_ack.unwrap_or(SimDuration::ZERO),
                u32::from(cfg.mss),
            ),
            ack_now: false,
            last_oow_ack: None,
            rtx_at: None,
            rtx_kind: RtxTimer::Rto,
            persist_at: None,
            persist_backoff: 0,
            fin_wait_2_at: None,
            keepalive: None,
            keepalive_at: None,
            keepalive_sent: 0,
            last_rcv_at: now,
            error: None,
        }
    }

    /// Active OPEN (RFC 9293 §3.10.1): send SYN, enter SYN_SENT.
    pub(crate) fn connect(
        cx: &mut Cx<'_>,
        key: ConnKey,
        iss: Seq,
        ts_offset: u32,
        socket: SocketId,
    ) -> Tcb {
        let mut tcb = Tcb::blank(key, cx.cfg, iss, ts_offset, cx.now);
        tcb.socket = Some(socket);
        tcb.rcv_wscale = if cx.cfg.window_scale {
            wscale_for(cx.cfg.rcv_buf_max)
        } else {
            0
        };
        tcb.rcv_wnd_limit = initial_window(cx.cfg, cx.cfg.mss);
        tcb.set_state(cx, State::SynSent);
        tcb.send_syn(cx, false);
        tcb
    }

    /// A SYN reached a listener (RFC 9293 §3.10.7.2): LISTEN -> SYN_RECEIVED, send SYN-ACK.
    pub(crate) fn accept_syn(
        cx: &mut Cx<'_>,
        key: ConnKey,
        iss: Seq,
        ts_offset: u32,
        syn: &Segment,
    ) -> Tcb {
        let mut tcb = Tcb::blank(key, cx.cfg, iss, ts_offset, cx.now);
        tcb.passive = true;
        tcb.state = State::Listen;
        tcb.irs = syn.seq;
        tcb.rcv_nxt = syn.seq.add(1);
        tcb.take_syn_options(cx, syn);
        // Linux tcp_openreq_init_rwin: the SYN-ACK's window is a multiple of the MSS less
        // the timestamps option.
        let overhead = if tcb.ts_on { TS_OPTION_LEN } else { 0 };
        tcb.rcv_wnd_limit = initial_window(cx.cfg, cx.cfg.mss.saturating_sub(overhead));
        tcb.snd_wnd = u32::from(syn.window);
        tcb.snd_wl1 = syn.seq;
        tcb.snd_wl2 = syn.ack;
        tcb.set_state(cx, State::SynReceived);
        tcb.send_syn(cx, true);
        tcb
    }

    /// Options of the peer's SYN: MSS (RFC 9293 §3.7.1), window scale and timestamps (RFC
    /// 7323), SACK-permitted (RFC 2018 §2), each used only if both sides offered it.
    fn take_syn_options(&mut self, cx: &Cx<'_>, syn: &Segment) {
        let o = &syn.options;
        let peer_mss = o.mss.unwrap_or(DEFAULT_MSS);
        match (cx.cfg.window_scale, o.window_scale) {
            (true, Some(shift)) => {
                self.ws_ok = true;
                self.snd_wscale = shift.min(MAX_WSCALE);
                self.rcv_wscale = wscale_for(cx.cfg.rcv_buf_max);
            }
            _ => {
                self.ws_ok = false;
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.ts_on = cx.cfg.timestamps && o.timestamps.is_some();
        if let Some(ts) = o.timestamps.filter(|_| self.ts_on) {
            self.ts_recent = ts.val;
            self.ts_recent_at = cx.now;
        }
        self.sack_ok = cx.cfg.sack && o.sack_permitted;
        let overhead = if self.ts_on { TS_OPTION_LEN } else { 0 };
        self.snd_mss = peer_mss.min(cx.cfg.mss).saturating_sub(overhead).max(1);
        let mss = u32::from(self.snd_mss);
        // Initial window: RFC 6928 (10 segments) for linux, RFC 5681 §3.1 otherwise, both
        // given as a segment count by the profile.
        self.cwnd = cx.cfg.initial_cwnd_segments * mss;
    }

    // ---------------------------------------------------------------------------------
    // State changes

    /// The one place a connection changes state: records the change, checks it against the
    /// diagram, and sets or clears the timers the new state needs.
    pub(crate) fn set_state(&mut self, cx: &mut Cx<'_>, to: State) {
        let from = self.state;
        let to = if cx.cfg.sabotage_illegal_transition
            && (from, to) == (State::Established, State::CloseWait)
        {
            State::TimeWait
        } else {
            to
        };
        if from == to {
            return;
        }
        if !from.can_become(to) {
            cx.events.push(TcpEvent::IllegalTransition {
                conn: self.key,
                from,
                to,
            });
            debug_assert!(
                cx.cfg.sabotage_illegal_transition,
                "illegal transition {from} -> {to} on {:?}",
                self.key
            );
        }
        cx.events.push(TcpEvent::State {
            conn: self.key,
            from,
            to,
        });
        self.state = to;
        match to {
            State::Established => {
                cx.counters.established += 1;
                if self.passive {
                    self.just_established = true;
                } else if let Some(s) = self.socket {
                    cx.app.push(SocketEvent::Connected(s));
                }
            }
            State::FinWait2 if self.orphan => {
                // Linux tcp_fin_timeout: an orphan does not wait forever for the peer's FIN.
                self.fin_wait_2_at = Some(cx.now + cx.cfg.fin_timeout);
            }
            // CLOSED, TIME_WAIT and LISTEN (an embryonic connection reset) need no timers:
            // the stack retires the block at once (a TIME_WAIT entry has its own).
            _ => {}
        }
    }

    /// Reports an error to the application and closes (RST received, timeout, refusal).
    fn fail(&mut self, cx: &mut Cx<'_>, errno: Errno) {
        cx.events.push(TcpEvent::Error {
            conn: self.key,
            errno,
        });
        if let Some(s) = self.socket {
            cx.app.push(SocketEvent::Failed(s, errno));
        }
        self.error = Some(errno);
        self.set_state(cx, State::Closed);
    }

    // ---------------------------------------------------------------------------------
    // Building segments

    fn ts_now(&self, now: SimTime) -> u32 {
        ts_clock(now).wrapping_add(self.ts_offset)
    }

    /// Free space in the receive buffer.
    fn rcv_free(&self, cfg: &TcpConfig) -> u32 {
        cfg.rcv_buf.saturating_sub(self.rcv_buf.len() as u32)
    }

    /// The window we can offer: the free space of the receive buffer, and with Linux's
    /// rules no more than the window grown so far.
    fn rcv_wnd(&self, cfg: &TcpConfig) -> u32 {
        self.rcv_free(cfg).min(self.rcv_wnd_limit)
    }

    /// Bytes received in order that no ACK has acknowledged yet (RCV.NXT less Linux
    /// rcv_wup).
    fn unacked_received(&self) -> u32 {
        self.rcv_nxt.diff(self.last_ack_sent).max(0) as u32
    }

    fn window_field(&self, cfg: &TcpConfig, syn: bool) -> u16 {
        let wnd = self.rcv_wnd(cfg);
        // RFC 7323 §2.2: the window of a SYN is never scaled.
        if syn {
            return wnd.min(0xFFFF) as u16;
        }
        let unit = 1u32 << self.rcv_wscale;
        let free = self.rcv_free(cfg);
        // Linux __tcp_select_window: a scaled window is rounded up to its unit, so it is
        // not scaled away, when the buffer has room for that.
        let shifted = if cfg.window_rules == WindowRules::Linux && wnd.div_ceil(unit) * unit <= free
        {
            wnd.div_ceil(unit)
        } else {
            wnd >> self.rcv_wscale
        };
        shifted.min(0xFFFF) as u16
    }

    /// The window field a segment sent now would carry (TIME_WAIT keeps using it).
    pub(crate) fn last_window(&self, cfg: &TcpConfig) -> u16 {
        self.window_field(cfg, false)
    }

    /// Sends one segment from this connection. An ACK carries RCV.NXT, the window and any
    /// SACK blocks, and settles the acknowledgment owed.
    fn emit(&mut self, cx: &mut Cx<'_>, flags: TcpFlags, seq: Seq, payload: Vec<u8>) {
        let syn = flags.contains(TcpFlags::SYN);
        let ack = flags.contains(TcpFlags::ACK);
        let mut options = TcpOptions::default();
        if syn {
            options.mss = Some(cx.cfg.mss);
            // A SYN-ACK offers an option only if the SYN did (RFC 7323 §1.3, RFC 2018 §2),
            // even when both shifts are 0 (Linux tcp_synack_options: wscale_ok).
            let offer_ws = cx.cfg.window_scale && (!ack || self.ws_ok);
            if offer_ws {
                options.window_scale = Some(wscale_for(cx.cfg.rcv_buf_max));
            }
            options.sack_permitted = if ack { self.sack_ok } else { cx.cfg.sack };
        }
        let offer_ts = if syn && !ack {
            cx.cfg.timestamps
        } else {
            self.ts_on
        };
        if offer_ts {
            options.timestamps = Some(Timestamps {
                val: self.ts_now(cx.now),
                ecr: if ack { self.ts_recent } else { 0 },
            });
        }
        if ack && !syn && self.sack_ok {
            options.sack = self.sack_blocks(offer_ts, payload.len());
        }
        let window = self.window_field(cx.cfg, syn);
        if ack {
            self.last_ack_sent = self.rcv_nxt;
            let scale = if syn { 0 } else { self.rcv_wscale };
            self.rcv_adv = self.rcv_nxt.add(u32::from(window) << scale);
            self.ack_now = false;
            self.dsack = None;
            self.acks.sent();
        }
        let segment = Segment {
            seq,
            ack: if ack { self.rcv_nxt } else { Seq(0) },
            flags,
            window,
            options,
            payload,
            ..Segment::default()
        };
        cx.send(&self.key, segment, self.state.name());
    }

    /// The SACK blocks for the next ACK: a D-SACK first, then the most recent blocks, as
    /// many as fit (Linux tcp_established_options: 3 beside timestamps, else 4). A segment
    /// with data carries only what fits within the MSS it was cut for.
    fn sack_blocks(&self, with_ts: bool, payload_len: usize) -> SackBlocks {
        let mut room: usize = if with_ts { 3 } else { 4 };
        if payload_len > 0 {
            let spare = usize::from(self.snd_mss).saturating_sub(payload_len);
            room = room.min(spare.saturating_sub(4) / 8);
        }
        let mut blocks = SackBlocks::NONE;
        for &b in self.dsack.iter().chain(self.rcv_sacks.iter()).take(room) {
            blocks.push(b);
        }
        blocks
    }

    fn send_syn(&mut self, cx: &mut Cx<'_>, with_ack: bool) {
        let flags = if with_ack {
            TcpFlags::SYN | TcpFlags::ACK
        } else {
            TcpFlags::SYN
        };
        self.emit(cx, flags, self.iss, Vec::new());
        self.snd_nxt = self.iss.add(1);
        if self.rtx_at.is_none() {
            self.arm(cx, RtxTimer::Rto, self.rtt.rto());
        }
    }

    /// RST in reply to a segment of this connection, or on abort: SEQ=SND.NXT (RFC 9293
    /// §3.10.5).
    fn send_rst(&mut self, cx: &mut Cx<'_>) {
        cx.counters.resets_sent += 1;
        let seq = self.snd_nxt;
        self.emit(cx, TcpFlags::RST | TcpFlags::ACK, seq, Vec::new());
    }

    fn send_ack(&mut self, cx: &mut Cx<'_>) {
        let seq = self.snd_nxt;
        self.emit(cx, TcpFlags::ACK, seq, Vec::new());
    }

    fn data_end(&self) -> Seq {
        self.data_base.add(self.snd_buf.len() as u32)
    }

    /// The sender's congestion state (Linux TCP_INFO).
    pub(crate) fn info(&self) -> TcpInfo {
        TcpInfo {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            snd_mss: self.snd_mss,
            in_recovery: self.ca == CaState::Recovery,
            in_loss: self.ca == CaState::Loss,
            rto: self.rtt.rto(),
            srtt: self.rtt.srtt(),
        }
    }

    /// Our SYN is not acknowledged yet (SND.UNA is still ISS, below the first data byte).
    fn syn_unacked(&self) -> bool {
        self.snd_una.lt(self.data_base)
    }

    /// Bytes queued by the application and not sent yet.
    fn unsent(&self) -> u32 {
        self.data_end().diff(self.snd_nxt).max(0) as u32
    }

    fn payload(&self, seq: Seq, len: usize) -> Vec<u8> {
        let offset = seq.diff(self.data_base) as usize;
        self.snd_buf.range(offset..offset + len).copied().collect()
    }

    fn can_send_data(&self) -> bool {
        matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        )
    }

    /// Sends what the windows allow: segments marked lost first (Linux
    /// tcp_xmit_retransmit_queue; RFC 6675 §5 NextSeg rule 1), then new data (Nagle
    /// permitting) and the FIN once all data is out (tcp_write_xmit), then a pure ACK if one
    /// is owed. RFC 9293 §3.8.6, RFC 5681 §3.1, RFC 1122 §4.2.3.4.
    pub(crate) fn output(&mut self, cx: &mut Cx<'_>) {
        if self.can_send_data() {
            self.retransmit_lost(cx);
            let sent_new = self.send_new(cx, Push::Normal);
            if sent_new {
                // Linux tcp_write_xmit: one loss probe per tail-loss episode.
                self.schedule_loss_probe(cx, false);
            }
            self.check_persist(cx);
        }
        if self.ack_now {
            self.send_ack(cx);
        }
    }

    /// Bytes in flight (RFC 6675 §4 pipe; Linux tcp_packets_in_flight): what the scoreboard
    /// holds in flight, less one segment per duplicate ACK without SACK.
    fn pipe(&self) -> u32 {
        self.pipe_from(self.rtx.pipe())
    }

    /// [`Self::pipe`] from the scoreboard's own count, which the send loops keep up to date
    /// segment by segment instead of walking the scoreboard again for each.
    fn pipe_from(&self, in_flight: u32) -> u32 {
        let reno = self.reno_sacked * u32::from(self.snd_mss);
        in_flight.saturating_sub(reno)
    }

    /// Resends segments marked lost while the pipe is below cwnd.
    fn retransmit_lost(&mut self, cx: &mut Cx<'_>) {
        let mut in_flight = self.rtx.pipe();
        while let Some(i) = self.rtx.next_lost() {
            debug_assert_eq!(in_flight, self.rtx.pipe());
            if self.pipe_from(in_flight) >= self.cwnd {
                break;
            }
            self.retransmit(cx, i);
            // A lost segment resent is back in the pipe.
            in_flight += self.rtx.get(i).map_or(0, Sent::len);
        }
    }

    /// Sends new data (and the FIN) within the peer's window and cwnd; `Push::Probe` sends at
    /// most one segment whatever cwnd says (a tail loss probe). Returns whether anything
    /// went out.
    fn send_new(&mut self, cx: &mut Cx<'_>, push: Push) -> bool {
        let mss = u32::from(self.snd_mss);
        let mut sent = false;
        let mut in_flight = self.rtx.pipe();
        loop {
            let data_end = self.data_end();
            let unsent = self.unsent();
            if unsent == 0 {
                // Linux tcp_cwnd_test: the final FIN is never held back by cwnd.
                if self.fin_queued && !self.fin_sent {
                    self.send_data(cx, data_end, 0, true);
                    sent = true;
                }
                return sent;
            }
            let len = unsent.min(mss);
            // Sender silly window avoidance (RFC 9293 §3.8.6.2.1), as Linux does it
            // (tcp_snd_wnd_test): a segment is never cut down to fit a small offered window;
            // the persist timer deals with a window that stays too small.
            let wnd_end = self.snd_una.add(self.snd_wnd);
            if self.snd_nxt.add(len).gt(wnd_end) {
                return sent;
            }
            // A probe is one segment, sent whatever cwnd says.
            let probe = push == Push::Probe;
            debug_assert_eq!(in_flight, self.rtx.pipe());
            if (probe && sent) || (!probe && self.pipe_from(in_flight) >= self.cwnd) {
                return sent;
            }
            // Nagle: a short segment waits while data is unacknowledged (RFC 1122
            // §4.2.3.4), or with Minshall's variant as Linux has it (tcp_minshall_check),
            // while an earlier short segment is; unless the application is closing (Linux
            // pushes everything on close).
            let waits_for = if cx.cfg.nagle_minshall {
                self.snd_sml.gt(self.snd_una) && self.snd_sml.le(self.snd_nxt)
            } else {
                !self.rtx.is_empty()
            };
            if self.nagle && len < mss && waits_for && !self.fin_queued && !probe {
                return sent;
            }
            let last = len == unsent;
            let fin = self.fin_queued && last;
            self.send_data(cx, self.snd_nxt, len, fin);
            in_flight += len + u32::from(fin);
            sent = true;
        }
    }

    /// Sends `len` new bytes from `seq` (and the FIN after them if `fin`).
    fn send_data(&mut self, cx: &mut Cx<'_>, seq: Seq, len: u32, fin: bool) {
        debug_assert!(seq == self.snd_nxt, "new data starts at SND.NXT");
        let flags = self.data_flags(seq, len, fin);
        if fin {
            self.fin_sent = true;
        }
        if len < u32::from(self.snd_mss) {
            // Linux tcp_minshall_update: remember where the last short segment ends.
            self.snd_sml = seq.add(len);
        }
        let payload = self.payload(seq, len as usize);
        let first_in_flight = self.rtx.is_empty();
        self.emit(cx, flags, seq, payload);
        let end = seq.add(len + u32::from(fin));
        self.rtx.push(seq, end, fin, cx.now);
        self.snd_nxt = end;
        if self.ca == CaState::Recovery {
            self.prr_out += len.max(1);
        }
        // RFC 6298 §3: time one segment per round trip (Karn: never a resend).
        if self.rtt_timed.is_none() {
            self.rtt_timed = Some((end, cx.now));
        }
        self.acks.data_sent(cx.now);
        // Linux tcp_event_new_data_sent: the first segment in flight starts the RTO (a
        // pending probe is replaced by it too). Nothing in flight means no timer armed.
        debug_assert!(
            !first_in_flight || self.rtx_at.is_none() || self.syn_unacked(),
            "a timer with nothing out"
        );
        if self.rtx_at.is_none() || self.rtx_kind == RtxTimer::Probe {
            self.arm(cx, RtxTimer::Rto, self.rtt.rto());
        }
        self.persist_at = None;
    }

    /// The flags of a data segment of `len` bytes from `seq`: ACK, PSH when it ends the data
    /// queued, FIN if it carries ours.
    fn data_flags(&self, seq: Seq, len: u32, fin: bool) -> TcpFlags {
        let mut flags = TcpFlags::ACK;
        if len > 0 && seq.add(len) == self.data_end() {
            flags = flags | TcpFlags::PSH;
        }
        if fin {
            flags = flags | TcpFlags::FIN;
        }
        flags
    }

    /// Resends scoreboard segment `i` as it was sent (Linux __tcp_retransmit_skb).
    fn retransmit(&mut self, cx: &mut Cx<'_>, i: usize) {
        let s = *self.rtx.get(i).expect("a queued segment");
        let len = s.len() - u32::from(s.fin);
        let what = if len == 0 { Resent::Fin } else { Resent::Data };
        self.retransmitted(cx, what, s.seq);
        if s.fin && len > 0 {
            cx.counters.fin_retransmits += 1;
        }
        let flags = self.data_flags(s.seq, len, s.fin);
        if self.retrans_stamp.is_none() {
            self.retrans_stamp = Some(s.xmit_at);
        }
        let payload = self.payload(s.seq, len as usize);
        self.emit(cx, flags, s.seq, payload);
        self.rtx.retransmitted(i, cx.now);
        if self.ca == CaState::Recovery {
            self.prr_out += len.max(1);
        }
        if self.rtt_timed.is_some_and(|(end, _)| end.gt(s.seq)) {
            self.rtt_timed = None; // Karn's rule
        }
        if self.rtx_at.is_none() {
            self.arm(cx, RtxTimer::Rto, self.rtt.rto());
        }
    }

    /// The persist timer runs when data waits, the peer's window is too small for it, and
    /// nothing is in flight to provoke a window update (RFC 9293 §3.8.6.1).
    fn check_persist(&mut self, cx: &mut Cx<'_>) {
        let unsent = self.unsent();
        let wnd_end = self.snd_una.add(self.snd_wnd);
        let next = unsent.min(u32::from(self.snd_mss));
        let blocked = unsent > 0 && self.snd_nxt.add(next).gt(wnd_end);
        if blocked && self.rtx.is_empty() {
            if self.persist_at.is_none() {
                self.persist_at = Some(timer_at(cx.cfg, cx.now, self.persist_interval(cx.cfg)));
            }
        } else {
            self.persist_at = None;
            self.persist_backoff = 0;
        }
    }

    fn persist_interval(&self, cfg: &TcpConfig) -> SimDuration {
        self.rtt
            .rto()
            .saturating_mul(1 << self.persist_backoff.min(16))
            .min(cfg.rto_max)
    }

    /// Arms the retransmission timer slot for `kind`, `after` from now, on the host's timer
    /// granularity.
    fn arm(&mut self, cx: &Cx<'_>, kind: RtxTimer, after: SimDuration) {
        self.rtx_kind = kind;
        self.rtx_at = Some(timer_at(cx.cfg, cx.now, after));
    }

    /// Linux tcp_rearm_rto: no timer when nothing is outstanding; otherwise the RTO from
    /// now, or, when a probe or reordering timer was pending, from the oldest segment's send.
    fn rearm_rto(&mut self, cx: &Cx<'_>) {
        if self.rtx.is_empty() {
            self.rtx_at = None;
            return;
        }
        let rto = self.rtt.rto();
        let after = if self.rtx_at.is_some() && self.rtx_kind != RtxTimer::Rto {
            self.rto_from_head(cx.now, rto)
        } else {
            rto
        };
        self.arm(cx, RtxTimer::Rto, after);
    }

    /// How far in the future the RTO of the oldest outstanding segment lies (Linux
    /// tcp_rto_delta_us), at least 1 ns.
    fn rto_from_head(&self, now: SimTime, rto: SimDuration) -> SimDuration {
        let sent = self.rtx.get(0).map_or(now, |s| s.xmit_at);
        (sent + rto)
            .saturating_since(now)
            .max(SimDuration::from_nanos(1))
    }

    /// Linux tcp_schedule_loss_probe (RFC 8985 §7.2): with SACK, not in recovery, data
    /// outstanding: probe after 2·SRTT (plus rto_min when one segment is out, for the
    /// peer's delayed ACK; plus 2 ms otherwise), or at the RTO if that comes first. Returns
    /// whether a probe was scheduled.
    fn schedule_loss_probe(&mut self, cx: &Cx<'_>, advancing_rto: bool) -> bool {
        // (A SYN is not in the retransmission queue: no probe during the handshake.)
        if !(cx.cfg.tail_loss_probe && self.sack_ok)
            || self.rtx.is_empty()
            || self.ca != CaState::Open
        {
            return false;
        }
        let mut pto = match self.rtt.srtt() {
            Some(srtt) => {
                let single = self.rtx.len() == 1;
                let extra = if single {
                    cx.cfg.rto_min
                } else {
                    SimDuration::from_millis(2)
                };
                srtt.saturating_mul(2).saturating_add(extra)
            }
            None => cx.cfg.rto_initial,
        };
        // Linux tcp_rto_delta_us: how far the RTO of the oldest segment lies from now,
        // counted from its send time (not from the armed timer, which the wheel already
        // rounded up: rounding that again would make the probe a tick late).
        let rto_delta = if advancing_rto {
            self.rtt.rto()
        } else {
            self.rto_from_head(cx.now, self.rtt.rto())
        };
        if !rto_delta.is_zero() {
            pto = pto.min(rto_delta);
        }
        self.arm(cx, RtxTimer::Probe, pto);
        true
    }

    /// Linux tcp_set_xmit_timer, after an ACK that moved things: a loss probe if one
    /// applies, else the RTO.
    fn set_xmit_timer(&mut self, cx: &Cx<'_>) {
        if !self.schedule_loss_probe(cx, true) {
            self.rearm_rto(cx);
        }
    }

    // ---------------------------------------------------------------------------------
    // User calls (RFC 9293 §3.10.2 - §3.10.5)

    /// SEND: queue data; returns how much fit in the send buffer.
    pub(crate) fn send(&mut self, cx: &mut Cx<'_>, data: &[u8]) -> Result<usize, Errno> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_queued {
            return Err(Errno::BrokenPipe);
        }
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {}
            _ => return Err(Errno::BrokenPipe),
        }
        let n = self.send_room(cx.cfg).min(data.len());
        self.snd_buf.extend(&data[..n]);
        self.output(cx);
        Ok(n)
    }

    /// Free room in the send buffer.
    pub(crate) fn send_room(&self, cfg: &TcpConfig) -> usize {
        (cfg.snd_buf as usize).saturating_sub(self.snd_buf.len())
    }

    /// RECEIVE: takes up to `max` bytes; `Ok(0)` is end of stream once the peer's FIN is in.
    pub(crate) fn recv(
        &mut self,
        cx: &mut Cx<'_>,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<usize, Errno> {
        let n = max.min(self.rcv_buf.len());
        if n == 0 {
            if let Some(e) = self.error {
                return Err(e);
            }
            return Ok(0);
        }
        // Copied slice by slice: draining a deque into a vector byte by byte cost a read of
        // 64 bytes more than the rest of the call.
        let (front, back) = self.rcv_buf.as_slices();
        let from_front = n.min(front.len());
        out.extend_from_slice(&front[..from_front]);
        out.extend_from_slice(&back[..n - from_front]);
        self.rcv_buf.drain(..n);
        if !self.state.is_synchronized() {
            return Ok(n);
        }
        // Linux tcp_cleanup_rbuf: an owed ACK goes now if the read emptied the buffer of
        // small segments, or more than a segment waits for its ACK.
        let since = self.unacked_received();
        if self.acks.after_read(since, self.rcv_buf.is_empty()) == AckNow::Send {
            self.send_ack(cx);
            return Ok(n);
        }
        // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): the right edge advertised last stays
        // until the window would grow past it by at least min(buffer / 2, MSS); a window
        // update goes then, if what is left of the advertised one is below that.
        let advertised = self.rcv_adv.diff(self.rcv_nxt).max(0) as u32;
        let threshold = (cx.cfg.rcv_buf / 2).min(u32::from(cx.cfg.mss));
        let was_small = advertised < threshold;
        let grown = self.rcv_wnd(cx.cfg).saturating_sub(advertised);
        if !self.fin_received && was_small && grown >= threshold {
            self.send_ack(cx);
        }
        Ok(n)
    }

    /// Takes the data the application has not read (the connection is going away).
    pub(crate) fn take_unread(&mut self) -> VecDeque<u8> {
        std::mem::take(&mut self.rcv_buf)
    }

    /// Bytes waiting to be read.
    pub(crate) fn readable(&self) -> usize {
        self.rcv_buf.len()
    }

    /// Unsent and unacknowledged bytes.
    pub(crate) fn unacked(&self) -> usize {
        self.snd_buf.len()
    }

    /// The connection as a row of the socket table at `now`.
    pub(crate) fn row(&self, now: SimTime) -> SocketRow {
        let left = |at: SimTime| at.saturating_since(now);
        let timer = if let Some(at) = self.rtx_at {
            Some(("on", at, self.retransmits))
        } else if let Some(at) = self.persist_at {
            Some(("persist", at, self.persist_backoff))
        } else if let Some(at) = self.fin_wait_2_at {
            Some(("timewait", at, 0))
        } else {
            self.keepalive_at
                .map(|at| ("keepalive", at, self.keepalive_sent))
        };
        SocketRow {
            state: self.state,
            local: self.key.local,
            peer: Some(self.key.remote),
            recv_q: self.readable() as u64,
            send_q: self.unacked() as u64,
            timer: timer.map(|(kind, at, retries)| SocketTimer {
                kind,
                left: left(at),
                retries,
            }),
        }
    }

    /// shutdown(SHUT_WR): no more data; a FIN follows what is queued.
    pub(crate) fn shutdown(&mut self, cx: &mut Cx<'_>) {
        if self.fin_queued {
            return;
        }
        match self.state {
            State::SynSent => {
                // Nothing was synchronised: just forget the connection (RFC 9293 §3.10.4).
                self.set_state(cx, State::Closed);
            }
            State::SynReceived | State::Established => {
                self.fin_queued = true;
                self.set_state(cx, State::FinWait1);
                self.output(cx);
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(cx, State::LastAck);
                self.output(cx);
            }
            _ => {}
        }
    }

    /// CLOSE: shutdown plus giving up the handle. Unread data turns the FIN into a RST
    /// (RFC 9293 §3.10.4, RFC 1122 §4.2.2.13; Linux does the same).
    pub(crate) fn close(&mut self, cx: &mut Cx<'_>) {
        self.socket = None;
        self.orphan = true;
        if !self.rcv_buf.is_empty() && self.state.is_synchronized() {
            cx.note(self.key, Note::UnreadDataReset);
            self.send_rst(cx);
            self.set_state(cx, State::Closed);
            return;
        }
        self.shutdown(cx);
        if self.state == State::FinWait2 && self.fin_wait_2_at.is_none() {
            self.fin_wait_2_at = Some(cx.now + cx.cfg.fin_timeout);
        }
    }

    /// ABORT (RFC 9293 §3.10.5; SO_LINGER 0): RST in the synchronised states, then CLOSED.
    pub(crate) fn abort(&mut self, cx: &mut Cx<'_>) {
        self.socket = None;
        self.orphan = true;
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
        ) {
            cx.note(self.key, Note::Abort);
            self.send_rst(cx);
        }
        self.set_state(cx, State::Closed);
    }

    /// Sets Nagle on or off (TCP_NODELAY is `false`).
    pub(crate) fn set_nagle(&mut self, on: bool) {
        self.nagle = on;
    }

    /// SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (`None` turns it off).
    pub(crate) fn set_keepalive(
        &mut self,
        cx: &Cx<'_>,
        keepalive: Option<(SimDuration, SimDuration, u32)>,
    ) {
        self.keepalive = keepalive;
        self.keepalive_sent = 0;
        self.rearm_keepalive(cx);
    }

    /// Linux inet_csk_reset_keepalive_timer: the next probe is due `idle` after the last
    /// segment received, or `interval` after the last probe.
    fn rearm_keepalive(&mut self, cx: &Cx<'_>) {
        self.keepalive_at = match self.keepalive {
            Some((idle, _, _)) if self.keepalive_applies() => {
                Some(timer_at(cx.cfg, self.last_rcv_at, idle).max(cx.now))
            }
            _ => None,
        };
    }

    /// Keep-alive runs in the synchronised states where the connection can still hear from
    /// the peer (Linux tcp_keepalive_timer skips LISTEN, CLOSE and the closing states of an
    /// orphan).
    fn keepalive_applies(&self) -> bool {
        matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait2
        )
    }

    // ---------------------------------------------------------------------------------
    // Timers

    /// The earliest armed timer.
    pub(crate) fn deadline(&self) -> Option<SimTime> {
        // Pairwise, not an iterator over the five: this runs after every segment and call.
        let earliest = |a: Option<SimTime>, b: Option<SimTime>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        earliest(
            earliest(self.rtx_at, self.persist_at),
            earliest(
                self.acks.deadline(),
                earliest(self.fin_wait_2_at, self.keepalive_at),
            ),
        )
    }

    /// Runs every timer that is due.
    pub(crate) fn on_timer(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now;
        if self.fin_wait_2_at.is_some_and(|t| t <= now) {
            self.fin_wait_2_at = None;
            if self.state == State::FinWait2 {
                cx.note(self.key, Note::FinWait2Timeout);
                self.set_state(cx, State::Closed);
                return;
            }
        }
        if self.rtx_at.is_some_and(|t| t <= now) {
            self.rtx_at = None;
            match self.rtx_kind {
                RtxTimer::Rto => self.on_rto(cx),
                RtxTimer::Probe => self.on_loss_probe(cx),
                RtxTimer::Reorder => self.on_reorder_timeout(cx),
            }
            if self.state == State::Closed {
                return;
            }
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            self.on_persist(cx);
        }
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.keepalive_at = None;
            self.on_keepalive(cx);
            if self.state == State::Closed {
                return;
            }
        }
        if self.acks.deadline().is_some_and(|t| t <= now) {
            let owed = self.acks.pending;
            self.acks.timer_fired(self.rtt.rto());
            if owed {
                self.send_ack(cx);
            }
        }
    }

    /// Retransmission timeout (RFC 6298 §5.4-5.6, RFC 5681 §3.1, RFC 6675 §5.1; Linux
    /// tcp_retransmit_timer and tcp_enter_loss).
    fn on_rto(&mut self, cx: &mut Cx<'_>) {
        let handshake = matches!(self.state, State::SynSent | State::SynReceived);
        if !handshake && self.rtx.is_empty() {
            return; // nothing outstanding: a stale timer
        }
        if self.retries_exhausted(cx) {
            if self.state == State::SynReceived && self.passive {
                // Linux drops an embryonic connection silently when SYN-ACKs run out.
                self.set_state(cx, State::Closed);
            } else {
                self.fail(cx, Errno::TimedOut);
            }
            return;
        }
        self.retransmits += 1;
        cx.counters.timeouts += 1;
        self.rtt_timed = None; // Karn's rule
        if handshake {
            let what = if self.state == State::SynSent {
                Resent::Syn
            } else {
                Resent::SynAck
            };
            // Linux tcp_syn_linear_timeouts: the first SYN retransmissions keep the initial
            // RTO; back-off starts after them.
            let linear =
                self.state == State::SynSent && self.retransmits <= cx.cfg.syn_linear_timeouts;
            if !linear {
                self.rtt.back_off();
            }
            self.retransmitted(cx, what, self.iss);
            self.send_syn(cx, self.state == State::SynReceived);
        } else {
            // close() in the SYN_RECEIVED of a simultaneous open sends the FIN before our SYN
            // is acknowledged (RFC 9293 §3.10.4; Linux tcp_close). Linux keeps the SYN at the
            // head of the retransmission queue, so the timeout resends the SYN-ACK first: a
            // peer that lost it could not take the FIN otherwise.
            if self.syn_unacked() {
                self.retransmitted(cx, Resent::SynAck, self.iss);
                self.emit(cx, TcpFlags::SYN | TcpFlags::ACK, self.iss, Vec::new());
            }
            self.enter_loss(cx);
            let head = 0;
            self.retransmit(cx, head);
            self.rtt.back_off();
        }
        self.arm(cx, RtxTimer::Rto, self.rtt.rto());
    }

    /// Whether the next timeout should fail the connection instead: after `syn_retries`
    /// (plus the linear ones) SYNs, `synack_retries` SYN-ACKs, or for data `data_retries`
    /// timeouts (RFC 6298) or the time `data_retries` doublings from rto_min take (Linux
    /// retransmits_timed_out and tcp_model_timeout).
    fn retries_exhausted(&self, cx: &Cx<'_>) -> bool {
        let cfg = cx.cfg;
        match self.state {
            State::SynSent => self.retransmits >= cfg.syn_retries + cfg.syn_linear_timeouts,
            State::SynReceived => self.retransmits >= cfg.synack_retries,
            _ => match cfg.rto_rules {
                RtoRules::Rfc6298 => self.retransmits >= cfg.data_retries,
                RtoRules::Linux => {
                    let budget = model_timeout(cfg.data_retries, cfg.rto_min, cfg.rto_max);
                    self.retransmits > 0
                        && self
                            .retrans_stamp
                            .is_some_and(|t| cx.now.saturating_since(t) >= budget)
                }
            },
        }
    }

    /// Linux tcp_enter_loss: on the first timeout of an episode ssthresh drops; every
    /// segment not SACKed is lost; cwnd is one segment; recovery waits for SND.NXT.
    fn enter_loss(&mut self, cx: &mut Cx<'_>) {
        let mss = u32::from(self.snd_mss);
        // Whether this timeout lowers ssthresh. Linux (tcp_enter_loss): from Open, once the
        // previous episode's data is all acknowledged, or on the first timeout of a Loss
        // episode; not in fast recovery, which lowered it already. RFC 5681 §3.1 (4): on the
        // first timeout of a segment, recovery or not; a later timeout of the same segment
        // finds the same FlightSize (nothing new goes while it is out), so lowering again
        // gives the same value and NewReno needs no test.
        let new_episode = match cx.cfg.congestion {
            Congestion::LinuxReno => {
                self.ca == CaState::Open
                    || self.snd_una.ge(self.high_seq)
                    || (self.ca == CaState::Loss && self.retransmits <= 1)
            }
            Congestion::NewReno => true,
        };
        if new_episode {
            self.ssthresh = self.loss_ssthresh(cx.cfg);
        }
        self.rtx.mark_all_lost();
        self.cwnd = mss;
        self.cwnd_acked = 0;
        self.ca = CaState::Loss;
        self.high_seq = self.snd_nxt;
        self.dupacks = 0;
        self.reno_sacked = 0;
        self.tlp_high_seq = None;
    }

    /// ssthresh after a loss: RFC 5681 §3.1 eq. 4 (half the flight), or Linux tcp_reno
    /// (half of cwnd), at least two segments.
    fn loss_ssthresh(&self, cfg: &TcpConfig) -> u32 {
        let mss = u32::from(self.snd_mss);
        let base = match cfg.congestion {
            Congestion::NewReno => self.snd_nxt.diff(self.snd_una).max(0) as u32,
            Congestion::LinuxReno => self.cwnd,
        };
        (base / 2).max(2 * mss)
    }

    fn retransmitted(&mut self, cx: &mut Cx<'_>, what: Resent, seq: Seq) {
        cx.counters.retransmits += 1;
        if what == Resent::Fin {
            cx.counters.fin_retransmits += 1;
        }
        cx.events.push(TcpEvent::Retransmit {
            conn: self.key,
            what,
            seq: seq.0,
            attempt: self.retransmits.max(1),
        });
    }

    /// The tail loss probe fired (RFC 8985 §7.3; Linux tcp_send_loss_probe): new data if
    /// the peer's window allows, else the last segment again; then the RTO from now.
    fn on_loss_probe(&mut self, cx: &mut Cx<'_>) {
        if self.tlp_high_seq.is_none() {
            if let Some(last) = self.rtx.last_index() {
                cx.counters.loss_probes += 1;
                cx.note(self.key, Note::TailLossProbe);
                let sent_new = self.can_send_data() && self.send_new(cx, Push::Probe);
                self.tlp_retrans = !sent_new;
                if self.tlp_retrans {
                    self.retransmit(cx, last);
                }
                self.tlp_high_seq = Some(self.snd_nxt);
                self.rtx_at = None; // the RTO restarts from now
            }
        }
        self.rearm_rto(cx);
    }

    /// RACK's reordering window ran out (RFC 8985 §6.3; Linux tcp_rack_reo_timeout): judge
    /// the segments again and retransmit what is lost.
    fn on_reorder_timeout(&mut self, cx: &mut Cx<'_>) {
        let reo_wnd = self.rack_reo_wnd();
        let (marked, wait) = self.rtx.rack_detect(cx.now, reo_wnd);
        if marked > 0 {
            // Linux tcp_rack_reo_timeout: recovery from any state but recovery (from Loss
            // too, which tcp_enter_recovery then leaves with a new ssthresh).
            if self.ca != CaState::Recovery {
                self.enter_recovery(cx, Recovered::Sack);
                self.prr(u32::from(self.snd_mss), false);
            }
            self.retransmit_lost(cx);
        }
        if let Some(w) = wait {
            self.arm_reorder(cx, w);
        } else {
            self.rtx_kind = RtxTimer::Reorder;
            self.rtx_at = Some(cx.now);
            self.rearm_rto(cx);
        }
    }

    /// Arms the RACK reordering timer: the wait plus two jiffies (Linux TCP_TIMEOUT_MIN).
    fn arm_reorder(&mut self, cx: &Cx<'_>, wait: SimDuration) {
        let slack = cx.cfg.timer_tick.saturating_mul(2);
        self.arm(cx, RtxTimer::Reorder, wait.saturating_add(slack));
    }

    /// Keep-alive (RFC 1122 §4.2.3.6; Linux tcp_keepalive_timer): after `idle` without a
    /// segment from the peer, a probe (an empty segment with SEQ = SND.UNA − 1, which the
    /// peer must answer) every `interval`; after `probes` unanswered, RST and ETIMEDOUT.
    fn on_keepalive(&mut self, cx: &mut Cx<'_>) {
        let Some((idle, interval, probes)) = self.keepalive else {
            return;
        };
        if !self.keepalive_applies() {
            return;
        }
        // Data in flight or waiting: the retransmission or persist timer watches the peer.
        if !self.rtx.is_empty() || self.unsent() > 0 {
            self.keepalive_at = Some(timer_at(cx.cfg, cx.now, idle));
            return;
        }
        let quiet = cx.now.saturating_since(self.last_rcv_at);
        if quiet < idle {
            // Linux tcp_keepalive_timer: wait what is left of the idle time, from now. (An
            // idle time beyond the timer wheel's reach is cut; counting the rest from now
            // makes progress where re-arming from the last segment would not.)
            self.keepalive_at = Some(timer_at(cx.cfg, cx.now, idle.saturating_sub(quiet)));
            return;
        }
        if self.keepalive_sent >= probes {
            cx.note(self.key, Note::KeepAliveTimeout);
            self.send_rst(cx);
            self.fail(cx, Errno::TimedOut);
            return;
        }
        self.keepalive_sent += 1;
        cx.counters.keepalive_probes += 1;
        cx.note(self.key, Note::KeepAliveProbe);
        self.send_probe(cx);
        self.keepalive_at = Some(timer_at(cx.cfg, cx.now, interval));
    }

    /// Zero-window probe. Follows Linux (tcp_xmit_probe_skb): an empty segment with
    /// SEQ=SND.UNA-1, which the peer must answer with an ACK carrying its window.
    fn on_persist(&mut self, cx: &mut Cx<'_>) {
        let unsent = self.unsent();
        if unsent == 0 || self.snd_nxt != self.snd_una {
            return;
        }
        if self.snd_wnd > 0 {
            // A window too small for a full segment that stayed so: send what fits (Linux
            // tcp_write_wakeup; RFC 9293 §3.8.6.2.1's override timeout).
            let len = unsent.min(self.snd_wnd).min(u32::from(self.snd_mss));
            self.send_data(cx, self.snd_nxt, len, false);
            return;
        }
        cx.note(self.key, Note::WindowProbe);
        self.send_probe(cx);
        self.persist_backoff += 1;
        self.persist_at = Some(timer_at(cx.cfg, cx.now, self.persist_interval(cx.cfg)));
    }

    /// The probe of zero-window probing and keep-alive alike (Linux tcp_xmit_probe_skb): an
    /// empty segment with SEQ = SND.UNA - 1, old data the peer must answer with an ACK.
    fn send_probe(&mut self, cx: &mut Cx<'_>) {
        let seq = self.snd_una.add(u32::MAX); // SND.UNA - 1
        self.emit(cx, TcpFlags::ACK, seq, Vec::new());
    }

    // ---------------------------------------------------------------------------------
    // Segment arrival (RFC 9293 §3.10.7.3 and §3.10.7.4)

    /// Processes a segment for this connection. TIME_WAIT is handled by the stack.
    pub(crate) fn on_segment(&mut self, cx: &mut Cx<'_>, seg: &Segment) {
        debug_assert!(self.state != State::TimeWait && self.state != State::Closed);
        if self.state == State::SynSent {
            self.on_segment_syn_sent(cx, seg);
            return;
        }
        let flags = seg.flags;

        // RFC 7323 §5.3 R1: PAWS, before the sequence check.
        if self.ts_on && !flags.contains(TcpFlags::RST) {
            if let Some(ts) = seg.options.timestamps {
                if self.paws_rejects(cx, seg, ts.val) {
                    cx.counters.paws_rejects += 1;
                    cx.note(self.key, Note::PawsReject);
                    self.send_ack(cx);
                    return;
                }
            }
        }

        // Follows Linux (tcp_check_req): a retransmitted SYN in SYN_RECEIVED gets the SYN-ACK
        // again at once rather than a bare ACK.
        if self.state == State::SynReceived
            && flags.contains(TcpFlags::SYN)
            && !flags.contains(TcpFlags::ACK)
            && seg.seq == self.irs
        {
            self.emit(cx, TcpFlags::SYN | TcpFlags::ACK, self.iss, Vec::new());
            return;
        }

        // Simultaneous open, the SYN-ACKs crossed. The peer's SYN is old (SEG.SEQ = IRS), so
        // the §3.3.3 test would reject the segment, yet it acknowledges our SYN: as RFC 9293
        // §3.5 Figure 7 (line 6) shows, and Linux does (tcp_validate_incoming), take the ACK
        // (SYN_RECEIVED -> ESTABLISHED) and acknowledge the old SYN at once; Linux reports
        // the duplicate SYN's sequence number as a D-SACK (tcp_send_dupack, RFC 2883).
        if self.state == State::SynReceived
            && !self.passive
            && flags.contains(TcpFlags::SYN | TcpFlags::ACK)
            && !flags.intersects(TcpFlags::RST | TcpFlags::FIN)
            && seg.payload.is_empty()
            && seg.seq == self.irs
            && seg.ack == self.snd_nxt
        {
            self.set_dsack(self.irs, self.irs.add(1));
            self.syn_ack_accepted(cx, seg);
            return;
        }

        // First: the sequence number check (four cases of §3.3.3). Follows Linux
        // (tcp_data_queue) where configured: a bare FIN exactly at RCV.NXT is taken even with
        // a zero window, so a peer that can only close is not left retransmitting its FIN.
        let wnd = self.rcv_wnd(cx.cfg);
        let bare_fin_at_zero_window = cx.cfg.fin_at_zero_window
            && wnd == 0
            && seg.seq == self.rcv_nxt
            && seg.payload.is_empty()
            && flags.contains(TcpFlags::FIN)
            && !flags.intersects(TcpFlags::SYN | TcpFlags::RST);
        let acceptable = if cx.cfg.linux_sequence_check {
            self.acceptable_linux(seg, wnd)
        } else {
            self.acceptable(seg, wnd)
        };
        if !bare_fin_at_zero_window && !acceptable {
            if flags.contains(TcpFlags::RST) {
                return;
            }
            // RFC 5961 §4.2: a SYN in a synchronised state draws a challenge ACK whatever its
            // sequence number (Linux tcp_validate_incoming: `syn_challenge`, rate-limited).
            if flags.contains(TcpFlags::SYN) && self.state != State::SynReceived {
                self.challenge_ack(cx);
                return;
            }
            // RFC 9293 §3.10.7.4: with a zero window, still take a valid ACK.
            let zero_window_ack =
                wnd == 0 && seg.seq == self.rcv_nxt && flags.contains(TcpFlags::ACK);
            if zero_window_ack {
                self.process_ack(cx, seg);
            } else if self.state != State::SynReceived || seg.seq.lt(self.rcv_nxt) {
                cx.note(self.key, Note::OutOfWindow);
            }
            // Linux tcp_send_dupack / tcp_data_queue: data (or a FIN) we already have means
            // our ACK was lost: report it as a D-SACK (RFC 2883 §4; Linux covers a duplicate
            // FIN's sequence number too) and go back to quick ACKs.
            let end = seg.seq.add(seg.seq_len());
            if seg.seq_len() > 0 && seg.seq.lt(self.rcv_nxt) {
                let right = if end.gt(self.rcv_nxt) {
                    self.rcv_nxt
                } else {
                    end
                };
                self.set_dsack(seg.seq, right);
                self.acks.enter_quickack(wnd);
            }
            if zero_window_ack || self.may_answer_invalid(cx, seg) {
                self.send_ack(cx);
            }
            if self.state != State::Closed {
                self.output(cx);
            }
            return;
        }

        // Second: RST (RFC 5961 §3.2: only an exact match resets; in-window gets a challenge).
        if flags.contains(TcpFlags::RST) {
            if seg.seq != self.rcv_nxt {
                self.challenge_ack(cx);
                return;
            }
            return self.on_reset(cx);
        }

        // Fourth: SYN in a synchronised state (RFC 5961 §4.2): challenge ACK. In SYN_RECEIVED
        // of a passive open, RFC 9293 §3.10.7.4 returns the connection to LISTEN.
        if flags.contains(TcpFlags::SYN) {
            if self.state == State::SynReceived && self.passive {
                self.set_state(cx, State::Listen);
                return;
            }
            self.challenge_ack(cx);
            return;
        }

        // Fifth: the ACK field.
        if !flags.contains(TcpFlags::ACK) {
            return;
        }
        self.heard_from_peer(cx);
        let handshake = (self.state == State::SynReceived).then_some(self.retransmits > 0);
        if self.state == State::SynReceived {
            if self.snd_una.lt(seg.ack) && seg.ack.le(self.snd_nxt) {
                // The window comes with process_ack below (SND.WL1 is the SYN's sequence
                // number, so this ACK updates it).
                self.set_state(cx, State::Established);
            } else {
                // An unacceptable ACK: <SEQ=SEG.ACK><CTL=RST>.
                cx.counters.resets_sent += 1;
                self.emit(cx, TcpFlags::RST, seg.ack, Vec::new());
                return;
            }
        }
        if !self.process_ack(cx, seg) {
            return;
        }
        if let Some(resent) = handshake {
            // Linux tcp_synack_rtt_meas: a SYN-ACK sent once is timed from when it went
            // (the block was made then), if the ACK's timestamp gave no sample.
            if !resent && self.passive && self.rtt.srtt().is_none() {
                let r = cx.now.saturating_since(self.syn_sent_at);
                self.rtt.sample(r, self.snd_una, self.snd_nxt);
            }
            self.rtt.handshake_done(resent);
        }
        if self.state == State::Closed {
            return;
        }

        // RFC 7323 §4.3: remember the newest timestamp of an in-order segment.
        if let Some(ts) = seg.options.timestamps.filter(|_| self.ts_on) {
            if Seq(ts.val).ge(Seq(self.ts_recent)) && seg.seq.le(self.last_ack_sent) {
                self.ts_recent = ts.val;
                self.ts_recent_at = cx.now;
            }
        }

        // Seventh: segment text.
        if !seg.payload.is_empty() {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    if self.orphan {
                        // RFC 1122 §4.2.2.13: data after close is lost: tell the peer.
                        cx.note(self.key, Note::DataAfterClose);
                        self.send_rst(cx);
                        self.set_state(cx, State::Closed);
                        return;
                    }
                    self.take_data(cx, seg);
                }
                _ => {} // the peer already sent FIN: ignore (RFC 9293 §3.10.7.4)
            }
        }

        // Eighth: FIN.
        if flags.contains(TcpFlags::FIN) {
            let fin_seq = seg.seq.add(seg.payload.len() as u32);
            if fin_seq == self.rcv_nxt {
                self.take_fin(cx);
            } else if fin_seq.gt(self.rcv_nxt) {
                // Ahead of a gap: Linux queues the FIN out of order like data, so it is
                // SACKed and a duplicate ACK goes at once (D-SACK if it came before).
                if self.ooo_fin == Some(fin_seq) && seg.payload.is_empty() {
                    self.set_dsack(fin_seq, fin_seq.add(1));
                    self.acks.schedule_now();
                } else {
                    self.sack_new_block(fin_seq, fin_seq.add(1));
                    self.owe_duplicate_ack();
                }
                self.ooo_fin = Some(fin_seq);
            }
            // A FIN that could not be taken yet leaves an acknowledged FIN_WAIT_1 behind.
            if self.state == State::FinWait1
                && self.fin_sent
                && self.snd_una == self.data_end().add(1)
            {
                self.set_state(cx, State::FinWait2);
            }
        }

        self.ack_check(cx);
        self.output(cx);
    }

    /// A segment from the peer passed the checks: the keep-alive clock restarts (Linux
    /// rcv_tstamp) and unanswered probes are forgotten.
    fn heard_from_peer(&mut self, cx: &Cx<'_>) {
        self.last_rcv_at = cx.now;
        self.keepalive_sent = 0;
        if self.keepalive.is_some() {
            self.rearm_keepalive(cx);
        }
    }

    /// After a segment: decide whether an owed ACK goes now or later.
    /// (`ack_now` is never set here on entry: every `output` that follows setting it sends
    /// the ACK, and `emit` clears it.)
    fn ack_check(&mut self, cx: &mut Cx<'_>) {
        if !self.acks.pending {
            return;
        }
        let since = self.unacked_received();
        let gap = !self.ooo.is_empty() || self.ooo_fin.is_some();
        let armed = self.acks.timer;
        let decision = self.acks.decide(
            cx.now,
            since,
            gap,
            self.sack_ok,
            self.rcv_nxt.0,
            self.rtt.srtt(),
        );
        if decision == AckNow::Send {
            self.ack_now = true;
        } else if let Some(at) = self.acks.timer.filter(|&at| Some(at) != armed) {
            // The delayed-ACK timer runs on the host's timer wheel. A timer kept as it was is
            // not rounded again: Linux re-arms it with the same expiry, which mod_timer leaves
            // alone, so it does not slip a tick each time a segment is checked.
            let after = at.saturating_since(cx.now);
            self.acks.timer = Some(timer_at(cx.cfg, cx.now, after));
        }
    }

    /// RFC 7323 §5.3 R1: a segment whose TSval is older than TS.Recent is a replay. Linux
    /// (tcp_paws_discard) tolerates one tick of age (TCP_PAWS_WINDOW) and exempts a
    /// reordered duplicate ACK that changes nothing (tcp_disordered_ack), so reordering
    /// alone never discards an ACK.
    fn paws_rejects(&self, cx: &Cx<'_>, seg: &Segment, tsval: u32) -> bool {
        let age = self.ts_recent.wrapping_sub(tsval) as i32;
        if !cx.cfg.paws_linux_exemptions {
            return age > 0;
        }
        if age <= 1 {
            return false;
        }
        let window = u32::from(seg.window) << self.snd_wscale;
        let disordered_ack = seg.flags.contains(TcpFlags::ACK)
            && seg.seq_len() == 0
            && seg.seq == self.rcv_nxt
            && seg.ack == self.snd_una
            && window == self.snd_wnd
            && i64::from(age) <= (self.rtt.rto().as_nanos() / 1_000_000 * 6 / 5) as i64;
        !disordered_ack
    }

    /// The four cases of the acceptability test (RFC 9293 §3.10.7.4, first step).
    fn acceptable(&self, seg: &Segment, wnd: u32) -> bool {
        let len = seg.seq_len();
        let in_window = |s: Seq| s.ge(self.rcv_nxt) && s.lt(self.rcv_nxt.add(wnd));
        match (len, wnd) {
            (0, 0) => seg.seq == self.rcv_nxt,
            (0, _) => in_window(seg.seq),
            (_, 0) => false,
            (_, _) => in_window(seg.seq) || in_window(seg.seq.add(len - 1)),
        }
    }

    /// Follows Linux (tcp_sequence) on the old side: a segment that starts before RCV.NXT is
    /// too old only when it ends before what our last ACK acknowledged (rcv_wup). So a pure
    /// ACK that crosses our pending delayed ACK is processed, not answered. Old data or an
    /// old FIN keeps the unacceptable path, whose duplicate ACK with a D-SACK is what Linux's
    /// tcp_data_queue sends for it too. (The right edge keeps RFC 9293's test.)
    fn acceptable_linux(&self, seg: &Segment, wnd: u32) -> bool {
        self.acceptable(seg, wnd)
            || (seg.seq_len() == 0 && seg.seq.lt(self.rcv_nxt) && !seg.seq.lt(self.last_ack_sent))
    }

    fn challenge_ack(&mut self, cx: &mut Cx<'_>) {
        // RFC 5961 §7: challenge ACKs are rate-limited (Linux: per connection, by
        // tcp_invalid_ratelimit).
        if !self.may_answer(cx) {
            return;
        }
        cx.counters.challenge_acks += 1;
        cx.note(self.key, Note::ChallengeAck);
        self.send_ack(cx);
    }

    /// Linux tcp_oow_rate_limited: answers to invalid segments at most once per
    /// `invalid_ratelimit`; a segment that occupies sequence space (data or a FIN) without a
    /// SYN is never part of an ACK loop and is always answered.
    fn may_answer_invalid(&mut self, cx: &mut Cx<'_>, seg: &Segment) -> bool {
        if seg.seq_len() > 0 && !seg.flags.contains(TcpFlags::SYN) {
            return true;
        }
        self.may_answer(cx)
    }

    fn may_answer(&mut self, cx: &mut Cx<'_>) -> bool {
        cx.may_answer_invalid(self.key, &mut self.last_oow_ack)
    }

    /// An acceptable RST (RFC 9293 §3.10.7.4, second step).
    fn on_reset(&mut self, cx: &mut Cx<'_>) {
        match self.state {
            State::SynReceived if self.passive => {
                self.set_state(cx, State::Listen);
            }
            State::SynReceived => {
                self.fail(cx, Errno::ConnRefused);
            }
            State::CloseWait if cx.cfg.close_wait_reset_is_epipe => {
                // Follows Linux tcp_reset: the peer already closed its side, so the error
                // left for the application is EPIPE (its next send fails), not ECONNRESET.
                self.fail(cx, Errno::BrokenPipe);
            }
            _ => {
                // ESTABLISHED, FIN_WAIT_1/2, CLOSE_WAIT; and CLOSING, LAST_ACK, where the
                // peer is gone anyway: Linux records ECONNRESET in every one.
                self.fail(cx, Errno::ConnReset);
            }
        }
    }

    /// SYN_SENT (RFC 9293 §3.10.7.3).
    fn on_segment_syn_sent(&mut self, cx: &mut Cx<'_>, seg: &Segment) {
        let flags = seg.flags;
        let ack = flags.contains(TcpFlags::ACK);
        if ack && (seg.ack.le(self.iss) || seg.ack.gt(self.snd_nxt)) {
            if !flags.contains(TcpFlags::RST) {
                cx.counters.resets_sent += 1;
                self.emit(cx, TcpFlags::RST, seg.ack, Vec::new());
            }
            return;
        }
        if flags.contains(TcpFlags::RST) {
            if ack {
                self.fail(cx, Errno::ConnRefused);
            }
            return;
        }
        if !flags.contains(TcpFlags::SYN) {
            return;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq.add(1);
        self.take_syn_options(cx, seg);
        if ack {
            self.syn_ack_accepted(cx, seg);
        } else {
            // Simultaneous open: SYN_SENT -> SYN_RECEIVED, send SYN-ACK.
            self.snd_wnd = u32::from(seg.window);
            self.snd_wl1 = seg.seq;
            self.set_state(cx, State::SynReceived);
            self.emit(cx, TcpFlags::SYN | TcpFlags::ACK, self.iss, Vec::new());
        }
    }

    /// A SYN-ACK acknowledging our SYN: take its window (RFC 7323 §2.2: a SYN's window is never
    /// scaled), move to ESTABLISHED and acknowledge it at once.
    fn syn_ack_accepted(&mut self, cx: &mut Cx<'_>, seg: &Segment) {
        self.snd_wnd = u32::from(seg.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        self.handshake_acked(cx, seg);
        self.set_state(cx, State::Established);
        self.ack_now = true;
        self.output(cx);
    }

    /// Our SYN or SYN-ACK was acknowledged: the first RTT sample, from its send time if it
    /// was sent once, else from the echoed timestamp (Karn; Linux tcp_ack_update_rtt and
    /// tcp_synack_rtt_meas).
    fn handshake_acked(&mut self, cx: &mut Cx<'_>, seg: &Segment) {
        self.snd_una = seg.ack;
        let resent = self.retransmits > 0;
        let sample = if !resent {
            Some(cx.now.saturating_since(self.syn_sent_at))
        } else {
            self.ts_rtt(cx.now, seg)
        };
        if let Some(r) = sample {
            self.rtt.sample(r, self.snd_una, self.snd_nxt);
        }
        self.rtt.handshake_done(resent);
        self.retransmits = 0;
        self.rtx_at = None;
        self.heard_from_peer(cx);
    }

    /// The RTT a segment's echoed timestamp shows (RFC 7323 §4.1), at least one tick of the
    /// timestamp clock (Linux tcp_rtt_tsopt_us).
    fn ts_rtt(&self, now: SimTime, seg: &Segment) -> Option<SimDuration> {
        let ts = seg.options.timestamps.filter(|_| self.ts_on)?;
        if ts.ecr == 0 {
            return None;
        }
        // Linux tcp_ack_update_rtt: a delta of INT_MAX / 1000 ms (35.8 minutes) or more is
        // no sample (an echo from the future, or not ours).
        let ms = self.ts_now(now).wrapping_sub(ts.ecr);
        if ms >= i32::MAX as u32 / 1000 {
            return None;
        }
        Some(SimDuration::from_millis(u64::from(ms.max(1))))
    }

    /// The ACK field in a synchronised state (RFC 9293 §3.10.7.4, fifth step; RFC 5961 §5;
    /// then loss detection and congestion control: RFC 5681, 6582, 6675, 6937, 8985, in
    /// the order of Linux tcp_ack). Returns false if the segment must be dropped.
    fn process_ack(&mut self, cx: &mut Cx<'_>, seg: &Segment) -> bool {
        let ack = seg.ack;
        if ack.gt(self.snd_nxt) {
            // Acknowledges something not yet sent: RFC 9293 says ACK and drop. Linux drops it
            // without an answer (tcp_ack, ACK_UNSENT_DATA), so two endpoints that disagree on
            // sequence numbers cannot keep ACKing each other forever.
            if cx.cfg.invalid_ratelimit.is_none() {
                self.send_ack(cx);
            }
            return false;
        }
        // RFC 5961 §5.2: an ACK far below SND.UNA is suspicious: challenge and drop.
        let floor = self.snd_una.add(0u32.wrapping_sub(self.max_snd_wnd.max(1)));
        if ack.lt(floor) {
            self.challenge_ack(cx);
            return false;
        }
        let window = u32::from(seg.window) << self.snd_wscale;
        let advanced = ack.gt(self.snd_una);
        // Linux's FLAG_NOT_DUP: the ACK acknowledged something, carried data or changed the
        // window. Without it (and without SYN or FIN) the ACK repeats the last one.
        let repeats = !advanced
            && ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            && window == self.snd_wnd;
        // RFC 5681 §2's duplicate ACK also needs data outstanding.
        let duplicate = repeats && !self.rtx.is_empty();
        // Window update (SND.WL1/WL2 rule).
        if self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(ack)) {
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
        }
        let mut d = Delivered::default();
        if advanced {
            self.snd_una_advanced(cx, ack, &mut d);
        }
        if self.sack_ok && !seg.options.sack.is_empty() {
            let min_rtt = self.rtt.min_rtt();
            self.rtx.sack(
                seg.options.sack.as_slice(),
                self.snd_una,
                self.snd_nxt,
                cx.now,
                min_rtt,
                &mut d,
            );
        }
        self.rtt_from_ack(cx, seg, &d, advanced);
        if self.tlp_high_seq.is_some() {
            self.process_tlp_ack(cx, ack, repeats, &d);
        }
        if !self.sack_ok {
            self.count_reno_sacks(&mut d, advanced, duplicate);
        }
        let rearm = self.recover(cx, advanced, duplicate);
        if self.ca == CaState::Recovery {
            self.prr(d.delivered, advanced);
        } else if advanced {
            self.grow_cwnd(cx.cfg, d.acked);
        }
        if advanced {
            if self.rtx.is_empty() {
                self.rtx_at = None;
            } else if rearm {
                self.set_xmit_timer(cx);
            }
        }
        // FIN acknowledged?
        let fin_acked = self.fin_sent && self.snd_una == self.data_end().add(1);
        match self.state {
            // With a FIN in the same segment RFC 9293's diagram goes FIN_WAIT_1 -> TIME_WAIT
            // directly; the eighth step does that (see `take_fin`). Linux
            // (tcp_rcv_state_process) takes the ACK first, FIN_WAIT_1 -> FIN_WAIT_2, then the
            // FIN moves it on to TIME_WAIT.
            State::FinWait1
                if fin_acked
                    && (!seg.flags.contains(TcpFlags::FIN) || cx.cfg.fin_wait_1_acks_first) =>
            {
                self.set_state(cx, State::FinWait2)
            }
            State::Closing if fin_acked => self.time_wait(cx),
            State::LastAck if fin_acked => {
                self.set_state(cx, State::Closed);
                return false;
            }
            _ => {}
        }
        true
    }

    /// SND.UNA moves forward: free acknowledged data, clear the scoreboard up to it, end the
    /// back-off's count and wake a writer.
    fn snd_una_advanced(&mut self, cx: &mut Cx<'_>, ack: Seq, d: &mut Delivered) {
        let min_rtt = self.rtt.min_rtt();
        self.rtx.ack(ack, cx.now, min_rtt, d);
        self.snd_una = ack;
        let data_acked = ack.diff(self.data_base).max(0) as usize;
        let drop = data_acked.min(self.snd_buf.len());
        self.snd_buf.drain(..drop);
        self.data_base = self.data_base.add(drop as u32);
        self.retransmits = 0;
        self.retrans_stamp = None;
        self.persist_backoff = 0;
        if let Some(s) = self.socket {
            if drop > 0 {
                cx.app.push(SocketEvent::Writable(s));
            }
        }
    }

    /// An RTT sample from this ACK, if it gives one (see [`RtoRules`]).
    fn rtt_from_ack(&mut self, cx: &Cx<'_>, seg: &Segment, d: &Delivered, advanced: bool) {
        let now = cx.now;
        let sample = match cx.cfg.rto_rules {
            // Linux tcp_ack_update_rtt: the send time of the oldest newly acknowledged
            // original transmission, else of a newly SACKed one, else the timestamp echo
            // (which also times retransmitted data: RFC 7323 §4).
            RtoRules::Linux => d
                .rtt_from
                .filter(|_| !d.retrans_acked)
                .or(d.sack_rtt_from)
                .map(|t| now.saturating_since(t))
                .or_else(|| {
                    if advanced {
                        self.ts_rtt(now, seg)
                    } else {
                        None
                    }
                }),
            // RFC 7323 §4.1 with timestamps, else the one timed segment (RFC 6298 §3).
            RtoRules::Rfc6298 => {
                let timed = match self.rtt_timed {
                    Some((end, at)) if self.snd_una.ge(end) => {
                        self.rtt_timed = None;
                        Some(now.saturating_since(at))
                    }
                    _ => None,
                };
                if advanced && self.ts_on {
                    self.ts_rtt(now, seg)
                } else {
                    timed
                }
            }
        };
        if let Some(r) = sample {
            self.rtt.sample(r, self.snd_una, self.snd_nxt);
        }
    }

    /// Loss detection and the recovery state machine (RFC 5681 §3.2, RFC 6582, RFC 6675
    /// §5, RFC 8985 §6; Linux tcp_fastretrans_alert). Returns false when RACK armed its
    /// reordering timer, which then owns the timer slot.
    fn recover(&mut self, cx: &mut Cx<'_>, advanced: bool, duplicate: bool) -> bool {
        // Exits: the whole window that was outstanding at the loss is acknowledged.
        if self.ca != CaState::Open && self.snd_una.ge(self.high_seq) && advanced {
            if self.ca == CaState::Recovery {
                // Linux tcp_end_cwnd_reduction (RFC 6937: cwnd = ssthresh at the end).
                self.cwnd = self.ssthresh.max(u32::from(self.snd_mss));
            }
            self.ca = CaState::Open;
            self.dupacks = 0;
            self.reno_sacked = 0;
        }
        let mut rearm = true;
        if !self.sack_ok {
            // NewReno (RFC 6582): three duplicates, or a partial ACK in recovery, mark the
            // first unacknowledged segment lost.
            if advanced {
                self.dupacks = 0;
            } else if duplicate {
                self.dupacks += 1;
            }
            let partial = self.ca == CaState::Recovery && advanced;
            if partial || (self.ca == CaState::Open && self.dupacks >= DUP_THRESH) {
                self.rtx.mark_head_lost();
            }
        } else if cx.cfg.rack {
            if self.rtx.rack_advanced() {
                let reo_wnd = self.rack_reo_wnd();
                let (_, wait) = self.rtx.rack_detect(cx.now, reo_wnd);
                if let Some(w) = wait {
                    self.arm_reorder(cx, w);
                    rearm = false;
                }
            }
        } else {
            self.rtx.mark_lost_by_dupthresh();
        }
        // Linux tcp_time_to_recover: a segment is marked lost. (Without RACK, DupThresh
        // segments SACKed, RFC 6675 §5, which the marking above turns into a lost head: the
        // segment at SND.UNA is never SACKed. With RACK the SACKs count only through the
        // marks RACK makes: its reordering window is zero once DupThresh are SACKed, unless
        // reordering was seen.)
        let lost = self.rtx.lost_out() > 0;
        if self.ca == CaState::Open && lost && !self.rtx.is_empty() {
            let how = if self.sack_ok {
                Recovered::Sack
            } else {
                Recovered::DupAcks
            };
            self.enter_recovery(cx, how);
        }
        rearm
    }

    /// Without SACK, duplicate ACKs count as delivered segments (Linux tcp_add_reno_sack);
    /// a cumulative ACK covers the hole plus the segments the duplicates stood for
    /// (tcp_remove_reno_sacks).
    fn count_reno_sacks(&mut self, d: &mut Delivered, advanced: bool, duplicate: bool) {
        let mss = u32::from(self.snd_mss);
        let outstanding = self.rtx.len() as u32;
        if duplicate && self.reno_sacked + 1 < outstanding.max(1) {
            self.reno_sacked += 1;
            d.delivered += mss;
        }
        if advanced {
            let acked = d.acked.div_ceil(mss.max(1));
            let eaten = acked.saturating_sub(1).min(self.reno_sacked);
            self.reno_sacked -= eaten;
            d.delivered = d.delivered.saturating_sub(eaten * mss);
            if self.rtx.is_empty() {
                self.reno_sacked = 0;
            }
        }
    }

    /// RACK's reordering window (Linux tcp_rack_reo_wnd): none while recovering or with
    /// DupThresh SACKs in hand and no reordering seen, else a quarter of the minimum RTT,
    /// at most SRTT.
    fn rack_reo_wnd(&self) -> SimDuration {
        if !self.rtx.rack.reordering_seen
            && (self.ca != CaState::Open || self.rtx.sacked_out() >= DUP_THRESH)
        {
            return SimDuration::ZERO;
        }
        let quarter = self.rtt.min_rtt().unwrap_or(SimDuration::ZERO) / 4;
        quarter.min(self.rtt.srtt().unwrap_or(SimDuration::ZERO))
    }

    /// Fast recovery begins (RFC 6582 §3.2 step 2, RFC 6675 §5; Linux tcp_enter_recovery):
    /// remember SND.NXT, drop ssthresh, start PRR (RFC 6937).
    fn enter_recovery(&mut self, cx: &mut Cx<'_>, how: Recovered) {
        cx.counters.recoveries += 1;
        match how {
            Recovered::DupAcks => cx.note(self.key, Note::FastRetransmit),
            Recovered::Sack => {
                cx.counters.sack_recoveries += 1;
                cx.note(self.key, Note::SackRecovery);
            }
        }
        self.rtt_timed = None;
        self.high_seq = self.snd_nxt;
        self.prior_cwnd = self.cwnd.max(1);
        self.ssthresh = self.loss_ssthresh(cx.cfg);
        self.prr_delivered = 0;
        self.prr_out = 0;
        self.ca = CaState::Recovery;
        self.tlp_high_seq = None;
    }

    /// Proportional rate reduction (RFC 6937 §3; Linux tcp_cwnd_reduction): while the pipe
    /// is above ssthresh send in proportion to what is delivered, below it catch up by at
    /// most what is delivered plus one segment; the first ACK always lets one segment out.
    fn prr(&mut self, delivered: u32, advanced: bool) {
        if delivered == 0 {
            return;
        }
        let mss = u64::from(self.snd_mss);
        self.prr_delivered += delivered;
        let pipe = u64::from(self.pipe());
        let ssthresh = u64::from(self.ssthresh);
        let (prr_delivered, prr_out) = (u64::from(self.prr_delivered), u64::from(self.prr_out));
        let mut sndcnt: i64 = if pipe > ssthresh {
            let prior = u64::from(self.prior_cwnd);
            ((ssthresh * prr_delivered).div_ceil(prior) as i64) - prr_out as i64
        } else {
            let mut limit = (prr_delivered as i64 - prr_out as i64).max(i64::from(delivered));
            if advanced {
                limit += mss as i64;
            }
            limit.min(ssthresh as i64 - pipe as i64)
        };
        if self.prr_out == 0 {
            sndcnt = sndcnt.max(mss as i64);
        }
        self.cwnd = (pipe as i64 + sndcnt.max(0)) as u32;
    }

    /// cwnd growth for acknowledged data outside recovery (RFC 5681 §3.1, or Linux
    /// tcp_reno_cong_avoid).
    fn grow_cwnd(&mut self, cfg: &TcpConfig, acked: u32) {
        let mss = u32::from(self.snd_mss);
        match cfg.congestion {
            Congestion::NewReno => {
                if self.cwnd < self.ssthresh {
                    self.cwnd = self.cwnd.saturating_add(acked.min(mss));
                } else {
                    self.cwnd = self
                        .cwnd
                        .saturating_add((mss * mss / self.cwnd.max(1)).max(1));
                }
            }
            Congestion::LinuxReno => {
                // tcp_slow_start: one segment per segment acknowledged, up to ssthresh.
                let grow = acked.min(self.ssthresh.saturating_sub(self.cwnd));
                self.cwnd += grow;
                // tcp_cong_avoid_ai with w = cwnd as it was: what is left (something only
                // once cwnd reached ssthresh) counts towards one segment per window of
                // acknowledged data; credit left over from a larger window goes first, as
                // one segment.
                let w = self.cwnd.max(1);
                if self.cwnd_acked >= w {
                    self.cwnd_acked = 0;
                    self.cwnd += mss;
                }
                self.cwnd_acked += acked - grow;
                if self.cwnd_acked >= w {
                    let delta = self.cwnd_acked / w;
                    self.cwnd_acked -= delta * w;
                    self.cwnd += delta * mss;
                }
            }
        }
    }

    /// Linux tcp_process_tlp_ack (RFC 8985 §7.4): the probe's outcome. An ACK beyond the
    /// SND.NXT of a resent probe means the probe repaired a loss: reduce cwnd once (CWR).
    /// The ACK of the probe itself is not beyond it: the episode stays open (and no other
    /// probe goes) until later data is acknowledged.
    fn process_tlp_ack(&mut self, cx: &Cx<'_>, ack: Seq, repeats: bool, d: &Delivered) {
        let Some(high) = self.tlp_high_seq else {
            return;
        };
        if ack.lt(high) {
            return;
        }
        if !self.tlp_retrans || d.dsack {
            // New data probed, or the peer had the original too: no loss.
            self.tlp_high_seq = None;
        } else if ack.gt(high) {
            self.tlp_high_seq = None;
            self.ssthresh = self.loss_ssthresh(cx.cfg);
            self.cwnd = self.ssthresh;
        } else if repeats && d.sacked == 0 {
            // A pure duplicate (nothing acknowledged or newly SACKed, no data, the same
            // window): the probe and the original both arrived, and the peer sends no
            // D-SACK. No loss.
            self.tlp_high_seq = None;
        }
    }

    /// Records a D-SACK block for the next ACK (RFC 2883 §4; Linux tcp_dsack_set).
    fn set_dsack(&mut self, left: Seq, right: Seq) {
        if self.sack_ok && left.lt(right) {
            self.dsack = Some((left, right));
        }
    }

    /// Out-of-order data `[left, right)` arrived: the block holding it goes first (RFC 2018
    /// §4; Linux tcp_sack_new_ofo_skb), merged with any block it touches.
    fn sack_new_block(&mut self, left: Seq, right: Seq) {
        if !self.sack_ok {
            return;
        }
        let (mut l, mut r) = (left, right);
        self.rcv_sacks.retain(|&(bl, br)| {
            let touches = bl.le(r) && l.le(br);
            if touches {
                if bl.lt(l) {
                    l = bl;
                }
                if br.gt(r) {
                    r = br;
                }
            }
            !touches
        });
        self.rcv_sacks.insert(0, (l, r));
        self.rcv_sacks.truncate(netsim_core::SACK_BLOCKS_MAX);
    }

    /// In-order (or out-of-order) data (RFC 9293 §3.10.7.4, seventh step).
    fn take_data(&mut self, cx: &mut Cx<'_>, seg: &Segment) {
        let wnd = self.rcv_wnd(cx.cfg);
        let Ok(skip) = usize::try_from(self.rcv_nxt.diff(seg.seq)) else {
            return self.take_ahead_of_gap(seg, wnd);
        };
        // Starts at or before RCV.NXT: take the new part that fits the window; the part
        // before RCV.NXT we had already (a D-SACK of it, Linux tcp_data_queue's partial
        // packet; an empty block when it starts at RCV.NXT is no block). It ends after
        // RCV.NXT: the first step answers data that is all old (a D-SACK and quick ACKs,
        // as Linux's tcp_data_queue does for it) and never passes it here.
        self.set_dsack(seg.seq, self.rcv_nxt);
        let fresh = &seg.payload[skip.min(seg.payload.len())..];
        let take = fresh.len().min(wnd as usize);
        self.rcv_buf.extend(&fresh[..take]);
        self.rcv_nxt = self.rcv_nxt.add(take as u32);
        let had_gap = !self.ooo.is_empty();
        let mut more = Vec::new();
        self.ooo.pop_ready(self.rcv_nxt, &mut more);
        self.rcv_nxt = self.rcv_nxt.add(more.len() as u32);
        self.rcv_buf.extend(more);
        // RFC 2018 §4: blocks now below RCV.NXT are reported no more.
        let rcv_nxt = self.rcv_nxt;
        self.rcv_sacks.retain(|&(l, _)| l.gt(rcv_nxt));
        // Linux tcp_incr_quickack sizes the quota by the window offered before this data.
        // A full-sized segment is one of our own effective MSS (the timestamps option
        // taken off), as RFC 5681 §4.2's "full-sized" means.
        let full = u32::from(self.snd_mss);
        self.acks
            .data_received(cx.now, take as u32, full, self.rtt.rto(), wnd);
        // RFC 5681 §4.2: a filled gap is acknowledged at once.
        if had_gap && self.ooo.is_empty() {
            self.acks.schedule_now();
        }
        self.grow_window(cx.cfg, take as u32);
        if let Some(s) = self.socket {
            cx.app.push(SocketEvent::Readable(s));
        }
        if self.ooo_fin == Some(self.rcv_nxt) {
            self.ooo_fin = None;
            self.take_fin(cx);
        }
    }

    /// Data ahead of a gap: keep it and report it (RFC 5681 §4.2: a duplicate ACK at once;
    /// RFC 2018: with a SACK block). Data already held is a D-SACK (RFC 2883).
    fn take_ahead_of_gap(&mut self, seg: &Segment, wnd: u32) {
        let end = seg.seq.add(seg.payload.len() as u32);
        let held = self
            .rcv_sacks
            .iter()
            .any(|&(l, r)| seg.seq.ge(l) && end.le(r));
        self.ooo.insert(seg.seq, &seg.payload, self.rcv_nxt, wnd);
        if held {
            self.set_dsack(seg.seq, end);
        } else {
            self.sack_new_block(seg.seq, end);
        }
        self.owe_duplicate_ack();
    }

    /// Something arrived ahead of a gap: a duplicate ACK is owed. Without SACK it goes at
    /// once (RFC 5681 §4.2); with SACK the ACK scheduler decides (Linux compresses the fourth
    /// and later duplicates for one RCV.NXT).
    fn owe_duplicate_ack(&mut self) {
        self.acks.schedule();
        if !self.sack_ok {
            self.acks.schedule_now();
        }
    }

    /// Linux tcp_grow_window: each data segment of 128 bytes or more lets the offered window
    /// grow by two segments, up to the buffer.
    fn grow_window(&mut self, cfg: &TcpConfig, len: u32) {
        if cfg.window_rules == WindowRules::Linux && len >= 128 {
            let incr = (2 * u32::from(cfg.mss)).max(2 * len);
            self.rcv_wnd_limit = self.rcv_wnd_limit.saturating_add(incr).min(cfg.rcv_buf);
        }
    }

    /// The peer's FIN, in order (RFC 9293 §3.10.7.4, eighth step). Follows Linux tcp_fin on
    /// when to acknowledge it: at once from FIN_WAIT_1/2, otherwise it waits like data (and
    /// Linux enters ping-pong mode), so an application that closes at once sends FIN and ACK
    /// in one segment.
    fn take_fin(&mut self, cx: &mut Cx<'_>) {
        self.rcv_nxt = self.rcv_nxt.add(1);
        self.fin_received = true;
        if matches!(self.state, State::FinWait1 | State::FinWait2) {
            self.acks.schedule_now();
        } else if matches!(self.state, State::SynReceived | State::Established) {
            self.acks.fin_received();
        } else {
            self.acks.schedule();
        }
        // Linux tcp_fin: out-of-order data beyond the FIN is dropped, SACK blocks with it.
        self.rcv_sacks.clear();
        if let Some(s) = self.socket {
            cx.app.push(SocketEvent::PeerClosed(s));
        }
        match self.state {
            State::SynReceived | State::Established => self.set_state(cx, State::CloseWait),
            State::FinWait1 => {
                let fin_acked = self.fin_sent && self.snd_una == self.data_end().add(1);
                if fin_acked {
                    self.time_wait(cx);
                } else {
                    self.set_state(cx, State::Closing);
                }
            }
            State::FinWait2 => self.time_wait(cx),
            _ => {}
        }
        if matches!(self.state, State::TimeWait | State::Closed) {
            // The block is about to become a TIME_WAIT entry (or is done): send the ACK now.
            self.send_ack(cx);
        }
    }

    /// Both FINs are in and ours is acknowledged: TIME_WAIT. Follows Linux tcp_time_wait when
    /// the table is full (`max_time_wait`, tcp_max_tw_buckets): inet_twsk_alloc fails and the
    /// socket is simply done (tcp_done), so it goes to CLOSED and never shows TIME_WAIT.
    fn time_wait(&mut self, cx: &mut Cx<'_>) {
        if cx.time_wait_full {
            cx.counters.time_wait_overflows += 1;
            cx.note(self.key, Note::TimeWaitOverflow);
            self.set_state(cx, State::Closed);
        } else {
            self.set_state(cx, State::TimeWait);
        }
    }
}

/// How fast recovery was entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recovered {
    /// Three duplicate ACKs (no SACK).
    DupAcks,
    /// SACK blocks (RACK or RFC 6675).
    Sack,
}

/// Linux tcp_model_timeout: how long `boundary` retransmissions take when the RTO starts at
/// `rto_base` and doubles up to `rto_max`.
fn model_timeout(boundary: u32, rto_base: SimDuration, rto_max: SimDuration) -> SimDuration {
    let ratio = (rto_max.as_nanos() / rto_base.as_nanos().max(1)).max(1);
    let thresh = 63 - ratio.leading_zeros(); // ilog2
    let base = rto_base.as_nanos();
    let ns = if boundary <= thresh {
        ((2u64 << boundary) - 1) * base
    } else {
        ((2u64 << thresh) - 1) * base + u64::from(boundary - thresh) * rto_max.as_nanos()
    };
    SimDuration::from_nanos(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7323 §2.3: the smallest shift whose scaled 16-bit field covers the buffer, at
    /// most 14.
    #[test]
    fn window_scale_is_the_smallest_shift_that_fits_at_most_14() {
        let cases = [
            (0, 0),
            (65_535, 0),
            (65_536, 1),
            (131_071, 1),
            (131_072, 2),
            (6 << 20, 7),
            (0xFFFF << 14, 14),
            ((0xFFFF << 14) + 1, 14),
            (u32::MAX, 14),
        ];
        for (buf, shift) in cases {
            assert_eq!(wscale_for(buf), shift, "{buf}");
        }
    }

    /// A blank block with a 1 000-byte MSS and the given cwnd and ssthresh in segments.
    fn sender(cwnd_segments: u32, ssthresh_segments: u32) -> Tcb {
        let cfg = TcpConfig::linux();
        let key = ConnKey {
            local: std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 1), 1),
            remote: std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 2), 2),
        };
        let mut tcb = Tcb::blank(key, &cfg, Seq(0), 0, SimTime::ZERO);
        tcb.snd_mss = 1000;
        tcb.cwnd = cwnd_segments * 1000;
        tcb.ssthresh = ssthresh_segments * 1000;
        tcb
    }

    /// Without SACK (Linux tcp_add_reno_sack, tcp_limit_reno_sacked, tcp_remove_reno_sacks):
    /// each duplicate ACK counts one segment delivered, while the count stays below the
    /// segments outstanding (one of them is the hole); a cumulative ACK of k segments counts
    /// max(k − duplicates, 1) delivered, as the duplicates already counted all but the hole.
    #[test]
    fn duplicate_acks_without_sack_count_as_delivered_segments() {
        let mut t = sender(10, 10);
        for i in 0..4u32 {
            t.rtx
                .push(Seq(i * 1000), Seq((i + 1) * 1000), false, SimTime::ZERO);
        }
        let mut delivered = Vec::new();
        for _ in 0..5 {
            let mut d = Delivered::default();
            t.count_reno_sacks(&mut d, false, true);
            delivered.push(d.delivered);
        }
        assert_eq!(delivered, [1000, 1000, 1000, 0, 0], "4 out: 3 at most");
        assert_eq!(t.reno_sacked, 3);
        let cumulative = |t: &mut Tcb, segments: u32| {
            let mut d = Delivered {
                acked: segments * 1000,
                delivered: segments * 1000,
                ..Delivered::default()
            };
            t.count_reno_sacks(&mut d, true, false);
            (d.delivered, t.reno_sacked)
        };
        assert_eq!(
            cumulative(&mut t, 2),
            (1000, 2),
            "the hole, and one taken back"
        );
        assert_eq!(cumulative(&mut t, 5), (3000, 0), "5 - 2 counted before");
        assert_eq!(cumulative(&mut t, 1), (1000, 0), "at least the hole");
    }

    /// Linux tcp_ack_update_rtt: an echoed timestamp gives an RTT sample of the clock's
    /// advance since, at least 1 ms, if it is below INT_MAX / 1000 ms; an echo of 0, from
    /// the future, or older than that gives none.
    #[test]
    fn an_echoed_timestamp_gives_a_sample_only_within_linux_bounds() {
        let mut t = sender(10, 10);
        t.ts_on = true;
        t.ts_offset = 5_000;
        let now = SimTime::ZERO + SimDuration::from_secs(3);
        let clock = t.ts_now(now);
        let echo = |ecr: u32| Segment {
            options: TcpOptions {
                timestamps: Some(Timestamps { val: 1, ecr }),
                ..TcpOptions::default()
            },
            ..Segment::default()
        };
        let ms = |n: u64| Some(SimDuration::from_millis(n));
        let bound = i32::MAX as u32 / 1000;
        assert_eq!(t.ts_rtt(now, &echo(clock - 40)), ms(40));
        assert_eq!(t.ts_rtt(now, &echo(clock)), ms(1), "at least 1 ms");
        assert_eq!(
            t.ts_rtt(now, &echo(clock.wrapping_sub(bound - 1))),
            ms(u64::from(bound - 1))
        );
        assert_eq!(
            t.ts_rtt(now, &echo(clock.wrapping_sub(bound))),
            None,
            "too old"
        );
        assert_eq!(t.ts_rtt(now, &echo(clock + 1)), None, "from the future");
        assert_eq!(t.ts_rtt(now, &echo(0)), None, "no echo");
        t.ts_on = false;
        assert_eq!(
            t.ts_rtt(now, &echo(clock - 40)),
            None,
            "timestamps not agreed"
        );
    }

    /// Linux tcp_model_timeout: the time `boundary` retransmissions take with an RTO of
    /// `base` doubling up to `max`: (2^(b+1) − 1) · base while the doubling stays below
    /// max, then max for each one after. tcp_retries2 = 15 from 200 ms: 924.6 s.
    #[test]
    fn the_retransmission_budget_is_linux_tcp_model_timeout() {
        let (base, max) = (SimDuration::from_millis(200), SimDuration::from_secs(120));
        let secs = |s: f64| SimDuration::from_nanos((s * 1e9).round() as u64);
        assert_eq!(model_timeout(3, base, max), secs(3.0));
        assert_eq!(
            model_timeout(9, base, max),
            secs(204.6),
            "up to ilog2(600) = 9"
        );
        assert_eq!(model_timeout(10, base, max), secs(324.6));
        assert_eq!(model_timeout(15, base, max), secs(924.6));
        assert_eq!(model_timeout(0, base, max), base);
    }

    /// RFC 5681 §3.1 (NewReno): slow start adds at most an SMSS per ACK while cwnd <
    /// ssthresh; from cwnd = ssthresh on, congestion avoidance adds SMSS² / cwnd per ACK.
    /// Linux tcp_slow_start and tcp_cong_avoid_ai: slow start adds what was acknowledged up
    /// to ssthresh, the rest counts towards one segment per window acknowledged.
    #[test]
    fn cwnd_grows_by_slow_start_then_congestion_avoidance() {
        let reno = TcpConfig {
            congestion: Congestion::NewReno,
            ..TcpConfig::linux()
        };
        let mut t = sender(2, 4);
        t.grow_cwnd(&reno, 3000);
        assert_eq!(t.cwnd, 3000, "slow start: one SMSS for an ACK of three");
        t.grow_cwnd(&reno, 1000);
        assert_eq!(t.cwnd, 4000);
        t.grow_cwnd(&reno, 1000);
        assert_eq!(t.cwnd, 4250, "at ssthresh: SMSS * SMSS / cwnd");

        let linux = TcpConfig::linux();
        let mut t = sender(2, 4);
        // (bytes acknowledged, (cwnd, credit) after it, why)
        for (acked, after, why) in [
            (3000, (4000, 1000), "to ssthresh, the rest counted"),
            (3000, (5000, 0), "a window acknowledged: +1"),
            (
                11_000,
                (7000, 1000),
                "11 acknowledged at w = 5: +2 (divided by the window as it was), 1 left",
            ),
            (0, (7000, 1000), "nothing acknowledged"),
        ] {
            t.grow_cwnd(&linux, acked);
            assert_eq!((t.cwnd, t.cwnd_acked), after, "{why}");
        }
        // Credit gathered at a larger window (cwnd since reduced) counts as one segment
        // only, then what this ACK acknowledged counts from zero.
        t.cwnd = 5000;
        t.cwnd_acked = 8000;
        t.grow_cwnd(&linux, 6000);
        assert_eq!(
            (t.cwnd, t.cwnd_acked),
            (7000, 1000),
            "+1 for the credit, +1 for 6 at w = 5"
        );
    }

    /// Linux's timer wheel at HZ 250: whole jiffies rounded up, then the expiry down to the
    /// level's granule plus one granule; beyond 63 << 24 jiffies the timeout is cut to
    /// 62 << 24.
    #[test]
    fn timers_land_on_the_wheel_as_linux_puts_them() {
        let cfg = TcpConfig::linux();
        let tick = cfg.timer_tick.as_nanos();
        assert_eq!(tick, 4_000_000);
        let at = |jiffies: u64| SimTime::from_nanos(jiffies * tick);
        let after = |jiffies: u64| SimDuration::from_nanos(jiffies * tick);
        let now = at(1000);
        // Level 0 (below 63 jiffies): the next jiffy after the timeout.
        assert_eq!(timer_at(&cfg, now, after(10)), at(1011));
        assert_eq!(timer_at(&cfg, now, SimDuration::from_nanos(1)), at(1002));
        // Level 1 (granule 8): 1000 + 63 = 1063, down to the granule (1056), plus one: 1064.
        assert_eq!(timer_at(&cfg, now, after(63)), at(1064));
        assert_eq!(timer_at(&cfg, now, after(64)), at(1072));
        // Level 2 (granule 64), from 504 jiffies: 1504 → 1472 + 64.
        assert_eq!(timer_at(&cfg, now, after(504)), at(1536));
        assert_eq!(timer_at(&cfg, now, after(503)), at(1504));
        // The last level (granule 1 << 24), and the cut beyond it.
        let top = |j: u64| ((j >> 24) + 1) << 24;
        assert_eq!(
            timer_at(&cfg, now, after(62 << 24)),
            at(top(1000 + (62 << 24)))
        );
        for beyond in [63 << 24, 100 << 24, 1 << 40] {
            assert_eq!(
                timer_at(&cfg, now, after(beyond)),
                at(top(1000 + (62 << 24))),
                "{beyond}"
            );
        }
        // Without a tick: exact.
        let exact = TcpConfig {
            timer_tick: SimDuration::ZERO,
            ..TcpConfig::linux()
        };
        assert_eq!(timer_at(&exact, now, after(63)), at(1063));
    }
}
