//! What both binaries share about output: the flags, and how a line reaches stdout.
//!
//! Each binary has an `export` module with one renderer per format (text, JSON lines); this
//! module holds what those renderers have in common. Output goes out a line at a time and is
//! flushed at once, so a script reading a pipe sees each tick when it happens, not when a buffer
//! fills.

use std::io::{self, Write};

use serde::Serialize;

/// `--json` and `--quiet`, the same on both binaries.
#[derive(clap::Args, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputArgs {
    /// JSON lines on stdout, one object per line with a `type` (the README's output contract);
    /// the summary is the last line.
    #[arg(long)]
    pub json: bool,

    /// No live lines: only the first lines and the summary.
    #[arg(long)]
    pub quiet: bool,
}

/// A line of output, as a binary's `export` module defines it: whether `--quiet` drops it, and
/// how it renders in each format.
pub trait Render {
    /// A live line (ticks, milestones), which `--quiet` drops.
    fn is_live(&self) -> bool;
    /// The JSON line.
    fn json(&self);
    /// The text for people (stdout or stderr, as the line calls for).
    fn text(&self);
}

/// Where and how lines are rendered: the output flags, applied to each [`Render`] line. A new
/// format is one more flag here and one more method of [`Render`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exporter(pub OutputArgs);

impl Exporter {
    pub fn emit(&self, line: impl Render) {
        if self.0.quiet && line.is_live() {
            return;
        }
        if self.0.json {
            line.json();
        } else {
            line.text();
        }
    }

    pub fn json(&self) -> bool {
        self.0.json
    }
}

/// A record with its `type` first: the shape of every `--json` line.
#[derive(Serialize)]
pub struct Typed<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub record: &'a T,
}

/// Writes one line to stdout and flushes it.
pub fn stdout_line(s: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

/// Writes `v` as one compact JSON line to stdout.
pub fn json_line<T: Serialize + ?Sized>(v: &T) {
    match serde_json::to_string(v) {
        Ok(s) => stdout_line(&s),
        Err(e) => log::error!("cannot render a JSON line: {e}"),
    }
}

/// `PROG: warning: MSG` on stderr.
pub fn warn(prog: &str, msg: &str) {
    eprintln!("{prog}: warning: {msg}");
}

/// At most three decimals; finite only.
fn round3(v: f64) -> Option<f64> {
    v.is_finite().then(|| {
        let r = (v * 1000.0).round() / 1000.0;
        if r == 0.0 {
            0.0
        } else {
            r
        }
    })
}

/// A float as the output contract writes it: at most three decimals, a whole number without a
/// fraction (`63000`, not `63000.0`, so scripts may read it as an integer), NaN as `null`.
fn write3<S: serde::Serializer>(v: Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v.and_then(round3) {
        Some(r) if r.fract() == 0.0 && r.abs() < 9.0e15 => s.serialize_i64(r as i64),
        Some(r) => s.serialize_f64(r),
        None => s.serialize_none(),
    }
}

/// `serialize_with` for an `f64` field (see [`write3`]).
pub fn secs3<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    write3(Some(*v), s)
}

/// `serialize_with` for a map of names to `f64` (see [`write3`]).
pub fn map_secs3<S: serde::Serializer>(
    m: &std::collections::BTreeMap<String, f64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    struct F(f64);
    impl Serialize for F {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            write3(Some(self.0), s)
        }
    }
    s.collect_map(m.iter().map(|(k, v)| (k, F(*v))))
}

/// `serialize_with` for an `Option<f64>` field (see [`write3`]).
pub fn opt_secs3<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    write3(*v, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct T {
        #[serde(serialize_with = "secs3")]
        a: f64,
        #[serde(serialize_with = "opt_secs3")]
        b: Option<f64>,
        #[serde(serialize_with = "secs3")]
        c: f64,
        #[serde(serialize_with = "secs3")]
        d: f64,
        #[serde(serialize_with = "secs3")]
        e: f64,
    }

    #[test]
    fn typed_puts_the_type_first() {
        #[derive(Serialize)]
        struct R {
            b: u64,
            a: Option<u64>,
        }
        let r = R { b: 2, a: None };
        let t = Typed {
            kind: "tick",
            record: &r,
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"type":"tick","b":2,"a":null}"#
        );
    }

    #[test]
    fn floats_have_three_decimals_and_no_nan() {
        let t = T {
            a: 0.2873,
            b: None,
            c: f64::NAN,
            d: -0.0001,
            e: 63000.0,
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"a":0.287,"b":null,"c":null,"d":0,"e":63000}"#
        );
    }
}
