//! c10m-server: hold as many concurrent TCP connections as one process can, and say what limits it.

use std::process::ExitCode;

fn main() -> ExitCode {
    c10m_cli::init_logging("c10m-server");
    match c10m_cli::config("c10m-server", c10m_server::cli::Cli::into_config) {
        Ok(config) => c10m_server::run(config),
        Err(code) => code,
    }
}
