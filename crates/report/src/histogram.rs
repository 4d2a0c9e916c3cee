//! A log-linear histogram of microseconds, fixed in size, mergeable bucket by bucket.
//!
//! 16 sub-buckets per power of two, so any percentile is within ~6% of the true value, in a fixed
//! ~8 KiB however many samples come in. Because the buckets are fixed, histograms from many
//! processes add up exactly (bucket by bucket) into the histogram of all their samples: that is
//! how `--processes` gives one true p99, where averaging each process's p99 would not. The type
//! is [`Pod`], so a child publishes its histogram into shared memory as it is.

use c10m_sys::shm::Words;

const SUB: u32 = 16;
/// Values below 16 get a bucket each; each power of two from 2^4 to 2^63 gets `SUB`.
pub const BUCKETS: usize = ((63 - 3) * SUB + SUB) as usize;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Histogram {
    count: u64,
    buckets: Words<BUCKETS>,
    /// Every sample added up (µs): a Prometheus histogram's `_sum`.
    sum: u64,
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < u64::from(SUB) {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros(); // >= 4
        let mantissa = (v >> (exp - 4)) & u64::from(SUB - 1);
        ((exp - 3) * SUB + mantissa as u32) as usize
    }

    /// The lowest value bucket `i` holds.
    pub fn lower_bound(i: usize) -> u64 {
        let i = i as u32;
        if i < SUB {
            return u64::from(i);
        }
        let exp = i / SUB + 3;
        let mantissa = u64::from(i % SUB);
        (u64::from(SUB) + mantissa) << (exp - 4)
    }

    pub fn record(&mut self, us: u64) {
        self.buckets.0[Self::index(us)] += 1;
        self.count += 1;
        self.sum = self.sum.wrapping_add(us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The samples added up, in µs.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// Samples below `us`: exact when `us` is a bucket's lower edge (a power of two, or one and a
    /// half times one, from 16 on), else counting the bucket that holds `us` out.
    pub fn count_below(&self, us: u64) -> u64 {
        self.buckets.0[..Self::index(us)].iter().sum()
    }

    /// The bucket counts, in value order.
    pub fn buckets(&self) -> &[u64] {
        &self.buckets.0
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.0.iter_mut().zip(other.buckets.0.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
    }

    /// The samples added since `earlier`, a snapshot of this histogram taken before.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let mut out = Histogram::default();
        for (i, (a, b)) in self
            .buckets
            .0
            .iter()
            .zip(earlier.buckets.0.iter())
            .enumerate()
        {
            out.buckets.0[i] = a.saturating_sub(*b);
        }
        out.count = out.buckets.0.iter().sum();
        out.sum = self.sum.wrapping_sub(earlier.sum);
        out
    }

    /// The value at quantile `q` (0..=1), as the lower edge of its bucket.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::lower_bound(i));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_below_a_bucket_edge_exactly_and_sums() {
        let mut h = Histogram::default();
        for v in [10, 100, 1000, 1023, 1024, 1500, 1536, 5000] {
            h.record(v);
        }
        assert_eq!(h.count_below(1024), 4);
        assert_eq!(h.count_below(1536), 6);
        assert_eq!(h.count_below(0), 0);
        assert_eq!(h.sum(), 10 + 100 + 1000 + 1023 + 1024 + 1500 + 1536 + 5000);
        let later = {
            let mut l = h;
            l.record(7);
            l
        };
        assert_eq!(later.since(&h).sum(), 7);
    }

    #[test]
    fn quantiles_are_close() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        let p99 = h.quantile(0.99).unwrap() as f64;
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.07, "{p50}");
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.07, "{p99}");
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn small_values_exact_and_buckets_ordered() {
        let mut a = Histogram::default();
        a.record(3);
        a.record(3);
        a.record(u64::MAX / 2);
        assert_eq!(a.quantile(0.5), Some(3));
        assert_eq!(Histogram::index(u64::MAX), BUCKETS - 1);
        for i in 0..BUCKETS {
            assert_eq!(Histogram::index(Histogram::lower_bound(i)), i);
            if i + 1 < BUCKETS {
                assert!(Histogram::lower_bound(i) < Histogram::lower_bound(i + 1));
            }
        }
    }

    #[test]
    fn merged_histograms_give_the_quantiles_of_all_samples() {
        let (mut fast, mut slow, mut all) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for v in 0..900u64 {
            fast.record(100 + v % 10);
            all.record(100 + v % 10);
        }
        for v in 0..100u64 {
            slow.record(10_000 + v);
            all.record(10_000 + v);
        }
        let mut merged = fast;
        merged.merge(&slow);
        assert_eq!(merged, all);
        assert!(merged.quantile(0.99).unwrap() >= 9_000);
        let before = fast;
        fast.record(50_000);
        let new = fast.since(&before);
        assert_eq!((new.count(), new.quantile(0.5)), (1, Some(49_152)));
    }
}
