//! Plain measurement structs. The flood loop fills them; `report` renders them.

use std::collections::BTreeMap;

/// A log-linear histogram of microseconds: 16 sub-buckets per power of two, so any percentile is
/// within ~6% of the true value, in a fixed ~8 KiB however many samples come in.
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

const SUB: u32 = 16;
/// Values below 16 get a bucket each; each power of two from 2^4 to 2^63 gets `SUB`.
pub const BUCKETS: usize = ((63 - 3) * SUB + SUB) as usize;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; BUCKETS],
            count: 0,
        }
    }
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

    fn lower_bound(i: usize) -> u64 {
        let i = i as u32;
        if i < SUB {
            return u64::from(i);
        }
        let exp = i / SUB + 3;
        let mantissa = u64::from(i % SUB);
        (u64::from(SUB) + mantissa) << (exp - 4)
    }

    pub fn record(&mut self, us: u64) {
        self.buckets[Self::index(us)] += 1;
        self.count += 1;
    }

    /// The bucket counts, for shipping to another process.
    pub fn buckets(&self) -> &[u64] {
        &self.buckets
    }

    /// Adds `n` samples to bucket `i` (the inverse of [`Histogram::buckets`]).
    pub fn add_to_bucket(&mut self, i: usize, n: u64) {
        if let Some(b) = self.buckets.get_mut(i) {
            *b += n;
            self.count += n;
        }
    }

    /// The value at quantile `q` (0..=1), as the lower edge of its bucket.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::lower_bound(i));
            }
        }
        None
    }
}

/// Counters kept by the flood loop.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub requested: u64,
    pub launched: u64,
    pub established: u64,
    pub open: u64,
    pub peak_open: u64,
    pub in_flight: u64,
    /// Failed connects and connections lost while held, by errno name (`EOF` for a clean close by
    /// the peer).
    pub failed: BTreeMap<&'static str, u64>,
    pub pings_sent: u64,
    pub pings_ok: u64,
    /// Pings whose echo had not come back when the connections closed (after the drain).
    pub pings_unanswered: u64,
    pub echo_mismatches: u64,
    pub rtt: Histogram,
    /// Seconds from the first connect to the moment every connect had succeeded or failed.
    pub elapsed_to_all_s: Option<f64>,
}

impl Stats {
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
}

/// One live line's worth of measurements.
#[derive(Debug, Clone)]
pub struct Tick {
    pub elapsed_s: f64,
    pub established: u64,
    pub open: u64,
    pub in_flight: u64,
    pub failed: u64,
    pub connect_rate: f64,
    pub rtt_p50_us: Option<u64>,
    pub rtt_p99_us: Option<u64>,
    pub pings_ok: u64,
    pub rss_bytes: u64,
    pub tcp_tw: u64,
    /// Set while connect() is slow because one (source, destination) pair is past the knee.
    pub knee: Option<u64>,
}

impl Tick {
    /// A live line from the counters now and the established count `dt` seconds ago.
    pub fn new(
        st: &Stats,
        elapsed_s: f64,
        dt: f64,
        established_before: u64,
        rtt: &Histogram,
        rss_bytes: u64,
        tcp_tw: u64,
    ) -> Tick {
        Tick {
            elapsed_s,
            established: st.established,
            open: st.open,
            in_flight: st.in_flight,
            failed: st.failed_total(),
            connect_rate: (st.established - established_before) as f64 / dt.max(1e-9),
            rtt_p50_us: rtt.quantile(0.5),
            rtt_p99_us: rtt.quantile(0.99),
            pings_ok: st.pings_ok,
            rss_bytes,
            tcp_tw,
            knee: None,
        }
    }
}

/// The run as a whole.
#[derive(Debug, Clone)]
pub struct Summary {
    pub stats: Stats,
    pub connect_rate_per_s: Option<f64>,
    pub rss_bytes: u64,
    pub rss_bytes_per_conn: Option<f64>,
    pub interrupted: bool,
    pub held_s: f64,
}

impl Summary {
    /// All N established and held, every echo back and intact (a run stopped by a signal does not
    /// wait for the last echoes).
    pub fn success(&self) -> bool {
        let s = &self.stats;
        s.established == s.requested
            && s.failed.is_empty()
            && s.echo_mismatches == 0
            && (s.pings_unanswered == 0 || self.interrupted)
    }
}

/// Counters kept by the churn and keep-alive loop.
#[derive(Debug, Default, Clone)]
pub struct ChurnStats {
    /// Requests started (churn: one connect each).
    pub requests: u64,
    pub requests_ok: u64,
    /// Keep-alive: requests that found every pooled connection busy and were skipped.
    pub requests_delayed: u64,
    /// connect() calls made.
    pub launched: u64,
    /// Handshakes that completed.
    pub opened: u64,
    pub closed: u64,
    /// Requests (churn and keep-alive) or pool connects (keep-alive) not finished yet.
    pub in_flight: u64,
    pub echo_mismatches: u64,
    /// Every failure by errno name (`EOF`: the server closed before the echo was complete).
    pub failed: BTreeMap<&'static str, u64>,
    /// The part of `failed` that came from socket()/bind()/connect().
    pub connect_failures: BTreeMap<&'static str, u64>,
    /// Seconds from the start to the first failure of each kind.
    pub first_failure_s: BTreeMap<&'static str, f64>,
    /// Request latency in µs (churn: from connect() to the last echoed byte).
    pub latency: Histogram,
}

impl ChurnStats {
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    pub fn connect_failed(&self) -> u64 {
        self.connect_failures.values().sum()
    }
}

/// One churn / keep-alive live line.
#[derive(Debug, Clone)]
pub struct ChurnTick {
    pub elapsed_s: f64,
    pub requests_ok: u64,
    pub ok_per_s: f64,
    pub failed: u64,
    pub in_flight: u64,
    pub open: u64,
    /// TIME_WAIT sockets in this network namespace (sockstat `tw`).
    pub tcp_tw: u64,
    pub census: c10m_common::procfs::PortCensus,
    /// Ports in ip_local_port_range.
    pub ports: u64,
}

/// A churn / keep-alive run as a whole.
#[derive(Debug, Clone)]
pub struct ChurnSummary {
    pub mode: crate::cli::Mode,
    pub close: crate::cli::Close,
    pub rate: u64,
    pub stats: ChurnStats,
    /// Seconds requests were sent for.
    pub sent_s: f64,
    pub tcp_tw_end: u64,
    pub tcp_tw_peak: u64,
    pub census_end: c10m_common::procfs::PortCensus,
    pub ports_in_use_peak: u64,
    pub interrupted: bool,
}

impl ChurnSummary {
    /// Every request answered with an intact echo.
    pub fn success(&self) -> bool {
        let s = &self.stats;
        s.failed.is_empty() && s.echo_mismatches == 0 && s.requests_ok > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_close() {
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
    fn histogram_small_values_exact_and_buckets_round_trip() {
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
}
