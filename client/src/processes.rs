//! `--processes N`: the flood split over processes, each under its own RLIMIT_NOFILE.
//!
//! Child `k` of `N` takes the global connection indices `k, k + N, k + 2N, ...`, so the plan's
//! round-robin over (source, destination) pairs stays even across processes and no pair passes
//! the knee. Children publish their counters (and their RTT histogram) to a shared slot; the parent
//! sums them once per second into one live line and one summary, O(processes) per tick.
//!
//! The hold is one hold for all: a child that finishes its ramp waits until the parent sees every
//! child finished, then all hold from that instant, so `--hold 30` means 30 s with all N open.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use c10m_common::errno::KNOWN;
use c10m_common::probe::Probe;
use c10m_common::process::{self, Exit, Fork, SharedCounters};
use c10m_common::sys;

use crate::cli::Config;
use crate::flood::{self, Error, Sink, Slice};
use crate::plan::Plan;
use crate::report::{self, Output};
use crate::stats::{Histogram, Stats, Summary, Tick, BUCKETS};

/// How often a child publishes its counters.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(200);

const F_REQUESTED: usize = 0;
const F_LAUNCHED: usize = 1;
const F_ESTABLISHED: usize = 2;
const F_OPEN: usize = 3;
const F_PEAK_OPEN: usize = 4;
const F_IN_FLIGHT: usize = 5;
const F_PINGS_SENT: usize = 6;
const F_PINGS_OK: usize = 7;
const F_MISMATCHES: usize = 8;
const F_RSS: usize = 9;
const F_RSS_START: usize = 10;
const F_RSS_AT_PEAK: usize = 11;
const F_OPEN_AT_RSS: usize = 12;
/// µs since the parent's epoch + 1 (0: not yet).
const F_FIRST_CONNECT_US: usize = 13;
const F_RAMP_DONE_US: usize = 14;
/// When this child's hold ended, before its teardown (µs since the epoch + 1).
const F_HOLD_END_US: usize = 15;
const F_PINGS_UNANSWERED: usize = 16;
const F_FAILED: usize = 17;
/// KNOWN errnos, then `other`, then `EOF`.
const FAILED_KINDS: usize = KNOWN.len() + 2;
const F_RTT: usize = F_FAILED + FAILED_KINDS;
const STRIDE: usize = F_RTT + BUCKETS;
/// The parent's slot (the last one): when the hold starts, µs since the epoch + 1.
const G_HOLD_START_US: usize = 0;

fn failed_slot(name: &str) -> usize {
    match name {
        "EOF" => KNOWN.len() + 1,
        _ => KNOWN
            .iter()
            .position(|(_, n)| *n == name)
            .unwrap_or(KNOWN.len()),
    }
}

fn failed_name(i: usize) -> &'static str {
    match KNOWN.get(i) {
        Some((_, n)) => n,
        None if i == KNOWN.len() => "other",
        None => "EOF",
    }
}

fn us_since(epoch: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(epoch).as_micros() as u64 + 1
}

/// A child's handle on its slot and on the shared hold gate.
pub struct Publisher {
    counters: Rc<SharedCounters>,
    slot: usize,
    epoch: Instant,
}

impl Publisher {
    pub fn publish(&self, st: &Stats, rss: u64, rss_start: u64, rss_at_peak: (u64, u64)) {
        let (c, s) = (&self.counters, self.slot);
        c.set(s, F_REQUESTED, st.requested);
        c.set(s, F_LAUNCHED, st.launched);
        c.set(s, F_ESTABLISHED, st.established);
        c.set(s, F_OPEN, st.open);
        c.set(s, F_PEAK_OPEN, st.peak_open);
        c.set(s, F_IN_FLIGHT, st.in_flight);
        c.set(s, F_PINGS_SENT, st.pings_sent);
        c.set(s, F_PINGS_OK, st.pings_ok);
        c.set(s, F_PINGS_UNANSWERED, st.pings_unanswered);
        c.set(s, F_MISMATCHES, st.echo_mismatches);
        c.set(s, F_RSS, rss);
        c.set(s, F_RSS_START, rss_start);
        c.set(s, F_OPEN_AT_RSS, rss_at_peak.0);
        c.set(s, F_RSS_AT_PEAK, rss_at_peak.1);
        for (name, v) in &st.failed {
            c.set(s, F_FAILED + failed_slot(name), *v);
        }
        for (i, n) in st.rtt.buckets().iter().enumerate() {
            if *n > 0 {
                c.set(s, F_RTT + i, *n);
            }
        }
    }

    pub fn ramp_done(&self, at: Instant, first_connect: Instant) {
        self.counters.set(
            self.slot,
            F_FIRST_CONNECT_US,
            us_since(self.epoch, first_connect),
        );
        self.counters
            .set(self.slot, F_RAMP_DONE_US, us_since(self.epoch, at));
    }

    pub fn hold_ended(&self, at: Instant) {
        self.counters
            .set(self.slot, F_HOLD_END_US, us_since(self.epoch, at));
    }

    /// When every process has finished its ramp (set by the parent), if it has.
    pub fn hold_start(&self) -> Option<Instant> {
        let v = self
            .counters
            .get(self.counters.slots() - 1, G_HOLD_START_US);
        (v > 0).then(|| self.epoch + Duration::from_micros(v - 1))
    }
}

/// Runs `processes` children and aggregates them. Returns the combined summary.
pub fn run(cfg: &Config, plan: &Plan, processes: u64, out: Output) -> Result<Summary, Error> {
    let n = processes as usize;
    let counters =
        Rc::new(SharedCounters::new(n + 1, STRIDE).map_err(|e| Error(format!("mmap: {e}")))?);
    let epoch = Instant::now();
    let mut pids = vec![0i32; n];
    for (k, pid) in pids.iter_mut().enumerate() {
        match process::fork(cfg.session).map_err(|e| Error(format!("fork: {e}")))? {
            Fork::Parent { child } => *pid = child,
            Fork::Child => {
                let sink = Sink::Publish(Publisher {
                    counters: Rc::clone(&counters),
                    slot: k,
                    epoch,
                });
                let slice = Slice {
                    index: k as u64,
                    of: processes,
                };
                let mut probe = Probe::open();
                let code = match flood::run(cfg, plan, slice, sink, &mut probe) {
                    Ok(s) if s.success() => 0,
                    Ok(_) => 1,
                    Err(e) => {
                        eprintln!("c10m-client: process {k}: {e}");
                        2
                    }
                };
                process::exit_now(code);
            }
        }
    }
    Parent {
        counters,
        pids,
        epoch,
        out,
        plan,
    }
    .supervise()
}

struct Parent<'a> {
    counters: Rc<SharedCounters>,
    pids: Vec<i32>,
    epoch: Instant,
    out: Output,
    plan: &'a Plan,
}

/// What the children add up to.
struct Totals {
    stats: Stats,
    rss: u64,
    rss_growth_at_peak: f64,
    open_at_rss_peak: u64,
    ramp_done: usize,
    first_connect_us: Option<u64>,
    last_ramp_done_us: u64,
}

impl Parent<'_> {
    /// The children's RTT histograms merged: ~1,000 loads per child, so only once per tick.
    fn rtt(&self) -> Histogram {
        let mut rtt = Histogram::default();
        for k in 0..self.pids.len() {
            for i in 0..BUCKETS {
                rtt.add_to_bucket(i, self.counters.get(k, F_RTT + i));
            }
        }
        rtt
    }

    /// From the common hold start to the first child's hold end (teardown is not holding).
    fn held_s(&self, start: Option<Instant>) -> f64 {
        let Some(start) = start else { return 0.0 };
        let first_end = (0..self.pids.len())
            .map(|k| self.counters.get(k, F_HOLD_END_US))
            .filter(|v| *v > 0)
            .min();
        let end = first_end.map_or_else(Instant::now, |us| {
            self.epoch + Duration::from_micros(us - 1)
        });
        end.saturating_duration_since(start).as_secs_f64()
    }

    /// The children's counters summed (cheap: a few dozen loads per child).
    fn totals(&self) -> Totals {
        let c = &self.counters;
        let mut t = Totals {
            stats: Stats::default(),
            rss: 0,
            rss_growth_at_peak: 0.0,
            open_at_rss_peak: 0,
            ramp_done: 0,
            first_connect_us: None,
            last_ramp_done_us: 0,
        };
        for k in 0..self.pids.len() {
            let st = &mut t.stats;
            st.requested += c.get(k, F_REQUESTED);
            st.launched += c.get(k, F_LAUNCHED);
            st.established += c.get(k, F_ESTABLISHED);
            st.open += c.get(k, F_OPEN);
            st.peak_open += c.get(k, F_PEAK_OPEN);
            st.in_flight += c.get(k, F_IN_FLIGHT);
            st.pings_sent += c.get(k, F_PINGS_SENT);
            st.pings_ok += c.get(k, F_PINGS_OK);
            st.pings_unanswered += c.get(k, F_PINGS_UNANSWERED);
            st.echo_mismatches += c.get(k, F_MISMATCHES);
            for i in 0..FAILED_KINDS {
                let v = c.get(k, F_FAILED + i);
                if v > 0 {
                    *st.failed.entry(failed_name(i)).or_default() += v;
                }
            }
            t.rss += c.get(k, F_RSS);
            let at = c.get(k, F_OPEN_AT_RSS);
            if at > 0 {
                t.open_at_rss_peak += at;
                t.rss_growth_at_peak +=
                    c.get(k, F_RSS_AT_PEAK) as f64 - c.get(k, F_RSS_START) as f64;
            }
            let done = c.get(k, F_RAMP_DONE_US);
            if done > 0 {
                t.ramp_done += 1;
                t.last_ramp_done_us = t.last_ramp_done_us.max(done);
                let first = c.get(k, F_FIRST_CONNECT_US);
                t.first_connect_us = Some(t.first_connect_us.map_or(first, |f| f.min(first)));
            }
        }
        t
    }

    fn supervise(mut self) -> Result<Summary, Error> {
        let mut next_tick = self.epoch + Duration::from_secs(1);
        let mut last = (self.epoch, 0u64);
        let mut interval_rtt = Histogram::default();
        let mut seen: BTreeSet<&'static str> = BTreeSet::new();
        let mut peak_open = 0u64;
        let mut hold_started: Option<Instant> = None;

        let mut interrupted = false;
        let mut died_before_ramp = 0usize;
        let mut probe = Probe::open();
        let mut child_failures = Vec::new();
        while self.pids.iter().any(|p| *p > 0) {
            std::thread::sleep(Duration::from_millis(50));
            if sys::stop_requested() && !interrupted {
                interrupted = true;
                for &pid in self.pids.iter().filter(|p| **p > 0) {
                    let _ = process::signal(pid, process::SIGTERM);
                }
            }
            while let Ok(Some((pid, exit))) = process::reap_any() {
                if let Some(k) = self.pids.iter().position(|p| *p == pid) {
                    self.pids[k] = 0;
                    if self.counters.get(k, F_RAMP_DONE_US) == 0 {
                        // It will never report its ramp done: do not let it keep the hold gate
                        // shut for the others.
                        died_before_ramp += 1;
                    }
                    if !matches!(exit, Exit::Code(0) | Exit::Code(1)) {
                        child_failures.push(format!("process {k} (pid {pid}) {exit}"));
                        report::warn(&format!("process {k} (pid {pid}) {exit}"));
                    }
                }
            }
            let t = self.totals();
            peak_open = peak_open.max(t.stats.open);
            for name in t.stats.failed.keys() {
                if seen.insert(name) {
                    report::first_failure_aggregated(self.out, name);
                }
            }
            let gate = self.counters.slots() - 1;
            if hold_started.is_none() && t.ramp_done + died_before_ramp >= self.pids.len() {
                let now = Instant::now();
                hold_started = Some(now);
                self.counters
                    .set(gate, G_HOLD_START_US, us_since(self.epoch, now));
            }
            let now = Instant::now();
            if now >= next_tick {
                let rtt = self.rtt();
                let mut this = rtt.clone();
                subtract(&mut this, &interval_rtt);
                interval_rtt = rtt;
                let reading = probe.read();
                let tick = Tick::new(
                    &t.stats,
                    now.duration_since(self.epoch).as_secs_f64(),
                    now.duration_since(last.0).as_secs_f64(),
                    last.1,
                    &this,
                    t.rss,
                    reading.tcp.tcp_tw,
                );
                let tick = Tick {
                    knee: self.plan.past_knee(t.stats.launched),
                    ..tick
                };
                report::tick(self.out, &tick, self.plan);
                last = (now, t.stats.established);
                next_tick += Duration::from_secs(1);
                if next_tick < now {
                    next_tick = now + Duration::from_secs(1);
                }
            }
        }
        let t = self.totals();
        let mut stats = t.stats;
        stats.rtt = self.rtt();
        stats.peak_open = peak_open.max(stats.peak_open.min(stats.established));
        let all_done = t.ramp_done == self.counters.slots() - 1;
        stats.elapsed_to_all_s = match (all_done, t.first_connect_us) {
            (true, Some(first)) => Some((t.last_ramp_done_us - first) as f64 / 1e6),
            _ => None,
        };
        if !child_failures.is_empty() {
            *stats.failed.entry("process_died").or_default() += child_failures.len() as u64;
        }
        let connect_rate_per_s = stats
            .elapsed_to_all_s
            .filter(|s| *s > 0.0)
            .map(|s| stats.established as f64 / s);
        Ok(Summary {
            connect_rate_per_s,
            rss_bytes: t.rss,
            rss_bytes_per_conn: (t.open_at_rss_peak > 0)
                .then(|| t.rss_growth_at_peak / t.open_at_rss_peak as f64),
            interrupted,
            held_s: self.held_s(hold_started),
            stats,
        })
    }
}

/// `a -= b`, bucket by bucket (b is an earlier snapshot of a).
fn subtract(a: &mut Histogram, b: &Histogram) {
    let mut out = Histogram::default();
    for (i, (x, y)) in a.buckets().iter().zip(b.buckets()).enumerate() {
        out.add_to_bucket(i, x.saturating_sub(*y));
    }
    *a = out;
}
