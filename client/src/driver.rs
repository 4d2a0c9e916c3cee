//! The bookkeeping every mode and every engine shares: connects and their timeouts, exchanges
//! and their echoes, failures by errno, teardown.
//!
//! The [`Driver`] owns the connection table and the counters, and implements the engine's
//! [`Handler`]: whatever engine moves the bytes, a completed handshake, an echo, a reset or a
//! timeout is counted here, once, the same way. The modes ([`crate::hold`],
//! [`crate::requests`]) decide *when* to connect and to send; the driver does it.
//!
//! # An exchange
//! A ping (hold) or a request (churn, keep-alive) writes the next `len` bytes of the
//! connection's stream ([`crate::payload`]) and is complete when all of them came back. Each
//! arriving byte is compared with a fresh computation of the byte sent at that offset, so a
//! reordered, truncated or foreign echo is caught without storing what was sent.
//!
//! # Connect deadlines
//! Every connect gets the same `--connect-timeout`, so deadlines arrive in launch order and one
//! FIFO ([`ConnectTimeouts`]) holds them all: no timer per connection.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use c10m_sys::errno;

use crate::conns::{elapsed_us, stamp_us, Conns, State};
use crate::engine::{CloseHow, Handler, Io, OpenError, Opened};
use crate::output::{Failure, Line, Output};
use crate::payload::Payload;
use crate::stats::Stats;
use crate::timeouts::ConnectTimeouts;

/// What follows a completed exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// The connection stays open for the next one (hold, keep-alive).
    Idle,
    /// Churn: close it.
    Close(CloseHow),
    /// Churn with `--close wait`: close only after the server's FIN.
    AwaitClose,
}

/// How the driver behaves for a mode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Behaviour {
    pub payload: Payload,
    pub connect_timeout: Duration,
    /// Churn: a request starts as soon as the handshake completes.
    pub exchange_on_connect: bool,
    pub after: After,
    /// How a connection the peer broke is closed on our side.
    pub close_lost: CloseHow,
    /// The call named when a held connection fails (`read()`, `read()/write()`).
    pub lost_step: &'static str,
    /// Print a `failure` line the first time the server closes a connection (hold: it should
    /// not; churn and keep-alive count it in the summary only).
    pub announce_eof: bool,
}

pub(crate) struct Driver {
    pub conns: Conns,
    pub stats: Stats,
    timeouts: ConnectTimeouts,
    how: Behaviour,
    scratch: Box<[u8]>,
    started: Instant,
    pub first_connect: Option<Instant>,
    /// When each kind of failure first happened, in seconds since the start.
    pub first_failure_s: BTreeMap<&'static str, f64>,
    /// Where first failures are printed (`None` in a `--processes` child: its parent prints).
    report: Option<Output>,
}

const SCRATCH: usize = 64 * 1024;

impl Driver {
    pub(crate) fn new(how: Behaviour, capacity: usize, report: Option<Output>) -> Driver {
        let mut scratch = vec![0u8; SCRATCH].into_boxed_slice();
        scratch.fill(1); // touched now, so it counts in the start-up RSS, not per connection
        Driver {
            conns: Conns::with_capacity(capacity),
            stats: Stats::default(),
            timeouts: ConnectTimeouts::default(),
            how,
            scratch,
            started: Instant::now(),
            first_connect: None,
            first_failure_s: BTreeMap::new(),
            report,
        }
    }

    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    fn now_stamp(&self) -> u32 {
        stamp_us(self.started.elapsed().as_micros())
    }

    /// The ramp is over: the connect deadlines' queue gives its memory back.
    pub(crate) fn ramp_done(&mut self, io: &mut dyn Io, now: Instant) {
        self.expire_connects(io, now);
        self.timeouts.shrink();
    }

    /// The earliest connect deadline queued (possibly a stale one: waking early is harmless).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timeouts.next_deadline()
    }

    /// Starts one connect to `dst` from `src`.
    pub(crate) fn launch(
        &mut self,
        io: &mut dyn Io,
        now: Instant,
        dst: SocketAddr,
        src: Option<IpAddr>,
    ) {
        self.first_connect.get_or_insert(now);
        self.stats.launched += 1;
        let stamp = stamp_us(now.duration_since(self.started).as_micros());
        let slot = self.conns.claim(State::Connecting, stamp);
        self.stats.connecting += 1;
        match io.open(slot, stamp, dst, src) {
            Ok(Opened::InProgress) => {
                self.timeouts
                    .push(now + self.how.connect_timeout, slot as usize, stamp)
            }
            Ok(Opened::Established) => self.connected(io, slot),
            Err(e) => {
                self.conns.release(slot);
                self.stats.connecting -= 1;
                self.fail(errno::errno_of(&e.error), e.step, &e.error, true);
            }
        }
    }

    /// Fails every connect whose `--connect-timeout` has passed.
    pub(crate) fn expire_connects(&mut self, io: &mut dyn Io, now: Instant) {
        loop {
            let conns = &self.conns;
            let pending = |slot: usize, stamp: u32| {
                conns
                    .get(slot as u32)
                    .is_some_and(|c| c.state() == State::Connecting && c.at() == stamp)
            };
            let Some(slot) = self.timeouts.pop_expired(now, pending) else {
                return;
            };
            let slot = slot as u32;
            io.close(slot, CloseHow::Fin, 0, 0);
            self.conns.release(slot);
            self.stats.connecting -= 1;
            let e = io::Error::from_raw_os_error(errno::ETIMEDOUT);
            self.fail(errno::ETIMEDOUT, "connect() (--connect-timeout)", &e, true);
        }
    }

    fn connected(&mut self, io: &mut dyn Io, slot: u32) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        c.set_state(State::Open);
        let st = &mut self.stats;
        st.connecting -= 1;
        st.established += 1;
        st.open += 1;
        st.peak_open = st.peak_open.max(st.open);
        if self.how.exchange_on_connect {
            self.start_exchange(io, slot);
        }
    }

    /// Open slots with no exchange in flight, from `from` on, wrapping, at most `limit` looked at.
    pub(crate) fn idle_slot(&self, from: usize, limit: usize) -> (Option<u32>, usize) {
        let n = self.conns.len();
        if n == 0 {
            return (None, 0);
        }
        for k in 0..limit.min(n) {
            let slot = ((from + k) % n) as u32;
            if self.conns.state(slot) == State::Open && !self.conns.busy(slot) {
                return (Some(slot), k + 1);
            }
        }
        (None, limit.min(n))
    }

    /// Starts an exchange on an open, idle connection.
    pub(crate) fn start_exchange(&mut self, io: &mut dyn Io, slot: u32) {
        let now = self.now_stamp();
        let len = self.how.payload.len(self.stats.exchanges);
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        if !self.how.exchange_on_connect {
            c.set(State::Open, now); // a churn request is timed from its connect() instead
        }
        let end = c.sent.wrapping_add(len);
        self.stats.exchanges += 1;
        self.stats.busy += 1;
        self.write_more(io, slot, end);
    }

    /// Writes what the connection takes of the exchange ending at stream offset `end`.
    fn write_more(&mut self, io: &mut dyn Io, slot: u32, end: u32) {
        loop {
            let Some(c) = self.conns.get_mut(slot) else {
                return;
            };
            let (sent, recv) = (c.sent, c.recv);
            if sent == end {
                self.conns.set_write_end(slot, None);
                return self.exchange_progress(io, slot, true, true);
            }
            let n = (end.wrapping_sub(sent) as usize).min(self.scratch.len());
            let chunk = &mut self.scratch[..n];
            Payload::fill(slot, sent, chunk);
            match io.write(slot, sent, recv, chunk) {
                Ok(w) => {
                    if let Some(c) = self.conns.get_mut(slot) {
                        c.sent = c.sent.wrapping_add(w as u32);
                    }
                    if w < n {
                        self.conns.set_write_end(slot, Some(end));
                        return;
                    }
                }
                Err(e) => return self.lost(io, slot, Some(e)),
            }
        }
    }

    /// After bytes were written or echoed on a busy connection: completes the exchange when
    /// everything came back (`intact`: the last bytes matched).
    fn exchange_progress(&mut self, io: &mut dyn Io, slot: u32, was_busy: bool, intact: bool) {
        if !was_busy || self.conns.busy(slot) {
            return;
        }
        let now = self.now_stamp();
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        let rtt = elapsed_us(c.at(), now);
        self.stats.rtt.record(u64::from(rtt));
        self.stats.busy -= 1;
        self.stats.exchanges_ok += u64::from(intact);
        match self.how.after {
            After::Idle => {}
            After::AwaitClose => c.set_state(State::Closing),
            After::Close(how) => self.close(io, slot, how),
        }
    }

    /// Ends an open connection on purpose.
    fn close(&mut self, io: &mut dyn Io, slot: u32, how: CloseHow) {
        let Some(c) = self.conns.get(slot) else {
            return;
        };
        io.close(slot, how, c.sent, c.recv);
        self.conns.release(slot);
        self.stats.open -= 1;
        self.stats.closed += 1;
    }

    /// The peer ended an open connection: count it by errno (`EOF` for a clean close).
    fn lost(&mut self, io: &mut dyn Io, slot: u32, e: Option<io::Error>) {
        if self.conns.get(slot).is_none() {
            return;
        }
        if self.conns.busy(slot) {
            self.stats.busy -= 1;
        }
        self.close(io, slot, self.how.close_lost);
        match e {
            Some(e) => self.fail(errno::errno_of(&e), self.how.lost_step, &e, false),
            None => self.fail_named("EOF", || Failure::named("EOF")),
        }
    }

    fn fail_named(&mut self, name: &'static str, line: impl FnOnce() -> Failure) {
        self.stats.failed.add(name, 1);
        if self.first_failure_s.contains_key(name) {
            return;
        }
        let t = (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        self.first_failure_s.insert(name, t);
        let announce = name != "EOF" || self.how.announce_eof;
        if let (Some(out), true) = (&self.report, announce) {
            out.emit(&Line::Failure(&line()));
        }
    }

    fn fail(&mut self, code: i32, step: &str, e: &io::Error, connect: bool) {
        if connect {
            self.stats.connect_failures += 1;
        }
        let name = errno::name(code);
        self.fail_named(name, || Failure::seen(name, code, step, e));
    }

    /// Closes every connection still here with `how`.
    pub(crate) fn teardown(&mut self, io: &mut dyn Io, how: CloseHow) {
        let slots: Vec<(u32, u32, u32)> = self
            .conns
            .occupied()
            .map(|(s, c)| (s, c.sent, c.recv))
            .collect();
        for (slot, sent, recv) in slots {
            io.close(slot, how, sent, recv);
            self.conns.release(slot);
            self.stats.closed += 1;
        }
    }
}

impl Handler for Driver {
    fn connecting(&self, slot: u32) -> bool {
        self.conns.state(slot) == State::Connecting
    }

    fn connect_stamp(&self, slot: u32) -> Option<u32> {
        self.conns
            .get(slot)
            .filter(|c| c.state() == State::Connecting)
            .map(|c| c.at())
    }

    fn on_connected(&mut self, io: &mut dyn Io, slot: u32) {
        if self.connecting(slot) {
            self.connected(io, slot);
        }
    }

    fn on_connect_failed(&mut self, io: &mut dyn Io, slot: u32, e: OpenError) {
        if !self.connecting(slot) {
            return;
        }
        io.close(slot, CloseHow::Fin, 0, 0);
        self.conns.release(slot);
        self.stats.connecting -= 1;
        self.fail(errno::errno_of(&e.error), e.step, &e.error, true);
    }

    fn stream(&self, slot: u32) -> Option<(u32, u32)> {
        match self.conns.state(slot) {
            State::Open | State::Closing => self.conns.get(slot).map(|c| (c.sent, c.recv)),
            _ => None,
        }
    }

    fn on_data(&mut self, io: &mut dyn Io, slot: u32, at: Option<u32>, data: &[u8]) {
        let was_busy = self.conns.busy(slot);
        let end = self.conns.write_end(slot);
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        // An engine that knows offsets may hand over bytes again (a retransmission) or past a
        // gap (a lost segment): take the stream in order, from `recv` on.
        let data = match at.map(|at| c.recv.wrapping_sub(at) as i32) {
            Some(dup) if dup < 0 => return, // past a gap: the sender will send it again
            Some(dup) => {
                let dup = dup as usize;
                if dup >= data.len() {
                    return; // all seen already
                }
                &data[dup..]
            }
            None => data,
        };
        let expected = end.unwrap_or(c.sent).wrapping_sub(c.recv) as usize;
        let take = data.len().min(expected);
        let expect = &mut self.scratch[..take];
        Payload::fill(slot, c.recv, expect);
        let intact = expect[..] == data[..take] && data.len() == take;
        c.recv = c.recv.wrapping_add(take as u32);
        if !intact {
            self.stats.echo_mismatches += 1;
        }
        self.exchange_progress(io, slot, was_busy, intact);
    }

    fn on_writable(&mut self, io: &mut dyn Io, slot: u32) {
        if let Some(end) = self.conns.write_end(slot) {
            self.write_more(io, slot, end);
        }
    }

    fn on_closed(&mut self, io: &mut dyn Io, slot: u32, e: Option<io::Error>) {
        if e.is_none() && self.conns.state(slot) == State::Closing {
            return self.close(io, slot, self.how.close_lost);
        }
        self.lost(io, slot, e);
    }

    fn stream_bytes(&self, slot: u32, at: u32, out: &mut [u8]) {
        Payload::fill(slot, at, out);
    }
}
