//! `/proc/net/sockstat` (and `sockstat6`): the network namespace's socket counters.
//!
//! `TCP: inuse` counts sockets that hold a port (established, listening, SYN_RECV...), `tw` the
//! TIME_WAIT minisockets, `orphan` sockets the application closed but the kernel still finishes,
//! and `alloc` every TCP socket struct allocated. `mem` is in **pages** and is the very number
//! the kernel compares against `net.ipv4.tcp_mem` to decide "memory pressure". `TCP6:` only has
//! `inuse`: IPv6 sockets share the other counters with IPv4. Parsers never panic: a missing or
//! garbled field reads as 0.

use std::fs;
use std::io;

use serde::Serialize;

/// System-wide socket counters from `/proc/net/sockstat` (+ `sockstat6`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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
}
