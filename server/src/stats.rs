//! What the server counts: one plain record the event loop adds to, and that a worker publishes
//! as it is.
//!
//! Updating a counter is an add: nothing here allocates per connection or per event, and every
//! type is [`Pod`], so a worker's record goes into the supervisor's shared memory unchanged and
//! the parent adds the records up in O(workers) per tick, never O(connections).

use c10m_report::counts::ErrnoCounts;
use c10m_report::rss::{RssTotal, RssTrack};
use c10m_sys::shm::{add_words, Words};

/// Counters of one event loop (or, added up, of all workers).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Stats {
    pub conns: u64,
    pub peak: u64,
    pub accepted: u64,
    pub closed: u64,
    pub bytes_echoed: u64,
    /// Times a connection's echo could not be written at once and reading it was paused.
    pub backpressure_events: u64,
    pub accept_errors: ErrnoCounts,
    /// Connections that ended with an error rather than EOF (ECONNRESET mostly).
    pub close_errors: ErrnoCounts,
}

impl Stats {
    /// Adds another worker's counters word by word; the sum's `peak` means nothing (workers
    /// peak at different moments), and [`Totals::of`] clears it.
    pub fn merge(&mut self, o: &Stats) {
        add_words(self, o);
    }

    /// What a worker that died leaves behind: its connections count as closed, by `worker_died`.
    pub fn retired(&self) -> Stats {
        let mut s = *self;
        s.closed += s.conns;
        s.close_errors.add("worker_died", s.conns);
        s.conns = 0;
        s
    }
}

/// What a worker publishes to its slot.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Published {
    /// 1 once its listener is open.
    pub ready: u64,
    pub stats: Stats,
    pub rss: RssTrack,
}

/// The control record of the workers' board: the server's parent tells its workers nothing
/// through shared memory.
pub(crate) type Control = Words<0>;

/// What the workers add up to at one moment.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub stats: Stats,
    pub rss: RssTotal,
    /// Connections of the least and the most loaded worker.
    pub min_conns: u64,
    pub max_conns: u64,
}

impl Totals {
    /// The live workers' records plus what workers that died left (`retired`).
    pub(crate) fn of(records: impl Iterator<Item = Published>, retired: &Stats) -> Totals {
        let mut t = Totals {
            stats: *retired,
            min_conns: u64::MAX,
            ..Totals::default()
        };
        for r in records {
            t.stats.merge(&r.stats);
            t.rss.add(&r.rss);
            t.min_conns = t.min_conns.min(r.stats.conns);
            t.max_conns = t.max_conns.max(r.stats.conns);
        }
        t.min_conns = t.min_conns.min(t.max_conns);
        t.stats.peak = 0;
        t
    }
}

/// The connection counts announced once each, the first time they are reached.
pub(crate) const MILESTONES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// Which milestones have been announced.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Milestones {
    next: usize,
}

impl Milestones {
    /// The next milestone `peak` has reached and that was not announced yet; call until `None`.
    pub(crate) fn crossed(&mut self, peak: u64) -> Option<u64> {
        let m = *MILESTONES.get(self.next).filter(|m| peak >= **m)?;
        self.next += 1;
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(conns: u64, accepted: u64, rss_start: u64, rss_peak: u64) -> Published {
        let mut p = Published {
            ready: 1,
            ..Published::default()
        };
        p.stats.conns = conns;
        p.stats.peak = conns;
        p.stats.accepted = accepted;
        p.stats.closed = accepted - conns;
        p.stats.accept_errors.add("EMFILE", 1);
        p.rss = RssTrack {
            start: rss_start,
            now: rss_peak,
            at_peak: rss_peak,
            conns_at_peak: conns,
        };
        p
    }

    #[test]
    fn workers_add_up_with_what_dead_ones_left() {
        let dead = worker(7, 10, 0, 0).stats.retired();
        assert_eq!((dead.conns, dead.closed), (0, 10));
        assert_eq!(dead.close_errors.get("worker_died"), 7);
        let t = Totals::of(
            [worker(100, 120, 1000, 2600), worker(300, 300, 1000, 5800)].into_iter(),
            &dead,
        );
        assert_eq!(t.stats.conns, 400);
        assert_eq!(t.stats.accepted, 430);
        assert_eq!(t.stats.closed, 30);
        assert_eq!(t.stats.accept_errors.get("EMFILE"), 3);
        assert_eq!((t.min_conns, t.max_conns), (100, 300));
        // (1600 + 4800) B over 400 connections.
        assert_eq!(t.rss.per_conn_at_peak(), Some(16.0));
        let none = Totals::of(std::iter::empty(), &Stats::default());
        assert_eq!((none.min_conns, none.max_conns), (0, 0));
    }

    #[test]
    fn each_milestone_once() {
        let mut m = Milestones::default();
        assert_eq!(m.crossed(999), None);
        assert_eq!(m.crossed(20_000), Some(1_000));
        assert_eq!(m.crossed(20_000), Some(10_000));
        assert_eq!(m.crossed(20_000), None);
        assert_eq!(m.crossed(2_000_000), Some(100_000));
        assert_eq!(m.crossed(2_000_000), Some(1_000_000));
        assert_eq!(m.crossed(u64::MAX), None);
    }
}
