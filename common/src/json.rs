//! A small JSON writer for `--json` output.
//!
//! c10m only ever *writes* JSON (one object per line, for scripts and the
//! benchmark harness to read), so a value tree plus a renderer is all it
//! needs; no serde. Objects keep insertion order so the output reads in the
//! same order as the human display. Floats are written with at most three
//! decimals because more digits would be noise for rates and seconds, and
//! NaN or infinity, which JSON cannot represent, become `null`.

use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Array(Vec<Value>),
    Object(Object),
}

/// A JSON object that keeps insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object(Vec<(String, Value)>);

impl Object {
    pub fn new() -> Self {
        Object(Vec::new())
    }

    /// Sets `key`, replacing (in place) any earlier value for it.
    pub fn set(&mut self, key: &str, v: impl Into<Value>) -> &mut Self {
        let v = v.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => self.0.push((key.to_string(), v)),
        }
        self
    }

    /// [`Object::set`] by value, for chains: `Object::new().with("a", 1)`.
    pub fn with(mut self, key: &str, v: impl Into<Value>) -> Self {
        self.set(key, v);
        self
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compact, one line, no trailing newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut String) {
        out.push('{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(&escape(k));
            out.push_str("\":");
            v.write_to(out);
        }
        out.push('}');
    }
}

impl Value {
    /// Compact, one line, no trailing newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::UInt(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Float(f) => out.push_str(&float(*f)),
            Value::Str(s) => {
                out.push('"');
                out.push_str(&escape(s));
                out.push('"');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_to(out);
                }
                out.push(']');
            }
            Value::Object(o) => o.write_to(out),
        }
    }
}

/// Finite floats with at most 3 decimals, trailing zeros trimmed; else `null`.
fn float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    let mut s = format!("{f:.3}");
    let trimmed_len = s.trim_end_matches('0').trim_end_matches('.').len();
    s.truncate(trimmed_len);
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// Escapes `s` for use inside a JSON string (the surrounding quotes are not
/// added): `"` `\` and control characters, the latter as `\n`-style short
/// forms or `\u00XX`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::UInt(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::UInt(u64::from(v))
    }
}

impl From<u16> for Value {
    fn from(v: u16) -> Self {
        Value::UInt(u64::from(v))
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::UInt(v as u64)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Str(v.clone())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

impl From<Object> for Value {
    fn from(v: Object) -> Self {
        Value::Object(v)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl From<BTreeMap<String, u64>> for Object {
    fn from(map: BTreeMap<String, u64>) -> Self {
        Object(map.into_iter().map(|(k, v)| (k, Value::UInt(v))).collect())
    }
}

/// Counters by name (errno names, mostly) as an object, in key order.
impl From<&BTreeMap<&str, u64>> for Object {
    fn from(map: &BTreeMap<&str, u64>) -> Self {
        Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), Value::UInt(*v)))
                .collect(),
        )
    }
}

impl From<BTreeMap<String, u64>> for Value {
    fn from(map: BTreeMap<String, u64>) -> Self {
        Value::Object(map.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_map_renders_in_key_order() {
        let mut m = BTreeMap::new();
        m.insert("EMFILE", 3u64);
        m.insert("EADDRNOTAVAIL", 1u64);
        assert_eq!(
            Object::from(&m).render(),
            r#"{"EADDRNOTAVAIL":1,"EMFILE":3}"#
        );
    }

    #[test]
    fn nested() {
        let mut o = Object::new();
        o.set("conns", 19_990u64)
            .set("rate", 63000.4)
            .set("ok", true)
            .set("err", None::<String>)
            .set("delta", -3i64)
            .set(
                "kernel",
                Object::new()
                    .with("somaxconn", Some(4096u64))
                    .with("ports", vec![32768u32, 60999]),
            )
            .set("empty", Object::new())
            .set("list", Vec::<Value>::new());
        assert_eq!(
            o.render(),
            r#"{"conns":19990,"rate":63000.4,"ok":true,"err":null,"delta":-3,"kernel":{"somaxconn":4096,"ports":[32768,60999]},"empty":{},"list":[]}"#
        );
        assert_eq!(Value::from(o.clone()).render(), o.render());
    }

    #[test]
    fn key_replacement_keeps_position() {
        let o = Object::new().with("a", 1).with("b", 2).with("a", "x");
        assert_eq!(o.render(), r#"{"a":"x","b":2}"#);
        assert_eq!(o.len(), 2);
        assert_eq!(o.get("a"), Some(&Value::Str("x".into())));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("l1\nl2\tx\r"), r"l1\nl2\tx\r");
        assert_eq!(escape("\u{0}\u{1f}\u{08}\u{0c}"), r"\u0000\u001f\b\f");
        assert_eq!(escape("héllo ✓"), "héllo ✓");
        assert_eq!(
            Object::new().with("k\"", "v\n").render(),
            r#"{"k\"":"v\n"}"#
        );
    }

    #[test]
    fn floats() {
        let r = |f: f64| Value::from(f).render();
        assert_eq!(r(0.2873), "0.287");
        assert_eq!(r(63000.0), "63000");
        assert_eq!(r(1.5), "1.5");
        assert_eq!(r(0.0), "0");
        assert_eq!(r(-0.0001), "0");
        assert_eq!(r(-2.25), "-2.25");
        assert_eq!(r(0.9999), "1");
        assert_eq!(r(f64::NAN), "null");
        assert_eq!(r(f64::INFINITY), "null");
        assert_eq!(r(f64::NEG_INFINITY), "null");
    }

    #[test]
    fn map_and_options() {
        let mut m = BTreeMap::new();
        m.insert("TcpExt.ListenOverflows".to_string(), 12u64);
        m.insert("Tcp.CurrEstab".to_string(), 3u64);
        assert_eq!(
            Value::from(m).render(),
            r#"{"Tcp.CurrEstab":3,"TcpExt.ListenOverflows":12}"#
        );
        assert_eq!(Value::from(Some(1.5)).render(), "1.5");
        assert_eq!(Value::from(None::<u64>).render(), "null");
        assert_eq!(Value::from(usize::MAX).render(), u64::MAX.to_string());
        assert_eq!(Value::from(i64::MIN).render(), i64::MIN.to_string());
    }
}
