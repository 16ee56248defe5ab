//! What a link direction does to one packet: the serialiser (bandwidth and the drop-tail
//! queue) and the random knobs (loss, jitter, reordering, duplication), each drawing from its
//! own seeded stream in a fixed order. The engine's network and the kernel comparison's wire
//! both use these, so the n-th packet into a direction meets the same fate in both worlds.

use std::collections::VecDeque;

use netsim_core::{SimDuration, SimTime};

use crate::config::{LinkConfig, QueueLimit};
use crate::rng::Stream;

/// One random stream per knob of a link direction, so that turning one knob off (or on)
/// leaves the draws of the others exactly as they were: what lets a sweep shrink a failing
/// fault schedule one fault at a time.
///
/// A stream is set up on its first draw: its numbers depend only on the seed and its name,
/// so setting it up late changes nothing, and a link without random knobs (most of them)
/// costs no cipher set-up at the start of every run of a sweep.
#[derive(Debug)]
pub struct LinkStreams {
    seed: u64,
    /// `link:<from>-><to>`.
    name: String,
    /// Loss, duplicate, reorder, jitter, once drawn from.
    streams: [Option<Stream>; 4],
}

const LOSS: usize = 0;
const DUPLICATE: usize = 1;
const REORDER: usize = 2;
const JITTER: usize = 3;
const KNOBS: [&str; 4] = ["loss", "duplicate", "reorder", "jitter"];

/// The random part of one packet's trip, drawn by [`LinkStreams::draw`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkDraw {
    /// Lost (nothing else was drawn).
    pub lost: bool,
    /// Latency plus jitter.
    pub base: SimDuration,
    /// Extra delay of a reordered packet.
    pub reorder: Option<SimDuration>,
    /// A duplicate arrives this long (latency plus its own jitter) after serialisation.
    pub copy: Option<SimDuration>,
}

impl LinkStreams {
    /// The streams of the direction named `link:<from>-><to>`, from the run's seed.
    pub fn new(seed: u64, from: &str, to: &str) -> LinkStreams {
        // Pushed, not `format!`ed: every run of a sweep makes two of these per link.
        let mut name = String::with_capacity(7 + from.len() + to.len());
        name.push_str("link:");
        name.push_str(from);
        name.push_str("->");
        name.push_str(to);
        LinkStreams {
            seed,
            name,
            streams: [None, None, None, None],
        }
    }

    /// The stream of knob `which`, set up on first use as `<name>/<knob>`.
    fn stream(&mut self, which: usize) -> &mut Stream {
        let (seed, name) = (self.seed, &self.name);
        self.streams[which]
            .get_or_insert_with(|| Stream::derive(seed, &format!("{name}/{}", KNOBS[which])))
    }

    /// [`Stream::chance`] of knob `which`: a probability of zero draws nothing.
    fn chance(&mut self, which: usize, p: crate::Probability) -> bool {
        !p.is_never() && self.stream(which).chance(p)
    }

    /// [`Stream::duration_up_to`] of the jitter stream: no jitter draws nothing.
    fn jitter(&mut self, max: SimDuration) -> SimDuration {
        if max.is_zero() {
            return SimDuration::ZERO;
        }
        self.stream(JITTER).duration_up_to(max)
    }

    /// Draws one packet's fate on a direction with `config`: loss first, then jitter,
    /// reordering, duplication and the copy's jitter. Knobs that are not set draw nothing.
    pub fn draw(&mut self, config: &LinkConfig) -> LinkDraw {
        if self.chance(LOSS, config.loss) {
            return LinkDraw {
                lost: true,
                base: SimDuration::ZERO,
                reorder: None,
                copy: None,
            };
        }
        let base = config.latency + self.jitter(config.jitter);
        let reorder = self
            .chance(REORDER, config.reorder)
            .then_some(config.reorder_delay);
        let copy = self
            .chance(DUPLICATE, config.duplicate)
            .then(|| config.latency + self.jitter(config.jitter));
        LinkDraw {
            lost: false,
            base,
            reorder,
            copy,
        }
    }
}

/// A direction's serialiser: packets leave one after another at the link's bandwidth, and
/// wait in a drop-tail queue while it is busy.
#[derive(Debug, Default)]
pub struct Serialiser {
    /// Packets not yet fully sent: (start, finish, bytes), in order.
    busy: VecDeque<(SimTime, SimTime, u64)>,
}

impl Serialiser {
    /// Reserves the serialiser for `bytes` at `now` and returns when the last bit is out, or
    /// `None` when the queue is full. Without a bandwidth, a packet is out at once.
    pub fn reserve(&mut self, config: &LinkConfig, now: SimTime, bytes: u64) -> Option<SimTime> {
        let Some(bps) = config.bandwidth_bps else {
            return Some(now);
        };
        while self
            .busy
            .front()
            .is_some_and(|&(_, finish, _)| finish <= now)
        {
            self.busy.pop_front();
        }
        // Waiting packets are those whose serialisation has not started yet.
        let waiting = self.busy.iter().filter(|&&(start, _, _)| start > now);
        let full = match config.queue {
            None => false,
            Some(QueueLimit::Packets(max)) => waiting.count() >= max as usize,
            Some(QueueLimit::Bytes(max)) => waiting.map(|&(_, _, b)| b).sum::<u64>() + bytes > max,
        };
        if full {
            return None;
        }
        let start = self
            .busy
            .back()
            .map_or(now, |&(_, finish, _)| finish.max(now));
        let ns = (u128::from(bytes) * 8 * 1_000_000_000).div_ceil(u128::from(bps));
        let finish = start + SimDuration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX));
        self.busy.push_back((start, finish, bytes));
        Some(finish)
    }
}
