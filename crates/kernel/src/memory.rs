//! `/proc/meminfo` and `/proc/slabinfo`: where the kernel's memory for sockets shows.
//!
//! `Slab` of `/proc/meminfo` is kernel memory held by slab caches, which is where socket structs,
//! dentries for socket inodes and epoll items live; `SUnreclaim` is the part that cannot be
//! dropped under pressure. The file says `kB` but means KiB (1024 bytes). `/proc/slabinfo` (root
//! only on most systems) has per-cache object counts, so one can see `TCP`, `sock_inode_cache`,
//! `eventpoll_epi` grow by one object per connection.

use std::fs;
use std::io;

/// The few `/proc/meminfo` lines c10m shows, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemInfo {
    pub mem_total: u64,
    pub mem_available: u64,
    pub slab: u64,
    pub sreclaimable: u64,
    pub sunreclaim: u64,
}

/// Parses `/proc/meminfo`; `kB` values become bytes, missing fields are 0.
pub fn parse_meminfo(text: &str) -> MemInfo {
    let mut m = MemInfo::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let Some(n) = words.next().and_then(|w| w.parse::<u64>().ok()) else {
            continue;
        };
        let bytes = match words.next() {
            Some("kB") => n.saturating_mul(1024),
            _ => n,
        };
        match key.trim() {
            "MemTotal" => m.mem_total = bytes,
            "MemAvailable" => m.mem_available = bytes,
            "Slab" => m.slab = bytes,
            "SReclaimable" => m.sreclaimable = bytes,
            "SUnreclaim" => m.sunreclaim = bytes,
            _ => {}
        }
    }
    m
}

impl MemInfo {
    /// What is left for more sockets: `MemAvailable` without the reclaimable slab it counts.
    ///
    /// `MemAvailable` counts about half of `SReclaimable` as memory the kernel could free. For a
    /// machine holding sockets that is false: every socket pins its inode (`sock_inode_cache`)
    /// and dentry, caches marked reclaimable that cannot be reclaimed while the socket is open;
    /// at 4,000,000 sockets they are ~5 GB of `SReclaimable`, and a guard that trusted
    /// `MemAvailable` would stop ~2.5 GB too late, inside the OOM killer. This counts none of it.
    pub fn available_for_sockets(&self) -> u64 {
        self.mem_available.saturating_sub(self.sreclaimable)
    }
}

pub fn read_meminfo() -> io::Result<MemInfo> {
    Ok(parse_meminfo(&fs::read_to_string("/proc/meminfo")?))
}

/// One line of `/proc/slabinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlabCache {
    pub name: String,
    pub active_objs: u64,
    pub num_objs: u64,
    pub objsize: u64,
    pub objperslab: u64,
    pub pagesperslab: u64,
}

impl SlabCache {
    /// Memory the cache holds, counted in whole slabs: a half-empty slab still
    /// pins all its pages. Falls back to `num_objs * objsize` when
    /// `objperslab` is 0.
    pub fn bytes(&self, page_size: u64) -> u64 {
        if self.objperslab == 0 {
            return self.num_objs.saturating_mul(self.objsize);
        }
        self.num_objs
            .div_ceil(self.objperslab)
            .saturating_mul(self.pagesperslab)
            .saturating_mul(page_size)
    }
}

/// Parses `/proc/slabinfo` version 2.1; header and malformed lines are skipped.
pub fn parse_slabinfo(text: &str) -> Vec<SlabCache> {
    text.lines()
        .filter(|l| !l.starts_with("slabinfo") && !l.starts_with('#'))
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            let name = w.next()?.to_string();
            let mut num = || w.next()?.parse::<u64>().ok();
            Some(SlabCache {
                name,
                active_objs: num()?,
                num_objs: num()?,
                objsize: num()?,
                objperslab: num()?,
                pagesperslab: num()?,
            })
        })
        .collect()
}

/// Usually needs root: `/proc/slabinfo` is mode 0400.
pub fn read_slabinfo() -> io::Result<Vec<SlabCache>> {
    Ok(parse_slabinfo(&fs::read_to_string("/proc/slabinfo")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_in_bytes() {
        let text = "MemTotal:       24684092 kB
MemFree:        24510808 kB
MemAvailable:   24441012 kB
Buffers:             964 kB
Slab:              32924 kB
SReclaimable:      12176 kB
SUnreclaim:        20748 kB
HugePages_Total:       0
";
        let m = parse_meminfo(text);
        assert_eq!(m.mem_total, 24684092 * 1024);
        assert_eq!(m.mem_available, 24441012 * 1024);
        assert_eq!(m.slab, 32924 * 1024);
        assert_eq!(m.sreclaimable, 12176 * 1024);
        assert_eq!(m.sunreclaim, 20748 * 1024);
        assert_eq!(parse_meminfo("Slab: lots\n"), MemInfo::default());
        assert_eq!(m.available_for_sockets(), (24441012 - 12176) * 1024);
    }

    const SLABINFO: &str = "slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
TCP                20026  20034   2432   13    8 : tunables    0    0    0 : slabdata   1542   1542      0
tcp_bind_bucket    20480  20480     64   64    1 : tunables    0    0    0 : slabdata    320    320      0
eventpoll_epi      20128  20128    128   32    1 : tunables    0    0    0 : slabdata    629    629      0
broken line
";

    #[test]
    fn slabinfo() {
        let caches = parse_slabinfo(SLABINFO);
        assert_eq!(caches.len(), 3);
        let tcp = &caches[0];
        assert_eq!(tcp.name, "TCP");
        assert_eq!(tcp.active_objs, 20026);
        assert_eq!(tcp.num_objs, 20034);
        assert_eq!(tcp.objsize, 2432);
        assert_eq!(tcp.objperslab, 13);
        assert_eq!(tcp.pagesperslab, 8);
        // 20034 / 13 = 1541.08 -> 1542 slabs, matching slabdata.
        assert_eq!(tcp.bytes(4096), 1542 * 8 * 4096);
        assert_eq!(caches[1].bytes(4096), 320 * 4096);
    }

    #[test]
    fn slab_bytes_fallback() {
        let c = SlabCache {
            name: "x".into(),
            active_objs: 3,
            num_objs: 3,
            objsize: 100,
            objperslab: 0,
            pagesperslab: 1,
        };
        assert_eq!(c.bytes(4096), 300);
    }
}
