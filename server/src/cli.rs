//! Flags in, a validated [`Config`] out. Scripts outside the project rely on these flag names.

use std::net::SocketAddr;
use std::time::Duration;

use c10m_cli::{parse_bytes, parse_interval, parse_interval_or_zero};
use c10m_limits::sizing::Machine;
use c10m_report::output::OutputArgs;
use c10m_sys::process::Session;
use clap::Parser;

const EXAMPLES: &str = "\
Examples:
  c10m-server                                   listen on 127.0.0.1:7000, as many connections as the fd limit allows
  c10m-server --listen 127.0.0.1:0 --json       pick a free port, JSON lines on stdout
  c10m-server --listen 0.0.0.0:7000             one listener for every 127.0.0.0/8 address
  c10m-server --nofile 1024 --max-conns 5000    watch accept meet EMFILE and survive it
  c10m-server --backlog 16 --pause-accept 0     never accept: watch the accept queue overflow (ListenOverflows)
  c10m-server --close-first                     close after each echo: the TIME_WAIT is the server's
  c10m-server --listen 0.0.0.0:7000 --workers auto --max-conns 1000000
                                                enough worker processes for a million connections
  c10m-server --check -n 1000000                which limit stops a million here first, and what to do
  c10m-server --check -n 1000000 --workers auto --json
                                                the same check for enough workers, as one JSON object
  c10m-server --check --size-for 16,64G         what a 16-core, 64 GiB machine would hold, accept and
                                                carry: an estimate from this project's measurements
  c10m-server --dashboard 127.0.0.1:8080 --report run.html
                                                watch it at http://127.0.0.1:8080/, keep it as one file

The live line goes to stderr once per --stats-interval; SIGINT or SIGTERM prints the summary.
--check opens no socket: it prints every limit for -n N and exits 0 when none binds, 1 when one
does (the last line names the first); bad usage exits 2.
Warnings and errors go to stderr; RUST_LOG=debug shows more (RUST_LOG=c10m_server=trace, one crate).";

/// c10m-server: one epoll (mio) listener that holds as many idle TCP connections as the kernel
/// lets one process hold, echoes what it is sent, and names the limit when it hits one.
#[derive(Parser, Debug)]
#[command(
    name = "c10m-server",
    version,
    after_help = EXAMPLES,
    mut_arg("json", |a| a.help("JSON lines on stdout: one per interval, and the summary as the last line")),
    mut_arg("quiet", |a| a.help("No live lines; only the listening line and the summary"))
)]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port (the first stdout line names it).
    #[arg(long, default_value = "127.0.0.1:7000", value_parser = parse_listen)]
    listen: SocketAddr,

    /// Stop accepting at this many concurrent connections [default: what RLIMIT_NOFILE leaves room for];
    /// with --check, the N to check for.
    #[arg(short = 'n', long, alias = "connections", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_conns: Option<u64>,

    /// listen(2) backlog [default: net.core.somaxconn, the kernel's maximum].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    backlog: Option<i32>,

    /// Worker processes serving the one port, each under its own RLIMIT_NOFILE; `auto` picks enough for --max-conns.
    #[arg(long, value_name = "N|auto", default_value = "1", value_parser = parse_workers)]
    workers: Workers,

    /// With --workers: all workers poll one listener made before fork, instead of each its own with SO_REUSEPORT.
    #[arg(long)]
    shared_listener: bool,

    /// With --workers: keep every worker in this process's session, as a shell's `&` would, instead
    /// of one session each. With kernel.sched_autogroup_enabled=1 the scheduler shares the CPU
    /// among sessions first: one session for all gets 1/(k+1) of the CPU against k other busy
    /// sessions, while one each competes like that many separate programs (the autogroup lab).
    #[arg(long)]
    one_session: bool,

    /// Set RLIMIT_NOFILE's soft limit to N (above the hard limit only with CAP_SYS_RESOURCE) [default: the hard limit].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(16..))]
    nofile: Option<u64>,

    /// Do not accept for this many seconds after listening (0 = never): connections finish their
    /// handshake and wait in the accept queue, and once it is full the kernel drops new SYNs
    /// (the listen-queue lab).
    #[arg(long, value_name = "SECS", value_parser = parse_interval_or_zero)]
    pause_accept: Option<Duration>,

    /// Close each connection as soon as its first echo is written: the server closes first, so
    /// the TIME_WAIT lands on the server's side (the time-wait lab).
    #[arg(long)]
    close_first: bool,

    /// Seconds between live lines (and between renderings of the --metrics page).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_interval)]
    stats_interval: Duration,

    /// Print every limit that bounds -n N connections on this machine (fds, files, epoll, memory,
    /// listen queues, conntrack), name the first that binds, and exit: 0 if none does, 1 if one does.
    #[arg(long)]
    check: bool,

    /// With --check: instead of this machine's limits, an estimate of what a machine of CORES
    /// cores and MEMORY (K, M, G, T) would hold, accept and carry, extrapolated from this
    /// project's measurements (each named), e.g. 16,64G.
    #[arg(long, value_name = "CORES,MEMORY", value_parser = parse_machine, requires = "check")]
    size_for: Option<Machine>,

    #[command(flatten)]
    output: OutputArgs,
}

/// `--size-for 16,64G`: cores, then memory as `--min-mem-available` takes sizes.
fn parse_machine(s: &str) -> Result<Machine, String> {
    let bad = || format!("'{s}' is not a machine: CORES,MEMORY such as 16,64G");
    let (c, m) = s.split_once(',').ok_or_else(bad)?;
    let cores: u32 = c.trim().parse().map_err(|_| bad())?;
    let memory_bytes = parse_bytes(m).map_err(|_| bad())?;
    if cores == 0 || cores > 4096 || memory_bytes < 1 << 30 {
        return Err(format!(
            "'{s}': give 1 to 4096 cores and at least 1G of memory"
        ));
    }
    Ok(Machine {
        cores,
        memory_bytes,
    })
}

/// How many processes serve the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    Count(u32),
    Auto,
}

impl Workers {
    pub fn is_multi(self) -> bool {
        self != Workers::Count(1)
    }
}

fn parse_workers(s: &str) -> Result<Workers, String> {
    if s == "auto" {
        return Ok(Workers::Auto);
    }
    match s.parse::<u32>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(Workers::Count(n)),
        _ => Err(format!("'{s}' is not a worker count: 1..=4096 or auto")),
    }
}

/// What the server runs with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) max_conns: Option<u64>,
    pub(crate) backlog: Option<i32>,
    pub(crate) nofile: Option<u64>,
    pub(crate) stats_interval: Duration,
    pub(crate) workers: Workers,
    pub(crate) reuseport: bool,
    pub(crate) session: Session,
    /// `Some(ZERO)`: never accept.
    pub(crate) pause_accept: Option<Duration>,
    pub(crate) close_first: bool,
    /// `--check`: print the limits for `max_conns` and exit.
    pub(crate) check: bool,
    /// `--check --size-for`: the estimate for another machine instead.
    pub(crate) size_for: Option<Machine>,
    pub(crate) output: OutputArgs,
}

impl Cli {
    pub fn into_config(self) -> Result<Config, String> {
        if self.check && self.max_conns.is_none() && self.size_for.is_none() {
            return Err("--check needs -n N, the connections to check for".into());
        }
        if self.workers == Workers::Auto && self.max_conns.is_none() {
            return Err(
                "--workers auto needs --max-conns N to know how many workers N takes".into(),
            );
        }
        if self.one_session && !self.workers.is_multi() {
            return Err("--one-session goes with --workers N (N > 1)".into());
        }
        if self.shared_listener && !self.workers.is_multi() {
            return Err("--shared-listener goes with --workers N (N > 1)".into());
        }
        Ok(Config {
            workers: self.workers,
            reuseport: self.workers.is_multi() && !self.shared_listener,
            session: if self.one_session {
                Session::Inherit
            } else {
                Session::Own
            },
            listen: self.listen,
            max_conns: self.max_conns,
            backlog: self.backlog,
            nofile: self.nofile,
            stats_interval: self.stats_interval,
            pause_accept: self.pause_accept,
            close_first: self.close_first,
            check: self.check,
            size_for: self.size_for,
            output: self.output,
        })
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    c10m_cli::addr::parse_socket_addr(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn parses_a_machine_to_size_for() {
        assert_eq!(
            parse_machine("16,64G"),
            Ok(Machine {
                cores: 16,
                memory_bytes: 64 << 30
            })
        );
        assert_eq!(parse_machine("2, 512GiB").unwrap().memory_bytes, 512 << 30);
        for bad in ["16", "x,64G", "16,64Q", "0,64G", "16,100M", "16,"] {
            assert!(parse_machine(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_session_per_worker_unless_one_session() {
        let cfg = |args: &[&str]| Cli::try_parse_from(args).unwrap().into_config();
        assert_eq!(
            cfg(&["c10m-server", "--workers", "3"]).unwrap().session,
            Session::Own
        );
        let one = cfg(&["c10m-server", "--workers", "3", "--one-session"]).unwrap();
        assert_eq!(one.session, Session::Inherit);
        assert!(cfg(&["c10m-server", "--one-session"])
            .unwrap_err()
            .contains("--workers"));
    }

    #[test]
    fn defaults() {
        let c = Cli::try_parse_from(["c10m-server"])
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(c.listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(c.stats_interval, Duration::from_secs(1));
    }

    #[test]
    fn workers_need_what_they_need() {
        let parse = |a: &[&str]| Cli::try_parse_from(a).unwrap().into_config();
        assert!(parse(&["c10m-server", "--workers", "auto"]).is_err());
        assert!(parse(&["c10m-server", "--shared-listener"]).is_err());
        let c = parse(&["c10m-server", "--workers", "auto", "--max-conns", "1000000"]).unwrap();
        assert_eq!(c.workers, Workers::Auto);
        assert!(parse(&["c10m-server", "--workers", "3"]).unwrap().reuseport);
        let shared = parse(&["c10m-server", "--workers", "3", "--shared-listener"]).unwrap();
        assert!(!shared.reuseport);
    }

    #[test]
    fn check_takes_n() {
        let parse = |a: &[&str]| Cli::try_parse_from(a).unwrap().into_config();
        let c = parse(&["c10m-server", "--check", "-n", "1000000"]).unwrap();
        assert!(c.check);
        assert_eq!(c.max_conns, Some(1_000_000));
        assert_eq!(
            parse(&["c10m-server", "--connections", "5"])
                .unwrap()
                .max_conns,
            Some(5)
        );
        assert!(parse(&["c10m-server", "--check"]).is_err());
    }

    #[test]
    fn bad_input_is_refused() {
        for args in [
            &["c10m-server", "--listen", "nope"][..],
            &["c10m-server", "--max-conns", "0"],
            &["c10m-server", "--stats-interval", "0"],
            &["c10m-server", "--frobnicate"],
            &["c10m-server", "--workers", "0"],
            &["c10m-server", "--workers", "many"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
