//! The output pipeline: what a binary measured, rendered in every format asked for.
//!
//! A binary's loops fill plain records (serde structs: a tick, a summary, ...) and hand each to
//! [`Output::emit`] wrapped in the binary's own [`Line`], which says what the record is called,
//! whether it is live (ticks, milestones: `--quiet` drops them), how it reads as JSON and as text
//! for people, which [`Line::figures`] a live format keeps, and whether it is the run's last
//! ([`Line::is_last`]: the summary, which the dashboard waits on). Every format is one module behind
//! the one [`Format`] trait, built from the same flags ([`OutputArgs`]) in both binaries:
//!
//! - [`text`]: lines for people, on stdout (first lines, summaries) or stderr (live lines);
//! - [`json`]: `--json`, one object per line with its `type` (the README's output contract);
//! - [`prometheus`]: `--metrics IP:PORT`, the latest figures as a page, on a thread of its own;
//! - [`dashboard`]: `--dashboard IP:PORT` and `--report FILE.html`, the run as a web page.
//!
//! A new format is one module here, one variant in [`Bound::start`] and one flag in
//! [`OutputArgs`]; neither binary changes. Output goes out a line at a time and is flushed at
//! once, so a script reading a pipe sees each tick when it happens.
//!
//! # Bound first, started after
//! The pages listen in [`Output::bind`], which a binary calls before it forks or connects, so a
//! port in use, an address of another machine or a report that cannot be written is a
//! [`BindError`] (bad usage, exit 2) before any connection opens; their threads start in
//! [`Bound::start`], after any fork, so they live in the supervising process alone (a failure
//! there is a [`StartError`]: the machine's, exit 1).

pub mod dashboard;
pub mod json;
pub mod prometheus;
pub mod record;
pub mod text;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::dashboard::BoxedWatch;
use crate::http;
use crate::metrics::Snapshot;
use crate::page_error::{BindError, Page, StartError};

pub use record::{map_secs3, opt_secs3, secs3};

/// The output flags, the same on both binaries.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct OutputArgs {
    /// JSON lines on stdout, one object per line with a `type` (the README's output contract);
    /// the summary is the last line.
    #[arg(long)]
    pub json: bool,

    /// No live lines: only the first lines and the summary.
    #[arg(long)]
    pub quiet: bool,

    /// Serve Prometheus metrics at http://IP:PORT/metrics from a thread of its own (port 0 picks
    /// a free one, which stderr names).
    #[arg(long, value_name = "IP:PORT")]
    pub metrics: Option<SocketAddr>,

    /// Serve a live dashboard at http://IP:PORT/ from a thread of its own: connections over
    /// time, every limit --check computes as a live gauge, memory per connection, failures, the
    /// summary (port 0 picks a free one; the URL is printed on stderr with the first lines).
    #[arg(long, value_name = "IP:PORT")]
    pub dashboard: Option<SocketAddr>,

    /// When the run ends, write it as one self-contained HTML file (the dashboard with the whole
    /// run's time series and summary inline; it opens without a network).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,

    /// The most clients --metrics and --dashboard each serve at once: a newcomer past that takes
    /// the place of the one idle longest, or gets a 503 when all are busy answering (each takes
    /// 72 KiB of the dashboard's memory, written at start).
    #[arg(long, value_name = "N", default_value_t = http::DEFAULT_CLIENTS,
          value_parser = clients)]
    pub http_clients: usize,
}

/// `--http-clients`: 1 to 4096.
fn clients(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err(format!("{s} is not a number of clients from 1 to 4096")),
    }
}

impl Default for OutputArgs {
    fn default() -> OutputArgs {
        OutputArgs {
            json: false,
            quiet: false,
            metrics: None,
            dashboard: None,
            report: None,
            http_clients: http::DEFAULT_CLIENTS,
        }
    }
}

impl OutputArgs {
    /// Descriptors the pages may hold at once in the process that serves them: per page, its
    /// listener, `--http-clients` connections and a file its thread reads. A process that holds
    /// connections keeps these free, so that a page still answers (and its gauges still read the
    /// kernel) when the descriptor limit binds.
    pub fn page_descriptors(&self) -> u64 {
        let pages = u64::from(self.metrics.is_some()) + u64::from(self.dashboard.is_some());
        pages * (self.http_clients as u64 + 2)
    }
}

/// Where a line of text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// First lines, summaries: what a script or a person keeps.
    Stdout,
    /// Live lines and notices, so stdout stays clean for scripts.
    Stderr,
}

/// One record as people read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub stream: Stream,
    pub body: String,
}

impl Text {
    pub fn stdout(body: String) -> Text {
        Text {
            stream: Stream::Stdout,
            body,
        }
    }

    pub fn stderr(body: String) -> Text {
        Text {
            stream: Stream::Stderr,
            body,
        }
    }
}

/// One line of a binary's output: a record, and how each format shows it.
pub trait Line {
    /// What a live format keeps of the run: plain counters, copied without allocating.
    type Figures: Clone + Send + 'static;

    /// Ticks and milestones, which `--quiet` drops.
    fn is_live(&self) -> bool;

    /// The record as one JSON object, `type` first ([`record::typed`]).
    fn json(&self) -> String;

    /// The record for people; `None`: nothing to say in text.
    fn text(&self) -> Option<Text>;

    /// The run's figures as of this line (ticks); `None` for lines that change none.
    fn figures(&self) -> Option<&Self::Figures> {
        None
    }

    /// The run's last line (its summary): the dashboard marks the run ended, and writes
    /// `--report`, before this line's `emit` returns.
    fn is_last(&self) -> bool {
        false
    }
}

/// One output format.
pub trait Format<F: Clone + Send + 'static>: Send + Sync {
    fn emit(&self, line: &dyn Line<Figures = F>);
}

/// How the binary's figures read in the live formats.
pub struct Pages<F> {
    /// The Prometheus page of a run's figures.
    pub prometheus: fn(&F) -> Snapshot,
    /// What the dashboard and the report show.
    pub watch: BoxedWatch<F>,
}

/// Every format the flags asked for, fed the same lines. Cloning is cheap: the loops and the
/// supervisor each keep one.
pub struct Output<F: Clone + Send + 'static> {
    formats: Arc<Vec<Box<dyn Format<F>>>>,
}

impl<F: Clone + Send + 'static> Clone for Output<F> {
    fn clone(&self) -> Self {
        Output {
            formats: Arc::clone(&self.formats),
        }
    }
}

/// The formats `args` ask for, with their pages listening but not yet served.
pub struct Bound<F> {
    args: OutputArgs,
    prometheus: fn(&F) -> Snapshot,
    metrics: Option<http::Bound>,
    dashboard: Option<crate::dashboard::Bound<F>>,
}

impl<F: Clone + Send + 'static> Bound<F> {
    /// Starts the pages' threads, which show `initial` until the first tick and have rendered
    /// it (their memory taken before the run's) when this returns; `prog` names the binary in
    /// the notices that say where each page is.
    pub fn start(self, prog: &'static str, initial: &F) -> Result<Output<F>, StartError> {
        let mut formats: Vec<Box<dyn Format<F>>> = vec![Output::<F>::plain_format(&self.args)];
        if let Some(bound) = self.metrics {
            let clients = self.args.http_clients;
            let m = prometheus::Prometheus::start(bound, clients, self.prometheus, initial)?;
            notice(prog, &format!("metrics at http://{}/metrics", m.addr()));
            formats.push(Box::new(m));
        }
        if let Some(bound) = self.dashboard {
            let d = bound.start(prog, initial)?;
            if let Some(a) = d.addr {
                notice(prog, &format!("dashboard at http://{a}/"));
            }
            formats.push(Box::new(d));
        }
        Ok(Output {
            formats: Arc::new(formats),
        })
    }
}

impl<F: Clone + Send + 'static> Output<F> {
    /// Listens where `args` ask (and takes the dashboard's kernel baseline), before the binary
    /// forks or opens a connection.
    pub fn bind(args: &OutputArgs, pages: Pages<F>) -> Result<Bound<F>, BindError> {
        let metrics = match args.metrics {
            Some(addr) => Some(http::Bound::bind(addr).map_err(|error| BindError::Listen {
                page: Page::Metrics,
                addr,
                error,
            })?),
            None => None,
        };
        let dashboard = if args.dashboard.is_some() || args.report.is_some() {
            Some(crate::dashboard::Bound::bind(
                args.dashboard,
                args.report.clone(),
                args.http_clients,
                pages.watch,
            )?)
        } else {
            None
        };
        Ok(Bound {
            args: args.clone(),
            prometheus: pages.prometheus,
            metrics,
            dashboard,
        })
    }

    fn plain_format(args: &OutputArgs) -> Box<dyn Format<F>> {
        let quiet = args.quiet;
        if args.json {
            Box::new(json::JsonLines { quiet })
        } else {
            Box::new(text::Plain { quiet })
        }
    }

    pub fn emit(&self, line: &dyn Line<Figures = F>) {
        for f in self.formats.iter() {
            f.emit(line);
        }
    }
}

/// `PROG: MSG` on stderr: where a page of the run is served.
fn notice(prog: &str, msg: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{prog}: {msg}");
}

/// Writes one line to stdout and flushes it.
pub fn stdout_line(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}
