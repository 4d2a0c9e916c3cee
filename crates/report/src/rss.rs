//! What a process's resident memory says about the bytes each connection costs in user space.
//!
//! RSS counts the pages a process has touched. Growth since start-up, divided by the
//! connections held, is the user-space cost of one connection: the slab slot, its share of the
//! tables. It is read at the *peak* (the most connections held at one reading) because after
//! connections close the pages they touched stay resident.

/// One process's RSS readings: at start-up, now, and at its connection peak.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RssTrack {
    pub start: u64,
    pub now: u64,
    pub at_peak: u64,
    /// Connections held when `at_peak` was read; 0 before the first connection.
    pub conns_at_peak: u64,
}

fn per(growth: f64, conns: u64) -> Option<f64> {
    (conns > 0).then(|| growth / conns as f64)
}

impl RssTrack {
    pub fn new(start: u64) -> RssTrack {
        RssTrack {
            start,
            now: start,
            ..RssTrack::default()
        }
    }

    /// A reading of `rss` while `conns` connections are held.
    pub fn observe(&mut self, conns: u64, rss: u64) {
        self.now = rss;
        if conns > 0 && conns >= self.conns_at_peak {
            self.at_peak = rss;
            self.conns_at_peak = conns;
        }
    }

    /// Growth since start-up per connection held now.
    pub fn per_conn_now(&self, conns: u64) -> Option<f64> {
        per(self.now as f64 - self.start as f64, conns)
    }

    pub fn per_conn_at_peak(&self) -> Option<f64> {
        per(self.at_peak as f64 - self.start as f64, self.conns_at_peak)
    }
}

/// Several processes' tracks added up.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RssTotal {
    pub start: u64,
    pub now: u64,
    growth_at_peak: f64,
    conns_at_peak: u64,
}

impl RssTotal {
    pub fn add(&mut self, t: &RssTrack) {
        self.start += t.start;
        self.now += t.now;
        if t.conns_at_peak > 0 {
            self.growth_at_peak += t.at_peak as f64 - t.start as f64;
            self.conns_at_peak += t.conns_at_peak;
        }
    }

    /// The growth of every process at its own peak, per connection held at those peaks.
    pub fn per_conn_at_peak(&self) -> Option<f64> {
        per(self.growth_at_peak, self.conns_at_peak)
    }

    /// The growth of all processes since their start, per connection `conns` held now.
    pub fn per_conn_now(&self, conns: u64) -> Option<f64> {
        per(self.now as f64 - self.start as f64, conns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_the_most_connections_seen() {
        let mut t = RssTrack::new(1000);
        t.observe(0, 1100);
        assert_eq!(t.per_conn_at_peak(), None);
        t.observe(10, 1200);
        t.observe(5, 1300);
        assert_eq!(t.per_conn_at_peak(), Some(20.0));
        assert_eq!(t.per_conn_now(5), Some(60.0));
        t.observe(10, 1400);
        assert_eq!(t.per_conn_at_peak(), Some(40.0));
        let mut total = RssTotal::default();
        total.add(&t);
        total.add(&RssTrack::new(500));
        assert_eq!((total.start, total.now), (1500, 1900));
        assert_eq!(total.per_conn_at_peak(), Some(40.0));
        assert_eq!(total.per_conn_now(5), t.per_conn_now(5));
    }
}
