//! Requests instead of held connections: `--mode churn` and `--mode keepalive`.
//!
//! # Churn: the TIME_WAIT pattern (claims C1, C2, C3)
//! Each request is a whole connection: connect, send `--payload` bytes, read the echo, close.
//! The side that calls close() first sends the first FIN and, once the peer's FIN is acknowledged,
//! keeps the connection's 4-tuple in TIME_WAIT for `TCP_TIMEWAIT_LEN`, 60 s compiled into the
//! kernel (`tcp_fin_timeout` is the FIN_WAIT_2 timeout, not this). A client that closes first
//! therefore holds `rate x 60` TIME_WAIT sockets, each keeping its local port out of
//! `ip_local_port_range` for that pair: past `ports / 60` requests per second to one
//! (source, destination) pair, connect() fails with EADDRNOTAVAIL unless `tcp_tw_reuse` lets it
//! take over a TIME_WAIT port (safe only with TCP timestamps, which prove old duplicates stale).
//! `--close rst` sets SO_LINGER {on, 0}: close() sends a RST and no TIME_WAIT exists on either
//! side. With `--close wait` the client reads on until the server's FIN and only then closes:
//! against a server run with `--close-first`, which closes right after its echo, the TIME_WAIT
//! lands on the server's side instead. (Without the wait both ends close within microseconds of
//! each other on loopback, and a simultaneous close leaves TIME_WAIT on both.)
//!
//! # Keep-alive: the same requests, no churn (claim C6)
//! `--mode keepalive` opens N connections once and sends the same request rate over them, each
//! request on an idle connection of the pool: no connect, no close, no TIME_WAIT per request.
//!
//! # What the live line counts
//! TIME_WAIT from `/proc/net/sockstat` (`tw`), and from one pass over `/proc/net/tcp`: which side
//! holds it (a local port that is a target port is the server's) and how many distinct ports of
//! `ip_local_port_range` are taken. The pass walks every socket of the network namespace, fine
//! at lab sizes (tens of thousands), which is why only these modes read it.

use std::time::{Duration, Instant};

use c10m_kernel::probe::Probe;
use c10m_kernel::tcp_table::{self, PortCensus};
use c10m_report::tick::Ticker;
use c10m_sys::signal;

use crate::config::{Close, Mode, Options};
use crate::driver::{After, Behaviour, Driver};
use crate::engine::{CloseHow, Engine};
use crate::error::Error;
use crate::output::{Figures, Line, Output, RequestsStart, RequestsSummary, RequestsTick};
use crate::pacing::Pacer;
use crate::payload::Payload;
use crate::plan::Plan;
use crate::start::wait_for_start;

const TICK: Duration = Duration::from_secs(1);
/// After --duration, how long requests still in flight may take to finish.
const DRAIN: Duration = Duration::from_secs(2);

fn close_how(close: Close) -> CloseHow {
    match close {
        Close::Rst => CloseHow::Rst,
        Close::Fin | Close::Wait => CloseHow::Fin,
    }
}

/// The driver's behaviour for churn or keep-alive.
fn behaviour(opts: &Options) -> Behaviour {
    let churn = opts.mode == Mode::Churn;
    Behaviour {
        payload: Payload {
            min: opts.payload.0,
            max: opts.payload.1,
        },
        connect_timeout: opts.connect_timeout,
        exchange_on_connect: churn,
        after: match (churn, opts.close) {
            (false, _) => After::Idle,
            (true, Close::Wait) => After::AwaitClose,
            (true, c) => After::Close(close_how(c)),
        },
        close_lost: close_how(opts.close),
        lost_step: "read()/write()",
        announce_eof: false,
    }
}

/// The `start` line: what the run will do.
pub(crate) fn start_line(opts: &Options, plan: &Plan) -> RequestsStart {
    RequestsStart {
        mode: opts.mode,
        rate: opts.rate,
        duration_s: opts.duration.as_secs_f64(),
        close: opts.close,
        connections: plan.requested,
        targets: plan.targets.len() as u64,
        sources: plan.sources.len() as u64,
        port_range: plan.port_range.map(|r| format!("{}-{}", r.low, r.high)),
    }
}

/// Who holds the TIME_WAIT, from /proc/net/tcp.
struct Census {
    ephemeral: (u16, u16),
    server_ports: Vec<u16>,
}

impl Census {
    fn read(&self) -> PortCensus {
        tcp_table::read_tcp_ports(self.ephemeral, &self.server_ports).unwrap_or_default()
    }

    fn ports(&self) -> u64 {
        u64::from(self.ephemeral.1.saturating_sub(self.ephemeral.0)) + 1
    }
}

pub(crate) fn run(
    opts: &Options,
    plan: &Plan,
    engine: &mut dyn Engine,
    out: &Output,
    probe: &mut Probe,
) -> Result<RequestsSummary, Error> {
    let keepalive = opts.mode == Mode::Keepalive;
    let n = plan.requested;
    wait_for_start(opts, true);
    let mut d = Driver::new(
        behaviour(opts),
        plan.connections as usize,
        Some(out.clone()),
    );
    let started = d.started();
    let mut server_ports: Vec<u16> = plan.targets.iter().map(|t| t.port()).collect();
    server_ports.sort_unstable();
    server_ports.dedup();
    let census = Census {
        ephemeral: plan.port_range.map_or((32768, 60999), |r| (r.low, r.high)),
        server_ports,
    };
    let mut pacer = Pacer::new(opts.rate as f64);
    let mut ticker = Ticker::new(started, TICK);
    let mut ok_before = 0u64;
    let mut requests = 0u64;
    let mut cursor = 0usize;
    // Keep-alive: requests start once the pool is open; churn: at once.
    let mut requests_from: Option<Instant> = (!keepalive).then_some(started);
    if let Some(t) = requests_from {
        pacer.start_at(t);
    }
    let mut interrupted = false;
    let (mut tw_peak, mut ports_peak) = (0u64, 0u64);

    loop {
        if signal::stop_requested() {
            interrupted = true;
            break;
        }
        let now = Instant::now();
        if keepalive && requests_from.is_none() {
            while d.stats.launched < n && d.stats.connecting < opts.concurrency {
                let (dst, src) = plan.route(d.stats.launched);
                d.launch(engine, now, dst, src);
            }
            if d.stats.established + d.stats.connect_failures >= n && d.stats.connecting == 0 {
                if d.stats.established == 0 {
                    break; // nothing to send requests over
                }
                requests_from = Some(now);
                pacer.start_at(now);
            }
        }
        let sending_until = requests_from.map(|t| t + opts.duration);
        let sending = sending_until.is_some_and(|end| now < end);
        if sending {
            let due = pacer.due(now, u64::MAX);
            while requests < due && d.stats.connecting + d.stats.busy < opts.concurrency {
                if keepalive {
                    let (slot, looked) = d.idle_slot(cursor, d.conns.len());
                    cursor = (cursor + looked) % d.conns.len().max(1);
                    let Some(slot) = slot else {
                        // Every pooled connection is busy: the request waits (counted, not
                        // queued without bound).
                        d.stats.requests_delayed += due - requests;
                        requests = due;
                        break;
                    };
                    requests += 1;
                    d.start_exchange(engine, slot);
                } else {
                    if d.stats.launched >= n {
                        break;
                    }
                    requests += 1;
                    let (dst, src) = plan.route(d.stats.launched);
                    d.launch(engine, now, dst, src);
                }
            }
        }
        d.expire_connects(engine, now);
        if let Some(end) = sending_until {
            let idle = d.stats.connecting + d.stats.busy == 0;
            if now >= end && (idle || now >= end + DRAIN) {
                break;
            }
        }

        let mut wake = ticker.deadline();
        if let Some(deadline) = d.next_deadline() {
            wake = wake.min(deadline);
        }
        if sending {
            wake = wake.min(now + Duration::from_millis(2));
        }
        if let Some(end) = sending_until {
            wake = wake.min(end.max(now));
        }
        engine
            .poll(wake.saturating_duration_since(now), &mut d)
            .map_err(Error::Poll)?;

        let now = Instant::now();
        if let Some(dt) = ticker.due(now) {
            let reading = probe.read();
            let tcp = reading.tcp;
            let c = census.read();
            tw_peak = tw_peak.max(tcp.tcp_tw);
            ports_peak = ports_peak.max(c.ephemeral_in_use);
            let ok = d.stats.exchanges_ok;
            let tick = RequestsTick::new(
                &d.stats,
                now.duration_since(started).as_secs_f64(),
                ok.saturating_sub(ok_before) as f64 / dt,
                tcp.tcp_tw,
                c,
                census.ports(),
            );
            let figures = Figures::of(&d.stats, plan, reading.rss_bytes, tcp);
            out.emit(&Line::RequestsTick {
                tick: &tick,
                figures: &figures,
            });
            ok_before = ok;
        }
    }

    let sent_s = requests_from.map_or(0.0, |t| t.elapsed().as_secs_f64());
    d.teardown(engine, close_how(opts.close));
    engine.linger(&mut d).map_err(Error::Poll)?;
    let tcp = probe.tcp();
    let end = census.read();
    let st = &d.stats;
    Ok(RequestsSummary {
        mode: opts.mode,
        close: opts.close,
        rate: opts.rate,
        sent_s,
        requests,
        requests_ok: st.exchanges_ok,
        requests_delayed: st.requests_delayed,
        connects: st.launched,
        opened: st.established,
        failed: st.failed,
        first_failure_s: d
            .first_failure_s
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        echo_mismatches: st.echo_mismatches,
        latency_p50_us: st.rtt.quantile(0.5),
        latency_p99_us: st.rtt.quantile(0.99),
        tcp_tw_end: tcp.tcp_tw,
        tcp_tw_peak: tw_peak.max(tcp.tcp_tw),
        tw_client_end: end.tw_client,
        tw_server_end: end.tw_server,
        ports_in_use_peak: ports_peak.max(end.ephemeral_in_use),
        interrupted,
        success: st.failed.is_empty() && st.echo_mismatches == 0 && st.exchanges_ok > 0,
    })
}
