//! Property tests: every parser takes any text without a panic, and the ones whose input a
//! process controls (a command name in `/proc/PID/stat`) or whose arithmetic could overflow read
//! back what was written.

use proptest::prelude::*;

use crate::{conntrack, cpu, memory, netstat, pid, sockstat, sysctl, tcp_table};

/// Text made of what /proc files are made of, so that the parsers get past their first checks.
fn procish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        "[0-9]{1,20}",
        "[0-9A-Fa-f]{1,16}:[0-9A-Fa-f]{1,8}",
        Just("cpu ".to_string()),
        Just("TCP:".to_string()),
        Just("TcpExt:".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("-".to_string()),
        Just(",".to_string()),
        Just("0A".to_string()),
        "[ \t\n]{1,3}",
        "\\PC{0,8}",
    ];
    prop::collection::vec(token, 0..80).prop_map(|t| t.concat())
}

fn every_parser(text: &str) {
    sockstat::parse_sockstat(text);
    memory::parse_meminfo(text);
    memory::slab_bytes_by_cache(text, 4096);
    netstat::counters(text).count();
    netstat::pick(text, "TcpExt", ["ListenOverflows"]);
    conntrack::parse_conntrack_stat(text);
    cpu::parse_busy_ticks(text);
    cpu::parse_cpu_count(text);
    pid::parse_proc_stat(text);
    pid::parse_statm_rss_pages(text);
    sysctl::parse_file_nr(text);
    sysctl::parse_port_range(text);
    tcp_table::listen_queues([text]);
    let s = tcp_table::port_states([text, text], 7000);
    for (state, ports) in &s.client_ports {
        assert!(*ports <= s.remote[state], "{s:?}");
    }
    let mut seen = [0u64; 1024];
    let mut census = tcp_table::PortCensus::default();
    tcp_table::parse_tcp_ports(text, (1, 65535), &[7000], &mut seen, &mut census);
}

proptest! {
    #[test]
    fn any_text_no_panic(text in "\\PC*") {
        every_parser(&text);
    }

    #[test]
    fn procish_text_no_panic(text in procish()) {
        every_parser(&text);
    }

    #[test]
    fn comm_reads_back(comm in "[^\n]{0,20}", ppid in 0u32.., utime: u64, stime: u64, start: u64) {
        let line = format!(
            "42 ({comm}) S {ppid} 42 42 0 -1 4194304 0 0 0 0 {utime} {stime} 0 0 20 0 1 0 {start} 0 0\n"
        );
        let st = pid::parse_proc_stat(&line).unwrap();
        prop_assert_eq!(&st.comm, &comm);
        prop_assert_eq!((st.ppid, st.utime, st.stime, st.start_ticks), (ppid, utime, stime, start));
        prop_assert_eq!(st.cpu_ticks(), utime.saturating_add(stime));
    }

    #[test]
    fn whole_slabs(num: u32, per in 1u32.., pages in 0u16.., page in 1u32..) {
        let text = format!("h\nh\nc {num} {num} 64 {per} {pages} : tunables 0 0 0\n");
        let got = memory::slab_bytes_by_cache(&text, u64::from(page))["c"];
        let want = u128::from(num.div_ceil(per)) * u128::from(pages) * u128::from(page);
        prop_assert_eq!(u128::from(got), want);
    }

    #[test]
    fn conntrack_sums(rows in prop::collection::vec((any::<u32>(), any::<u32>()), 1..16)) {
        let mut text = "entries drop\n".to_string();
        for (entries, drop) in &rows {
            text += &format!("{entries:08x} {drop:08x}\n");
        }
        let st = conntrack::parse_conntrack_stat(&text);
        prop_assert_eq!(st["entries"], u64::from(rows[0].0));
        prop_assert_eq!(st["drop"], rows.iter().map(|r| u64::from(r.1)).sum::<u64>());
    }

    #[test]
    fn cpu_ranges(ranges in prop::collection::vec((0u32..4096, 0u32..64), 1..8)) {
        let list: Vec<String> = ranges.iter().map(|(a, n)| format!("{a}-{}", a + n)).collect();
        let want: u32 = ranges.iter().map(|(_, n)| n + 1).sum();
        prop_assert_eq!(cpu::parse_cpu_count(&list.join(",")), Some(want));
    }
}
