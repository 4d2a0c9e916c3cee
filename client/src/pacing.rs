//! `--rate`: how many connects (or requests) are due by now.
//!
//! No timer per launch: the loop asks, each turn, how many the rate allows since the first, and
//! starts the difference. A loop that fell behind catches up at once, up to the in-flight bound.

use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacer {
    per_s: f64,
    from: Option<Instant>,
}

impl Pacer {
    /// `per_s` launches a second; 0 means as fast as possible.
    pub(crate) fn new(per_s: f64) -> Pacer {
        Pacer { per_s, from: None }
    }

    pub(crate) fn unlimited(&self) -> bool {
        self.per_s <= 0.0
    }

    /// Starts the clock at `at` (by default, at the first call to [`Pacer::due`]).
    pub(crate) fn start_at(&mut self, at: Instant) {
        self.from = Some(at);
    }

    /// How many launches are due by `now` in all, at most `total`.
    pub(crate) fn due(&mut self, now: Instant, total: u64) -> u64 {
        if self.unlimited() {
            return total;
        }
        let from = *self.from.get_or_insert(now);
        let due = (now.duration_since(from).as_secs_f64() * self.per_s) as u64 + 1;
        due.min(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_grows_with_time_and_stops_at_the_total() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100.0);
        assert_eq!(p.due(t0, 1000), 1);
        assert_eq!(p.due(t0 + Duration::from_millis(505), 1000), 51);
        assert_eq!(p.due(t0 + Duration::from_secs(60), 1000), 1000);
        assert_eq!(Pacer::new(0.0).due(t0, 7), 7);
    }
}
