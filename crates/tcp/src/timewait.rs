//! TIME_WAIT entries. A connection that reaches TIME_WAIT keeps only what it needs to answer
//! a retransmitted FIN, judge a new SYN and run its timer (as Linux's tcp_timewait_sock does),
//! so millions of them fit in memory.

use netsim_core::{Segment, Seq, SimDuration, SimTime, TcpFlags, TcpOptions, Timestamps};

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
            // RFC 6191 / Linux tcp_timewait_state_process: a SYN whose sequence number is
            // above RCV.NXT, or whose timestamp is above TS.Recent, starts a new incarnation.
            let newer_ts = match (self.ts, seg_ts) {
                (Some(ts), Some(s)) => Seq(s.val).gt(Seq(ts.recent)),
                _ => false,
            };
            if cfg.tw_accept_new_syn && !paws_reject && (seg.seq.gt(self.rcv_nxt) || newer_ts) {
                cx.note(self.key, Note::TimeWaitReusedBySyn);
                return TwAfter::Reopen(self.snd_nxt.add(65535 + 2));
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
                if let (Some(ts), Some(s)) = (self.ts.as_mut(), seg_ts) {
                    ts.recent = s.val;
                    ts.recent_at = cx.now;
                }
                cx.note(self.key, Note::TimeWaitRestarted);
                self.ack(cx);
                self.expires = cx.now + cfg.time_wait_len();
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

    /// How long until a connect() may reuse this 4-tuple under tcp_tw_reuse: Linux requires
    /// timestamps and at least one second since the last one from the peer.
    pub(crate) fn reusable(&self, now: SimTime) -> bool {
        self.ts
            .is_some_and(|ts| now >= ts.recent_at + SimDuration::from_secs(1))
    }
}
