//! The server's output records: one struct per kind of line, as scripts read them.
//!
//! These are the README's output contract. The `--json` exporter writes them as they are (with a
//! `type` field first); the text exporter prints the same numbers for people. Each record is
//! built from the plain counters of [`crate::stats`] by the loop or the supervisor; the export
//! modules only render. Tests parse the JSON back into these structs.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use c10m_report::counts::ErrnoCounts;
use c10m_report::output::{opt_secs3, secs3};

use crate::accept::{AcceptBlock, BlockJson};
use crate::stats::Stats;

/// `start` of a single process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub listen: SocketAddr,
    pub fd_soft: u64,
    pub fd_hard: u64,
    pub fds_base: u64,
    pub room: u64,
    pub max_conns: u64,
    pub backlog: i32,
    pub somaxconn: Option<u64>,
    /// Bytes one slab slot takes.
    pub slot_bytes: usize,
}

/// `start` with `--workers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartWorkers {
    pub listen: SocketAddr,
    pub workers: u64,
    /// `reuseport` or `shared`.
    pub listener: String,
    pub fd_soft: u64,
    /// Connections all workers together have room for.
    pub room: u64,
}

/// `tick`: one live line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    #[serde(serialize_with = "secs3")]
    pub elapsed_s: f64,
    #[serde(rename = "connections")]
    pub conns: u64,
    pub peak: u64,
    #[serde(serialize_with = "secs3")]
    pub accepted_per_s: f64,
    #[serde(serialize_with = "secs3")]
    pub closed_per_s: f64,
    pub fds_used: u64,
    pub fd_limit: u64,
    pub rss_bytes: u64,
    /// RSS growth since start-up divided by the connections held now.
    #[serde(rename = "rss_bytes_per_conn", serialize_with = "opt_secs3")]
    pub rss_per_conn: Option<f64>,
    pub tcp_inuse: u64,
    pub tcp_tw: u64,
    pub tcp_mem_pages: u64,
    /// accept() errors during this interval, by errno name.
    pub accept_errors: ErrnoCounts,
    /// Read back as `None`: scripts read the reason from the JSON.
    #[serde(
        rename = "accept_paused",
        serialize_with = "block_json",
        skip_deserializing
    )]
    pub blocked: Option<AcceptBlock>,
    /// With `--workers`: how many, and the least and most connections one holds.
    pub workers: Option<u64>,
    pub worker_min: Option<u64>,
    pub worker_max: Option<u64>,
}

fn block_json<S: serde::Serializer>(b: &Option<AcceptBlock>, s: S) -> Result<S::Ok, S::Error> {
    b.map(BlockJson::from).serialize(s)
}

/// `milestone`: a connection count reached for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    #[serde(rename = "connections")]
    pub conns: u64,
    #[serde(serialize_with = "secs3")]
    pub elapsed_s: f64,
    pub rss_bytes: u64,
}

/// `worker_exit`: a worker ended while the server ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerExit {
    pub worker: usize,
    pub pid: i32,
    pub how: String,
    pub connections_lost: u64,
    /// Whether a replacement is being started.
    #[serde(skip)]
    pub replaced: bool,
}

/// `summary`: the run as a whole, the last line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub listen: SocketAddr,
    pub peak_connections: u64,
    pub connections_at_exit: u64,
    pub accepted: u64,
    pub closed: u64,
    pub accept_errors: ErrnoCounts,
    pub close_errors: ErrnoCounts,
    pub bytes_echoed: u64,
    pub backpressure_events: u64,
    pub rss_bytes: u64,
    pub rss_start_bytes: u64,
    #[serde(serialize_with = "opt_secs3")]
    pub rss_bytes_per_conn_at_peak: Option<f64>,
    pub max_conns: u64,
    pub fd_limit: u64,
    #[serde(serialize_with = "secs3")]
    pub uptime_s: f64,
    pub workers: u64,
    pub worker_restarts: u64,
}

impl Tick {
    /// Accepted and closed per second since the counts `last` (accepted, closed), `dt` ago.
    pub fn rates(stats: &Stats, last: (u64, u64), dt: f64) -> (f64, f64) {
        (
            stats.accepted.saturating_sub(last.0) as f64 / dt,
            stats.closed.saturating_sub(last.1) as f64 / dt,
        )
    }
}

/// What a summary takes besides the counters.
#[derive(Debug, Clone, Copy)]
pub struct SummaryInput {
    pub rss_bytes: u64,
    pub rss_start_bytes: u64,
    pub rss_bytes_per_conn_at_peak: Option<f64>,
    pub uptime_s: f64,
    pub max_conns: u64,
    pub fd_limit: u64,
    pub workers: u64,
    pub worker_restarts: u64,
}

impl Summary {
    pub fn new(listen: SocketAddr, st: &Stats, peak: u64, i: &SummaryInput) -> Summary {
        Summary {
            listen,
            peak_connections: peak,
            connections_at_exit: st.conns,
            accepted: st.accepted,
            closed: st.closed,
            accept_errors: st.accept_errors,
            close_errors: st.close_errors,
            bytes_echoed: st.bytes_echoed,
            backpressure_events: st.backpressure_events,
            rss_bytes: i.rss_bytes,
            rss_start_bytes: i.rss_start_bytes,
            rss_bytes_per_conn_at_peak: i.rss_bytes_per_conn_at_peak,
            max_conns: i.max_conns,
            fd_limit: i.fd_limit,
            uptime_s: i.uptime_s,
            workers: i.workers,
            worker_restarts: i.worker_restarts,
        }
    }
}
