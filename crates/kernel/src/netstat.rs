//! `/proc/net/netstat` and `/proc/net/snmp`: the TCP MIB counters.
//!
//! Each file holds pairs of lines, a header line of names and a line of values with the same
//! prefix (the section: `TcpExt`, `Tcp`, ...). `TcpExt.ListenOverflows` rising means the accept
//! queue (bounded by `somaxconn`) was full and a completed handshake was dropped.
//!
//! [`counters`] is the one parser of that layout; [`pick`] (a few counters, every second,
//! without allocating) and `c10m-kernel netstat` (every counter) both read through it, so they
//! agree on what a counter is.

/// Every counter of `text`, as `(section, name, value)`, in the file's order. A line pairs with
/// the next one when both have the same prefix; a line without such a partner is skipped (and
/// the next line is tried as a header). A value that is not a count (snmp's `Tcp.MaxConn` is -1)
/// is left out, as if the counter were not there.
pub fn counters(text: &str) -> impl Iterator<Item = (&str, &str, u64)> {
    let mut lines = text.lines().filter_map(|l| l.split_once(':')).peekable();
    std::iter::from_fn(move || loop {
        let (section, names) = lines.next()?;
        if let Some((_, values)) = lines.next_if(|(p, _)| *p == section) {
            return Some((section, names, values));
        }
    })
    .flat_map(|(section, names, values)| {
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .filter_map(move |(name, v)| Some((section, name, v.parse().ok()?)))
    })
}

/// Counters `names` of `section` (`TcpExt`) of `text`, in the order asked, without allocating:
/// for a thread that reads them every second. `None` for a counter [`counters`] does not give.
pub fn pick<const N: usize>(text: &str, section: &str, names: [&str; N]) -> [Option<u64>; N] {
    let mut out = [None; N];
    for (s, name, v) in counters(text) {
        if s != section {
            continue;
        }
        if let Some(i) = names.iter().position(|n| *n == name) {
            out[i] = Some(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of /proc/net/netstat (Linux 6.x), cut short.
    const NETSTAT: &str = "\
TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPHPHits
TcpExt: 0 0 12 13 5521
IpExt: InNoRoutes InTruncatedPkts InOctets
IpExt: 0 0 26043732
";

    /// The start of /proc/net/snmp (Linux 6.x), cut short; the last section lost its values.
    const SNMP: &str = "\
Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 96111906
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens CurrEstab
Tcp: 1 200 120000 -1 20081075 0
Udp: InDatagrams NoPorts
";

    #[test]
    fn every_counter_of_netstat_and_snmp() {
        let all: Vec<_> = counters(NETSTAT).collect();
        assert_eq!(all.len(), 8);
        assert_eq!(all[2], ("TcpExt", "ListenOverflows", 12));
        assert_eq!(all[7], ("IpExt", "InOctets", 26043732));
        let snmp: Vec<_> = counters(SNMP).collect();
        assert!(snmp.contains(&("Tcp", "ActiveOpens", 20081075)));
        assert!(snmp.contains(&("Tcp", "CurrEstab", 0)));
        assert!(
            !snmp.iter().any(|(_, n, _)| *n == "MaxConn"),
            "-1 is no count"
        );
        assert!(!snmp.iter().any(|(s, _, _)| *s == "Udp"), "a header alone");
        assert_eq!(snmp.len(), 3 + 5);
    }

    #[test]
    fn a_header_without_its_values_does_not_shift_the_pairs() {
        let text = "TcpExt: A B\nIpExt: C\nIpExt: 7\n";
        assert_eq!(counters(text).collect::<Vec<_>>(), [("IpExt", "C", 7)]);
    }

    #[test]
    fn picks_in_the_order_asked_with_the_same_rule() {
        assert_eq!(
            pick(
                NETSTAT,
                "TcpExt",
                ["ListenDrops", "ListenOverflows", "Nope"]
            ),
            [Some(13), Some(12), None]
        );
        assert_eq!(pick(SNMP, "Tcp", ["MaxConn", "CurrEstab"]), [None, Some(0)]);
        assert_eq!(pick(NETSTAT, "IpExt", ["ListenDrops"]), [None]);
    }
}
