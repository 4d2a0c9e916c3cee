//! Flags in, a validated [`Config`] out. Scripts outside the project rely on these flag names.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::Parser;

use c10m_cli::addr;
use c10m_cli::{parse_bytes, parse_secs, parse_secs_or_zero};
use c10m_report::output::OutputArgs;
use c10m_sys::process::Session;

use crate::config::{Ask, Close, Config, Handshake, Mode, Options, Part, Pings, Run};
use crate::engine::registry;
use crate::start;

/// The variable a Kubernetes Indexed Job sets in each pod: 0, 1, ..., completions - 1.
const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The most shards a plan is split into.
const MAX_SHARDS: u64 = 65_536;

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
  c10m-client -n 19000 --hold 60 --dashboard 127.0.0.1:8081 --report run.html
                                                     watch it in a browser while it holds, keep it as one file

  c10m-client --list-engines                        the engines, and what each can do and needs

  c10m-client --check -n 1000000                    which limit stops a million here first, and what to do
  c10m-client --check -n 1000000 --processes 51 --json
                                                     the same check over 51 processes, as one JSON object
  c10m-client --check --mode churn --rate 1000 --source 127.1.0.1
                                                     TIME_WAIT at 1,000 short connections/s on one pair: do the ports last?

Exit status: 0 when all N connections were established and held (churn, keepalive: every
request answered) and every ping came back intact (within --drain, 5 s by default, of the hold's end), 1 otherwise (the summary names each failure by errno), 2 for bad usage.
--check opens no socket: it prints every limit for -n N (and --rate) and exits 0 when none binds, 1 when one
does (the last line names the first), 2 for bad usage.
Warnings and errors go to stderr; RUST_LOG=debug shows more (RUST_LOG=c10m_client=trace, one crate).";

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
    target: Vec<Vec<SocketAddr>>,

    /// Source address or range to bind before connect, e.g. 127.1.0.1-127.1.0.8 (repeatable)
    /// [default: for loopback targets, enough 127.1.0.x addresses that no pair passes ~45% of the port range].
    #[arg(long, value_name = "ADDR|RANGE", value_parser = addr::parse_ip_range)]
    source: Vec<Vec<IpAddr>>,

    /// Concurrent connections to open [default: 1000]; churn: at most this many requests in all
    /// [default: rate x duration]; keepalive: the pool's size [default: 10].
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    connections: Option<u64>,

    /// hold: open N and keep them; churn: one short connection per request (connect, send,
    /// read the echo, close), the TIME_WAIT pattern; keepalive: the same requests over N
    /// persistent connections.
    #[arg(long, value_enum, default_value = "hold")]
    mode: Mode,

    /// churn, keepalive: how long to send requests.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    duration: Duration,

    /// churn, keepalive: how the client closes: fin (close() after the echo: the client closes
    /// first and holds the TIME_WAIT), rst (SO_LINGER 0: a reset, no TIME_WAIT anywhere), or wait
    /// (close only after the server's FIN, e.g. c10m-server --close-first: the server holds it).
    #[arg(long, value_enum, default_value = "fin")]
    close: Close,

    /// bind() the source without IP_BIND_ADDRESS_NO_PORT: the port is then reserved at bind time,
    /// for that source whatever the destination, and runs out as EADDRINUSE from bind().
    #[arg(long)]
    plain_bind: bool,

    /// New connections per second (keepalive: requests per second); 0 = as fast as possible.
    #[arg(long, value_name = "N", default_value = "0")]
    rate: u64,

    /// Connects in flight at once (handshakes not yet finished).
    #[arg(long, value_name = "N", default_value = "1000", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    concurrency: u64,

    /// Give up on a connect after this many seconds (counted as ETIMEDOUT).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    connect_timeout: Duration,

    /// Keep all connections open this long once N are established; 0 = until Ctrl-C.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs_or_zero)]
    hold: Duration,

    /// Every connection sends a payload this often and checks the echo byte for byte.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, conflicts_with = "message_rate")]
    ping_interval: Option<Duration>,

    /// Pings per second in all, spread evenly over the open connections (paced, not in bursts),
    /// each echo checked byte for byte; a list R1,R2,... steps through the rates, one every
    /// --step (the echo benchmark's sweep; a `step` line reports each).
    #[arg(long, value_name = "R[,R2...]", value_parser = parse_rates)]
    message_rate: Option<Rates>,

    /// With --message-rate R1,R2,...: seconds each rate lasts (the hold must cover the steps).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, requires = "message_rate")]
    step: Option<Duration>,

    /// After the hold, wait up to this long for the echoes of pings still in flight [default:
    /// 5]. Over a path that loses segments a server's retransmission can come later than that:
    /// Linux waits 3 s before its first one on a connection whose SYN-ACK it had to send again
    /// (RFC 6298 5.7), then doubles.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    drain: Option<Duration>,

    /// Ping payload size in bytes, or a range MIN-MAX for random sizes per ping.
    #[arg(long, value_name = "BYTES", default_value = "64", value_parser = parse_payload)]
    payload: (u32, u32),

    /// Processes to spread the connections over, each under its own RLIMIT_NOFILE [default: enough for -n].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    processes: Option<u64>,

    /// With several --processes: keep every process in this one's session, as a shell's `&` would,
    /// instead of one session each. With kernel.sched_autogroup_enabled=1 the scheduler shares the
    /// CPU among sessions first: one session for all gets 1/(k+1) of the CPU against k other busy
    /// sessions, while one each competes like that many separate programs (the autogroup lab).
    #[arg(long)]
    one_session: bool,

    /// Set RLIMIT_NOFILE's soft limit to N [default: the hard limit].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(16..))]
    nofile: Option<u64>,

    /// Allow targets outside 127.0.0.0/8 and ::1 (a flood tool must not hit someone else's server by typo).
    #[arg(long)]
    allow_remote: bool,

    /// How connections are made: socket (a kernel socket each), or tun (the client speaks TCP
    /// itself through a TUN device it creates, from 198.19.0.0/16 or 2001:2:0:1::/64 or
    /// --source: no kernel socket and 16 bytes per connection on this side; needs
    /// CAP_NET_ADMIN, --mode hold, and targets that are not loopback addresses).
    /// --list-engines says what each can do.
    #[arg(long, default_value = "socket", value_parser = PossibleValuesParser::new(registry::names()))]
    engine: String,

    /// With --engine tun: full (SYN, SYN-ACK, ACK), or none (SYNs only, each SYN-ACK counted as
    /// the server's answer and never acknowledged: the SYN-flood pattern, half-open requests in
    /// the server's SYN queue; bounded by -n, --rate and --hold like every run).
    #[arg(long, value_enum, default_value = "full")]
    handshake: Handshake,

    /// Stop opening connections when /proc/meminfo's MemAvailable falls below this (BYTES, or
    /// with K, M, G), hold what is open, and name memory as the limit; 0 = off
    /// [default: the larger of 1 GiB and 5% of memory].
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    min_mem_available: Option<u64>,

    /// Print every limit that bounds -n N connections from here (ports per pair x pairs, fds,
    /// files, epoll, memory, TIME_WAIT at --rate, tcp_tw_reuse, conntrack), name the first that
    /// binds, and exit: 0 if none does, 1 if one does. Counts one process unless --processes is given.
    #[arg(long)]
    check: bool,

    /// List the engines --engine takes and what each can do (with --json, as one object), and
    /// exit.
    #[arg(long)]
    list_engines: bool,

    /// Run shard I of N of this plan (I from 0): connections I, I+N, I+2N, ... of -n, 1/N of
    /// --rate and --concurrency, and source addresses of its own. `auto/N` reads I from
    /// JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's pod index).
    #[arg(long, value_name = "I/N|auto/N", value_parser = parse_shard)]
    shard: Option<ShardSpec>,

    /// Start the ramp at this wall-clock time (seconds since the Unix epoch, as `date +%s`),
    /// so that shards started apart ramp together; a shard that starts late begins at once.
    #[arg(long, value_name = "UNIX_SECONDS", value_parser = start::parse_unix_seconds)]
    start_at: Option<f64>,

    #[command(flatten)]
    output: OutputArgs,
}

impl Cli {
    pub fn into_config(self) -> Result<Config, String> {
        let env = std::env::var(INDEX_ENV).ok();
        self.into_config_with(env.as_deref())
    }

    /// [`Cli::into_config`] with `JOB_COMPLETION_INDEX` given, for `--shard auto/N`.
    fn into_config_with(self, job_index: Option<&str>) -> Result<Config, String> {
        if self.list_engines {
            return Ok(Config::ListEngines {
                json: self.output.json,
            });
        }
        let engine = registry::choice(&self.engine)
            .ok_or_else(|| format!("--engine {}: no such engine", self.engine))?;
        let caps = engine.caps;
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
            None => Part::WHOLE,
        };
        let total = connections;
        let connections = shard.count_of(total, "-n")?;
        let rate = match self.rate {
            0 => 0,
            r => shard.count_of(r, "--rate")?,
        };
        let concurrency = shard.share(self.concurrency);
        if let Some(at) = self.start_at {
            start::wait_for(at, start::unix_now())?;
        }
        let sources = shard.run_of(&sources)?;
        if self.mode != Mode::Hold
            && (self.ping_interval.is_some()
                || self.message_rate.is_some()
                || self.processes.is_some()
                || self.one_session
                || self.drain.is_some())
        {
            return Err("--ping-interval, --message-rate, --drain, --processes and --one-session go with --mode hold; churn and keepalive send one request per --rate tick from one process".into());
        }
        let pings = match (self.ping_interval, self.message_rate) {
            (Some(interval), _) => Some(Pings::Every(interval)),
            (None, Some(Rates(rates))) => {
                if rates.len() > 1 && self.step.is_none() {
                    return Err(
                        "--message-rate R1,R2,... steps through its rates: give --step SECS".into(),
                    );
                }
                if let (Some(step), false) = (self.step, self.hold.is_zero()) {
                    let needed = step.saturating_mul(rates.len() as u32);
                    if self.hold < needed {
                        return Err(format!(
                            "--hold {:.3} s is shorter than {} steps of {:.3} s: give --hold {:.3} or more",
                            self.hold.as_secs_f64(),
                            rates.len(),
                            step.as_secs_f64(),
                            needed.as_secs_f64()
                        ));
                    }
                }
                let rates = rates
                    .iter()
                    .map(|r| shard.count_of(*r, "--message-rate"))
                    .collect::<Result<_, _>>()?;
                Some(Pings::Rate {
                    rates,
                    step: self.step,
                })
            }
            (None, None) => None,
        };
        let name = engine.name;
        if self.handshake == Handshake::None {
            if !caps.half_open {
                return Err(format!("--handshake none: --engine {name} always completes its handshake (a kernel socket does); pick an engine that can stop after the SYN (--list-engines)"));
            }
            if pings.is_some() {
                return Err(
                    "--handshake none opens no connection to ping: drop --ping-interval and --message-rate".into(),
                );
            }
        }
        if self.mode != Mode::Hold && !caps.requests {
            return Err(format!("--engine {name} goes with --mode hold"));
        }
        if let Some(t) = targets.iter().find(|t| !caps.ipv6 && t.is_ipv6()) {
            return Err(format!(
                "--engine {name} speaks IPv4 only: {t} is an IPv6 target"
            ));
        }
        if let Some(t) = targets
            .iter()
            .find(|t| !caps.loopback_targets && addr::is_loopback(t.ip()))
        {
            return Err(format!(
                "--engine {name} needs targets that are not loopback addresses (the kernel drops packets to 127.0.0.0/8 that come in on another device): {t} is one; give the server an address such as 198.18.0.1 (ip addr add 198.18.0.1/32 dev lo) and pass --allow-remote"
            ));
        }
        let run = Run {
            ask: Ask {
                connections,
                targets,
                sources,
                processes: self.processes,
                shard,
                total,
            },
            opts: Options {
                engine,
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
                pings,
                drain: self.drain,
                payload: self.payload,
                nofile: self.nofile,
                session: if self.one_session {
                    Session::Inherit
                } else {
                    Session::Own
                },
                shard,
                start_at: self.start_at,
                output: self.output,
            },
        };
        Ok(if self.check {
            Config::Check(run)
        } else {
            Config::Run(run)
        })
    }
}

/// `--shard` as given: `I/N` or `auto/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShardSpec {
    Fixed { index: u64, of: u64 },
    Auto { of: u64 },
}

fn parse_shard(s: &str) -> Result<ShardSpec, String> {
    let bad = || format!("'{s}' is not a shard: I/N (0 <= I < N <= {MAX_SHARDS}) or auto/N");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let of: u64 = n.parse().map_err(|_| bad())?;
    if of == 0 || of > MAX_SHARDS {
        return Err(bad());
    }
    if i == "auto" {
        return Ok(ShardSpec::Auto { of });
    }
    let index: u64 = i.parse().map_err(|_| bad())?;
    if index >= of {
        return Err(bad());
    }
    Ok(ShardSpec::Fixed { index, of })
}

impl ShardSpec {
    /// The shard, `auto` read from `env` (the value of [`INDEX_ENV`], if set).
    fn resolve(self, env: Option<&str>) -> Result<Part, String> {
        match self {
            ShardSpec::Fixed { index, of } => Ok(Part { index, of }),
            ShardSpec::Auto { of } => {
                let v = env.ok_or_else(|| {
                    format!("--shard auto/{of} reads {INDEX_ENV}, which is not set: give --shard I/{of}, or run as a pod of an Indexed Job")
                })?;
                match v.trim().parse::<u64>() {
                    Ok(index) if index < of => Ok(Part { index, of }),
                    _ => Err(format!(
                        "{INDEX_ENV}={v} is not a shard index below {of} (the Job's completions and the N of --shard auto/N must agree)"
                    )),
                }
            }
        }
    }
}

/// `--message-rate`'s list (a type of its own: clap would read a `Vec` as repeated flags).
#[derive(Debug, Clone)]
struct Rates(Vec<u64>);

fn parse_rates(s: &str) -> Result<Rates, String> {
    const MAX: u64 = 100_000_000;
    let bad =
        || format!("'{s}' is not a message rate: R or R1,R2,... pings per second, each 1..={MAX}");
    s.split(',')
        .map(|r| match r.trim().parse::<u64>() {
            Ok(v) if (1..=MAX).contains(&v) => Ok(v),
            _ => Err(bad()),
        })
        .collect::<Result<_, _>>()
        .map(Rates)
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

    fn parse(args: &[&str]) -> Result<Run, String> {
        let mut v = vec!["c10m-client"];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v)
            .map_err(|e| e.to_string())?
            .into_config_with(None)?
        {
            Config::Run(r) | Config::Check(r) => Ok(r),
            Config::ListEngines { .. } => Err("listed the engines".into()),
        }
    }

    #[test]
    fn parses_fixed_and_auto_shards() {
        assert_eq!(parse_shard("2/8"), Ok(ShardSpec::Fixed { index: 2, of: 8 }));
        assert_eq!(parse_shard("auto/8"), Ok(ShardSpec::Auto { of: 8 }));
        for bad in ["8/8", "1", "a/b", "0/0", "-1/4", "1/70000", "auto/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let spec = ShardSpec::Auto { of: 4 };
        assert_eq!(spec.resolve(Some("3")), Ok(Part { index: 3, of: 4 }));
        assert!(spec.resolve(Some("4")).unwrap_err().contains("below 4"));
        assert!(spec.resolve(None).unwrap_err().contains(INDEX_ENV));
        assert!(spec.resolve(Some("x")).is_err());
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
        assert_eq!(ok.unwrap().opts.engine.name, "tun");
        assert_eq!(parse(&[]).unwrap().opts.engine.name, "socket");
        assert!(parse(&["--engine", "carrier-pigeon"]).is_err());
        assert!(parse(&["--handshake", "none"])
            .unwrap_err()
            .contains("always completes"));
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
        assert_eq!(c.opts.shard, Part { index: 3, of: 8 });
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
        let Ok(Config::Run(r)) = auto.into_config_with(Some("7")) else {
            panic!("--shard auto/8 with index 7");
        };
        assert_eq!(r.opts.shard.index, 7);
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
    fn message_rates_step_and_split_over_shards() {
        let c = parse(&["--message-rate", "1000,4000", "--step", "2", "--hold", "4"]).unwrap();
        assert_eq!(
            c.opts.pings,
            Some(Pings::Rate {
                rates: vec![1000, 4000],
                step: Some(Duration::from_secs(2))
            })
        );
        let s = parse(&["--message-rate", "1000", "--shard", "1/4"]).unwrap();
        assert!(matches!(s.opts.pings, Some(Pings::Rate { ref rates, .. }) if rates == &[250]));
        assert!(parse(&["--message-rate", "1000,2000"])
            .unwrap_err()
            .contains("--step"));
        assert!(
            parse(&["--message-rate", "1,2", "--step", "3", "--hold", "5"])
                .unwrap_err()
                .contains("--hold 6")
        );
        assert!(parse(&["--message-rate", "10", "--ping-interval", "1"]).is_err());
        assert!(parse(&["--message-rate", "0"]).is_err());
        assert!(parse(&["--step", "1"]).is_err());
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
