//! The output pipeline: what a binary measured, rendered in every format asked for.
//!
//! A binary's loops fill plain records (serde structs: a tick, a summary, ...) and hand each to
//! [`Output::emit`] wrapped in the binary's own [`Line`], which says what the record is called,
//! whether it is live (ticks, milestones: `--quiet` drops them), how it reads as JSON and as text
//! for people, and which [`Line::figures`] a live format keeps. Every format is one module behind
//! the one [`Format`] trait, built from the same flags ([`OutputArgs`]) in both binaries:
//!
//! - [`text`]: lines for people, on stdout (first lines, summaries) or stderr (live lines);
//! - [`json`]: `--json`, one object per line with its `type` (the README's output contract);
//! - [`prometheus`]: `--metrics IP:PORT`, the latest figures as a page, on a thread of its own.
//!
//! A new format is one module here, one variant in [`Output::start`] and one flag in
//! [`OutputArgs`]; neither binary changes. Output goes out a line at a time and is flushed at
//! once, so a script reading a pipe sees each tick when it happens.

pub mod json;
pub mod prometheus;
pub mod record;
pub mod text;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::metrics::{BindError, Snapshot};

pub use record::{map_secs3, opt_secs3, secs3};

/// The output flags, the same on both binaries.
#[derive(clap::Args, Debug, Clone, Copy, Default, PartialEq, Eq)]
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
}

/// One output format.
pub trait Format<F: Clone + Send + 'static>: Send + Sync {
    fn emit(&self, line: &dyn Line<Figures = F>);
}

/// How the binary's figures read in the live formats.
pub struct Pages<F> {
    /// The Prometheus page of a run's figures.
    pub prometheus: fn(&F) -> Snapshot,
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

impl<F: Clone + Send + 'static> Output<F> {
    /// The formats `args` ask for. Servers of the live formats start here, listening at once, so
    /// a bad address is an error before any connection opens; until the first line with figures
    /// they show `initial`. `prog` names the binary in the notice that says where each one is.
    pub fn start(
        args: &OutputArgs,
        prog: &str,
        pages: Pages<F>,
        initial: &F,
    ) -> Result<Output<F>, BindError> {
        let mut formats: Vec<Box<dyn Format<F>>> = Vec::new();
        let quiet = args.quiet;
        if args.json {
            formats.push(Box::new(json::JsonLines { quiet }));
        } else {
            formats.push(Box::new(text::Plain { quiet }));
        }
        if let Some(addr) = args.metrics {
            let m = prometheus::Prometheus::start(addr, pages.prometheus, initial)?;
            notice(prog, &format!("metrics at http://{}/metrics", m.addr()));
            formats.push(Box::new(m));
        }
        Ok(Output {
            formats: Arc::new(formats),
        })
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
