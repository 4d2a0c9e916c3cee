//! What the server says: its records ([`records`], the README's output contract), and each as a
//! [`Line`] of the shared output pipeline ([`c10m_report::output`]): its JSON `type`, its text
//! ([`text`]) and the figures its live formats keep ([`metrics`]).
//!
//! Every format's first stdout line is `listening on IP:PORT` ([`listening`]): scripts wait for
//! it to learn the port, before any record.

mod dashboard;
pub(crate) mod metrics;
pub mod records;
mod text;

use std::net::SocketAddr;

use crate::cli::Config;

use c10m_report::output::record::typed;
use c10m_report::output::{self as pipeline, stdout_line, Pages, Text};

pub use metrics::Figures;
pub(crate) use records::SummaryInput;
pub use records::{Milestone, Start, StartWorkers, Summary, Tick, WorkerExit};

/// The server's output: every format its flags ask for.
pub(crate) type Output = pipeline::Output<Figures>;
/// The same, its pages listening, not yet started.
pub(crate) type Bound = pipeline::Bound<Figures>;

/// The name the notices give.
pub(crate) const PROG: &str = "c10m-server";

/// How the server's figures read in the live formats, for `config` served by `workers`.
pub(crate) fn pages(config: &Config, workers: u64) -> Pages<Figures> {
    Pages {
        prometheus: metrics::page,
        watch: Box::new(dashboard::ServerWatch::new(config, workers)),
    }
}

/// The first stdout line in every format.
pub(crate) fn listening(listen: SocketAddr) {
    stdout_line(&format!("listening on {listen}"));
}

/// What the person watching is told when a worker dies.
pub(crate) fn worker_exit_warning(w: &WorkerExit) -> String {
    text::worker_exit(w)
}

/// One line of the server's output.
#[derive(Clone, Copy)]
pub(crate) enum Line<'a> {
    /// One process serves.
    Start(&'a Start),
    StartWorkers(&'a StartWorkers),
    Tick {
        tick: &'a Tick,
        figures: &'a Figures,
    },
    Milestone(&'a Milestone),
    /// A worker that died: a record for scripts; for the person watching, a warning on stderr in
    /// every format ([`worker_exit_warning`]).
    WorkerExit(&'a WorkerExit),
    Summary(&'a Summary),
}

impl pipeline::Line for Line<'_> {
    type Figures = Figures;

    fn is_live(&self) -> bool {
        matches!(self, Line::Tick { .. } | Line::Milestone(_))
    }

    fn json(&self) -> String {
        match *self {
            Line::Start(start) => typed("start", start),
            Line::StartWorkers(start) => typed("start", start),
            Line::Tick { tick, .. } => typed("tick", tick),
            Line::Milestone(m) => typed("milestone", m),
            Line::WorkerExit(w) => typed("worker_exit", w),
            Line::Summary(s) => typed("summary", s),
        }
    }

    fn text(&self) -> Option<Text> {
        Some(match *self {
            Line::WorkerExit(_) => return None,
            Line::Start(start) => Text::stdout(text::start(start)),
            Line::StartWorkers(start) => Text::stdout(text::start_workers(start)),
            Line::Tick { tick, .. } => Text::stderr(text::tick(tick)),
            Line::Milestone(m) => Text::stderr(text::milestone(m)),
            Line::Summary(s) => Text::stdout(text::summary(s)),
        })
    }

    fn is_last(&self) -> bool {
        matches!(self, Line::Summary(_))
    }

    fn figures(&self) -> Option<&Figures> {
        match *self {
            Line::Tick { figures, .. } => Some(figures),
            Line::Start(_)
            | Line::StartWorkers(_)
            | Line::Milestone(_)
            | Line::WorkerExit(_)
            | Line::Summary(_) => None,
        }
    }
}
