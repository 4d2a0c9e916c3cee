//! After the teardown: which connections' resets the servers have confirmed.
//!
//! A RST is never acknowledged and never sent again, so one lost on the way leaves the server
//! holding a connection nobody answers for: idle, it says nothing and stays ESTABLISHED; when
//! the server closes it later, its FIN goes to a device that is gone, and the socket lingers as
//! an orphan retransmitting for minutes. A kernel socket's host would answer such a segment
//! with a RST; the TUN engine's host answers only while the engine runs. So after a run that
//! saw loss, the engine stays a bounded while and asks: it sends each connection it reset a
//! probe (a bare ACK before the connection's first byte) that a live connection must answer
//! with an ACK (RFC 9293 3.10.7.4) and a server without it answers with a RST (3.10.7.1). A
//! RST back confirms the close; an ACK back is answered with a RST in sequence, like every
//! segment of a connection the engine no longer holds, and the next round probes again.
//!
//! Here: one bit per slot opened, set until the server's RST confirms it, allocated after the
//! hold (so it never counts in the bytes per connection held).

/// Slots whose close is not confirmed yet.
#[derive(Debug)]
pub(super) struct Closing {
    bits: Vec<u64>,
    left: u32,
}

impl Closing {
    /// Every slot below `high` unconfirmed.
    pub(super) fn new(high: u32) -> Closing {
        let mut bits = vec![u64::MAX; (high as usize).div_ceil(64)];
        if high % 64 != 0 {
            if let Some(last) = bits.last_mut() {
                *last = (1u64 << (high % 64)) - 1;
            }
        }
        Closing { bits, left: high }
    }

    pub(super) fn confirm(&mut self, slot: u32) {
        let (word, bit) = ((slot / 64) as usize, slot % 64);
        if let Some(w) = self.bits.get_mut(word) {
            if *w & (1 << bit) != 0 {
                *w &= !(1 << bit);
                self.left -= 1;
            }
        }
    }

    /// Slots not confirmed yet.
    pub(super) fn left(&self) -> u32 {
        self.left
    }

    /// The first unconfirmed slot at or after `from`.
    pub(super) fn next(&self, from: u32) -> Option<u32> {
        let mut word = (from / 64) as usize;
        let mut mask = u64::MAX.checked_shl(from % 64).unwrap_or(0);
        while let Some(w) = self.bits.get(word) {
            let w = w & mask;
            if w != 0 {
                return Some(word as u32 * 64 + w.trailing_zeros());
            }
            word += 1;
            mask = u64::MAX;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmed_slots_drop_out() {
        let mut c = Closing::new(130);
        assert_eq!(
            (c.left(), c.next(0), c.next(129), c.next(130)),
            (130, Some(0), Some(129), None)
        );
        for s in (0..130).filter(|s| s % 3 != 0) {
            c.confirm(s);
        }
        c.confirm(1); // twice: counted once
        c.confirm(500); // never opened
        assert_eq!(c.left(), 44);
        let rest: Vec<u32> = std::iter::successors(c.next(0), |s| c.next(s + 1)).collect();
        assert_eq!(rest, (0..130).filter(|s| s % 3 == 0).collect::<Vec<_>>());
        assert!(Closing::new(0).next(0).is_none());
    }
}
