//! Exporters: each output record rendered for scripts (JSON lines) or for people (text).
//!
//! The event loop and the supervisor call one function here per record of [`crate::output`];
//! [`Exporter`] applies `--json` and `--quiet`. With `--json` every stdout line after the first
//! is one object with a `type` (the README's output contract); as text, the start lines and the
//! summary go to stdout and live lines and milestones to stderr ([`text`]), so stdout stays
//! clean for scripts that read the listening line. `--quiet` drops live lines and milestones.

pub mod text;

use serde::Serialize;

pub use c10m_report::output::Exporter;
use c10m_report::output::{json_line, stdout_line, Render, Typed};

use crate::output::{Milestone, Start, StartWorkers, Summary, Tick, WorkerExit};

/// One record with its JSON `type` and its text renderer.
#[derive(Clone, Copy)]
struct Rec<'a, T: Serialize> {
    kind: &'static str,
    live: bool,
    record: &'a T,
    text: fn(&T),
}

impl<T: Serialize> Render for Rec<'_, T> {
    fn is_live(&self) -> bool {
        self.live
    }

    fn json(&self) {
        json_line(&Typed {
            kind: self.kind,
            record: self.record,
        });
    }

    fn text(&self) {
        (self.text)(self.record);
    }
}

/// The first stdout line in every format: scripts wait for it to learn the port.
fn listening(listen: std::net::SocketAddr) {
    stdout_line(&format!("listening on {listen}"));
}

pub fn start(out: Exporter, s: &Start) {
    listening(s.listen);
    out.emit(Rec {
        kind: "start",
        live: false,
        record: s,
        text: text::start,
    });
}

pub fn start_workers(out: Exporter, s: &StartWorkers) {
    listening(s.listen);
    out.emit(Rec {
        kind: "start",
        live: false,
        record: s,
        text: text::start_workers,
    });
}

pub fn tick(out: Exporter, t: &Tick) {
    out.emit(Rec {
        kind: "tick",
        live: true,
        record: t,
        text: text::tick,
    });
}

pub fn milestone(out: Exporter, m: &Milestone) {
    out.emit(Rec {
        kind: "milestone",
        live: true,
        record: m,
        text: text::milestone,
    });
}

/// A worker that dies is news for the person watching: on stderr in every format.
pub fn worker_exit(out: Exporter, w: &WorkerExit) {
    out.emit(Rec {
        kind: "worker_exit",
        live: false,
        record: w,
        text: |_| {},
    });
    text::worker_exit(w);
}

pub fn summary(out: Exporter, s: &Summary) {
    out.emit(Rec {
        kind: "summary",
        live: false,
        record: s,
        text: text::summary,
    });
}

/// `c10m-server: warning: MSG` on stderr, whatever the format.
pub fn warn(msg: &str) {
    c10m_report::output::warn("c10m-server", msg);
}
