//! c10m-client: open N concurrent TCP connections, hold them, and name every failure.

mod check;
mod churn;
mod cli;
mod flood;
mod plan;
mod processes;
mod report;
mod stats;
mod timeouts;

use std::process::ExitCode;

use clap::Parser;

use c10m_common::kernel::{self, PortRange};
use c10m_common::probe::Probe;
use c10m_common::{procfs, rlimit, sys};

/// Descriptors kept free beyond the connections.
const FD_RESERVE: u64 = 4;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let config = match cli::Cli::try_parse() {
        Ok(c) => match c.into_config() {
            Ok(config) => config,
            Err(msg) => {
                eprintln!("c10m-client: error: {msg}");
                return ExitCode::from(2);
            }
        },
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if config.check {
        return check::run(&config);
    }
    match run(config) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("c10m-client: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Plans, floods, reports. `Ok(false)`: the run finished but did not reach its goal.
fn run(config: cli::Config) -> Result<bool, flood::Error> {
    let out = report::Output {
        json: config.json,
        quiet: config.quiet,
    };
    sys::install_stop_handler()
        .map_err(|e| flood::Error(format!("cannot install signal handlers: {e}")))?;
    let grant = rlimit::raise_nofile(config.nofile)
        .map_err(|e| flood::Error(format!("cannot set RLIMIT_NOFILE: {e}")))?;
    if let Some(advice) = grant.advice("--processes N") {
        report::warn(&advice);
    }
    let mut probe = Probe::open();
    let fds_base = procfs::count_own_fds().map(|c| c.total).unwrap_or(8) + 1; // +1: the epoll fd
    let fd_room = grant.soft.saturating_sub(fds_base + FD_RESERVE);
    let port_range: Option<PortRange> = kernel::read_sysctl("net.ipv4.ip_local_port_range")
        .ok()
        .and_then(|t| kernel::parse_port_range(&t));
    // Churn holds at most --concurrency connections at once; the plan routes that many.
    let concurrent = match config.mode {
        cli::Mode::Churn => config.connections.min(config.concurrency),
        _ => config.connections,
    };
    let mut plan = plan::Plan::new(
        concurrent,
        config.targets.clone(),
        config.sources.clone(),
        port_range,
        fd_room,
        grant.soft,
        config.processes,
    );
    plan.files_free = kernel::read_sysctl("fs.file-nr")
        .ok()
        .and_then(|t| kernel::parse_file_nr(&t))
        .map(|f| f.max.saturating_sub(f.allocated));
    if config.mode != cli::Mode::Hold {
        report::churn_start(out, &config, &plan);
        let summary = churn::run(&config, &plan, &mut probe, out)?;
        report::churn_summary(out, &summary);
        return Ok(summary.success());
    }
    report::plan(out, &plan);
    let summary = if plan.processes > 1 {
        drop(probe);
        processes::run(&config, &plan, plan.processes, out)?
    } else {
        flood::run(
            &config,
            &plan,
            flood::Slice::WHOLE,
            flood::Sink::Print(out),
            &mut probe,
        )?
    };
    report::summary(out, &summary);
    Ok(summary.success())
}
