//! `--mode hold`: open N connections, hold them, ping them, close them all at once.
//!
//! # Bounded in flight
//! At most `--concurrency` handshakes are outstanding. Without the bound, a client on loopback can
//! finish handshakes faster than the server accepts them: the accept queue (capped by
//! `net.core.somaxconn`) fills, the listener drops SYNs, and those clients wait a full SYN
//! retransmission timeout (1 s) — the ramp stalls for no reason of the server's.
//!
//! # Pings without per-connection timers
//! With `--ping-interval I`, a cursor walks the connection table and starts `open / I` pings per
//! second, so every connection pings about once per interval and the loop keeps no timer per
//! connection; with `--message-rate R` it starts this process's share of R a second, the cursor
//! still spreading them evenly over the connections, and the loop wakes every millisecond so
//! they leave paced, not in bursts. Pings start with the hold: during the ramp they would compete
//! with handshakes. The cursor's first lap counts the connections pinged at least once.
//!
//! # One hold for all processes
//! With `--processes`, a child that finishes its ramp waits until the parent sees every child
//! finished ([`crate::processes`]), then all hold from that instant, so `--hold 30` means 30 s
//! with all N open. After the hold the client waits up to [`PING_DRAIN`] (or `--drain`) for
//! the echoes of pings still in flight, then resets every connection (no TIME_WAIT left behind
//! for the next run), and gives its engine the time it asks for after that ([`Engine::linger`]).

use std::time::{Duration, Instant};

use c10m_kernel::memory;
use c10m_kernel::probe::Probe;
use c10m_report::histogram::Histogram;
use c10m_report::rss::RssTrack;
use c10m_report::tick::Ticker;
use c10m_sys::shm::Board;
use c10m_sys::signal;

use crate::config::{Options, Part, Pings};
use crate::driver::{After, Behaviour, Driver};
use crate::engine::{CloseHow, Engine, Io};
use crate::error::Error;
use crate::memguard::{self, MemGuard};
use crate::output::{Figures, Line, Output, Summary, SummaryInput, Tick, TickInput};
use crate::pacing::Pacer;
use crate::payload::Payload;
use crate::plan::Plan;
use crate::start::{wait_for_start, WallAnchor};
use crate::stats::{Gate, Published};
use crate::steps::Steps;

const TICK: Duration = Duration::from_secs(1);
/// How often a `--processes` child publishes its counters.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(200);
/// The most pings one turn of the loop starts.
const MAX_PINGS_PER_CALL: f64 = 4096.0;
/// How long, after the hold, the client waits for the echoes of pings still in flight, unless
/// `--drain` says.
const PING_DRAIN: Duration = Duration::from_secs(5);

/// Where the loop's measurements go.
#[derive(Clone)]
pub(crate) enum Report<'a> {
    /// Printed: one process does it all.
    Print(Output),
    /// Published to slot `slot` of the parent's board (a `--processes` child).
    Child {
        board: &'a Board<Published, Gate>,
        slot: usize,
        epoch: Instant,
    },
}

fn us_since(epoch: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(epoch).as_micros() as u64 + 1
}

/// The driver's behaviour in hold mode.
fn behaviour(opts: &Options) -> Behaviour {
    Behaviour {
        payload: Payload {
            min: opts.payload.0,
            max: opts.payload.1,
        },
        connect_timeout: opts.connect_timeout,
        exchange_on_connect: false,
        after: After::Idle,
        close_lost: CloseHow::Fin,
        lost_step: "read()",
        announce_eof: true,
    }
}

/// Starts pings at a steady rate over the open connections.
#[derive(Debug, Default)]
struct Pinger {
    cursor: usize,
    budget: f64,
    /// The cursor has been round the table once: every connection was offered a ping.
    lapped: bool,
}

impl Pinger {
    /// Starts `due` more pings on connections with none in flight.
    fn due(&mut self, driver: &mut Driver, io: &mut dyn Io, due: f64) {
        // More pings than can start in one call (the server is slower than the pings asked
        // for) are dropped, not saved up: the scan stays bounded however far behind it falls.
        self.budget = (self.budget + due).min(MAX_PINGS_PER_CALL);
        let cap = driver.conns.len();
        let limit = cap.min((self.budget as usize).saturating_mul(8).max(256));
        let mut scanned = 0;
        while self.budget >= 1.0 && scanned < limit {
            let (slot, looked) = driver.idle_slot(self.cursor, limit - scanned);
            // The slot found is the last one looked at: still on the first lap unless the scan
            // went past the table's end.
            let first_lap = !self.lapped && self.cursor + looked <= cap;
            self.lapped |= self.cursor + looked >= cap;
            self.cursor = (self.cursor + looked) % cap.max(1);
            scanned += looked;
            let Some(slot) = slot else { break };
            driver.start_exchange(io, slot);
            driver.stats.pinged += u64::from(first_lap);
            self.budget -= 1.0;
        }
        if scanned >= limit {
            self.budget = self.budget.min(1.0);
        }
    }
}

/// Runs this process's `part` of the plan on `engine`.
pub(crate) fn run(
    opts: &Options,
    plan: &Plan,
    part: Part,
    engine: &mut dyn Engine,
    report: Report<'_>,
    probe: &mut Probe,
) -> Result<Summary, Error> {
    let requested = part.count(plan.requested);
    let print = match &report {
        Report::Print(out) => Some(out.clone()),
        Report::Child { .. } => None,
    };
    let capacity = requested.min(plan.fd_room.max(1)).min(1 << 24) as usize;
    wait_for_start(opts, print.is_some() || part.index == 0);
    let wall = WallAnchor::now();
    let mut d = Driver::new(behaviour(opts), capacity, print.clone());
    d.stats.requested = requested;
    let started = d.started();
    let mut record = Published::default();
    let mut rss = RssTrack::new(probe.rss_bytes());
    let mut pacer = Pacer::new(opts.rate as f64 / part.of as f64);
    let concurrency = part.share(opts.concurrency);
    let mut pinger = Pinger::default();
    let mut steps = print.as_ref().and_then(|_| Steps::new(&opts.pings));
    let tick_every = if print.is_some() {
        TICK
    } else {
        PUBLISH_INTERVAL
    };
    let mut ticker = Ticker::new(started, tick_every);
    let mut established_before = 0;
    let mut rtt_before = Histogram::default();
    let mut elapsed_to_all_s = None;
    let mut ramp_done = false;
    let mut hold: Option<(Instant, Option<Instant>)> = None; // (start, end; None: until a signal)
    let mut hold_ended_at: Option<Instant> = None;
    let mut last_ping_check = started;
    let mut interrupted = false;
    let mut guard = MemGuard::new(
        memguard::threshold(opts),
        memory::read_meminfo().map_or(0, |m| m.available_for_sockets()),
        0,
        started,
    );
    let drain = opts.drain.unwrap_or(PING_DRAIN);
    // What this process opens: `requested`, unless the memory guard stops the ramp first.
    let mut goal = requested;

    loop {
        if signal::stop_requested() {
            interrupted = true;
            break;
        }
        let now = Instant::now();
        if !ramp_done && guard.due(now) {
            let available = memory::read_meminfo().map_or(u64::MAX, |m| m.available_for_sockets());
            if guard.observe(available, d.stats.open) {
                goal = d.stats.launched;
                if let (Some(stop), true) = (guard.stop(), print.is_some() || part.index == 0) {
                    log::warn!("{}", stop.text());
                }
            }
        }
        let allowed = pacer.due(now, goal);
        while d.stats.launched < allowed && d.stats.connecting < concurrency {
            let (dst, src) = plan.route(part.global(d.stats.launched));
            d.launch(engine, now, dst, src);
        }
        d.expire_connects(engine, now);

        if !ramp_done && d.stats.launched == goal && d.stats.connecting == 0 {
            ramp_done = true;
            d.ramp_done(engine, now);
            engine.ramp_done();
            let first = d.first_connect.unwrap_or(started);
            elapsed_to_all_s = Some(now.duration_since(first).as_secs_f64());
            log::debug!(
                "ramp done: {} of {} established, {} failed",
                d.stats.established,
                requested,
                d.stats.failed.total()
            );
            rss.observe(d.stats.open, probe.rss_bytes());
            if let Report::Child { epoch, .. } = report {
                record.first_connect_us = us_since(epoch, first);
                record.ramp_done_us = us_since(epoch, now);
            }
        }
        if ramp_done && hold.is_none() {
            let start = match &report {
                Report::Print(_) => Some(now),
                Report::Child { board, epoch, .. } => {
                    let v = board.load_control().hold_start_us;
                    (v > 0).then(|| *epoch + Duration::from_micros(v - 1))
                }
            };
            if let Some(start) = start {
                hold = Some((start, opts.hold.map(|h| start + h)));
                if d.stats.open == 0 {
                    break; // nothing to hold
                }
            }
        }
        if let Some((_, Some(end))) = hold {
            if now >= end && hold_ended_at.is_none() {
                hold_ended_at = Some(now);
            }
            // Pings sent just before the end get their echo before the sockets close.
            if now >= end + drain || (now >= end && d.stats.busy == 0) {
                break;
            }
        }
        let room_to_ping = opts
            .engine
            .caps
            .max_in_flight
            .is_none_or(|most| d.stats.busy < most);
        if let (Some(pings), Some((start, _)), None, true) =
            (&opts.pings, hold, hold_ended_at, room_to_ping)
        {
            let dt = now.duration_since(last_ping_check).as_secs_f64();
            let per_s = pings.per_s(now.saturating_duration_since(start), d.stats.open, part);
            pinger.due(&mut d, engine, per_s * dt);
        }
        last_ping_check = now;

        let mut wake = ticker.deadline();
        if let Some((_, Some(end))) = hold {
            wake = wake.min(if now < end { end } else { end + drain });
        }
        if let Some(deadline) = d.next_deadline() {
            wake = wake.min(deadline);
        }
        let pace = match opts.pings {
            Some(Pings::Rate { .. }) if hold.is_some() => Some(Duration::from_millis(1)),
            Some(_) => Some(Duration::from_millis(5)),
            None => {
                (!pacer.unlimited() && d.stats.launched < goal).then(|| Duration::from_millis(5))
            }
        };
        if let Some(p) = pace {
            wake = wake.min(now + p);
        }
        let launch_ready =
            d.stats.launched < goal && d.stats.connecting < concurrency && pacer.unlimited();
        let timeout = if launch_ready {
            Duration::ZERO
        } else {
            wake.saturating_duration_since(now)
        };
        engine.poll(timeout, &mut d).map_err(Error::Poll)?;
        d.stats.wire = engine.wire();

        let now = Instant::now();
        if let (Some(steps), Some(out), Some((start, _))) = (steps.as_mut(), &print, hold) {
            while let Some(step) = steps.ended(now.saturating_duration_since(start), &d.stats) {
                out.emit(&Line::Step(&step));
            }
        }
        if let Some(dt) = ticker.due(now) {
            let reading = probe.read();
            rss.observe(d.stats.open, reading.rss_bytes);
            match &report {
                Report::Print(out) => {
                    let interval_rtt = d.stats.rtt.since(&rtt_before);
                    let tick = Tick::new(
                        &d.stats,
                        TickInput {
                            elapsed_s: now.duration_since(started).as_secs_f64(),
                            dt,
                            established_before,
                            rtt: &interval_rtt,
                            rss_bytes: reading.rss_bytes,
                            tcp_tw: reading.tcp.tcp_tw,
                            knee: plan.past_knee(d.stats.launched),
                            requested: plan.requested,
                        },
                    );
                    let mut figures = Figures::of(&d.stats, plan, reading.rss_bytes, reading.tcp);
                    figures.extra.rss_start = rss.start;
                    out.emit(&Line::Tick {
                        tick: &tick,
                        figures: &figures,
                    });
                }
                Report::Child { board, slot, .. } => {
                    record.stats = d.stats;
                    record.rss = rss;
                    record.mem_stop = guard.stop().unwrap_or_default();
                    board.store(*slot, &record);
                }
            }
            rtt_before = d.stats.rtt;
            established_before = d.stats.established;
        }
    }

    rss.observe(d.stats.open, probe.rss_bytes());
    let hold_end = hold_ended_at.unwrap_or_else(Instant::now);
    d.stats.unanswered = d.stats.busy;
    if let Report::Child { board, slot, epoch } = &report {
        record.hold_end_us = us_since(*epoch, hold_end);
        record.stats = d.stats;
        record.rss = rss;
        record.mem_stop = guard.stop().unwrap_or_default();
        board.store(*slot, &record);
    }
    let held_s = hold.map_or(0.0, |(start, _)| {
        hold_end.saturating_duration_since(start).as_secs_f64()
    });
    log::debug!("resetting {} connections", d.stats.open);
    d.teardown(engine, CloseHow::Rst);
    engine.linger(&mut d).map_err(Error::Poll)?;
    d.stats.wire = engine.wire();
    if let Report::Child { board, slot, .. } = &report {
        record.stats.wire = d.stats.wire;
        board.store(*slot, &record);
    }
    let mut summary = Summary::new(
        &d.stats,
        SummaryInput {
            elapsed_to_all_s,
            held_s,
            rss_bytes: rss.now,
            rss_bytes_per_conn: rss.per_conn_at_peak(),
            interrupted,
            memory_guard: guard.stop(),
        },
    );
    summary.ramp_started_unix_s = d.first_connect.map(|t| wall.unix_of(t));
    Ok(summary)
}
