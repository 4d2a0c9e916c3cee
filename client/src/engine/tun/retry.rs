//! SYN retransmission, as the kernel does it: a SYN with no answer is sent again after the
//! retransmission timeout, which starts at 1 s (`TCP_TIMEOUT_INIT`, RFC 6298) and doubles each
//! time. The connect fails when `--connect-timeout` passes (the driver's deadline, ETIMEDOUT).
//!
//! First SYNs all wait the same 1 s, so their deadlines come in launch order: one FIFO holds
//! them, and an entry whose connect is no longer waiting (answered, failed) is dropped when it
//! reaches the front, so the queue stays about as long as the handshakes in flight, not the
//! connections held. The few SYNs sent again wait in a heap. Each entry carries the stamp of its
//! connect: a slot freed by a failed connect is reused by the next one, whose own SYN the
//! earlier connect's entry must not send again.

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
    /// (deadline, slot, stamp).
    first: VecDeque<(Instant, u32, u32)>,
    /// (deadline, slot, stamp, attempt).
    later: BinaryHeap<Reverse<(Instant, u32, u32, u32)>>,
}

impl Retries {
    /// The SYN of connect `stamp` on `slot` went out (for the `attempt`-th time, 0 first) at
    /// `now`.
    pub(super) fn sent(&mut self, slot: u32, stamp: u32, attempt: u32, now: Instant) {
        if attempt == 0 {
            return self.first.push_back((now + RTO_INIT, slot, stamp));
        }
        let rto = RTO_INIT.saturating_mul(1 << attempt.min(6)).min(RTO_MAX);
        self.later
            .push(Reverse((now + rto, slot, stamp, attempt + 1)));
    }

    /// The earliest deadline queued (possibly a stale one: waking early is harmless).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let a = self.first.front().map(|e| e.0);
        let b = self.later.peek().map(|Reverse((t, ..))| *t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next retry due at `now` for a connect still waiting (`waiting(slot)` is the stamp
    /// of the connect `slot` waits for): `(slot, stamp, attempt)`. Stale first-SYN entries at
    /// the front are dropped on the way.
    pub(super) fn due(
        &mut self,
        now: Instant,
        waiting: impl Fn(u32) -> Option<u32>,
    ) -> Option<(u32, u32, u32)> {
        while let Some(&(t, slot, stamp)) = self.first.front() {
            if waiting(slot) != Some(stamp) {
                self.first.pop_front();
                continue;
            }
            if t <= now {
                self.first.pop_front();
                return Some((slot, stamp, 1));
            }
            break;
        }
        while let Some(Reverse((t, slot, stamp, attempt))) = self.later.peek().copied() {
            if t > now {
                return None;
            }
            self.later.pop();
            if waiting(slot) == Some(stamp) {
                return Some((slot, stamp, attempt));
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
        // Every slot's stamp is its number times 10 here.
        r.sent(7, 70, 0, t0);
        r.sent(6, 60, 0, t0);
        r.sent(8, 80, 2, t0); // a third SYN: 4 s
        r.sent(9, 90, 0, t0 + Duration::from_millis(500));
        let all = |s: u32| Some(s * 10);
        assert_eq!(r.next_deadline(), Some(t0 + RTO_INIT));
        assert_eq!(r.due(t0, all), None);
        // Slot 6 was answered: its entry is dropped, not returned.
        let but_6 = |s: u32| (s != 6).then_some(s * 10);
        assert_eq!(r.due(t0 + RTO_INIT, but_6), Some((7, 70, 1)));
        assert_eq!(r.due(t0 + RTO_INIT, but_6), None);
        assert_eq!(r.len(), 2);
        assert_eq!(r.due(t0 + Duration::from_secs(2), all), Some((9, 90, 1)));
        assert_eq!(r.next_deadline(), Some(t0 + Duration::from_secs(4)));
        assert_eq!(r.due(t0 + Duration::from_secs(9), all), Some((8, 80, 3)));
        assert!(r.is_empty());
        r.sent(1, 10, 30, t0);
        assert_eq!(r.next_deadline(), Some(t0 + RTO_MAX));
        assert_eq!(r.due(t0 + RTO_MAX, |_| None), None);
        assert!(r.is_empty());
    }

    #[test]
    fn a_reused_slot_is_not_sent_the_earlier_connects_syn() {
        let t0 = Instant::now();
        let mut r = Retries::default();
        r.sent(3, 100, 0, t0);
        // Connect 100 failed and slot 3 now waits for connect 250, whose own SYN is queued later.
        r.sent(3, 250, 0, t0 + Duration::from_millis(10));
        let now_250 = |s: u32| (s == 3).then_some(250);
        assert_eq!(
            r.due(t0 + RTO_INIT, now_250),
            None,
            "connect 100's entry is stale"
        );
        assert_eq!(
            r.due(t0 + RTO_INIT + Duration::from_millis(10), now_250),
            Some((3, 250, 1))
        );
    }
}
