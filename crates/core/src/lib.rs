//! Shared vocabulary of netsim: virtual time ([`SimTime`], [`SimDuration`]), the TCP/IPv4 wire
//! format ([`Packet`], [`Segment`], [`TcpFlags`], [`Seq`]) with its byte codec ([`codec`]) and
//! the stable hash used for trace hashes. No simulation logic, no protocol rules, no randomness
//! live here.

pub mod codec;
pub mod fastmap;
pub mod hash;
pub mod time;
pub mod wire;

pub use hash::{StableHasher, hash_str};
pub use time::{ParseDurationError, SimDuration, SimTime};
pub use wire::{
    IPV4_HEADER_LEN, OptionItem, Packet, RelativePacket, SACK_BLOCKS_MAX, SackBlocks, Segment, Seq,
    TCP_HEADER_LEN, TcpFlags, TcpOptions, Timestamps,
};
