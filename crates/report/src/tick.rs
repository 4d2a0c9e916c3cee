//! A steady tick for live lines: due at fixed intervals, never bunching up after a stall.
//!
//! A loop that was busy for three intervals prints one line, not three in a row: the next tick
//! is the next multiple of the interval, or one interval from now if that has passed too.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Ticker {
    every: Duration,
    next: Instant,
    last: Instant,
}

impl Ticker {
    pub fn new(start: Instant, every: Duration) -> Ticker {
        Ticker {
            every,
            next: start + every,
            last: start,
        }
    }

    /// When the next tick is due.
    pub fn deadline(&self) -> Instant {
        self.next
    }

    /// `Some(seconds since the last tick)` when a tick is due at `now`.
    pub fn due(&mut self, now: Instant) -> Option<f64> {
        if now < self.next {
            return None;
        }
        let dt = now.duration_since(self.last).as_secs_f64().max(1e-9);
        self.last = now;
        self.next += self.every;
        if self.next < now {
            self.next = now + self.every;
        }
        Some(dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tick_after_a_stall() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut t = Ticker::new(t0, s);
        assert_eq!(t.due(t0), None);
        assert_eq!(t.due(t0 + s), Some(1.0));
        assert_eq!(t.due(t0 + s * 5), Some(4.0));
        assert_eq!(t.deadline(), t0 + s * 6);
        assert_eq!(t.due(t0 + s * 5), None);
    }
}
