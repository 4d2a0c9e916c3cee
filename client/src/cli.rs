//! Flags in, a validated [`Config`] out. Scripts outside the project rely on these flag names.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Parser;

use c10m_cli::addr;
use c10m_cli::{parse_bytes, parse_secs, parse_secs_or_zero};
use c10m_report::output::OutputArgs;
use c10m_sys::process::Session;

use crate::engine::tun::Handshake;
use crate::engine::Kind;
use crate::shard::{parse_shard, Shard, ShardSpec, INDEX_ENV};
use crate::start::parse_unix_seconds;

const EXAMPLES: &str = "\
Examples:
  c10m-client -n 19000 --rate 0                      19,000 connections to 127.0.0.1:7000, as fast as the kernel goes
  c10m-client -n 1000 --ping-interval 1 --payload 64 --hold 10
                                                     ping every connection each second, check every echoed byte
  c10m-client -n 30000 --source 127.1.0.1            force one (source, destination) pair: watch EADDRNOTAVAIL
  c10m-client -n 1000000 --hold 30 --ping-interval 30   a million, over enough processes and source addresses
  c10m-client -n 8000 --target 127.0.0.1-127.0.0.4:7000
                                                     four destinations on one listener: 4-tuples differ, ports are reused
  c10m-client --mode churn --rate 200 --duration 70  a short connection per request: watch TIME_WAIT climb to ~rate x 60
  c10m-client --mode churn --rate 200 --close rst    the same, closed with RST (SO_LINGER 0): no TIME_WAIT at all
  c10m-client --mode keepalive -n 10 --rate 200      the same request rate over 10 persistent connections

  c10m-client -n 200000 --shard 3/8 --start-at $(($(date +%s) + 10))
                                                     shard 3 of 8 (25,000 connections, its own sources), ramp in 10 s
  c10m-client -n 200000 --shard auto/8 --metrics 0.0.0.0:9101
                                                     as a pod of an Indexed Job (JOB_COMPLETION_INDEX), scraped by Prometheus

  c10m-client --check -n 1000000                    which limit stops a million here first, and what to do
  c10m-client --check -n 1000000 --processes 51 --json
                                                     the same check over 51 processes, as one JSON object
  c10m-client --check --mode churn --rate 1000 --source 127.1.0.1
                                                     TIME_WAIT at 1,000 short connections/s on one pair: do the ports last?

Exit status: 0 when all N connections were established and held (churn, keepalive: every
request answered) and every ping came back intact (within 5 s of the hold's end), 1 otherwise (the summary names each failure by errno), 2 for bad usage.
--check opens no socket: it prints every limit for -n N (and --rate) and exits 0 when none binds, 1 when one
does (the last line names the first), 2 for bad usage.";

/// c10m-client: opens N concurrent TCP connections at a chosen rate, holds them (optionally
/// pinging each and checking the echo byte for byte), and names every failure by errno and cause.
#[derive(Parser, Debug)]
#[command(
    name = "c10m-client",
    version,
    after_help = EXAMPLES,
    mut_arg("json", |a| a.help("JSON lines on stdout: the plan, one per second, and the summary as the last line")),
    mut_arg("quiet", |a| a.help("No live lines; only the plan and the summary"))
)]
pub struct Cli {
    /// Where to connect: IP:PORT, HOST:PORT (resolved once, at start), or ranges like 127.0.0.1-127.0.0.4:7000 or 127.0.0.1:7000-7003 (repeatable).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000", value_parser = addr::parse_targets)]
    pub target: Vec<Vec<SocketAddr>>,

    /// Source address or range to bind before connect, e.g. 127.1.0.1-127.1.0.8 (repeatable)
    /// [default: for loopback targets, enough 127.1.0.x addresses that no pair passes ~45% of the port range].
    #[arg(long, value_name = "ADDR|RANGE", value_parser = addr::parse_ip_range)]
    pub source: Vec<Vec<IpAddr>>,

    /// Concurrent connections to open [default: 1000]; churn: at most this many requests in all
    /// [default: rate x duration]; keepalive: the pool's size [default: 10].
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub connections: Option<u64>,

    /// hold: open N and keep them; churn: one short connection per request (connect, send,
    /// read the echo, close), the TIME_WAIT pattern; keepalive: the same requests over N
    /// persistent connections.
    #[arg(long, value_enum, default_value = "hold")]
    pub mode: Mode,

    /// churn, keepalive: how long to send requests.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub duration: Duration,

    /// churn, keepalive: how the client closes: fin (close() after the echo: the client closes
    /// first and holds the TIME_WAIT), rst (SO_LINGER 0: a reset, no TIME_WAIT anywhere), or wait
    /// (close only after the server's FIN, e.g. c10m-server --close-first: the server holds it).
    #[arg(long, value_enum, default_value = "fin")]
    pub close: Close,

    /// bind() the source without IP_BIND_ADDRESS_NO_PORT: the port is then reserved at bind time,
    /// for that source whatever the destination, and runs out as EADDRINUSE from bind().
    #[arg(long)]
    pub plain_bind: bool,

    /// New connections per second (keepalive: requests per second); 0 = as fast as possible.
    #[arg(long, value_name = "N", default_value = "0")]
    pub rate: u64,

    /// Connects in flight at once (handshakes not yet finished).
    #[arg(long, value_name = "N", default_value = "1000", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub concurrency: u64,

    /// Give up on a connect after this many seconds (counted as ETIMEDOUT).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub connect_timeout: Duration,

    /// Keep all connections open this long once N are established; 0 = until Ctrl-C.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs_or_zero)]
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

    /// With several --processes: keep every process in this one's session, as a shell's `&` would,
    /// instead of one session each. With kernel.sched_autogroup_enabled=1 the scheduler shares the
    /// CPU among sessions first: one session for all gets 1/(k+1) of the CPU against k other busy
    /// sessions, while one each competes like that many separate programs (the autogroup lab).
    #[arg(long)]
    pub one_session: bool,

    /// Set RLIMIT_NOFILE's soft limit to N [default: the hard limit].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(16..))]
    pub nofile: Option<u64>,

    /// Allow targets outside 127.0.0.0/8 and ::1 (a flood tool must not hit someone else's server by typo).
    #[arg(long)]
    pub allow_remote: bool,

    /// How connections are made: socket (a kernel socket each), or tun (the client speaks TCP
    /// itself through a TUN device it creates, from 198.19.0.0/16 or --source: no kernel socket
    /// and 16 bytes per connection on this side; needs CAP_NET_ADMIN, --mode hold, IPv4 targets
    /// that are not loopback addresses).
    #[arg(long, value_enum, default_value = "socket")]
    pub engine: Kind,

    /// With --engine tun: full (SYN, SYN-ACK, ACK), or none (SYNs only, each SYN-ACK counted as
    /// the server's answer and never acknowledged: the SYN-flood pattern, half-open requests in
    /// the server's SYN queue; bounded by -n, --rate and --hold like every run).
    #[arg(long, value_enum, default_value = "full")]
    pub handshake: Handshake,

    /// Stop opening connections when /proc/meminfo's MemAvailable falls below this (BYTES, or
    /// with K, M, G), hold what is open, and name memory as the limit; 0 = off
    /// [default: the larger of 1 GiB and 5% of memory].
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub min_mem_available: Option<u64>,

    /// Print every limit that bounds -n N connections from here (ports per pair x pairs, fds,
    /// files, epoll, memory, TIME_WAIT at --rate, tcp_tw_reuse, conntrack), name the first that
    /// binds, and exit: 0 if none does, 1 if one does. Counts one process unless --processes is given.
    #[arg(long)]
    pub check: bool,

    /// Run shard I of N of this plan (I from 0): connections I, I+N, I+2N, ... of -n, 1/N of
    /// --rate and --concurrency, and source addresses of its own. `auto/N` reads I from
    /// JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's pod index).
    #[arg(long, value_name = "I/N|auto/N", value_parser = parse_shard)]
    pub shard: Option<ShardSpec>,

    /// Start the ramp at this wall-clock time (seconds since the Unix epoch, as `date +%s`),
    /// so that shards started apart ramp together; a shard that starts late begins at once.
    #[arg(long, value_name = "UNIX_SECONDS", value_parser = parse_unix_seconds)]
    pub start_at: Option<f64>,

    /// Serve Prometheus metrics at http://IP:PORT/metrics (connections, failures by errno,
    /// pings, the RTT histogram, fds, memory, sockstat), from a thread of its own.
    #[arg(long, value_name = "IP:PORT")]
    pub metrics: Option<SocketAddr>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(
    clap::ValueEnum, serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Hold,
    Churn,
    Keepalive,
}

#[derive(
    clap::ValueEnum, serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
#[serde(rename_all = "lowercase")]
pub enum Close {
    Fin,
    Rst,
    Wait,
}

/// What is asked of the plan: how many connections, to where, from where. [`crate::plan::Plan`]
/// takes it over; nothing else keeps a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// Connections held at once (hold), requests in all (churn), the pool's size (keepalive).
    pub connections: u64,
    pub targets: Vec<SocketAddr>,
    /// Empty: choose (spread over loopback sources when needed, else no bind).
    pub sources: Vec<IpAddr>,
    /// `--processes`.
    pub processes: Option<u64>,
    /// `--shard`: which part of the plan this client runs; `connections` is already its part.
    pub shard: Shard,
    /// `-n` before the shard took its part.
    pub total: u64,
}

/// How the client runs, validated.
#[derive(Debug, Clone)]
pub struct Options {
    pub engine: Kind,
    pub handshake: Handshake,
    /// `--min-mem-available`; `None`: the default, computed from MemTotal at run time.
    pub min_mem_available: Option<u64>,
    pub mode: Mode,
    pub duration: Duration,
    pub close: Close,
    pub plain_bind: bool,
    pub rate: u64,
    pub concurrency: u64,
    pub connect_timeout: Duration,
    /// None = until Ctrl-C.
    pub hold: Option<Duration>,
    pub ping_interval: Option<Duration>,
    pub payload: (u32, u32),
    pub nofile: Option<u64>,
    pub session: Session,
    pub shard: Shard,
    pub start_at: Option<f64>,
    pub metrics: Option<SocketAddr>,
    pub output: OutputArgs,
}

/// The validated command line.
#[derive(Debug, Clone)]
pub struct Config {
    pub ask: Ask,
    pub opts: Options,
    /// `--check`: print the limits and exit.
    pub check: bool,
}

impl Cli {
    pub fn into_config(self) -> Result<Config, String> {
        let env = std::env::var(INDEX_ENV).ok();
        self.into_config_with(env.as_deref())
    }

    /// [`Cli::into_config`] with `JOB_COMPLETION_INDEX` given, for `--shard auto/N`.
    pub fn into_config_with(self, job_index: Option<&str>) -> Result<Config, String> {
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
        let connections = match (self.connections, self.mode) {
            (Some(n), _) => n,
            (None, Mode::Hold) => 1000,
            (None, Mode::Keepalive) => 10,
            (None, Mode::Churn) if self.rate > 0 => {
                ((self.rate as f64 * self.duration.as_secs_f64()).ceil() as u64).max(1)
            }
            (None, Mode::Churn) => 10_000_000,
        };
        let shard = match self.shard {
            Some(spec) => spec.resolve(job_index)?,
            None => Shard::WHOLE,
        };
        let total = connections;
        let connections = shard.part(total, "-n")?;
        let rate = match self.rate {
            0 => 0,
            r => shard.part(r, "--rate")?,
        };
        let concurrency = shard.slice().share(self.concurrency);
        if let Some(at) = self.start_at {
            crate::start::wait_for(at, crate::start::unix_now())?;
        }
        let sources = shard.sources(&sources)?;
        if self.mode != Mode::Hold
            && (self.ping_interval.is_some() || self.processes.is_some() || self.one_session)
        {
            return Err("--ping-interval, --processes and --one-session go with --mode hold; churn and keepalive send one request per --rate tick from one process".into());
        }
        if self.handshake == Handshake::None {
            if self.engine != Kind::Tun {
                return Err("--handshake none goes with --engine tun (a kernel socket always completes its handshake)".into());
            }
            if self.ping_interval.is_some() {
                return Err(
                    "--handshake none opens no connection to ping: drop --ping-interval".into(),
                );
            }
        }
        if self.engine == Kind::Tun {
            if self.mode != Mode::Hold {
                return Err("--engine tun goes with --mode hold".into());
            }
            if let Some(t) = targets
                .iter()
                .find(|t| !t.is_ipv4() || addr::is_loopback(t.ip()))
            {
                return Err(format!(
                    "--engine tun needs IPv4 targets that are not loopback addresses (the kernel drops packets to 127.0.0.0/8 that come in on another device): {t} is not one; give the server an address such as 198.18.0.1 (ip addr add 198.18.0.1/32 dev lo) and pass --allow-remote"
                ));
            }
        }
        Ok(Config {
            ask: Ask {
                connections,
                targets,
                sources,
                processes: self.processes,
                shard,
                total,
            },
            opts: Options {
                engine: self.engine,
                handshake: self.handshake,
                min_mem_available: self.min_mem_available,
                mode: self.mode,
                duration: self.duration,
                close: self.close,
                plain_bind: self.plain_bind,
                rate,
                concurrency,
                connect_timeout: self.connect_timeout,
                hold: (!self.hold.is_zero()).then_some(self.hold),
                ping_interval: self.ping_interval,
                payload: self.payload,
                nofile: self.nofile,
                session: if self.one_session {
                    Session::Inherit
                } else {
                    Session::Own
                },
                shard,
                start_at: self.start_at,
                metrics: self.metrics,
                output: self.output,
            },
            check: self.check,
        })
    }
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
            .into_config_with(None)
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
        assert_eq!(c.ask.targets.len(), 3);
        assert_eq!(c.ask.sources.len(), 4);
        assert_eq!(c.opts.hold, Some(Duration::from_secs(5)));
        assert_eq!(c.ask.connections, 1000);
        assert_eq!(c.opts.mode, Mode::Hold);
    }

    #[test]
    fn churn_defaults_to_rate_times_duration() {
        let c = parse(&["--mode", "churn", "--rate", "100", "--duration", "20"]).unwrap();
        assert_eq!((c.ask.connections, c.opts.close), (2000, Close::Fin));
        let k = parse(&["--mode", "keepalive", "--close", "rst"]).unwrap();
        assert_eq!((k.ask.connections, k.opts.close), (10, Close::Rst));
        assert!(parse(&["--mode", "churn", "--ping-interval", "1"]).is_err());
        assert!(parse(&["--mode", "sometimes"]).is_err());
    }

    #[test]
    fn a_session_per_process_unless_one_session() {
        assert_eq!(
            parse(&["--processes", "3"]).unwrap().opts.session,
            Session::Own
        );
        let one = parse(&["--processes", "3", "--one-session"]).unwrap();
        assert_eq!(one.opts.session, Session::Inherit);
        assert!(parse(&["--mode", "churn", "--one-session"]).is_err());
    }

    #[test]
    fn tun_takes_hold_and_ipv4_targets_off_loopback() {
        let ok = parse(&[
            "--engine",
            "tun",
            "--target",
            "198.18.0.1:7000",
            "--allow-remote",
        ]);
        assert_eq!(ok.unwrap().opts.engine, Kind::Tun);
        assert_eq!(parse(&[]).unwrap().opts.engine, Kind::Socket);
        assert!(parse(&["--engine", "tun"])
            .unwrap_err()
            .contains("loopback"));
        let churn = [
            "--engine",
            "tun",
            "--target",
            "198.18.0.1:7000",
            "--allow-remote",
            "--mode",
            "churn",
        ];
        assert!(parse(&churn).unwrap_err().contains("--mode hold"));
    }

    #[test]
    fn a_shard_takes_its_part_of_the_plan() {
        let c = parse(&[
            "-n",
            "200000",
            "--shard",
            "3/8",
            "--rate",
            "8000",
            "--concurrency",
            "1000",
        ])
        .unwrap();
        assert_eq!((c.ask.connections, c.ask.total), (25_000, 200_000));
        assert_eq!((c.opts.rate, c.opts.concurrency), (1000, 125));
        assert_eq!(c.opts.shard, Shard { index: 3, of: 8 });
        let srcs = ["--source", "127.1.0.1-127.1.0.8", "--shard", "2/4"];
        let c = parse(&srcs).unwrap();
        assert_eq!(
            c.ask.sources,
            vec![IpAddr::from([127, 1, 0, 5]), IpAddr::from([127, 1, 0, 6])]
        );
        assert!(parse(&["-n", "3", "--shard", "3/4"])
            .unwrap_err()
            .contains("none"));
        assert!(parse(&["--rate", "2", "--shard", "3/4"])
            .unwrap_err()
            .contains("--rate"));
        let auto = Cli::try_parse_from(["c10m-client", "--shard", "auto/8"]).unwrap();
        assert_eq!(
            auto.into_config_with(Some("7")).unwrap().opts.shard.index,
            7
        );
        let unset = Cli::try_parse_from(["c10m-client", "--shard", "auto/8"]).unwrap();
        assert!(unset
            .into_config_with(None)
            .unwrap_err()
            .contains(INDEX_ENV));
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
        assert_eq!(parse(&["--hold", "0"]).unwrap().opts.hold, None);
        assert_eq!(
            parse(&["--payload", "1-65536"]).unwrap().opts.payload,
            (1, 65536)
        );
    }
}
