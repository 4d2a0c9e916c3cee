//! The memory guard: stop opening connections before the machine runs out of memory.
//!
//! An idle TCP connection costs the kernel about 5 KB per socket (slab: the socket, its inode and
//! dentry, its file, its epoll entry) and user space a few bytes: a million connections on
//! loopback are ~10 GB the kernel cannot swap out. Past what `MemAvailable` (/proc/meminfo: free
//! memory plus what the kernel can reclaim) covers, the OOM killer ends processes, and on a
//! shared machine not necessarily the client. So while it opens connections the client reads
//! `MemAvailable` less the reclaimable slab (`SReclaimable`: the sockets' own inodes and dentries
//! are counted there, yet cannot be freed while the sockets are open; see
//! [`memory::MemInfo::available_for_sockets`]) every [`CHECK_EVERY`]; once it falls
//! below `--min-mem-available` the client
//! opens no more, holds what it has, and says what bound it: the kernel bytes each connection
//! cost so far (the fall in `MemAvailable` over the connections opened) and how many more the
//! machine would hold.

use std::time::{Duration, Instant};

use c10m_kernel::memory;
use c10m_limits::memory_kept_free;
use serde::{Deserialize, Serialize};

use crate::config::Options;

/// How often `MemAvailable` is read during the ramp.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(50);
/// `--min-mem-available`, or its default from this machine's memory: the larger of 1 GiB and
/// 5% of it.
pub(crate) fn threshold(opts: &Options) -> u64 {
    opts.min_mem_available
        .unwrap_or_else(|| memory_kept_free(memory::read_meminfo().map_or(0, |m| m.mem_total)))
}

/// Why the guard stopped the ramp: the summary's `memory_guard`. All zero: it did not.
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
pub struct MemStop {
    /// Connections open when it stopped.
    pub at_connections: u64,
    pub mem_available_bytes: u64,
    pub min_mem_available_bytes: u64,
    /// The fall in MemAvailable per connection opened, in bytes.
    pub kernel_bytes_per_conn: u64,
    /// Connections the rest of MemAvailable would hold at that cost.
    pub more_would_fit: u64,
}

impl MemStop {
    /// The guard is on whenever it has a threshold, so a stop always names one.
    pub fn tripped(&self) -> bool {
        self.min_mem_available_bytes > 0
    }

    /// What the warning line says.
    pub fn text(&self) -> String {
        use c10m_report::fmt::{bytes, thousands};
        format!(
            "memory guard: MemAvailable {} fell below --min-mem-available {} at {} connections; \
             each cost ~{} of memory so far (kernel and user), so this machine would hold ~{} more; \
             holding what is open. Lower -n, free or add memory, or put the other end on another \
             machine (--engine tun keeps no kernel socket on the client's side)",
            bytes(self.mem_available_bytes),
            bytes(self.min_mem_available_bytes),
            thousands(self.at_connections),
            bytes(self.kernel_bytes_per_conn),
            thousands(self.more_would_fit)
        )
    }
}

/// Watches `MemAvailable` while connections open.
#[derive(Debug, Clone)]
pub(crate) struct MemGuard {
    /// 0: off.
    threshold: u64,
    start_available: u64,
    start_open: u64,
    next_check: Instant,
    stop: MemStop,
}

impl MemGuard {
    pub(crate) fn new(threshold: u64, available: u64, open: u64, now: Instant) -> MemGuard {
        MemGuard {
            threshold,
            start_available: available,
            start_open: open,
            next_check: now,
            stop: MemStop::default(),
        }
    }

    /// Whether it is time to read `MemAvailable` again (and not stopped, nor off).
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        if self.threshold == 0 || self.stop.tripped() || now < self.next_check {
            return false;
        }
        self.next_check = now + CHECK_EVERY;
        true
    }

    /// A reading: `available` bytes with `open` connections. Returns true when this reading
    /// stops the ramp.
    pub(crate) fn observe(&mut self, available: u64, open: u64) -> bool {
        if self.threshold == 0 || self.stop.tripped() || available >= self.threshold {
            return false;
        }
        let opened = open.saturating_sub(self.start_open);
        let per = match opened {
            0 => 0,
            n => self.start_available.saturating_sub(available) / n,
        };
        self.stop = MemStop {
            at_connections: open,
            mem_available_bytes: available,
            min_mem_available_bytes: self.threshold,
            kernel_bytes_per_conn: per,
            more_would_fit: available.checked_div(per).unwrap_or(0),
        };
        true
    }

    pub(crate) fn stop(&self) -> Option<MemStop> {
        self.stop.tripped().then_some(self.stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn stops_below_the_threshold_and_names_the_cost() {
        let t0 = Instant::now();
        let mut g = MemGuard::new(2 * GIB, 12 * GIB, 0, t0);
        assert!(g.due(t0));
        assert!(!g.due(t0 + CHECK_EVERY / 2));
        assert!(!g.observe(5 * GIB, 1_000_000));
        assert_eq!(g.stop(), None);
        // 2,000,000 connections took 10 GiB: 5,368 B each; 1.9 GiB left holds ~380k more.
        assert!(g.observe(GIB * 19 / 10, 2_000_000));
        let s = g.stop().unwrap();
        assert_eq!(s.at_connections, 2_000_000);
        assert_eq!(
            s.kernel_bytes_per_conn,
            (12 * GIB - GIB * 19 / 10) / 2_000_000
        );
        assert_eq!(s.more_would_fit, (GIB * 19 / 10) / s.kernel_bytes_per_conn);
        assert!(s.text().contains("2,000,000 connections"));
        // Once stopped it reads no more.
        assert!(!g.due(t0 + CHECK_EVERY * 10));
        assert!(!g.observe(0, 3_000_000));
    }

    #[test]
    fn off_at_zero_and_the_default() {
        let t0 = Instant::now();
        let mut off = MemGuard::new(0, GIB, 0, t0);
        assert!(!off.due(t0) && !off.observe(0, 10));
        assert_eq!(memory_kept_free(24 * GIB), 24 * GIB / 20);
        assert_eq!(memory_kept_free(8 * GIB), GIB);
        let mut none_opened = MemGuard::new(GIB, GIB / 2, 0, t0);
        assert!(none_opened.observe(GIB / 2, 0));
        assert_eq!(none_opened.stop().unwrap().more_would_fit, 0);
        assert!(none_opened.stop().unwrap().tripped());
    }
}
