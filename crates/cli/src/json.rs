//! `--format json`: the trace as JSON lines, one object per record, then the summary as one
//! object. Field names are stable; times are given in nanoseconds and as text.

use std::io::{self, Write};

use netsim_core::Packet;
use netsim_engine::{Connections, DropReason, TraceKind, TraceRecord, TraceSink};
use netsim_host::HostEvent;
use netsim_scenario::{Report, Scenario};
use netsim_tcp::TcpEvent;
use netsim_view::TraceFilter;
use serde_json::{Value, json};

/// Writes records as JSON lines; keeps the first write error.
pub struct JsonLines<W: Write> {
    names: Vec<String>,
    out: W,
    error: Option<io::Error>,
    /// Numbers the connections (the `conn` field).
    conns: Connections,
    /// Which records to write.
    filter: TraceFilter,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W, filter: TraceFilter) -> Self {
        JsonLines {
            names: Vec::new(),
            out,
            error: None,
            conns: Connections::default(),
            filter,
        }
    }

    /// The filter, with what it saw of the run.
    pub fn filter(&self) -> &TraceFilter {
        &self.filter
    }

    pub fn finish(mut self) -> io::Result<W> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn name(&self, host: netsim_engine::HostId) -> &str {
        self.names.get(host.0 as usize).map_or("?", String::as_str)
    }
}

fn packet(p: &Packet) -> Value {
    let s = &p.segment;
    let mut v = json!({
        "src": format!("{}:{}", p.src, s.src_port),
        "dst": format!("{}:{}", p.dst, s.dst_port),
        "flags": s.flags.to_string(),
        "seq": s.seq.0,
        "ack": s.ack.0,
        "win": s.window,
        "len": s.payload.len(),
    });
    let o = &s.options;
    if let Some(mss) = o.mss {
        v["mss"] = json!(mss);
    }
    if let Some(ws) = o.window_scale {
        v["wscale"] = json!(ws);
    }
    if let Some(ts) = o.timestamps {
        v["tsval"] = json!(ts.val);
        v["tsecr"] = json!(ts.ecr);
    }
    v
}

fn reason(r: DropReason) -> String {
    r.to_string()
}

impl<W: Write> TraceSink<HostEvent> for JsonLines<W> {
    fn start(&mut self, host_names: &[String]) {
        self.names = host_names.to_vec();
    }

    fn record(&mut self, record: &TraceRecord<'_, HostEvent>) {
        let conn = self.conns.record(record);
        if self.error.is_some() || !self.filter.keep(record, conn) {
            return;
        }
        let mut v = match &record.kind {
            TraceKind::Sent {
                host,
                id,
                packet: p,
                sender_state,
            } => json!({"kind": "sent", "host": self.name(*host), "id": id.0,
                        "state": sender_state, "packet": packet(p)}),
            TraceKind::Delivered {
                host,
                id,
                packet: p,
            } => {
                json!({"kind": "delivered", "host": self.name(*host), "id": id.0, "packet": packet(p)})
            }
            TraceKind::Dropped {
                id,
                packet: p,
                reason: r,
            } => {
                json!({"kind": "dropped", "id": id.0, "reason": reason(*r), "packet": packet(p)})
            }
            TraceKind::Duplicated {
                id,
                copy,
                packet: p,
                cause,
            } => json!({"kind": "duplicated",
                "id": id.0, "copy": copy.0, "cause": cause.to_string(), "packet": packet(p)}),
            TraceKind::Delayed {
                id,
                packet: p,
                by,
                cause,
            } => json!({"kind": "delayed",
                "id": id.0, "by_ns": by.as_nanos(), "cause": cause.to_string(), "packet": packet(p)}),
            TraceKind::Held {
                id,
                packet: p,
                cause: netsim_engine::Cause::Fault(fault),
            } => json!({"kind": "held", "id": id.0,
                "fault": fault.0 + 1, "packet": packet(p)}),
            TraceKind::Held {
                id,
                packet: p,
                cause: netsim_engine::Cause::Link,
            } => json!({"kind": "held", "id": id.0, "cause": "link", "packet": packet(p)}),
            TraceKind::Released { id, packet: p } => {
                json!({"kind": "released", "id": id.0, "packet": packet(p)})
            }
            TraceKind::Timer { host, token, label } => {
                json!({"kind": "timer", "host": self.name(*host), "token": token, "label": label})
            }
            TraceKind::Protocol { host, event } => {
                let mut v =
                    json!({"kind": "tcp", "host": self.name(*host), "text": event.to_string()});
                match event {
                    HostEvent::Tcp(TcpEvent::State { conn, from, to }) => {
                        v["event"] = json!("state");
                        v["local"] = json!(conn.local.to_string());
                        v["remote"] = json!(conn.remote.to_string());
                        v["from"] = json!(from.name());
                        v["to"] = json!(to.name());
                    }
                    HostEvent::Tcp(TcpEvent::Error { conn, errno }) => {
                        v["event"] = json!("error");
                        v["local"] = json!(conn.local.to_string());
                        v["remote"] = json!(conn.remote.to_string());
                        v["errno"] = json!(errno.name());
                    }
                    HostEvent::BadRead(b) => {
                        v["kind"] = json!("violation");
                        v["violation"] = json!(if b.stale_from.is_some() {
                            "StaleData"
                        } else {
                            "CorruptData"
                        });
                        v["local"] = json!(b.conn.local.to_string());
                        v["remote"] = json!(b.conn.remote.to_string());
                        v["offset"] = json!(b.offset);
                        v["incarnation"] = json!(b.incarnation);
                        v["stale_from"] = json!(b.stale_from);
                    }
                    HostEvent::CallFailed { call, errno } => {
                        v["kind"] = json!("app");
                        v["call"] = json!(call);
                        v["errno"] = json!(errno.name());
                    }
                    _ => {}
                }
                v
            }
            TraceKind::Network(change) => {
                let hosts: Vec<&str> = change.hosts().into_iter().map(|h| self.name(h)).collect();
                json!({"kind": "network", "change": change.name(), "hosts": hosts})
            }
        };
        if let Some(c) = conn {
            v["conn"] = json!({"number": c.tag.number, "incarnation": c.tag.incarnation});
            if let Some(into) = c.into {
                // A segment of an older incarnation delivered to a socket on a newer one.
                v["into"] = json!({"number": into.number, "incarnation": into.incarnation});
            }
        }
        v["time_ns"] = json!(record.at.as_nanos());
        v["time"] = json!(record.at.to_string());
        if let Err(e) = writeln!(self.out, "{v}") {
            self.error = Some(e);
        }
    }
}

/// The summary as one JSON object.
pub fn summary(scenario: &Scenario, seed: u64, report: &Report, wall_secs: f64) -> Value {
    let o = &report.outcome;
    let hosts: Vec<Value> = report
        .hosts
        .iter()
        .map(|h| {
            let at_end: serde_json::Map<String, Value> = netsim_tcp::State::ALL
                .iter()
                .filter(|s| h.at_end[**s as usize] > 0)
                .map(|s| (s.name().to_string(), json!(h.at_end[*s as usize])))
                .collect();
            let peaks: serde_json::Map<String, Value> = netsim_tcp::State::ALL
                .iter()
                .filter(|s| h.peaks[**s as usize] > 0)
                .map(|s| (s.name().to_string(), json!(h.peaks[*s as usize])))
                .collect();
            let errors: serde_json::Map<String, Value> = h
                .app
                .errors
                .iter()
                .map(|(e, n)| (e.name().to_string(), json!(n)))
                .collect();
            let sockets: Vec<Value> = h
                .sockets
                .iter()
                .map(|s| {
                    json!({
                        "state": s.state.name(),
                        "local": s.local.to_string(),
                        "peer": s.peer.map(|p| p.to_string()),
                        "recv_q": s.recv_q,
                        "send_q": s.send_q,
                        "timer": s.timer.map(|t| json!({
                            "kind": t.kind, "left_ns": t.left.as_nanos(), "retries": t.retries,
                        })),
                    })
                })
                .collect();
            json!({
                "name": h.name, "at_end": at_end, "peaks": peaks, "errors": errors,
                "sockets": sockets,
                "unfinished_tasks": h.app.not_done(),
                "early_eofs": h.app.early_eofs,
                "scripted": h.scripted,
                "retransmits": h.counters.retransmits,
                "fin_retransmits": h.counters.fin_retransmits,
                "timeouts": h.counters.timeouts,
                "recoveries": h.counters.recoveries,
                "sack_recoveries": h.counters.sack_recoveries,
                "loss_probes": h.counters.loss_probes,
                "keepalive_probes": h.counters.keepalive_probes,
                "bytes_received": h.app.bytes_received,
            })
        })
        .collect();
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| json!({"passed": c.passed, "reached": c.reached, "check": c.text}))
        .collect();
    json!({
        "kind": "summary",
        "scenario": scenario.file.name,
        "seed": seed,
        "passed": report.passed(),
        "result": report.verdict().name(),
        "checks_failed": report.failures().count(),
        "checks_not_reached": report.not_reached().count(),
        "end_ns": o.end.as_nanos(),
        "stop": netsim_scenario::stop_reason(o.stop),
        "events": o.events,
        "segments_sent": o.stats.sent,
        "copies": o.stats.copies,
        "delivered": o.stats.delivered,
        "dropped": o.stats.dropped_total(),
        "in_flight": o.in_flight,
        "drops": o
            .stats
            .dropped
            .iter()
            .map(|(reason, n)| (reason.to_string(), json!(n)))
            .collect::<serde_json::Map<String, Value>>(),
        "faults": o
            .faults
            .iter()
            .map(|f| json!({"matched": f.matched, "fired": f.fired}))
            .collect::<Vec<Value>>(),
        "trace_records": o.trace_records,
        "trace_hash": format!("{:016x}", o.trace_hash),
        "hosts": hosts,
        "checks": checks,
        "wall_seconds": wall_secs,
    })
}
