//! What the client says: its records ([`records`], the README's output contract), and each as a
//! [`Line`] of the shared output pipeline ([`c10m_report::output`]): its JSON `type`, its text
//! ([`text`]) and the figures its live formats keep ([`metrics`]).

mod dashboard;
pub(crate) mod metrics;
pub mod records;
mod text;

use c10m_report::output::record::typed;
use c10m_report::output::{self as pipeline, Pages, Text};

pub use metrics::Figures;
pub use records::{
    Failure, PlanLine, RequestsStart, RequestsSummary, RequestsTick, Step, Summary, Tick,
};
pub(crate) use records::{SummaryInput, TickInput};

use crate::config::Options;
use crate::plan::Plan;

/// The client's output: every format its flags ask for.
pub(crate) type Output = pipeline::Output<Figures>;
/// The same, its pages listening, not yet started.
pub(crate) type Bound = pipeline::Bound<Figures>;

/// The name the notices give.
pub(crate) const PROG: &str = "c10m-client";

/// How the client's figures read in the live formats, for `plan` run with `opts`.
pub(crate) fn pages(plan: &Plan, opts: &Options) -> Pages<Figures> {
    Pages {
        prometheus: metrics::page,
        watch: Box::new(dashboard::ClientWatch::new(plan, opts)),
    }
}

/// One line of the client's output.
#[derive(Clone, Copy)]
pub(crate) enum Line<'a> {
    /// What the run will do.
    Plan(&'a Plan),
    Tick {
        tick: &'a Tick,
        figures: &'a Figures,
    },
    Failure(&'a Failure),
    Step(&'a Step),
    Summary(&'a Summary),
    RequestsStart {
        start: &'a RequestsStart,
        plan: &'a Plan,
    },
    RequestsTick {
        tick: &'a RequestsTick,
        figures: &'a Figures,
    },
    RequestsSummary(&'a RequestsSummary),
}

impl pipeline::Line for Line<'_> {
    type Figures = Figures;

    fn is_live(&self) -> bool {
        matches!(self, Line::Tick { .. } | Line::RequestsTick { .. })
    }

    fn json(&self) -> String {
        match *self {
            Line::Plan(plan) => typed("plan", &PlanLine::from(plan)),
            Line::Tick { tick, .. } => typed("tick", tick),
            Line::Failure(f) => typed("failure", f),
            Line::Step(s) => typed("step", s),
            Line::Summary(s) => typed("summary", s),
            Line::RequestsStart { start, .. } => typed("start", start),
            Line::RequestsTick { tick, .. } => typed("tick", tick),
            Line::RequestsSummary(s) => typed("summary", s),
        }
    }

    fn text(&self) -> Option<Text> {
        Some(match *self {
            Line::Plan(plan) => Text::stdout(text::plan(plan)),
            Line::Tick { tick, .. } => Text::stderr(text::tick(tick)),
            Line::Failure(f) => Text::stderr(text::failure(f)),
            Line::Step(s) => Text::stdout(text::step(s)),
            Line::Summary(s) => Text::stdout(text::summary(s)),
            Line::RequestsStart { start, plan, .. } => {
                Text::stdout(text::requests_start(start, plan))
            }
            Line::RequestsTick { tick, .. } => Text::stderr(text::requests_tick(tick)),
            Line::RequestsSummary(s) => Text::stdout(text::requests_summary(s)),
        })
    }

    fn is_last(&self) -> bool {
        matches!(self, Line::Summary(_) | Line::RequestsSummary(_))
    }

    fn figures(&self) -> Option<&Figures> {
        match *self {
            Line::Tick { figures, .. } | Line::RequestsTick { figures, .. } => Some(figures),
            Line::Plan(_)
            | Line::RequestsStart { .. }
            | Line::Failure(_)
            | Line::Step(_)
            | Line::Summary(_)
            | Line::RequestsSummary(_) => None,
        }
    }
}
