//! `--check`: the client's rows of the limits table, for this machine and `-n N`.
//!
//! Reads, prints, exits: no socket is opened and no limit is changed. The (source, destination)
//! pairs come from the same [`Plan`] a run with these flags would make, so the check and the run
//! agree on how many pairs share the port range. One difference, on purpose: a run without
//! `--processes` splits N over as many processes as the fd limit needs, while the check counts
//! one process unless `--processes` is given, so that it names the per-process fd limit and the
//! `--processes K` that moves it.

use std::process::ExitCode;

use serde::Serialize;

use c10m_limits::Facts;
use c10m_report::fmt::thousands;

use crate::config::{Mode, Run};
use crate::memguard;
use crate::plan::{limit_rows, Plan};

/// The `asked` object of `--check --json`: what the check was computed for.
#[derive(Serialize)]
struct Asked {
    targets: usize,
    sources: usize,
    sources_chosen: bool,
    pairs: u64,
    loopback: bool,
    processes: Option<u64>,
    nofile: Option<u64>,
    churn_rate: Option<u64>,
}

/// Prints the check; exit 0 when nothing binds, 1 when a limit does.
pub(crate) fn run(run: &Run) -> ExitCode {
    let (ask, opts) = (&run.ask, &run.opts);
    let facts = match Facts::read_for_check() {
        Ok(f) => f,
        Err(code) => return code,
    };
    // The same plan as a run (and its reserve of descriptors, in the question).
    let soft = facts.soft_limit_for(opts.nofile);
    let plan = Plan::for_run(ask.clone(), opts, &facts, soft);
    let concurrent = plan.connections;
    let check_ask = plan.limits_ask(opts, ask.processes);
    let loopback = check_ask.loopback;
    let guard = memguard::threshold(opts);
    let rows = limit_rows(opts.engine.caps.kernel_socket, &facts, &check_ask, guard);
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
    let what = match opts.mode {
        Mode::Churn if opts.rate > 0 => format!(
            "a churn of {}/s, at most {} at once",
            thousands(opts.rate),
            thousands(concurrent)
        ),
        Mode::Churn => format!("a churn, at most {} at once", thousands(concurrent)),
        _ => format!("{} connections", thousands(concurrent)),
    };
    let title = format!(
        "c10m-client --check: {what} to {targets} {sources}: {} (source, destination) pair{}, {}",
        thousands(plan.pairs()),
        if plan.pairs() == 1 { "" } else { "s" },
        match ask.processes {
            Some(1) | None => "1 process".to_string(),
            Some(p) => format!("{p} processes"),
        }
    );
    let asked = Asked {
        targets: plan.targets.len(),
        sources: plan.sources.len(),
        sources_chosen: plan.sources_chosen,
        pairs: plan.pairs(),
        loopback,
        processes: ask.processes,
        nofile: opts.nofile,
        churn_rate: check_ask.churn_rate,
    };
    c10m_limits::print(
        opts.output.json,
        "client",
        &title,
        &asked,
        &rows,
        concurrent,
    )
}
