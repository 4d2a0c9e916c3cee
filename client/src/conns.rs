//! The connection table: twelve bytes per connection, in one flat array.
//!
//! A slot is a connection's number in this process: its index here, its token in the engine,
//! and its key in [`crate::payload`]. What the client must remember of a connection is how far
//! its stream has been written (`sent`) and echoed back (`recv`), and a time stamp (when its
//! connect or its current exchange started) that also carries the connection's state in its top
//! two bits. An exchange (a ping, a request) is in flight while `recv` trails `sent`.
//!
//! A write the socket could not take whole is the exception (a full send buffer, a big
//! `--payload`): its end goes into a small side table until it is written, so the common case
//! pays nothing for it. The same trick the server uses for echoes that must wait.
//!
//! Time stamps are microseconds since the run began, modulo 2^30 (17.9 minutes): a round trip
//! or a connect must take less than that to be timed right.

use std::collections::HashMap;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// No connection in this slot (never opened, failed, or closed).
    Free = 0,
    /// connect() sent the SYN; the handshake is not finished.
    Connecting = 1,
    Open = 2,
    /// `--close wait`: answered, waiting for the server's FIN before closing.
    Closing = 3,
}

const TIME_BITS: u32 = 30;
const TIME_MASK: u32 = (1 << TIME_BITS) - 1;

/// Microseconds modulo 2^30, the clock of [`Conn`] stamps.
pub(crate) fn stamp_us(us: u128) -> u32 {
    (us as u32) & TIME_MASK
}

/// `later - earlier` on the 2^30 µs clock.
pub(crate) fn elapsed_us(earlier: u32, later: u32) -> u32 {
    later.wrapping_sub(earlier) & TIME_MASK
}

/// One connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Conn {
    /// Bytes of the stream written.
    pub sent: u32,
    /// Bytes of the stream echoed back (and checked).
    pub recv: u32,
    stamp: u32,
}

impl Conn {
    pub(crate) fn state(&self) -> State {
        match self.stamp >> TIME_BITS {
            0 => State::Free,
            1 => State::Connecting,
            2 => State::Open,
            _ => State::Closing,
        }
    }

    /// When the connect or the current exchange started ([`stamp_us`]).
    pub(crate) fn at(&self) -> u32 {
        self.stamp & TIME_MASK
    }

    pub(crate) fn set(&mut self, state: State, at: u32) {
        self.stamp = ((state as u32) << TIME_BITS) | (at & TIME_MASK);
    }

    pub(crate) fn set_state(&mut self, state: State) {
        let at = self.at();
        self.set(state, at);
    }
}

/// Every connection of this process, by slot.
#[derive(Debug, Default)]
pub(crate) struct Conns {
    slots: Vec<Conn>,
    /// Free slots below `slots.len()`, reused first (churn reuses slots; hold never frees one
    /// until teardown).
    free: Vec<u32>,
    /// Slots with a write in progress: the stream offset where it ends.
    partial: HashMap<u32, u32>,
}

impl Conns {
    /// A table that will hold up to `capacity` slots without growing.
    pub(crate) fn with_capacity(capacity: usize) -> Conns {
        Conns {
            slots: Vec::with_capacity(capacity),
            ..Conns::default()
        }
    }

    /// A free slot: a reused one, or a new one at the end.
    fn alloc(&mut self) -> u32 {
        if let Some(s) = self.free.pop() {
            return s;
        }
        self.slots.push(Conn::default());
        (self.slots.len() - 1) as u32
    }

    /// A free slot, now in `state` since `at`.
    pub(crate) fn claim(&mut self, state: State, at: u32) -> u32 {
        let slot = self.alloc();
        self.slots[slot as usize].set(state, at);
        slot
    }

    pub(crate) fn release(&mut self, slot: u32) {
        if let Some(c) = self.slots.get_mut(slot as usize) {
            if c.state() != State::Free {
                *c = Conn::default();
                self.partial.remove(&slot);
                self.free.push(slot);
            }
        }
    }

    pub(crate) fn get(&self, slot: u32) -> Option<&Conn> {
        self.slots
            .get(slot as usize)
            .filter(|c| c.state() != State::Free)
    }

    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut Conn> {
        self.slots
            .get_mut(slot as usize)
            .filter(|c| c.state() != State::Free)
    }

    pub(crate) fn state(&self, slot: u32) -> State {
        self.get(slot).map_or(State::Free, Conn::state)
    }

    /// Slots ever handed out (occupied or free).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Where the write in progress on `slot` ends, if one is.
    pub(crate) fn write_end(&self, slot: u32) -> Option<u32> {
        self.partial.get(&slot).copied()
    }

    pub(crate) fn set_write_end(&mut self, slot: u32, end: Option<u32>) {
        match end {
            Some(e) => self.partial.insert(slot, e),
            None => self.partial.remove(&slot),
        };
    }

    /// An exchange is in flight on `slot`: written but not all echoed, or not all written.
    pub(crate) fn busy(&self, slot: u32) -> bool {
        self.get(slot)
            .is_some_and(|c| c.recv != c.sent || self.partial.contains_key(&slot))
    }

    /// Occupied slots, in slot order.
    pub(crate) fn occupied(&self) -> impl Iterator<Item = (u32, &Conn)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, c)| c.state() != State::Free)
            .map(|(i, c)| (i as u32, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_time_share_a_word() {
        let mut c = Conn::default();
        assert_eq!(c.state(), State::Free);
        c.set(State::Connecting, u32::MAX);
        assert_eq!((c.state(), c.at()), (State::Connecting, TIME_MASK));
        c.set_state(State::Closing);
        assert_eq!((c.state(), c.at()), (State::Closing, TIME_MASK));
        assert_eq!(std::mem::size_of::<Conn>(), 12);
        assert_eq!(elapsed_us(TIME_MASK - 1, 3), 5);
        assert_eq!(stamp_us(u128::from(TIME_MASK) + 10), 9);
    }

    #[test]
    fn slots_are_reused_and_busy_follows_the_offsets() {
        let mut t = Conns::default();
        let (a, b) = (t.claim(State::Open, 0), t.claim(State::Connecting, 0));
        assert_eq!((a, b), (0, 1));
        t.release(b);
        assert!(t.get(b).is_none());
        assert!(!t.busy(a));
        t.get_mut(a).unwrap().sent = 64;
        assert!(t.busy(a));
        t.get_mut(a).unwrap().recv = 64;
        assert!(!t.busy(a));
        t.set_write_end(a, Some(128));
        assert!(t.busy(a));
        t.release(a);
        assert_eq!(t.write_end(a), None);
        assert_eq!(t.claim(State::Open, 0), a);
        assert_eq!(t.claim(State::Open, 0), b);
        assert_eq!(t.claim(State::Open, 0), 2);
        assert_eq!(t.occupied().count(), 3);
    }
}
