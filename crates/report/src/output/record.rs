//! What every record shares: its JSON shape (`type` first) and how floats are written.

use serde::Serialize;

/// A record with its `type` first: the shape of every `--json` line.
#[derive(Serialize)]
struct Typed<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    record: &'a T,
}

/// `record` as one compact JSON object with `"type": kind` first.
pub fn typed<T: Serialize>(kind: &'static str, record: &T) -> String {
    serde_json::to_string(&Typed { kind, record }).unwrap_or_else(|e| {
        log::error!("cannot render a {kind} record as JSON: {e}");
        format!("{{\"type\":\"{kind}\"}}")
    })
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
