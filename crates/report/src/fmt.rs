//! Human numbers for the live display: `19.9k` connections, `1.05M`,
//! `3.3 MiB`, `63.0k/s`, `1 min 15 s`.
//!
//! Rounding happens before the unit is chosen, so a value never shows as
//! `1000k` or `1024 KiB`: it moves up to `1.00M` / `1.0 MiB` instead. Counts
//! use decimal SI prefixes (connections are counted, not addressed); bytes use
//! binary prefixes because the kernel hands memory out in 4 KiB pages.

/// `(suffix, unit, decimals, exclusive limit of the rounded value in units)`,
/// tried in order; the first whose rounded value fits is used.
type Step = (&'static str, u64, u32, u64);

fn pick(n: u64, steps: &[Step]) -> Option<String> {
    for &(suffix, unit, decimals, limit) in steps {
        let scale = 10u128.pow(decimals);
        let rounded = (u128::from(n) * scale + u128::from(unit) / 2) / u128::from(unit);
        if rounded < u128::from(limit) * scale {
            let whole = rounded / scale;
            return Some(if decimals == 0 {
                format!("{whole}{suffix}")
            } else {
                let frac = rounded % scale;
                format!("{whole}.{frac:0width$}{suffix}", width = decimals as usize)
            });
        }
    }
    None
}

const COUNT_STEPS: &[Step] = &[
    ("k", 1_000, 1, 100),
    ("k", 1_000, 0, 1_000),
    ("M", 1_000_000, 2, 10),
    ("M", 1_000_000, 1, 100),
    ("M", 1_000_000, 0, 1_000),
    ("G", 1_000_000_000, 2, 10),
    ("G", 1_000_000_000, 1, 100),
    ("G", 1_000_000_000, 0, 1_000),
    ("T", 1_000_000_000_000, 2, 10),
    ("T", 1_000_000_000_000, 1, 100),
    ("T", 1_000_000_000_000, 0, 1_000),
    ("P", 1_000_000_000_000_000, 2, 10),
    ("P", 1_000_000_000_000_000, 1, 100),
    ("P", 1_000_000_000_000_000, 0, 1_000),
    ("E", 1_000_000_000_000_000_000, 2, 100),
];

/// Short count: `999`, `9.5k`, `19.9k`, `120k`, `1.05M`, `12.5M`, `120M`, `1.00G`.
pub fn count(n: u64) -> String {
    if n < 1_000 {
        return n.to_string();
    }
    pick(n, COUNT_STEPS).unwrap_or_else(|| n.to_string())
}

/// Full count with comma separators: `19990` -> `19,990`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    groups.join(",")
}

const KIB: u64 = 1 << 10;
const BYTE_STEPS: &[Step] = &[
    (" KiB", KIB, 1, 100),
    (" KiB", KIB, 0, 1024),
    (" MiB", KIB << 10, 1, 100),
    (" MiB", KIB << 10, 0, 1024),
    (" GiB", KIB << 20, 1, 100),
    (" GiB", KIB << 20, 0, 1024),
    (" TiB", KIB << 30, 1, 100),
    (" TiB", KIB << 30, 0, 1024),
    (" PiB", KIB << 40, 1, 100),
    (" PiB", KIB << 40, 0, 1024),
    (" EiB", KIB << 50, 1, 100),
];

/// Bytes in binary units: `512 B`, `1.5 KiB`, `3.3 MiB`, `120 MiB`, `2.0 GiB`.
pub fn bytes(n: u64) -> String {
    if n < KIB {
        return format!("{n} B");
    }
    pick(n, BYTE_STEPS).unwrap_or_else(|| format!("{n} B"))
}

/// Events per second: `63.0k/s`; below 10/s one decimal (`0.5/s`).
/// Negative or NaN rates show as `0/s`.
pub fn rate(per_s: f64) -> String {
    if per_s.is_nan() || per_s <= 0.0 {
        return "0/s".to_string();
    }
    if per_s < 9.95 {
        return format!("{per_s:.1}/s");
    }
    format!("{}/s", count(per_s.round() as u64))
}

/// A duration: `0.287 s`, `12.3 s`, `1 min 15 s`, `2 h 5 min`.
/// Negative or NaN durations show as `0.000 s`.
pub fn duration_s(secs: f64) -> String {
    let secs = if secs.is_nan() || secs < 0.0 {
        0.0
    } else {
        secs
    };
    let millis = (secs * 1000.0).round();
    if millis < 10_000.0 {
        return format!("{:.3} s", millis / 1000.0);
    }
    let tenths = (secs * 10.0).round();
    if tenths < 600.0 {
        return format!("{:.1} s", tenths / 10.0);
    }
    let whole = secs.round() as u64;
    if whole < 3600 {
        return format!("{} min {} s", whole / 60, whole % 60);
    }
    let minutes = (secs / 60.0).round() as u64;
    format!("{} h {} min", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1.0k");
        assert_eq!(count(9_500), "9.5k");
        assert_eq!(count(9_999), "10.0k");
        assert_eq!(count(19_900), "19.9k");
        assert_eq!(count(19_949), "19.9k");
        assert_eq!(count(19_950), "20.0k");
        assert_eq!(count(99_949), "99.9k");
        assert_eq!(count(99_950), "100k");
        assert_eq!(count(120_000), "120k");
        assert_eq!(count(999_499), "999k");
        assert_eq!(count(999_500), "1.00M");
        assert_eq!(count(1_050_000), "1.05M");
        assert_eq!(count(9_994_999), "9.99M");
        assert_eq!(count(9_995_000), "10.0M");
        assert_eq!(count(12_500_000), "12.5M");
        assert_eq!(count(120_000_000), "120M");
        assert_eq!(count(1_000_000_000), "1.00G");
        assert_eq!(count(u64::MAX), "18.45E");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(19_990), "19,990");
        assert_eq!(thousands(1_048_576), "1,048,576");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn byte_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3_500_000), "3.3 MiB");
        assert_eq!(bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(bytes(120 << 20), "120 MiB");
        assert_eq!(bytes(2 << 30), "2.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn rates() {
        assert_eq!(rate(63_000.4), "63.0k/s");
        assert_eq!(rate(250.0), "250/s");
        assert_eq!(rate(0.5), "0.5/s");
        assert_eq!(rate(0.0), "0/s");
        assert_eq!(rate(-3.0), "0/s");
        assert_eq!(rate(f64::NAN), "0/s");
        assert_eq!(rate(9.96), "10/s");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_s(0.2873), "0.287 s");
        assert_eq!(duration_s(0.0), "0.000 s");
        assert_eq!(duration_s(9.9996), "10.0 s");
        assert_eq!(duration_s(12.34), "12.3 s");
        assert_eq!(duration_s(59.96), "1 min 0 s");
        assert_eq!(duration_s(75.0), "1 min 15 s");
        assert_eq!(duration_s(3599.6), "1 h 0 min");
        assert_eq!(duration_s(7500.0), "2 h 5 min");
        assert_eq!(duration_s(-1.0), "0.000 s");
        assert_eq!(duration_s(f64::NAN), "0.000 s");
    }
}
