//! Text for people: each record's own words, on stdout or stderr as the record says.

use std::io::Write;

use super::{stdout_line, Format, Line, Stream};

/// The default format.
pub(crate) struct Plain {
    pub(crate) quiet: bool,
}

impl<F: Clone + Send + 'static> Format<F> for Plain {
    fn emit(&self, line: &dyn Line<Figures = F>) {
        if self.quiet && line.is_live() {
            return;
        }
        let Some(t) = line.text() else { return };
        match t.stream {
            Stream::Stdout => stdout_line(&t.body),
            Stream::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "{}", t.body);
            }
        }
    }
}
