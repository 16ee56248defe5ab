//! One connection's transmission control block (RFC 9293 §3.3.1) and the event processing of
//! §3.10: segment arrival, user calls, timeouts. Sans-IO: each entry point gets the current
//! time and a [`Cx`] to write segments and events into; nothing here reads a clock, a link or
//! a random source. Every state change goes through [`Tcb::set_state`], which checks it
//! against the RFC's diagram.
//!
//! TIME_WAIT is not kept here: the stack turns a block that reaches TIME_WAIT into a compact
//! [`crate::timewait::TimeWait`] entry.

use std::collections::VecDeque;

use netsim_core::{Packet, Segment, Seq, SimDuration, SimTime, TcpFlags, TcpOptions, Timestamps};

use crate::config::TcpConfig;
use crate::errno::Errno;
use crate::event::{ConnKey, Note, Resent, SocketEvent, SocketId, TcpEvent};
use crate::reassembly::Reassembly;
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
/// Clock granularity G of RFC 6298 §2 (the timestamp clock ticks in milliseconds).
const CLOCK_GRANULARITY: SimDuration = SimDuration::from_millis(1);
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

    // Send sequence space (RFC 9293 §3.3.1).
    pub iss: Seq,
    snd_una: Seq,
    pub snd_nxt: Seq,
    /// Highest sequence number sent so far (SND.NXT can be pulled back by a timeout).
    snd_max: Seq,
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

    // Receive sequence space.
    pub irs: Seq,
    pub rcv_nxt: Seq,
    rcv_buf: VecDeque<u8>,
    ooo: Reassembly,
    /// Sequence number of a FIN that arrived ahead of a gap.
    ooo_fin: Option<Seq>,
    pub fin_received: bool,
    last_ack_sent: Seq,

    // Options.
    snd_mss: u16,
    snd_wscale: u8,
    rcv_wscale: u8,
    pub ts_on: bool,
    pub ts_recent: u32,
    pub ts_recent_at: SimTime,
    pub ts_offset: u32,

    // Retransmission (RFC 6298).
    srtt: Option<SimDuration>,
    rttvar: SimDuration,
    rto: SimDuration,
    rtt_sample: Option<(Seq, SimTime)>,
    retries: u32,

    // Congestion control (RFC 5681, RFC 6582).
    cwnd: u32,
    ssthresh: u32,
    dupacks: u32,
    recover: Seq,
    in_recovery: bool,

    // Acknowledgments.
    ack_now: bool,
    /// When the last answer to an invalid segment went out (Linux last_oow_ack_time).
    last_oow_ack: Option<SimTime>,
    unacked_segments: u32,

    // Timers: when each is due, if armed.
    rtx_at: Option<SimTime>,
    persist_at: Option<SimTime>,
    persist_backoff: u32,
    delack_at: Option<SimTime>,
    fin_wait_2_at: Option<SimTime>,

    /// An error the application has not seen yet.
    pub error: Option<Errno>,
}

/// How an incoming segment ended for this block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// Keep the block.
    Keep,
    /// A passive open was reset in SYN_RECEIVED: the block is gone, the listener stays.
    BackToListen,
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
            snd_max: iss,
            snd_sml: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: Seq(0),
            snd_buf: VecDeque::new(),
            data_base: iss.add(1),
            fin_queued: false,
            fin_sent: false,
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_buf: VecDeque::new(),
            ooo: Reassembly::default(),
            ooo_fin: None,
            fin_received: false,
            last_ack_sent: Seq(0),
            snd_mss: DEFAULT_MSS,
            snd_wscale: 0,
            rcv_wscale: 0,
            ts_on: false,
            ts_recent: 0,
            ts_recent_at: now,
            ts_offset,
            srtt: None,
            rttvar: SimDuration::ZERO,
            rto: cfg.rto_initial,
            rtt_sample: None,
            retries: 0,
            cwnd: 0,
            ssthresh: u32::MAX,
            dupacks: 0,
            recover: iss,
            in_recovery: false,
            ack_now: false,
            last_oow_ack: None,
            unacked_segments: 0,
            rtx_at: None,
            persist_at: None,
            persist_backoff: 0,
            delack_at: None,
            fin_wait_2_at: None,
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
            wscale_for(cx.cfg.rcv_buf)
        } else {
            0
        };
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
        tcb.snd_wnd = u32::from(syn.window);
        tcb.snd_wl1 = syn.seq;
        tcb.snd_wl2 = syn.ack;
        tcb.set_state(cx, State::SynReceived);
        tcb.send_syn(cx, true);
        tcb
    }

    /// Options of the peer's SYN: MSS (RFC 9293 §3.7.1), window scale and timestamps (RFC
    /// 7323), each used only if both sides offered it.
    fn take_syn_options(&mut self, cx: &Cx<'_>, syn: &Segment) {
        let o = &syn.options;
        let peer_mss = o.mss.unwrap_or(DEFAULT_MSS);
        match (cx.cfg.window_scale, o.window_scale) {
            (true, Some(shift)) => {
                self.snd_wscale = shift.min(MAX_WSCALE);
                self.rcv_wscale = wscale_for(cx.cfg.rcv_buf);
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.ts_on = cx.cfg.timestamps && o.timestamps.is_some();
        if let Some(ts) = o.timestamps.filter(|_| self.ts_on) {
            self.ts_recent = ts.val;
            self.ts_recent_at = cx.now;
        }
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
        if from == to {
            return;
        }
        if !from.can_become(to) {
            cx.events.push(TcpEvent::IllegalTransition {
                conn: self.key,
                from,
                to,
            });
            debug_assert!(false, "illegal transition {from} -> {to} on {:?}", self.key);
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
            State::Closed | State::TimeWait | State::Listen => self.clear_timers(),
            _ => {}
        }
    }

    fn clear_timers(&mut self) {
        self.rtx_at = None;
        self.persist_at = None;
        self.delack_at = None;
        self.fin_wait_2_at = None;
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

    /// Free space in the receive buffer: the window we can offer.
    fn rcv_wnd(&self, cfg: &TcpConfig) -> u32 {
        cfg.rcv_buf.saturating_sub(self.rcv_buf.len() as u32)
    }

    fn window_field(&self, cfg: &TcpConfig, syn: bool) -> u16 {
        let wnd = self.rcv_wnd(cfg);
        // RFC 7323 §2.2: the window of a SYN is never scaled.
        let shifted = if syn { wnd } else { wnd >> self.rcv_wscale };
        shifted.min(0xFFFF) as u16
    }

    /// The window field a segment sent now would carry (TIME_WAIT keeps using it).
    pub(crate) fn last_window(&self, cfg: &TcpConfig) -> u16 {
        self.window_field(cfg, false)
    }

    /// Sends one segment from this connection. An ACK carries RCV.NXT and the window, and
    /// clears any pending acknowledgment.
    fn emit(&mut self, cx: &mut Cx<'_>, flags: TcpFlags, seq: Seq, payload: Vec<u8>) {
        let syn = flags.contains(TcpFlags::SYN);
        let ack = flags.contains(TcpFlags::ACK);
        let mut options = TcpOptions::default();
        if syn {
            options.mss = Some(cx.cfg.mss);
            // A SYN-ACK offers an option only if the SYN did (RFC 7323 §1.3).
            let offer_ws =
                cx.cfg.window_scale && (!ack || self.rcv_wscale > 0 || self.snd_wscale > 0);
            if offer_ws {
                options.window_scale = Some(wscale_for(cx.cfg.rcv_buf));
            }
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
        if ack {
            self.last_ack_sent = self.rcv_nxt;
            self.ack_now = false;
            self.unacked_segments = 0;
            self.delack_at = None;
        }
        let segment = Segment {
            seq,
            ack: if ack { self.rcv_nxt } else { Seq(0) },
            flags,
            window: self.window_field(cx.cfg, syn),
            options,
            payload,
            ..Segment::default()
        };
        cx.send(&self.key, segment, self.state.name());
    }

    fn send_syn(&mut self, cx: &mut Cx<'_>, with_ack: bool) {
        let flags = if with_ack {
            TcpFlags::SYN | TcpFlags::ACK
        } else {
            TcpFlags::SYN
        };
        self.emit(cx, flags, self.iss, Vec::new());
        self.snd_nxt = self.iss.add(1);
        if self.snd_max.lt(self.snd_nxt) {
            self.snd_max = self.snd_nxt;
        }
        if self.retries == 0 && self.rtt_sample.is_none() {
            self.rtt_sample = Some((self.iss, cx.now));
        }
        self.rtx_at.get_or_insert(cx.now + self.rto);
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

    /// Sends what the windows allow: new data (Nagle permitting), then the FIN once all data
    /// is out, then a pure ACK if one is owed. RFC 9293 §3.8.6, RFC 5681 §3.1, RFC 1122
    /// §4.2.3.4.
    pub(crate) fn output(&mut self, cx: &mut Cx<'_>) {
        if self.can_send_data() {
            loop {
                let data_end = self.data_end();
                let in_flight = self.snd_nxt.diff(self.snd_una).max(0) as u32;
                let unsent = data_end.diff(self.snd_nxt).max(0) as u32;
                if unsent > 0 {
                    let want = unsent.min(u32::from(self.snd_mss));
                    // Sender silly window avoidance (RFC 9293 §3.8.6.2.1), as Linux does it
                    // (tcp_snd_wnd_test): a segment is never cut down to fit a small offered
                    // window; the persist timer deals with a window that stays too small.
                    if want > self.snd_wnd.saturating_sub(in_flight) {
                        break;
                    }
                    let len = want.min(self.cwnd.saturating_sub(in_flight));
                    if len == 0 {
                        break;
                    }
                    let last = len == unsent;
                    // Nagle: a short segment waits while data is unacknowledged (RFC 1122
                    // §4.2.3.4), or with Minshall's variant as Linux has it
                    // (tcp_minshall_check), while an earlier short segment is; unless the
                    // application is closing (Linux pushes everything on close).
                    let waits_for = if cx.cfg.nagle_minshall {
                        self.snd_sml.gt(self.snd_una) && self.snd_sml.le(self.snd_max)
                    } else {
                        in_flight > 0
                    };
                    if self.nagle && len < u32::from(self.snd_mss) && waits_for && !self.fin_queued
                    {
                        break;
                    }
                    self.send_data(cx, self.snd_nxt, len, self.fin_queued && last);
                    continue;
                }
                if self.fin_queued && self.snd_nxt == data_end {
                    self.send_data(cx, data_end, 0, true);
                }
                break;
            }
            self.check_persist(cx);
        }
        if self.ack_now {
            self.send_ack(cx);
        }
    }

    /// Sends `len` bytes from `seq` (and the FIN after them if `fin`), counting it as a
    /// retransmission when any of it was sent before.
    fn send_data(&mut self, cx: &mut Cx<'_>, seq: Seq, len: u32, fin: bool) {
        if seq.lt(self.snd_max) {
            let what = if len == 0 { Resent::Fin } else { Resent::Data };
            self.retransmitted(cx, what, seq);
            if fin && len > 0 {
                cx.counters.fin_retransmits += 1;
            }
        }
        let mut flags = TcpFlags::ACK;
        if len > 0 && seq.add(len) == self.data_end() {
            flags = flags | TcpFlags::PSH;
        }
        if fin {
            flags = flags | TcpFlags::FIN;
            self.fin_sent = true;
        }
        if !seq.lt(self.snd_max) && len < u32::from(self.snd_mss) {
            // Linux tcp_minshall_update: remember where the last short segment ends.
            self.snd_sml = seq.add(len);
        }
        let payload = self.payload(seq, len as usize);
        self.emit(cx, flags, seq, payload);
        self.sent(cx, seq, len + u32::from(fin));
    }

    /// Bookkeeping after sending `len` sequence numbers from `seq`.
    fn sent(&mut self, cx: &mut Cx<'_>, seq: Seq, len: u32) {
        let end = seq.add(len);
        if self.snd_nxt.lt(end) {
            self.snd_nxt = end;
        }
        if self.snd_max.lt(self.snd_nxt) {
            // New data: time it if nothing is being timed (Karn: never time a resend).
            if self.rtt_sample.is_none() && seq == self.snd_max {
                self.rtt_sample = Some((self.snd_nxt, cx.now));
            }
            self.snd_max = self.snd_nxt;
        }
        self.rtx_at.get_or_insert(cx.now + self.rto);
        self.persist_at = None;
    }

    /// The persist timer runs when data waits, the peer's window is zero, and nothing is in
    /// flight to provoke a window update (RFC 9293 §3.8.6.1).
    fn check_persist(&mut self, cx: &mut Cx<'_>) {
        let unsent = self.data_end().diff(self.snd_nxt).max(0) as u32;
        let blocked = unsent > 0 && unsent.min(u32::from(self.snd_mss)) > self.snd_wnd;
        if blocked && self.snd_nxt == self.snd_una {
            if self.persist_at.is_none() {
                self.persist_at = Some(cx.now + self.persist_interval(cx.cfg));
            }
        } else {
            self.persist_at = None;
            self.persist_backoff = 0;
        }
    }

    fn persist_interval(&self, cfg: &TcpConfig) -> SimDuration {
        self.rto
            .saturating_mul(1 << self.persist_backoff.min(16))
            .min(cfg.rto_max)
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
        let room = (cx.cfg.snd_buf as usize).saturating_sub(self.snd_buf.len());
        let n = room.min(data.len());
        self.snd_buf.extend(&data[..n]);
        self.output(cx);
        Ok(n)
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
        let before = self.rcv_wnd(cx.cfg);
        out.extend(self.rcv_buf.drain(..n));
        // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): announce the opened window once it
        // grew by at least min(buffer / 2, MSS).
        let grown = self.rcv_wnd(cx.cfg) - before;
        let threshold = (cx.cfg.rcv_buf / 2).min(u32::from(cx.cfg.mss));
        let was_small = before < threshold;
        if self.state.is_synchronized() && !self.fin_received && was_small && grown >= threshold {
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

    // ---------------------------------------------------------------------------------
    // Timers

    /// The earliest armed timer.
    pub(crate) fn deadline(&self) -> Option<SimTime> {
        [
            self.rtx_at,
            self.persist_at,
            self.delack_at,
            self.fin_wait_2_at,
        ]
        .into_iter()
        .flatten()
        .min()
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
            self.on_rto(cx);
            if self.state == State::Closed {
                return;
            }
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            self.on_persist(cx);
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            if self.unacked_segments > 0 || self.ack_now {
                self.send_ack(cx);
            }
        }
    }

    /// Retransmission timeout (RFC 6298 §5.4-5.6, RFC 5681 §3.1, RFC 6582 §4).
    fn on_rto(&mut self, cx: &mut Cx<'_>) {
        let limit = match self.state {
            State::SynSent => cx.cfg.syn_retries,
            State::SynReceived => cx.cfg.synack_retries,
            _ => cx.cfg.data_retries,
        };
        if self.snd_una == self.snd_max {
            return; // nothing outstanding: a stale timer
        }
        if self.retries >= limit {
            if self.state == State::SynReceived && self.passive {
                // Linux drops an embryonic connection silently when SYN-ACKs run out.
                self.set_state(cx, State::Closed);
            } else {
                self.fail(cx, Errno::TimedOut);
            }
            return;
        }
        self.retries += 1;
        self.rto = self.rto.saturating_mul(2).min(cx.cfg.rto_max);
        self.rtt_sample = None; // Karn's rule
        match self.state {
            State::SynSent | State::SynReceived => {
                let what = if self.state == State::SynSent {
                    Resent::Syn
                } else {
                    Resent::SynAck
                };
                self.retransmitted(cx, what, self.iss);
                self.send_syn(cx, self.state == State::SynReceived);
            }
            _ => {
                let mss = u32::from(self.snd_mss);
                let flight = self.snd_max.diff(self.snd_una).max(0) as u32;
                self.ssthresh = (flight / 2).max(2 * mss);
                self.cwnd = mss;
                self.recover = self.snd_max;
                self.in_recovery = false;
                self.dupacks = 0;
                self.snd_nxt = self.snd_una;
                self.retransmit_head(cx);
            }
        }
        self.rtx_at = Some(cx.now + self.rto);
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
            attempt: self.retries.max(1),
        });
    }

    /// Sends the first unacknowledged segment again (data, or the FIN alone).
    fn retransmit_head(&mut self, cx: &mut Cx<'_>) {
        let seq = self.snd_una;
        // Resend only data sent before (Linux tcp_retransmit_skb): when SND.UNA is in the
        // middle of a segment (the peer took part of it), a full MSS from there could reach
        // past SND.MAX, and the ACK of those bytes would then be dropped as acknowledging
        // something not yet sent (RFC 9293 §3.10.7.4, fifth step).
        let data_end = self.data_end();
        let sent_end = if self.snd_max.lt(data_end) {
            self.snd_max
        } else {
            data_end
        };
        let unacked_data = sent_end.diff(seq).max(0) as u32;
        if unacked_data > 0 {
            let len = unacked_data.min(u32::from(self.snd_mss));
            let fin = self.fin_sent && len == unacked_data;
            self.send_data(cx, seq, len, fin);
        } else if self.fin_sent {
            self.send_data(cx, seq, 0, true);
        }
    }

    /// Zero-window probe. Follows Linux (tcp_xmit_probe_skb): an empty segment with
    /// SEQ=SND.UNA-1, which the peer must answer with an ACK carrying its window.
    fn on_persist(&mut self, cx: &mut Cx<'_>) {
        let unsent = self.data_end().diff(self.snd_nxt).max(0) as u32;
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
        let seq = self.snd_una.add(u32::MAX); // SND.UNA - 1
        self.emit(cx, TcpFlags::ACK, seq, Vec::new());
        self.persist_backoff += 1;
        self.persist_at = Some(cx.now + self.persist_interval(cx.cfg));
    }

    // ---------------------------------------------------------------------------------
    // Segment arrival (RFC 9293 §3.10.7.3 and §3.10.7.4)

    /// Processes a segment for this connection. TIME_WAIT is handled by the stack.
    pub(crate) fn on_segment(&mut self, cx: &mut Cx<'_>, seg: &Segment) -> After {
        debug_assert!(self.state != State::TimeWait && self.state != State::Closed);
        if self.state == State::SynSent {
            self.on_segment_syn_sent(cx, seg);
            return After::Keep;
        }
        let flags = seg.flags;

        // RFC 7323 §5.3 R1: PAWS, before the sequence check.
        if self.ts_on && !flags.contains(TcpFlags::RST) {
            if let Some(ts) = seg.options.timestamps {
                if Seq(ts.val).lt(Seq(self.ts_recent)) {
                    cx.counters.paws_rejects += 1;
                    cx.note(self.key, Note::PawsReject);
                    self.send_ack(cx);
                    return After::Keep;
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
            return After::Keep;
        }

        // Simultaneous open, the SYN-ACKs crossed. The peer's SYN is old (SEG.SEQ = IRS), so
        // the §3.3.3 test would reject the segment, yet it acknowledges our SYN: as RFC 9293
        // §3.5 Figure 7 (line 6) shows, and Linux does (tcp_validate_incoming), take the ACK
        // (SYN_RECEIVED -> ESTABLISHED) and acknowledge the old SYN at once.
        if self.state == State::SynReceived
            && !self.passive
            && flags.contains(TcpFlags::SYN | TcpFlags::ACK)
            && !flags.intersects(TcpFlags::RST | TcpFlags::FIN)
            && seg.payload.is_empty()
            && seg.seq == self.irs
            && seg.ack == self.snd_nxt
        {
            self.syn_ack_accepted(cx, seg);
            return After::Keep;
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
        if !bare_fin_at_zero_window && !self.acceptable(seg, wnd) {
            if flags.contains(TcpFlags::RST) {
                return After::Keep;
            }
            // RFC 9293 §3.10.7.4: with a zero window, still take a valid ACK.
            let zero_window_ack =
                wnd == 0 && seg.seq == self.rcv_nxt && flags.contains(TcpFlags::ACK);
            if zero_window_ack {
                self.process_ack(cx, seg);
            } else if self.state != State::SynReceived || seg.seq.lt(self.rcv_nxt) {
                cx.note(self.key, Note::OutOfWindow);
            }
            if zero_window_ack || self.may_answer_invalid(cx, seg) {
                self.send_ack(cx);
            }
            if self.state != State::Closed {
                self.output(cx);
            }
            return After::Keep;
        }

        // Second: RST (RFC 5961 §3.2: only an exact match resets; in-window gets a challenge).
        if flags.contains(TcpFlags::RST) {
            if seg.seq != self.rcv_nxt {
                self.challenge_ack(cx);
                return After::Keep;
            }
            return self.on_reset(cx);
        }

        // Fourth: SYN in a synchronised state (RFC 5961 §4.2): challenge ACK. In SYN_RECEIVED
        // of a passive open, RFC 9293 §3.10.7.4 returns the connection to LISTEN.
        if flags.contains(TcpFlags::SYN) {
            if self.state == State::SynReceived && self.passive {
                self.set_state(cx, State::Listen);
                return After::BackToListen;
            }
            self.challenge_ack(cx);
            return After::Keep;
        }

        // Fifth: the ACK field.
        if !flags.contains(TcpFlags::ACK) {
            return After::Keep;
        }
        if self.state == State::SynReceived {
            if self.snd_una.lt(seg.ack) && seg.ack.le(self.snd_nxt) {
                self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                self.set_state(cx, State::Established);
            } else {
                // An unacceptable ACK: <SEQ=SEG.ACK><CTL=RST>.
                cx.counters.resets_sent += 1;
                self.emit(cx, TcpFlags::RST, seg.ack, Vec::new());
                return After::Keep;
            }
        }
        if !self.process_ack(cx, seg) {
            return After::Keep;
        }
        if self.state == State::Closed {
            return After::Keep;
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
                        return After::Keep;
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

        self.output(cx);
        After::Keep
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
    /// `invalid_ratelimit`; segments with data or SYN are never part of an ACK loop and are
    /// always answered.
    fn may_answer_invalid(&mut self, cx: &mut Cx<'_>, seg: &Segment) -> bool {
        if !seg.payload.is_empty() || seg.flags.contains(TcpFlags::SYN) {
            return true;
        }
        self.may_answer(cx)
    }

    fn may_answer(&mut self, cx: &mut Cx<'_>) -> bool {
        let Some(interval) = cx.cfg.invalid_ratelimit else {
            return true;
        };
        if self.last_oow_ack.is_some_and(|t| cx.now < t + interval) {
            cx.note(self.key, Note::AckRateLimited);
            return false;
        }
        self.last_oow_ack = Some(cx.now);
        true
    }

    /// An acceptable RST (RFC 9293 §3.10.7.4, second step).
    fn on_reset(&mut self, cx: &mut Cx<'_>) -> After {
        match self.state {
            State::SynReceived if self.passive => {
                self.set_state(cx, State::Listen);
                After::BackToListen
            }
            State::SynReceived => {
                self.fail(cx, Errno::ConnRefused);
                After::Keep
            }
            State::CloseWait if cx.cfg.close_wait_reset_is_epipe => {
                // Follows Linux tcp_reset: the peer already closed its side, so the error
                // left for the application is EPIPE (its next send fails), not ECONNRESET.
                self.fail(cx, Errno::BrokenPipe);
                After::Keep
            }
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                self.fail(cx, Errno::ConnReset);
                After::Keep
            }
            _ => {
                // CLOSING, LAST_ACK: the peer is gone; Linux still records ECONNRESET.
                self.fail(cx, Errno::ConnReset);
                After::Keep
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
        self.ack_advanced(cx, seg.ack);
        self.set_state(cx, State::Established);
        self.ack_now = true;
        self.output(cx);
    }

    /// The ACK field in a synchronised state (RFC 9293 §3.10.7.4, fifth step; RFC 5961 §5;
    /// RFC 5681; RFC 6582). Returns false if the segment must be dropped.
    fn process_ack(&mut self, cx: &mut Cx<'_>, seg: &Segment) -> bool {
        let ack = seg.ack;
        if ack.gt(self.snd_max) {
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
        let duplicate = !advanced
            && ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            && window == self.snd_wnd
            && self.snd_max.gt(self.snd_una);
        // Window update (SND.WL1/WL2 rule).
        if self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(ack)) {
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
        }
        if advanced {
            self.ack_advanced(cx, ack);
        } else if duplicate {
            self.on_duplicate_ack(cx);
        }
        // FIN acknowledged?
        let fin_acked = self.fin_sent && self.snd_una == self.data_end().add(1);
        match self.state {
            // With a FIN in the same segment the diagram goes FIN_WAIT_1 -> TIME_WAIT
            // directly; the eighth step does that (see `take_fin`).
            State::FinWait1 if fin_acked && !seg.flags.contains(TcpFlags::FIN) => {
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

    /// SND.UNA moves forward: free acknowledged data, take an RTT sample, grow the window,
    /// restart or stop the retransmission timer.
    fn ack_advanced(&mut self, cx: &mut Cx<'_>, ack: Seq) {
        // RFC 5681 §3.1: cwnd grows for ACKs of new data. The SYN's sequence number is not
        // data: the connection starts with exactly the initial window (RFC 6928).
        let acked = ack.diff(self.snd_una) as u32 - u32::from(self.snd_una == self.iss);
        self.snd_una = ack;
        if self.snd_nxt.lt(ack) {
            self.snd_nxt = ack;
        }
        let data_acked = ack.diff(self.data_base).max(0) as usize;
        let drop = data_acked.min(self.snd_buf.len());
        self.snd_buf.drain(..drop);
        self.data_base = self.data_base.add(drop as u32);
        if let Some((end, at)) = self.rtt_sample {
            if ack.ge(end) {
                self.rtt_sample = None;
                self.rtt_measured(cx, cx.now.saturating_since(at));
            }
        }
        self.retries = 0;
        self.persist_backoff = 0;
        let mss = u32::from(self.snd_mss);
        if self.in_recovery {
            if ack.ge(self.recover) {
                // RFC 6582 §3.2 step 3: full acknowledgment ends recovery.
                let flight = self.snd_max.diff(self.snd_una).max(0) as u32;
                self.cwnd = self.ssthresh.min(flight.max(mss) + mss);
                self.in_recovery = false;
            } else {
                // Partial acknowledgment: resend the next hole, deflate the window.
                self.retransmit_head(cx);
                self.cwnd = self.cwnd.saturating_sub(acked).max(mss);
                if acked >= mss {
                    self.cwnd += mss;
                }
            }
        } else if self.cwnd < self.ssthresh {
            // Slow start (RFC 5681 §3.1, eq. 2).
            self.cwnd = self.cwnd.saturating_add(acked.min(mss));
        } else {
            // Congestion avoidance (RFC 5681 §3.1, eq. 3).
            self.cwnd = self
                .cwnd
                .saturating_add((mss * mss / self.cwnd.max(1)).max(1));
        }
        self.dupacks = 0;
        self.rtx_at = if self.snd_una == self.snd_max {
            None
        } else {
            Some(cx.now + self.rto)
        };
        if let Some(s) = self.socket {
            if drop > 0 {
                cx.app.push(SocketEvent::Writable(s));
            }
        }
    }

    /// RFC 5681 §3.2 and RFC 6582 §3.2: the third duplicate ACK starts fast retransmit and
    /// recovery; more duplicates inflate the window.
    fn on_duplicate_ack(&mut self, cx: &mut Cx<'_>) {
        self.dupacks += 1;
        let mss = u32::from(self.snd_mss);
        if self.in_recovery {
            self.cwnd = self.cwnd.saturating_add(mss);
        } else if self.dupacks == 3 && self.snd_una.gt(self.recover.add(u32::MAX)) {
            let flight = self.snd_max.diff(self.snd_una).max(0) as u32;
            self.ssthresh = (flight / 2).max(2 * mss);
            self.recover = self.snd_max;
            self.in_recovery = true;
            self.rtt_sample = None;
            cx.note(self.key, Note::FastRetransmit);
            self.retransmit_head(cx);
            self.cwnd = self.ssthresh + 3 * mss;
        }
    }

    /// RFC 6298 §2.2-2.3 (times in nanoseconds, K = 4, alpha = 1/8, beta = 1/4).
    fn rtt_measured(&mut self, cx: &Cx<'_>, r: SimDuration) {
        let r_ns = r.as_nanos();
        let (srtt, rttvar) = match self.srtt {
            None => (r_ns, r_ns / 2),
            Some(s) => {
                let s = s.as_nanos();
                let err = s.abs_diff(r_ns);
                let rttvar = (3 * self.rttvar.as_nanos() + err) / 4;
                let srtt = (7 * s + r_ns) / 8;
                (srtt, rttvar)
            }
        };
        self.srtt = Some(SimDuration::from_nanos(srtt));
        self.rttvar = SimDuration::from_nanos(rttvar);
        let rto = SimDuration::from_nanos(srtt + CLOCK_GRANULARITY.as_nanos().max(4 * rttvar));
        self.rto = rto.max(cx.cfg.rto_min).min(cx.cfg.rto_max);
    }

    /// In-order (or out-of-order) data (RFC 9293 §3.10.7.4, seventh step).
    fn take_data(&mut self, cx: &mut Cx<'_>, seg: &Segment) {
        let wnd = self.rcv_wnd(cx.cfg);
        let offset = self.rcv_nxt.diff(seg.seq);
        if offset > 0 && (offset as usize) < seg.payload.len() || offset == 0 {
            // Starts at or before RCV.NXT: take the new part that fits the window.
            let skip = offset.max(0) as usize;
            let take = (seg.payload.len() - skip).min(wnd as usize);
            self.rcv_buf.extend(&seg.payload[skip..skip + take]);
            self.rcv_nxt = self.rcv_nxt.add(take as u32);
            let mut more = Vec::new();
            self.ooo.pop_ready(self.rcv_nxt, &mut more);
            let filled_gap = !more.is_empty();
            self.rcv_nxt = self.rcv_nxt.add(more.len() as u32);
            self.rcv_buf.extend(more);
            if let Some(s) = self.socket {
                cx.app.push(SocketEvent::Readable(s));
            }
            if self.ooo_fin == Some(self.rcv_nxt) {
                self.ooo_fin = None;
                self.take_fin(cx);
                return;
            }
            self.schedule_ack(cx, filled_gap || !self.ooo.is_empty(), seg.payload.len());
        } else if offset < 0 {
            // Ahead of a gap: keep it, and send a duplicate ACK at once (RFC 5681 §4.2).
            self.ooo.insert(seg.seq, &seg.payload, self.rcv_nxt, wnd);
            self.ack_now = true;
        } else {
            // Entirely old: a duplicate. Acknowledge, never deliver twice.
            self.ack_now = true;
        }
    }

    /// Delayed ACK (RFC 1122 §4.2.3.2, RFC 5681 §4.2): every second full segment at once,
    /// otherwise within the delay; at once when a gap exists or was just filled.
    fn schedule_ack(&mut self, cx: &mut Cx<'_>, immediate: bool, len: usize) {
        if len >= usize::from(self.snd_mss) {
            self.unacked_segments += 1;
        } else {
            self.unacked_segments = self.unacked_segments.max(1);
        }
        match cx.cfg.delayed_ack {
            Some(delay) if !immediate && self.unacked_segments < 2 => {
                self.delack_at.get_or_insert(cx.now + delay);
            }
            _ => self.ack_now = true,
        }
    }

    /// The peer's FIN, in order (RFC 9293 §3.10.7.4, eighth step). Follows Linux on when to
    /// acknowledge it: at once from FIN_WAIT_1/2 (the block is about to become TIME_WAIT),
    /// otherwise like data, so an application that closes at once sends FIN and ACK in one
    /// segment.
    fn take_fin(&mut self, cx: &mut Cx<'_>) {
        self.rcv_nxt = self.rcv_nxt.add(1);
        self.fin_received = true;
        if matches!(self.state, State::FinWait1 | State::FinWait2) {
            self.ack_now = true;
        } else {
            self.schedule_ack(cx, false, 0);
        }
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
