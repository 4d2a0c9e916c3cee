//! c10m-kernel: the kernel's figures (sockets, slab, TCP counters, CPU time, processes) printed as
//! one JSON object, for the Python harness that measures from outside the processes it starts.
//! `c10m-kernel --help` lists every fact.

mod cli;
mod facts;

use std::io::{self, Write};
use std::process::ExitCode;

use serde_json::{Map, Value};

const PROG: &str = "c10m-kernel";

fn main() -> ExitCode {
    c10m_cli::init_logging(PROG);
    match c10m_cli::config(PROG, cli::Cli::into_request) {
        Ok(request) => run(request),
        Err(code) => code,
    }
}

/// Reads every fact asked for and prints them as one JSON object: 0, or 1 when a fact cannot be
/// read or stdout cannot be written.
fn run(request: cli::Request) -> ExitCode {
    let mut out = Map::new();
    for named in request.facts {
        match facts::value(&named.fact, &request.net) {
            Ok(v) => {
                out.insert(named.arg, v);
            }
            Err(e) => return c10m_cli::fatal(&e),
        }
    }
    match writeln!(io::stdout().lock(), "{}", Value::Object(out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => c10m_cli::fatal(&format!("stdout: {e}")),
    }
}
