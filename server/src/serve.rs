//! The event loop: one mio `Poll` (epoll), one listener, a slab of connections.
//!
//! # Draining readiness
//! mio registers every socket edge-triggered (EPOLLET): the kernel reports a socket once when it
//! *becomes* readable, not for as long as it stays readable. So each handler reads until the call
//! returns `WouldBlock`; stopping early would leave data that no further event announces. Three
//! exceptions. The listener takes exactly the connections the kernel says are queued, which
//! empties the queue just the same ("Accepting exactly what is queued" below). A connection
//! whose read came back short stops there ([`crate::echo::Drain`]): the receive queue was empty
//! when the read returned, and any segment that arrives later raises a new edge. And a
//! connection that is still readable after [`crate::echo::READS_PER_EVENT`] reads goes on an
//! `again` list served on the next turn of the loop, so one fast peer cannot starve the others.
//!
//! # Accepting exactly what is queued
//! Draining the listener to `WouldBlock` has a hidden price: `accept4()` allocates the new
//! socket's inode, dentry and `struct file` *before* it looks at the queue (`do_accept()` in
//! net/socket.c), so the call that finds the queue empty allocates all three and frees them again.
//! When workers wake for one or two connections at a time, as they do during a fast ramp, that
//! failed call was 30% of all accept calls (128,837 of 428,837 for 300,000 connections to 17
//! workers, counted with `perf stat -e syscalls:sys_enter_accept4`). So on each listener event
//! the loop first asks the kernel how many connections are queued ([`socket::accept_queue`],
//! `TCP_INFO`) and accepts that many. Nothing is missed: a connection queued after that reading
//! wakes the listener's epoll entry again, and the next turn of the loop takes it.
//!
//! # Tokens are slab keys
//! A connection's token is its key in the slab. Keys are reused as soon as a connection closes, so
//! an event that was already queued for the old connection can arrive for a new one: every handler
//! treats readiness as a hint (a read that finds nothing returns `WouldBlock`) and a key that is no
//! longer occupied is ignored.
//!
//! When accepting pauses (an errno, the cap, `--pause-accept`) is decided in [`crate::accept`];
//! how a connection is served, in [`crate::echo`].

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use c10m_kernel::pid;
use c10m_kernel::probe::Probe;
use c10m_report::counts::ErrnoCounts;
use c10m_report::fmt;
use c10m_report::rss::RssTrack;
use c10m_report::tick::Ticker;
use c10m_sys::errno::{self, OnAcceptError};
use c10m_sys::shm::Board;
use c10m_sys::{signal, socket};

use crate::accept::{self, AcceptGate};
use crate::echo::{slot_bytes, Conns, Drain};
use crate::error::Error;
use crate::listen::Listener;
use crate::output::{
    listening, Figures, Line, Milestone, Output, Start, Summary, SummaryInput, Tick,
};
use crate::stats::{Control, Milestones, Published, Stats};

pub(crate) const LISTENER: Token = Token(usize::MAX);
const READ_BUF: usize = 64 * 1024;
/// Descriptors kept free beyond the connections, for the odd file the process must still open.
const FD_RESERVE: u64 = 4;
/// How often a worker publishes its counters.
pub(crate) const PUBLISH_INTERVAL: Duration = Duration::from_millis(200);

/// Where a loop's measurements go: printed, or published to a worker's slot for the supervisor
/// to add up.
pub(crate) enum Sink<'a> {
    Print(Output),
    Publish {
        board: &'a Board<Published, Control>,
        slot: usize,
    },
}

/// How many connections one loop takes, from its fd limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Connections RLIMIT_NOFILE leaves room for.
    pub room: u64,
    pub max_conns: u64,
}

impl Budget {
    /// `fds_base`: descriptors open before the first connection; `pages`: those the pages this
    /// process serves may take; `asked`: `--max-conns` (or a worker's share of it).
    pub(crate) fn new(fd_soft: u64, fds_base: u64, pages: u64, asked: Option<u64>) -> Budget {
        let room = fd_soft.saturating_sub(fds_base + pages + FD_RESERVE);
        Budget {
            room,
            max_conns: asked.unwrap_or(room),
        }
    }

    /// Slots to allocate up front: what the loop will hold, within reason.
    fn prealloc(&self) -> usize {
        self.max_conns.min(self.room.max(1)).min(1 << 24) as usize
    }
}

/// What one event loop runs with.
pub(crate) struct LoopConfig {
    pub fd_soft: u64,
    pub fd_hard: u64,
    /// `--max-conns`, or this worker's share of it.
    pub max_conns: Option<u64>,
    pub pause_accept: Option<Duration>,
    pub close_first: bool,
    pub stats_interval: Duration,
    /// Descriptors kept for the pages this process serves (none in a worker).
    pub page_fds: u64,
}

struct Server<'a> {
    poll: Poll,
    listener: TcpListener,
    conns: Conns,
    stats: Stats,
    budget: Budget,
    fds_base: u64,
    fd_limit: u64,
    gate: AcceptGate,
    interval_accept_errors: ErrnoCounts,
    milestones: Milestones,
    started: Instant,
    rss: RssTrack,
    sink: Sink<'a>,
    probe: Probe,
}

/// Runs the event loop on `listener` until SIGINT/SIGTERM.
pub(crate) fn serve(listener: Listener, lc: &LoopConfig, sink: Sink<'_>) -> Result<Summary, Error> {
    let Listener {
        socket,
        addr,
        backlog,
        somaxconn,
    } = listener;
    let mut listener = TcpListener::from_std(socket);
    let poll = Poll::new().map_err(Error::Poll)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(Error::Poll)?;
    let mut probe = Probe::open();

    let fds_base = pid::count_own_fds().map(|c| c.total).unwrap_or(8);
    let budget = Budget::new(lc.fd_soft, fds_base, lc.page_fds, lc.max_conns);
    if budget.max_conns > budget.room {
        log::warn!(
            "--max-conns {} is more than RLIMIT_NOFILE {} leaves room for ({}): accept() will meet EMFILE first",
            fmt::thousands(budget.max_conns),
            fmt::thousands(lc.fd_soft),
            fmt::thousands(budget.room)
        );
    }
    let conns = Conns::new(budget.prealloc(), READ_BUF, lc.close_first);
    log::debug!(
        "{} descriptors open before the first connection; room for {}, accepting up to {}",
        fds_base,
        budget.room,
        budget.max_conns
    );

    let interval = match &sink {
        Sink::Print(out) => {
            listening(addr);
            let start = Start {
                listen: addr,
                fd_soft: lc.fd_soft,
                fd_hard: lc.fd_hard,
                fds_base,
                room: budget.room,
                max_conns: budget.max_conns,
                backlog,
                somaxconn,
                slot_bytes: slot_bytes(),
            };
            out.emit(&Line::Start(&start));
            lc.stats_interval
        }
        Sink::Publish { .. } => PUBLISH_INTERVAL,
    };
    let started = Instant::now();
    let mut server = Server {
        poll,
        listener,
        conns,
        stats: Stats::default(),
        budget,
        fds_base,
        fd_limit: lc.fd_soft,
        gate: AcceptGate::new(lc.pause_accept, started),
        interval_accept_errors: ErrnoCounts::default(),
        milestones: Milestones::default(),
        started,
        rss: RssTrack::new(probe.rss_bytes()),
        sink,
        probe,
    };
    server.event_loop(interval)?;
    Ok(server.summary())
}

impl Server<'_> {
    fn event_loop(&mut self, interval: Duration) -> Result<(), Error> {
        let mut events = Events::with_capacity(1024);
        let mut again = Vec::new();
        let mut ticker = Ticker::new(self.started, interval);
        let mut last = (0u64, 0u64);
        // One clock reading a turn: the one that ends a turn sets the next one's timeout.
        let mut now = Instant::now();
        while !signal::stop_requested() {
            let wake = match self.gate.retry_at() {
                Some(t) => ticker.deadline().min(t),
                None => ticker.deadline(),
            };
            let timeout = if !self.conns.has_again() {
                wake.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Poll(e)),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_ready(),
                    Token(key) => self.conn_ready(key, Drain::after(event)),
                }
            }
            self.conns.take_again(&mut again);
            for &key in &again {
                self.conn_ready(key, Drain::Full);
            }
            now = Instant::now();
            if self.gate.timer(now) {
                self.accept_ready();
            }
            if let Some(dt) = ticker.due(now) {
                self.tick(now, dt, &mut last);
            }
        }
        let rss = self.probe.rss_bytes();
        self.rss.observe(self.stats.conns, rss);
        self.publish();
        Ok(())
    }

    /// One interval's line (printed), or this worker's record (published).
    fn tick(&mut self, now: Instant, dt: f64, last: &mut (u64, u64)) {
        // A worker publishes its counters and RSS only: the machine's sockstat is its parent's to
        // read, once a tick for all of them.
        let rss_bytes = self.probe.rss_bytes();
        self.rss.observe(self.stats.conns, rss_bytes);
        let accept_errors = std::mem::take(&mut self.interval_accept_errors);
        if let Sink::Print(out) = &self.sink {
            let tcp = self.probe.tcp();
            let (accepted_per_s, closed_per_s) = Tick::rates(&self.stats, *last, dt);
            let tick = Tick {
                elapsed_s: now.duration_since(self.started).as_secs_f64(),
                conns: self.stats.conns,
                peak: self.stats.peak,
                accepted_per_s,
                closed_per_s,
                fds_used: self.stats.conns + self.fds_base,
                fd_limit: self.fd_limit,
                rss_bytes,
                rss_per_conn: self.rss.per_conn_now(self.stats.conns),
                tcp_inuse: tcp.tcp_inuse,
                tcp_tw: tcp.tcp_tw,
                tcp_mem_pages: tcp.tcp_mem_pages,
                accept_errors,
                blocked: self.gate.blocked(),
                workers: None,
                worker_min: None,
                worker_max: None,
            };
            let figures = Figures {
                stats: self.stats,
                tick: tick.clone(),
                tcp,
                ..Figures::default()
            };
            out.emit(&Line::Tick {
                tick: &tick,
                figures: &figures,
            });
        }
        self.publish();
        *last = (self.stats.accepted, self.stats.closed);
    }

    fn publish(&self) {
        if let Sink::Publish { board, slot } = &self.sink {
            board.store(
                *slot,
                &Published {
                    ready: 1,
                    stats: self.stats,
                    rss: self.rss,
                },
            );
        }
    }

    fn summary(&self) -> Summary {
        let listen = self
            .listener
            .local_addr()
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
        Summary::new(
            listen,
            &self.stats,
            self.stats.peak,
            &SummaryInput {
                rss_bytes: self.rss.now,
                rss_start_bytes: self.rss.start,
                rss_bytes_per_conn_at_peak: self.rss.per_conn_at_peak(),
                uptime_s: self.started.elapsed().as_secs_f64(),
                max_conns: self.budget.max_conns,
                fd_limit: self.fd_limit,
                workers: 1,
                worker_restarts: 0,
            },
        )
    }

    /// Accepts what the queue holds (until WouldBlock if it cannot be read), the cap, or an error
    /// that calls for a pause.
    fn accept_ready(&mut self) {
        if !self.gate.is_open() {
            return;
        }
        let mut queued = socket::accept_queue(self.listener.as_fd())
            .ok()
            .map(|q| q.queued);
        loop {
            if queued == Some(0) {
                return; // an accept() now would fail, after allocating a socket
            }
            if self.stats.conns >= self.budget.max_conns {
                self.gate.at_cap(self.budget.max_conns);
                return;
            }
            match self.listener.accept() {
                Ok((stream, _)) => {
                    accept::took_one(&mut queued);
                    self.add(stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.count_accept_error(&e);
                    match self.gate.failed(errno::errno_of(&e), Instant::now()) {
                        OnAcceptError::Skip => accept::took_one(&mut queued),
                        OnAcceptError::Pause => return,
                    }
                }
            }
        }
    }

    /// Registers a new connection and counts it.
    fn add(&mut self, stream: mio::net::TcpStream) {
        if let Err(e) = self.conns.insert(self.poll.registry(), stream) {
            // ENOSPC: fs.epoll.max_user_watches; ENOMEM: the kernel is out of memory.
            self.count_accept_error(&e);
            return;
        }
        self.stats.accepted += 1;
        self.stats.conns += 1;
        if self.stats.conns > self.stats.peak {
            self.stats.peak = self.stats.conns;
            self.announce_milestones();
        }
    }

    fn count_accept_error(&mut self, e: &io::Error) {
        let code = errno::errno_of(e);
        self.stats.accept_errors.add_errno(code);
        self.interval_accept_errors.add_errno(code);
    }

    fn announce_milestones(&mut self) {
        while let Some(m) = self.milestones.crossed(self.stats.peak) {
            let Sink::Print(out) = &self.sink else { return };
            out.emit(&Line::Milestone(&Milestone {
                conns: m,
                elapsed_s: self.started.elapsed().as_secs_f64(),
                rss_bytes: self.probe.rss_bytes(),
            }));
        }
    }

    /// Serves a connection; when it closed, a descriptor came free, so a paused accept may
    /// resume now.
    fn conn_ready(&mut self, key: usize, drain: Drain) {
        if self
            .conns
            .ready(self.poll.registry(), key, drain, &mut self.stats)
            && self.gate.closed()
        {
            self.accept_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_the_fd_room_unless_asked() {
        let b = Budget::new(20_000, 9, 0, None);
        assert_eq!(
            b,
            Budget {
                room: 19_987,
                max_conns: 19_987
            }
        );
        assert_eq!(b.prealloc(), 19_987);
        let asked = Budget::new(20_000, 9, 0, Some(5));
        assert_eq!((asked.max_conns, asked.prealloc()), (5, 5));
        let over = Budget::new(1024, 9, 0, Some(5000));
        assert_eq!(over.prealloc(), 1011);
        assert_eq!(Budget::new(8, 9, 0, None).room, 0);
        assert_eq!(Budget::new(20_000, 9, 68, None).room, 19_987 - 68);
    }
}
