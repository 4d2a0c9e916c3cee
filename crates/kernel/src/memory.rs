//! `/proc/meminfo` and `/proc/slabinfo`: where the kernel's memory for sockets shows.
//!
//! `Slab` of `/proc/meminfo` is kernel memory held by slab caches, which is where socket structs,
//! dentries for socket inodes and epoll items live; `SUnreclaim` is the part that cannot be
//! dropped under pressure. The file says `kB` but means KiB (1024 bytes). `/proc/slabinfo` (root
//! only on most systems) has per-cache object counts, so one can see `TCP`, `sock_inode_cache`,
//! `eventpoll_epi` grow by one object per connection. A cache takes memory from the page
//! allocator a slab at a time (`pagesperslab` pages holding `objperslab` objects), so what it
//! holds is counted in whole slabs: a slab with one object in use pins all its pages.

use std::collections::BTreeMap;
use std::fs;
use std::io;

use serde::Serialize;

/// The few `/proc/meminfo` lines c10m shows, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    /// Memory the cache holds, counted in whole slabs: `ceil(num_objs / objperslab) x
    /// pagesperslab x page_size`, since a half-empty slab still pins all its pages. A line that
    /// claims 0 objects per slab holds no whole slab: 0.
    pub fn bytes(&self, page_size: u64) -> u64 {
        if self.objperslab == 0 {
            return 0;
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

/// `/proc/slabinfo`, parsed: usually needs root (the file is mode 0400).
pub fn read_slabinfo() -> io::Result<Vec<SlabCache>> {
    Ok(parse_slabinfo(&fs::read_to_string("/proc/slabinfo")?))
}

/// Cache name -> bytes it holds ([`SlabCache::bytes`], whole slabs) of a `/proc/slabinfo` text,
/// the file that is mode 0400: root only.
pub fn slab_bytes_by_cache(text: &str, page_size: u64) -> BTreeMap<String, u64> {
    parse_slabinfo(text)
        .into_iter()
        .map(|c| {
            let bytes = c.bytes(page_size);
            (c.name, bytes)
        })
        .collect()
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
    fn bytes_by_cache_in_whole_slabs() {
        // The one definition the harness uses (bench.py's slab per pair, socket-memory's and
        // conntrack's slab rows): ceil(num_objs / objperslab) x pagesperslab x page.
        let text = "slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
btrfs_delayed_node      0      0    312   13    1 : tunables    0    0    0 : slabdata      0      0      0
TCP                   92    156   2368   13    8 : tunables    0    0    0 : slabdata     12     12      0
sock_inode_cache     229    380    832   19    4 : tunables    0    0    0 : slabdata     20     20      0
filp                 651    651    192   21    1 : tunables    0    0    0 : slabdata     31     31      0
dentry             20516  20748    192   21    1 : tunables    0    0    0 : slabdata    988    988      0
kmalloc-64             1      1     64   64    1 : tunables    0    0    0 : slabdata      1      1      0
odd                    0      5     64    0    1 : tunables    0    0    0 : slabdata      0      0      0
";
        let caches = slab_bytes_by_cache(text, 4096);
        assert_eq!(caches["TCP"], 12 * 8 * 4096); // ceil(156 / 13) slabs of 8 pages
        assert_eq!(caches["sock_inode_cache"], 20 * 4 * 4096);
        assert_eq!(caches["filp"], 31 * 4096);
        assert_eq!(caches["dentry"], 988 * 4096);
        assert_eq!(caches["btrfs_delayed_node"], 0);
        assert_eq!(caches["kmalloc-64"], 4096); // one object pins its whole slab
        assert_eq!(caches["odd"], 0); // 0 objects per slab: no whole slab
        assert_eq!(caches.len(), 7); // the two header lines are skipped
        assert!(slab_bytes_by_cache("", 4096).is_empty());
    }
}
