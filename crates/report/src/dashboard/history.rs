//! The run's time series, kept in a table allocated (and written) once, so it never grows.
//!
//! A row is one sample: its time and one number per series. The table holds [`ROWS`] rows; when
//! it is full every other row is dropped and from then on only every other sample is kept (then
//! every fourth, ...). So a run of any length fits, the first minutes at full resolution until it
//! is long, and the memory it takes is fixed from the start: a history that grew with the run
//! would show up as user bytes per connection, which are measured from RSS growth.
//!
//! Each halving changes which row is which, so it bumps the table's generation: a page that
//! asks for the rows after the ones it has, in an older generation, gets them all again.

/// Rows the table holds: 40 minutes at one sample a second before the first halving.
pub(crate) const ROWS: usize = 2400;

#[derive(Debug)]
pub(crate) struct History {
    /// Numbers per row: the time, then one per series.
    width: usize,
    cells: Vec<f64>,
    len: usize,
    /// Samples per kept row, a power of two.
    stride: u64,
    /// Samples offered since the last kept one.
    skipped: u64,
    pub(crate) generation: u64,
}

impl History {
    /// A table for `series` series, every page of it written now.
    pub(crate) fn new(series: usize) -> History {
        let width = series + 1;
        History {
            width,
            // Not zeros: calloc'd zeros would stay unmapped until first written.
            cells: vec![-1.0; width * ROWS],
            len: 0,
            stride: 1,
            skipped: 0,
            generation: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn stride(&self) -> u64 {
        self.stride
    }

    /// Offers a sample at `t` seconds; it is kept when the stride says so.
    pub(crate) fn push(&mut self, t: f64, values: &[f64]) {
        self.skipped += 1;
        if self.skipped < self.stride && self.len > 0 {
            return;
        }
        self.skipped = 0;
        if self.len == ROWS {
            self.halve();
        }
        let row = &mut self.cells[self.len * self.width..(self.len + 1) * self.width];
        row[0] = t;
        for (cell, v) in row[1..]
            .iter_mut()
            .zip(values.iter().chain(std::iter::repeat(&f64::NAN)))
        {
            *cell = *v;
        }
        self.len += 1;
    }

    /// Keeps rows 0, 2, 4, ...: half the rows, twice the stride.
    fn halve(&mut self) {
        let w = self.width;
        for k in 0..self.len / 2 {
            self.cells.copy_within(2 * k * w..(2 * k + 1) * w, k * w);
        }
        self.len /= 2;
        self.stride *= 2;
        self.generation += 1;
    }

    /// Row `k`: its time, then its values.
    pub(crate) fn row(&self, k: usize) -> &[f64] {
        &self.cells[k * self.width..(k + 1) * self.width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_when_full_and_keeps_the_whole_run() {
        let mut h = History::new(2);
        let cap = h.cells.capacity();
        for s in 0..ROWS as u64 * 3 {
            h.push(s as f64, &[s as f64, 1.0]);
        }
        assert_eq!(h.cells.capacity(), cap);
        assert_eq!(h.row(0), &[0.0, 0.0, 1.0]);
        assert!(h.stride() >= 2);
        assert_eq!(h.generation, 2);
        // The last kept sample is at most a stride behind the last offered.
        let last = h.row(h.len() - 1)[0];
        assert!(
            last > (ROWS as f64 * 3.0) - 1.0 - h.stride() as f64,
            "{last}"
        );
        // Rows stay in time order.
        assert!((1..h.len()).all(|k| h.row(k)[0] > h.row(k - 1)[0]));
        // A short row is padded with NaN.
        let mut p = History::new(3);
        p.push(1.0, &[5.0]);
        assert!(p.row(0)[2].is_nan());
    }
}
