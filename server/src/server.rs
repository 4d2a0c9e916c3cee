//! The event loop: one mio `Poll` (epoll), one listener, a slab of connections.
//!
//! # Draining readiness
//! mio registers every socket edge-triggered (EPOLLET): the kernel reports a socket once when it
//! *becomes* readable, not for as long as it stays readable. So each handler reads until the call
//! returns `WouldBlock`; stopping early would leave data that no further event announces. Two
//! exceptions. The listener takes exactly the connections the kernel says are queued, which
//! empties the queue just the same ("Accepting exactly what is queued" below). And a connection
//! that is still readable after [`READS_PER_EVENT`] reads goes on a `again` list served on the
//! next turn of the loop, so one fast peer cannot starve the others.
//!
//! # Accepting exactly what is queued
//! Draining the listener to `WouldBlock` has a hidden price: `accept4()` allocates the new
//! socket's inode, dentry and `struct file` *before* it looks at the queue (`do_accept()` in
//! net/socket.c), so the call that finds the queue empty allocates all three and frees them again.
//! When workers wake for one or two connections at a time, as they do during a fast ramp, that
//! failed call was 30% of all accept calls (128,837 of 428,837 for 300,000 connections to 17
//! workers, counted with `perf stat -e syscalls:sys_enter_accept4`). So on each listener event
//! the loop first asks the kernel how many connections are queued ([`sys::accept_queue`],
//! `TCP_INFO`) and accepts that many. Nothing is missed: a connection queued after that reading
//! wakes the listener's epoll entry again, and the next turn of the loop takes it.
//!
//! # Tokens are slab keys
//! A connection's token is its key in the slab. Keys are reused as soon as a connection closes, so
//! an event that was already queued for the old connection can arrive for a new one: every handler
//! treats readiness as a hint (a read that finds nothing returns `WouldBlock`) and a key that is no
//! longer occupied is ignored.
//!
//! # When accept fails
//! `accept()` fails with EMFILE when this process is at RLIMIT_NOFILE and ENFILE when the machine
//! is at `fs.file-max`. The pending connection stays in the listen queue and the listener stays
//! readable, so retrying at once would spin. Instead accepting pauses until a connection closes
//! (which frees a descriptor) or a short back-off passes, while existing connections keep being
//! served, and the live line names the limit.
//!
//! # Not accepting on purpose
//! With `--pause-accept` the listener stays registered but its events are ignored: the kernel
//! still completes handshakes and parks the connections in the accept queue, up to the backlog
//! (clamped to `net.core.somaxconn`); past that it drops SYNs and counts `ListenOverflows` and
//! `ListenDrops` in /proc/net/netstat. The lab uses it to make the queue overflow on demand.
//!
//! # Memory per connection
//! An idle connection owns one slab slot: its socket (a 4-byte fd) and an empty `Option<Box<_>>`.
//! Reads go into one buffer shared by the whole loop. Only when an echo cannot be written at once
//! does the connection get a heap buffer for the rest, and it is not read again until that drains
//! (backpressure): a peer that sends and never reads costs one buffer, not unbounded memory.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use c10m_common::probe::Probe;
use c10m_common::{errno, fmt, kernel, procfs, rlimit, sys};

use crate::cli::Config;
use crate::report::{self, Output};
use crate::stats::{AcceptBlock, Milestone, Startup, Stats, Summary, Tick};

const LISTENER: Token = Token(usize::MAX);
const READ_BUF: usize = 64 * 1024;
const READS_PER_EVENT: usize = 16;
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Descriptors kept free beyond the connections, for the odd file the process must still open.
const FD_RESERVE: u64 = 4;
const MILESTONES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// One connection: everything an idle one costs in user space.
struct Conn {
    stream: TcpStream,
    pending: Option<Box<Pending>>,
}

/// The part of an echo the peer's window could not take yet.
struct Pending {
    data: Box<[u8]>,
    pos: usize,
}

/// A run-time failure, with what to do about it.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn listen_error(addr: std::net::SocketAddr, e: io::Error) -> Error {
    let hint = match e.raw_os_error() {
        Some(errno::EADDRINUSE) => "another socket already listens there; pick another port (--listen IP:0 picks a free one)",
        Some(errno::EADDRNOTAVAIL) => "that address is not on this machine; use 127.0.0.1 or another local address",
        Some(errno::EACCES) => "ports below 1024 need root (CAP_NET_BIND_SERVICE)",
        Some(errno::EMFILE) => "no file descriptor left for the listener; raise --nofile",
        _ => "",
    };
    Error(format!(
        "cannot listen on {addr}: {e}{}{hint}",
        if hint.is_empty() { "" } else { ": " }
    ))
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    conns: Slab<Conn>,
    buf: Box<[u8]>,
    again: Vec<usize>,
    stats: Stats,
    max_conns: u64,
    fds_base: u64,
    fd_limit: u64,
    blocked: Option<AcceptBlock>,
    retry_accept_at: Option<Instant>,
    interval_accept_errors: BTreeMap<&'static str, u64>,
    next_milestone: usize,
    started: Instant,
    rss_start: u64,
    close_first: bool,
    sink: Sink,
    probe: Probe,
}

/// Where a loop's measurements go: printed, or published to a worker's shared slot for the
/// supervisor to aggregate.
pub(crate) enum Sink {
    Print(Output),
    Publish(crate::workers::Publisher),
}

/// A listening socket ready to serve, and what it was made with.
pub(crate) struct Prepared {
    pub listener: std::net::TcpListener,
    pub listen: SocketAddr,
    pub backlog: i32,
    pub somaxconn: Option<u64>,
}

/// The backlog to ask for: `--backlog`, or net.core.somaxconn (the most the kernel grants).
fn backlog_for(config: &Config, warn: bool) -> (i32, Option<u64>) {
    let somaxconn = kernel::read_sysctl("net.core.somaxconn")
        .ok()
        .and_then(|t| kernel::parse_u64(&t));
    let backlog = match (config.backlog, somaxconn) {
        (Some(b), Some(max)) if b as u64 > max => {
            if warn {
                report::warn(&format!(
                    "the kernel clamps --backlog {b} to net.core.somaxconn = {max}; raise it with sysctl -w net.core.somaxconn={b}"
                ));
            }
            b
        }
        (Some(b), _) => b,
        (None, Some(max)) => max.min(i32::MAX as u64) as i32,
        (None, None) => 4096,
    };
    (backlog, somaxconn)
}

/// Opens the listening socket on `addr` (SO_REUSEPORT when `reuseport`).
pub(crate) fn prepare(
    config: &Config,
    addr: SocketAddr,
    reuseport: bool,
    warn: bool,
) -> Result<Prepared, Error> {
    let (backlog, somaxconn) = backlog_for(config, warn);
    let listener = sys::listen_tcp(addr, sys::ListenOpts { backlog, reuseport })
        .map_err(|e| listen_error(addr, e))?;
    let listen =
        sys::local_addr(listener.as_fd()).map_err(|e| Error(format!("getsockname: {e}")))?;
    Ok(Prepared {
        listener,
        listen,
        backlog,
        somaxconn,
    })
}

/// One process serves everything (`--workers 1`), or the supervisor forks workers.
pub fn run(config: Config) -> Result<Summary, Error> {
    sys::install_stop_handler()
        .map_err(|e| Error(format!("cannot install signal handlers: {e}")))?;
    let grant = rlimit::raise_nofile(config.nofile)
        .map_err(|e| Error(format!("cannot set RLIMIT_NOFILE: {e}")))?;
    if config.workers.is_multi() {
        return crate::workers::run(&config, grant);
    }
    if let Some(advice) = grant.advice("--workers N") {
        report::warn(&advice);
    }
    let prepared = prepare(&config, config.listen, false, true)?;
    let out = Output {
        json: config.json,
        quiet: config.quiet,
    };
    serve(
        prepared,
        &config,
        grant.soft,
        grant.hard,
        config.max_conns,
        Sink::Print(out),
    )
}

/// Runs the event loop on a prepared listener until SIGINT/SIGTERM.
pub(crate) fn serve(
    prepared: Prepared,
    config: &Config,
    fd_soft: u64,
    fd_hard: u64,
    max_conns: Option<u64>,
    sink: Sink,
) -> Result<Summary, Error> {
    let Prepared {
        listener: std_listener,
        listen,
        backlog,
        somaxconn,
    } = prepared;
    let mut listener = TcpListener::from_std(std_listener);
    let poll = Poll::new().map_err(|e| Error(format!("epoll_create: {e}")))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| Error(format!("epoll_ctl: {e}")))?;
    let mut probe = Probe::open();

    let fds_base = procfs::count_own_fds().map(|c| c.total).unwrap_or(8);
    let room = fd_soft.saturating_sub(fds_base + FD_RESERVE);
    let max_conns = max_conns.unwrap_or(room);
    if max_conns > room {
        report::warn(&format!(
            "--max-conns {} is more than RLIMIT_NOFILE {} leaves room for ({}): accept() will meet EMFILE first",
            fmt::thousands(max_conns),
            fmt::thousands(fd_soft),
            fmt::thousands(room)
        ));
    }
    let prealloc = max_conns.min(room.max(1)).min(1 << 24) as usize;
    let conns = Slab::with_capacity(prealloc);
    let mut buf = vec![0u8; READ_BUF].into_boxed_slice();
    buf.fill(1); // touch it now so its pages count in the start-up RSS, not as per-connection cost

    if let Sink::Print(out) = &sink {
        report::startup(
            *out,
            &Startup {
                listen,
                fd_soft,
                fd_hard,
                fds_base,
                room,
                max_conns,
                backlog,
                somaxconn,
                slot_bytes: slot_bytes(),
            },
        );
    }

    let rss_start = probe.read().rss_bytes;
    let interval = match sink {
        Sink::Print(_) => config.stats_interval,
        Sink::Publish(_) => crate::workers::PUBLISH_INTERVAL,
    };
    let mut server = Server {
        poll,
        listener,
        conns,
        buf,
        again: Vec::new(),
        stats: Stats::default(),
        max_conns,
        fds_base,
        fd_limit: fd_soft,
        blocked: None,
        retry_accept_at: None,
        interval_accept_errors: BTreeMap::new(),
        next_milestone: 0,
        started: Instant::now(),
        rss_start,
        close_first: config.close_first,
        sink,
        probe,
    };
    if let Some(pause) = config.pause_accept {
        server.blocked = Some(AcceptBlock::Paused);
        server.retry_accept_at = (!pause.is_zero()).then(|| server.started + pause);
    }
    server.event_loop(interval)
}

/// Bytes one slab slot takes: `Slab<T>` stores `enum Entry { Vacant(usize), Occupied(T) }`.
fn slot_bytes() -> usize {
    #[allow(dead_code)]
    enum Entry {
        Vacant(usize),
        Occupied(Conn),
    }
    std::mem::size_of::<Entry>()
}

/// One connection left the accept queue (accepted, or dropped by the kernel as aborted).
fn took_one(queued: &mut Option<u32>) {
    if let Some(n) = queued {
        *n = n.saturating_sub(1);
    }
}

impl Server {
    fn event_loop(&mut self, interval: Duration) -> Result<Summary, Error> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = self.started + interval;
        let mut last_tick = (self.started, 0u64, 0u64);
        let mut rss_at_peak: Option<(u64, u64)> = None;
        loop {
            if sys::stop_requested() {
                break;
            }
            let now = Instant::now();
            let mut wake = next_tick;
            if let Some(t) = self.retry_accept_at {
                wake = wake.min(t);
            }
            let timeout = if self.again.is_empty() {
                wake.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error(format!("epoll_wait: {e}"))),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_ready(),
                    Token(key) => self.conn_ready(key),
                }
            }
            for key in std::mem::take(&mut self.again) {
                self.conn_ready(key);
            }
            let now = Instant::now();
            if self.retry_accept_at.is_some_and(|t| now >= t) {
                self.retry_accept_at = None;
                self.blocked = None;
                self.accept_ready();
            }
            if now >= next_tick {
                let reading = self.probe.read();
                if self.stats.conns > 0 && rss_at_peak.is_none_or(|(p, _)| self.stats.conns >= p) {
                    rss_at_peak = Some((self.stats.conns, reading.rss_bytes));
                }
                let dt = now.duration_since(last_tick.0).as_secs_f64().max(1e-9);
                let tick = Tick {
                    elapsed_s: now.duration_since(self.started).as_secs_f64(),
                    conns: self.stats.conns,
                    peak: self.stats.peak,
                    accepted_per_s: (self.stats.accepted - last_tick.1) as f64 / dt,
                    closed_per_s: (self.stats.closed - last_tick.2) as f64 / dt,
                    fds_used: self.stats.conns + self.fds_base,
                    fd_limit: self.fd_limit,
                    rss_bytes: reading.rss_bytes,
                    rss_per_conn: per_conn(reading.rss_bytes, self.rss_start, self.stats.conns),
                    tcp: reading.tcp,
                    blocked: self.blocked,
                    accept_errors: std::mem::take(&mut self.interval_accept_errors),
                    workers: None,
                };
                match &self.sink {
                    Sink::Print(out) => report::tick(*out, &tick),
                    Sink::Publish(p) => {
                        p.publish(&self.stats, reading.rss_bytes, self.rss_start, rss_at_peak)
                    }
                }
                last_tick = (now, self.stats.accepted, self.stats.closed);
                next_tick += interval;
                if next_tick < now {
                    next_tick = now + interval;
                }
            }
        }

        let reading = self.probe.read();
        if self.stats.conns > 0 && rss_at_peak.is_none_or(|(p, _)| self.stats.conns >= p) {
            rss_at_peak = Some((self.stats.conns, reading.rss_bytes));
        }
        if let Sink::Publish(p) = &self.sink {
            p.publish(&self.stats, reading.rss_bytes, self.rss_start, rss_at_peak);
        }
        Ok(Summary {
            listen: self
                .listener
                .local_addr()
                .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into()),
            stats: self.stats.clone(),
            connections_at_exit: self.stats.conns,
            rss_bytes: reading.rss_bytes,
            rss_start_bytes: self.rss_start,
            rss_bytes_per_conn_at_peak: rss_at_peak
                .and_then(|(n, rss)| per_conn(rss, self.rss_start, n)),
            uptime_s: self.started.elapsed().as_secs_f64(),
            max_conns: self.max_conns,
            fd_limit: self.fd_limit,
            workers: 1,
            worker_restarts: 0,
        })
    }

    /// Accepts what the queue holds (until WouldBlock if it cannot be read), the cap, or an error
    /// that calls for a pause.
    fn accept_ready(&mut self) {
        if self.blocked.is_some() {
            return;
        }
        let mut queued = sys::accept_queue(self.listener.as_fd())
            .ok()
            .map(|q| q.queued);
        loop {
            if queued == Some(0) {
                return; // an accept() now would fail, after allocating a socket
            }
            if self.stats.conns >= self.max_conns {
                self.blocked = Some(AcceptBlock::AtCap {
                    max_conns: self.max_conns,
                });
                return;
            }
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    took_one(&mut queued);
                    let entry = self.conns.vacant_entry();
                    let key = entry.key();
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut stream, Token(key), Interest::READABLE)
                    {
                        // ENOSPC: fs.epoll.max_user_watches; ENOMEM: the kernel is out of memory.
                        self.count_accept_error(&e);
                        continue;
                    }
                    entry.insert(Conn {
                        stream,
                        pending: None,
                    });
                    self.stats.accepted += 1;
                    self.stats.conns += 1;
                    if self.stats.conns > self.stats.peak {
                        self.stats.peak = self.stats.conns;
                        self.check_milestone();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.count_accept_error(&e);
                    match sys::errno_of(&e) {
                        // The peer gave up before we accepted it: nothing is wrong with us.
                        errno::ECONNABORTED | errno::EPERM | errno::EPROTO => {
                            took_one(&mut queued);
                            continue;
                        }
                        code => {
                            self.blocked = Some(AcceptBlock::Errno(code));
                            self.retry_accept_at = Some(Instant::now() + ACCEPT_BACKOFF);
                            return;
                        }
                    }
                }
            }
        }
    }

    fn count_accept_error(&mut self, e: &io::Error) {
        let name = errno::name(sys::errno_of(e));
        *self.stats.accept_errors.entry(name).or_default() += 1;
        *self.interval_accept_errors.entry(name).or_default() += 1;
    }

    fn check_milestone(&mut self) {
        if let Some(&m) = MILESTONES.get(self.next_milestone) {
            if self.stats.conns >= m {
                self.next_milestone += 1;
                let Sink::Print(out) = self.sink else { return };
                let rss_bytes = self.probe.read().rss_bytes;
                report::milestone(
                    out,
                    &Milestone {
                        conns: m,
                        elapsed_s: self.started.elapsed().as_secs_f64(),
                        rss_bytes,
                    },
                );
            }
        }
    }

    /// Serves one connection's readiness: flush what is pending, then read and echo.
    fn conn_ready(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return; // stale: the connection closed and its key is free
        };
        if let Some(p) = conn.pending.as_mut() {
            match write_some(&mut conn.stream, &p.data[p.pos..]) {
                Ok(n) => {
                    p.pos += n;
                    self.stats.bytes_echoed += n as u64;
                    if p.pos < p.data.len() {
                        return; // still no room: wait for the next WRITABLE edge
                    }
                    conn.pending = None;
                    if self.close_first {
                        return self.close(key, None);
                    }
                    if let Err(e) = self.poll.registry().reregister(
                        &mut conn.stream,
                        Token(key),
                        Interest::READABLE,
                    ) {
                        return self.close(key, Some(e));
                    }
                }
                Err(e) => return self.close(key, Some(e)),
            }
        }
        for _ in 0..READS_PER_EVENT {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            match conn.stream.read(&mut self.buf) {
                Ok(0) => return self.close(key, None),
                Ok(n) => match write_some(&mut conn.stream, &self.buf[..n]) {
                    Ok(w) => {
                        self.stats.bytes_echoed += w as u64;
                        if w < n {
                            conn.pending = Some(Box::new(Pending {
                                data: self.buf[w..n].into(),
                                pos: 0,
                            }));
                            self.stats.backpressure_events += 1;
                            let interest = Interest::READABLE | Interest::WRITABLE;
                            if let Err(e) = self.poll.registry().reregister(
                                &mut conn.stream,
                                Token(key),
                                interest,
                            ) {
                                self.close(key, Some(e));
                            }
                            return;
                        }
                        if self.close_first {
                            return self.close(key, None);
                        }
                    }
                    Err(e) => return self.close(key, Some(e)),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.close(key, Some(e)),
            }
        }
        self.again.push(key);
    }

    fn close(&mut self, key: usize, err: Option<io::Error>) {
        if self.conns.try_remove(key).is_none() {
            return;
        }
        self.stats.conns -= 1;
        self.stats.closed += 1;
        if let Some(e) = err {
            *self
                .stats
                .close_errors
                .entry(errno::name(sys::errno_of(&e)))
                .or_default() += 1;
        }
        if self.blocked.is_some_and(|b| b != AcceptBlock::Paused) {
            // A descriptor just came free: take the next queued connection now.
            self.blocked = None;
            self.retry_accept_at = None;
            self.accept_ready();
        }
    }
}

/// Writes as much as the socket takes now; `Ok(n < buf.len())` means it would block.
fn write_some(stream: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match stream.write(&buf[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn per_conn(rss: u64, start: u64, conns: u64) -> Option<f64> {
    (conns > 0).then(|| (rss as f64 - start as f64) / conns as f64)
}
