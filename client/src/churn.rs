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

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use c10m_common::probe::Probe;
use c10m_common::procfs::{self, PortCensus};
use c10m_common::{errno, sys};

use crate::cli::{Close, Config, Mode};
use crate::flood::{Error, Payload};
use crate::plan::Plan;
use crate::report::{self, Output};
use crate::stats::{ChurnStats, ChurnSummary, ChurnTick};
use crate::timeouts::ConnectTimeouts;

const BUF: usize = 64 * 1024;
const TICK: Duration = Duration::from_secs(1);
/// After --duration, how long requests still in flight may take to finish.
const DRAIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    /// Request written (or being written), echo being read.
    Busy,
    /// Keep-alive: open, no request in flight.
    Idle,
    /// `--close wait`: answered, waiting for the server's FIN before closing.
    AwaitingClose,
}

struct Conn {
    stream: TcpStream,
    state: State,
    /// The request's number: what its payload bytes and the timeout queue know it by.
    seq: u32,
    sent: u32,
    echoed: u32,
    /// When the request started (churn: the connect), for its latency.
    started: Instant,
}

struct Churn<'a> {
    cfg: &'a Config,
    plan: &'a Plan,
    poll: Poll,
    conns: Slab<Conn>,
    buf: Box<[u8]>,
    scratch: Box<[u8]>,
    timeouts: ConnectTimeouts,
    payload: Payload,
    stats: ChurnStats,
    started: Instant,
    out: Output,
    /// Keep-alive: the next pool slot to look for an idle connection at.
    cursor: usize,
    ephemeral: (u16, u16),
    server_ports: Vec<u16>,
}

pub fn run(
    cfg: &Config,
    plan: &Plan,
    probe: &mut Probe,
    out: Output,
) -> Result<ChurnSummary, Error> {
    let poll = Poll::new().map_err(|e| Error(format!("epoll_create: {e}")))?;
    let ephemeral = plan.port_range.map_or((32768, 60999), |r| (r.low, r.high));
    let mut server_ports: Vec<u16> = cfg.targets.iter().map(|t| t.port()).collect();
    server_ports.sort_unstable();
    server_ports.dedup();
    let mut churn = Churn {
        cfg,
        plan,
        poll,
        conns: Slab::new(),
        buf: vec![0u8; BUF].into_boxed_slice(),
        scratch: vec![0u8; BUF].into_boxed_slice(),
        timeouts: ConnectTimeouts::default(),
        payload: Payload {
            min: cfg.payload.0,
            max: cfg.payload.1,
        },
        stats: ChurnStats::default(),
        started: Instant::now(),
        out,
        cursor: 0,
        ephemeral,
        server_ports,
    };
    churn.run(probe)
}

impl Churn<'_> {
    fn census(&self) -> PortCensus {
        procfs::read_tcp_ports(self.ephemeral, &self.server_ports).unwrap_or_default()
    }

    fn run(&mut self, probe: &mut Probe) -> Result<ChurnSummary, Error> {
        let mut events = Events::with_capacity(1024);
        let keepalive = self.cfg.mode == Mode::Keepalive;
        let mut next_tick = self.started + TICK;
        let mut last_ok = (self.started, 0u64);
        // Keep-alive: requests start once the pool is open; churn: at once.
        let mut requests_from: Option<Instant> = (!keepalive).then_some(self.started);
        let mut interrupted = false;
        let mut tw_peak = 0u64;
        let mut ports_peak = 0u64;

        loop {
            if sys::stop_requested() {
                interrupted = true;
                break;
            }
            let now = Instant::now();
            if keepalive && requests_from.is_none() {
                self.open_pool(now);
                if self.stats.opened + self.stats.connect_failed() >= self.cfg.connections
                    && self.stats.in_flight == 0
                {
                    if self.stats.opened == 0 {
                        break; // nothing to send requests over
                    }
                    requests_from = Some(now);
                }
            }
            let sending_until = requests_from.map(|t| t + self.cfg.duration);
            let sending = sending_until.is_some_and(|end| now < end);
            if sending {
                self.launch_due(now, requests_from.unwrap_or(now));
            }
            self.expire(now);
            if let Some(end) = sending_until {
                let idle = self.stats.in_flight == 0;
                if now >= end && (idle || now >= end + DRAIN) {
                    break;
                }
            }

            let mut wake = next_tick;
            if let Some(deadline) = self.timeouts.next_deadline() {
                wake = wake.min(deadline);
            }
            if sending {
                wake = wake.min(now + Duration::from_millis(2));
            }
            if let Some(end) = sending_until {
                wake = wake.min(end.max(now));
            }
            match self
                .poll
                .poll(&mut events, Some(wake.saturating_duration_since(now)))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error(format!("epoll_wait: {e}"))),
            }
            for event in events.iter() {
                self.on_event(event.token().0, event.is_writable());
            }

            let now = Instant::now();
            if now >= next_tick {
                let tcp = probe.read().tcp;
                let census = self.census();
                tw_peak = tw_peak.max(tcp.tcp_tw);
                ports_peak = ports_peak.max(census.ephemeral_in_use);
                let dt = now.duration_since(last_ok.0).as_secs_f64().max(1e-9);
                let tick = ChurnTick {
                    elapsed_s: now.duration_since(self.started).as_secs_f64(),
                    requests_ok: self.stats.requests_ok,
                    ok_per_s: (self.stats.requests_ok - last_ok.1) as f64 / dt,
                    failed: self.stats.failed_total(),
                    in_flight: self.stats.in_flight,
                    open: self.conns.len() as u64,
                    tcp_tw: tcp.tcp_tw,
                    census,
                    ports: u64::from(self.ephemeral.1.saturating_sub(self.ephemeral.0)) + 1,
                };
                report::churn_tick(self.out, &tick);
                last_ok = (now, self.stats.requests_ok);
                next_tick += TICK;
                if next_tick < now {
                    next_tick = now + TICK;
                }
            }
        }

        let sent_s = requests_from.map_or(0.0, |t| t.elapsed().as_secs_f64());
        self.teardown();
        let tcp = probe.read().tcp;
        let census = self.census();
        Ok(ChurnSummary {
            mode: self.cfg.mode,
            close: self.cfg.close,
            rate: self.cfg.rate,
            stats: self.stats.clone(),
            sent_s,
            tcp_tw_end: tcp.tcp_tw,
            tcp_tw_peak: tw_peak.max(tcp.tcp_tw),
            census_end: census,
            ports_in_use_peak: ports_peak.max(census.ephemeral_in_use),
            interrupted,
        })
    }

    /// Keep-alive: opens the pool, --concurrency connects at a time.
    fn open_pool(&mut self, now: Instant) {
        while self.stats.launched < self.cfg.connections
            && self.stats.in_flight < self.cfg.concurrency
        {
            self.connect(now);
        }
    }

    /// Starts the requests --rate allows by now (and --concurrency, and -n in all).
    fn launch_due(&mut self, now: Instant, from: Instant) {
        let due = if self.cfg.rate == 0 {
            u64::MAX
        } else {
            (now.duration_since(from).as_secs_f64() * self.cfg.rate as f64) as u64 + 1
        };
        let keepalive = self.cfg.mode == Mode::Keepalive;
        while self.stats.requests < due && self.stats.in_flight < self.cfg.concurrency {
            if keepalive {
                if !self.request_on_idle(now) {
                    // Every pooled connection is busy: the request waits (counted, not queued
                    // without bound).
                    self.stats.requests_delayed += due - self.stats.requests;
                    self.stats.requests = due;
                    return;
                }
            } else {
                if self.stats.launched >= self.cfg.connections {
                    return;
                }
                self.stats.requests += 1;
                self.connect(now);
            }
        }
    }

    fn connect(&mut self, now: Instant) {
        let i = self.stats.launched;
        self.stats.launched += 1;
        let (dst, src) = self.plan.route(i);
        let c = match sys::connect_nonblocking(dst, src, !self.cfg.plain_bind) {
            Ok(c) => c,
            Err(e) => {
                let step = match e.step {
                    sys::ConnectStep::Socket => "socket()",
                    sys::ConnectStep::Bind => "bind()",
                    sys::ConnectStep::Connect => "connect()",
                };
                return self.fail(sys::errno_of(&e.error), step, &e.error, true);
            }
        };
        let mut stream = TcpStream::from_std(c.stream);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.fail(sys::errno_of(&e), "epoll_ctl()", &e, true);
        }
        let seq = i as u32;
        entry.insert(Conn {
            stream,
            state: State::Connecting,
            seq,
            sent: 0,
            echoed: 0,
            started: now,
        });
        self.stats.in_flight += 1;
        self.timeouts.push(now + self.cfg.connect_timeout, key, seq);
        if !c.in_progress {
            self.connected(key);
        }
    }

    /// The handshake finished: churn sends its request, keep-alive joins the pool.
    fn connected(&mut self, key: usize) {
        let _ = sys::set_nodelay(self.conns[key].stream.as_fd());
        self.stats.opened += 1;
        if self.cfg.mode == Mode::Keepalive {
            self.stats.in_flight -= 1;
            self.conns[key].state = State::Idle;
            return;
        }
        self.start_request(key);
    }

    fn start_request(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        conn.state = State::Busy;
        conn.sent = 0;
        conn.echoed = 0;
        if let Err(e) = self.write_request(key) {
            self.lost(key, e);
        }
    }

    /// Keep-alive: sends the next request on an idle pooled connection, if there is one.
    fn request_on_idle(&mut self, now: Instant) -> bool {
        let cap = self.conns.capacity();
        for _ in 0..cap {
            let key = self.cursor;
            self.cursor = (self.cursor + 1) % cap.max(1);
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.state != State::Idle {
                continue;
            }
            conn.seq = conn.seq.wrapping_add(1 << 20);
            conn.started = now;
            self.stats.requests += 1;
            self.stats.in_flight += 1;
            self.start_request(key);
            return true;
        }
        false
    }

    fn on_event(&mut self, key: usize, writable: bool) {
        let Some(conn) = self.conns.get_mut(key) else {
            return; // stale: slab keys are reused
        };
        match conn.state {
            State::Connecting => match conn.stream.take_error() {
                Ok(None) if writable => self.connected(key),
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    self.conns.remove(key);
                    self.stats.in_flight -= 1;
                    self.fail(sys::errno_of(&e), "connect()", &e, true);
                }
            },
            State::Busy | State::Idle | State::AwaitingClose => {
                if let Err(e) = self.read_echo(key) {
                    return self.lost(key, e);
                }
                if writable && self.conns.get(key).is_some_and(|c| c.state == State::Busy) {
                    if let Err(e) = self.write_request(key) {
                        self.lost(key, e);
                    }
                }
            }
        }
    }

    fn write_request(&mut self, key: usize) -> Result<(), Option<io::Error>> {
        let conn = &mut self.conns[key];
        self.payload
            .write(
                &mut conn.stream,
                key,
                conn.seq,
                &mut conn.sent,
                &mut self.scratch,
            )
            .map_err(Some)
    }

    /// Drains the echo; when the whole request came back, the request is done.
    fn read_echo(&mut self, key: usize) -> Result<(), Option<io::Error>> {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return Ok(());
            };
            let n = match conn.stream.read(&mut self.buf) {
                Ok(0) if conn.state == State::AwaitingClose => {
                    let conn = self.conns.remove(key);
                    self.close(conn);
                    return Ok(());
                }
                Ok(0) => return Err(None),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Some(e)),
            };
            let len = if conn.state == State::Busy {
                self.payload.len(key, conn.seq)
            } else {
                0
            };
            let take = n.min((len - conn.echoed.min(len)) as usize);
            let expect = &mut self.scratch[..take];
            Payload::fill(key, conn.seq, conn.echoed, expect);
            if expect[..] != self.buf[..take] || n != take {
                self.stats.echo_mismatches += 1;
            }
            conn.echoed += take as u32;
            if conn.state == State::Busy && conn.echoed == len {
                self.done(key);
            }
        }
    }

    /// A request's echo is complete: churn closes the connection, keep-alive keeps it.
    fn done(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        let us = conn.started.elapsed().as_micros() as u64;
        self.stats.latency.record(us);
        self.stats.requests_ok += 1;
        self.stats.in_flight -= 1;
        if self.cfg.mode == Mode::Keepalive {
            conn.state = State::Idle;
            return;
        }
        if self.cfg.close == Close::Wait {
            conn.state = State::AwaitingClose;
            return;
        }
        let conn = self.conns.remove(key);
        self.close(conn);
    }

    fn close(&mut self, conn: Conn) {
        if self.cfg.close == Close::Rst {
            let _ = sys::set_linger_zero(conn.stream.as_fd());
        }
        self.stats.closed += 1;
        drop(conn);
    }

    /// A connection ended before its request did (or, idle in the pool, at all).
    fn lost(&mut self, key: usize, e: Option<io::Error>) {
        let Some(conn) = self.conns.try_remove(key) else {
            return;
        };
        let busy = conn.state == State::Busy;
        if busy {
            self.stats.in_flight -= 1;
        }
        self.close(conn);
        match e {
            Some(e) => self.fail(sys::errno_of(&e), "read()/write()", &e, false),
            None => {
                *self.stats.failed.entry("EOF").or_default() += 1;
                self.first_time("EOF");
            }
        }
    }

    fn expire(&mut self, now: Instant) {
        loop {
            let conns = &self.conns;
            let pending = |key: usize, attempt: u32| {
                conns
                    .get(key)
                    .is_some_and(|c| c.state == State::Connecting && c.seq == attempt)
            };
            let Some(key) = self.timeouts.pop_expired(now, pending) else {
                return;
            };
            self.conns.remove(key);
            self.stats.in_flight -= 1;
            let e = io::Error::from_raw_os_error(errno::ETIMEDOUT);
            self.fail(errno::ETIMEDOUT, "connect() (--connect-timeout)", &e, true);
        }
    }

    fn fail(&mut self, code: i32, step: &str, e: &io::Error, connect: bool) {
        let name = errno::name(code);
        *self.stats.failed.entry(name).or_default() += 1;
        if connect {
            *self.stats.connect_failures.entry(name).or_default() += 1;
        }
        if self.first_time(name) {
            report::first_failure(self.out, name, code, step, e);
        }
    }

    /// Records when a kind of failure first happened; true the first time.
    fn first_time(&mut self, name: &'static str) -> bool {
        let t = self.started.elapsed().as_secs_f64();
        let first = !self.stats.first_failure_s.contains_key(name);
        self.stats.first_failure_s.entry(name).or_insert(t);
        first
    }

    /// Closes what is left the way --close says.
    fn teardown(&mut self) {
        for (_, conn) in std::mem::take(&mut self.conns) {
            self.close(conn);
        }
    }
}
