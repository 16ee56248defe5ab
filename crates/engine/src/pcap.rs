//! Packet captures that Wireshark, tshark and tcpdump read: the classic pcap format with
//! nanosecond timestamps (magic `a1b23c4d`) and raw IPv4 frames (LINKTYPE_RAW, 101), each
//! packet emitted as real bytes by the wire codec, with valid IPv4 and TCP checksums. A
//! packet's timestamp is its virtual time (the run starts at the epoch).
//!
//! [`PcapSink`] writes two captures as a run goes, so that drops show: one at the senders
//! (every packet a host handed to the network) and one at the receivers (every packet
//! delivered, network-made copies included). Nothing is kept in memory but the copies in
//! flight.

use std::collections::BTreeMap;
use std::io::{self, Write};

use netsim_core::codec;
use netsim_core::{Packet, SimTime};

use crate::trace::{PacketId, TraceKind, TraceRecord, TraceSink};

/// LINKTYPE_RAW: each frame is an IPv4 (or IPv6) packet with no link-layer header.
const LINKTYPE_RAW: u32 = 101;
/// The magic number of a pcap file whose timestamps count nanoseconds.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Longest frame a capture says it may hold (IPv4's largest packet).
const SNAPLEN: u32 = 65_535;

/// Writes one pcap capture to `out`.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Starts a capture: writes the file header.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&MAGIC_NANOS.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // time zone: UTC
        header.extend_from_slice(&0u32.to_le_bytes()); // timestamp accuracy
        header.extend_from_slice(&SNAPLEN.to_le_bytes());
        header.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            buf: vec![0; usize::from(u16::MAX)],
            packets: 0,
        })
    }

    /// Appends `packet` as seen at `at`, with IPv4 identification `ip_id`.
    pub fn packet(&mut self, at: SimTime, packet: &Packet, ip_id: u16) -> io::Result<()> {
        let len = codec::emit(packet, ip_id, &mut self.buf)
            .map_err(|e| io::Error::other(format!("cannot write a packet as bytes: {e}")))?;
        let ns = at.as_nanos();
        // Seconds past u32 (year 2106) cannot be written; virtual time rarely gets there.
        let seconds = u32::try_from(ns / 1_000_000_000).map_err(|_| {
            io::Error::other(format!("{at} is past the last time a pcap file can hold"))
        })?;
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&seconds.to_le_bytes());
        header[4..8].copy_from_slice(&((ns % 1_000_000_000) as u32).to_le_bytes());
        header[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        header[12..16].copy_from_slice(&(len as u32).to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&self.buf[..len])?;
        self.packets += 1;
        Ok(())
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flushes and hands back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A trace sink that writes the packets of a run into two captures, at the senders and at the
/// receivers, and passes every record on to `inner`. A copy the network made carries its
/// original's IPv4 identification, as a duplicated packet does on a real network.
#[derive(Debug)]
pub struct PcapSink<S, W: Write> {
    /// The sink every record goes on to.
    pub inner: S,
    sent: PcapWriter<W>,
    delivered: PcapWriter<W>,
    /// Copies in flight, with their originals.
    copies: BTreeMap<PacketId, PacketId>,
    error: Option<io::Error>,
}

impl<S, W: Write> PcapSink<S, W> {
    /// Writes both file headers; records then go to `sent` and `delivered`.
    pub fn new(inner: S, sent: W, delivered: W) -> io::Result<PcapSink<S, W>> {
        Ok(PcapSink {
            inner,
            sent: PcapWriter::new(sent)?,
            delivered: PcapWriter::new(delivered)?,
            copies: BTreeMap::new(),
            error: None,
        })
    }

    /// The inner sink and both outputs, or the first write error.
    pub fn finish(self) -> io::Result<(S, W, W)> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok((self.inner, self.sent.finish()?, self.delivered.finish()?))
    }

    fn write(&mut self, at: SimTime, packet: &Packet, id: PacketId, delivered: bool) {
        if self.error.is_some() {
            return;
        }
        let ip_id = self.copies.get(&id).copied().unwrap_or(id).0 as u16;
        let out = if delivered {
            &mut self.delivered
        } else {
            &mut self.sent
        };
        if let Err(e) = out.packet(at, packet, ip_id) {
            self.error = Some(e);
        }
    }
}

impl<E, S: TraceSink<E>, W: Write> TraceSink<E> for PcapSink<S, W> {
    fn start(&mut self, host_names: &[String]) {
        self.inner.start(host_names);
    }

    fn record(&mut self, record: &TraceRecord<'_, E>) {
        match record.kind {
            TraceKind::Sent { id, packet, .. } => self.write(record.at, packet, id, false),
            TraceKind::Duplicated { id, copy, .. } => {
                let original = self.copies.get(&id).copied().unwrap_or(id);
                self.copies.insert(copy, original);
            }
            TraceKind::Delivered { id, packet, .. } => {
                self.write(record.at, packet, id, true);
                self.copies.remove(&id);
            }
            TraceKind::Dropped { id, .. } => {
                self.copies.remove(&id);
            }
            _ => {}
        }
        self.inner.record(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsim_core::{Segment, Seq, TcpFlags, TcpOptions};
    use std::net::Ipv4Addr;

    fn packet(payload: &[u8]) -> Packet {
        Packet {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            segment: Segment {
                src_port: 40000,
                dst_port: 80,
                seq: Seq(1000),
                ack: Seq(5000),
                flags: TcpFlags::ACK | TcpFlags::PSH,
                window: 502,
                options: TcpOptions::default(),
                payload: payload.to_vec(),
            },
        }
    }

    /// Reads a capture back: (seconds, nanoseconds, frame) per record.
    fn read(bytes: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(word(0), MAGIC_NANOS);
        assert_eq!(&bytes[4..8], &[2, 0, 4, 0]);
        assert_eq!(word(16), SNAPLEN);
        assert_eq!(word(20), LINKTYPE_RAW);
        let mut at = 24;
        let mut out = Vec::new();
        while at < bytes.len() {
            let (s, ns, incl, orig) = (word(at), word(at + 4), word(at + 8), word(at + 12));
            assert_eq!(incl, orig);
            let frame = bytes[at + 16..at + 16 + incl as usize].to_vec();
            out.push((s, ns, frame));
            at += 16 + incl as usize;
        }
        out
    }

    #[test]
    fn a_capture_holds_each_packet_as_bytes_that_parse_back_with_its_virtual_time() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let a = packet(b"hello");
        let b = packet(b"");
        w.packet(SimTime::from_nanos(1_500_000_123), &a, 7).unwrap();
        w.packet(SimTime::from_nanos(3_000_000_000), &b, 8).unwrap();
        assert_eq!(w.packets(), 2);
        let records = read(&w.finish().unwrap());
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].0, records[0].1), (1, 500_000_123));
        assert_eq!((records[1].0, records[1].1), (3, 0));
        assert_eq!(codec::parse(&records[0].2).unwrap(), a);
        assert_eq!(codec::parse(&records[1].2).unwrap(), b);
        // The identification is the one given (bytes 4..6 of the IPv4 header).
        assert_eq!(&records[0].2[4..6], &7u16.to_be_bytes());
    }

    #[test]
    fn the_sink_captures_at_senders_and_receivers_and_a_copy_keeps_its_original_id() {
        let p = packet(b"x");
        let mut seen = 0;
        let mut sink = PcapSink::new(
            |_: &TraceRecord<'_, crate::NoEvent>| seen += 1,
            Vec::new(),
            Vec::new(),
        )
        .unwrap();
        let at = |ms: u64| SimTime::from_nanos(ms * 1_000_000);
        let host = crate::HostId(0);
        let records = [
            TraceKind::Sent {
                host,
                id: PacketId(1),
                packet: &p,
                sender_state: "",
            },
            TraceKind::Duplicated {
                id: PacketId(1),
                copy: PacketId(2),
                packet: &p,
                cause: crate::Cause::Link,
            },
            TraceKind::Delivered {
                host,
                id: PacketId(2),
                packet: &p,
            },
            TraceKind::Dropped {
                id: PacketId(1),
                packet: &p,
                reason: crate::DropReason::Loss,
            },
        ];
        for (i, kind) in records.into_iter().enumerate() {
            sink.record(&TraceRecord {
                at: at(i as u64),
                kind,
            });
        }
        let (_, sent, delivered) = sink.finish().unwrap();
        assert_eq!(seen, 4, "every record goes on to the inner sink");
        let sent = read(&sent);
        let delivered = read(&delivered);
        assert_eq!(sent.len(), 1);
        assert_eq!(
            delivered.len(),
            1,
            "the copy arrived, the original was lost"
        );
        assert_eq!(&delivered[0].2[4..6], &1u16.to_be_bytes());
        assert_eq!(delivered[0].1, 2_000_000);
    }
}
