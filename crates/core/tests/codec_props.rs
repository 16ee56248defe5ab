//! Property tests of the wire codec: emit then parse gives the packet back for any packet
//! whose options fit; options in any order with padding and unknown kinds parse the same;
//! parse never panics on any bytes; one changed byte in a valid packet is always refused. A
//! failing case is printed shrunk and saved in `tests/codec_props.proptest-regressions`;
//! `cargo test -p netsim-core --test codec_props` replays it first.

use std::net::Ipv4Addr;

use netsim_core::codec::{self, EmitError, TCP_OPTIONS_LEN_MAX};
use netsim_core::{Packet, SackBlocks, Segment, Seq, TcpFlags, TcpOptions, Timestamps};
use proptest::collection::vec;
use proptest::prelude::*;

/// Any options, with SACK blocks left out from the end until they fit in 40 bytes (so up to 4
/// blocks without timestamps, 3 with, fewer beside the SYN options).
fn arb_options() -> impl Strategy<Value = TcpOptions> {
    (
        any::<Option<u16>>(),
        any::<Option<u8>>(),
        any::<bool>(),
        any::<Option<(u32, u32)>>(),
        vec(any::<(u32, u32)>(), 0..=4),
    )
        .prop_map(|(mss, window_scale, sack_permitted, ts, blocks)| {
            let mut options = TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamps: ts.map(|(val, ecr)| Timestamps { val, ecr }),
                sack: SackBlocks::NONE,
            };
            let blocks: Vec<_> = blocks.into_iter().map(|(l, r)| (Seq(l), Seq(r))).collect();
            for n in (0..=blocks.len()).rev() {
                options.sack = SackBlocks::from_slice(&blocks[..n]);
                if options.wire_len() <= TCP_OPTIONS_LEN_MAX {
                    break;
                }
            }
            options
        })
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    (
        any::<(u32, u32, u16, u16)>(),
        any::<(u32, u32, u8, u16)>(),
        arb_options(),
        vec(any::<u8>(), 0..4096),
    )
        .prop_map(
            |((src, dst, src_port, dst_port), (seq, ack, flags, window), options, payload)| {
                Packet {
                    src: Ipv4Addr::from(src),
                    dst: Ipv4Addr::from(dst),
                    segment: Segment {
                        src_port,
                        dst_port,
                        seq: Seq(seq),
                        ack: Seq(ack),
                        flags: TcpFlags(flags),
                        window,
                        options,
                        payload,
                    },
                }
            },
        )
}

/// Recomputes both checksums of an IPv4 (IHL 5) + TCP packet whose bytes a test changed.
fn reseal(bytes: &mut [u8]) {
    if bytes.len() < 40 {
        return;
    }
    bytes[10..12].fill(0);
    let c = codec::internet_checksum(&bytes[..20]);
    bytes[10..12].copy_from_slice(&c.to_be_bytes());
    let src = Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]);
    let dst = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
    bytes[36..38].fill(0);
    let c = codec::tcp_checksum(src, dst, &bytes[20..]);
    bytes[36..38].copy_from_slice(&c.to_be_bytes());
}

/// Each present option's bytes, one vector per option, with no padding.
fn option_chunks(o: &TcpOptions) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    if let Some(mss) = o.mss {
        chunks.push([&[2, 4][..], &mss.to_be_bytes()].concat());
    }
    if let Some(shift) = o.window_scale {
        chunks.push(vec![3, 3, shift]);
    }
    if o.sack_permitted {
        chunks.push(vec![4, 2]);
    }
    if let Some(ts) = o.timestamps {
        chunks.push([&[8, 10][..], &ts.val.to_be_bytes(), &ts.ecr.to_be_bytes()].concat());
    }
    if !o.sack.is_empty() {
        let mut sack = vec![5, 2 + 8 * o.sack.len() as u8];
        for (l, r) in o.sack.as_slice() {
            sack.extend_from_slice(&l.0.to_be_bytes());
            sack.extend_from_slice(&r.0.to_be_bytes());
        }
        chunks.push(sack);
    }
    chunks
}

/// A NOP, or an option of a kind the codec does not know, with a body of 0 to 5 bytes.
fn arb_filler() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![1]),
        (
            prop::sample::select(vec![6u8, 7, 19, 28, 30, 34, 253, 254]),
            vec(any::<u8>(), 0..6)
        )
            .prop_map(|(kind, body)| [&[kind, 2 + body.len() as u8][..], &body].concat()),
    ]
}

/// Options, and an option list carrying them in a random order among NOPs and unknown kinds.
fn arb_shuffled_options() -> impl Strategy<Value = (TcpOptions, Vec<u8>)> {
    (arb_options(), vec(arb_filler(), 0..6)).prop_flat_map(|(options, fillers)| {
        let mut chunks = option_chunks(&options);
        let mut len: usize = chunks.iter().map(Vec::len).sum();
        for filler in fillers {
            if len + filler.len() <= TCP_OPTIONS_LEN_MAX {
                len += filler.len();
                chunks.push(filler);
            }
        }
        let list = Just(chunks).prop_shuffle().prop_map(|chunks| {
            let mut list = chunks.concat();
            list.resize(list.len().div_ceil(4) * 4, 0);
            list
        });
        (Just(options), list)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Emit then parse gives the same packet, and emitting that again the same bytes.
    #[test]
    fn emit_then_parse_gives_the_packet_back(packet in arb_packet(), ip_id in any::<u16>()) {
        let bytes = codec::to_bytes(&packet, ip_id).unwrap();
        prop_assert_eq!(bytes.len(), packet.wire_len());
        let parsed = codec::parse(&bytes).unwrap();
        prop_assert_eq!(&parsed, &packet);
        prop_assert_eq!(codec::to_bytes(&parsed, ip_id).unwrap(), bytes);
    }

    /// Real stacks order options their own way (RFC 9293 §3.1 fixes none): any order, with
    /// NOPs and unknown kinds among them, parses to the same options.
    #[test]
    fn options_parse_the_same_in_any_order(
        packet in arb_packet(),
        (options, list) in arb_shuffled_options(),
    ) {
        let mut plain = packet.clone();
        plain.segment.options = TcpOptions::default();
        let mut bytes = codec::to_bytes(&plain, 0).unwrap();
        bytes.splice(40..40, list.iter().copied());
        let total_len = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&total_len.to_be_bytes());
        bytes[32] = ((5 + list.len() / 4) as u8) << 4;
        reseal(&mut bytes);
        let parsed = codec::parse(&bytes).unwrap();
        prop_assert_eq!(parsed.segment.options, options);
        prop_assert_eq!(parsed.segment.payload, packet.segment.payload);
    }
}

/// What `parse` accepted emits and parses the same, unless its options only fitted packed
/// tighter than Linux's layout (the exception the codec's module documentation names).
fn check_reemit(packet: Packet) -> Result<(), TestCaseError> {
    match codec::to_bytes(&packet, 0) {
        Ok(again) => prop_assert_eq!(codec::parse(&again), Ok(packet)),
        Err(e) => prop_assert!(matches!(e, EmitError::OptionsTooLong { .. }), "{}", e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes at all: parse returns, and what it accepts emits and parses the same.
    #[test]
    fn parse_of_any_bytes_never_panics(bytes in vec(any::<u8>(), 0..256)) {
        if let Ok(packet) = codec::parse(&bytes) {
            check_reemit(packet)?;
        }
    }

    /// Garbage written over a valid packet's headers and options, checksums made right again,
    /// so that parsing reaches the structural checks and the option list: it never panics, and
    /// what it accepts emits and parses the same.
    #[test]
    fn parse_of_resealed_garbage_never_panics(
        packet in arb_packet(),
        at in 0usize..80,
        garbage in vec(any::<u8>(), 1..48),
    ) {
        let mut bytes = codec::to_bytes(&packet, 0).unwrap();
        let at = at.min(bytes.len() - 1);
        let end = (at + garbage.len()).min(bytes.len());
        bytes[at..end].copy_from_slice(&garbage[..end - at]);
        reseal(&mut bytes);
        if let Ok(parsed) = codec::parse(&bytes) {
            check_reemit(parsed)?;
        }
    }

    /// Every byte is covered by a checksum (the IPv4 header by its own, the rest by TCP's),
    /// and one changed byte always changes a one's-complement sum: it is always refused,
    /// whether by a checksum or by a structural check that comes first.
    #[test]
    fn one_changed_byte_is_refused(
        packet in arb_packet(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut bytes = codec::to_bytes(&packet, 0).unwrap();
        let at = at.index(bytes.len());
        bytes[at] ^= xor;
        prop_assert!(codec::parse(&bytes).is_err(), "byte {} ^ {:#04x} accepted", at, xor);
    }
}
