//! The client's data in flight, by the kernel's rules: retransmission after a timeout computed
//! from the measured round trip (RFC 6298), the server's receive window (RFC 9293 3.8.6) and the
//! persist timer that probes a window shut to zero (RFC 9293 3.8.6.1).
//!
//! # No buffer
//! A kernel socket keeps every byte it sent until it is acknowledged. Here the bytes of a
//! connection's stream are a function of (slot, stream offset) ([`crate::payload`]), so a
//! segment sent again is made again from its offset: what is kept is offsets, never bytes.
//!
//! # Nothing for idle connections
//! A connection whose data the server has all acknowledged, and whose window was open, has no
//! entry here at all: the 16 bytes per connection of the engine's module doc are all it costs.
//! An entry is made when a write leaves data unacknowledged, and dropped when the last byte is
//! acknowledged; it stays only while the server's window is below the one assumed for
//! connections with no entry (half the smallest window any SYN-ACK offered: a window shrunk
//! under memory pressure is remembered, an open one need not be).
//!
//! # What a connection in flight costs
//! One [`Flight`] (28 bytes) under a 4-byte key in a hash table kept at most 7/8 full (about
//! 40 bytes), plus a 12-byte node in the timer wheel each time its timer is armed (an ACK that
//! acknowledges part of the data re-arms it; the node left behind goes back to the pool when
//! its bucket comes round). The engine keeps at most 16,384 pings in flight, so this is about
//! 1.5 MB whatever the number of connections held: made, and touched, when the engine starts.
//!
//! # Timers
//! A hashed timer wheel of one-millisecond buckets ([`super::wheel`]): arming is O(1), and each
//! millisecond that passes looks at one bucket, so no tick ever walks every connection.
//!
//! # The round-trip estimate
//! SRTT and RTTVAR as RFC 6298 computes them, RTO = max(200 ms, SRTT + max(1 ms, 4 RTTVAR)):
//! the floor is Linux's `TCP_RTO_MIN`, not the RFC's 1 s. The estimate is kept per target, not
//! per connection: there are no bytes per connection left for it, and every connection of a
//! process to one server shares the same path, which is also why Linux keeps RTTs per
//! destination (`tcp_metrics`) to start new connections from. Samples are taken from data
//! sent once only (Karn's algorithm); before the first, RTO is 1 s (RFC 6298 2.1). Each timeout
//! doubles it for that connection, up to 120 s (`TCP_RTO_MAX`); the 16th timeout in a row
//! without progress (`tcp_retries2` = 15) fails the connection with ETIMEDOUT.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::wheel::Wheel;

/// `TCP_RTO_MIN`.
const RTO_MIN: Duration = Duration::from_millis(200);
/// The timeout before any round trip was measured (RFC 6298 2.1).
pub(super) const RTO_INIT: Duration = Duration::from_secs(1);
/// `TCP_RTO_MAX`.
const RTO_MAX: Duration = Duration::from_secs(120);
/// Timeouts in a row a connection survives (`tcp_retries2`, and for unanswered zero-window
/// probes, as Linux counts them against the same limit).
pub(super) const RETRIES: u8 = 15;
/// The wheel's tick.
const TICK_MS: u64 = 1;
/// Buckets [`Flights::next_deadline`] looks ahead: with nothing due sooner, the engine looks at
/// its timers every 50 ms.
const LOOKAHEAD: u32 = 50;
/// After a timeout, each acknowledgement of progress lets this many bytes be sent again (two
/// full segments: the congestion window of slow start growing by one per ACK, RFC 5681 3.1).
const RECOVERY_SEGMENTS: u32 = 2;

const TIMER: u8 = 1;
/// The armed timer is the persist timer (a zero window), not the retransmission timer.
const PERSIST: u8 = 2;
/// The driver has more to write than the window took: call it back when it opens.
const WAITING: u8 = 4;
/// An RTT sample is running.
const TIMING: u8 = 8;
/// The retransmission timer fired since `una` last advanced to the end.
const RECOVERY: u8 = 16;

/// One connection's data in flight. Offsets are the client's stream offsets (the driver's
/// `sent` and `recv` count the same way).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Flight {
    /// Everything before this offset the server has acknowledged.
    una: u32,
    /// In recovery: data before this offset has been sent again.
    resent_to: u32,
    /// The RTT sample: when its data went out (µs since the epoch) and where it ends.
    timed_at: u32,
    timed_end: u32,
    /// When the timer fires, in wheel ticks since the epoch.
    due: u32,
    /// The server's window, from its last acceptable ACK.
    wnd: u16,
    /// Doublings of the timeout.
    backoff: u8,
    /// Timeouts (or unanswered probes) in a row.
    strikes: u8,
    flags: u8,
    /// Duplicate ACKs since `una` last advanced.
    dupacks: u8,
}

impl Flight {
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// What an ACK changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Acked {
    /// The window opened for a connection whose driver waits to write.
    pub writable: bool,
    /// Data to send again now, `[from, to)` (recovery after a timeout).
    pub resend: Option<(u32, u32)>,
    /// The window shut with nothing in flight: a zero-window wait began.
    pub zero_window: bool,
}

/// What a timer that fired asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    /// Send `[from, to)` again.
    Resend(u32, u32),
    /// Probe the zero window (a segment one byte before `una`, which the server must answer).
    Probe(u32),
    /// Too many timeouts: the connection fails with ETIMEDOUT.
    Fail,
    Nothing,
}

/// The round-trip estimate of one path (RFC 6298 2), in µs; `srtt == 0`: no sample yet.
#[derive(Debug, Default, Clone, Copy)]
struct Estimate {
    srtt: u32,
    rttvar: u32,
}

impl Estimate {
    fn sample(&mut self, r: u32) {
        let r = r.max(1);
        if self.srtt == 0 {
            (self.srtt, self.rttvar) = (r, r / 2);
        } else {
            self.rttvar =
                (3 * u64::from(self.rttvar) + u64::from(self.srtt.abs_diff(r))) as u32 / 4;
            self.srtt = ((7 * u64::from(self.srtt) + u64::from(r)) / 8) as u32;
        }
    }

    fn rto(&self) -> Duration {
        if self.srtt == 0 {
            return RTO_INIT;
        }
        let var = (4 * u64::from(self.rttvar)).max(TICK_MS * 1000);
        Duration::from_micros(u64::from(self.srtt) + var).clamp(RTO_MIN, RTO_MAX)
    }
}

/// Every connection of one engine with data in flight, and their timers.
#[derive(Debug)]
pub(super) struct Flights {
    table: HashMap<u32, Flight>,
    wheel: Wheel,
    fired: Vec<(u32, u32)>,
    /// The estimate per target.
    paths: Vec<Estimate>,
    epoch: Instant,
    /// The window assumed for a connection with no entry.
    idle_wnd: u16,
    /// The most payload of one segment.
    mss: u32,
}

impl Flights {
    /// Flights toward `targets` targets, with room for `in_flight` of them made (and touched)
    /// now: their number is bounded by the pings in flight, not by the connections, so their
    /// memory is the process's, not the connections'.
    pub(super) fn new(targets: usize, mss: usize, epoch: Instant, in_flight: usize) -> Flights {
        let mut table = HashMap::with_capacity(in_flight);
        for k in 0..in_flight as u32 {
            table.insert(k, Flight::default());
        }
        table.clear();
        Flights {
            table,
            wheel: Wheel::new(in_flight * 2),
            fired: Vec::new(),
            paths: vec![Estimate::default(); targets.max(1)],
            epoch,
            idle_wnd: u16::MAX,
            mss: mss as u32,
        }
    }

    fn tick(&self, t: Instant) -> u32 {
        (t.saturating_duration_since(self.epoch).as_millis() as u64 / TICK_MS) as u32
    }

    fn us(&self, t: Instant) -> u32 {
        t.saturating_duration_since(self.epoch).as_micros() as u32
    }

    /// A SYN-ACK offered window `w` (never scaled: the client sends no window scale option).
    pub(super) fn syn_window(&mut self, w: u16) {
        self.idle_wnd = self.idle_wnd.min(w / 2);
    }

    /// The timeout of a connection to `path` after `backoff` doublings.
    fn rto(&self, path: usize, backoff: u8) -> Duration {
        let base = self.paths.get(path).copied().unwrap_or_default().rto();
        base.saturating_mul(1 << backoff.min(16)).min(RTO_MAX)
    }

    fn arm(&mut self, slot: u32, path: usize, now: Instant, persist: bool) {
        let Some(backoff) = self.table.get(&slot).map(|f| f.backoff) else {
            return;
        };
        let due = self
            .tick(now + self.rto(path, backoff))
            .max(self.tick(now) + 1);
        if let Some(f) = self.table.get_mut(&slot) {
            f.due = due;
            f.flags = (f.flags | TIMER) & !PERSIST | if persist { PERSIST } else { 0 };
        }
        self.wheel.arm(slot, due);
    }

    /// Bytes `slot` may send from stream offset `at` within the server's window.
    pub(super) fn room(&self, slot: u32, at: u32) -> u32 {
        match self.table.get(&slot) {
            Some(f) => (f.una.wrapping_add(u32::from(f.wnd)).wrapping_sub(at) as i32).max(0) as u32,
            None => u32::from(self.idle_wnd),
        }
    }

    fn entry(&mut self, slot: u32, una: u32) -> &mut Flight {
        let wnd = self.idle_wnd;
        self.table.entry(slot).or_insert(Flight {
            una,
            resent_to: una,
            timed_at: 0,
            timed_end: 0,
            due: 0,
            wnd,
            backoff: 0,
            strikes: 0,
            flags: 0,
            dupacks: 0,
        })
    }

    /// New data `[at, at + len)` of `slot` went out at `now`.
    pub(super) fn sent(&mut self, slot: u32, path: usize, at: u32, len: u32, now: Instant) {
        let us = self.us(now);
        let f = self.entry(slot, at);
        if !f.has(TIMING) {
            (f.timed_at, f.timed_end) = (us, at.wrapping_add(len));
            f.flags |= TIMING;
        }
        if !f.has(TIMER) || f.has(PERSIST) {
            self.arm(slot, path, now, false);
        }
    }

    /// The driver has more to write from `nxt` than the window takes. True when the window is
    /// shut with nothing in flight: a zero-window wait, the persist timer started.
    pub(super) fn blocked(&mut self, slot: u32, path: usize, nxt: u32, now: Instant) -> bool {
        let f = self.entry(slot, nxt);
        f.flags |= WAITING;
        let shut = f.wnd == 0 && f.una == nxt && !f.has(TIMER);
        if shut {
            self.arm(slot, path, now, true);
        }
        shut
    }

    /// An ACK of stream offset `ack` with window `wnd` arrived for `slot`, which has sent up to
    /// `nxt`; `pure`: the segment carried no data and no FIN (so it may be a duplicate ACK).
    pub(super) fn acked(
        &mut self,
        slot: u32,
        path: usize,
        (ack, wnd, pure): (u32, u16, bool),
        nxt: u32,
        now: Instant,
    ) -> Acked {
        let mut out = Acked::default();
        let (idle_wnd, mss) = (self.idle_wnd, self.mss);
        let us = self.us(now);
        let Some(f) = self.table.get_mut(&slot) else {
            return out;
        };
        let progress = ack.wrapping_sub(f.una) as i32;
        if progress < 0 || ack.wrapping_sub(nxt) as i32 > 0 {
            return out; // an old ACK, or one of data never sent
        }
        let duplicate = progress == 0 && pure && f.wnd == wnd && f.una != nxt;
        f.wnd = wnd;
        if duplicate && !f.has(PERSIST) {
            // Fast retransmit (RFC 5681 3.2) at the third duplicate ACK, or sooner when fewer
            // segments are out than could bring three (early retransmit, RFC 5827).
            f.dupacks = f.dupacks.saturating_add(1);
            let segments = nxt.wrapping_sub(f.una).div_ceil(mss);
            if u32::from(f.dupacks) == segments.saturating_sub(1).clamp(1, 3) {
                f.flags = f.flags & !TIMING | RECOVERY;
                f.resent_to = f.una.wrapping_add(nxt.wrapping_sub(f.una).min(mss));
                out.resend = Some((f.una, f.resent_to));
            }
        }
        if progress > 0 || f.has(PERSIST) {
            f.strikes = 0; // the server answered
        }
        let mut sample = None;
        if progress > 0 {
            f.una = ack;
            f.backoff = 0;
            f.dupacks = 0;
            if f.has(TIMING) && ack.wrapping_sub(f.timed_end) as i32 >= 0 {
                sample = Some(us.wrapping_sub(f.timed_at));
                f.flags &= !TIMING;
            }
        }
        let mut rearm = None;
        if f.una == nxt {
            f.flags &= !RECOVERY;
            if f.has(WAITING) && f.wnd > 0 {
                f.flags &= !(WAITING | TIMER | PERSIST);
                out.writable = true;
            } else if f.has(WAITING) {
                if !f.has(PERSIST) {
                    out.zero_window = true;
                    rearm = Some(true);
                }
            } else if f.wnd >= idle_wnd {
                self.table.remove(&slot);
            } else {
                f.flags &= !(TIMER | PERSIST);
            }
        } else {
            if progress > 0 {
                rearm = Some(false);
            }
            if f.has(RECOVERY) && progress > 0 {
                let from = if f.resent_to.wrapping_sub(f.una) as i32 > 0 {
                    f.resent_to
                } else {
                    f.una
                };
                let room = nxt.wrapping_sub(from).min(RECOVERY_SEGMENTS * mss);
                if room > 0 && (nxt.wrapping_sub(from) as i32) > 0 {
                    f.resent_to = from.wrapping_add(room);
                    out.resend = Some((from, f.resent_to));
                }
            }
            if f.has(WAITING) && f.una.wrapping_add(u32::from(f.wnd)).wrapping_sub(nxt) as i32 > 0 {
                f.flags &= !WAITING;
                out.writable = true;
            }
        }
        if let Some(r) = sample {
            if let Some(p) = self.paths.get_mut(path) {
                p.sample(r);
            }
        }
        if let Some(persist) = rearm {
            self.arm(slot, path, now, persist);
        }
        out
    }

    /// The next connection whose timer is due at `now`; call [`Flights::fire`] for it.
    pub(super) fn due(&mut self, now: Instant) -> Option<u32> {
        let t = self.tick(now);
        loop {
            while let Some((slot, due)) = self.fired.pop() {
                if self
                    .table
                    .get(&slot)
                    .is_some_and(|f| f.has(TIMER) && f.due == due)
                {
                    return Some(slot);
                }
            }
            if !self.wheel.advance(t, &mut self.fired) {
                return None;
            }
        }
    }

    /// The timer of `slot` (which has sent up to `nxt`) fired at `now`.
    pub(super) fn fire(&mut self, slot: u32, path: usize, nxt: u32, now: Instant) -> Expired {
        let mss = self.mss;
        let Some(f) = self.table.get_mut(&slot) else {
            return Expired::Nothing;
        };
        f.flags &= !TIMER;
        let persist = f.has(PERSIST);
        if !persist && f.una == nxt {
            return Expired::Nothing;
        }
        f.strikes += 1;
        if f.strikes > RETRIES {
            self.table.remove(&slot);
            return Expired::Fail;
        }
        f.backoff = f.backoff.saturating_add(1);
        let out = if persist {
            Expired::Probe(f.una)
        } else {
            // Karn: nothing sent twice is timed. Slow start again from one segment.
            f.flags = f.flags & !TIMING | RECOVERY;
            f.resent_to = f.una.wrapping_add(nxt.wrapping_sub(f.una).min(mss));
            Expired::Resend(f.una, f.resent_to)
        };
        self.arm(slot, path, now, persist);
        out
    }

    /// `slot` ended: its entry goes (its timer with it).
    pub(super) fn forget(&mut self, slot: u32) {
        if !self.table.is_empty() {
            self.table.remove(&slot);
        }
    }

    /// Where the server's acknowledgements of `slot` stand, if it has data in flight.
    pub(super) fn una(&self, slot: u32) -> Option<u32> {
        self.table.get(&slot).map(|f| f.una)
    }

    /// When to look at the timers next, while any connection has one: the first bucket that
    /// holds an entry, looking no further than [`LOOKAHEAD`] buckets (a stale entry wakes the
    /// engine early, which is harmless).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        if self.table.is_empty() {
            return None;
        }
        let c = self.wheel.cursor();
        let ahead = (0..LOOKAHEAD)
            .find(|k| self.wheel.holds(c + k))
            .unwrap_or(LOOKAHEAD);
        Some(self.epoch + Duration::from_millis(u64::from(c + ahead) * TICK_MS))
    }

    /// The current timeout toward `path`.
    #[cfg(test)]
    fn rto_of(&self, path: usize) -> Duration {
        self.rto(path, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1460;

    fn flights() -> (Flights, Instant) {
        let t0 = Instant::now();
        let mut f = Flights::new(1, MSS, t0, 16);
        f.syn_window(64_000);
        (f, t0)
    }

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    /// Every slot due at `t`, fired, with what each asked for.
    fn fire_all(f: &mut Flights, t: Instant, nxt: u32) -> Vec<(u32, Expired)> {
        let mut out = Vec::new();
        while let Some(slot) = f.due(t) {
            out.push((slot, f.fire(slot, 0, nxt, t)));
        }
        out
    }

    #[test]
    fn the_flight_is_a_few_words_and_idle_connections_have_none() {
        assert_eq!(std::mem::size_of::<Flight>(), 28);
        let (mut f, t0) = flights();
        f.sent(3, 0, 100, 3000, t0);
        assert_eq!(f.una(3), Some(100));
        let a = f.acked(3, 0, (3100, 64_000, true), 3100, ms(t0, 1));
        assert_eq!(a, Acked::default());
        assert_eq!(f.una(3), None, "all acknowledged, window open: no entry");
        assert!(f.table.is_empty());
    }

    #[test]
    fn timeouts_double_from_the_measured_rtt_and_end_in_etimedout() {
        let (mut f, t0) = flights();
        assert_eq!(f.rto_of(0), RTO_INIT);
        // A sample of 10 ms: RTO = 10 + 4 x 5 ms, under the 200 ms floor.
        f.sent(1, 0, 0, 100, t0);
        f.acked(1, 0, (100, 64_000, true), 100, ms(t0, 10));
        assert_eq!(f.rto_of(0), RTO_MIN);
        // Slot 2 sends 3,000 bytes and hears nothing.
        f.sent(2, 0, 0, 3000, ms(t0, 20));
        assert_eq!(fire_all(&mut f, ms(t0, 219), 3000), vec![]);
        assert_eq!(
            fire_all(&mut f, ms(t0, 220), 3000),
            vec![(2, Expired::Resend(0, 1460))]
        );
        // Then after 400 ms, 800 ms, ...: 200 ms doubled per timeout, capped at 120 s.
        let mut t = 220;
        for k in 1..RETRIES {
            let wait = (200u64 << k).min(120_000);
            assert_eq!(fire_all(&mut f, ms(t0, t + wait - 1), 3000), vec![], "{k}");
            t += wait;
            assert_eq!(
                fire_all(&mut f, ms(t0, t), 3000),
                vec![(2, Expired::Resend(0, 1460))],
                "timeout {k}"
            );
        }
        t += 120_000;
        assert_eq!(fire_all(&mut f, ms(t0, t), 3000), vec![(2, Expired::Fail)]);
        assert_eq!(f.una(2), None);
    }

    #[test]
    fn karn_no_sample_from_data_sent_twice_and_recovery_sends_the_rest() {
        let (mut f, t0) = flights();
        f.sent(5, 0, 0, 4000, t0);
        assert_eq!(
            fire_all(&mut f, ms(t0, 1000), 4000),
            vec![(5, Expired::Resend(0, 1460))]
        );
        // The ACK of the first segment, 5 s later: no sample (it was sent twice), and the next
        // two segments' worth goes again at once.
        let a = f.acked(5, 0, (1460, 64_000, true), 4000, ms(t0, 5000));
        assert_eq!(a.resend, Some((1460, 4000)));
        assert_eq!(f.rto_of(0), RTO_INIT);
        assert_eq!(
            f.acked(5, 0, (4000, 64_000, true), 4000, ms(t0, 5001)),
            Acked::default()
        );
        assert!(f.table.is_empty());
        // An old ACK, or one past what was sent, changes nothing.
        f.sent(5, 0, 4000, 10, ms(t0, 6000));
        assert_eq!(
            f.acked(5, 0, (3000, 0, true), 4010, ms(t0, 6001)),
            Acked::default()
        );
        assert_eq!(
            f.acked(5, 0, (9000, 0, true), 4010, ms(t0, 6001)),
            Acked::default()
        );
        assert_eq!(f.room(5, 4010), 32_000 - 10);
    }

    #[test]
    fn the_window_bounds_writes_and_a_zero_window_is_probed() {
        let (mut f, t0) = flights();
        assert_eq!(f.room(9, 0), 32_000, "no entry: half the SYN-ACK's window");
        f.sent(9, 0, 0, 2000, t0);
        // The server takes the 2,000 bytes but its window is shut.
        let a = f.acked(9, 0, (2000, 0, true), 2000, ms(t0, 5));
        assert_eq!(a, Acked::default());
        assert_eq!(f.room(9, 2000), 0);
        assert!(f.blocked(9, 0, 2000, ms(t0, 6)), "a zero-window wait");
        // Probes, answered with the window still shut: they go on, further apart, and never
        // fail the connection while the server answers.
        let mut t = 6;
        for _ in 0..20 {
            t += 120_000;
            assert_eq!(
                fire_all(&mut f, ms(t0, t), 2000),
                vec![(9, Expired::Probe(2000))]
            );
            assert_eq!(
                f.acked(9, 0, (2000, 0, true), 2000, ms(t0, t + 1)),
                Acked::default()
            );
        }
        // The window opens: the driver is called back.
        let a = f.acked(9, 0, (2000, 30_000, true), 2000, ms(t0, t + 2));
        assert!(a.writable);
        assert_eq!(f.room(9, 2000), 30_000);
        assert_eq!(fire_all(&mut f, ms(t0, t + 600_000), 2000), vec![]);
    }

    #[test]
    fn unanswered_probes_fail_the_connection() {
        let (mut f, t0) = flights();
        f.sent(4, 0, 0, 10, t0);
        f.acked(4, 0, (10, 0, true), 10, ms(t0, 1));
        assert!(f.blocked(4, 0, 10, ms(t0, 1)));
        let mut seen = Vec::new();
        for k in 1..=40u64 {
            seen.extend(fire_all(&mut f, ms(t0, k * 120_000), 10));
        }
        assert_eq!(seen.len(), usize::from(RETRIES) + 1);
        assert_eq!(seen.last(), Some(&(4, Expired::Fail)));
    }

    #[test]
    fn duplicate_acks_send_the_hole_again_before_the_timeout() {
        let (mut f, t0) = flights();
        // Three segments out; the first is lost: the two behind it bring two duplicate ACKs.
        f.sent(6, 0, 0, 4000, t0);
        // A window update, or an ACK carrying data, is no duplicate.
        assert_eq!(
            f.acked(6, 0, (0, 64_000, true), 4000, ms(t0, 1)),
            Acked::default()
        );
        assert_eq!(
            f.acked(6, 0, (0, 64_000, false), 4000, ms(t0, 1)),
            Acked::default()
        );
        assert_eq!(
            f.acked(6, 0, (0, 64_000, true), 4000, ms(t0, 1)),
            Acked::default()
        );
        let a = f.acked(6, 0, (0, 64_000, true), 4000, ms(t0, 1));
        assert_eq!(a.resend, Some((0, 1460)));
        // Its ACK brings the rest at once.
        let a = f.acked(6, 0, (1460, 64_000, false), 4000, ms(t0, 2));
        assert_eq!(a.resend, Some((1460, 4000)));
        assert_eq!(
            f.acked(6, 0, (4000, 64_000, true), 4000, ms(t0, 3)),
            Acked::default()
        );
        assert!(f.table.is_empty());
    }

    #[test]
    fn a_shrunk_window_is_remembered_and_the_wheel_wraps() {
        let (mut f, t0) = flights();
        f.sent(1, 0, 0, 100, t0);
        f.acked(1, 0, (100, 1000, true), 100, ms(t0, 1));
        assert_eq!(
            f.room(1, 100),
            1000,
            "the entry stays, with its small window"
        );
        // Deadlines far past the wheel's span fire on their round, not before.
        f.sent(2, 0, 0, 100, t0);
        for _ in 0..8 {
            f.table.get_mut(&2).unwrap().backoff += 1;
        }
        f.arm(2, 0, t0, false);
        let due = u64::from(f.table[&2].due);
        assert!(due > super::super::wheel::BUCKETS as u64);
        assert_eq!(fire_all(&mut f, ms(t0, due - 1), 100), vec![]);
        assert_eq!(fire_all(&mut f, ms(t0, due), 100).len(), 1);
    }
}
