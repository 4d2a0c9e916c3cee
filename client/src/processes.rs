//! `--processes N`: the hold split over processes, each under its own RLIMIT_NOFILE.
//!
//! Child `k` of `N` takes the global connection indices `k, k + N, k + 2N, ...`, so the plan's
//! round-robin over (source, destination) pairs stays even across processes and no pair passes
//! the knee. Children publish their counters (and their RTT histogram) to their slot of the
//! supervisor's board; the parent adds them up once per second into one live line and one
//! summary, O(processes) per tick.
//!
//! The hold is one hold for all: the parent opens the gate once every child has finished its
//! ramp (or died trying), and every child holds from that instant.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use c10m_kernel::probe::Probe;
use c10m_report::histogram::Histogram;
use c10m_report::tick::Ticker;
use c10m_sys::process::{self, Exit};
use c10m_sys::shm::Board;
use c10m_sys::signal;
use c10m_sys::supervisor::{Restart, Supervisor};

use crate::config::{Options, Part};
use crate::engine::registry;
use crate::error::Error;
use crate::hold::{self, Report};
use crate::output::{
    Bound, Failure, Figures, Line, Output, Summary, SummaryInput, Tick, TickInput, PROG,
};
use crate::plan::Plan;
use crate::start::WallAnchor;
use crate::stats::{Gate, Published, Totals};
use crate::steps::Steps;

/// The hold gate opens once every child is done with its ramp or gone.
fn gate_opens(ramp_done: usize, died_before_ramp: usize, children: usize) -> bool {
    ramp_done + died_before_ramp >= children
}

/// Runs `plan.processes` children and aggregates them into one summary, said through `output`,
/// whose pages listen already and whose threads start once the children are forked (so they
/// live in this process alone), showing `initial` until the first tick; `first` says the first
/// lines.
pub(crate) fn run(
    opts: &Options,
    plan: &Plan,
    (output, initial): (Bound, &Figures),
    first: impl FnOnce(&Output),
) -> Result<(Summary, Output), Error> {
    let n = plan.processes as usize;
    let mut sup: Supervisor<Published, Gate> =
        Supervisor::new(n, opts.session, Restart::Never).map_err(Error::Processes)?;
    let wall = WallAnchor::now();
    let epoch = Instant::now();
    let mut child = |k: usize, board: &Board<Published, Gate>| -> i32 {
        let part = Part {
            index: k as u64,
            of: n as u64,
        };
        let mut probe = Probe::open();
        let report = Report::Child {
            board,
            slot: k,
            epoch,
        };
        let run = registry::build(opts, plan, part)
            .and_then(|mut e| hold::run(opts, plan, part, &mut *e, report, &mut probe));
        match run {
            Ok(s) if s.success => 0,
            Ok(_) => 1,
            Err(e) => {
                log::error!("process {k}: {e}");
                2
            }
        }
    };
    sup.spawn_all(&mut child).map_err(Error::Processes)?;
    let out = output.start(PROG, initial).map_err(Error::PageStart)?;
    first(&out);
    let summary = supervise(&mut sup, opts, plan, &out, (epoch, wall), &mut child)?;
    Ok((summary, out))
}

fn supervise<F>(
    sup: &mut Supervisor<Published, Gate>,
    opts: &Options,
    plan: &Plan,
    out: &Output,
    (epoch, wall): (Instant, WallAnchor),
    child: &mut F,
) -> Result<Summary, Error>
where
    F: FnMut(usize, &Board<Published, Gate>) -> i32,
{
    let n = sup.len();
    let mut ticker = Ticker::new(epoch, Duration::from_secs(1));
    let mut established_before = 0;
    let mut rtt_before = Histogram::default();
    let mut seen: BTreeSet<&'static str> = BTreeSet::new();
    let mut peak_open = 0u64;
    let mut hold_started: Option<Instant> = None;
    let mut steps = Steps::new(&opts.pings);
    let mut interrupted = false;
    let mut died_before_ramp = 0usize;
    let mut probe = Probe::open();
    let mut child_failures = 0u64;
    let records = |sup: &Supervisor<Published, Gate>| {
        let board = sup.board();
        Totals::of((0..n).map(|k| board.load(k)))
    };
    while sup.running() > 0 {
        std::thread::sleep(Duration::from_millis(50));
        if signal::stop_requested() && !interrupted {
            interrupted = true;
            sup.signal_all(process::SIGTERM);
        }
        for e in sup.reap(true, child).map_err(Error::Processes)? {
            if e.last.ramp_done_us == 0 {
                // It will never report its ramp done: do not let it keep the gate shut.
                died_before_ramp += 1;
            }
            if !matches!(e.exit, Exit::Code(0) | Exit::Code(1)) {
                child_failures += 1;
                log::warn!("process {} (pid {}) {}", e.index, e.pid, e.exit);
            }
        }
        let t = records(sup);
        peak_open = peak_open.max(t.stats.open);
        for (name, _) in t.stats.failed.iter() {
            if seen.insert(name) {
                out.emit(&Line::Failure(&Failure::aggregated(name)));
            }
        }
        if hold_started.is_none() && gate_opens(t.ramp_done, died_before_ramp, n) {
            let now = Instant::now();
            hold_started = Some(now);
            sup.board().store_control(&Gate {
                hold_start_us: now.saturating_duration_since(epoch).as_micros() as u64 + 1,
            });
        }
        let now = Instant::now();
        if let (Some(steps), Some(start)) = (steps.as_mut(), hold_started) {
            while let Some(step) = steps.ended(now.saturating_duration_since(start), &t.stats) {
                out.emit(&Line::Step(&step));
            }
        }
        if let Some(dt) = ticker.due(now) {
            let reading = probe.read();
            let interval_rtt = t.stats.rtt.since(&rtt_before);
            let tick = Tick::new(
                &t.stats,
                TickInput {
                    elapsed_s: now.duration_since(epoch).as_secs_f64(),
                    dt,
                    established_before,
                    rtt: &interval_rtt,
                    rss_bytes: t.rss.now,
                    tcp_tw: reading.tcp.tcp_tw,
                    knee: plan.past_knee(t.stats.launched),
                    requested: plan.requested,
                },
            );
            let mut figures = Figures::of(&t.stats, plan, t.rss.now, reading.tcp);
            figures.extra.rss_start = t.rss.start;
            let board = sup.board();
            for (k, each) in figures.extra.each.0.iter_mut().enumerate().take(n) {
                *each = board.load(k).stats.open;
            }
            out.emit(&Line::Tick {
                tick: &tick,
                figures: &figures,
            });
            rtt_before = t.stats.rtt;
            established_before = t.stats.established;
        }
    }
    let t = records(sup);
    let mut stats = t.stats;
    stats.peak_open = peak_open.max(stats.peak_open.min(stats.established));
    if child_failures > 0 {
        stats.failed.add("process_died", child_failures);
    }
    // From the common hold start to the first child's hold end (teardown is not holding).
    let held_s = hold_started.map_or(0.0, |start| {
        let end = t
            .first_hold_end_us
            .map_or_else(Instant::now, |us| epoch + Duration::from_micros(us - 1));
        end.saturating_duration_since(start).as_secs_f64()
    });
    let mut summary = Summary::new(
        &stats,
        SummaryInput {
            elapsed_to_all_s: t.elapsed_to_all_s(n),
            held_s,
            rss_bytes: t.rss.now,
            rss_bytes_per_conn: t.rss.per_conn_at_peak(),
            interrupted,
            memory_guard: t.mem_stop,
        },
    );
    summary.ramp_started_unix_s = t
        .first_connect_us
        .map(|us| wall.unix_of(epoch + Duration::from_micros(us - 1)));
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_waits_for_every_child_or_its_death() {
        assert!(!gate_opens(2, 0, 3));
        assert!(gate_opens(2, 1, 3));
        assert!(gate_opens(3, 0, 3));
    }
}
