//! `/proc/net/stat/nf_conntrack`: the connection-tracking counters of this network namespace.
//!
//! When a firewall rule matches on `ct state`, netfilter tracks every flow in a table of
//! `net.netfilter.nf_conntrack_max` entries. The file is a header of column names, then one line
//! of hex counters per CPU: `drop` counts packets dropped because the table was full, `early_drop`
//! entries evicted to make room, `insert_failed`, `invalid`... Each CPU counts its own, so a
//! counter is the sum of the lines. `entries` is the table's current size, the same on every
//! line, so it is taken once. The file exists only once the `nf_conntrack` module is loaded.

use std::collections::BTreeMap;

/// Column name -> value: the sum over CPUs, `entries` taken from the first line. A line with a
/// field that is not hex is left out.
pub fn parse_conntrack_stat(text: &str) -> BTreeMap<String, u64> {
    let mut lines = text.lines();
    let names: Vec<&str> = lines
        .next()
        .map(|h| h.split_whitespace().collect())
        .unwrap_or_default();
    let mut out: BTreeMap<String, u64> = names.iter().map(|n| (n.to_string(), 0)).collect();
    let rows = lines.filter_map(|line| {
        line.split_whitespace()
            .map(|x| u64::from_str_radix(x, 16).ok())
            .collect::<Option<Vec<u64>>>()
            .filter(|row| !row.is_empty())
    });
    for (i, row) in rows.enumerate() {
        for (name, value) in names.iter().zip(row) {
            let Some(sum) = out.get_mut(*name) else {
                continue;
            };
            if *name != "entries" {
                *sum = sum.saturating_add(value);
            } else if i == 0 {
                *sum = value;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two CPUs, from a namespace whose table was full: 10 + 20 packets dropped.
    const STAT: &str = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
000007d0  00000000 00000000 00000000 00000003 00000000 00000000 00000000 00000000 00000000 0000000a 00000000 00000000  00000000 00000000 00000000 00000000
000007d0  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000014 00000000 00000000  00000000 00000000 00000000 00000000
";

    #[test]
    fn sums_cpus_but_not_entries() {
        let st = parse_conntrack_stat(STAT);
        assert_eq!(st["entries"], 2000);
        assert_eq!(st["drop"], 30);
        assert_eq!(st["invalid"], 4);
        assert_eq!(st["search_restart"], 0);
        assert_eq!(st.len(), 17);
    }

    #[test]
    fn short_and_bad_input() {
        assert!(parse_conntrack_stat("").is_empty());
        let header_only = parse_conntrack_stat("entries drop\n");
        assert_eq!(
            header_only,
            BTreeMap::from([("entries".into(), 0), ("drop".into(), 0)])
        );
        let bad = parse_conntrack_stat("entries drop\n00000002 zz\n00000002 00000001\n\n");
        assert_eq!(
            bad,
            BTreeMap::from([("entries".into(), 2), ("drop".into(), 1)])
        );
    }
}
