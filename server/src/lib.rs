//! c10m-server: holds as many concurrent TCP connections as the kernel allows, echoes what it is
//! sent, and names the limit when it hits one.
//!
//! - [`cli`]: flags in, a validated [`cli::Config`] out.
//! - [`listen`]: the listening socket and its backlog.
//! - [`serve`]: the event loop; [`accept`] decides when it may accept, [`echo`] serves a
//!   connection.
//! - [`workers`]: `--workers`: the loop in children of one supervisor.
//! - [`stats`] (what is counted), [`output`] (the records and how each format shows them).
//! - [`check`]: `--check`, every limit for N from here.

mod accept;
mod check;
pub mod cli;
mod echo;
mod error;
mod listen;
pub mod output;
mod room;
mod serve;
mod stats;
mod workers;

use std::process::ExitCode;

use c10m_limits::rlimit;
use c10m_limits::Facts;
use c10m_sys::signal;

use crate::cli::Config;
use crate::error::Error;
use crate::output::{pages, Figures, Line, Output, Summary, PROG};
use crate::serve::{LoopConfig, Sink};

/// Runs the server (or `--check`) and says how it went: 0 after SIGINT/SIGTERM, 1 on a failure,
/// 2 a page's flag that cannot be served as given (bad usage, found before the run).
pub fn run(config: Config) -> ExitCode {
    if config.check {
        return check::run(&config);
    }
    match serve_all(config) {
        Ok((summary, out)) => {
            out.emit(&Line::Summary(&summary));
            ExitCode::SUCCESS
        }
        Err(Error::Page(e)) => c10m_cli::usage_error(&e),
        Err(e) => c10m_cli::fatal(&e),
    }
}

/// One process serves everything (`--workers 1`), or the supervisor forks workers.
fn serve_all(config: Config) -> Result<(Summary, Output), Error> {
    signal::install_stop_handler().map_err(Error::Signals)?;
    let grant = rlimit::raise_nofile(config.nofile).map_err(Error::Nofile)?;
    // The same facts --check reads: somaxconn decides the default backlog.
    let somaxconn = Facts::read().map_err(Error::Nofile)?.somaxconn;
    if config.workers.is_multi() {
        let n = room::count(config.workers, config.max_conns, grant.soft);
        let output = Output::bind(&config.output, pages(&config, n as u64)).map_err(Error::Page)?;
        return workers::run(&config, grant, somaxconn, n, output);
    }
    if let Some(advice) = grant.advice("--workers N") {
        log::warn!("{advice}");
    }
    let listener = listen::open(config.listen, config.backlog, somaxconn, false, true)?;
    let out = Output::bind(&config.output, pages(&config, 1))
        .map_err(Error::Page)?
        .start(PROG, &Figures::default())
        .map_err(Error::PageStart)?;
    let lc = LoopConfig {
        fd_soft: grant.soft,
        fd_hard: grant.hard,
        max_conns: config.max_conns,
        pause_accept: config.pause_accept,
        close_first: config.close_first,
        stats_interval: config.stats_interval,
        page_fds: config.output.page_descriptors(),
    };
    let summary = serve::serve(listener, &lc, Sink::Print(out.clone()))?;
    Ok((summary, out))
}
