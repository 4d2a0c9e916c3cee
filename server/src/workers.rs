//! `--workers N`: several processes serve one port, each under its own RLIMIT_NOFILE.
//!
//! # One listener per worker (SO_REUSEPORT), or one shared
//! - Reuseport (the default): each worker opens its own socket with SO_REUSEPORT; the kernel
//!   hashes each new connection's 4-tuple to one of them, so exactly one worker wakes for it. The
//!   hash ignores how full a worker is, so every worker keeps its whole fd room as head-room and
//!   `--workers auto` plans to fill only 90% of it.
//! - `--shared-listener`: the parent opens one socket before fork and every worker polls it. One
//!   accept queue, and a full worker simply stops taking from it; but each new connection wakes
//!   *every* worker's epoll (mio registers without EPOLLEXCLUSIVE), all but one of which find
//!   nothing: with 56 workers on 2 cores that thundering herd cut the ramp to ~15k/s and left
//!   workers between 199 and 17,900 connections (measured, see docs/results.md).
//!
//! # Supervision
//! Workers publish their counters to shared memory every [`PUBLISH_INTERVAL`]; the parent sums
//! them (O(workers) per tick, never O(connections)), prints one live line and one summary, reaps
//! workers that die, reports them and starts a replacement. SIGINT/SIGTERM to the parent reaches
//! every worker; a worker whose parent dies gets SIGKILL from the kernel (PR_SET_PDEATHSIG).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use c10m_common::errno::KNOWN;
use c10m_common::probe::Probe;
use c10m_common::process::{self, Exit, Fork, SharedCounters};
use c10m_common::rlimit::NofileGrant;
use c10m_common::sys;

use crate::cli::{Config, Workers};
use crate::report::{self, Output};
use crate::server::{self, Error, Prepared, Sink};
use crate::stats::{Milestone, Stats, Summary, Tick, WorkerSpread};

/// How often a worker publishes its counters.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(200);
/// Descriptors a worker keeps for itself (stdio, epoll, listener, /proc files, reserve).
pub(crate) const FDS_PER_WORKER: u64 = 16;
/// Share of a worker's fd room that `--workers auto` plans to fill.
pub(crate) const AUTO_FILL_PERCENT: u64 = 90;
const MAX_RESTARTS_PER_WORKER: u32 = 3;
const MILESTONES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

const F_PID: usize = 0;
const F_READY: usize = 1;
const F_CONNS: usize = 2;
const F_PEAK: usize = 3;
const F_ACCEPTED: usize = 4;
const F_CLOSED: usize = 5;
const F_RSS: usize = 6;
const F_RSS_START: usize = 7;
const F_ECHOED: usize = 8;
const F_BACKPRESSURE: usize = 9;
const F_RSS_AT_PEAK: usize = 10;
const F_PEAK_AT_RSS: usize = 11;
const F_ACCEPT_ERR: usize = 12;
const F_CLOSE_ERR: usize = F_ACCEPT_ERR + KNOWN.len() + 1;
const STRIDE: usize = F_CLOSE_ERR + KNOWN.len() + 1;

fn errno_slot(name: &str) -> usize {
    KNOWN
        .iter()
        .position(|(_, n)| *n == name)
        .unwrap_or(KNOWN.len())
}

fn errno_at(i: usize) -> &'static str {
    KNOWN.get(i).map_or("other", |(_, n)| *n)
}

/// A worker's handle on its slot.
pub struct Publisher {
    counters: Rc<SharedCounters>,
    slot: usize,
}

impl Publisher {
    pub fn publish(&self, st: &Stats, rss: u64, rss_start: u64, rss_at_peak: Option<(u64, u64)>) {
        let c = &self.counters;
        let s = self.slot;
        c.set(s, F_CONNS, st.conns);
        c.set(s, F_PEAK, st.peak);
        c.set(s, F_ACCEPTED, st.accepted);
        c.set(s, F_CLOSED, st.closed);
        c.set(s, F_RSS, rss);
        c.set(s, F_RSS_START, rss_start);
        c.set(s, F_ECHOED, st.bytes_echoed);
        c.set(s, F_BACKPRESSURE, st.backpressure_events);
        if let Some((n, r)) = rss_at_peak {
            c.set(s, F_PEAK_AT_RSS, n);
            c.set(s, F_RSS_AT_PEAK, r);
        }
        for (name, v) in &st.accept_errors {
            c.set(s, F_ACCEPT_ERR + errno_slot(name), *v);
        }
        for (name, v) in &st.close_errors {
            c.set(s, F_CLOSE_ERR + errno_slot(name), *v);
        }
    }
}

/// What the workers add up to at one moment.
#[derive(Debug, Default, Clone)]
struct Totals {
    stats: Stats,
    rss: u64,
    rss_growth_at_peak: f64,
    conns_at_rss_peak: u64,
    min_conns: u64,
    max_conns: u64,
}

struct Supervisor<'a> {
    config: &'a Config,
    counters: Rc<SharedCounters>,
    pids: Vec<i32>,
    restarts: Vec<u32>,
    /// Counters of workers that died, kept so totals never go backwards.
    retired: Stats,
    shared_listener: Option<std::net::TcpListener>,
    listen: SocketAddr,
    fd_soft: u64,
    fd_hard: u64,
    per_worker_max: Option<u64>,
    out: Output,
}

pub fn run(config: &Config, grant: NofileGrant) -> Result<Summary, Error> {
    let out = Output {
        json: config.json,
        quiet: config.quiet,
    };
    let room = grant.soft.saturating_sub(FDS_PER_WORKER).max(1);
    let n = match config.workers {
        Workers::Count(n) => n as usize,
        Workers::Auto => {
            let per = (room * AUTO_FILL_PERCENT / 100).max(1);
            config.max_conns.unwrap_or(per).div_ceil(per) as usize
        }
    };
    // The parent's listener: shared by all workers, or (reuseport) only a way to learn the port,
    // closed once every worker has its own.
    let first = server::prepare(config, config.listen, config.reuseport, true)?;
    let listen = first.listen;
    let counters =
        Rc::new(SharedCounters::new(n, STRIDE).map_err(|e| Error(format!("mmap: {e}")))?);
    let mut sup = Supervisor {
        config,
        counters,
        pids: vec![0; n],
        restarts: vec![0; n],
        retired: Stats::default(),
        shared_listener: Some(first.listener),
        listen,
        fd_soft: grant.soft,
        fd_hard: grant.hard,
        per_worker_max: config
            .max_conns
            .map(|m| m.div_ceil(n as u64))
            .filter(|_| !config.reuseport),
        out,
    };
    for i in 0..n {
        sup.spawn(i)?;
    }
    sup.wait_ready()?;
    if config.reuseport {
        sup.shared_listener = None;
    }
    report::startup_workers(out, listen, n, grant.soft, room, config.reuseport);
    sup.supervise()
}

impl Supervisor<'_> {
    fn spawn(&mut self, i: usize) -> Result<(), Error> {
        self.counters.clear(i);
        match process::fork(self.config.session).map_err(|e| Error(format!("fork: {e}")))? {
            Fork::Parent { child } => {
                self.pids[i] = child;
                Ok(())
            }
            Fork::Child => {
                let code = self.worker(i);
                process::exit_now(code);
            }
        }
    }

    /// The worker's whole life, in the child.
    fn worker(&mut self, i: usize) -> i32 {
        let prepared = if self.config.reuseport {
            drop(self.shared_listener.take()); // not ours: keep it out of the reuseport group
            match server::prepare(self.config, self.listen, true, false) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("c10m-server: worker {i}: {e}");
                    return 1;
                }
            }
        } else {
            let Some(l) = self
                .shared_listener
                .as_ref()
                .and_then(|l| l.try_clone().ok())
            else {
                return 1;
            };
            self.shared_listener = None;
            Prepared {
                listener: l,
                listen: self.listen,
                backlog: 0,
                somaxconn: None,
            }
        };
        self.counters.set(i, F_PID, std::process::id() as u64);
        self.counters.set(i, F_READY, 1);
        let sink = Sink::Publish(Publisher {
            counters: Rc::clone(&self.counters),
            slot: i,
        });
        match server::serve(
            prepared,
            self.config,
            self.fd_soft,
            self.fd_hard,
            self.per_worker_max,
            sink,
        ) {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("c10m-server: worker {i}: {e}");
                1
            }
        }
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while (0..self.pids.len()).any(|i| self.counters.get(i, F_READY) == 0) {
            if let Some((pid, exit)) =
                process::reap_any().map_err(|e| Error(format!("waitpid: {e}")))?
            {
                self.stop_all();
                return Err(Error(format!("worker (pid {pid}) {exit} while starting")));
            }
            if Instant::now() > deadline {
                self.stop_all();
                return Err(Error("workers did not start within 10 s".into()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    fn totals(&self) -> Totals {
        let mut t = Totals {
            stats: self.retired.clone(),
            min_conns: u64::MAX,
            ..Totals::default()
        };
        let c = &self.counters;
        for i in 0..self.pids.len() {
            let conns = c.get(i, F_CONNS);
            t.stats.conns += conns;
            t.stats.accepted += c.get(i, F_ACCEPTED);
            t.stats.closed += c.get(i, F_CLOSED);
            t.stats.bytes_echoed += c.get(i, F_ECHOED);
            t.stats.backpressure_events += c.get(i, F_BACKPRESSURE);
            t.rss += c.get(i, F_RSS);
            let at_peak = c.get(i, F_PEAK_AT_RSS);
            if at_peak > 0 {
                t.conns_at_rss_peak += at_peak;
                t.rss_growth_at_peak +=
                    c.get(i, F_RSS_AT_PEAK) as f64 - c.get(i, F_RSS_START) as f64;
            }
            t.min_conns = t.min_conns.min(conns);
            t.max_conns = t.max_conns.max(conns);
            add_errors(&mut t.stats, c, i);
        }
        t
    }

    fn supervise(&mut self) -> Result<Summary, Error> {
        let started = Instant::now();
        let interval = self.config.stats_interval;
        let mut probe = Probe::open();
        let mut next_tick = started + interval;
        let mut last = (started, 0u64, 0u64);
        let mut peak = 0u64;
        let mut next_milestone = 0;
        let mut failure = None;
        while !sys::stop_requested() {
            std::thread::sleep(Duration::from_millis(50).min(interval));
            if let Err(e) = self.reap_and_restart() {
                failure = Some(e);
                break;
            }
            let t = self.totals();
            peak = peak.max(t.stats.conns);
            while let Some(&m) = MILESTONES.get(next_milestone).filter(|m| peak >= **m) {
                next_milestone += 1;
                report::milestone(
                    self.out,
                    &Milestone {
                        conns: m,
                        elapsed_s: started.elapsed().as_secs_f64(),
                        rss_bytes: t.rss,
                    },
                );
            }
            let now = Instant::now();
            if now < next_tick {
                continue;
            }
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
            let reading = probe.read();
            let tick = Tick {
                elapsed_s: now.duration_since(started).as_secs_f64(),
                conns: t.stats.conns,
                peak,
                accepted_per_s: (t.stats.accepted - last.1) as f64 / dt,
                closed_per_s: (t.stats.closed - last.2) as f64 / dt,
                fds_used: t.stats.conns + self.pids.len() as u64 * FDS_PER_WORKER,
                fd_limit: self.fd_soft * self.pids.len() as u64,
                rss_bytes: t.rss,
                rss_per_conn: (t.conns_at_rss_peak > 0)
                    .then(|| t.rss_growth_at_peak / t.conns_at_rss_peak as f64),
                tcp: reading.tcp,
                blocked: None,
                accept_errors: BTreeMap::new(),
                workers: Some(WorkerSpread {
                    workers: self.pids.len() as u64,
                    min: t.min_conns,
                    max: t.max_conns,
                }),
            };
            report::tick(self.out, &tick);
            last = (now, t.stats.accepted, t.stats.closed);
            next_tick += interval;
            if next_tick < now {
                next_tick = now + interval;
            }
        }
        self.stop_all();
        let t = self.totals();
        let mut stats = t.stats;
        stats.peak = peak.max(stats.conns);
        let summary = Summary {
            listen: self.listen,
            connections_at_exit: stats.conns,
            stats,
            rss_bytes: t.rss,
            rss_start_bytes: (0..self.pids.len())
                .map(|i| self.counters.get(i, F_RSS_START))
                .sum(),
            rss_bytes_per_conn_at_peak: (t.conns_at_rss_peak > 0)
                .then(|| t.rss_growth_at_peak / t.conns_at_rss_peak as f64),
            uptime_s: started.elapsed().as_secs_f64(),
            max_conns: self.config.max_conns.unwrap_or(0),
            fd_limit: self.fd_soft,
            workers: self.pids.len() as u64,
            worker_restarts: self.restarts.iter().map(|r| u64::from(*r)).sum(),
        };
        match failure {
            Some(e) => {
                report::summary(self.out, &summary);
                Err(e)
            }
            None => Ok(summary),
        }
    }

    /// Reports each worker that ended and starts a replacement, up to a limit.
    fn reap_and_restart(&mut self) -> Result<(), Error> {
        while let Some((pid, exit)) =
            process::reap_any().map_err(|e| Error(format!("waitpid: {e}")))?
        {
            let Some(i) = self.pids.iter().position(|p| *p == pid) else {
                continue;
            };
            if sys::stop_requested() {
                // Shutting down: a signal reached the worker directly (Ctrl-C goes to the whole
                // process group). Its final counters stay in its slot for the summary.
                self.pids[i] = 0;
                continue;
            }
            let lost = self.counters.get(i, F_CONNS);
            self.retire(i);
            report::worker_exit(self.out, i, pid, &exit.to_string(), lost);
            if self.restarts[i] >= MAX_RESTARTS_PER_WORKER {
                return Err(Error(format!(
                    "worker {i} died {} times (last: pid {pid} {exit}); stopping. Its stderr above says why",
                    self.restarts[i] + 1
                )));
            }
            self.restarts[i] += 1;
            if self.config.reuseport || self.shared_listener.is_some() {
                self.spawn(i)?;
            }
        }
        Ok(())
    }

    /// Folds a dead worker's counters into `retired`; its open connections count as closed.
    fn retire(&mut self, i: usize) {
        let c = &self.counters;
        let conns = c.get(i, F_CONNS);
        self.retired.accepted += c.get(i, F_ACCEPTED);
        self.retired.closed += c.get(i, F_CLOSED) + conns;
        self.retired.bytes_echoed += c.get(i, F_ECHOED);
        self.retired.backpressure_events += c.get(i, F_BACKPRESSURE);
        add_errors(&mut self.retired, c, i);
        add(&mut self.retired.close_errors, "worker_died", conns);
        c.clear(i);
        self.pids[i] = 0;
    }

    /// SIGTERM to every worker; SIGKILL to any still running after a grace period.
    fn stop_all(&mut self) {
        for &pid in self.pids.iter().filter(|p| **p > 0) {
            let _ = process::signal(pid, process::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.pids.iter().any(|p| *p > 0) {
            match process::reap_any() {
                Ok(Some((pid, exit))) => {
                    if let Some(i) = self.pids.iter().position(|p| *p == pid) {
                        self.pids[i] = 0;
                        if !matches!(exit, Exit::Code(0)) {
                            report::warn(&format!("worker {i} (pid {pid}) {exit} while stopping"));
                        }
                    }
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    for &pid in self.pids.iter().filter(|p| **p > 0) {
                        let _ = process::signal(pid, process::SIGKILL);
                    }
                    if Instant::now() > deadline + Duration::from_secs(2) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}

/// Adds slot `i`'s accept and close errors, by errno name, to `stats`.
fn add_errors(stats: &mut Stats, c: &SharedCounters, i: usize) {
    for k in 0..=KNOWN.len() {
        add(
            &mut stats.accept_errors,
            errno_at(k),
            c.get(i, F_ACCEPT_ERR + k),
        );
        add(
            &mut stats.close_errors,
            errno_at(k),
            c.get(i, F_CLOSE_ERR + k),
        );
    }
}

fn add(m: &mut BTreeMap<&'static str, u64>, k: &'static str, v: u64) {
    if v > 0 {
        *m.entry(k).or_default() += v;
    }
}
