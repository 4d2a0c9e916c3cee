//! SYN retransmission, as the kernel does it: a SYN with no answer is sent again after the
//! retransmission timeout, which starts at 1 s (`TCP_TIMEOUT_INIT`, RFC 6298) and doubles each
//! time. The connect fails when `--connect-timeout` passes (the driver's deadline, ETIMEDOUT).
//!
//! First SYNs all wait the same 1 s, so their deadlines come in launch order: one FIFO holds
//! them, and an entry whose connection is no longer connecting (answered, failed) is dropped
//! when it reaches the front, so the queue stays about as long as the handshakes in flight, not
//! the connections held. The few SYNs sent again wait in a heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// The first retransmission timeout.
pub(super) const RTO_INIT: Duration = Duration::from_secs(1);
/// The longest wait between two SYNs.
const RTO_MAX: Duration = Duration::from_secs(60);

/// SYNs to send again, by when.
#[derive(Debug, Default)]
pub(super) struct Retries {
    first: VecDeque<(Instant, u32)>,
    later: BinaryHeap<Reverse<(Instant, u32, u32)>>,
}

impl Retries {
    /// The SYN of `slot` went out (for the `attempt`-th time, 0 first) at `now`.
    pub(super) fn sent(&mut self, slot: u32, attempt: u32, now: Instant) {
        if attempt == 0 {
            return self.first.push_back((now + RTO_INIT, slot));
        }
        let rto = RTO_INIT.saturating_mul(1 << attempt.min(6)).min(RTO_MAX);
        self.later.push(Reverse((now + rto, slot, attempt + 1)));
    }

    /// The earliest deadline queued (possibly a stale one: waking early is harmless).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let a = self.first.front().map(|e| e.0);
        let b = self.later.peek().map(|Reverse((t, _, _))| *t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next retry due at `now` for a slot still `connecting`: `(slot, attempt)`. Stale
    /// first-SYN entries at the front are dropped on the way.
    pub(super) fn due(
        &mut self,
        now: Instant,
        connecting: impl Fn(u32) -> bool,
    ) -> Option<(u32, u32)> {
        while let Some(&(t, slot)) = self.first.front() {
            if !connecting(slot) {
                self.first.pop_front();
                continue;
            }
            if t <= now {
                self.first.pop_front();
                return Some((slot, 1));
            }
            break;
        }
        while let Some(Reverse((t, slot, attempt))) = self.later.peek().copied() {
            if t > now {
                return None;
            }
            self.later.pop();
            if connecting(slot) {
                return Some((slot, attempt));
            }
        }
        None
    }

    /// Drops every entry and gives their memory back: call once no handshake is in flight.
    pub(super) fn shrink(&mut self) {
        self.first = VecDeque::new();
        self.later = BinaryHeap::new();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.first.len() + self.later.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_double_come_in_order_and_answered_ones_go() {
        let t0 = Instant::now();
        let mut r = Retries::default();
        r.sent(7, 0, t0);
        r.sent(6, 0, t0);
        r.sent(8, 2, t0); // a third SYN: 4 s
        r.sent(9, 0, t0 + Duration::from_millis(500));
        let all = |_| true;
        assert_eq!(r.next_deadline(), Some(t0 + RTO_INIT));
        assert_eq!(r.due(t0, all), None);
        // Slot 6 was answered: its entry is dropped, not returned.
        assert_eq!(r.due(t0 + RTO_INIT, |s| s != 6), Some((7, 1)));
        assert_eq!(r.due(t0 + RTO_INIT, |s| s != 6), None);
        assert_eq!(r.len(), 2);
        assert_eq!(r.due(t0 + Duration::from_secs(2), all), Some((9, 1)));
        assert_eq!(r.next_deadline(), Some(t0 + Duration::from_secs(4)));
        assert_eq!(r.due(t0 + Duration::from_secs(9), all), Some((8, 3)));
        assert!(r.is_empty());
        r.sent(1, 30, t0);
        assert_eq!(r.next_deadline(), Some(t0 + RTO_MAX));
        assert_eq!(r.due(t0 + RTO_MAX, |_| false), None);
        assert!(r.is_empty());
    }
}
