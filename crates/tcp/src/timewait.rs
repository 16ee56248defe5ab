//! TIME_WAIT entries. A connection that reaches TIME_WAIT keeps only what it needs to answer
//! a retransmitted FIN, judge a new SYN and run its timer (as Linux's tcp_timewait_sock does),
//! so millions of them fit in memory.

use netsim_core::{Segment, Seq, SimDuration, SimTime, TcpFlags, TcpOptions, Timestamps};

use crate::config::TimeWaitRules;
use crate::event::{ConnKey, Note};
use crate::tcb::{Cx, ts_clock};

/// Timestamp state kept by a TIME_WAIT entry (RFC 7323).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TwTimestamps {
    /// TS.Recent: the newest timestamp received from the peer.
    pub recent: u32,
    /// When it was received.
    pub recent_at: SimTime,
    /// Our timestamp clock offset for this address pair.
    pub offset: u32,
}

/// A connection in TIME_WAIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeWait {
    pub key: ConnKey,
    pub snd_nxt: Seq,
    pub rcv_nxt: Seq,
    /// The window field the connection last advertised.
    pub window: u16,
    pub ts: Option<TwTimestamps>,
    pub expires: SimTime,
    /// When the last rate-limited answer went out (Linux tw_last_oow_ack_time, 0 on entry).
    pub last_oow_ack: Option<SimTime>,
}

/// What the stack must do after a segment reached a TIME_WAIT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TwAfter {
    /// Nothing more.
    Keep,
    /// An acceptable RST ended TIME_WAIT early (TIME_WAIT assassination).
    Killed,
    /// A new SYN may take over the 4-tuple: end TIME_WAIT and give the SYN to the listener,
    /// with this ISN (Linux: the old SND.NXT + 65535 + 2, above anything the old connection
    /// used).
    Reopen(Seq),
}

impl TimeWait {
    fn ack(&self, cx: &mut Cx<'_>) {
        let options = TcpOptions {
            timestamps: self.ts.map(|ts| Timestamps {
                val: ts_clock(cx.now).wrapping_add(ts.offset),
                ecr: ts.recent,
            }),
            ..TcpOptions::default()
        };
        let segment = Segment {
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags: TcpFlags::ACK,
            window: self.window,
            options,
            ..Segment::default()
        };
        cx.send(&self.key, segment, "TIME_WAIT");
    }

    /// RFC 9293 §3.10.7.4 for TIME_WAIT, with RFC 7323 PAWS, RFC 1337, RFC 6191 and the Linux
    /// choices noted.
    pub(crate) fn on_segment(&mut self, cx: &mut Cx<'_>, seg: &Segment) -> TwAfter {
        let cfg = cx.cfg;
        let flags = seg.flags;
        let rst = flags.contains(TcpFlags::RST);
        let seg_ts = seg.options.timestamps;
        let paws_reject = match (self.ts, seg_ts) {
            (Some(ts), Some(s)) => Seq(s.val).lt(Seq(ts.recent)),
            _ => false,
        };
        if cfg.time_wait_rules == TimeWaitRules::Linux {
            return self.on_segment_linux(cx, seg, paws_reject);
        }
        if paws_reject && !rst && !flags.contains(TcpFlags::SYN) {
            cx.counters.paws_rejects += 1;
            cx.note(self.key, Note::PawsReject);
            self.ack(cx);
            return TwAfter::Keep;
        }
        if rst {
            // RFC 7323 §5.3 R1 exempts RSTs from PAWS; RFC 5961 §3.2 wants SEQ = RCV.NXT.
            if seg.seq != self.rcv_nxt {
                return TwAfter::Keep;
            }
            if cfg.rfc1337 {
                cx.note(self.key, Note::Rfc1337IgnoredRst);
                return TwAfter::Keep;
            }
            return TwAfter::Killed;
        }
        if flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK) {
            if cfg.tw_accept_new_syn && !paws_reject {
                if let Some(reopen) = self.new_incarnation(cx, seg) {
                    return reopen;
                }
            }
            // Otherwise a SYN in a synchronised state: acknowledge (RFC 5961 §4.2).
            cx.counters.challenge_acks += 1;
            cx.note(self.key, Note::ChallengeAck);
            self.ack(cx);
            return TwAfter::Keep;
        }
        if flags.contains(TcpFlags::FIN) {
            let fin_seq = seg.seq.add(seg.payload.len() as u32);
            if fin_seq.add(1) == self.rcv_nxt {
                // "The only thing that can arrive in this state is a retransmission of the
                // remote FIN. Acknowledge it, and restart the 2 MSL timeout."
                self.take_ts(cx.now, seg_ts);
                self.restart(cx, Note::TimeWaitRestarted);
                self.ack(cx);
                return TwAfter::Keep;
            }
        }
        // An old duplicate fails the sequence check and gets an ACK (RFC 9293 §3.10.7.4,
        // first step); anything else is dropped.
        let len = seg.seq_len();
        let end = seg.seq.add(len.max(1) - 1);
        if end.lt(self.rcv_nxt) {
            self.ack(cx);
        }
        TwAfter::Keep
    }

    /// Linux tcp_timewait_state_process, for a real TIME_WAIT (netsim keeps no FIN_WAIT_2
    /// substate in these entries).
    fn on_segment_linux(&mut self, cx: &mut Cx<'_>, seg: &Segment, paws_reject: bool) -> TwAfter {
        let cfg = cx.cfg;
        let flags = seg.flags;
        let rst = flags.contains(TcpFlags::RST);
        // "In window segment, it may be only reset or bare ack": exactly at RCV.NXT, and
        // occupying no sequence space unless it is a RST.
        if !paws_reject && seg.seq == self.rcv_nxt && (seg.seq_len() == 0 || rst) {
            if rst {
                if !cfg.rfc1337 {
                    return TwAfter::Killed; // TIME_WAIT assassination (RFC 1337 §2)
                }
                cx.note(self.key, Note::Rfc1337IgnoredRst);
            } else {
                self.restart(cx, Note::TimeWaitTimerRestarted);
            }
            self.take_ts(cx.now, seg.options.timestamps);
            return TwAfter::Keep;
        }
        // Out of window. A new SYN may start a new incarnation (RFC 6191).
        let syn = flags.contains(TcpFlags::SYN);
        let ack = flags.contains(TcpFlags::ACK);
        if syn && !rst && !ack && !paws_reject && cfg.tw_accept_new_syn {
            if let Some(reopen) = self.new_incarnation(cx, seg) {
                return reopen;
            }
        }
        if paws_reject {
            cx.counters.paws_rejects += 1;
            cx.note(self.key, Note::PawsReject);
        }
        if rst {
            return TwAfter::Keep; // an out-of-window RST is dropped (RFC 5961 §3.2)
        }
        // "If it is ACKless SYN it may be both old duplicate and new good SYN with random
        // sequence number <rcv_nxt. Do not reschedule in the last case."
        let fin_again = flags.contains(TcpFlags::FIN);
        if paws_reject || ack {
            let note = if fin_again {
                Note::TimeWaitRestarted
            } else {
                Note::TimeWaitTimerRestarted
            };
            self.restart(cx, note);
        }
        // tcp_timewait_check_oow_rate_limit (tcp_oow_rate_limited): a segment that occupies
        // sequence space without a SYN (data, a FIN) is always answered; a pure ACK or a SYN
        // at most once per `invalid_ratelimit`.
        let always = seg.seq_len() > 0 && !syn;
        if !always && !self.may_answer(cx) {
            return TwAfter::Keep;
        }
        if syn {
            // The ACK to a SYN in a synchronised state (RFC 5961 §4.2).
            cx.counters.challenge_acks += 1;
            cx.note(self.key, Note::ChallengeAck);
        }
        self.ack(cx);
        TwAfter::Keep
    }

    /// RFC 6191 / Linux tcp_timewait_state_process: a SYN whose sequence number is above
    /// RCV.NXT, or whose timestamp is above TS.Recent, starts a new incarnation.
    fn new_incarnation(&self, cx: &mut Cx<'_>, seg: &Segment) -> Option<TwAfter> {
        let newer_ts = match (self.ts, seg.options.timestamps) {
            (Some(ts), Some(s)) => Seq(s.val).gt(Seq(ts.recent)),
            _ => false,
        };
        if !(seg.seq.gt(self.rcv_nxt) || newer_ts) {
            return None;
        }
        cx.note(self.key, Note::TimeWaitReusedBySyn);
        Some(TwAfter::Reopen(self.snd_nxt.add(65535 + 2)))
    }

    /// An acceptable segment's timestamp becomes TS.Recent (RFC 7323 §4.3).
    fn take_ts(&mut self, now: SimTime, seg_ts: Option<Timestamps>) {
        if let (Some(ts), Some(s)) = (self.ts.as_mut(), seg_ts) {
            ts.recent = s.val;
            ts.recent_at = now;
        }
    }

    /// Restarts the timer for a full TIME_WAIT length from now.
    fn restart(&mut self, cx: &mut Cx<'_>, note: Note) {
        cx.note(self.key, note);
        self.expires = cx.now + cx.cfg.time_wait_len();
    }

    /// Linux __tcp_oow_rate_limited with this entry's own clock.
    fn may_answer(&mut self, cx: &mut Cx<'_>) -> bool {
        cx.may_answer_invalid(self.key, &mut self.last_oow_ack)
    }

    /// How long until a connect() may reuse this 4-tuple under tcp_tw_reuse: Linux requires
    /// timestamps and at least one second since the last one from the peer.
    pub(crate) fn reusable(&self, now: SimTime) -> bool {
        self.ts
            .is_some_and(|ts| now >= ts.recent_at + SimDuration::from_secs(1))
    }
}
