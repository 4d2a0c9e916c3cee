//! `--metrics`: the client's figures in the Prometheus text format, one page per tick.
//!
//! The names are a contract: `c10m_client_connections` (held now) and the histogram
//! `c10m_client_rtt_seconds` are what dashboards and `make cluster` sum over shards. Every shard
//! labels nothing itself: Prometheus adds `instance` per scrape target, and `sum()` over the
//! shards is the whole plan.

use c10m_kernel::sockstat::SockStat;
use c10m_report::dashboard::Each;
use c10m_report::metrics::Snapshot;
use c10m_sys::mem;

use crate::config::Part;
use crate::plan::Plan;
use crate::stats::Stats;

/// What a tick hands the live formats: the counters (all processes added up) and the rest of
/// what a page shows.
#[derive(Debug, Clone)]
pub struct Figures {
    pub(crate) stats: Stats,
    pub(crate) extra: Extra,
}

impl Figures {
    /// The figures of a run of `plan`: `stats` added up over its processes, their resident
    /// memory, and the namespace's sockstat.
    pub(crate) fn of(stats: &Stats, plan: &Plan, rss_bytes: u64, tcp: SockStat) -> Figures {
        Figures {
            stats: *stats,
            extra: Extra {
                rss_bytes,
                tcp,
                shard: plan.shard,
                processes: plan.processes,
                fd_per_conn: plan.engine.caps.kernel_socket,
                each: Each::default(),
                rss_start: 0,
            },
        }
    }
}

/// What a page shows besides the counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Extra {
    pub rss_bytes: u64,
    pub tcp: SockStat,
    pub shard: Part,
    /// Processes that hold the connections.
    pub processes: u64,
    /// Descriptors the connections take: one each for an engine with a kernel socket per
    /// connection, none for one that speaks TCP itself.
    pub fd_per_conn: bool,
    /// With `--processes`: each child's open connections (the dashboard's spread).
    pub each: Each,
    /// Resident memory before the first connection, all processes (0: not known yet).
    pub rss_start: u64,
}

/// The Prometheus page of `f`.
pub(crate) fn page(f: &Figures) -> Snapshot {
    let (st, x) = (&f.stats, &f.extra);
    let mut s = Snapshot::default();
    let fds = if x.fd_per_conn {
        st.open + st.connecting
    } else {
        0
    } + x.processes;
    s.gauge(
        "c10m_client_connections",
        "Connections this client holds open now (established, not yet closed)",
        st.open as f64,
    )
    .gauge(
        "c10m_client_connecting",
        "Handshakes under way",
        st.connecting as f64,
    )
    .gauge(
        "c10m_client_requested",
        "Connections this client (this shard) is to hold",
        st.requested as f64,
    )
    .counter("c10m_client_connects", "Connects started", st.launched)
    .counter(
        "c10m_client_established",
        "Handshakes completed",
        st.established,
    )
    .counter("c10m_client_closed", "Connections closed", st.closed)
    .counter_by_errno(
        "c10m_client_failures",
        "Failed connects and connections lost, by errno (EOF: the server closed)",
        &st.failed,
    )
    .counter(
        "c10m_client_pings_sent",
        "Pings (or requests) sent",
        st.exchanges,
    )
    .counter(
        "c10m_client_pings_ok",
        "Pings whose echo came back whole and intact",
        st.exchanges_ok,
    )
    .counter(
        "c10m_client_echo_mismatches",
        "Echoes that differed from what was sent",
        st.echo_mismatches,
    )
    .counter(
        "c10m_client_segments_retransmitted",
        "Segments the client sent again (an engine that speaks TCP itself: SYNs and data; 0 for kernel sockets)",
        st.wire.retransmitted,
    )
    .counter(
        "c10m_client_segments_duplicate",
        "Data segments that arrived again (an engine that speaks TCP itself)",
        st.wire.duplicates_received,
    )
    .counter(
        "c10m_client_segments_out_of_order",
        "Data segments that arrived past a gap (an engine that speaks TCP itself)",
        st.wire.out_of_order_received,
    )
    .counter(
        "c10m_client_zero_window_waits",
        "Times a connection found the server's window shut with more to send (an engine that speaks TCP itself)",
        st.wire.zero_window_waits,
    )
    .counter(
        "c10m_client_stray_resets",
        "Resets sent for segments of connections the client no longer holds (an engine that speaks TCP itself)",
        st.wire.stray_resets,
    )
    .histogram_seconds(
        "c10m_client_rtt_seconds",
        "Ping round trips (request latency with --mode churn or keepalive)",
        &st.rtt,
    )
    .gauge(
        "c10m_client_open_fds",
        "Descriptors held for connections (one per socket; the TUN engine holds none) plus one per process",
        fds as f64,
    )
    .gauge(
        "c10m_client_resident_memory_bytes",
        "Resident set size of the client's processes",
        x.rss_bytes as f64,
    )
    .gauge(
        "c10m_client_shard_index",
        "This client's shard, I of --shard I/N (0 without --shard)",
        x.shard.index as f64,
    )
    .gauge(
        "c10m_client_shards",
        "N of --shard I/N: the clients that share the plan (1 without --shard)",
        x.shard.of as f64,
    )
    .sockstat(&x.tcp, mem::page_size());
    s
}
