//! Flags in, a validated [`Config`] out. Scripts outside the project rely on these flag names.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Parser;

use c10m_common::addr;

const EXAMPLES: &str = "\
Examples:
  c10m-client -n 19000 --rate 0                      19,000 connections to 127.0.0.1:7000, as fast as the kernel goes
  c10m-client -n 1000 --ping-interval 1 --payload 64 --hold 10
                                                     ping every connection each second, check every echoed byte
  c10m-client -n 30000 --source 127.1.0.1            force one (source, destination) pair: watch EADDRNOTAVAIL
  c10m-client -n 1000000 --hold 30 --ping-interval 30   a million, over enough processes and source addresses
  c10m-client -n 8000 --target 127.0.0.1-127.0.0.4:7000
                                                     four destinations on one listener: 4-tuples differ, ports are reused

Exit status: 0 when all N connections were established and held and every echo matched,
1 otherwise (the summary names each failure by errno), 2 for bad usage.";

/// c10m-client: opens N concurrent TCP connections at a chosen rate, holds them (optionally
/// pinging each and checking the echo byte for byte), and names every failure by errno and cause.
#[derive(Parser, Debug)]
#[command(name = "c10m-client", version, after_help = EXAMPLES)]
pub struct Cli {
    /// Where to connect: IP:PORT, or ranges like 127.0.0.1-127.0.0.4:7000 or 127.0.0.1:7000-7003 (repeatable).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000", value_parser = addr::parse_targets)]
    pub target: Vec<Vec<SocketAddr>>,

    /// Source address or range to bind before connect, e.g. 127.1.0.1-127.1.0.8 (repeatable)
    /// [default: for loopback targets, enough 127.1.0.x addresses that no pair passes ~45% of the port range].
    #[arg(long, value_name = "ADDR|RANGE", value_parser = addr::parse_ip_range)]
    pub source: Vec<Vec<IpAddr>>,

    /// Concurrent connections to open.
    #[arg(short = 'n', long, default_value = "1000", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub connections: u64,

    /// New connections per second; 0 = as fast as possible.
    #[arg(long, value_name = "N", default_value = "0")]
    pub rate: u64,

    /// Connects in flight at once (handshakes not yet finished).
    #[arg(long, value_name = "N", default_value = "1000", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub concurrency: u64,

    /// Give up on a connect after this many seconds (counted as ETIMEDOUT).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub connect_timeout: Duration,

    /// Keep all connections open this long once N are established; 0 = until Ctrl-C.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_hold)]
    pub hold: Duration,

    /// Every connection sends a payload this often and checks the echo byte for byte.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub ping_interval: Option<Duration>,

    /// Ping payload size in bytes, or a range MIN-MAX for random sizes per ping.
    #[arg(long, value_name = "BYTES", default_value = "64", value_parser = parse_payload)]
    pub payload: (u32, u32),

    /// Processes to spread the connections over, each under its own RLIMIT_NOFILE [default: enough for -n].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub processes: Option<u64>,

    /// Set RLIMIT_NOFILE's soft limit to N [default: the hard limit].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(16..))]
    pub nofile: Option<u64>,

    /// Allow targets outside 127.0.0.0/8 and ::1 (a flood tool must not hit someone else's server by typo).
    #[arg(long)]
    pub allow_remote: bool,

    /// JSON lines on stdout: the plan, one per second, and the summary as the last line.
    #[arg(long)]
    pub json: bool,

    /// No live lines; only the plan and the summary.
    #[arg(long)]
    pub quiet: bool,
}

/// What the client runs with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub targets: Vec<SocketAddr>,
    /// Empty: choose (spread over loopback sources when needed, else no bind).
    pub sources: Vec<IpAddr>,
    pub connections: u64,
    pub rate: u64,
    pub concurrency: u64,
    pub connect_timeout: Duration,
    /// None = until Ctrl-C.
    pub hold: Option<Duration>,
    pub ping_interval: Option<Duration>,
    pub payload: (u32, u32),
    pub nofile: Option<u64>,
    pub processes: Option<u64>,
    pub json: bool,
    pub quiet: bool,
}

impl Cli {
    pub fn into_config(self) -> Result<Config, String> {
        let targets: Vec<SocketAddr> = self.target.into_iter().flatten().collect();
        let sources: Vec<IpAddr> = self.source.into_iter().flatten().collect();
        if !self.allow_remote {
            if let Some(t) = targets.iter().find(|t| !addr::is_loopback(t.ip())) {
                return Err(format!(
                    "target {t} is outside 127.0.0.0/8 and ::1; pass --allow-remote if you really mean to flood it"
                ));
            }
        }
        if let Some(s) = sources.iter().find(|s| s.is_ipv4() != targets[0].is_ipv4()) {
            return Err(format!(
                "source {s} and target {} are of different IP versions",
                targets[0]
            ));
        }
        Ok(Config {
            targets,
            sources,
            connections: self.connections,
            rate: self.rate,
            concurrency: self.concurrency,
            connect_timeout: self.connect_timeout,
            hold: (!self.hold.is_zero()).then_some(self.hold),
            ping_interval: self.ping_interval,
            payload: self.payload,
            nofile: self.nofile,
            processes: self.processes,
            json: self.json,
            quiet: self.quiet,
        })
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.001..=86_400.0).contains(&v) {
        return Err(format!("{v} s is outside 0.001..=86400"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn parse_hold(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_secs(s)
}

fn parse_payload(s: &str) -> Result<(u32, u32), String> {
    const MAX: u32 = 16 << 20;
    let bad = || format!("'{s}' is not a payload size: BYTES or MIN-MAX, each 1..={MAX}");
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
        None => {
            let v = s.parse().map_err(|_| bad())?;
            (v, v)
        }
    };
    if lo == 0 || hi < lo || hi > MAX {
        return Err(bad());
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut v = vec!["c10m-client"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v)
            .map_err(|e| e.to_string())?
            .into_config()
    }

    #[test]
    fn targets_and_sources_flatten() {
        let c = parse(&[
            "--target",
            "127.0.0.1-127.0.0.2:7000",
            "--target",
            "127.0.0.9:7001",
            "--source",
            "127.1.0.1-4",
        ])
        .unwrap();
        assert_eq!(c.targets.len(), 3);
        assert_eq!(c.sources.len(), 4);
        assert_eq!(c.hold, Some(Duration::from_secs(5)));
    }

    #[test]
    fn refuses_remote_without_flag() {
        assert!(parse(&["--target", "198.18.0.1:7000"])
            .unwrap_err()
            .contains("--allow-remote"));
        assert!(parse(&["--target", "198.18.0.1:7000", "--allow-remote"]).is_ok());
    }

    #[test]
    fn bad_input_is_refused() {
        for args in [
            &["-n", "0"][..],
            &["--target", "127.0.0.1"],
            &["--payload", "0"],
            &["--payload", "9-3"],
            &["--hold", "-1"],
            &["--bogus"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        assert_eq!(parse(&["--hold", "0"]).unwrap().hold, None);
        assert_eq!(
            parse(&["--payload", "1-65536"]).unwrap().payload,
            (1, 65536)
        );
    }
}
