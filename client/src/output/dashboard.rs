//! `--dashboard` and `--report`: what the client's page shows (see
//! [`c10m_report::dashboard`]). Everything here runs on the dashboard's thread: the kernel
//! reads (meminfo, file-nr and the other facts `--check` reads, slabinfo) and the limits
//! computed from them.

use c10m_kernel::memory;
use c10m_limits::live::{self, Usage};
use c10m_limits::{ClientAsk, Facts};
use c10m_report::dashboard::slab::{self, SlabBaseline};
use c10m_report::dashboard::{
    failure_rows, nearest, Figure, Memory, Panels, Series, Spread, Watch, KERNEL_BYTES_PER_CONN,
    NEAREST_LIMIT_SHARE, SPREAD_MAX, USER_BYTES_PER_CONN,
};
use c10m_report::histogram::Histogram;

use super::metrics::Figures;
use super::records::EOF_MEANING;
use crate::config::{Mode, Options};
use crate::memguard;
use crate::plan::{limit_rows, Plan};

const SERIES: [Series; 14] = [
    Series {
        key: "established",
        label: "established",
        chart: "Connections",
        unit: "count",
    },
    Series {
        key: "open",
        label: "open",
        chart: "Connections",
        unit: "count",
    },
    Series {
        key: "in_flight",
        label: "in flight",
        chart: "Connections",
        unit: "count",
    },
    Series {
        key: "failed",
        label: "failed",
        chart: "Connections",
        unit: "count",
    },
    Series {
        key: "connect_rate_per_s",
        label: "established per second",
        chart: "Connect rate",
        unit: "per_s",
    },
    Series {
        key: "rtt_p50_us",
        label: "p50",
        chart: "Round trips (each interval)",
        unit: "us",
    },
    Series {
        key: "rtt_p90_us",
        label: "p90",
        chart: "Round trips (each interval)",
        unit: "us",
    },
    Series {
        key: "rtt_p99_us",
        label: "p99",
        chart: "Round trips (each interval)",
        unit: "us",
    },
    USER_BYTES_PER_CONN,
    KERNEL_BYTES_PER_CONN,
    NEAREST_LIMIT_SHARE,
    Series {
        key: "rss_bytes",
        label: "client RSS",
        chart: "Memory",
        unit: "bytes",
    },
    Series {
        key: "process_min",
        label: "least loaded process",
        chart: "Connections per process",
        unit: "count",
    },
    Series {
        key: "process_max",
        label: "most loaded process",
        chart: "Connections per process",
        unit: "count",
    },
];

/// The client's watch: what `--check` would be asked for this plan, and the kernel's baseline.
pub(crate) struct ClientWatch {
    ask: ClientAsk,
    kernel_socket: bool,
    /// Ports per (source, destination) pair, and pairs (kernel sockets only).
    ports: Option<(u64, u64)>,
    fd_soft: u64,
    processes: u64,
    /// The memory guard's threshold (hold mode).
    guard: Option<u64>,
    slab: SlabBaseline,
}

impl ClientWatch {
    pub(crate) fn new(plan: &Plan, opts: &Options) -> ClientWatch {
        ClientWatch {
            ask: plan.limits_ask(opts, Some(plan.processes)),
            kernel_socket: plan.engine.caps.kernel_socket,
            ports: plan
                .port_range
                .filter(|_| plan.engine.caps.kernel_socket)
                .map(|r| (u64::from(r.count()), plan.pairs().max(1))),
            fd_soft: plan.fd_soft,
            processes: plan.processes.max(1),
            guard: (opts.mode == Mode::Hold).then(|| memguard::threshold(opts)),
            slab: SlabBaseline::default(),
        }
    }
}

fn quantile(h: &Histogram, q: f64) -> f64 {
    h.quantile(q).map_or(f64::NAN, |v| v as f64)
}

impl Watch<Figures> for ClientWatch {
    fn series(&self) -> &'static [Series] {
        if self.processes > 1 {
            &SERIES
        } else {
            &SERIES[..12]
        }
    }

    fn begin(&mut self) {
        self.slab = SlabBaseline::read();
    }

    fn sample(&mut self, f: &Figures, prev: Option<(&Figures, f64)>, row: &mut [f64]) -> Panels {
        let (st, x) = (&f.stats, &f.extra);
        let mem = memory::read_meminfo().unwrap_or_default();
        let held = st.open + st.connecting;
        let each = &x.each.0[..(self.processes as usize).min(SPREAD_MAX)];
        let fullest = if self.processes > 1 {
            each.iter().copied().max().unwrap_or(0)
        } else {
            held
        };
        let usage = Usage {
            fds: if self.kernel_socket { fullest } else { 0 } + self.ask.reserve,
            fd_limit: self.fd_soft,
            fds_of: if self.processes > 1 {
                "the fullest process"
            } else {
                "the process"
            },
            conns: if self.kernel_socket { held } else { 0 },
            ends: if self.ask.loopback { 2 } else { 1 },
            ports: self
                .ports
                .map(|(ports, pairs)| (held.div_ceil(pairs), ports)),
            guard: self.guard,
            tcp_mem_pages: x.tcp.tcp_mem_pages,
            tcp_tw: x.tcp.tcp_tw,
            listen: None,
        };
        let gauges = match Facts::read() {
            Ok(facts) => {
                let rows = limit_rows(
                    self.kernel_socket,
                    &facts,
                    &self.ask,
                    self.guard.unwrap_or(0),
                );
                live::gauges(&rows, &facts, &mem, &usage)
            }
            Err(_) => Vec::new(),
        };
        let near = nearest(&gauges).map(|g| (g.key.clone(), g.share));
        let rate = prev.map_or(f64::NAN, |(p, dt)| {
            st.established.saturating_sub(p.stats.established) as f64 / dt.max(1e-9)
        });
        let interval = match prev {
            Some((p, _)) => st.rtt.since(&p.stats.rtt),
            None => st.rtt,
        };
        let user = (st.open > 0 && x.rss_start > 0)
            .then(|| (x.rss_bytes as f64 - x.rss_start as f64) / st.open as f64);
        let kernel = self.slab.per_conn(mem.slab, st.open);
        let values = [
            st.established as f64,
            st.open as f64,
            st.connecting as f64,
            st.failed.total() as f64,
            rate,
            quantile(&interval, 0.5),
            quantile(&interval, 0.9),
            quantile(&interval, 0.99),
            user.unwrap_or(f64::NAN),
            kernel.unwrap_or(f64::NAN),
            near.as_ref().and_then(|n| n.1).unwrap_or(f64::NAN),
            if x.rss_bytes > 0 {
                x.rss_bytes as f64
            } else {
                f64::NAN
            },
            each.iter().copied().min().map_or(f64::NAN, |v| v as f64),
            each.iter().copied().max().map_or(f64::NAN, |v| v as f64),
        ];
        for (cell, v) in row.iter_mut().zip(values) {
            *cell = v;
        }
        Panels {
            headline: vec![
                Figure::count("established", "established", st.established),
                Figure::count(
                    "requested",
                    "asked for",
                    st.requested.max(self.ask.connections),
                ),
                Figure::count("open", "open", st.open),
                Figure::count("in_flight", "in flight", st.connecting),
                Figure::count("failed", "failed", st.failed.total()),
                Figure::count("processes", "processes", self.processes),
            ],
            nearest: near.map(|n| n.0),
            limits: gauges,
            memory: Memory {
                user_bytes_per_conn: user,
                user_basis: "the client's RSS growth since its first connection (every \
                             process) over the connections open, as its summary counts"
                    .into(),
                kernel_bytes_per_conn: kernel,
                kernel_basis: slab::basis("open", self.ask.loopback),
                by_cache: self.slab.by_cache(st.open),
                slabinfo_readable: self.slab.readable(),
            },
            failures: failure_rows(&st.failed, special),
            spread: (self.processes > 1).then(|| Spread {
                of: "processes".into(),
                count: self.processes,
                min: each.iter().copied().min().unwrap_or(0),
                max: each.iter().copied().max().unwrap_or(0),
                each: each.to_vec(),
            }),
        }
    }
}

/// What the client's failures that are not errnos mean.
fn special(kind: &str) -> Option<&'static str> {
    match kind {
        "EOF" => Some(EOF_MEANING),
        "process_died" => {
            Some("a --processes child died with its connections (its stderr says why)")
        }
        _ => None,
    }
}
