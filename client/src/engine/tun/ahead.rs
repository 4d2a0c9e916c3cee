//! Echo data that arrived past a gap, kept as offsets.
//!
//! A kernel socket queues segments that arrive out of order (`tcp_data_queue_ofo()`) so that
//! when the missing one comes, everything after it is acknowledged at once and the sender has
//! only the hole to send again. Without that, a server without SACK that lost the first segment
//! of an echo learns of each later one only by a partial ACK, and sends them again one timeout
//! after the other. The client keeps no bytes, and needs none: the echo of offset `x` must equal
//! byte `x` of the stream, which can be made again at any time. So a segment past the gap is
//! checked against the stream when it arrives and only its offsets are kept (one block per
//! connection: the first past the gap, grown by what touches it); when the gap fills, the block
//! is handed to the driver, made again from the stream, and acknowledged.
//!
//! Cost: an entry (4-byte key, two offsets) for a connection only while it has data past a gap.

use std::collections::HashMap;

/// The data past the gap of each connection that has some: `[start, end)` stream offsets.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    blocks: HashMap<u32, (u32, u32)>,
}

/// `a` before `b` on the 2^32 offset circle.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Ahead {
    /// Checked data `[at, at + len)` of `slot` arrived past the gap.
    pub(super) fn add(&mut self, slot: u32, at: u32, len: u32) {
        let end = at.wrapping_add(len);
        let b = self.blocks.entry(slot).or_insert((at, end));
        let touches = !before(end, b.0) && !before(b.1, at);
        if touches {
            if before(at, b.0) {
                b.0 = at;
            }
            if before(b.1, end) {
                b.1 = end;
            }
        } else if before(at, b.0) {
            *b = (at, end); // keep the block nearer the gap
        }
    }

    /// In-order data reached `recv`: where the block past it ends, if the gap is filled (the
    /// block goes).
    pub(super) fn take(&mut self, slot: u32, recv: u32) -> Option<u32> {
        let &(start, end) = self.blocks.get(&slot)?;
        if before(recv, start) {
            return None;
        }
        self.blocks.remove(&slot);
        before(recv, end).then_some(end)
    }

    pub(super) fn forget(&mut self, slot: u32) {
        if !self.blocks.is_empty() {
            self.blocks.remove(&slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_grow_and_come_back_when_the_gap_fills() {
        let mut a = Ahead::default();
        a.add(1, 2920, 80); // the third segment of an echo, the first two lost
        a.add(1, 1460, 1460); // the second
        assert_eq!(a.take(1, 1000), None, "the gap is still open");
        assert_eq!(a.take(1, 1460), Some(3000));
        assert_eq!(a.take(1, 1460), None, "taken once");
        // A block further away than the one kept is not kept; a nearer one replaces it.
        a.add(2, 5000, 100);
        a.add(2, 9000, 100);
        a.add(2, 3000, 100);
        assert_eq!(a.take(2, 3000), Some(3100));
        // Offsets wrap like sequence numbers; a block the stream overtook ends nothing.
        a.add(3, u32::MAX - 9, 20);
        assert_eq!(a.take(3, u32::MAX - 9), Some(10));
        a.add(4, 10, 10);
        assert_eq!(a.take(4, 50), None);
        a.forget(5);
        assert!(a.blocks.is_empty());
    }
}
