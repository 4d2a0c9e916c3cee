//! `--dashboard` and `--report`: what the server's page shows (see
//! [`c10m_report::dashboard`]). Everything here runs on the dashboard's thread: the kernel
//! reads (meminfo, file-nr and the other facts `--check` reads, netstat, slabinfo) and the
//! limits computed from them.

use c10m_kernel::memory::{self, MemInfo};
use c10m_kernel::netstat;
use c10m_kernel::probe::ProcFile;
use c10m_limits::live::{self, ListenDrops, Usage};
use c10m_limits::{Facts, ServerAsk};
use c10m_report::dashboard::slab::{self, SlabBaseline};
use c10m_report::dashboard::{
    failure_rows, nearest, Figure, Memory, Panels, Series, Spread, Watch, KERNEL_BYTES_PER_CONN,
    NEAREST_LIMIT_SHARE, SPREAD_MAX, USER_BYTES_PER_CONN,
};

use super::metrics::Figures;
use crate::cli::Config;
use crate::room::{self, FDS_PER_WORKER};

/// The columns of a row, in order.
const SERIES: [Series; 10] = [
    Series {
        key: "connections",
        label: "connections held",
        chart: "Connections",
        unit: "count",
    },
    Series {
        key: "accept_errors",
        label: "accept errors",
        chart: "Connections",
        unit: "count",
    },
    Series {
        key: "accepted_per_s",
        label: "accepted",
        chart: "Accepts and closes per second",
        unit: "per_s",
    },
    Series {
        key: "closed_per_s",
        label: "closed",
        chart: "Accepts and closes per second",
        unit: "per_s",
    },
    USER_BYTES_PER_CONN,
    KERNEL_BYTES_PER_CONN,
    NEAREST_LIMIT_SHARE,
    Series {
        key: "rss_bytes",
        label: "server RSS",
        chart: "Memory",
        unit: "bytes",
    },
    Series {
        key: "worker_min",
        label: "least loaded worker",
        chart: "Connections per worker",
        unit: "count",
    },
    Series {
        key: "worker_max",
        label: "most loaded worker",
        chart: "Connections per worker",
        unit: "count",
    },
];

/// The server's watch: what `--check` would be asked for this run, and the kernel's baseline.
pub(crate) struct ServerWatch {
    ask: ServerAsk,
    workers: u64,
    slab: SlabBaseline,
    listen_before: Option<(u64, u64)>,
    netstat: Option<ProcFile>,
}

impl ServerWatch {
    pub(crate) fn new(config: &Config, workers: u64) -> ServerWatch {
        ServerWatch {
            ask: room::ask(config, config.max_conns.unwrap_or(0)),
            workers,
            slab: SlabBaseline::default(),
            listen_before: None,
            netstat: None,
        }
    }

    fn listen_drops(&mut self) -> Option<ListenDrops> {
        let text = self.netstat.as_mut()?.read().ok()?;
        let [Some(overflows), Some(drops)] =
            netstat::pick(&text, "TcpExt", ["ListenOverflows", "ListenDrops"])
        else {
            return None;
        };
        let (o0, d0) = self.listen_before.unwrap_or((overflows, drops));
        self.listen_before = Some((overflows, drops));
        Some(ListenDrops {
            overflows,
            drops,
            overflows_rose: overflows.saturating_sub(o0),
            drops_rose: drops.saturating_sub(d0),
        })
    }
}

impl Watch<Figures> for ServerWatch {
    fn series(&self) -> &'static [Series] {
        if self.workers > 1 {
            &SERIES
        } else {
            &SERIES[..8]
        }
    }

    fn begin(&mut self) {
        self.slab = SlabBaseline::read();
        self.netstat = ProcFile::open("/proc/net/netstat").ok();
        self.listen_drops();
    }

    fn sample(&mut self, f: &Figures, _prev: Option<(&Figures, f64)>, row: &mut [f64]) -> Panels {
        let (st, tick) = (&f.stats, &f.tick);
        let mem = memory::read_meminfo().unwrap_or_default();
        let kernel = self.slab.per_conn(mem.slab, st.conns);
        let fd_soft = tick.fd_limit / tick.workers.unwrap_or(1).max(1);
        let (fds, fds_of) = match tick.worker_max {
            Some(m) => (m + FDS_PER_WORKER, "the fullest worker"),
            None => (tick.fds_used, "the process"),
        };
        let usage = Usage {
            fds,
            fd_limit: fd_soft,
            fds_of,
            conns: st.conns,
            ends: if self.ask.loopback { 2 } else { 1 },
            tcp_mem_pages: f.tcp.tcp_mem_pages,
            tcp_tw: f.tcp.tcp_tw,
            listen: self.listen_drops(),
            ..Usage::default()
        };
        let gauges = match Facts::read() {
            Ok(facts) => {
                let ask = ServerAsk {
                    connections: self.ask.connections.max(tick.fd_limit).max(1),
                    ..self.ask.clone()
                };
                live::gauges(
                    &c10m_limits::server_rows(&facts, &ask),
                    &facts,
                    &mem,
                    &usage,
                )
            }
            Err(_) => Vec::new(),
        };
        let near = nearest(&gauges).map(|g| (g.key.clone(), g.share));
        let values = [
            st.conns as f64,
            st.accept_errors.total() as f64,
            tick.accepted_per_s,
            tick.closed_per_s,
            tick.rss_per_conn.unwrap_or(f64::NAN),
            kernel.unwrap_or(f64::NAN),
            near.as_ref().and_then(|n| n.1).unwrap_or(f64::NAN),
            if tick.rss_bytes > 0 {
                tick.rss_bytes as f64
            } else {
                f64::NAN
            },
            tick.worker_min.map_or(f64::NAN, |v| v as f64),
            tick.worker_max.map_or(f64::NAN, |v| v as f64),
        ];
        for (cell, v) in row.iter_mut().zip(values) {
            *cell = v;
        }
        Panels {
            headline: vec![
                Figure::count("connections", "connections held", st.conns),
                Figure::count("peak", "peak", tick.peak.max(st.conns)),
                Figure::count("accepted", "accepted", st.accepted),
                Figure::count("closed", "closed", st.closed),
                Figure::count("fds_used", "descriptors in use", tick.fds_used),
                Figure::count("workers", "workers", tick.workers.unwrap_or(1)),
            ],
            nearest: near.map(|n| n.0),
            limits: gauges,
            memory: self.memory(&mem, f),
            failures: {
                let mut all = st.accept_errors;
                all.merge(&st.close_errors);
                failure_rows(&all, special)
            },
            spread: tick.workers.filter(|w| *w > 1).map(|w| Spread {
                of: "workers".into(),
                count: w,
                min: tick.worker_min.unwrap_or(0),
                max: tick.worker_max.unwrap_or(0),
                each: f.each.0[..(w as usize).min(SPREAD_MAX)].to_vec(),
            }),
        }
    }
}

impl ServerWatch {
    fn memory(&mut self, mem: &MemInfo, f: &Figures) -> Memory {
        let conns = f.stats.conns;
        Memory {
            user_bytes_per_conn: f.tick.rss_per_conn,
            user_basis: "the server's RSS growth since start over the connections it holds \
                         (as its summary, at its peak)"
                .into(),
            kernel_bytes_per_conn: self.slab.per_conn(mem.slab, conns),
            kernel_basis: slab::basis("held", self.ask.loopback),
            by_cache: self.slab.by_cache(conns),
            slabinfo_readable: self.slab.readable(),
        }
    }
}

/// What the server's failures that are not errnos mean.
fn special(kind: &str) -> Option<&'static str> {
    match kind {
        "worker_died" => Some("a worker died with these connections in it (its stderr says why)"),
        _ => None,
    }
}
