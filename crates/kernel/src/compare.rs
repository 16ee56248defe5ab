//! The comparison of a model run with a kernel run, connection by connection. Connections are
//! matched by order of appearance (ephemeral ports and ISNs differ between the two worlds);
//! within one, each segment is put in the words the text trace uses, with what cannot be the
//! same left out: sequence numbers relative to each side's ISN (as tcpdump prints them), the
//! sending host, flags but PSH (it follows write boundaries), payload length, which options
//! (their values hold clocks and addresses). Times are compared within a tolerance, as real timers run on jiffies and real
//! threads are scheduled. Pure: the caller gathers the segments.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::time::Duration;

use netsim_core::{OptionItem, Packet, Seq, TcpFlags};

/// One segment seen in either world.
#[derive(Clone, Debug)]
pub struct Seen {
    /// When it was sent, since the start.
    pub at: Duration,
    /// Index of the host that sent it.
    pub from: usize,
    /// The segment.
    pub packet: Packet,
    /// A crafted segment of the scenario (an `Inject` event), not the host's own.
    pub injected: bool,
}

/// One connection's segments, in the order they were sent.
#[derive(Clone, Debug)]
pub struct Conversation {
    /// The host that sent the first segment (the SYN of an active open).
    pub opener: usize,
    /// Its segments.
    pub segments: Vec<Seen>,
}

/// Groups segments into conversations by 4-tuple, in order of first appearance. A 4-tuple
/// used again after a SYN of a new incarnation starts a new conversation.
pub fn conversations(seen: &[Seen]) -> Vec<Conversation> {
    let mut out: Vec<Conversation> = Vec::new();
    let mut open: BTreeMap<(SocketAddrV4, SocketAddrV4), usize> = BTreeMap::new();
    for s in seen {
        let p = &s.packet;
        let a = SocketAddrV4::new(p.src, p.segment.src_port);
        let b = SocketAddrV4::new(p.dst, p.segment.dst_port);
        let key = if a <= b { (a, b) } else { (b, a) };
        let fresh_syn = p.segment.flags.contains(TcpFlags::SYN)
            && !p.segment.flags.contains(TcpFlags::ACK)
            && open.get(&key).is_some_and(|&i| {
                out[i].segments.iter().any(|o| {
                    o.packet
                        .segment
                        .flags
                        .contains(TcpFlags::FIN | TcpFlags::ACK)
                })
            });
        let index = match open.get(&key) {
            Some(&i) if !fresh_syn => i,
            _ => {
                out.push(Conversation {
                    opener: s.from,
                    segments: Vec::new(),
                });
                open.insert(key, out.len() - 1);
                out.len() - 1
            }
        };
        out[index].segments.push(s.clone());
    }
    out
}

/// A conversation's segments in comparable words: `host [flags] seq S ack A len L [options]`,
/// numbers relative to each direction's ISN.
pub fn lines(c: &Conversation, host_names: &[String]) -> Vec<String> {
    let mut isn: BTreeMap<usize, Seq> = BTreeMap::new();
    for s in &c.segments {
        if s.packet.segment.flags.contains(TcpFlags::SYN) {
            isn.entry(s.from).or_insert(s.packet.segment.seq);
        }
    }
    c.segments
        .iter()
        .map(|s| {
            let seg = &s.packet.segment;
            let own = isn.get(&s.from).copied();
            let peer = isn.iter().find(|(h, _)| **h != s.from).map(|(_, isn)| *isn);
            let rel = |v: Seq, base: Option<Seq>| base.map_or(v.0, |b| v.0.wrapping_sub(b.0));
            // PSH follows the sender's write boundaries, which the two worlds' applications
            // draw differently (the kernel's tcp_sendmsg also forces it every half window):
            // it is left out of the comparison.
            let flags = TcpFlags(seg.flags.0 & !TcpFlags::PSH.0);
            let mut line = format!(
                "{} [{}] seq {}",
                host_names.get(s.from).map_or("?", |n| n.as_str()),
                flags,
                rel(seg.seq, own)
            );
            if seg.flags.contains(TcpFlags::ACK) {
                let _ = write!(line, " ack {}", rel(seg.ack, peer));
            }
            let _ = write!(line, " len {}", seg.payload.len());
            let kinds: Vec<String> = seg
                .options
                .layout()
                .filter_map(|o| match o {
                    OptionItem::Nop => None,
                    OptionItem::Mss(v) => Some(format!("mss {v}")),
                    OptionItem::SackPermitted => Some("sackOK".into()),
                    OptionItem::Timestamps(_) => Some("TS".into()),
                    OptionItem::WindowScale(v) => Some(format!("wscale {v}")),
                    OptionItem::Sack(b) => Some(format!(
                        "sack {}",
                        b.as_slice()
                            .iter()
                            .map(|(l, r)| format!("{{{}:{}}}", rel(*l, peer), rel(*r, peer)))
                            .collect::<String>()
                    )),
                })
                .collect();
            if !kinds.is_empty() {
                let _ = write!(line, " [{}]", kinds.join(","));
            }
            if s.injected {
                line.push_str(" (injected)");
            }
            line
        })
        .collect()
}

/// How far apart in time the two worlds may send the same segment, timed from the start of
/// its connection or from the segment before it: the kernel's timers run on 4 ms jiffies and
/// its threads are scheduled, so max(5 ms, 5 % of the time).
pub fn tolerance(at: Duration) -> Duration {
    (at / 20).max(Duration::from_millis(5))
}

/// What each earlier segment of a connection adds to the tolerance of the time since its
/// start. On the kernel every segment is a hop through the wire's threads, the receiving
/// kernel and often an application thread, each woken a little late, and the lateness adds
/// up along the connection: on an idle 2-core VM (2026-12-01) the 10th segment of a
/// request/response connection came 1.2–5.0 ms later than in the model, 0.1–1.2 ms more at
/// each hop. A timer that really differs shows in the time since the segment before,
/// which gets no such allowance.
pub const HOP_ALLOWANCE: Duration = Duration::from_micros(500);

/// The verdict on one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The same segments at the same times (within the tolerance).
    Same {
        /// How many segments.
        segments: usize,
    },
    /// The first difference, with both sides' lines around it.
    Differs {
        /// Index of the first differing segment.
        at: usize,
        /// What differs ("segment", "time", "missing in the kernel", ...).
        what: String,
        /// The model's lines from a little before the difference.
        model: Vec<String>,
        /// The kernel's lines, aligned with the model's.
        kernel: Vec<String>,
    },
}

/// Compares one conversation of each world, both cut at `horizon`. Each direction is
/// compared on its own (the n-th segment one host sent in the model against the n-th it sent
/// on the kernel), so two segments sent the other way within the tolerance of each other may
/// cross in real time without being a difference; the first difference is the earliest of the
/// two directions'. A segment one world sent and the other did not, within the tolerance of
/// the horizon, is the cut, not a difference: the kernel's clock is real and its run drifts a
/// little from the model's.
pub fn compare(
    model: &Conversation,
    kernel: &Conversation,
    host_names: &[String],
    horizon: Duration,
) -> Verdict {
    let near_cut = |at: Duration| at + tolerance(horizon) >= horizon;
    let m = lines(model, host_names);
    let k = lines(kernel, host_names);
    // Times since the connection's first segment: a kernel run drifts from the model over
    // many connections in a row (each one scheduled a little late), while what a connection
    // does is timed from its own start.
    let base = |c: &Conversation| c.segments.first().map_or(Duration::ZERO, |s| s.at);
    let since = |c: &Conversation, i: usize| c.segments[i].at.saturating_sub(base(c));
    // The kernel's counterpart of each model segment: the n-th segment its host sent there.
    let counterpart: Vec<Option<usize>> = {
        let mut by_host: BTreeMap<usize, std::collections::VecDeque<usize>> = BTreeMap::new();
        for (i, s) in kernel.segments.iter().enumerate() {
            by_host.entry(s.from).or_default().push_back(i);
        }
        model
            .segments
            .iter()
            .map(|s| by_host.get_mut(&s.from).and_then(|q| q.pop_front()))
            .collect()
    };
    let nanos = |d: Duration| d.as_nanos() as i128;
    // The first difference of each direction: (index in the model's list or, for a segment
    // only the kernel sent, the kernel's, its time, what).
    let mut first: Option<(Duration, usize, usize, String)> = None;
    let hosts: std::collections::BTreeSet<usize> = model
        .segments
        .iter()
        .chain(&kernel.segments)
        .map(|s| s.from)
        .collect();
    for host in hosts {
        let mi: Vec<usize> = (0..m.len())
            .filter(|&i| model.segments[i].from == host)
            .collect();
        let ki: Vec<usize> = (0..k.len())
            .filter(|&i| kernel.segments[i].from == host)
            .collect();
        for n in 0..mi.len().max(ki.len()) {
            let found = match (mi.get(n), ki.get(n)) {
                (Some(&a), Some(&b)) if m[a] != k[b] => {
                    Some((since(model, a), a, b, "segment".to_string()))
                }
                (Some(&a), None) if near_cut(model.segments[a].at) => None,
                (None, Some(&b)) if near_cut(kernel.segments[b].at) => None,
                (Some(&a), None) => Some((
                    since(model, a),
                    a,
                    k.len(),
                    "missing on the kernel".to_string(),
                )),
                (None, Some(&b)) => {
                    Some((since(kernel, b), m.len(), b, "not in the model".to_string()))
                }
                (Some(&a), Some(&b)) => {
                    let (tm, tk) = (since(model, a), since(kernel, b));
                    // Since the connection's start, with what the hops before may add.
                    let drifted = tm.abs_diff(tk) > tolerance(tm) + HOP_ALLOWANCE * a as u32;
                    // Since the segment before it in the model, and that one's counterpart
                    // on the kernel: the reaction time, where a timer shows.
                    let gap = a.checked_sub(1).and_then(|p| {
                        let q = counterpart[p]?;
                        let gm = nanos(tm) - nanos(since(model, p));
                        let gk = nanos(tk) - nanos(since(kernel, q));
                        let allowed = nanos(tolerance(Duration::from_nanos(gm.max(0) as u64)));
                        ((gm - gk).abs() > allowed).then_some((gm, gk))
                    });
                    (drifted || gap.is_some()).then(|| {
                        let mut what = format!("time: {tm:?} in the model, {tk:?} on the kernel");
                        if let Some((gm, gk)) = gap {
                            let ms = |v: i128| v as f64 / 1e6;
                            let _ = write!(
                                what,
                                " ({}ms after the segment before in the model, {}ms on the kernel)",
                                ms(gm),
                                ms(gk)
                            );
                        }
                        (tm, a, b, what)
                    })
                }
                (None, None) => None,
            };
            if let Some(f) = found {
                if first.as_ref().is_none_or(|g| f.0 < g.0) {
                    first = Some(f);
                }
                break;
            }
            // Past a cut, the rest of this direction is cut too.
            if mi.get(n).is_none() || ki.get(n).is_none() {
                break;
            }
        }
    }
    let Some((_, a, b, what)) = first else {
        return Verdict::Same {
            segments: m.len().min(k.len()),
        };
    };
    let window = |v: &Vec<String>, i: usize| {
        let from = i.saturating_sub(3).min(v.len());
        v[from..(i + 3).min(v.len())].to_vec()
    };
    Verdict::Differs {
        at: if a < m.len() { a } else { b },
        what,
        model: window(&m, a),
        kernel: window(&k, b),
    }
}

/// The states one side of a connection went through, with the time of each change.
pub type StatePath = Vec<(Duration, &'static str)>;

/// The state path of each side of each conversation (in conversation order; per side, the
/// lower address first), from a world's state changes. A side's changes split into
/// incarnations (each starts from CLOSED or LISTEN); the k-th conversation on a 4-tuple gets
/// the k-th incarnation. Follows what the kernel's tracepoint can report: it sees the full
/// socket only, so what follows FIN_WAIT_2 or CLOSING (TIME_WAIT, or the full socket closing
/// as a timewait socket takes over) is not compared; and a connect() before its port is
/// bound reports port 0, which belongs to the next change from that address to that peer.
pub fn state_paths(
    convs: &[Conversation],
    changes: &[crate::states::StateChange],
) -> Vec<[StatePath; 2]> {
    let mut changes: Vec<crate::states::StateChange> = changes.to_vec();
    changes.sort_by_key(|c| c.at);
    // connect()s not yet bound, per (address, peer), in the order they were made: the next
    // bound SYN_SENT change from that address to that peer is the first one's.
    let mut unbound: BTreeMap<
        (std::net::Ipv4Addr, SocketAddrV4),
        std::collections::VecDeque<usize>,
    > = BTreeMap::new();
    for i in 0..changes.len() {
        let key = (*changes[i].local.ip(), changes[i].remote);
        if changes[i].local.port() == 0 {
            let queue = unbound.entry(key).or_default();
            if changes[i].from == "CLOSED" {
                queue.push_back(i);
            } else if changes[i].to == "CLOSED" {
                // A connect() that failed for want of a port: it joins nothing.
                queue.pop_front();
            }
        } else if changes[i].from == "SYN_SENT" {
            if let Some(first) = unbound.get_mut(&key).and_then(|q| q.pop_front()) {
                let port = changes[i].local.port();
                changes[first].local.set_port(port);
            }
        }
    }
    // Per (local, remote): its incarnations, in order.
    let mut incarnations: BTreeMap<(SocketAddrV4, SocketAddrV4), Vec<StatePath>> = BTreeMap::new();
    for ch in &changes {
        let list = incarnations.entry((ch.local, ch.remote)).or_default();
        let fresh = matches!(ch.from, "CLOSED" | "LISTEN")
            && list.last().is_none_or(|p: &StatePath| p.len() > 1);
        if fresh || list.is_empty() {
            list.push(vec![(ch.at, ch.from)]);
        }
        let path = list.last_mut().expect("an incarnation");
        let ended = path.len() > 1
            && path
                .last()
                .is_some_and(|(_, s)| matches!(*s, "FIN_WAIT_2" | "CLOSING" | "CLOSED"));
        if !ended && !matches!(ch.to, "TIME_WAIT") && path.last().is_none_or(|(_, s)| *s != ch.to) {
            path.push((ch.at, ch.to));
        }
    }
    let mut seen: BTreeMap<(SocketAddrV4, SocketAddrV4), usize> = BTreeMap::new();
    convs
        .iter()
        .map(|c| {
            let p = &c.segments[0].packet;
            let x = SocketAddrV4::new(p.src, p.segment.src_port);
            let y = SocketAddrV4::new(p.dst, p.segment.dst_port);
            let (a, b) = if x.ip() <= y.ip() { (x, y) } else { (y, x) };
            let k = seen.entry((a, b)).or_insert(0);
            let path = |me, peer| {
                incarnations
                    .get(&(me, peer))
                    .and_then(|l| l.get(*k))
                    .cloned()
                    .unwrap_or_default()
            };
            let out = [path(a, b), path(b, a)];
            *k += 1;
            out
        })
        .collect()
}

/// One side of one connection: its states in both worlds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathCheck {
    /// The connection, from 1.
    pub connection: usize,
    /// The side's host name.
    pub host: String,
    /// The states in the model.
    pub model: Vec<&'static str>,
    /// The states on the kernel.
    pub kernel: Vec<&'static str>,
    /// The same, or differing only in changes within the tolerance of the horizon.
    pub same: bool,
}

/// Compares the state paths of both sides of connection `i`; `sides` names the sides in the
/// order of [`state_paths`] (the lower address first).
pub fn compare_paths(
    i: usize,
    model: &[StatePath; 2],
    kernel: &[StatePath; 2],
    sides: &[String; 2],
    horizon: Duration,
) -> Vec<PathCheck> {
    let near_cut = |at: Duration| at + tolerance(horizon) >= horizon;
    (0..2)
        .filter(|&side| !model[side].is_empty() || !kernel[side].is_empty())
        .map(|side| {
            let (m, k) = (&model[side], &kernel[side]);
            let common = m.iter().zip(k).take_while(|(a, b)| a.1 == b.1).count();
            let same = m.len() == k.len() && common == m.len()
                || (common == m.len().min(k.len())
                    && m[common..]
                        .iter()
                        .chain(&k[common..])
                        .all(|(at, _)| near_cut(*at)));
            PathCheck {
                connection: i + 1,
                host: sides[side].clone(),
                model: m.iter().map(|(_, s)| *s).collect(),
                kernel: k.iter().map(|(_, s)| *s).collect(),
                same,
            }
        })
        .collect()
}

/// Both worlds side by side, for a person: the lines around a difference in two columns.
pub fn side_by_side(model: &[String], kernel: &[String]) -> String {
    let width = model.iter().map(String::len).max().unwrap_or(5).max(5);
    let mut out = format!("  {:<width$} | kernel\n", "model");
    for i in 0..model.len().max(kernel.len()) {
        let a = model.get(i).map_or("", String::as_str);
        let b = kernel.get(i).map_or("", String::as_str);
        let mark = if a == b { ' ' } else { '!' };
        let _ = writeln!(out, "{mark} {a:<width$} | {b}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsim_core::{Segment, TcpOptions};
    use std::net::Ipv4Addr;

    fn seg(at_ms: u64, from: usize, flags: &str, seq: u32, ack: u32, len: usize) -> Seen {
        let (src, dst, sp, dp) = if from == 0 {
            (
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
                40000,
                80,
            )
        } else {
            (
                Ipv4Addr::new(10, 0, 0, 2),
                Ipv4Addr::new(10, 0, 0, 1),
                80,
                40000,
            )
        };
        Seen {
            at: Duration::from_millis(at_ms),
            from,
            packet: Packet {
                src,
                dst,
                segment: Segment {
                    src_port: sp,
                    dst_port: dp,
                    seq: Seq(seq),
                    ack: Seq(ack),
                    flags: TcpFlags::parse(flags).unwrap(),
                    options: TcpOptions::default(),
                    payload: vec![0; len],
                    ..Segment::default()
                },
            },
            injected: false,
        }
    }

    fn names() -> Vec<String> {
        vec!["client".into(), "server".into()]
    }

    /// A handshake with ISNs `c` and `s`, shifted in time by `dt` ms.
    fn handshake(c: u32, s: u32, dt: u64) -> Vec<Seen> {
        vec![
            seg(dt, 0, "S", c, 0, 0),
            seg(1 + dt, 1, "S.", s, c + 1, 0),
            seg(2 + dt, 0, ".", c + 1, s + 1, 0),
        ]
    }

    #[test]
    fn different_isns_and_small_time_shifts_compare_the_same() {
        let m = conversations(&handshake(1000, 5000, 0));
        let k = conversations(&handshake(77, 99_999, 2));
        assert_eq!(m.len(), 1);
        assert_eq!(
            lines(&m[0], &names()),
            [
                "client [S] seq 0 len 0",
                "server [S.] seq 0 ack 1 len 0",
                "client [.] seq 1 ack 1 len 0"
            ]
        );
        assert_eq!(
            compare(&m[0], &k[0], &names(), Duration::from_secs(10)),
            Verdict::Same { segments: 3 }
        );
    }

    #[test]
    fn a_different_segment_or_time_is_the_first_difference() {
        let m = conversations(&handshake(1000, 5000, 0));
        let mut other = handshake(1000, 5000, 0);
        other[2].packet.segment.payload = vec![1; 10];
        let k = conversations(&other);
        let Verdict::Differs { at, what, .. } =
            compare(&m[0], &k[0], &names(), Duration::from_secs(10))
        else {
            panic!("must differ");
        };
        assert_eq!((at, what.as_str()), (2, "segment"));
        // A whole connection shifted in time is the same (times count from its first
        // segment); one segment 50 ms late within it is not.
        let shifted = conversations(&handshake(1000, 5000, 50));
        assert_eq!(
            compare(&m[0], &shifted[0], &names(), Duration::from_secs(10)),
            Verdict::Same { segments: 3 }
        );
        let mut late = handshake(1000, 5000, 0);
        late[2].at += Duration::from_millis(50);
        let late = conversations(&late);
        let Verdict::Differs { at, what, .. } =
            compare(&m[0], &late[0], &names(), Duration::from_secs(10))
        else {
            panic!("50 ms late is beyond the tolerance");
        };
        assert_eq!(at, 2);
        assert!(what.starts_with("time"), "{what}");
    }

    #[test]
    fn segments_crossing_the_other_way_within_the_tolerance_are_not_a_difference() {
        // The server's ACK and the client's next data segment, 1 ms apart, cross in real time.
        let mut m = handshake(1000, 5000, 0);
        m.push(seg(10, 1, ".", 5001, 1001, 0));
        m.push(seg(11, 0, ".", 1001, 5001, 100));
        let mut k = handshake(1000, 5000, 0);
        k.push(seg(10, 0, ".", 1001, 5001, 100));
        k.push(seg(11, 1, ".", 5001, 1001, 0));
        let (m, k) = (conversations(&m), conversations(&k));
        assert_eq!(
            compare(&m[0], &k[0], &names(), Duration::from_secs(10)),
            Verdict::Same { segments: 5 }
        );
        // The same swap 50 ms apart is a difference in time, named in the later direction's
        // words.
        let mut late = handshake(1000, 5000, 0);
        late.push(seg(60, 1, ".", 5001, 1001, 0));
        late.push(seg(61, 0, ".", 1001, 5001, 100));
        let late = conversations(&late);
        let Verdict::Differs { what, .. } =
            compare(&m[0], &late[0], &names(), Duration::from_secs(10))
        else {
            panic!("50 ms apart is beyond the tolerance");
        };
        assert!(what.starts_with("time: 10ms in the model, 60ms"), "{what}");
    }

    /// A ping-pong of `n` one-byte segments after the handshake, each sent `hop` ms after the
    /// one before, plus `extra` ms before the last.
    fn ping_pong(n: u32, hop: u64, extra: u64) -> Vec<Seen> {
        let mut all = handshake(1000, 5000, 0);
        let mut at = 2;
        for i in 0..n {
            at += hop + if i + 1 == n { extra } else { 0 };
            let from = (i % 2) as usize;
            let (seq, ack) = if from == 0 {
                (1001 + i / 2, 5001 + i / 2)
            } else {
                (5001 + i / 2, 1002 + i / 2)
            };
            all.push(seg(at, from, "P.", seq, ack, 1));
        }
        all
    }

    #[test]
    fn lateness_that_adds_up_hop_by_hop_is_the_kernel_scheduling_but_a_slower_reply_is_not() {
        // The model: every hop 1 ms. The kernel: every hop 1.8 ms, so the 15th segment is
        // 11.2 ms late, within 5 ms plus 0.5 ms for each of the 14 before it.
        let m = conversations(&ping_pong(12, 1, 0));
        let mut k = ping_pong(12, 1, 0);
        for (i, s) in k.iter_mut().enumerate() {
            s.at += Duration::from_micros(800) * i as u32;
        }
        let k = conversations(&k);
        assert_eq!(
            compare(&m[0], &k[0], &names(), Duration::from_secs(10)),
            Verdict::Same { segments: 15 }
        );
        // The last reply 8 ms slower: within what is allowed since the start (12 ms) but not
        // since the segment before (9 ms where the model takes 1).
        let slow = conversations(&ping_pong(12, 1, 8));
        let Verdict::Differs { at, what, .. } =
            compare(&m[0], &slow[0], &names(), Duration::from_secs(10))
        else {
            panic!("a reply 8 ms slower is a difference");
        };
        assert_eq!(at, 14);
        assert!(
            what.ends_with("(1ms after the segment before in the model, 9ms on the kernel)"),
            "{what}"
        );
        // The same 8 ms spread over the hops is the same.
        let mut spread = ping_pong(12, 1, 0);
        for (i, s) in spread.iter_mut().enumerate() {
            s.at += Duration::from_micros(8000 / 14) * i as u32;
        }
        let spread = conversations(&spread);
        assert!(matches!(
            compare(&m[0], &spread[0], &names(), Duration::from_secs(10)),
            Verdict::Same { .. }
        ));
    }

    #[test]
    fn a_segment_only_one_world_sent_just_before_the_horizon_is_the_cut() {
        let m = conversations(&handshake(1000, 5000, 0));
        let k = conversations(&handshake(1000, 5000, 0)[..2]);
        // The third segment is at 2 ms: with a horizon of 3 ms it lies within the tolerance
        // of the cut; with 100 ms it is missing.
        assert_eq!(
            compare(&m[0], &k[0], &names(), Duration::from_millis(3)),
            Verdict::Same { segments: 2 }
        );
        let Verdict::Differs { what, .. } =
            compare(&m[0], &k[0], &names(), Duration::from_millis(100))
        else {
            panic!("missing well before the horizon");
        };
        assert_eq!(what, "missing on the kernel");
    }

    #[test]
    fn state_paths_join_an_unbound_connect_and_read_time_wait_as_closed() {
        use crate::states::StateChange;
        let a = |port| SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), port);
        let b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let ch = |ms: u64, local, remote, from, to| StateChange {
            at: Duration::from_millis(ms),
            local,
            remote,
            from,
            to,
        };
        let convs = conversations(&handshake(1000, 5000, 1));
        // The kernel: connect() before the port is bound reports port 0.
        let kernel = [
            ch(0, a(0), b, "CLOSED", "SYN_SENT"),
            ch(2, a(40000), b, "SYN_SENT", "ESTABLISHED"),
            ch(3, b, a(40000), "LISTEN", "SYN_RECEIVED"),
            ch(3, b, a(40000), "SYN_RECEIVED", "ESTABLISHED"),
            ch(8, a(40000), b, "ESTABLISHED", "FIN_WAIT_2"),
            ch(9, a(40000), b, "FIN_WAIT_2", "CLOSED"),
        ];
        // The model: the same, through TIME_WAIT.
        let model = [
            ch(0, a(40000), b, "CLOSED", "SYN_SENT"),
            ch(2, a(40000), b, "SYN_SENT", "ESTABLISHED"),
            ch(3, b, a(40000), "LISTEN", "SYN_RECEIVED"),
            ch(3, b, a(40000), "SYN_RECEIVED", "ESTABLISHED"),
            ch(8, a(40000), b, "ESTABLISHED", "FIN_WAIT_2"),
            ch(9, a(40000), b, "FIN_WAIT_2", "TIME_WAIT"),
        ];
        let k = state_paths(&convs, &kernel);
        let m = state_paths(&convs, &model);
        let names = ["client".to_string(), "server".to_string()];
        let checks = compare_paths(0, &m[0], &k[0], &names, Duration::from_secs(1));
        assert_eq!(checks.len(), 2);
        assert!(checks.iter().all(|c| c.same), "{checks:#?}");
        assert_eq!(
            checks[0].kernel,
            ["CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_2"]
        );
        // A side that went elsewhere differs.
        let mut other = kernel.to_vec();
        other[4] = ch(8, a(40000), b, "ESTABLISHED", "CLOSE_WAIT");
        let k = state_paths(&convs, &other);
        let checks = compare_paths(0, &m[0], &k[0], &names, Duration::from_secs(1));
        assert!(!checks[0].same && checks[1].same, "{checks:#?}");
    }

    #[test]
    fn a_new_syn_after_the_close_starts_a_new_conversation() {
        let mut all = handshake(1000, 5000, 0);
        all.push(seg(3, 0, "F.", 1001, 5001, 0));
        all.push(seg(4, 1, "F.", 5001, 1002, 0));
        all.extend(handshake(9000, 7000, 10));
        assert_eq!(conversations(&all).len(), 2);
    }
}
