//! `--json`: every record one JSON object on its own stdout line, `type` first.

use super::{stdout_line, Format, Line};

pub(crate) struct JsonLines {
    pub(crate) quiet: bool,
}

impl<F: Clone + Send + 'static> Format<F> for JsonLines {
    fn emit(&self, line: &dyn Line<Figures = F>) {
        if self.quiet && line.is_live() {
            return;
        }
        stdout_line(&line.json());
    }
}
