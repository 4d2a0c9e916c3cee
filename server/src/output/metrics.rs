//! `--metrics`: the server's figures in the Prometheus text format, one page per tick.
//!
//! The names are a contract (dashboards and `make cluster` query them): `c10m_server_connections`
//! is what the server holds now, summed over its workers.

use c10m_kernel::sockstat::SockStat;
use c10m_report::dashboard::Each;
use c10m_report::metrics::Snapshot;
use c10m_sys::mem;

use super::records::Tick;
use crate::stats::Stats;

/// What a tick hands the live formats: `stats` added up over every worker, the line printed
/// with it, the namespace's sockstat, and each worker's connections (the first
/// `SPREAD_MAX` workers; zeros with one process).
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub(crate) stats: Stats,
    pub(crate) tick: Tick,
    pub(crate) tcp: SockStat,
    pub(crate) each: Each,
}

/// The page for the latest tick's figures.
pub(crate) fn page(f: &Figures) -> Snapshot {
    let (st, tick, tcp) = (&f.stats, &f.tick, &f.tcp);
    let page_size = mem::page_size();
    let mut s = Snapshot::default();
    s.gauge(
        "c10m_server_connections",
        "Connections the server holds now, all workers together",
        st.conns as f64,
    )
    .counter(
        "c10m_server_accepted",
        "Connections accepted since start",
        st.accepted,
    )
    .counter(
        "c10m_server_closed",
        "Connections closed since start",
        st.closed,
    )
    .counter_by_errno(
        "c10m_server_accept_errors",
        "accept() errors by errno (EMFILE and ENFILE pause accepting until a descriptor frees)",
        &st.accept_errors,
    )
    .counter_by_errno(
        "c10m_server_close_errors",
        "Connections that ended with an error rather than EOF, by errno",
        &st.close_errors,
    )
    .counter(
        "c10m_server_echoed_bytes",
        "Bytes echoed back to clients",
        st.bytes_echoed,
    )
    .counter(
        "c10m_server_backpressure_events",
        "Times an echo could not be written at once and reading that connection was paused",
        st.backpressure_events,
    )
    .gauge(
        "c10m_server_accept_paused",
        "1 while accepting is paused (a descriptor limit, or --pause-accept)",
        f64::from(u8::from(tick.blocked.is_some())),
    )
    .gauge(
        "c10m_server_open_fds",
        "Descriptors in use: one per connection plus each worker's own",
        tick.fds_used as f64,
    )
    .gauge(
        "c10m_server_fd_limit",
        "RLIMIT_NOFILE soft limit, all workers together",
        tick.fd_limit as f64,
    )
    .gauge(
        "c10m_server_resident_memory_bytes",
        "Resident set size, all workers together",
        tick.rss_bytes as f64,
    )
    .gauge(
        "c10m_server_workers",
        "Worker processes serving the port",
        tick.workers.unwrap_or(1) as f64,
    )
    .sockstat(tcp, page_size);
    s
}
