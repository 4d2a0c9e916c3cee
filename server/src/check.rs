//! `--check`: the server's rows of the limits table, for this machine and `-n N`.
//!
//! Reads, prints, exits: no socket is opened and no limit is changed. The numbers come from
//! [`c10m_limits`], which computes them from what it reads; this module only turns the
//! command line into what is asked, with the same defaults a real run would use (the hard limit
//! as the soft limit, somaxconn as the backlog, `--workers` as given).

use std::process::ExitCode;

use serde::Serialize;

use c10m_limits::sizing;
use c10m_limits::Facts;
use c10m_report::fmt::thousands;
use c10m_report::output::stdout_line;

use crate::cli::{Config, Workers};
use crate::room;

/// The `asked` object of `--check --json`: what the check was computed for.
#[derive(Serialize)]
struct Asked {
    listen: String,
    loopback: bool,
    workers: String,
    backlog: Option<u64>,
    nofile: Option<u64>,
}

/// Prints the check; exit 0 when nothing binds for N, 1 when a limit does.
pub(crate) fn run(config: &Config) -> ExitCode {
    if let Some(machine) = config.size_for {
        let e = sizing::estimate(machine, &sizing::MEASURED);
        stdout_line(&if config.output.json {
            serde_json::to_string(&e).expect("the estimate has string keys only")
        } else {
            sizing::render_text(&e)
        });
        return ExitCode::SUCCESS;
    }
    let facts = match Facts::read_for_check() {
        Ok(f) => f,
        Err(code) => return code,
    };
    let n = config.max_conns.unwrap_or(1);
    let ask = room::ask(config, n);
    let rows = c10m_limits::server_rows(&facts, &ask);
    let workers = match config.workers {
        Workers::Count(1) => "1 worker".to_string(),
        Workers::Count(c) => format!("{c} workers"),
        Workers::Auto => "--workers auto".to_string(),
    };
    let title = format!(
        "c10m-server --check: {} connections, {workers}, listening on {}{}",
        thousands(n),
        config.listen,
        if ask.loopback {
            " (loopback: the clients' sockets are on this machine too)"
        } else {
            ""
        }
    );
    let asked = Asked {
        listen: config.listen.to_string(),
        loopback: ask.loopback,
        workers: match config.workers {
            Workers::Count(c) => c.to_string(),
            Workers::Auto => "auto".into(),
        },
        backlog: ask.backlog,
        nofile: ask.nofile,
    };
    c10m_limits::print(config.output.json, "server", &title, &asked, &rows, n)
}
