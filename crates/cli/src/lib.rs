//! c10m-cli: what both binaries' command lines share: duration and size parsers, address
//! ranges ([`addr`]), logging, and the exit codes (0 ok, 1 a run-time failure, 2 bad usage).
//!
//! Exit status 2 means "bad usage" on both binaries, whether clap rejected a flag or the
//! validation after it did; `--help` and `--version` exit 0.

pub mod addr;

use std::process::ExitCode;
use std::time::Duration;

/// `s` as seconds within `lo..=hi`.
pub fn secs_in(s: &str, lo: f64, hi: f64) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(lo..=hi).contains(&v) {
        return Err(format!("{v} s is outside {lo}..={hi}"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// A duration of a run: 0.001 s to a day.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    secs_in(s, 0.001, 86_400.0)
}

/// [`parse_secs`], or `0` (meaning "until a signal" or "never").
pub fn parse_secs_or_zero(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_secs(s)
}

/// An interval between live lines: 0.05 s to an hour.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    secs_in(s, 0.05, 3600.0)
}

/// [`parse_interval`], or `0`.
pub fn parse_interval_or_zero(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_interval(s)
}

/// Parses the command line with clap, then validates it with `validate`: the config, or the exit
/// code to return at once (after printing help, the version, or what was wrong).
pub fn config<P, C, E>(validate: impl FnOnce(P) -> Result<C, E>) -> Result<C, ExitCode>
where
    P: clap::Parser,
    E: std::fmt::Display,
{
    let parsed = P::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    })?;
    validate(parsed).map_err(|msg| {
        log::error!("{msg}");
        ExitCode::from(2)
    })
}

/// A run-time failure: said on stderr, exit status 1.
pub fn fatal(e: &dyn std::fmt::Display) -> ExitCode {
    log::error!("{e}");
    ExitCode::from(1)
}

/// Sets up `log` for binary `prog`: warnings and errors by default, more with `RUST_LOG`
/// (`RUST_LOG=debug`, or `RUST_LOG=c10m_client::hold=trace` for one module). Warnings and errors
/// read `PROG: warning: ...` and `PROG: error: ...`; other levels name their module.
pub fn init_logging(prog: &'static str) {
    use std::io::Write;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format(move |buf, r| match r.level() {
            log::Level::Error => writeln!(buf, "{prog}: error: {}", r.args()),
            log::Level::Warn => writeln!(buf, "{prog}: warning: {}", r.args()),
            level => writeln!(
                buf,
                "{prog}: {}: [{}] {}",
                level.as_str().to_lowercase(),
                r.target(),
                r.args()
            ),
        })
        .init();
}

/// A size in bytes: `1073741824`, or with a suffix `K`, `M`, `G`, `T` (powers of 1024, with or
/// without `iB`/`B`): `512M`, `1GiB`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad =
        || format!("'{s}' is not a size: BYTES, or a number with K, M, G or T (powers of 1024)");
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.trim().trim_end_matches("iB").trim_end_matches('B') {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_secs("0").is_err());
        assert_eq!(parse_secs_or_zero("0"), Ok(Duration::ZERO));
        assert!(parse_secs("-1").unwrap_err().contains("outside"));
        assert!(parse_secs("soon").unwrap_err().contains("not a number"));
        assert!(parse_interval("0.01").is_err());
        assert_eq!(parse_interval_or_zero("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert!(parse_bytes("1.5G").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }
}
