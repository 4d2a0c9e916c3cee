//! The dashboard's thread: it samples the figures the loop leaves, keeps the rows and the
//! records, renders what the page reads, and answers it.
//!
//! The page reads three things:
//! - `GET /`: the page itself ([`super::page`]), with the chart library inline;
//! - `GET /api/state`: one JSON object, rendered once per sample into a buffer written at start:
//!   `prog`, `t` (seconds since start), `ended`, `generation`, `rows`, `stride`, `series` (what
//!   each column of a row is), `panels` ([`super::Panels`]) and `records` (the binary's JSON
//!   lines that are not live, as `--json` prints them: the first lines, failures, worker exits,
//!   the summary);
//! - `GET /api/series?gen=G&from=K`: the rows from row K on (all of them when G is not the
//!   table's generation any more), `{"generation", "stride", "from", "rows": [[t, v1, ...], ...],
//!   "stale"}`, streamed a buffer at a time.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::history::History;
use super::{page, part_path, BoxedWatch, Done, Record, RECORDS_MAX};
use crate::http::{touched, Answer, Body, Handler};
use crate::metrics::Latest;

/// How often the thread looks for new figures and records.
const LOOK_EVERY: Duration = Duration::from_millis(100);
/// The state the page reads must fit in here (and in a slot's buffer).
const STATE_BUF: usize = 60 * 1024;
/// Samples taken and dropped before the first answer (see [`Board::warm_up`]).
const WARM_SAMPLES: usize = 24;
/// A row's JSON is at most this long (numbers of at most ~24 characters each).
const ROW_MAX: usize = 32 * 26;

/// What the thread starts with.
pub(super) struct Setup<F> {
    pub prog: &'static str,
    pub watch: BoxedWatch<F>,
    pub latest: Latest<F>,
    pub records: mpsc::Receiver<Record>,
    pub done: mpsc::SyncSender<Done>,
    pub report: Option<PathBuf>,
    pub epoch: Instant,
}

pub(super) struct Board<F> {
    s: Setup<F>,
    seen: u64,
    prev: Option<(F, Instant)>,
    history: History,
    row: Vec<f64>,
    records: Vec<String>,
    panels: Vec<u8>,
    state: Vec<u8>,
    t: f64,
    ended: bool,
}

impl<F: Clone + Send + 'static> Board<F> {
    pub(super) fn new(s: Setup<F>) -> Board<F> {
        let n = s.watch.series().len();
        Board {
            history: History::new(n),
            row: vec![0.0; n],
            records: Vec::with_capacity(RECORDS_MAX),
            panels: touched(STATE_BUF / 2),
            state: touched(STATE_BUF),
            seen: 0,
            prev: None,
            t: 0.0,
            ended: false,
            s,
        }
    }

    /// New records and figures: kept, sampled, rendered; the last record ends the run.
    fn step(&mut self) {
        let mut changed = false;
        let mut summary = false;
        while let Ok(r) = self.s.records.try_recv() {
            summary |= r.last;
            if self.records.len() < RECORDS_MAX {
                self.records.push(r.json);
            } else if r.last {
                // The summary always has a place: it takes the last one.
                if let Some(last) = self.records.last_mut() {
                    *last = r.json;
                }
            }
            changed = true;
        }
        if let Some((f, at, seq)) = self.s.latest.newer_than(self.seen) {
            let first = self.prev.is_none();
            self.seen = seq;
            self.sample(&f, at);
            if first {
                self.warm_up(&f);
                let _ = self.s.done.try_send(Done::FirstSample);
            }
            self.prev = Some((f, at));
            changed = true;
        }
        if summary && !self.ended {
            self.ended = true;
            self.t = self.s.epoch.elapsed().as_secs_f64();
        }
        if changed {
            self.render_state();
        }
        if summary {
            if let Some(path) = self.s.report.clone() {
                match self.write_report(&path) {
                    Ok(()) => log::info!("report written to {}", path.display()),
                    Err(e) => log::error!(
                        "--report {}: cannot write it: {e}; check the folder's permissions and free space",
                        path.display()
                    ),
                }
            }
            let _ = self.s.done.try_send(Done::Summary);
        }
    }

    fn sample(&mut self, f: &F, at: Instant) {
        let prev = self
            .prev
            .as_ref()
            .map(|(p, pt)| (p, at.saturating_duration_since(*pt).as_secs_f64()));
        self.row.iter_mut().for_each(|v| *v = f64::NAN);
        let panels = self.s.watch.sample(f, prev, &mut self.row);
        self.t = at.saturating_duration_since(self.s.epoch).as_secs_f64();
        self.history.push(self.t, &self.row);
        self.panels.clear();
        if serde_json::to_writer(&mut self.panels, &panels).is_err() {
            self.panels.clear();
            self.panels.extend_from_slice(b"null");
        }
    }

    /// Samples the first figures again and again (kept nowhere): the kernel reads and the
    /// rendering make their allocations now, until this thread's malloc arena stops growing,
    /// before the binaries take their memory baseline.
    fn warm_up(&mut self, f: &F) {
        let mut scratch = vec![0.0; self.row.len()];
        let mut panels = Vec::with_capacity(STATE_BUF / 2);
        for _ in 0..WARM_SAMPLES {
            let p = self.s.watch.sample(f, Some((f, 1.0)), &mut scratch);
            panels.clear();
            let _ = serde_json::to_writer(&mut panels, &p);
        }
        self.render_state();
    }

    fn render_state(&mut self) {
        let mut w = std::mem::take(&mut self.state);
        w.clear();
        let _ = write!(
            w,
            r#"{{"prog":"{}","version":"{}","t":"#,
            self.s.prog,
            env!("CARGO_PKG_VERSION")
        );
        number(&mut w, self.t);
        let _ = write!(
            w,
            r#","ended":{},"generation":{},"rows":{},"stride":{},"series":"#,
            self.ended,
            self.history.generation,
            self.history.len(),
            self.history.stride()
        );
        let _ = serde_json::to_writer(&mut w, self.s.watch.series());
        w.extend_from_slice(br#","panels":"#);
        if self.panels.is_empty() {
            w.extend_from_slice(b"null");
        } else {
            w.extend_from_slice(&self.panels);
        }
        w.extend_from_slice(br#","records":["#);
        for (k, r) in self.records.iter().enumerate() {
            if w.len() + r.len() + 4 > STATE_BUF {
                break;
            }
            if k > 0 {
                w.push(b',');
            }
            w.extend_from_slice(r.as_bytes());
        }
        w.extend_from_slice(b"]}");
        self.state = w;
    }

    fn write_report(&self, path: &std::path::Path) -> std::io::Result<()> {
        let tmp = part_path(path);
        {
            let file = std::fs::File::create(&tmp)?;
            let mut w = std::io::BufWriter::new(file);
            page::write_report(&mut w, &self.state, |w| self.write_series(w))?;
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }

    /// Every row, as `/api/series?from=0` gives them.
    fn write_series(&self, w: &mut dyn Write) -> std::io::Result<()> {
        write!(
            w,
            r#"{{"generation":{},"stride":{},"from":0,"rows":["#,
            self.history.generation,
            self.history.stride()
        )?;
        let mut buf = Vec::with_capacity(ROW_MAX);
        for k in 0..self.history.len() {
            buf.clear();
            if k > 0 {
                buf.push(b',');
            }
            row_json(&mut buf, self.history.row(k));
            w.write_all(&buf)?;
        }
        w.write_all(br#"],"stale":false}"#)
    }
}

/// A number as the output contract writes it: at most three decimals, whole numbers without a
/// fraction, NaN and infinities as `null`.
fn number(w: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        w.extend_from_slice(b"null");
        return;
    }
    let r = (v * 1000.0).round() / 1000.0;
    let _ = if r.fract() == 0.0 && r.abs() < 9.0e15 {
        write!(w, "{}", r as i64)
    } else {
        write!(w, "{r}")
    };
}

fn row_json(w: &mut Vec<u8>, row: &[f64]) {
    w.push(b'[');
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            w.push(b',');
        }
        number(w, *v);
    }
    w.push(b']');
}

/// A stream's cursor: the generation it began in, the row it ends before, the next row, and
/// whether its opening was written, packed into the u64 the HTTP server keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    generation: u16,
    end: u32,
    pos: u32,
    started: bool,
}

impl Cursor {
    const MASK: u64 = (1 << 24) - 1;

    fn pack(self) -> u64 {
        (u64::from(self.started) << 63)
            | (u64::from(self.generation) << 48)
            | ((u64::from(self.end) & Self::MASK) << 24)
            | (u64::from(self.pos) & Self::MASK)
    }

    fn unpack(c: u64) -> Cursor {
        Cursor {
            started: c >> 63 == 1,
            generation: ((c >> 48) & 0x7fff) as u16,
            end: ((c >> 24) & Self::MASK) as u32,
            pos: (c & Self::MASK) as u32,
        }
    }
}

/// `gen` and `from` of a `/api/series` query.
fn series_query(path: &str) -> (Option<u64>, usize) {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let mut gen = None;
    let mut from = 0;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("gen", v)) => gen = v.parse().ok(),
            Some(("from", v)) => from = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    (gen, from)
}

impl<F: Clone + Send + 'static> Handler for Board<F> {
    const OUT_BUF: usize = 64 * 1024;

    fn answer(&mut self, path: &str, buf: &mut Vec<u8>) -> Answer {
        let route = path.split_once('?').map_or(path, |(p, _)| p);
        match route {
            "/" | "/index.html" => Answer {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: Body::Static(page::LIVE.as_bytes()),
            },
            "/api/state" => {
                buf.extend_from_slice(&self.state);
                Answer::buffered("application/json")
            }
            "/api/series" => {
                let (gen, from) = series_query(path);
                let g = self.history.generation;
                let from = if gen == Some(g) {
                    from.min(self.history.len())
                } else {
                    0
                };
                let c = Cursor {
                    generation: (g & 0x7fff) as u16,
                    end: self.history.len() as u32,
                    pos: from as u32,
                    started: false,
                };
                Answer {
                    status: 200,
                    content_type: "application/json",
                    body: Body::Stream(c.pack()),
                }
            }
            _ => {
                buf.extend_from_slice(b"c10m: the dashboard is at /\n");
                Answer {
                    status: 404,
                    ..Answer::buffered("text/plain; charset=utf-8")
                }
            }
        }
    }

    fn more(&mut self, cursor: &mut u64, buf: &mut Vec<u8>, room: usize) -> bool {
        let mut c = Cursor::unpack(*cursor);
        let limit = buf.len() + room;
        if !c.started {
            let _ = write!(
                buf,
                r#"{{"generation":{},"stride":{},"from":{},"rows":["#,
                c.generation,
                self.history.stride(),
                c.pos
            );
            c.started = true;
            c.end |= 1 << 23; // marks the first row: no comma before it
        }
        let first_mark = 1 << 23;
        let halved = u64::from(c.generation) != self.history.generation & 0x7fff;
        let end = (c.end & !first_mark) as usize;
        while !halved && (c.pos as usize) < end && buf.len() + ROW_MAX < limit {
            if c.end & first_mark == 0 {
                buf.push(b',');
            }
            c.end &= !first_mark;
            row_json(buf, self.history.row(c.pos as usize));
            c.pos += 1;
        }
        let done = halved || c.pos as usize >= end;
        if done {
            let _ = write!(buf, r#"],"stale":{halved}}}"#);
        }
        *cursor = c.pack();
        done
    }

    fn due(&mut self, now: Instant) -> Instant {
        self.step();
        now + LOOK_EVERY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_rows_and_cursors() {
        let mut w = Vec::new();
        row_json(&mut w, &[1.0, 0.12345, f64::NAN, -2.5, 63000.0]);
        assert_eq!(String::from_utf8(w).unwrap(), "[1,0.123,null,-2.5,63000]");
        let c = Cursor {
            generation: 3,
            end: 2400,
            pos: 17,
            started: true,
        };
        assert_eq!(Cursor::unpack(c.pack()), c);
        assert_eq!(series_query("/api/series?gen=2&from=40"), (Some(2), 40));
        assert_eq!(series_query("/api/series"), (None, 0));
    }

    use crate::dashboard::{Panels, Series, Watch};

    struct NoSeries;

    impl Watch<u64> for NoSeries {
        fn series(&self) -> &'static [Series] {
            &[]
        }

        fn begin(&mut self) {}

        fn sample(&mut self, _: &u64, _: Option<(&u64, f64)>, _: &mut [f64]) -> Panels {
            Panels::default()
        }
    }

    #[test]
    fn the_last_record_ends_the_run_and_takes_a_place_in_a_full_list() {
        let (tx, rx) = mpsc::sync_channel(RECORDS_MAX + 1);
        let (done_tx, done_rx) = mpsc::sync_channel(2);
        let mut board = Board::new(Setup {
            prog: "test",
            watch: Box::new(NoSeries),
            latest: Latest::new(),
            records: rx,
            done: done_tx,
            report: None,
            epoch: Instant::now(),
        });
        for k in 0..RECORDS_MAX {
            let json = format!(r#"{{"type":"summary","k":{k}}}"#);
            tx.send(Record { json, last: false }).unwrap();
        }
        board.step();
        assert!(
            !board.ended,
            "a record is the last because its line says so, not its text"
        );
        let json = r#"{"type":"end"}"#.to_string();
        tx.send(Record { json, last: true }).unwrap();
        board.step();
        assert!(board.ended);
        assert_eq!(done_rx.try_recv(), Ok(Done::Summary));
        assert_eq!(board.records.len(), RECORDS_MAX);
        assert_eq!(board.records.last().unwrap(), r#"{"type":"end"}"#);
    }
}
