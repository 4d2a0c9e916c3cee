//! c10m-server: holds as many concurrent TCP connections as the kernel allows, echoes what it is
//! sent, and names the limit when it hits one.
//!
//! - [`cli`]: flags in, a validated [`cli::Config`] out.
//! - [`listen`]: the listening socket and its backlog.
//! - [`serve`]: the event loop; [`accept`] decides when it may accept, [`echo`] serves a
//!   connection.
//! - [`workers`]: `--workers`: the loop in children of one supervisor.
//! - [`stats`] (what is counted), [`output`] (the records scripts read), [`export`] (text and
//!   JSON renderers), [`metrics`] (the `--metrics` page).
//! - [`check`]: `--check`, every limit for N from here.

pub mod accept;
pub mod check;
pub mod cli;
pub mod echo;
pub mod error;
pub mod export;
pub mod listen;
pub mod metrics;
pub mod output;
pub mod serve;
pub mod stats;
pub mod workers;

use std::process::ExitCode;

use c10m_limits::rlimit;
use c10m_limits::Facts;
use c10m_report::metrics::MetricsServer;

use crate::cli::Config;
use crate::error::Error;
use crate::export::{warn, Exporter};
use crate::output::Summary;
use crate::serve::{LoopConfig, Sink};
use c10m_sys::signal;

/// Runs the server (or `--check`) and says how it went: 0 after SIGINT/SIGTERM, 1 on a failure.
pub fn main_with(config: Config) -> ExitCode {
    if config.check {
        return check::run(&config);
    }
    let out = Exporter(config.output);
    match run(config) {
        Ok(summary) => {
            export::summary(out, &summary);
            ExitCode::SUCCESS
        }
        Err(e) => c10m_cli::fatal("c10m-server", &e),
    }
}

/// `--metrics`: the HTTP thread, started in the process that adds the figures up.
pub fn start_metrics(config: &Config) -> Result<Option<MetricsServer>, Error> {
    let m = metrics::start(config.metrics).map_err(Error::Metrics)?;
    if let Some(m) = &m {
        warn(&format!("metrics at http://{}/metrics", m.addr));
    }
    Ok(m)
}

/// One process serves everything (`--workers 1`), or the supervisor forks workers.
pub fn run(config: Config) -> Result<Summary, Error> {
    signal::install_stop_handler().map_err(Error::Signals)?;
    let grant = rlimit::raise_nofile(config.nofile).map_err(Error::Nofile)?;
    // The same facts --check reads: somaxconn decides the default backlog.
    let somaxconn = Facts::read().map_err(Error::Nofile)?.somaxconn;
    if config.workers.is_multi() {
        return workers::run(&config, grant, somaxconn);
    }
    if let Some(advice) = grant.advice("--workers N") {
        warn(&advice);
    }
    let listener = listen::open(config.listen, config.backlog, somaxconn, false, true)?;
    let _metrics = start_metrics(&config)?;
    let lc = LoopConfig {
        fd_soft: grant.soft,
        fd_hard: grant.hard,
        max_conns: config.max_conns,
        pause_accept: config.pause_accept,
        close_first: config.close_first,
        stats_interval: config.stats_interval,
    };
    serve::serve(listener, &lc, Sink::Print(Exporter(config.output)))
}
