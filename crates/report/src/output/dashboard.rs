//! `--dashboard IP:PORT` and `--report FILE.html`: the run as a web page, live and when it ends
//! (see [`crate::dashboard`]).
//!
//! On the loop's side this format does what `--metrics` does: it copies the figures of a tick
//! into a slot. A record that is not live goes to the dashboard's thread as its JSON line, over
//! a bounded queue. The summary waits for the thread: until the page shows it and the report is
//! written.

use std::time::{Duration, Instant};

use super::{Format, Line};
use crate::dashboard::{Dashboard, Done, Record, FIRST_WAIT, REPORT_WAIT};
use crate::metrics::warm_up;

impl<F: Clone + Send + 'static> Format<F> for Dashboard<F> {
    fn emit(&self, line: &dyn Line<Figures = F>) {
        if let Some(f) = line.figures() {
            self.latest.set(f);
        }
        if line.is_live() {
            return;
        }
        let json = line.json();
        if line.is_last() {
            // It waits for room in the queue, then for the page and the report.
            self.server.wake();
            if self.records.send(Record { json, last: true }).is_ok() {
                self.server.wake();
                self.wait_for(Done::Summary, REPORT_WAIT);
            }
            return;
        }
        if self.records.try_send(Record { json, last: false }).is_err() {
            log::debug!("dashboard: its record queue is full; a record is left out of the page");
            return;
        }
        self.server.wake();
    }
}

impl<F> Dashboard<F> {
    /// Waits for the thread's first sample (of the initial figures), then fetches each of the
    /// page's paths again and again: all of it before the binaries take their memory baseline.
    pub(crate) fn warm_up(&self) {
        self.server.wake();
        self.wait_for(Done::FirstSample, FIRST_WAIT);
        if let Some(addr) = self.addr {
            for path in ["/", "/api/state", "/api/series?gen=0&from=0"] {
                warm_up(addr, path);
            }
        }
    }

    /// Waits up to `limit` for the thread to say `what` (older words are dropped).
    fn wait_for(&self, what: Done, limit: Duration) {
        let Ok(done) = self.done.lock() else { return };
        let until = Instant::now() + limit;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match done.recv_timeout(left) {
                Ok(d) if d == what => return,
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }
}
