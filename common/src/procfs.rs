//! Pure parsers for /proc text, and the thin readers around them.
//!
//! Every number c10m shows about "what the kernel is spending on connections"
//! comes from a text file under /proc. The parsers here take `&str` so they can
//! be tested on fixture text copied from a Linux 6.x machine; the `read_*`
//! functions only open the file and hand its text over. Parsers never panic:
//! a missing or garbled field reads as 0 (or `None` where the result would be
//! meaningless without it).
//!
//! What each file tells a student:
//!
//! - `/proc/net/sockstat` (and `sockstat6`): system-wide socket counters.
//!   `TCP: inuse` counts sockets that hold a port (established, listening,
//!   SYN_RECV...), `tw` the TIME_WAIT minisockets, `orphan` sockets the
//!   application closed but the kernel still finishes, and `alloc` every TCP
//!   socket struct allocated. `mem` is in **pages** and is the very number the
//!   kernel compares against `net.ipv4.tcp_mem` to decide "memory pressure".
//!   `TCP6:` only has `inuse`: IPv6 sockets share the other counters with IPv4.
//! - `/proc/<pid>/statm`: the second field is the resident set size in pages.
//! - `/proc/meminfo`: `Slab` is kernel memory held by slab caches, which is
//!   where socket structs, dentries for socket inodes and epoll items live;
//!   `SUnreclaim` is the part that cannot be dropped under pressure. The file
//!   says `kB` but means KiB (1024 bytes).
//! - `/proc/slabinfo` (root only on most systems): per-cache object counts, so
//!   one can see `TCP`, `tcp_bind_bucket`, `sock_inode_cache`, `eventpoll_epi`
//!   grow by one object per connection.
//! - `/proc/net/netstat` and `/proc/net/snmp`: MIB counters as pairs of lines,
//!   a header line of names and a line of values with the same prefix.
//!   `TcpExt.ListenOverflows` rising means the accept queue (bounded by
//!   `somaxconn`) was full and a completed handshake was dropped.
//! - `/proc/<pid>/fd`: one symlink per open descriptor; sockets read as
//!   `socket:[inode]`.
//! - `/proc/net/tcp` (and `tcp6`): one line per socket of this network namespace, TIME_WAIT
//!   minisockets included (state `06`), with addresses as hex `IP:PORT`. Reading it walks every
//!   socket, so it is for lab-sized counts (the churn live line), never for a million.
//! - `/proc/<pid>/stat`: `utime` and `stime` in clock ticks (`_SC_CLK_TCK`,
//!   usually 100 per second).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

/// System-wide socket counters from `/proc/net/sockstat` (+ `sockstat6`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SockStat {
    pub sockets_used: u64,
    pub tcp_inuse: u64,
    pub tcp_orphan: u64,
    pub tcp_tw: u64,
    pub tcp_alloc: u64,
    /// In pages, the unit of `net.ipv4.tcp_mem`.
    pub tcp_mem_pages: u64,
}

impl SockStat {
    /// Field-wise sum, used to add the `TCP6:` line to the IPv4 counters.
    /// Also available as `+`; the named method is what callers use.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, other: SockStat) -> SockStat {
        SockStat {
            sockets_used: self.sockets_used.saturating_add(other.sockets_used),
            tcp_inuse: self.tcp_inuse.saturating_add(other.tcp_inuse),
            tcp_orphan: self.tcp_orphan.saturating_add(other.tcp_orphan),
            tcp_tw: self.tcp_tw.saturating_add(other.tcp_tw),
            tcp_alloc: self.tcp_alloc.saturating_add(other.tcp_alloc),
            tcp_mem_pages: self.tcp_mem_pages.saturating_add(other.tcp_mem_pages),
        }
    }
}

impl std::ops::Add for SockStat {
    type Output = SockStat;
    fn add(self, other: SockStat) -> SockStat {
        SockStat::add(self, other)
    }
}

/// Value following `key` in a whitespace-separated `key value key value` list.
fn keyed_value<'a>(mut words: impl Iterator<Item = &'a str>, key: &str) -> Option<u64> {
    while let Some(w) = words.next() {
        if w == key {
            return words.next().and_then(|v| v.parse().ok());
        }
    }
    None
}

/// Parses `/proc/net/sockstat` or `/proc/net/sockstat6`; missing fields are 0.
pub fn parse_sockstat(text: &str) -> SockStat {
    let mut s = SockStat::default();
    for line in text.lines() {
        let Some((prefix, rest)) = line.split_once(':') else {
            continue;
        };
        let get = |key: &str| keyed_value(rest.split_whitespace(), key).unwrap_or(0);
        match prefix.trim() {
            "sockets" => s.sockets_used = get("used"),
            "TCP" => {
                s.tcp_inuse = get("inuse");
                s.tcp_orphan = get("orphan");
                s.tcp_tw = get("tw");
                s.tcp_alloc = get("alloc");
                s.tcp_mem_pages = get("mem");
            }
            "TCP6" => s.tcp_inuse = get("inuse"),
            _ => {}
        }
    }
    s
}

/// `/proc/net/sockstat` plus the `TCP6: inuse` of `/proc/net/sockstat6`
/// (absent when IPv6 is disabled, in which case only IPv4 is counted).
pub fn read_sockstat() -> io::Result<SockStat> {
    let v4 = parse_sockstat(&fs::read_to_string("/proc/net/sockstat")?);
    match fs::read_to_string("/proc/net/sockstat6") {
        Ok(text) => Ok(v4.add(parse_sockstat(&text))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(v4),
        Err(e) => Err(e),
    }
}

/// Resident pages: the second field of `/proc/<pid>/statm`.
pub fn parse_statm_rss_pages(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Resident set size in bytes of `pid` (`None` = this process).
pub fn read_rss_bytes(pid: Option<u32>, page_size: u64) -> io::Result<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/statm"),
        None => "/proc/self/statm".to_string(),
    };
    let text = fs::read_to_string(path)?;
    parse_statm_rss_pages(&text)
        .map(|pages| pages.saturating_mul(page_size))
        .ok_or_else(|| invalid("statm: no resident field"))
}

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

/// Parses `/proc/net/netstat` or `/proc/net/snmp` into `"Prefix.Name" -> value`.
/// Lines come in header/value pairs with the same prefix. Values that are not
/// unsigned (snmp's `Tcp.MaxConn` is -1) are left out.
pub fn parse_netstat(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(header) = lines.next() {
        let Some((prefix, names)) = header.split_once(':') else {
            continue;
        };
        let Some(values) = lines.next() else {
            break;
        };
        let Some((vprefix, values)) = values.split_once(':') else {
            continue;
        };
        if vprefix != prefix {
            continue;
        }
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = value.parse::<u64>() {
                out.insert(format!("{prefix}.{name}"), v);
            }
        }
    }
    out
}

/// `/proc/net/netstat` (TcpExt, IpExt, ...) and `/proc/net/snmp` (Ip, Tcp, ...) merged.
pub fn read_netstat() -> io::Result<BTreeMap<String, u64>> {
    let mut all = parse_netstat(&fs::read_to_string("/proc/net/netstat")?);
    all.extend(parse_netstat(&fs::read_to_string("/proc/net/snmp")?));
    Ok(all)
}

/// Open descriptors of a process, and how many of them are sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FdCount {
    pub total: u64,
    pub sockets: u64,
}

/// Counts the entries of a `/proc/<pid>/fd` directory, reading each link to
/// spot `socket:[inode]`.
///
/// This is O(open fds) syscalls: at a million connections it is a million
/// `readlink`s, so call it on demand, never once a second. Names are collected
/// before any link is read, so the directory's own descriptor (and any fd
/// closed meanwhile) fails `readlink` and is not counted.
pub fn count_fds(dir: &Path) -> io::Result<FdCount> {
    let names: Vec<_> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let mut count = FdCount::default();
    for path in names {
        let Ok(target) = fs::read_link(&path) else {
            continue;
        };
        count.total += 1;
        if target.to_string_lossy().starts_with("socket:") {
            count.sockets += 1;
        }
    }
    Ok(count)
}

/// [`count_fds`] on `/proc/self/fd`.
pub fn count_own_fds() -> io::Result<FdCount> {
    count_fds(Path::new("/proc/self/fd"))
}

/// The fields of `/proc/<pid>/stat` the project reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    pub ppid: u32,
    /// User and system CPU time, in clock ticks (fields 14 and 15).
    pub utime: u64,
    pub stime: u64,
    /// Clock ticks after boot at which the process started (field 22): with the pid, it names
    /// one process even once the pid is reused.
    pub start_ticks: u64,
}

impl ProcStat {
    /// A zombie has exited and holds no descriptors, only its exit status.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself hold
/// spaces and `)`, so fields are counted from after the last `)`.
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let (_, rest) = text.rsplit_once(')')?;
    // `rest` starts at field 3 (state).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i)?.parse().ok();
    Some(ProcStat {
        state: f.first()?.chars().next()?,
        ppid: num(1)? as u32,
        utime: num(11)?,
        stime: num(12)?,
        start_ticks: num(19)?,
    })
}

/// `/proc/<pid>/stat`, parsed.
pub fn read_proc_stat(pid: u32) -> io::Result<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_proc_stat(&text).ok_or_else(|| invalid("stat: bad format"))
}

/// User + system CPU time of `pid`, in seconds.
pub fn read_cpu_seconds(pid: u32, ticks_per_sec: u64) -> io::Result<f64> {
    if ticks_per_sec == 0 {
        return Err(invalid("ticks_per_sec is 0"));
    }
    let st = read_proc_stat(pid)?;
    Ok(st.utime.saturating_add(st.stime) as f64 / ticks_per_sec as f64)
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// What `/proc/net/tcp` says about local ports: who holds TIME_WAIT and how many ephemeral ports
/// are taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCensus {
    /// TIME_WAIT sockets whose local port is one of the server ports: the server closed first.
    pub tw_server: u64,
    /// Every other TIME_WAIT socket: the client closed first.
    pub tw_client: u64,
    /// Distinct local ports inside the ephemeral range held by any socket but a listener
    /// (a TIME_WAIT socket keeps its port).
    pub ephemeral_in_use: u64,
}

const TCP_TIME_WAIT: u8 = 0x06;
const TCP_LISTEN: u8 = 0x0A;

/// Parses the text of `/proc/net/tcp` or `/proc/net/tcp6` into `census`. `ephemeral` is
/// ip_local_port_range (inclusive), `seen` a 65,536-bit set shared across the files so a port
/// used over IPv4 and IPv6 counts once.
pub fn parse_tcp_ports(
    text: &str,
    ephemeral: (u16, u16),
    server_ports: &[u16],
    seen: &mut [u64; 1024],
    census: &mut PortCensus,
) {
    for line in text.lines().skip(1) {
        let mut w = line.split_whitespace();
        let (Some(_sl), Some(local), Some(_remote), Some(st)) =
            (w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        let Some(port) = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
        else {
            continue;
        };
        let Ok(state) = u8::from_str_radix(st, 16) else {
            continue;
        };
        if state == TCP_LISTEN {
            continue;
        }
        if state == TCP_TIME_WAIT {
            if server_ports.contains(&port) {
                census.tw_server += 1;
            } else {
                census.tw_client += 1;
            }
        }
        if (ephemeral.0..=ephemeral.1).contains(&port) {
            let (word, bit) = (usize::from(port / 64), port % 64);
            if seen[word] & (1 << bit) == 0 {
                seen[word] |= 1 << bit;
                census.ephemeral_in_use += 1;
            }
        }
    }
}

/// [`parse_tcp_ports`] over this namespace's `/proc/net/tcp` and `/proc/net/tcp6`.
pub fn read_tcp_ports(ephemeral: (u16, u16), server_ports: &[u16]) -> io::Result<PortCensus> {
    let mut seen = [0u64; 1024];
    let mut census = PortCensus::default();
    let v4 = fs::read_to_string("/proc/net/tcp")?;
    parse_tcp_ports(&v4, ephemeral, server_ports, &mut seen, &mut census);
    if let Ok(v6) = fs::read_to_string("/proc/net/tcp6") {
        parse_tcp_ports(&v6, ephemeral, server_ports, &mut seen, &mut census);
    }
    Ok(census)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOCKSTAT: &str = "sockets: used 20107
TCP: inuse 20003 orphan 2 tw 118 alloc 20010 mem 4871
UDP: inuse 0 mem 0
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
";
    const SOCKSTAT6: &str = "TCP6: inuse 7
UDP6: inuse 0
UDPLITE6: inuse 0
RAW6: inuse 0
FRAG6: inuse 0 memory 0
";

    #[test]
    fn sockstat_v4_and_v6() {
        let v4 = parse_sockstat(SOCKSTAT);
        assert_eq!(
            v4,
            SockStat {
                sockets_used: 20107,
                tcp_inuse: 20003,
                tcp_orphan: 2,
                tcp_tw: 118,
                tcp_alloc: 20010,
                tcp_mem_pages: 4871,
            }
        );
        let v6 = parse_sockstat(SOCKSTAT6);
        assert_eq!(
            v6,
            SockStat {
                tcp_inuse: 7,
                ..SockStat::default()
            }
        );
        assert_eq!(v4.add(v6).tcp_inuse, 20010);
        assert_eq!(v4.add(v6).tcp_tw, 118);
        assert_eq!(v4 + v6, v4.add(v6));
    }

    #[test]
    fn sockstat_garbage_is_zero() {
        assert_eq!(parse_sockstat(""), SockStat::default());
        assert_eq!(
            parse_sockstat("TCP: inuse x tw\nnonsense"),
            SockStat::default()
        );
    }

    #[test]
    fn statm() {
        assert_eq!(parse_statm_rss_pages("765 432 404 5 0 123 0\n"), Some(432));
        assert_eq!(parse_statm_rss_pages("765"), None);
        assert_eq!(parse_statm_rss_pages(""), None);
    }

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

    #[test]
    fn netstat_pairs() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops
TcpExt: 0 12 13
IpExt: InNoRoutes InOctets
IpExt: 0 26043732
";
        let m = parse_netstat(text);
        assert_eq!(m.get("TcpExt.ListenOverflows"), Some(&12));
        assert_eq!(m.get("TcpExt.ListenDrops"), Some(&13));
        assert_eq!(m.get("IpExt.InOctets"), Some(&26043732));
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn snmp_negative_skipped() {
        let text = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens CurrEstab
Tcp: 1 200 120000 -1 76012 0
Udp: InDatagrams
";
        let m = parse_netstat(text);
        assert_eq!(m.get("Tcp.MaxConn"), None);
        assert_eq!(m.get("Tcp.ActiveOpens"), Some(&76012));
        assert_eq!(m.get("Tcp.CurrEstab"), Some(&0));
        assert!(!m.contains_key("Udp.InDatagrams"));
    }

    #[test]
    fn proc_stat_fields() {
        let text = "2157 (cat) R 2147 2147 1833 0 -1 4194304 101 0 0 0 7 3 0 0 20 0 1 0 349758 3133440 368";
        let st = parse_proc_stat(text).unwrap();
        assert_eq!(
            st,
            ProcStat {
                state: 'R',
                ppid: 2147,
                utime: 7,
                stime: 3,
                start_ticks: 349_758
            }
        );
        assert!(!st.is_dead());
        let tricky = "42 (a) b) (c) Z 1 42 42 0 -1 4194560 500 0 0 0 1234 567 0 0 20 0 4 0 100 0 0";
        let st = parse_proc_stat(tricky).unwrap();
        assert_eq!(
            (st.utime, st.stime, st.ppid, st.start_ticks),
            (1234, 567, 1, 100)
        );
        assert!(st.is_dead());
        assert_eq!(parse_proc_stat("42 (x) S 1 2"), None);
        assert_eq!(parse_proc_stat("no parens"), None);
    }

    #[test]
    fn own_process_readers() {
        let fds = count_own_fds().unwrap();
        assert!(fds.total >= 1);
        assert!(read_rss_bytes(None, 4096).unwrap() > 0);
        assert!(read_cpu_seconds(std::process::id(), 100).unwrap() >= 0.0);
    }

    #[test]
    fn tcp_ports_census() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1B58 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1B58 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0
   2: 0100007F:1B58 0100007F:9C41 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0
   3: 0100007F:9C42 0100007F:1B58 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 0 10 -1
   4: 0100007F:9C42 0200007F:1B58 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 0 10 -1
   5: garbage
";
        let mut seen = [0u64; 1024];
        let mut c = PortCensus::default();
        parse_tcp_ports(text, (40000, 40999), &[7000], &mut seen, &mut c);
        assert_eq!(
            c,
            PortCensus {
                tw_server: 1,
                tw_client: 1,
                ephemeral_in_use: 2, // 0x9C40 and 0x9C42 (twice); 0x9C41 is the peer's
            }
        );
    }
}
