//! The eleven connection states and the transitions RFC 9293's state diagram (§3.3.2, Figure 5)
//! allows, plus the resets and aborts that the event processing rules (§3.10) add.

use std::fmt;

/// A TCP connection state, printed exactly as the article and the RFC name it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a connection request.
    Listen,
    /// Sent a SYN, waiting for a matching SYN.
    SynSent,
    /// Received and sent a SYN, waiting for the ACK of ours.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// Closed by us, our FIN not yet acknowledged.
    FinWait1,
    /// Our FIN acknowledged, waiting for the peer's FIN.
    FinWait2,
    /// Both FINs sent, ours not yet acknowledged (simultaneous close, or ACK lost).
    Closing,
    /// Both FINs exchanged and acknowledged; waiting 2×MSL before the 4-tuple is reusable.
    TimeWait,
    /// The peer closed; waiting for our application to close.
    CloseWait,
    /// Closed by the peer first, then by us; waiting for the ACK of our FIN.
    LastAck,
}

impl State {
    /// Every state, in the order of the RFC's list.
    pub const ALL: [State; 11] = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynReceived,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::Closing,
        State::TimeWait,
        State::CloseWait,
        State::LastAck,
    ];

    /// The name as printed: `FIN_WAIT_1`, `TIME_WAIT`, ...
    pub const fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN_SENT",
            State::SynReceived => "SYN_RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT_1",
            State::FinWait2 => "FIN_WAIT_2",
            State::Closing => "CLOSING",
            State::TimeWait => "TIME_WAIT",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
        }
    }

    /// The name `ss` prints for the state (iproute2's `sstate_name`).
    pub const fn ss_name(self) -> &'static str {
        match self {
            State::Closed => "UNCONN",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECV",
            State::Established => "ESTAB",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::Closing => "CLOSING",
            State::TimeWait => "TIME-WAIT",
            State::CloseWait => "CLOSE-WAIT",
            State::LastAck => "LAST-ACK",
        }
    }

    /// Parses a name as printed.
    pub fn from_name(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.name() == name)
    }

    /// True in the states where both sides' sequence numbers are known (RFC 9293 §3.3.2).
    pub const fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// True if RFC 9293's diagram, or its event processing rules, allow `self -> next`.
    pub fn can_become(self, next: State) -> bool {
        use State::*;
        if next == Closed {
            // RST, ABORT, timeouts and the normal ends reach CLOSED from every state but
            // CLOSED itself (§3.10.7.4 and §3.10.5). FIN_WAIT_1, FIN_WAIT_2 and CLOSING also
            // go straight to CLOSED where TIME_WAIT would follow but the TIME_WAIT table is
            // full: this follows Linux (tcp_time_wait calls tcp_done when inet_twsk_alloc
            // fails), the RFC has no such table.
            return self != Closed;
        }
        matches!(
            (self, next),
            (Closed, Listen)                 // passive OPEN
                | (Closed, SynSent)          // active OPEN
                | (Listen, SynReceived)      // rcv SYN
                | (Listen, SynSent)          // SEND on a listening socket
                | (SynSent, SynReceived)     // simultaneous open: rcv SYN
                | (SynSent, Established)     // rcv SYN,ACK
                | (SynReceived, Established) // rcv ACK of SYN
                | (SynReceived, Listen)      // RST on a passive open (§3.10.7.4)
                | (SynReceived, FinWait1)    // CLOSE
                | (SynReceived, CloseWait)   // rcv FIN (§3.10.7.4, eighth step)
                | (Established, FinWait1)    // CLOSE
                | (Established, CloseWait)   // rcv FIN
                | (FinWait1, FinWait2)       // rcv ACK of FIN
                | (FinWait1, Closing)        // rcv FIN (simultaneous close)
                | (FinWait1, TimeWait)       // rcv FIN+ACK of our FIN
                | (FinWait2, TimeWait)       // rcv FIN
                | (Closing, TimeWait)        // rcv ACK of FIN
                | (CloseWait, LastAck) // CLOSE
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9293 §3.3.2: the synchronized states are those after the handshake.
    #[test]
    fn synchronized_states_are_those_after_the_handshake() {
        for s in State::ALL {
            let handshake = matches!(
                s,
                State::Closed | State::Listen | State::SynSent | State::SynReceived
            );
            assert_eq!(s.is_synchronized(), !handshake, "{s}");
        }
    }

    #[test]
    fn names_are_the_articles() {
        let names: Vec<&str> = State::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "CLOSED",
                "LISTEN",
                "SYN_SENT",
                "SYN_RECEIVED",
                "ESTABLISHED",
                "FIN_WAIT_1",
                "FIN_WAIT_2",
                "CLOSING",
                "TIME_WAIT",
                "CLOSE_WAIT",
                "LAST_ACK"
            ]
        );
        for s in State::ALL {
            assert_eq!(State::from_name(s.name()), Some(s));
        }
    }

    #[test]
    fn the_diagram_allows_the_article_paths_and_nothing_backwards() {
        use State::*;
        let client = [
            Closed,
            SynSent,
            Established,
            FinWait1,
            FinWait2,
            TimeWait,
            Closed,
        ];
        let server_child = [Listen, SynReceived, Established, CloseWait, LastAck, Closed];
        for path in [&client[..], &server_child[..]] {
            for pair in path.windows(2) {
                assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
            }
        }
        // Linux: the TIME_WAIT table is full (tcp_time_wait -> tcp_done).
        for from in [FinWait1, FinWait2, Closing] {
            assert!(from.can_become(Closed), "{from} -> CLOSED");
        }
        for (from, to) in [
            (TimeWait, Established),
            (FinWait2, FinWait1),
            (LastAck, CloseWait),
            (Closed, Established),
            (CloseWait, FinWait1),
            (Closed, Closed),
            (Established, SynSent),
        ] {
            assert!(!from.can_become(to), "{from} -> {to} must be illegal");
        }
    }
}
