//! `--dashboard IP:PORT` and `--report FILE.html`: the run as a live web page, and as one file
//! when it ends.
//!
//! # What the page shows, and who computes it
//! The page itself ([`page`]) is the same for both binaries: it charts whatever series the
//! binary names and fills the panels the binary computes. A binary says what it shows through a
//! [`Watch`]: which [`Series`] its charts have, one row of numbers per sample, and the
//! [`Panels`] (its headline figures, every limit `--check` computes as a live [`Gauge`], the
//! memory each connection costs, failures by errno, the spread over workers or processes).
//!
//! # Never in the event loop's way
//! The loop does what it does for `--metrics`: once per tick it copies its figures (plain `Copy`
//! counters) into a [`Latest`] slot and goes on. Records that are not live (the first lines,
//! a failure's first occurrence, a worker's exit, the summary) go to a bounded queue as their JSON
//! line. Everything else happens on the dashboard's own thread: it notices new figures, reads
//! the kernel (meminfo, file-nr, netstat, conntrack, slabinfo) through the [`Watch`], keeps the
//! row, renders the panels, and answers the page's requests ([`crate::http`]).
//!
//! # No memory per connection
//! User bytes per connection are measured from RSS growth, so nothing here may grow with the
//! run: the history is one table allocated and written when the dashboard starts
//! ([`history`]), the state the page reads is rendered into a buffer written at start, and the
//! HTTP server's slots are too. The first sample is taken, and the page rendered, before
//! [`Dashboard::start`] returns, which is before the binaries take their memory baseline.
//!
//! # The end of the run
//! The summary line makes the thread take its last sample, mark the run ended (the page shows
//! the summary and stops polling), and write `--report` before the line returns: one
//! self-contained HTML file with the page, the chart library, and the run's rows and records
//! inline. The page stays up until the process exits.

pub(crate) mod history;
mod page;
mod serve;
pub mod slab;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::http;
use crate::metrics::Latest;
use crate::page_error::{BindError, Page, StartError};

/// One chart line: what it is called, which chart it is on, in what unit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Series {
    /// Stable id for scripts.
    pub key: &'static str,
    pub label: &'static str,
    /// The chart's title; series with the same one share a chart, in order of first mention.
    pub chart: &'static str,
    /// `count`, `per_s`, `us`, `bytes`, `bytes_per_conn` or `share`.
    pub unit: &'static str,
}

/// The series both binaries draw the same way: memory per connection and the nearest limit.
pub const USER_BYTES_PER_CONN: Series = Series {
    key: "user_bytes_per_conn",
    label: "user space",
    chart: "Memory per connection",
    unit: "bytes_per_conn",
};
pub const KERNEL_BYTES_PER_CONN: Series = Series {
    key: "kernel_bytes_per_conn",
    label: "kernel slab",
    chart: "Memory per connection",
    unit: "bytes_per_conn",
};
pub const NEAREST_LIMIT_SHARE: Series = Series {
    key: "nearest_limit_share",
    label: "nearest limit used",
    chart: "Nearest limit",
    unit: "share",
};

/// What a binary shows on its dashboard. Every method runs on the dashboard's thread.
pub trait Watch<F>: Send + 'static {
    fn series(&self) -> &'static [Series];

    /// Readings of the kernel before the first connection, that later ones are compared with.
    fn begin(&mut self);

    /// One sample: a number for each series into `row` (NaN where there is none), from `f` and
    /// the figures before (`prev`, `dt` seconds earlier); and the panels as of `f`.
    fn sample(&mut self, f: &F, prev: Option<(&F, f64)>, row: &mut [f64]) -> Panels;
}

/// A big number at the top of the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub key: String,
    pub label: String,
    pub value: f64,
}

impl Figure {
    /// A count (connections, workers, ...) as a figure.
    pub fn count(key: &str, label: &str, n: u64) -> Figure {
        Figure {
            key: key.into(),
            label: label.into(),
            value: n as f64,
        }
    }
}

/// One limit `--check` computes, as a live gauge of what is used against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gauge {
    /// The row's key in `--check --json` (`fds_per_process`, `file_max`, ...).
    pub key: String,
    pub name: String,
    pub used: Option<f64>,
    pub limit: Option<f64>,
    /// `used / limit` (1: binding now); null when there is no live figure for it.
    pub share: Option<f64>,
    /// What `used` and `limit` count, in words.
    pub reading: String,
    /// The setting as `--check` reads it.
    pub value: String,
    /// The command or flag that moves it, as `--check` says.
    pub knob: String,
    /// What the binaries say when it binds (the errno's meaning).
    pub binds_with: String,
}

/// What a connection costs in memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub user_bytes_per_conn: Option<f64>,
    pub user_basis: String,
    pub kernel_bytes_per_conn: Option<f64>,
    pub kernel_basis: String,
    /// The slab caches that moved, largest first; empty where /proc/slabinfo is unreadable.
    pub by_cache: Vec<slab::CacheCost>,
    pub slabinfo_readable: bool,
}

/// One kind of failure, with what it means and the knob behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRow {
    pub errno: String,
    pub count: u64,
    pub meaning: String,
}

/// Connections over a supervisor's workers or processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// `workers` or `processes`.
    pub of: String,
    pub count: u64,
    pub min: u64,
    pub max: u64,
    /// Each one's connections, in order (at most [`SPREAD_MAX`]).
    pub each: Vec<u64>,
}

/// The most workers or processes whose connections a [`Spread`] lists one by one.
pub const SPREAD_MAX: usize = 64;

/// Each worker's or process's connections, as the figures carry them (plain `Copy` words).
pub type Each = c10m_sys::shm::Words<SPREAD_MAX>;

/// Everything the page shows besides the charts and the records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Panels {
    pub headline: Vec<Figure>,
    pub limits: Vec<Gauge>,
    /// The key of the gauge nearest to binding.
    pub nearest: Option<String>,
    pub memory: Memory,
    pub failures: Vec<FailureRow>,
    pub spread: Option<Spread>,
}

/// The gauge with the largest share, the first on a tie; `None` when none has a share.
pub fn nearest(gauges: &[Gauge]) -> Option<&Gauge> {
    gauges
        .iter()
        .filter(|g| g.share.is_some())
        .fold(None, |best: Option<&Gauge>, g| match best {
            Some(b) if b.share >= g.share => Some(b),
            _ => Some(g),
        })
}

/// Failures by kind, with their meaning; `special` names the kinds that are not errnos.
pub fn failure_rows(
    counts: &crate::counts::ErrnoCounts,
    special: fn(&str) -> Option<&'static str>,
) -> Vec<FailureRow> {
    counts
        .iter()
        .map(|(name, count)| FailureRow {
            errno: name.to_string(),
            count,
            meaning: special(name)
                .or_else(|| {
                    c10m_sys::errno::KNOWN
                        .iter()
                        .find(|(_, n)| *n == name)
                        .map(|(code, _)| c10m_sys::errno::meaning(*code))
                })
                .unwrap_or("see the summary")
                .to_string(),
        })
        .collect()
}

/// A binary's watch, boxed.
pub type BoxedWatch<F> = Box<dyn Watch<F>>;

/// The dashboard as bound before the binary forks or connects: its listener, and the watch
/// that has taken its kernel baseline.
pub struct Bound<F> {
    listener: Option<http::Bound>,
    report: Option<PathBuf>,
    clients: usize,
    watch: BoxedWatch<F>,
    epoch: Instant,
}

/// The running dashboard: an output format ([`crate::output::dashboard`]).
pub struct Dashboard<F> {
    pub(crate) latest: Latest<F>,
    pub(crate) records: mpsc::SyncSender<Record>,
    /// The thread's word that it took the first sample, and that the summary is shown and the
    /// report written.
    pub(crate) done: std::sync::Mutex<mpsc::Receiver<Done>>,
    pub(crate) server: http::Server,
    pub addr: Option<SocketAddr>,
}

/// A line that is not live, on its way to the page.
pub(crate) struct Record {
    /// As `--json` prints it.
    pub(crate) json: String,
    /// The run's last line ([`crate::output::Line::is_last`]).
    pub(crate) last: bool,
}

/// What the thread tells the line that waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    /// The first figures are sampled, the page rendered.
    FirstSample,
    /// The summary is on the page, the report written.
    Summary,
}

/// Records the page keeps (the first lines, failures, worker exits, the summary).
const RECORDS_MAX: usize = 48;
/// How long the summary waits for the report to be written.
pub(crate) const REPORT_WAIT: Duration = Duration::from_secs(30);
/// How long the start waits for the first sample.
pub(crate) const FIRST_WAIT: Duration = Duration::from_secs(5);

impl<F: Clone + Send + 'static> Bound<F> {
    /// Listens on `addr` (if any) and takes the watch's kernel baseline.
    pub fn bind(
        addr: Option<SocketAddr>,
        report: Option<PathBuf>,
        clients: usize,
        mut watch: BoxedWatch<F>,
    ) -> Result<Bound<F>, BindError> {
        let listener = match addr {
            Some(addr) => Some(http::Bound::bind(addr).map_err(|error| BindError::Listen {
                page: Page::Dashboard,
                addr,
                error,
            })?),
            None => None,
        };
        if let Some(path) = &report {
            check_writable(path)?;
        }
        watch.begin();
        Ok(Bound {
            listener,
            report,
            clients,
            watch,
            epoch: Instant::now(),
        })
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().map(|l| l.addr)
    }

    /// Starts the thread; when this returns it has sampled `initial` (the figures before the
    /// first tick) again and again and the page was fetched, so the thread's memory is taken
    /// before the binaries' baseline.
    pub fn start(self, prog: &'static str, initial: &F) -> Result<Dashboard<F>, StartError> {
        let addr = self.addr();
        let (records_tx, records_rx) = mpsc::sync_channel(RECORDS_MAX);
        let (done_tx, done_rx) = mpsc::sync_channel(2);
        let latest = Latest::new();
        latest.set(initial);
        let handler = serve::Board::new(serve::Setup {
            prog,
            watch: self.watch,
            latest: latest.clone(),
            records: records_rx,
            done: done_tx,
            report: self.report,
            epoch: self.epoch,
        });
        let page = if addr.is_some() {
            Page::Dashboard
        } else {
            Page::Report
        };
        let server = http::serve(self.listener, "dashboard", self.clients, handler)
            .map_err(|error| StartError { page, error })?;
        let dashboard = Dashboard {
            latest,
            records: records_tx,
            done: std::sync::Mutex::new(done_rx),
            server,
            addr,
        };
        dashboard.warm_up();
        Ok(dashboard)
    }
}

/// `--report FILE`: a folder that exists and a file that can be written, said before the run.
/// The proof is the file the report is written to first ([`part_path`]), created and removed.
fn check_writable(path: &Path) -> Result<(), BindError> {
    let refused = |reason: String| BindError::Report {
        path: path.to_path_buf(),
        reason,
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if dir.is_some_and(|d| !d.is_dir()) {
        return Err(refused("its folder does not exist".into()));
    }
    if path.is_dir() {
        return Err(refused("it is a folder".into()));
    }
    let part = part_path(path);
    std::fs::File::create(&part).map_err(|e| refused(format!("{}: {e}", part.display())))?;
    let _ = std::fs::remove_file(&part);
    Ok(())
}

/// Where the report is written before it is renamed to `path`, so that a run cut short never
/// leaves half a report under its name: `FILE.html.part`.
fn part_path(path: &Path) -> PathBuf {
    path.with_extension("html.part")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge(key: &str, share: Option<f64>) -> Gauge {
        Gauge {
            key: key.into(),
            name: key.into(),
            used: None,
            limit: None,
            share,
            reading: String::new(),
            value: String::new(),
            knob: String::new(),
            binds_with: String::new(),
        }
    }

    #[test]
    fn nearest_is_the_largest_share_first_on_a_tie() {
        let g = [
            gauge("a", Some(0.5)),
            gauge("b", None),
            gauge("c", Some(0.9)),
            gauge("d", Some(0.9)),
        ];
        assert_eq!(nearest(&g).unwrap().key, "c");
        assert!(nearest(&g[1..2]).is_none());
    }

    #[test]
    fn a_report_is_proved_writable_and_nothing_is_left_behind() {
        let dir = std::env::temp_dir().join(format!("c10m-report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("r.html");
        check_writable(&file).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let refused = |p: &Path| match check_writable(p) {
            Err(BindError::Report { reason, .. }) => reason,
            other => panic!("{p:?}: {other:?}"),
        };
        assert_eq!(
            refused(&dir.join("none/r.html")),
            "its folder does not exist"
        );
        assert_eq!(refused(&dir), "it is a folder");
        // sysfs makes no file, whoever asks (root included).
        assert!(refused(Path::new("/sys/r.html")).starts_with("/sys/r.html.part: "));
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn failures_say_what_they_mean() {
        let mut c = crate::counts::ErrnoCounts::default();
        c.add("EMFILE", 2);
        c.add("EOF", 1);
        let rows = failure_rows(&c, |k| (k == "EOF").then_some("the server closed"));
        assert_eq!(rows[0].errno, "EMFILE");
        assert!(rows[0].meaning.contains("RLIMIT_NOFILE"));
        assert_eq!(rows[1].meaning, "the server closed");
    }
}
