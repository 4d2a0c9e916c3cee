//! The flood loop: nonblocking connects through one mio `Poll`, a bounded number in flight.
//!
//! # A connect is an event
//! `connect()` on a nonblocking socket returns EINPROGRESS at once; the kernel sends the SYN and
//! the socket becomes *writable* when the handshake completes, or reports the failure in
//! `SO_ERROR` (ECONNREFUSED, ETIMEDOUT, ...). Each socket is registered for reading and writing
//! once, edge-triggered, so the one writable edge announces the handshake's end and later edges
//! only come when a ping's write had to wait: no `epoll_ctl(MOD)` per connection.
//!
//! # Bounded in flight
//! At most `--concurrency` handshakes are outstanding. Without the bound, a client on loopback can
//! finish handshakes faster than the server accepts them: the accept queue (capped by
//! `net.core.somaxconn`) fills, the listener drops SYNs, and those clients wait a full SYN
//! retransmission timeout (1 s, then 3 s) — the ramp stalls for no reason of the server's.
//!
//! # Draining readiness
//! Reads drain until `WouldBlock` (mio is edge-triggered); slab keys are reused, so a stale event
//! for a closed key is ignored, and one for a reused key is harmless (a read finds nothing).
//!
//! # Pings without per-connection timers
//! With `--ping-interval I`, a cursor walks the slab and starts `open / I` pings per second, so
//! every connection pings about once per interval and the loop keeps no timer per connection.
//! Payload bytes are a pure function of (slot, sequence, offset), so the echo is checked byte for
//! byte without storing what was sent.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use c10m_common::probe::Probe;
use c10m_common::{errno, sys};

use crate::cli::Config;
use crate::plan::Plan;
use crate::report::{self, Output};
use crate::stats::{Histogram, Stats, Summary, Tick};
use crate::timeouts::ConnectTimeouts;

const BUF: usize = 64 * 1024;
const TICK: Duration = Duration::from_secs(1);
/// The most pings one turn of the loop starts.
const MAX_PINGS_PER_CALL: f64 = 4096.0;
/// How long, after the hold, the client waits for the echoes of pings still in flight.
const PING_DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    /// Established, no ping in flight.
    Idle,
    /// Established, a ping in flight.
    Pinging,
}

/// One connection: everything it costs in user space (plus its slab tag).
struct Conn {
    stream: TcpStream,
    state: State,
    /// Connecting: the attempt number the timeout queue knows it by. Open: the ping sequence.
    seq: u32,
    /// Bytes of the current ping written / echoed back.
    sent: u32,
    echoed: u32,
    /// When the current ping started, in µs since the run began (wrapping: an RTT must stay
    /// under 71 minutes).
    ping_at_us: u32,
}

/// A run-time failure, with what to do about it.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The payload of ping `seq` on slot `key`: its length and its bytes are pure functions.
#[derive(Debug, Clone, Copy)]
pub struct Payload {
    pub min: u32,
    pub max: u32,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Payload {
    fn seed(key: usize, seq: u32) -> u64 {
        ((key as u64) << 32) | u64::from(seq)
    }

    pub fn len(&self, key: usize, seq: u32) -> u32 {
        if self.min == self.max {
            return self.min;
        }
        let span = u64::from(self.max - self.min) + 1;
        self.min + (mix(Self::seed(key, seq) ^ 0x5555) % span) as u32
    }

    /// Writes what `stream` takes of message (key, seq) from byte `*sent` on, advancing `*sent`;
    /// `Ok` when done or when the socket is full (the next writable edge resumes it).
    pub fn write(
        &self,
        stream: &mut TcpStream,
        key: usize,
        seq: u32,
        sent: &mut u32,
        scratch: &mut [u8],
    ) -> io::Result<()> {
        let len = self.len(key, seq);
        while *sent < len {
            let n = ((len - *sent) as usize).min(scratch.len());
            let chunk = &mut scratch[..n];
            Payload::fill(key, seq, *sent, chunk);
            match stream.write(chunk) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => *sent += w as u32,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Fills `out` with the bytes at `offset..offset + out.len()` of ping (key, seq).
    pub fn fill(key: usize, seq: u32, offset: u32, out: &mut [u8]) {
        let seed = mix(Self::seed(key, seq));
        let mut pos = offset as u64;
        let mut i = 0;
        while i < out.len() {
            let word = mix(seed ^ (pos / 8)).to_le_bytes();
            let start = (pos % 8) as usize;
            let n = (8 - start).min(out.len() - i);
            out[i..i + n].copy_from_slice(&word[start..start + n]);
            i += n;
            pos += n as u64;
        }
    }
}

struct Flood<'a> {
    cfg: &'a Config,
    plan: &'a Plan,
    poll: Poll,
    conns: Slab<Conn>,
    buf: Box<[u8]>,
    scratch: Box<[u8]>,
    timeouts: ConnectTimeouts,
    attempts: u32,
    stats: Stats,
    interval_rtt: Histogram,
    seen_errors: BTreeSet<&'static str>,
    started: Instant,
    first_connect: Option<Instant>,
    payload: Payload,
    ping_cursor: usize,
    ping_budget: f64,
    /// Connections with a ping sent and its echo not yet complete.
    pinging: u64,
    slice: Slice,
    sink: Sink,
}

/// Where the loop's measurements go: printed, or published for the parent of `--processes`.
pub enum Sink {
    Print(Output),
    Publish(crate::processes::Publisher),
}

/// This process's share of the connections: global indices `index, index + of, ...`.
#[derive(Debug, Clone, Copy)]
pub struct Slice {
    pub index: u64,
    pub of: u64,
}

impl Slice {
    pub const WHOLE: Slice = Slice { index: 0, of: 1 };

    pub fn count(&self, n: u64) -> u64 {
        n / self.of + u64::from(self.index < n % self.of)
    }
}

pub fn run(
    cfg: &Config,
    plan: &Plan,
    slice: Slice,
    sink: Sink,
    probe: &mut Probe,
) -> Result<Summary, Error> {
    let requested = slice.count(cfg.connections);
    let poll = Poll::new().map_err(|e| Error(format!("epoll_create: {e}")))?;
    let prealloc = requested.min(plan.fd_room.max(1)).min(1 << 24) as usize;
    let mut buf = vec![0u8; BUF].into_boxed_slice();
    let mut scratch = vec![0u8; BUF].into_boxed_slice();
    buf.fill(1); // touched now, so they count in the start-up RSS, not per connection
    scratch.fill(1);
    let mut flood = Flood {
        cfg,
        plan,
        poll,
        conns: Slab::with_capacity(prealloc),
        buf,
        scratch,
        timeouts: ConnectTimeouts::default(),
        attempts: 0,
        stats: Stats {
            requested,
            ..Stats::default()
        },
        interval_rtt: Histogram::default(),
        seen_errors: BTreeSet::new(),
        started: Instant::now(),
        first_connect: None,
        payload: Payload {
            min: cfg.payload.0,
            max: cfg.payload.1,
        },
        ping_cursor: 0,
        ping_budget: 0.0,
        pinging: 0,
        slice,
        sink,
    };
    flood.run(probe)
}

impl Flood<'_> {
    fn run(&mut self, probe: &mut Probe) -> Result<Summary, Error> {
        let mut events = Events::with_capacity(1024);
        let rss_start = probe.read().rss_bytes;
        let mut rss_at_peak = (0u64, rss_start);
        let mut ramp_done_at: Option<Instant> = None;
        let mut hold_until: Option<Option<Instant>> = None; // Some(None): hold until a signal
        let mut held_from = None;
        let mut hold_ended_at: Option<Instant> = None;
        let tick_every = match self.sink {
            Sink::Print(_) => TICK,
            Sink::Publish(_) => crate::processes::PUBLISH_INTERVAL,
        };
        let mut next_tick = self.started + tick_every;
        let mut last = (self.started, 0u64);
        let mut last_ping_check = self.started;
        let mut interrupted = false;

        loop {
            if sys::stop_requested() {
                interrupted = true;
                break;
            }
            let now = Instant::now();
            self.launch_due(now);
            self.expire_connects(now);

            let ramp_done =
                self.stats.launched == self.stats.requested && self.stats.in_flight == 0;
            if ramp_done && ramp_done_at.is_none() {
                ramp_done_at = Some(now);
                let t0 = self.first_connect.unwrap_or(self.started);
                self.stats.elapsed_to_all_s = Some(now.duration_since(t0).as_secs_f64());
                rss_at_peak = (self.stats.open, probe.read().rss_bytes);
                if let Sink::Publish(p) = &self.sink {
                    p.ramp_done(now, self.first_connect.unwrap_or(now));
                }
            }
            if let (Some(done), None) = (ramp_done_at, hold_until) {
                // With --processes, every process holds from the moment the last one is ready.
                let start = match &self.sink {
                    Sink::Print(_) => Some(done),
                    Sink::Publish(p) => p.hold_start(),
                };
                if let Some(start) = start {
                    held_from = Some(start);
                    hold_until = Some(self.cfg.hold.map(|h| start + h));
                    if self.stats.open == 0 {
                        break; // nothing to hold
                    }
                }
            }
            if let Some(Some(end)) = hold_until {
                if now >= end && hold_ended_at.is_none() {
                    hold_ended_at = Some(now);
                }
                // Pings sent just before the end get their echo before the sockets close.
                if now >= end + PING_DRAIN || (now >= end && self.pinging == 0) {
                    break;
                }
            }
            // Pings start with the hold: during the ramp they would compete with the handshakes.
            if let (Some(interval), Some(_), None) =
                (self.cfg.ping_interval, hold_until, hold_ended_at)
            {
                let dt = now.duration_since(last_ping_check).as_secs_f64();
                self.ping_due(dt / interval.as_secs_f64());
            }
            last_ping_check = now;

            let mut wake = next_tick;
            if let Some(Some(end)) = hold_until {
                wake = wake.min(if now < end { end } else { end + PING_DRAIN });
            }
            if let Some(deadline) = self.timeouts.next_deadline() {
                wake = wake.min(deadline);
            }
            if self.cfg.ping_interval.is_some()
                || (self.cfg.rate > 0 && self.stats.launched < self.stats.requested)
            {
                wake = wake.min(now + Duration::from_millis(5));
            }
            let launch_ready = self.stats.launched < self.stats.requested
                && self.stats.in_flight < self.concurrency()
                && self.cfg.rate == 0;
            let timeout = if launch_ready {
                Duration::ZERO
            } else {
                wake.saturating_duration_since(now)
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error(format!("epoll_wait: {e}"))),
            }
            for event in events.iter() {
                self.on_event(event.token().0, event.is_writable());
            }

            let now = Instant::now();
            if now >= next_tick {
                let reading = probe.read();
                if self.stats.open >= rss_at_peak.0 && self.stats.open > 0 {
                    rss_at_peak = (self.stats.open, reading.rss_bytes);
                }
                let tick = Tick::new(
                    &self.stats,
                    now.duration_since(self.started).as_secs_f64(),
                    now.duration_since(last.0).as_secs_f64(),
                    last.1,
                    &self.interval_rtt,
                    reading.rss_bytes,
                    reading.tcp.tcp_tw,
                );
                let tick = Tick {
                    knee: self.plan.past_knee(self.stats.launched * self.slice.of),
                    ..tick
                };
                match &self.sink {
                    Sink::Print(out) => report::tick(*out, &tick, self.plan),
                    Sink::Publish(p) => {
                        p.publish(&self.stats, reading.rss_bytes, rss_start, rss_at_peak)
                    }
                }
                self.interval_rtt = Histogram::default();
                last = (now, self.stats.established);
                next_tick += tick_every;
                if next_tick < now {
                    next_tick = now + tick_every;
                }
            }
        }

        let rss_end = probe.read().rss_bytes;
        if self.stats.open >= rss_at_peak.0 && self.stats.open > 0 {
            rss_at_peak = (self.stats.open, rss_end);
        }
        let hold_end = hold_ended_at.unwrap_or_else(Instant::now);
        self.stats.pings_unanswered = self.pinging;
        if let Sink::Publish(p) = &self.sink {
            p.hold_ended(hold_end);
            p.publish(&self.stats, rss_end, rss_start, rss_at_peak);
        }
        let held_s = held_from.map_or(0.0, |t: Instant| {
            hold_end.saturating_duration_since(t).as_secs_f64()
        });
        self.teardown();
        let connect_rate_per_s = self
            .stats
            .elapsed_to_all_s
            .filter(|s| *s > 0.0)
            .map(|s| self.stats.established as f64 / s);
        Ok(Summary {
            stats: self.stats.clone(),
            connect_rate_per_s,
            rss_bytes: rss_end,
            rss_bytes_per_conn: (rss_at_peak.0 > 0)
                .then(|| (rss_at_peak.1 as f64 - rss_start as f64) / rss_at_peak.0 as f64),
            interrupted,
            held_s,
        })
    }

    /// Starts the connects that the rate, the in-flight bound and N allow now.
    fn launch_due(&mut self, now: Instant) {
        let n = self.stats.requested;
        let allowed = if self.cfg.rate == 0 {
            n
        } else {
            let t0 = *self.first_connect.get_or_insert(now);
            let rate = self.cfg.rate as f64 / self.slice.of as f64;
            let due = (now.duration_since(t0).as_secs_f64() * rate) as u64 + 1;
            due.min(n)
        };
        while self.stats.launched < allowed && self.stats.in_flight < self.concurrency() {
            self.launch(now);
        }
    }

    fn launch(&mut self, now: Instant) {
        self.first_connect.get_or_insert(now);
        let i = self.stats.launched * self.slice.of + self.slice.index;
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
                return self.fail(sys::errno_of(&e.error), step, &e.error);
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
            return self.fail(sys::errno_of(&e), "epoll_ctl()", &e);
        }
        self.attempts = self.attempts.wrapping_add(1);
        let state = if c.in_progress {
            State::Connecting
        } else {
            State::Idle
        };
        entry.insert(Conn {
            stream,
            state,
            seq: self.attempts,
            sent: 0,
            echoed: 0,
            ping_at_us: 0,
        });
        if c.in_progress {
            self.stats.in_flight += 1;
            self.timeouts
                .push(now + self.cfg.connect_timeout, key, self.attempts);
        } else {
            self.opened(key);
        }
    }

    fn fail(&mut self, code: i32, step: &str, e: &io::Error) {
        let name = errno::name(code);
        *self.stats.failed.entry(name).or_default() += 1;
        if self.seen_errors.insert(name) {
            if let Sink::Print(out) = self.sink {
                report::first_failure(out, name, code, step, e);
            }
        }
    }

    fn expire_connects(&mut self, now: Instant) {
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
            self.fail(errno::ETIMEDOUT, "connect() (--connect-timeout)", &e);
        }
    }

    fn opened(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        conn.state = State::Idle;
        conn.seq = 0;
        if self.cfg.ping_interval.is_some() {
            let _ = sys::set_nodelay(conn.stream.as_fd());
        }
        self.stats.established += 1;
        self.stats.open += 1;
        self.stats.peak_open = self.stats.peak_open.max(self.stats.open);
    }

    fn on_event(&mut self, key: usize, writable: bool) {
        let Some(conn) = self.conns.get_mut(key) else {
            return; // stale
        };
        if conn.state == State::Connecting {
            match conn.stream.take_error() {
                Ok(None) if writable => {
                    self.stats.in_flight -= 1;
                    self.opened(key);
                }
                Ok(None) => {} // not finished yet
                Ok(Some(e)) | Err(e) => {
                    self.conns.remove(key);
                    self.stats.in_flight -= 1;
                    self.fail(sys::errno_of(&e), "connect()", &e);
                }
            }
            return;
        }
        if let Err(e) = self.read_echo(key) {
            return self.lost(key, e);
        }
        if writable {
            if let Err(e) = self.write_ping(key) {
                self.lost(key, e);
            }
        }
    }

    /// A held connection ended: count it by errno (`EOF` for a clean close by the peer).
    fn lost(&mut self, key: usize, e: Option<io::Error>) {
        let Some(conn) = self.conns.try_remove(key) else {
            return;
        };
        if conn.state == State::Pinging {
            self.pinging -= 1;
        }
        self.stats.open -= 1;
        match e {
            Some(e) => self.fail(sys::errno_of(&e), "read()", &e),
            None => {
                *self.stats.failed.entry("EOF").or_default() += 1;
                if self.seen_errors.insert("EOF") {
                    if let Sink::Print(out) = self.sink {
                        report::first_eof(out);
                    }
                }
            }
        }
    }

    /// Drains what the server echoed and checks it against what was sent.
    fn read_echo(&mut self, key: usize) -> Result<(), Option<io::Error>> {
        loop {
            let now_us = self.now_us();
            let conn = &mut self.conns[key];
            let n = match conn.stream.read(&mut self.buf) {
                Ok(0) => return Err(None),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Some(e)),
            };
            let pinging = conn.state == State::Pinging;
            let len = if pinging {
                self.payload.len(key, conn.seq)
            } else {
                0
            };
            let expected = (len - conn.echoed.min(len)) as usize;
            let take = n.min(expected);
            let expect = &mut self.scratch[..take];
            Payload::fill(key, conn.seq, conn.echoed, expect);
            let intact = expect[..] == self.buf[..take] && n == take;
            conn.echoed += take as u32;
            if !intact {
                self.stats.echo_mismatches += 1;
            }
            if pinging && conn.echoed == len {
                let rtt = u64::from(now_us.wrapping_sub(conn.ping_at_us));
                conn.state = State::Idle;
                self.pinging -= 1;
                self.stats.rtt.record(rtt);
                self.interval_rtt.record(rtt);
                self.stats.pings_ok += u64::from(intact);
            }
        }
    }

    /// Writes what the socket takes of the current ping.
    fn write_ping(&mut self, key: usize) -> Result<(), Option<io::Error>> {
        let conn = &mut self.conns[key];
        if conn.state != State::Pinging {
            return Ok(());
        }
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

    /// Starts `fraction_of_open` x open pings on connections with none in flight.
    fn ping_due(&mut self, fraction_of_open: f64) {
        // More pings than can start in one call (the server is slower than --ping-interval)
        // are dropped, not saved up: the scan below stays bounded however far behind it falls.
        self.ping_budget =
            (self.ping_budget + fraction_of_open * self.stats.open as f64).min(MAX_PINGS_PER_CALL);
        let cap = self.conns.capacity();
        let limit = cap.min((self.ping_budget as usize).saturating_mul(8).max(256));
        let mut scanned = 0;
        while self.ping_budget >= 1.0 && scanned < limit {
            let key = self.ping_cursor;
            self.ping_cursor = (self.ping_cursor + 1) % cap.max(1);
            scanned += 1;
            let now_us = self.now_us();
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.state != State::Idle {
                continue;
            }
            conn.state = State::Pinging;
            self.pinging += 1;
            conn.seq = conn.seq.wrapping_add(1);
            conn.sent = 0;
            conn.echoed = 0;
            conn.ping_at_us = now_us;
            self.ping_budget -= 1.0;
            self.stats.pings_sent += 1;
            if let Err(e) = self.write_ping(key) {
                self.lost(key, e);
            }
        }
        if scanned >= limit {
            self.ping_budget = self.ping_budget.min(1.0);
        }
    }

    /// This process's share of --concurrency (and of --rate, below).
    fn concurrency(&self) -> u64 {
        self.cfg.concurrency.div_ceil(self.slice.of)
    }

    fn now_us(&self) -> u32 {
        self.started.elapsed().as_micros() as u32
    }

    /// Closes everything with RST: no TIME_WAIT left on the machine for the next run.
    fn teardown(&mut self) {
        for (_, conn) in self.conns.iter() {
            let _ = sys::set_linger_zero(conn.stream.as_fd());
        }
        self.conns.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_random_access() {
        let mut whole = vec![0u8; 1000];
        Payload::fill(7, 3, 0, &mut whole);
        let mut part = vec![0u8; 333];
        Payload::fill(7, 3, 101, &mut part);
        assert_eq!(&whole[101..434], &part[..]);
        let mut other = vec![0u8; 1000];
        Payload::fill(7, 4, 0, &mut other);
        assert_ne!(whole, other);
    }

    #[test]
    fn payload_len_in_range() {
        let p = Payload { min: 1, max: 65536 };
        let lens: Vec<u32> = (0..100).map(|s| p.len(1, s)).collect();
        assert!(lens.iter().all(|l| (1..=65536).contains(l)));
        assert!(lens.iter().any(|l| *l != lens[0]));
        assert_eq!(Payload { min: 64, max: 64 }.len(9, 9), 64);
    }
}
