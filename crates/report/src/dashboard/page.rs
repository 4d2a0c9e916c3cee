//! The page, for both binaries: markup, style and script of our own (page/), and uPlot for the
//! charts (vendor/uplot/, its licence beside it), all compiled into the binary, so neither the
//! live page nor a report loads anything from the network.
//!
//! The live page reads `/api/state` and `/api/series` ([`super::serve`]) once a second (or every
//! `?every=MS`, at least 100). A report is the same page with the run's state and every row
//! inline where the live page has `null`.

use std::io::{self, Write};

/// The live page.
pub(super) const LIVE: &str = concat!(
    include_str!("page/top.html"),
    include_str!("vendor/uplot/uPlot.min.css"),
    "</style>\n",
    include_str!("page/body.html"),
    "<script>",
    include_str!("vendor/uplot/uPlot.iife.min.js"),
    "</script>\n<script>window.C10M_REPORT = null;</script>\n<script>",
    include_str!("page/app.js"),
    "</script>\n</body>\n</html>\n"
);

/// Where the live page has its `null`.
const DATA: &str = "window.C10M_REPORT = null;";

/// A report: the page with `state` and the rows `series` writes inline.
pub(super) fn write_report(
    w: &mut dyn Write,
    state: &[u8],
    series: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let at = LIVE.find(DATA).unwrap_or(LIVE.len());
    w.write_all(&LIVE.as_bytes()[..at])?;
    w.write_all(b"window.C10M_REPORT = {\"state\": ")?;
    let mut safe = ScriptSafe(w);
    safe.write_all(state)?;
    safe.0.write_all(b", \"series\": ")?;
    series(&mut safe)?;
    safe.0.write_all(b"};")?;
    w.write_all(&LIVE.as_bytes()[(at + DATA.len()).min(LIVE.len())..])
}

/// JSON inside a `<script>`: every `<` (which JSON has only inside strings) as `\u003c`, so no
/// text of a record can close the script.
struct ScriptSafe<'a>(&'a mut dyn Write);

impl Write for ScriptSafe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for part in buf.split_inclusive(|b| *b == b'<') {
            match part.split_last() {
                Some((b'<', head)) => {
                    self.0.write_all(head)?;
                    self.0.write_all(b"\\u003c")?;
                }
                _ => self.0.write_all(part)?,
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_has_its_data_inline_and_nothing_from_the_network() {
        assert_eq!(LIVE.matches(DATA).count(), 1);
        let mut out = Vec::new();
        write_report(&mut out, br#"{"records":["</script>"]}"#, |w| {
            w.write_all(b"{\"rows\":[]}")
        })
        .unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(html.contains(r#"window.C10M_REPORT = {"state": {"records":["\u003c/script>"]}, "series": {"rows":[]}};"#));
        for remote in ["http://", "https://", "//cdn"] {
            let outside_licence = html.replace("https://github.com/leeoniya/uPlot", "");
            assert!(
                !outside_licence.contains(&format!("src=\"{remote}")),
                "{remote}"
            );
            assert!(
                !outside_licence.contains(&format!("href=\"{remote}")),
                "{remote}"
            );
        }
    }
}
