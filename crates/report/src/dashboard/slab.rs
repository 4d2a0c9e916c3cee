//! Kernel bytes per connection, as `make bench` computes them: the growth of the kernel's slab
//! (`Slab` in /proc/meminfo) since before the first connection, over the connections held; and
//! where /proc/slabinfo is readable (root), the same by slab cache.

use serde::{Deserialize, Serialize};

use std::time::{Duration, Instant};

use c10m_kernel::memory::{self, SlabCache};

/// The caches a TCP connection takes memory from (scripts/procutil.py's KERNEL_CACHES).
const CACHES: [&str; 11] = [
    "TCP",
    "TCPv6",
    "request_sock_TCP",
    "sock_inode_cache",
    "filp",
    "dentry",
    "eventpoll_epi",
    "eventpoll_pwq",
    "skbuff_head_cache",
    "selinux",
    "inode_cache",
];
/// A cache outside [`CACHES`] counts once it moved this much (as make bench: 8 MiB).
const MOVED: i64 = 8 << 20;
/// The caches listed.
const LISTED: usize = 10;

/// How the kernel bytes per connection were computed, in words for the page: over the
/// connections `counted` (`open`, `held`); `loopback`: both ends' sockets are on this machine.
pub fn basis(counted: &str, loopback: bool) -> String {
    let growth = format!(
        "growth of the kernel's slab (meminfo Slab) since start over the connections {counted}"
    );
    if !loopback {
        return growth;
    }
    format!(
        "{growth}; on loopback both ends' sockets are here, so this is per pair, as make bench \
         counts. The slab is the machine's: other programs move it too, so it reads true from \
         tens of thousands of connections"
    )
}

/// What one slab cache costs per connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheCost {
    pub cache: String,
    pub bytes_per_conn: f64,
}

/// How often /proc/slabinfo is read: the kernel walks every cache's partial slabs under its
/// lock to write it, which a ramp to a million sockets need not meet every second.
const SLABINFO_EVERY: Duration = Duration::from_secs(5);

/// The slab as it was before the first connection.
#[derive(Debug, Default)]
pub struct SlabBaseline {
    slab: u64,
    caches: Vec<(String, u64)>,
    readable: bool,
    page_size: u64,
    /// The last reading by cache, when it was taken, and for how many connections.
    last: Option<(Instant, u64, Vec<CacheCost>)>,
}

fn sizes(caches: &[SlabCache], page_size: u64) -> impl Iterator<Item = (&str, u64)> {
    caches
        .iter()
        .map(move |c| (c.name.as_str(), c.bytes(page_size)))
}

impl SlabBaseline {
    pub fn read() -> SlabBaseline {
        let page_size = c10m_sys::mem::page_size();
        let caches = memory::read_slabinfo().ok();
        SlabBaseline {
            slab: memory::read_meminfo().map_or(0, |m| m.slab),
            readable: caches.is_some(),
            caches: caches
                .map(|c| {
                    sizes(&c, page_size)
                        .map(|(n, b)| (n.to_string(), b))
                        .collect()
                })
                .unwrap_or_default(),
            page_size,
            last: None,
        }
    }

    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Slab growth per connection, from `slab` bytes now (meminfo's `Slab`) and `conns` held;
    /// `None` while the slab is below its baseline (the machine's other programs freed more than
    /// the connections took: the figure reads true from tens of thousands of connections).
    pub fn per_conn(&self, slab: u64, conns: u64) -> Option<f64> {
        (conns > 0 && slab >= self.slab).then(|| (slab - self.slab) as f64 / conns as f64)
    }

    /// Per connection by cache, largest first, from a reading of /proc/slabinfo at most
    /// [`SLABINFO_EVERY`] old; with no connection it is read every time (and the result is
    /// empty), so a warm-up makes the allocations later readings make.
    pub fn by_cache(&mut self, conns: u64) -> Vec<CacheCost> {
        if !self.readable {
            return Vec::new();
        }
        if let Some((at, n, costs)) = &self.last {
            if conns > 0 && *n > 0 && at.elapsed() < SLABINFO_EVERY {
                return costs.clone();
            }
        }
        let costs = self.read_by_cache(conns);
        self.last = Some((Instant::now(), conns, costs.clone()));
        costs
    }

    fn read_by_cache(&self, conns: u64) -> Vec<CacheCost> {
        let Ok(now) = memory::read_slabinfo() else {
            return Vec::new();
        };
        if conns == 0 {
            return Vec::new();
        }
        let mut out: Vec<CacheCost> = sizes(&now, self.page_size)
            .filter_map(|(name, bytes)| {
                let before = self
                    .caches
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0, |(_, b)| *b);
                let d = bytes as i64 - before as i64;
                let known = CACHES.contains(&name) || name.starts_with("kmalloc");
                ((known || d > MOVED) && d >= 1 << 20).then(|| CacheCost {
                    cache: name.to_string(),
                    bytes_per_conn: (d as f64 / conns as f64 * 10.0).round() / 10.0,
                })
            })
            .collect();
        out.sort_by(|a, b| b.bytes_per_conn.total_cmp(&a.bytes_per_conn));
        out.truncate(LISTED);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_over_connections() {
        let mut b = SlabBaseline {
            slab: 1000,
            ..SlabBaseline::default()
        };
        assert_eq!(b.per_conn(5000, 4), Some(1000.0));
        assert_eq!(b.per_conn(5000, 0), None);
        assert_eq!(b.per_conn(500, 4), None);
        assert!(b.by_cache(10).is_empty());
    }

    #[test]
    fn the_basis_names_what_is_counted_and_loopback_pairs() {
        assert_eq!(
            basis("held", false),
            "growth of the kernel's slab (meminfo Slab) since start over the connections held"
        );
        let pairs = basis("open", true);
        assert!(pairs.contains("connections open; on loopback"), "{pairs}");
        assert!(
            pairs.ends_with("tens of thousands of connections"),
            "{pairs}"
        );
    }
}
