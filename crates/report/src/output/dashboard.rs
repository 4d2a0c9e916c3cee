//! `--dashboard IP:PORT` and `--report FILE.html`: the run as a web page, live and when it ends
//! (see [`crate::dashboard`]).
//!
//! On the loop's side this format does what `--metrics` does: it copies the figures of a tick
//! into a slot. A record that is not live goes to the dashboard's thread as its JSON line, over
//! a bounded queue. Two lines wait for the thread: the first that carries figures (until the
//! first sample is taken and the page rendered and fetched, all before the binaries take their
//! memory baseline) and the summary (until the page shows it and the report is written).

use std::sync::atomic::Ordering;

use super::{Format, Line};
use crate::dashboard::{Dashboard, FIRST_WAIT, REPORT_WAIT};
use crate::metrics::warm_up;

impl<F: Clone + Send + 'static> Format<F> for Dashboard<F> {
    fn emit(&self, line: &dyn Line<Figures = F>) {
        if let Some(f) = line.figures() {
            self.latest.set(f);
            if !self.warmed.swap(true, Ordering::Relaxed) {
                self.server.wake();
                if let Ok(done) = self.done.lock() {
                    let _ = done.recv_timeout(FIRST_WAIT);
                }
                if let Some(addr) = self.addr {
                    for path in ["/", "/api/state", "/api/series?gen=0&from=0"] {
                        warm_up(addr, path);
                    }
                }
            }
        }
        if line.is_live() {
            return;
        }
        let json = line.json();
        let summary = json.starts_with(r#"{"type":"summary""#);
        if self.records.try_send(json).is_err() {
            log::debug!("dashboard: its record queue is full; a record is left out of the page");
            return;
        }
        self.server.wake();
        if summary {
            if let Ok(done) = self.done.lock() {
                let _ = done.recv_timeout(REPORT_WAIT);
            }
        }
    }
}
