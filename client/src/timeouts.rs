//! Connect deadlines without a timer per connection.
//!
//! Every connect gets the same `--connect-timeout`, so deadlines arrive in launch order and one
//! FIFO holds them all. An entry names a slot and the attempt's stamp: slots are reused, so an
//! entry whose connection already finished (or whose slot now holds a newer attempt) is
//! stale and simply dropped when it reaches the front. The queue stays about as long as the
//! number of connects in flight.

use std::collections::VecDeque;
use std::time::Instant;

#[derive(Debug, Default)]
pub(crate) struct ConnectTimeouts(VecDeque<(Instant, usize, u32)>);

impl ConnectTimeouts {
    pub(crate) fn push(&mut self, deadline: Instant, key: usize, attempt: u32) {
        self.0.push_back((deadline, key, attempt));
    }

    /// Gives back the memory of a ramp's connects (call when none is pending).
    pub(crate) fn shrink(&mut self) {
        self.0.shrink_to_fit();
    }

    /// The earliest deadline still queued (possibly a stale one: waking early is harmless).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.0.front().map(|e| e.0)
    }

    /// The key of the next connect still pending (`pending(key, attempt)`) whose deadline has
    /// passed, dropping stale entries on the way; `None` once the front is not due.
    pub(crate) fn pop_expired(
        &mut self,
        now: Instant,
        pending: impl Fn(usize, u32) -> bool,
    ) -> Option<usize> {
        while let Some(&(deadline, key, attempt)) = self.0.front() {
            if !pending(key, attempt) {
                self.0.pop_front();
                continue;
            }
            if deadline > now {
                return None;
            }
            self.0.pop_front();
            return Some(key);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stale_entries_are_dropped_and_due_ones_returned_in_order() {
        let t0 = Instant::now();
        let mut q = ConnectTimeouts::default();
        q.push(t0, 1, 10);
        q.push(t0 + Duration::from_millis(1), 2, 11);
        q.push(t0 + Duration::from_secs(60), 3, 12);
        let pending = |key: usize, attempt: u32| key != 1 && attempt >= 11;
        let later = t0 + Duration::from_secs(1);
        assert_eq!(q.pop_expired(later, pending), Some(2));
        assert_eq!(q.pop_expired(later, pending), None);
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(60)));
    }
}
