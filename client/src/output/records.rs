//! The client's output records: one struct per kind of line, as scripts read them.
//!
//! These are the README's output contract: `--json` writes them as they are (with a `type` field
//! first), the text format prints the same numbers for people, tests parse the JSON back into
//! these structs. Each record is computed from the plain counters of [`crate::stats`] by a
//! constructor here, so the loops never format anything.

use serde::{Deserialize, Serialize};

use c10m_kernel::tcp_table::PortCensus;
use c10m_report::counts::ErrnoCounts;
use c10m_report::output::{opt_secs3, secs3};

use crate::config::{Close, Mode, Part};
use crate::memguard::MemStop;
use crate::plan::{Plan, Warning};
use crate::stats::{Stats, WireCounts};

/// `plan`: how the connections spread, and what the plan foresees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanLine {
    pub connections: u64,
    pub targets: u64,
    pub sources: u64,
    pub sources_chosen: bool,
    pub pairs: u64,
    pub per_pair: u64,
    pub port_range: Option<String>,
    pub knee: Option<u64>,
    pub fd_soft: u64,
    pub fd_room: u64,
    pub processes: u64,
    /// The engine's name (`--engine`).
    pub engine: String,
    pub warnings: Vec<Warning>,
    /// `--shard`: `{index, of}`, and `connections` is this shard's part (null: no shard).
    pub shard: Option<Part>,
}

impl From<&Plan> for PlanLine {
    fn from(p: &Plan) -> PlanLine {
        PlanLine {
            connections: p.connections,
            targets: p.targets.len() as u64,
            sources: p.sources.len() as u64,
            sources_chosen: p.sources_chosen,
            pairs: p.pairs(),
            per_pair: p.per_pair(),
            port_range: p.port_range.map(|r| format!("{}-{}", r.low, r.high)),
            knee: p.knee(),
            fd_soft: p.fd_soft,
            fd_room: p.fd_room,
            processes: p.processes,
            engine: p.engine.name.to_string(),
            warnings: p.warnings(),
            shard: (!p.shard.is_whole()).then_some(p.shard),
        }
    }
}

/// `tick` of the hold mode: one live line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    #[serde(serialize_with = "secs3")]
    pub elapsed_s: f64,
    pub established: u64,
    pub open: u64,
    /// Handshakes under way.
    pub in_flight: u64,
    pub failed: u64,
    #[serde(rename = "connect_rate_per_s", serialize_with = "secs3")]
    pub connect_rate: f64,
    pub pings_ok: u64,
    pub rtt_p50_us: Option<u64>,
    pub rtt_p99_us: Option<u64>,
    pub rss_bytes: u64,
    pub tcp_tw: u64,
    pub past_knee: bool,
    /// Connections per pair past which connect() slows, while the ramp is past it.
    #[serde(skip)]
    pub knee: Option<u64>,
    /// Connections asked for, for the text line's `established x/N`.
    #[serde(skip)]
    pub requested: u64,
}

/// What a tick is computed from, besides the counters.
#[derive(Debug, Clone, Copy)]
pub struct TickInput<'a> {
    pub elapsed_s: f64,
    /// Seconds since the last tick, and connections established then.
    pub dt: f64,
    pub established_before: u64,
    /// Round trips of this interval only.
    pub rtt: &'a c10m_report::histogram::Histogram,
    pub rss_bytes: u64,
    pub tcp_tw: u64,
    pub knee: Option<u64>,
    pub requested: u64,
}

impl Tick {
    pub fn new(st: &Stats, i: TickInput<'_>) -> Tick {
        Tick {
            elapsed_s: i.elapsed_s,
            established: st.established,
            open: st.open,
            in_flight: st.connecting,
            failed: st.failed.total(),
            connect_rate: st.established.saturating_sub(i.established_before) as f64 / i.dt,
            pings_ok: st.exchanges_ok,
            rtt_p50_us: i.rtt.quantile(0.5),
            rtt_p99_us: i.rtt.quantile(0.99),
            rss_bytes: i.rss_bytes,
            tcp_tw: i.tcp_tw,
            past_knee: i.knee.is_some(),
            knee: i.knee,
            requested: i.requested,
        }
    }
}

/// `failure`: the first failure of each kind, once, with what it means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// An errno name, or `EOF` when the peer closed a held connection.
    pub errno: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub meaning: String,
}

/// What `EOF` means for a held connection.
pub const EOF_MEANING: &str =
    "the server closed a held connection (it stopped, or hit a limit of its own)";

impl Failure {
    /// A failure seen here, with its errno, the call and the system's message.
    pub fn seen(name: &str, code: i32, step: &str, e: &std::io::Error) -> Failure {
        if name == "EOF" {
            return Failure::named(name);
        }
        Failure {
            errno: name.into(),
            code: Some(code),
            step: Some(step.into()),
            message: Some(e.to_string()),
            meaning: c10m_sys::errno::meaning(code).into(),
        }
    }

    /// A failure a `--processes` child saw, known to the parent only by its name.
    pub fn aggregated(name: &str) -> Failure {
        let meaning = c10m_sys::errno::KNOWN
            .iter()
            .find(|(_, n)| *n == name)
            .map_or("see the summary", |(code, _)| {
                c10m_sys::errno::meaning(*code)
            });
        Failure {
            meaning: meaning.into(),
            ..Failure::named(name)
        }
    }

    /// A failure known only by its name (the server's EOF).
    pub fn named(name: &str) -> Failure {
        let meaning = match name {
            "EOF" => EOF_MEANING,
            _ => c10m_sys::errno::KNOWN
                .iter()
                .find(|(_, n)| *n == name)
                .map_or("see the summary", |(code, _)| {
                    c10m_sys::errno::meaning(*code)
                }),
        };
        Failure {
            errno: name.into(),
            code: None,
            step: None,
            message: None,
            meaning: meaning.into(),
        }
    }
}

/// `summary` of the hold mode: the last line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub requested: u64,
    pub established: u64,
    pub peak_open: u64,
    pub failed: ErrnoCounts,
    #[serde(serialize_with = "opt_secs3")]
    pub elapsed_to_all_s: Option<f64>,
    #[serde(serialize_with = "opt_secs3")]
    pub connect_rate_per_s: Option<f64>,
    #[serde(serialize_with = "secs3")]
    pub held_s: f64,
    pub pings_sent: u64,
    pub pings_ok: u64,
    pub pings_unanswered: u64,
    /// Connections pinged at least once during the hold.
    pub connections_pinged: u64,
    pub echo_mismatches: u64,
    pub rtt_p50_us: Option<u64>,
    pub rtt_p99_us: Option<u64>,
    pub rss_bytes: u64,
    #[serde(serialize_with = "opt_secs3")]
    pub rss_bytes_per_conn: Option<f64>,
    pub interrupted: bool,
    /// The memory guard stopped the ramp: what it saw (null: it did not).
    pub memory_guard: Option<MemStop>,
    /// `--shard` (null: none).
    pub shard: Option<Part>,
    /// When the first connect went out, by the realtime clock (to compare shards' starts).
    #[serde(serialize_with = "opt_secs3")]
    pub ramp_started_unix_s: Option<f64>,
    /// What an engine that speaks TCP itself saw on the wire (zeros for kernel sockets).
    #[serde(default)]
    pub wire: WireCounts,
    pub success: bool,
}

/// `step` of `--message-rate R1,R2,... --step S`: what one rate of the sweep delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// From 0.
    pub index: u64,
    /// The rate asked for, pings per second in all.
    pub offered_per_s: u64,
    #[serde(serialize_with = "secs3")]
    pub duration_s: f64,
    /// Pings started during the step.
    pub sent: u64,
    /// Echoes that came back whole and intact during it.
    pub echoed: u64,
    #[serde(serialize_with = "secs3")]
    pub delivered_per_s: f64,
    pub rtt_p50_us: Option<u64>,
    pub rtt_p99_us: Option<u64>,
    pub rtt_p999_us: Option<u64>,
    /// Pings still waiting for their echo when it ended.
    pub in_flight: u64,
}

/// What a summary is computed from, besides the counters.
#[derive(Debug, Clone, Copy)]
pub struct SummaryInput {
    pub elapsed_to_all_s: Option<f64>,
    pub held_s: f64,
    pub rss_bytes: u64,
    pub rss_bytes_per_conn: Option<f64>,
    pub interrupted: bool,
    pub memory_guard: Option<MemStop>,
}

impl Summary {
    pub fn new(st: &Stats, i: SummaryInput) -> Summary {
        let success = st.established == st.requested
            && st.failed.is_empty()
            && st.echo_mismatches == 0
            && (st.unanswered == 0 || i.interrupted);
        Summary {
            requested: st.requested,
            established: st.established,
            peak_open: st.peak_open,
            failed: st.failed,
            elapsed_to_all_s: i.elapsed_to_all_s,
            connect_rate_per_s: i
                .elapsed_to_all_s
                .filter(|s| *s > 0.0)
                .map(|s| st.established as f64 / s),
            held_s: i.held_s,
            pings_sent: st.exchanges,
            pings_ok: st.exchanges_ok,
            pings_unanswered: st.unanswered,
            connections_pinged: st.pinged,
            echo_mismatches: st.echo_mismatches,
            rtt_p50_us: st.rtt.quantile(0.5),
            rtt_p99_us: st.rtt.quantile(0.99),
            rss_bytes: i.rss_bytes,
            rss_bytes_per_conn: i.rss_bytes_per_conn,
            interrupted: i.interrupted,
            memory_guard: i.memory_guard,
            shard: None,
            ramp_started_unix_s: None,
            wire: st.wire,
            success,
        }
    }
}

/// `start` of churn and keep-alive: what the run will do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestsStart {
    pub mode: Mode,
    pub rate: u64,
    #[serde(serialize_with = "secs3")]
    pub duration_s: f64,
    pub close: Close,
    pub connections: u64,
    pub targets: u64,
    pub sources: u64,
    pub port_range: Option<String>,
}

/// `tick` of churn and keep-alive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestsTick {
    #[serde(serialize_with = "secs3")]
    pub elapsed_s: f64,
    pub requests_ok: u64,
    #[serde(serialize_with = "secs3")]
    pub ok_per_s: f64,
    pub failed: u64,
    pub in_flight: u64,
    pub open: u64,
    /// TIME_WAIT sockets in this network namespace (sockstat `tw`).
    pub tcp_tw: u64,
    /// TIME_WAIT sockets by side: a local port that is a target port is the server's.
    pub tw_client: u64,
    pub tw_server: u64,
    /// Distinct ports of ip_local_port_range held, TIME_WAIT included.
    pub ports_in_use: u64,
    /// Ports in ip_local_port_range.
    pub ports: u64,
}

impl RequestsTick {
    pub fn new(
        st: &Stats,
        elapsed_s: f64,
        ok_per_s: f64,
        tcp_tw: u64,
        census: PortCensus,
        ports: u64,
    ) -> Self {
        RequestsTick {
            elapsed_s,
            requests_ok: st.exchanges_ok,
            ok_per_s,
            failed: st.failed.total(),
            in_flight: st.connecting + st.busy,
            open: st.open,
            tcp_tw,
            tw_client: census.tw_client,
            tw_server: census.tw_server,
            ports_in_use: census.ephemeral_in_use,
            ports,
        }
    }
}

/// `summary` of churn and keep-alive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestsSummary {
    pub mode: Mode,
    pub close: Close,
    pub rate: u64,
    #[serde(serialize_with = "secs3")]
    pub sent_s: f64,
    pub requests: u64,
    pub requests_ok: u64,
    pub requests_delayed: u64,
    pub connects: u64,
    pub opened: u64,
    pub failed: ErrnoCounts,
    /// Seconds from the start to the first failure of each kind.
    #[serde(serialize_with = "c10m_report::output::map_secs3")]
    pub first_failure_s: std::collections::BTreeMap<String, f64>,
    pub echo_mismatches: u64,
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    pub tcp_tw_end: u64,
    pub tcp_tw_peak: u64,
    pub tw_client_end: u64,
    pub tw_server_end: u64,
    pub ports_in_use_peak: u64,
    pub interrupted: bool,
    pub success: bool,
}
