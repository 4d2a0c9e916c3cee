//! Plain measurement structs. The event loop fills them; `report` renders them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use c10m_common::procfs::SockStat;

/// Counters kept by the event loop. Updating one is an add: nothing here allocates per
/// connection or per event.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub conns: u64,
    pub peak: u64,
    pub accepted: u64,
    pub closed: u64,
    pub accept_errors: BTreeMap<&'static str, u64>,
    /// Connections that ended with an error rather than EOF (ECONNRESET mostly).
    pub close_errors: BTreeMap<&'static str, u64>,
    pub bytes_echoed: u64,
    /// Times a connection's echo could not be written at once and reading it was paused.
    pub backpressure_events: u64,
}

/// Why accepting is paused, when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptBlock {
    /// `--max-conns` (by default, the room RLIMIT_NOFILE leaves) is reached.
    AtCap { max_conns: u64 },
    /// accept() failed with this errno (EMFILE, ENFILE, ENOBUFS, ENOMEM): back off and retry.
    Errno(i32),
    /// `--pause-accept`: the server was asked not to accept (yet).
    Paused,
}

/// One live line's worth of measurements.
#[derive(Debug, Clone)]
pub struct Tick {
    pub elapsed_s: f64,
    pub conns: u64,
    pub peak: u64,
    pub accepted_per_s: f64,
    pub closed_per_s: f64,
    pub fds_used: u64,
    pub fd_limit: u64,
    pub rss_bytes: u64,
    /// RSS growth since start-up divided by the connections held now.
    pub rss_per_conn: Option<f64>,
    pub tcp: SockStat,
    pub blocked: Option<AcceptBlock>,
    /// accept() errors during this interval, by errno name.
    pub accept_errors: BTreeMap<&'static str, u64>,
    /// With --workers: how the connections spread over them.
    pub workers: Option<WorkerSpread>,
}

/// Connections per worker, least and most loaded.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSpread {
    pub workers: u64,
    pub min: u64,
    pub max: u64,
}

/// A threshold the connection count crossed for the first time.
#[derive(Debug, Clone, Copy)]
pub struct Milestone {
    pub conns: u64,
    pub elapsed_s: f64,
    pub rss_bytes: u64,
}

/// What the server prints at start.
#[derive(Debug, Clone)]
pub struct Startup {
    pub listen: SocketAddr,
    pub fd_soft: u64,
    pub fd_hard: u64,
    pub fds_base: u64,
    pub room: u64,
    pub max_conns: u64,
    pub backlog: i32,
    pub somaxconn: Option<u64>,
    pub slot_bytes: usize,
}

/// The run as a whole.
#[derive(Debug, Clone)]
pub struct Summary {
    pub listen: SocketAddr,
    pub stats: Stats,
    pub connections_at_exit: u64,
    pub rss_bytes: u64,
    pub rss_start_bytes: u64,
    pub rss_bytes_per_conn_at_peak: Option<f64>,
    pub uptime_s: f64,
    pub max_conns: u64,
    pub fd_limit: u64,
    pub workers: u64,
    pub worker_restarts: u64,
}
