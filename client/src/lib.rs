//! c10m-client: opens N concurrent TCP connections at a chosen rate, holds them (or churns
//! requests over them), checks every echoed byte, and names every failure by errno and cause.
//!
//! - [`cli`]: flags in, a validated [`cli::Config`] out.
//! - [`plan`]: how N connections spread over (source, destination) pairs, and whether they fit.
//! - [`engine`]: how a connection is opened, written, read and closed ([`engine::socket`]).
//! - [`driver`]: what every mode and engine shares: connects, timeouts, exchanges, failures.
//! - [`hold`], [`requests`]: the modes (hold; churn and keep-alive); [`memguard`] stops a
//!   ramp before memory runs out.
//! - [`processes`]: `--processes`: the hold split over children of one supervisor.
//! - [`stats`] (what is counted), [`output`] (the records scripts read), [`export`] (text and
//!   JSON renderers), [`metrics`] (the `--metrics` page).
//! - [`shard`], [`start`]: `--shard I/N` and `--start-at`: one plan over many clients.
//! - [`check`]: `--check`, every limit for N from here.

pub mod check;
pub mod cli;
pub mod conns;
pub mod driver;
pub mod engine;
pub mod error;
pub mod export;
pub mod hold;
pub mod memguard;
pub mod metrics;
pub mod output;
pub mod pacing;
pub mod payload;
pub mod plan;
pub mod processes;
pub mod requests;
pub mod shard;
pub mod start;
pub mod stats;
pub mod timeouts;

use std::process::ExitCode;

use c10m_kernel::probe::Probe;
use c10m_limits::rlimit;
use c10m_limits::Facts;
use c10m_report::metrics::MetricsServer;
use sockstat::SockStat;

use std::net::IpAddr;

use crate::cli::{Ask, Config, Mode, Options};
use crate::engine::socket::{SocketEngine, SocketOpts};
use crate::engine::tun::{addrs as tun_addrs, Handshake, TunEngine};
use crate::engine::{AnyEngine, Kind};
use crate::error::Error;
use crate::export::{warn, Exporter, Line};
use crate::plan::{Limits, Plan, Slice};
use c10m_kernel::pid;
use c10m_kernel::sockstat;
use c10m_sys::mem;
use c10m_sys::signal;

/// Descriptors kept free beyond the connections.
pub const FD_RESERVE: u64 = 4;

/// Runs the client (or `--check`) and says how it went: 0 goal met, 1 not met or a failure.
pub fn main_with(config: Config) -> ExitCode {
    if config.check {
        return check::run(&config);
    }
    match run(config) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => c10m_cli::fatal("c10m-client", &e),
    }
}

/// Descriptors this process holds before its first connection, plus the epoll fd and the
/// reserve.
pub fn fd_reserve() -> u64 {
    pid::count_own_fds().map(|c| c.total).unwrap_or(8) + 1 + FD_RESERVE
}

/// The plan a run with `opts` makes from `ask` on a machine with `facts`, each process under
/// soft limit `fd_soft`. `--check` makes the same one.
pub fn plan_for(mut ask: Ask, opts: &Options, facts: &Facts, fd_soft: u64) -> Plan {
    // Churn holds at most --concurrency connections at once; the plan routes that many.
    let at_once = match opts.mode {
        Mode::Churn => ask.connections.min(opts.concurrency),
        _ => ask.connections,
    };
    if opts.engine == Kind::Tun {
        // No socket, no port search, one fd: the kernel's port range and fd limits do not
        // apply on this side; the addresses come from the TUN range.
        let chosen = ask.sources.is_empty();
        if chosen {
            let needed = tun_addrs::addresses_needed(at_once, ask.processes.unwrap_or(1));
            // A shard keeps to its block of the range; the plan check says if it is too small.
            let (first, block) = ask.shard.block(u64::from(tun_addrs::DEFAULT_COUNT));
            ask.sources = tun_addrs::default_sources_from(first, needed.min(block))
                .into_iter()
                .map(IpAddr::V4)
                .collect();
        }
        let limits = Limits {
            port_range: None,
            fd_room: at_once.max(1),
            fd_soft,
            files_free: None,
        };
        let mut plan = Plan::new(ask, at_once, limits);
        plan.sources_chosen = chosen;
        plan.engine = Kind::Tun;
        return plan;
    }
    let limits = Limits {
        port_range: facts.port_range,
        fd_room: fd_soft.saturating_sub(fd_reserve()),
        fd_soft,
        files_free: facts.files_free(),
    };
    Plan::new(ask, at_once, limits)
}

/// The engine `opts` names, for `slice` of `plan`.
pub fn engine_for(opts: &Options, plan: &Plan, slice: Slice) -> Result<AnyEngine, Error> {
    match opts.engine {
        Kind::Socket => socket_engine(opts, plan, slice).map(AnyEngine::Socket),
        Kind::Tun => tun_engine(opts, plan, slice).map(|e| AnyEngine::Tun(Box::new(e))),
    }
}

/// Checks that the TUN engine has the addresses the plan needs: whole addresses per process.
pub fn check_tun_plan(plan: &Plan) -> Result<(), Error> {
    let needed = tun_addrs::addresses_needed(plan.connections, plan.processes);
    if (plan.sources.len() as u64) < needed || plan.sources.iter().any(|s| !s.is_ipv4()) {
        return Err(Error::Plan(format!(
            "--engine tun: {} connections over {} process(es) need {needed} IPv4 source addresses \
             ({} ports each); --source gives {}",
            plan.connections,
            plan.processes,
            tun_addrs::PORTS,
            plan.sources.len()
        )));
    }
    Ok(())
}

/// The TUN engine for `slice` of `plan`: its own device, and its own share of the addresses.
fn tun_engine(opts: &Options, plan: &Plan, slice: Slice) -> Result<TunEngine, Error> {
    let per = plan.sources.len() / slice.of.max(1) as usize;
    let mine = plan.sources[slice.index as usize * per..(slice.index as usize + 1) * per]
        .iter()
        .filter_map(|s| match s {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    let capacity = slice.count(plan.connections) as usize;
    TunEngine::new(mine, &plan.targets, capacity, opts.handshake).map_err(Error::Tun)
}

/// The socket engine for `slice` of `plan`.
fn socket_engine(opts: &Options, plan: &Plan, slice: Slice) -> Result<SocketEngine, Error> {
    let socket_opts = SocketOpts {
        bind_no_port: !opts.plain_bind,
        nodelay: opts.mode != Mode::Hold || opts.ping_interval.is_some(),
    };
    let capacity = slice
        .count(plan.connections)
        .min(plan.fd_room.max(1))
        .min(1 << 24) as usize;
    SocketEngine::new(socket_opts, capacity).map_err(Error::Poll)
}

/// `--metrics`: the HTTP thread, in the process that adds the figures up (after any fork).
pub fn start_metrics(opts: &Options, plan: &Plan) -> Result<Option<MetricsServer>, Error> {
    let extra = metrics_extra(opts, plan, 0, SockStat::default());
    let m = metrics::start(opts.metrics, extra).map_err(Error::Metrics)?;
    if let Some(m) = &m {
        warn(&format!("metrics at http://{}/metrics", m.addr));
    }
    Ok(m)
}

/// What a metrics page shows besides the counters.
pub fn metrics_extra(opts: &Options, plan: &Plan, rss_bytes: u64, tcp: SockStat) -> metrics::Extra {
    metrics::Extra {
        rss_bytes,
        tcp,
        shard: opts.shard,
        processes: plan.processes,
        fd_per_conn: opts.engine == Kind::Socket,
    }
}

/// Plans, runs, reports. `Ok(false)`: the run finished but did not reach its goal.
pub fn run(config: Config) -> Result<bool, Error> {
    let Config { ask, opts, .. } = config;
    let out = Exporter(opts.output);
    signal::install_stop_handler().map_err(Error::Signals)?;
    mem::no_malloc_top_pad();
    let grant = rlimit::raise_nofile(opts.nofile).map_err(Error::Nofile)?;
    if let Some(advice) = grant.advice("--processes N") {
        warn(&advice);
    }
    let mut probe = Probe::open();
    let facts = Facts::read().map_err(Error::Nofile)?;
    let plan = plan_for(ask, &opts, &facts, grant.soft);
    if opts.engine == Kind::Tun {
        check_tun_plan(&plan)?;
        if opts.handshake == Handshake::None {
            warn("--handshake none: SYNs only; \"established\" counts the SYN-ACKs the server answered, each left half-open until the teardown resets it");
        }
    }
    if opts.mode != Mode::Hold {
        let _metrics = start_metrics(&opts, &plan)?;
        out.emit(Line::RequestsStart(
            &requests::start_line(&opts, &plan),
            &plan,
        ));
        let engine = socket_engine(&opts, &plan, Slice::WHOLE)?;
        let summary = requests::run(&opts, &plan, engine, out, &mut probe)?;
        out.emit(Line::RequestsSummary(&summary));
        return Ok(summary.success);
    }
    out.emit(Line::Plan(&plan));
    let summary = if plan.processes > 1 {
        drop(probe);
        processes::run(&opts, &plan, out)?
    } else {
        let engine = engine_for(&opts, &plan, Slice::WHOLE)?;
        let _metrics = start_metrics(&opts, &plan)?;
        let report = hold::Report::Print(out);
        hold::run(&opts, &plan, Slice::WHOLE, engine, report, &mut probe)?
    };
    let mut summary = summary;
    summary.shard = (!opts.shard.is_whole()).then_some(opts.shard);
    out.emit(Line::Summary(&summary));
    Ok(summary.success)
}
