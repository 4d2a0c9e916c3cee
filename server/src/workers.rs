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
//!   nothing: the thundering herd, which costs the handshakes CPU on 2 cores and spreads the
//!   connections unevenly (`scripts/bench-listener.sh` measures both modes; docs/scale.md, "One
//!   listener or many").
//!
//! # Supervision
//! The workers are children of [`c10m_sys::supervisor::Supervisor`]. Each publishes its
//! [`Published`] record to its slot every [`serve::PUBLISH_INTERVAL`]; the parent adds them up
//! ([`Totals::of`], O(workers) per tick, never O(connections)), prints one live line and one
//! summary, and restarts a worker that dies up to [`MAX_RESTARTS_PER_WORKER`] times. SIGINT or
//! SIGTERM to the parent reaches every worker; a worker whose parent dies gets SIGKILL from the
//! kernel (PR_SET_PDEATHSIG).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use c10m_kernel::probe::Probe;
use c10m_limits::rlimit::NofileGrant;
use c10m_report::tick::Ticker;
use c10m_sys::shm::Board;
use c10m_sys::signal;
use c10m_sys::supervisor::{Outcome, Restart, Supervisor};

use crate::cli::Config;
use crate::error::Error;
use crate::listen::{self, Listener};
use crate::output::{
    listening, worker_exit_warning, Bound, Figures, Line, Milestone, Output, StartWorkers, Summary,
    SummaryInput, Tick, WorkerExit, PROG,
};
use crate::room::FDS_PER_WORKER;
use crate::serve::{self, LoopConfig, Sink};
use crate::stats::{Control, Milestones, Published, Stats, Totals};

const MAX_RESTARTS_PER_WORKER: u32 = 3;
/// How long the workers have to open their listeners.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long stopping workers have to exit before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Serves `config` with `n` workers, said through `output`, whose pages listen already and whose
/// threads start once the workers are forked (so they live in this process alone). The summary,
/// or an error after the summary was said.
pub(crate) fn run(
    config: &Config,
    grant: NofileGrant,
    somaxconn: Option<u64>,
    n: usize,
    output: Bound,
) -> Result<(Summary, Output), Error> {
    // The parent's listener: shared by all workers, or (reuseport) only a way to learn the port,
    // closed once every worker has its own.
    let first = listen::open(
        config.listen,
        config.backlog,
        somaxconn,
        config.reuseport,
        true,
    )?;
    let addr = first.addr;
    let shared = RefCell::new(Some(first));
    let lc = LoopConfig {
        fd_soft: grant.soft,
        fd_hard: grant.hard,
        // Reuseport workers each take what the hash gives them, up to their own room.
        max_conns: config
            .max_conns
            .map(|m| m.div_ceil(n as u64))
            .filter(|_| !config.reuseport),
        pause_accept: config.pause_accept,
        close_first: config.close_first,
        stats_interval: config.stats_interval,
        // The pages live in the supervisor, not in the workers.
        page_fds: 0,
    };
    let mut worker = |i: usize, board: &Board<Published, Control>| -> i32 {
        let listener = if config.reuseport {
            drop(shared.borrow_mut().take()); // not ours: keep it out of the reuseport group
            listen::open(addr, config.backlog, somaxconn, true, false)
        } else {
            match shared.borrow().as_ref().map(|l| l.socket.try_clone()) {
                Some(Ok(socket)) => Ok(Listener {
                    socket,
                    addr,
                    backlog: 0,
                    somaxconn: None,
                }),
                Some(Err(e)) => Err(Error::Listen(addr, e)),
                None => return 1,
            }
        };
        shared.borrow_mut().take();
        let served = listener.and_then(|l| {
            board.store(
                i,
                &Published {
                    ready: 1,
                    ..Published::default()
                },
            );
            serve::serve(l, &lc, Sink::Publish { board, slot: i })
        });
        match served {
            Ok(_) => 0,
            Err(e) => {
                log::error!("worker {i}: {e}");
                1
            }
        }
    };
    let policy = Restart::UpTo(MAX_RESTARTS_PER_WORKER);
    let mut sup: Supervisor<Published, Control> =
        Supervisor::new(n, config.session, policy).map_err(Error::Workers)?;
    sup.spawn_all(&mut worker).map_err(Error::Workers)?;
    wait_ready(&mut sup, &mut worker)?;
    let out = output
        .start(PROG, &Figures::default())
        .map_err(Error::PageStart)?;
    if config.reuseport {
        shared.borrow_mut().take();
    }
    let room = grant.soft.saturating_sub(FDS_PER_WORKER).max(1);
    listening(addr);
    let start = StartWorkers {
        listen: addr,
        workers: n as u64,
        listener: if config.reuseport {
            "reuseport"
        } else {
            "shared"
        }
        .to_string(),
        fd_soft: grant.soft,
        room: room * n as u64,
    };
    out.emit(&Line::StartWorkers(&start));
    let mut parent = Parent {
        out,
        listen: addr,
        fd_soft: grant.soft,
        max_conns: config.max_conns.unwrap_or(0),
        interval: config.stats_interval,
        retired: Stats::default(),
    };
    let summary = parent.supervise(&mut sup, &mut worker)?;
    Ok((summary, parent.out))
}

/// Waits until every worker has its listener open; a worker that dies first ends the run.
fn wait_ready<F>(sup: &mut Supervisor<Published, Control>, worker: &mut F) -> Result<(), Error>
where
    F: FnMut(usize, &Board<Published, Control>) -> i32,
{
    let deadline = Instant::now() + START_TIMEOUT;
    while (0..sup.len()).any(|i| sup.board().load(i).ready == 0) {
        // `stopping`: no restarts while starting.
        let ended = sup.reap(true, worker).map_err(Error::Workers)?;
        if let Some(e) = ended.first() {
            sup.stop_all(STOP_GRACE);
            return Err(Error::WorkerStart {
                pid: e.pid,
                exit: e.exit,
            });
        }
        if Instant::now() > deadline {
            sup.stop_all(STOP_GRACE);
            return Err(Error::WorkersSlow);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// The parent's side: adds the workers up, prints, restarts.
struct Parent {
    out: Output,
    listen: SocketAddr,
    fd_soft: u64,
    max_conns: u64,
    interval: Duration,
    /// Counters of workers that died, kept so totals never go backwards.
    retired: Stats,
}

impl Parent {
    fn totals(&self, sup: &Supervisor<Published, Control>) -> Totals {
        let board = sup.board();
        Totals::of((0..sup.len()).map(|i| board.load(i)), &self.retired)
    }

    fn supervise<F>(
        &mut self,
        sup: &mut Supervisor<Published, Control>,
        worker: &mut F,
    ) -> Result<Summary, Error>
    where
        F: FnMut(usize, &Board<Published, Control>) -> i32,
    {
        let started = Instant::now();
        let workers = sup.len() as u64;
        let mut probe = Probe::open();
        let mut ticker = Ticker::new(started, self.interval);
        let mut last = (0u64, 0u64);
        let mut peak = 0u64;
        let mut milestones = Milestones::default();
        let mut failure = None;
        while !signal::stop_requested() {
            std::thread::sleep(Duration::from_millis(50).min(self.interval));
            if let Err(e) = self.reap(sup, worker) {
                failure = Some(e);
                break;
            }
            let t = self.totals(sup);
            peak = peak.max(t.stats.conns);
            while let Some(m) = milestones.crossed(peak) {
                self.out.emit(&Line::Milestone(&Milestone {
                    conns: m,
                    elapsed_s: started.elapsed().as_secs_f64(),
                    rss_bytes: t.rss.now,
                }));
            }
            let now = Instant::now();
            let Some(dt) = ticker.due(now) else { continue };
            let tcp = probe.tcp();
            let (accepted_per_s, closed_per_s) = Tick::rates(&t.stats, last, dt);
            let tick = Tick {
                elapsed_s: now.duration_since(started).as_secs_f64(),
                conns: t.stats.conns,
                peak,
                accepted_per_s,
                closed_per_s,
                fds_used: t.stats.conns + workers * FDS_PER_WORKER,
                fd_limit: self.fd_soft * workers,
                rss_bytes: t.rss.now,
                rss_per_conn: t.rss.per_conn_now(t.stats.conns),
                tcp_inuse: tcp.tcp_inuse,
                tcp_tw: tcp.tcp_tw,
                tcp_mem_pages: tcp.tcp_mem_pages,
                accept_errors: Default::default(),
                blocked: None,
                workers: Some(workers),
                worker_min: Some(t.min_conns),
                worker_max: Some(t.max_conns),
            };
            let mut figures = Figures {
                stats: t.stats,
                tick: tick.clone(),
                tcp,
                ..Figures::default()
            };
            let board = sup.board();
            for (i, each) in figures.each.0.iter_mut().enumerate().take(sup.len()) {
                *each = board.load(i).stats.conns;
            }
            self.out.emit(&Line::Tick {
                tick: &tick,
                figures: &figures,
            });
            last = (t.stats.accepted, t.stats.closed);
        }
        for (i, pid, exit) in sup.stop_all(STOP_GRACE) {
            log::warn!("worker {i} (pid {pid}) {exit} while stopping");
        }
        let t = self.totals(sup);
        let summary = Summary::new(
            self.listen,
            &t.stats,
            peak.max(t.stats.conns),
            &SummaryInput {
                rss_bytes: t.rss.now,
                rss_start_bytes: t.rss.start,
                rss_bytes_per_conn_at_peak: t.rss.per_conn_at_peak(),
                uptime_s: started.elapsed().as_secs_f64(),
                max_conns: self.max_conns,
                fd_limit: self.fd_soft,
                workers,
                worker_restarts: sup.restarts(),
            },
        );
        match failure {
            Some(e) => {
                self.out.emit(&Line::Summary(&summary));
                Err(e)
            }
            None => Ok(summary),
        }
    }

    /// Reports each worker that ended, folds what it left into `retired` (the supervisor has
    /// started its replacement already), and gives up on one that keeps dying.
    fn reap<F>(
        &mut self,
        sup: &mut Supervisor<Published, Control>,
        worker: &mut F,
    ) -> Result<(), Error>
    where
        F: FnMut(usize, &Board<Published, Control>) -> i32,
    {
        // Shutting down, a signal reached the workers directly (Ctrl-C goes to the whole process
        // group): their final counters stay in their slots for the summary.
        let stopping = signal::stop_requested();
        for e in sup.reap(stopping, worker).map_err(Error::Workers)? {
            if e.outcome == Outcome::Stays {
                continue;
            }
            self.retired.merge(&e.last.stats.retired());
            let lost = e.last.stats.conns;
            let exit = WorkerExit {
                worker: e.index,
                pid: e.pid,
                how: e.exit.to_string(),
                connections_lost: lost,
                replaced: e.outcome == Outcome::Restarted,
            };
            self.out.emit(&Line::WorkerExit(&exit));
            log::warn!("{}", worker_exit_warning(&exit));
            if let Outcome::GaveUp { deaths } = e.outcome {
                sup.board().clear(e.index);
                return Err(Error::WorkerGaveUp {
                    index: e.index,
                    deaths,
                    pid: e.pid,
                    exit: e.exit,
                });
            }
        }
        Ok(())
    }
}
