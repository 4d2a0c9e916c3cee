//! c10m-client: opens N concurrent TCP connections at a chosen rate, holds them (or churns
//! requests over them), checks every echoed byte, and names every failure by errno and cause.
//!
//! The path of a run, from the flags to `connect()`:
//! - [`cli`]: flags in, a validated [`config::Config`] out ([`config`]: the run's types, which
//!   every other module reads and none of which depends on another module).
//! - [`plan`]: how N connections spread over (source, destination) pairs and processes, and
//!   whether they fit.
//! - the modes: [`hold`] (and [`processes`], the hold split over forked children), [`requests`]
//!   (churn and keep-alive); [`memguard`] stops a ramp before memory runs out; [`start`] waits
//!   for `--start-at`.
//! - [`driver`]: what every mode and engine shares: connects, timeouts, exchanges, failures,
//!   over the connection table ([`conns`]).
//! - [`engine`]: how a connection is opened, written, read and closed, chosen by what each
//!   engine can do ([`engine::registry`]).
//! - [`stats`] (what is counted), [`output`] (the records and how each format shows them).
//! - [`check`]: `--check`, every limit for N from here.

mod check;
pub mod cli;
pub mod config;
mod conns;
mod driver;
mod engine;
mod error;
mod hold;
mod memguard;
pub mod output;
mod pacing;
mod payload;
mod plan;
mod processes;
mod requests;
mod start;
mod stats;
mod steps;
mod timeouts;

use std::process::ExitCode;

use c10m_kernel::probe::Probe;
use c10m_kernel::sockstat::SockStat;
use c10m_limits::rlimit;
use c10m_limits::Facts;
use c10m_sys::{mem, signal};

use crate::config::{Config, Handshake, Mode, Part, Run};
use crate::engine::registry;
use crate::error::Error;
use crate::output::{pages, Figures, Line, Output, PROG};
use crate::plan::Plan;
use crate::stats::Stats;

/// Runs what the command line asked for and says how it went: 0 goal met, 1 not met or a
/// failure, 2 a page's flag that cannot be served as given (bad usage, found before the run).
pub fn run(config: Config) -> ExitCode {
    let outcome = match config {
        Config::ListEngines { json } => return registry::list(json),
        Config::Check(run) => return check::run(&run),
        Config::Run(run) => flood(run),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Error::Page(e)) => c10m_cli::usage_error(&e),
        Err(e) => c10m_cli::fatal(&e),
    }
}

/// Plans, runs, reports. `Ok(false)`: the run finished but did not reach its goal.
fn flood(run: Run) -> Result<bool, Error> {
    let Run { ask, opts } = run;
    signal::install_stop_handler().map_err(Error::Signals)?;
    mem::no_malloc_top_pad();
    let grant = rlimit::raise_nofile(opts.nofile).map_err(Error::Nofile)?;
    if let Some(advice) = grant.advice("--processes N") {
        log::warn!("{advice}");
    }
    let mut probe = Probe::open();
    let facts = Facts::read().map_err(Error::Nofile)?;
    let plan = Plan::for_run(ask, &opts, &facts, grant.soft);
    plan.check_own_sources().map_err(Error::Plan)?;
    log::debug!(
        "plan: {} connections to {} target(s) from {} source(s) over {} process(es), engine {}",
        plan.connections,
        plan.targets.len(),
        plan.sources.len(),
        plan.processes,
        plan.engine.name
    );
    if opts.handshake == Handshake::None {
        log::warn!("--handshake none: SYNs only; \"established\" counts the SYN-ACKs the server answered, each left half-open until the teardown resets it");
    }
    let zero = Figures::of(&Stats::default(), &plan, 0, SockStat::default());
    let start_output = || -> Result<Output, Error> {
        Output::bind(&opts.output, pages(&plan, &opts))
            .map_err(Error::Page)?
            .start(PROG, &zero)
            .map_err(Error::PageStart)
    };
    if opts.mode != Mode::Hold {
        let out = start_output()?;
        let start = requests::start_line(&opts, &plan);
        out.emit(&Line::RequestsStart {
            start: &start,
            plan: &plan,
        });
        let mut engine = registry::build(&opts, &plan, Part::WHOLE)?;
        let summary = requests::run(&opts, &plan, &mut *engine, &out, &mut probe)?;
        out.emit(&Line::RequestsSummary(&summary));
        return Ok(summary.success);
    }
    let plan_line = |out: &Output| out.emit(&Line::Plan(&plan));
    let (mut summary, out) = if plan.processes > 1 {
        drop(probe);
        let output = Output::bind(&opts.output, pages(&plan, &opts)).map_err(Error::Page)?;
        processes::run(&opts, &plan, (output, &zero), plan_line)?
    } else {
        let mut engine = registry::build(&opts, &plan, Part::WHOLE)?;
        let out = start_output()?;
        plan_line(&out);
        let report = hold::Report::Print(out.clone());
        let summary = hold::run(&opts, &plan, Part::WHOLE, &mut *engine, report, &mut probe)?;
        (summary, out)
    };
    summary.shard = (!opts.shard.is_whole()).then_some(opts.shard);
    out.emit(&Line::Summary(&summary));
    Ok(summary.success)
}
