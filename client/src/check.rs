//! `--check`: the client's rows of the limits table, for this machine and `-n N`.
//!
//! Reads, prints, exits: no socket is opened and no limit is changed. The (source, destination)
//! pairs come from the same [`Plan`] a run with these flags would make, so the check and the run
//! agree on how many pairs share the port range. One difference, on purpose: a run without
//! `--processes` splits N over as many processes as the fd limit needs, while the check counts
//! one process unless `--processes` is given, so that it names the per-process fd limit and the
//! `--processes K` that moves it.

use std::process::ExitCode;

use c10m_common::addr;
use c10m_common::check::{self, ClientAsk, Facts};
use c10m_common::fmt::thousands;
use c10m_common::json::Object;
use c10m_common::procfs;

use crate::cli::{Close, Config, Mode};
use crate::plan::Plan;
use crate::report::{self, Output};

/// Prints the check; exit 0 when nothing binds, 1 when a limit does.
pub fn run(config: &Config) -> ExitCode {
    let out = Output {
        json: config.json,
        quiet: config.quiet,
    };
    let facts = match Facts::read() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("c10m-client: error: cannot read RLIMIT_NOFILE: {e}");
            return ExitCode::from(1);
        }
    };
    // The same reserve and plan as a run: main.rs's fd room, churn's --concurrency cap.
    let reserve = procfs::count_own_fds().map(|c| c.total).unwrap_or(8) + 1 + crate::FD_RESERVE;
    let concurrent = match config.mode {
        Mode::Churn => config.connections.min(config.concurrency),
        _ => config.connections,
    };
    let soft = match config.nofile {
        Some(n) if n <= facts.nofile_hard || facts.cap_sys_resource => n,
        _ => facts.nofile_hard,
    };
    let plan = Plan::new(
        concurrent,
        config.targets.clone(),
        config.sources.clone(),
        facts.port_range,
        soft.saturating_sub(reserve),
        soft,
        config.processes,
    );
    let loopback = config.targets.iter().all(|t| addr::is_loopback(t.ip()));
    let ask = ClientAsk {
        connections: concurrent,
        processes: config.processes,
        nofile: config.nofile,
        reserve,
        targets: plan.targets.len() as u64,
        sources: plan.sources.len() as u64,
        sources_chosen: plan.sources_chosen,
        knee: plan.knee(),
        loopback,
        churn_rate: (config.mode == Mode::Churn && config.rate > 0).then_some(config.rate),
        close: match config.close {
            Close::Fin => check::Close::Fin,
            Close::Rst => check::Close::Rst,
            Close::Wait => check::Close::Wait,
        },
    };
    let rows = check::client_rows(&facts, &ask);
    let sources = match (plan.sources.first(), plan.sources.last()) {
        (Some(a), Some(b)) if plan.sources.len() > 1 => format!(
            "from {a} .. {b}{}",
            if plan.sources_chosen {
                " (chosen by the plan)"
            } else {
                ""
            }
        ),
        (Some(a), _) => format!("from {a}"),
        _ => "from a kernel-chosen source".into(),
    };
    let targets = match &plan.targets[..] {
        [one] => one.to_string(),
        [first, .., last] => format!("{first} .. {last}"),
        [] => "-".into(),
    };
    let what = match config.mode {
        Mode::Churn if config.rate > 0 => format!(
            "a churn of {}/s, at most {} at once",
            thousands(config.rate),
            thousands(concurrent)
        ),
        Mode::Churn => format!("a churn, at most {} at once", thousands(concurrent)),
        _ => format!("{} connections", thousands(concurrent)),
    };
    let title = format!(
        "c10m-client --check: {what} to {targets} {sources}: {} (source, destination) pair{}, {}",
        thousands(plan.pairs()),
        if plan.pairs() == 1 { "" } else { "s" },
        match config.processes {
            Some(1) | None => "1 process".to_string(),
            Some(p) => format!("{p} processes"),
        }
    );
    let asked = Object::new()
        .with("targets", plan.targets.len())
        .with("sources", plan.sources.len())
        .with("sources_chosen", plan.sources_chosen)
        .with("pairs", plan.pairs())
        .with("loopback", loopback)
        .with("processes", config.processes)
        .with("nofile", config.nofile)
        .with("churn_rate", ask.churn_rate);
    report::check(out, "client", &title, asked, &rows, concurrent);
    if check::first_binding(&rows).is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
