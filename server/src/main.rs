//! c10m-server: hold as many concurrent TCP connections as one process can, and say what limits it.

mod check;
mod cli;
mod report;
mod server;
mod stats;
mod workers;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let config = match cli::Cli::try_parse()
        .map_err(Usage::Clap)
        .and_then(|c| c.into_config().map_err(Usage::Invalid))
    {
        Ok(config) => config,
        Err(Usage::Clap(e)) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
        Err(Usage::Invalid(msg)) => {
            eprintln!("c10m-server: error: {msg}");
            return ExitCode::from(2);
        }
    };
    if config.check {
        return check::run(&config);
    }
    let out = report::Output {
        json: config.json,
        quiet: config.quiet,
    };
    match server::run(config) {
        Ok(summary) => {
            report::summary(out, &summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("c10m-server: error: {e}");
            ExitCode::from(1)
        }
    }
}

enum Usage {
    Clap(clap::Error),
    Invalid(String),
}
