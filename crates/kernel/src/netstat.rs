//! `/proc/net/netstat` and `/proc/net/snmp`: the TCP MIB counters.
//!
//! Each file holds pairs of lines, a header line of names and a line of values with the same
//! prefix. `TcpExt.ListenOverflows` rising means the accept queue (bounded by `somaxconn`) was
//! full and a completed handshake was dropped.

use std::collections::BTreeMap;

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

/// Counters `names` of section `prefix` (`TcpExt`) of `text`, in the order asked, without
/// allocating: for a thread that reads them every second (0 for a name not found).
pub fn pick<const N: usize>(text: &str, prefix: &str, names: [&str; N]) -> [u64; N] {
    let mut out = [0; N];
    let mut lines = text.lines();
    while let Some(header) = lines.next() {
        let Some(values) = lines.next() else { break };
        let (Some((p, keys)), Some((vp, vals))) = (header.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if p != prefix || vp != prefix {
            continue;
        }
        for (key, v) in keys.split_whitespace().zip(vals.split_whitespace()) {
            if let Some(i) = names.iter().position(|n| *n == key) {
                out[i] = v.parse().unwrap_or(0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_without_a_map() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 12 13\n";
        assert_eq!(
            pick(text, "TcpExt", ["ListenDrops", "ListenOverflows", "Nope"]),
            [13, 12, 0]
        );
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
}
