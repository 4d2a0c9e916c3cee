//! SYN retransmission, as the kernel does it: a SYN with no answer is sent again after the
//! retransmission timeout, which starts at 1 s (`TCP_TIMEOUT_INIT`, RFC 6298) and doubles each
//! time. The connect fails when `--connect-timeout` passes (the driver's deadline, ETIMEDOUT),
//! so the retries only need to be due in time order: one heap for every connect in flight, at
//! most `--concurrency` entries, nothing per held connection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// The first retransmission timeout.
pub const RTO_INIT: Duration = Duration::from_secs(1);
/// The longest wait between two SYNs.
const RTO_MAX: Duration = Duration::from_secs(60);

/// SYNs to send again, by when.
#[derive(Debug, Default)]
pub struct Retries {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
}

impl Retries {
    /// The SYN of `slot` went out (for the `attempt`-th time, 0 first) at `now`.
    pub fn sent(&mut self, slot: u32, attempt: u32, now: Instant) {
        let rto = RTO_INIT.saturating_mul(1 << attempt.min(6)).min(RTO_MAX);
        self.heap.push(Reverse((now + rto, slot, attempt + 1)));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// The next retry due at `now`: `(slot, attempt)`. The caller skips slots no longer
    /// connecting.
    pub fn due(&mut self, now: Instant) -> Option<(u32, u32)> {
        match self.heap.peek() {
            Some(Reverse((t, _, _))) if *t <= now => {
                let Reverse((_, slot, attempt)) = self.heap.pop()?;
                Some((slot, attempt))
            }
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_double_and_come_in_order() {
        let t0 = Instant::now();
        let mut r = Retries::default();
        r.sent(7, 0, t0);
        r.sent(8, 2, t0); // a third SYN: 4 s
        r.sent(9, 0, t0 + Duration::from_millis(500));
        assert_eq!(r.next_deadline(), Some(t0 + RTO_INIT));
        assert_eq!(r.due(t0), None);
        assert_eq!(r.due(t0 + Duration::from_secs(1)), Some((7, 1)));
        assert_eq!(r.due(t0 + Duration::from_secs(1)), None);
        assert_eq!(r.due(t0 + Duration::from_secs(2)), Some((9, 1)));
        assert_eq!(r.next_deadline(), Some(t0 + Duration::from_secs(4)));
        assert_eq!(r.due(t0 + Duration::from_secs(9)), Some((8, 3)));
        assert!(r.is_empty());
        r.sent(1, 30, t0);
        assert_eq!(r.next_deadline(), Some(t0 + RTO_MAX));
    }
}
