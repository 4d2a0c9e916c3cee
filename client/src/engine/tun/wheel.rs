//! A hashed timer wheel (Varghese and Lauck, "Hashed and hierarchical timing wheels", 1987; the
//! kernel's own timer wheel is the same idea): [`BUCKETS`] buckets of one tick each, a timer
//! pushed onto the bucket of its deadline, and each tick that passes looks at one bucket, so
//! arming costs O(1) and no tick walks every timer. A deadline further away than the wheel's
//! span waits in its bucket for the round it is due. The buckets are lists threaded through one
//! pool of 12-byte nodes, so the wheel's memory follows the timers armed at once, never the
//! busiest a bucket ever was; the pool is made, and touched, when the wheel is.
//!
//! Entries are `(slot, due tick)` and are never removed early: whoever armed a timer again or
//! no longer needs it recognises a stale entry when it comes out (its due tick is not the
//! current one).

/// Buckets of the wheel: a span of about 4 s at one tick per millisecond.
pub(super) const BUCKETS: usize = 4096;

/// No entry: the end of a bucket's list, or of the free list.
const NIL: u32 = u32::MAX;

/// One armed timer in the wheel: a slot, its due tick, and the next entry of its bucket.
#[derive(Debug, Clone, Copy)]
struct Node {
    slot: u32,
    due: u32,
    next: u32,
}

/// The wheel.
#[derive(Debug)]
pub(super) struct Wheel {
    heads: Box<[u32]>,
    nodes: Vec<Node>,
    free: u32,
    /// The next tick to look at.
    cursor: u32,
}

impl Wheel {
    /// A wheel with room for `entries` timers, its memory touched now.
    pub(super) fn new(entries: usize) -> Wheel {
        let n = entries as u32;
        let nodes = (0..n)
            .map(|i| Node {
                slot: 0,
                due: 0,
                next: if i + 1 < n { i + 1 } else { NIL },
            })
            .collect();
        Wheel {
            heads: vec![NIL; BUCKETS].into_boxed_slice(),
            nodes,
            free: if n > 0 { 0 } else { NIL },
            cursor: 0,
        }
    }

    pub(super) fn arm(&mut self, slot: u32, due: u32) {
        let b = due.max(self.cursor) as usize % BUCKETS;
        let node = Node {
            slot,
            due,
            next: self.heads[b],
        };
        let i = if self.free == NIL {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        } else {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            self.nodes[i as usize] = node;
            i
        };
        self.heads[b] = i;
    }

    /// Looks at the next bucket up to tick `now`, moving what is due to `out`; false when every
    /// bucket up to `now` was looked at.
    pub(super) fn advance(&mut self, now: u32, out: &mut Vec<(u32, u32)>) -> bool {
        if self.cursor > now {
            return false;
        }
        if now - self.cursor >= BUCKETS as u32 {
            self.cursor = now + 1 - BUCKETS as u32; // one round looks at every bucket
        }
        let b = self.cursor as usize % BUCKETS;
        let (mut i, mut kept) = (self.heads[b], NIL);
        while i != NIL {
            let n = self.nodes[i as usize];
            if n.due <= now {
                out.push((n.slot, n.due));
                self.nodes[i as usize].next = self.free;
                self.free = i;
            } else {
                self.nodes[i as usize].next = kept;
                kept = i;
            }
            i = n.next;
        }
        self.heads[b] = kept;
        self.cursor += 1;
        true
    }

    /// The next tick to look at.
    pub(super) fn cursor(&self) -> u32 {
        self.cursor
    }

    /// Whether the bucket of tick `t` holds anything.
    pub(super) fn holds(&self, t: u32) -> bool {
        self.heads[t as usize % BUCKETS] != NIL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_come_out_when_due_and_nodes_are_reused() {
        let mut w = Wheel::new(2);
        w.arm(7, 5);
        w.arm(8, 5 + BUCKETS as u32); // the same bucket, one round later
        w.arm(9, 3);
        let mut out = Vec::new();
        while w.advance(5, &mut out) {}
        out.sort();
        assert_eq!(out, vec![(7, 5), (9, 3)]);
        assert!(w.holds(5), "the later round waits in its bucket");
        assert_eq!(w.nodes.len(), 3);
        w.arm(10, 6);
        w.arm(11, 6);
        assert_eq!(w.nodes.len(), 3, "freed nodes are used again");
        out.clear();
        while w.advance(5 + BUCKETS as u32, &mut out) {}
        out.sort();
        assert_eq!(out, vec![(8, 5 + BUCKETS as u32), (10, 6), (11, 6)]);
        assert_eq!(w.cursor(), 6 + BUCKETS as u32);
    }
}
