//! Typed records in memory shared with forked children.
//!
//! # Why shared memory
//! A supervisor with a hundred children needs their counters once per tick. Pipes would have to
//! be drained and text parsed; an anonymous `MAP_SHARED` mapping made before `fork()` is the same
//! physical pages in parent and children, so a child's store is the parent's next load: O(children)
//! per tick, nothing to drain, and a child that dies leaves its last numbers readable.
//!
//! # Typed, word by word
//! A [`Board`] holds one record `R` per child and one control record `C` the parent writes (a
//! start signal, say). Records are plain `#[repr(C)]` structs of `u64`s that derive
//! `bytemuck::Pod` (whose derive checks there is no padding, so every bit pattern is a value); a
//! store or a load copies them one 64-bit word at a time through `AtomicU64`, so there is never a
//! data race in the Rust sense. A load that runs beside a store can see some words old and some
//! new (fields of one record are not a snapshot); every counter only grows between the parent's
//! reads, so a tick is at worst one publish interval behind on some fields.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use bytemuck::Pod;

/// A record seen as its `u64` words. Panics if `T` is not a whole number of 8-byte-aligned words
/// (a record type of that kind is a bug the first test that stores one finds).
fn as_words<T: Pod>(v: &T) -> &[u64] {
    bytemuck::cast_slice(std::slice::from_ref(v))
}

fn as_words_mut<T: Pod>(v: &mut T) -> &mut [u64] {
    bytemuck::cast_slice_mut(std::slice::from_mut(v))
}

fn words<T: Pod>() -> usize {
    std::mem::size_of::<T>() / 8
}

/// Adds `other` into `into` word by word: the merge of two records made only of counters that
/// add across processes (every word a count, as in the binaries' `Stats`, the errno counts and
/// the latency histogram).
pub fn add_words<T: Pod>(into: &mut T, other: &T) {
    for (x, y) in as_words_mut(into).iter_mut().zip(as_words(other)) {
        *x = x.wrapping_add(*y);
    }
}

/// `n` records `R` and one control record `C`, shared with children forked after it.
pub struct Board<R: Pod, C: Pod> {
    ptr: *mut AtomicU64,
    slots: usize,
    len_words: usize,
    _types: PhantomData<(R, C)>,
}

// SAFETY: the mapping is only reached through atomics.
unsafe impl<R: Pod, C: Pod> Send for Board<R, C> {}
// SAFETY: the mapping is only reached through atomics.
unsafe impl<R: Pod, C: Pod> Sync for Board<R, C> {}

impl<R: Pod, C: Pod> Board<R, C> {
    pub fn new(slots: usize) -> io::Result<Self> {
        let len_words = (slots * words::<R>() + words::<C>()).max(1);
        let ptr = crate::mem::map_shared(len_words * 8)? as *mut AtomicU64;
        Ok(Board {
            ptr,
            slots,
            len_words,
            _types: PhantomData,
        })
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    fn cells(&self, first: usize, n: usize) -> &[AtomicU64] {
        assert!(first + n <= self.len_words);
        // SAFETY: the mapping holds `len_words` zero-initialised AtomicU64s (all-zero is a valid
        // AtomicU64), lives as long as `self`, and is only accessed atomically.
        unsafe { std::slice::from_raw_parts(self.ptr.add(first), n) }
    }

    fn slot(&self, i: usize) -> &[AtomicU64] {
        assert!(i < self.slots, "slot {i} of {}", self.slots);
        self.cells(i * words::<R>(), words::<R>())
    }

    fn control_cells(&self) -> &[AtomicU64] {
        self.cells(self.slots * words::<R>(), words::<C>())
    }

    /// Child `i` publishes its record.
    pub fn store(&self, i: usize, r: &R) {
        store(self.slot(i), r);
    }

    /// The last record child `i` published (all-zero before its first).
    pub fn load(&self, i: usize) -> R {
        load(self.slot(i))
    }

    /// Zeroes slot `i`, for a new child in it.
    pub fn clear(&self, i: usize) {
        store(self.slot(i), &R::zeroed());
    }

    pub fn store_control(&self, c: &C) {
        store(self.control_cells(), c);
    }

    pub fn load_control(&self) -> C {
        load(self.control_cells())
    }
}

fn store<T: Pod>(cells: &[AtomicU64], v: &T) {
    for (cell, w) in cells.iter().zip(as_words(v)) {
        cell.store(*w, Ordering::Relaxed);
    }
}

fn load<T: Pod>(cells: &[AtomicU64]) -> T {
    let mut out = T::zeroed();
    for (w, cell) in as_words_mut(&mut out).iter_mut().zip(cells) {
        *w = cell.load(Ordering::Relaxed);
    }
    out
}

impl<R: Pod, C: Pod> Drop for Board<R, C> {
    fn drop(&mut self) {
        crate::mem::unmap_shared(self.ptr as *mut u8, self.len_words * 8);
    }
}

/// `[u64; N]` with the `Default` that arrays past 32 elements lack, for [`Pod`] records.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Words<const N: usize>(pub [u64; N]);

impl<const N: usize> Default for Words<N> {
    fn default() -> Self {
        Words([0; N])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{self, Fork, Session};
    use bytemuck::Zeroable;

    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
    struct Rec {
        a: u64,
        b: Words<3>,
    }

    #[test]
    fn child_stores_parent_loads() {
        let _g = crate::process::fork_lock();
        let board: Board<Rec, u64> = Board::new(2).unwrap();
        board.store_control(&9);
        match process::fork(Session::Inherit).unwrap() {
            Fork::Child => {
                let seen = board.load_control();
                board.store(
                    1,
                    &Rec {
                        a: seen,
                        b: Words([1, 2, 3]),
                    },
                );
                process::exit_now(0);
            }
            Fork::Parent { child } => {
                assert_eq!(process::wait_for(child), Some(process::Exit::Code(0)));
            }
        }
        assert_eq!(
            board.load(1),
            Rec {
                a: 9,
                b: Words([1, 2, 3])
            }
        );
        assert_eq!(board.load(0), Rec::default());
        board.clear(1);
        assert_eq!(board.load(1), Rec::zeroed());
    }

    #[test]
    fn counters_add_word_by_word() {
        let mut a = Rec {
            a: 1,
            b: Words([1, 2, 3]),
        };
        add_words(
            &mut a,
            &Rec {
                a: 10,
                b: Words([0, 0, 7]),
            },
        );
        assert_eq!(
            a,
            Rec {
                a: 11,
                b: Words([1, 2, 10])
            }
        );
    }
}
