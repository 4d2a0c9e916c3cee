//! JSON lines: each line one object with a `type` (the README's output contract).

use c10m_report::output::json_line;

use super::{Line, Record};
use crate::output::PlanLine;

pub fn emit(line: Line<'_>) {
    let record = match line {
        Line::Plan(p) => Record::Plan(PlanLine::from(p)),
        Line::Tick(t) => Record::Tick(t),
        Line::Failure(f) => Record::Failure(f),
        Line::Summary(s) => Record::Summary(s),
        Line::RequestsStart(s, _) => Record::RequestsStart(s),
        Line::RequestsTick(t) => Record::RequestsTick(t),
        Line::RequestsSummary(s) => Record::RequestsSummary(s),
    };
    json_line(&record);
}
