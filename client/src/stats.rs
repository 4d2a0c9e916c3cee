//! What the client counts: one plain record the loops add to, and that a `--processes` child
//! publishes as it is.
//!
//! Every mode counts into the same [`Stats`]: a ping of the hold mode and a request of churn or
//! keep-alive are both *exchanges* (bytes written, their echo read back and checked). The
//! output records of [`crate::output`] are computed from it; nothing here knows how they look.

use c10m_report::counts::ErrnoCounts;
use c10m_report::histogram::Histogram;
use c10m_report::rss::RssTrack;
use c10m_sys::shm::add_words;
use serde::{Deserialize, Serialize};

/// Counters of one process (or, added up, of all). Every field is a count that adds up across
/// processes ([`Stats::merge`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Stats {
    /// Connections this process is to hold (hold mode).
    pub requested: u64,
    /// connect() calls made.
    pub launched: u64,
    /// Handshakes completed.
    pub established: u64,
    pub open: u64,
    pub peak_open: u64,
    /// Handshakes under way.
    pub connecting: u64,
    /// Exchanges whose echo is not complete yet.
    pub busy: u64,
    pub closed: u64,
    /// The part of `failed` that came from socket()/bind()/connect() (and the connect timeout).
    pub connect_failures: u64,
    /// Exchanges started: pings sent, requests sent over an open connection.
    pub exchanges: u64,
    /// Exchanges whose echo came back whole and intact.
    pub exchanges_ok: u64,
    /// Pings whose echo had not come back when the connections closed (after the drain).
    pub unanswered: u64,
    /// Connections pinged at least once during the hold.
    pub pinged: u64,
    pub echo_mismatches: u64,
    /// Keep-alive: requests that found every pooled connection busy and were skipped.
    pub requests_delayed: u64,
    /// Failed connects and connections lost, by errno (`EOF`: the peer closed).
    pub failed: ErrnoCounts,
    /// Exchange round trips (ping RTT, request latency), in µs.
    pub rtt: Histogram,
    /// What the engine saw on the wire.
    pub wire: WireCounts,
}

/// What an engine that speaks TCP itself saw on the wire (all zero for kernel sockets).
#[repr(C)]
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
pub struct WireCounts {
    /// Segments sent again: SYNs after their timeout, data after its retransmission timeout and
    /// in the recovery that follows.
    pub retransmitted: u64,
    /// SYN-ACKs that came again: the server did not see our ACK.
    pub duplicate_synacks: u64,
    /// Resets sent for segments of connections this process does not hold.
    pub stray_resets: u64,
    /// Packets the device could not take (its queue was full).
    pub dropped_writes: u64,
    /// Data segments that came again: all or part of them had arrived already.
    pub duplicates_received: u64,
    /// Data segments that came past a gap (a segment before them was lost or is late).
    pub out_of_order_received: u64,
    /// Times a connection had more to send and found the server's window shut (each then
    /// probed on the persist timer until it opened).
    pub zero_window_waits: u64,
    /// Connections whose reset the server had not confirmed when the engine left (after a run
    /// that lost segments, the engine probes each connection it reset, for a bounded time).
    pub unconfirmed_resets: u64,
}

impl Stats {
    /// Adds another process's counters, every one (peaks too: the processes hold theirs at
    /// once).
    pub fn merge(&mut self, o: &Stats) {
        add_words(self, o);
    }
}

/// What a `--processes` child publishes: its counters, its memory, and its timeline in µs since
/// the parent's epoch plus one (0: not yet).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Published {
    pub stats: Stats,
    pub rss: RssTrack,
    pub first_connect_us: u64,
    pub ramp_done_us: u64,
    /// When its hold ended, before its teardown.
    pub hold_end_us: u64,
    /// Why the memory guard stopped its ramp (all zero: it did not).
    pub mem_stop: crate::memguard::MemStop,
}

/// What the parent tells its children: when the hold starts for all (µs since the epoch + 1).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Gate {
    pub hold_start_us: u64,
}

/// What the children add up to.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub stats: Stats,
    pub rss: c10m_report::rss::RssTotal,
    /// Children that finished their ramp.
    pub ramp_done: usize,
    pub first_connect_us: Option<u64>,
    pub last_ramp_done_us: u64,
    /// The first hold end of any child.
    pub first_hold_end_us: Option<u64>,
    /// The memory guard's stop in a child, with the connections of all children.
    pub mem_stop: Option<crate::memguard::MemStop>,
}

impl Totals {
    /// The children's records added up: O(children), once per tick.
    pub(crate) fn of(records: impl Iterator<Item = Published>) -> Totals {
        let mut t = Totals::default();
        for r in records {
            t.stats.merge(&r.stats);
            t.rss.add(&r.rss);
            if r.ramp_done_us > 0 {
                t.ramp_done += 1;
                t.last_ramp_done_us = t.last_ramp_done_us.max(r.ramp_done_us);
                let first = r.first_connect_us;
                t.first_connect_us = Some(t.first_connect_us.map_or(first, |f| f.min(first)));
            }
            if r.mem_stop.tripped() && t.mem_stop.is_none() {
                t.mem_stop = Some(r.mem_stop);
            }
            if r.hold_end_us > 0 {
                t.first_hold_end_us = Some(
                    t.first_hold_end_us
                        .map_or(r.hold_end_us, |f| f.min(r.hold_end_us)),
                );
            }
        }
        if let Some(m) = t.mem_stop.as_mut() {
            m.at_connections = t.stats.open;
        }
        t
    }

    /// From the first child's first connect to the last child's ramp end, once all are done.
    pub(crate) fn elapsed_to_all_s(&self, children: usize) -> Option<f64> {
        match (self.ramp_done == children, self.first_connect_us) {
            (true, Some(first)) => Some(self.last_ramp_done_us.saturating_sub(first) as f64 / 1e6),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(open: u64, rtt: u64, first: u64, done: u64) -> Published {
        let mut p = Published::default();
        p.stats.requested = open;
        p.stats.established = open;
        p.stats.open = open;
        p.stats.peak_open = open;
        p.stats.exchanges = 1;
        p.stats.exchanges_ok = 1;
        p.stats.rtt.record(rtt);
        p.stats.failed.add("ECONNREFUSED", 1);
        p.rss = RssTrack {
            start: 1000,
            now: 1000 + 20 * open,
            at_peak: 1000 + 20 * open,
            conns_at_peak: open,
        };
        p.first_connect_us = first;
        p.ramp_done_us = done;
        p
    }

    #[test]
    fn children_add_up_to_one_run() {
        let t = Totals::of([child(100, 50, 10, 500), child(300, 5000, 20, 900)].into_iter());
        assert_eq!(t.stats.open, 400);
        assert_eq!(t.stats.failed.get("ECONNREFUSED"), 2);
        assert_eq!(t.stats.rtt.count(), 2);
        assert_eq!(t.stats.rtt.quantile(0.99), Some(4864));
        assert_eq!(t.rss.per_conn_at_peak(), Some(20.0));
        assert_eq!(t.elapsed_to_all_s(2), Some(890.0 / 1e6));
        // A child not done yet: no time to all.
        let t = Totals::of([child(100, 50, 10, 500), child(0, 1, 0, 0)].into_iter());
        assert_eq!((t.ramp_done, t.elapsed_to_all_s(2)), (1, None));
        assert_eq!(t.first_hold_end_us, None);
    }
}
