//! [`Probe`]: a host with no protocol at all. It sends a fixed plan of packets at fixed times
//! and records what arrives. It exists to exercise and measure the network on its own (tests,
//! benchmarks, link demos); real hosts run the TCP model instead.

use netsim_core::{Packet, SimTime};

use crate::sim::{Ctx, Host};
use crate::trace::NoEvent;

/// One packet of a probe's plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// When to send it.
    pub at: SimTime,
    /// The packet.
    pub packet: Packet,
    /// The "sender state" label it carries, for fault filters.
    pub label: &'static str,
}

/// A scripted packet source and sink.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    plan: Vec<Planned>,
    next: usize,
    /// Packets received, with their arrival times, in arrival order.
    pub received: Vec<(SimTime, Packet)>,
    /// Times the host crashed.
    pub crashes: u32,
    /// Times the host restarted.
    pub restarts: u32,
}

impl Probe {
    /// A probe that sends `plan` (sorted by time here, keeping the given order for equal times).
    pub fn new(mut plan: Vec<Planned>) -> Probe {
        plan.sort_by_key(|p| p.at);
        Probe {
            plan,
            ..Probe::default()
        }
    }

    /// A probe that sends nothing and only listens.
    pub fn listener() -> Probe {
        Probe::default()
    }

    fn arm_next(&mut self, ctx: &mut Ctx<'_, NoEvent>) {
        if let Some(p) = self.plan.get(self.next) {
            ctx.set_timer(p.at, self.next as u64);
        }
    }
}

impl Host for Probe {
    type Event = NoEvent;

    fn start(&mut self, ctx: &mut Ctx<'_, NoEvent>) {
        self.arm_next(ctx);
    }

    fn packet(&mut self, ctx: &mut Ctx<'_, NoEvent>, packet: Packet) {
        self.received.push((ctx.now(), packet));
    }

    fn timer(&mut self, ctx: &mut Ctx<'_, NoEvent>, _token: u64) {
        let now = ctx.now();
        while let Some(p) = self.plan.get(self.next).filter(|p| p.at <= now) {
            ctx.send(p.packet.clone(), p.label);
            self.next += 1;
        }
        self.arm_next(ctx);
    }

    fn crash(&mut self) {
        self.crashes += 1;
    }

    /// Resumes the plan with the first packet not yet due; packets due while down are skipped.
    fn restart(&mut self, ctx: &mut Ctx<'_, NoEvent>) {
        self.restarts += 1;
        let now = ctx.now();
        while self.plan.get(self.next).is_some_and(|p| p.at < now) {
            self.next += 1;
        }
        self.arm_next(ctx);
    }
}
