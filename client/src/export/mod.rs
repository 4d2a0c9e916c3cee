//! Exporters: one renderer per output format, over the same records.
//!
//! A loop hands a [`Line`] to an [`Exporter`]; the exporter picks the format: [`text`] for
//! people (live lines on stderr, the plan and the summary on stdout), [`json`] for scripts (every
//! line one JSON object on stdout). `--quiet` drops the live lines in both. A new format is one
//! more module here and one more method of [`Render`].

pub mod json;
pub mod text;

pub use c10m_report::output::Exporter;
use c10m_report::output::Render;

use crate::output::{
    Failure, PlanLine, RequestsStart, RequestsSummary, RequestsTick, Summary, Tick,
};
use crate::plan::Plan;

/// One line of output.
#[derive(Debug, Clone, Copy)]
pub enum Line<'a> {
    Plan(&'a Plan),
    Tick(&'a Tick),
    Failure(&'a Failure),
    Summary(&'a Summary),
    RequestsStart(&'a RequestsStart, &'a Plan),
    RequestsTick(&'a RequestsTick),
    RequestsSummary(&'a RequestsSummary),
}

/// The JSON form of a line: the record with its `type` first.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record<'a> {
    Plan(PlanLine),
    Tick(&'a Tick),
    Failure(&'a Failure),
    Summary(&'a Summary),
    #[serde(rename = "start")]
    RequestsStart(&'a RequestsStart),
    #[serde(rename = "tick")]
    RequestsTick(&'a RequestsTick),
    #[serde(rename = "summary")]
    RequestsSummary(&'a RequestsSummary),
}

impl Render for Line<'_> {
    fn is_live(&self) -> bool {
        matches!(self, Line::Tick(_) | Line::RequestsTick(_))
    }

    fn json(&self) {
        json::emit(*self);
    }

    fn text(&self) {
        text::emit(*self);
    }
}

/// `c10m-client: warning: MSG` on stderr, whatever the format.
pub fn warn(msg: &str) {
    c10m_report::output::warn("c10m-client", msg);
}
